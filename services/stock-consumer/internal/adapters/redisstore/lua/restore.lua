-- Restores an event's state from MySQL after Redis lost it (or loads a new
-- event). Decisions and admission markers are written before this runs.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 losers, 5 soldout, 6 window, 7 state,
--       8 stock version
-- ARGV: 1 total, 2 winners, 3 losers, 4 opens_at ms, 5 closes_at ms,
--       6 stock version, 7 window version (of the last changes MySQL recorded;
--       the gateways' next changes count on from them)
-- Returns 1 when restored, 0 when the state is already loaded. Counters are
-- overwritten: while the state was missing nobody could change them.
if redis.call('EXISTS', KEYS[7]) == 1 then
  return 0
end
local total = tonumber(ARGV[1])
local winners = tonumber(ARGV[2])
local losers = tonumber(ARGV[3])
local remaining = total - winners
if remaining < 0 then remaining = 0 end
redis.call('SET', KEYS[1], total)
redis.call('SET', KEYS[2], remaining)
redis.call('SET', KEYS[3], winners)
redis.call('SET', KEYS[4], losers)
if remaining == 0 and (winners > 0 or losers > 0) then
  redis.call('SET', KEYS[5], '1')
else
  redis.call('DEL', KEYS[5])
end
if tonumber(redis.call('GET', KEYS[8]) or '0') < tonumber(ARGV[6]) then
  redis.call('SET', KEYS[8], ARGV[6])
end
if redis.call('HEXISTS', KEYS[6], 'opens_at') == 0 then
  redis.call('HSET', KEYS[6], 'opens_at', ARGV[4], 'closes_at', ARGV[5])
end
if tonumber(redis.call('HGET', KEYS[6], 'version') or '0') < tonumber(ARGV[7]) then
  redis.call('HSET', KEYS[6], 'version', ARGV[7])
end
redis.call('SET', KEYS[7], 'ready')
return 1
