-- issue.lua: apply the limits of a code request and, when they allow it,
-- store the new code. Atomic, so concurrent requests for one email or one IP
-- can never slip past a limit.
--
-- KEYS[1] per-IP counter of the current window   farewell:auth:ip:<ip>:<window>
-- KEYS[2] per-email resend cooldown               farewell:auth:cooldown:<email>
-- KEYS[3] per-email hourly counter                farewell:auth:hourly:<email>
-- KEYS[4] per-email code hash {hmac, attempts}     farewell:auth:code:<email>
-- ARGV[1] per-IP limit          ARGV[2] ms left in the per-IP window
-- ARGV[3] cooldown ms           ARGV[4] hourly limit   ARGV[5] hourly window ms
-- ARGV[6] code HMAC (hex)       ARGV[7] code TTL ms
--
-- Returns {"ok", 0} or {<limit>, <ms until it resets>} with limit one of
-- "ip", "cooldown", "hourly".

local function ttl_or(key, default)
  local t = redis.call('PTTL', key)
  if t < 0 then return default end
  return t
end

-- Every request counts against its IP, refused or not.
local ip = redis.call('INCR', KEYS[1])
if ip == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if ip > tonumber(ARGV[1]) then
  return {'ip', ttl_or(KEYS[1], tonumber(ARGV[2]))}
end

if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'cooldown', ttl_or(KEYS[2], tonumber(ARGV[3]))}
end

local hourly = tonumber(redis.call('GET', KEYS[3]) or '0')
if hourly >= tonumber(ARGV[4]) then
  return {'hourly', ttl_or(KEYS[3], tonumber(ARGV[5]))}
end

redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
if redis.call('INCR', KEYS[3]) == 1 then
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
-- A new code replaces the old one and resets its attempts: any lockout from
-- a burned code ends here.
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'hmac', ARGV[6], 'attempts', 0)
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return {'ok', 0}
