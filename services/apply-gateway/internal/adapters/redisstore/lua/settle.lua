-- Settles an admission marker after the publish attempt.
-- KEYS: 1 applied, 2 unsettled, 3 receipts
-- ARGV: 1 email, 2 marker written at admission, 3 "published" or "undo",
--       4 the signed receipt of a published application (JSON, may be empty)
-- Only touches the marker if it is still ours, so a concurrent takeover wins.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] == 'published' then
  redis.call('HSET', KEYS[1], ARGV[1], 'P:' .. string.sub(ARGV[2], 3))
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
  end
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
