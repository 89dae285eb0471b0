-- Undoes a window change after a failed publish. It first settles the race
-- with stock-consumer on the change's mark: when stock-consumer already
-- marked the change "applied" (a publish that timed out was delivered all
-- the same), the change is durable and is kept; otherwise the mark becomes
-- "undone" (stock-consumer will skip the message) and the previous window is
-- put back, only if the hash still holds this change (compare-and-set on
-- "applied", so a later change is never undone).
-- KEYS: 1 window, 2 the change's mark (redisx.ChangeMark)
-- ARGV: 1 version returned by set_window.lua, 2 previous opens_at,
--       3 previous closes_at, 4 previous applied version, 5 the mark's TTL (ms)
-- Returns 1 when the change holds, 0 when it was undone.
if redis.call('GET', KEYS[2]) == 'applied' then
  return 1
end
redis.call('SET', KEYS[2], 'undone', 'PX', tonumber(ARGV[5]))
if tonumber(redis.call('HGET', KEYS[1], 'applied') or '0') ~= tonumber(ARGV[1]) then
  return 0
end
if ARGV[2] == '' and ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], 'opens_at', 'closes_at')
else
  redis.call('HSET', KEYS[1], 'opens_at', ARGV[2], 'closes_at', ARGV[3])
end
redis.call('HSET', KEYS[1], 'applied', ARGV[4])
return 0
