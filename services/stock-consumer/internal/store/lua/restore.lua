-- Restores an event's counters from MySQL after Redis lost them. Decisions
-- and admission markers are written before this script runs.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 losers, 5 soldout, 6 window
-- ARGV: 1 total, 2 winners, 3 losers, 4 opens_at ms, 5 closes_at ms
-- Returns 1 when restored, 0 when the counters already exist (someone else
-- restored them or an admin set the stock meanwhile).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local total = tonumber(ARGV[1])
local winners = tonumber(ARGV[2])
local remaining = total - winners
if remaining < 0 then remaining = 0 end
redis.call('SET', KEYS[1], total)
redis.call('SET', KEYS[2], remaining)
redis.call('SET', KEYS[3], winners)
redis.call('SET', KEYS[4], tonumber(ARGV[3]))
if remaining == 0 and (winners > 0 or tonumber(ARGV[3]) > 0) then
  redis.call('SET', KEYS[5], '1')
else
  redis.call('DEL', KEYS[5])
end
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('HSET', KEYS[6], 'opens_at', ARGV[4], 'closes_at', ARGV[5])
end
return 1
