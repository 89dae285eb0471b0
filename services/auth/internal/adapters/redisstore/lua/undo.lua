-- undo.lua: release a code whose request could not be published, so the
-- participant may ask again at once.
--
-- KEYS[1] cooldown   KEYS[2] hourly counter   KEYS[3] code hash
-- KEYS[4] the address's counter of the window the code was issued in
-- ARGV[1] the HMAC that was stored
--
-- Returns 1 when the code was still there and is now deleted, else 0.

redis.call('DEL', KEYS[1])
local hourly = tonumber(redis.call('GET', KEYS[2]) or '0')
if hourly > 0 then
  redis.call('DECR', KEYS[2])
end
local address = tonumber(redis.call('GET', KEYS[4]) or '0')
if address > 0 then
  redis.call('DECR', KEYS[4])
end
if redis.call('HGET', KEYS[3], 'hmac') == ARGV[1] then
  redis.call('DEL', KEYS[3])
  return 1
end
return 0
