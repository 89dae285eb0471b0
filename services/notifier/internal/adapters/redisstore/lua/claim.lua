-- claim.lua: claim the right to send one email (SET NX), or say why not.
--
-- KEYS[1] marker farewell:mail:<kind>:<id>   ARGV[1] "sending" TTL in ms
--
-- Returns "claimed" when this caller now owns the marker, otherwise the
-- marker's current value: "sent" (done before) or "sending" (in flight
-- elsewhere, or left by a crash until its TTL ends).

local v = redis.call('GET', KEYS[1])
if v then
  return v
end
redis.call('SET', KEYS[1], 'sending', 'PX', ARGV[1])
return 'claimed'
