-- Puts the previous window back after a failed publish, only if no later
-- window change was made since (compare-and-set on the version).
-- KEYS: 1 window
-- ARGV: 1 version returned by set_window.lua, 2 previous opens_at, 3 previous closes_at
-- Returns 1 when undone, 0 when a later change made it moot.
if tonumber(redis.call('HGET', KEYS[1], 'version') or '0') ~= tonumber(ARGV[1]) then
  return 0
end
if ARGV[2] == '' and ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], 'opens_at', 'closes_at')
else
  redis.call('HSET', KEYS[1], 'opens_at', ARGV[2], 'closes_at', ARGV[3])
end
return 1
