-- attempt.lua: count one verification attempt before the code is compared,
-- so no number of concurrent guesses can exceed the limit.
--
-- KEYS[1] code hash {hmac, attempts}   ARGV[1] max attempts
--
-- Returns {0, ""} when there is no code, {-1, ""} when its attempts were
-- already used up (the code is deleted), else {attempt number, hmac}.

local v = redis.call('HMGET', KEYS[1], 'hmac', 'attempts')
if not v[1] then
  return {0, ''}
end
if (tonumber(v[2]) or 0) >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {-1, ''}
end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return {n, v[1]}
