-- ratelimit.lua: fixed-window counter.
--
-- KEYS[1] the window's counter   ARGV[1] limit   ARGV[2] ms left in the window
--
-- Returns {1, 0} when allowed, {0, <ms until the window ends>} when refused.

local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if n > tonumber(ARGV[1]) then
  local t = redis.call('PTTL', KEYS[1])
  if t < 0 then t = tonumber(ARGV[2]) end
  return {0, t}
end
return {1, 0}
