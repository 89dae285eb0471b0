-- Finishes a rebuild (begin_rebuild.lua started it, the decisions and
-- admission markers were written from MySQL since): the counters, the
-- window if absent, the epoch, and the state.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 losers, 5 soldout, 6 window, 7 state, 8 epoch, 9 rebuild
-- ARGV: 1 total, 2 winners, 3 losers, 4 opens_at ms, 5 closes_at ms, 6 epoch
-- Returns 1 when restored, 0 when a newer rebuild started meanwhile (it
-- finishes instead). Counters are overwritten: while the state was missing
-- nobody could change them.
if redis.call('GET', KEYS[9]) ~= ARGV[6] then
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
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('HSET', KEYS[6], 'opens_at', ARGV[4], 'closes_at', ARGV[5])
end
redis.call('SET', KEYS[8], ARGV[6])
redis.call('DEL', KEYS[9])
redis.call('SET', KEYS[7], 'ready')
return 1
