-- issue.lua: apply the limits of a code request and, when they allow it,
-- store the new code. Atomic, so concurrent requests for one email or one IP
-- can never slip past a limit.
--
-- KEYS[1] per-client counter of the current window  farewell:auth:ip:<client>:<window>
-- KEYS[2] (email, client) resend cooldown            farewell:auth:cooldown:<email>:<client>
-- KEYS[3] (email, client) hourly counter             farewell:auth:hourly:<email>:<client>
-- KEYS[4] (email, client) code hash {hmac, attempts} farewell:auth:code:<email>:<client>
-- KEYS[5] per-email counter of the current window    farewell:auth:addr:<email>:<window>
-- ARGV[1] per-client limit      ARGV[2] ms left in the per-client window
-- ARGV[3] cooldown ms           ARGV[4] hourly limit   ARGV[5] hourly window ms
-- ARGV[6] code HMAC (hex)       ARGV[7] code TTL ms
-- ARGV[8] per-email limit       ARGV[9] ms left in the per-email window
--
-- Returns {"ok", 0} or {<limit>, <ms until it resets>} with limit one of
-- "ip", "cooldown", "hourly", "address".

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

-- The address's cap counts issued codes only: refusals by the limits above
-- cost a stranger nothing here, and so cost the participant nothing either.
local address = tonumber(redis.call('GET', KEYS[5]) or '0')
if address >= tonumber(ARGV[8]) then
  return {'address', ttl_or(KEYS[5], tonumber(ARGV[9]))}
end
if redis.call('INCR', KEYS[5]) == 1 then
  redis.call('PEXPIRE', KEYS[5], ARGV[9])
end

redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
if redis.call('INCR', KEYS[3]) == 1 then
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
-- A new code replaces this client's old one and resets its attempts: any
-- lockout from a burned code ends here. Other clients' codes stay.
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'hmac', ARGV[6], 'attempts', 0)
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return {'ok', 0}
