-- Admits one application in one round trip.
-- KEYS: 1 window, 2 decisions, 3 applied, 4 soldout, 5 state, 6 unsettled
-- ARGV: 1 email, 2 grace (ms)
-- "now" is Redis's TIME, the one clock every gateway replica shares: a
-- replica whose own clock is off neither opens the window early nor takes
-- over an admission whose grace has not run out.
-- Returns {outcome, marker}: outcome is ADMITTED, READMITTED (an earlier
-- admission never reached Kafka: publish again), ALREADY_APPLIED (decided,
-- or published: the broker acknowledged it), IN_FLIGHT (an earlier
-- admission's publish has not been answered yet, within the grace), SOLD_OUT,
-- NOT_OPEN, CLOSED or NOT_READY (the event's state is not loaded: Redis lost
-- it and stock-consumer is restoring it from MySQL); marker is the admission
-- marker to undo on failure (for NOT_OPEN: the opening time in unix ms). Admitted emails are also listed in unsettled
-- until their publish is settled.
if redis.call('EXISTS', KEYS[5]) == 0 then
  return {'NOT_READY', ''}
end
local email = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local grace = tonumber(ARGV[2])
local w = redis.call('HMGET', KEYS[1], 'opens_at', 'closes_at')
local opens = tonumber(w[1] or '0') or 0
local closes = tonumber(w[2] or '0') or 0
if opens > 0 and now < opens then
  return {'NOT_OPEN', tostring(opens)}
end
if closes > 0 and now >= closes then
  return {'CLOSED', ''}
end
if redis.call('HEXISTS', KEYS[2], email) == 1 then
  return {'ALREADY_APPLIED', ''}
end
local marker = 'A:' .. string.format('%d', now)
local prev = redis.call('HGET', KEYS[3], email)
if prev then
  local state = string.sub(prev, 1, 1)
  local at = tonumber(string.sub(prev, 3)) or 0
  if state == 'P' then
    return {'ALREADY_APPLIED', ''}
  end
  if now - at < grace then
    return {'IN_FLIGHT', ''}
  end
  -- Admitted long ago but never published (the gateway crashed in between):
  -- take it over and publish again; the consumer is idempotent.
  redis.call('HSET', KEYS[3], email, marker)
  redis.call('ZADD', KEYS[6], now, email)
  return {'READMITTED', marker}
end
if redis.call('GET', KEYS[4]) == '1' then
  return {'SOLD_OUT', ''}
end
redis.call('HSET', KEYS[3], email, marker)
redis.call('ZADD', KEYS[6], now, email)
return {'ADMITTED', marker}
