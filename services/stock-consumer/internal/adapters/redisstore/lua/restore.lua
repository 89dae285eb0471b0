-- Finishes a rebuild (begin_rebuild.lua started it, the decisions and
-- admission markers were written from MySQL since): the counters, the
-- stock and window, the change versions, the epoch, and the state.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 losers, 5 soldout, 6 window, 7 state, 8 epoch,
--       9 rebuild, 10 stock version, 11 total version, 12 stock pending
-- ARGV: 1 total, 2 winners, 3 losers, 4 opens_at ms, 5 closes_at ms, 6 epoch,
--       7 stock version, 8 window version (of the last changes MySQL recorded;
--       the gateways' next changes count on from them)
-- Returns 1 when restored, 0 when a newer rebuild started meanwhile (it
-- finishes instead). Counters are overwritten: while the state was missing
-- nobody could change them. The total and the window are MySQL's unless
-- Redis holds a newer change of them (acknowledged, or persisted after this
-- rebuild read MySQL): a rebuild never takes an admin change back.
if redis.call('GET', KEYS[9]) ~= ARGV[6] then
  return 0
end
local total = tonumber(ARGV[1])
local liveTotal = redis.call('GET', KEYS[1])
if liveTotal and tonumber(redis.call('GET', KEYS[11]) or '0') > tonumber(ARGV[7]) then
  total = tonumber(liveTotal)
else
  redis.call('SET', KEYS[11], ARGV[7])
end
local winners = tonumber(ARGV[2])
local losers = tonumber(ARGV[3])
local live = total
local pending = redis.call('GET', KEYS[12])
if pending then
  local pnew = tonumber(string.match(pending, '^%d+:(%d+):'))
  if pnew and pnew < live then live = pnew end
end
local remaining = live - winners
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
-- The change counters go on from MySQL's versions. When Redis lost a
-- counter (and the marks with it), changes numbered before the loss may
-- still be on their way to MySQL: numbering resumes a gap above, so no
-- number is ever given twice (a brand new event, version 0, starts at 1).
local gap = 1000000
local stockCounter = redis.call('GET', KEYS[10])
if not stockCounter and tonumber(ARGV[7]) > 0 then
  redis.call('SET', KEYS[10], tonumber(ARGV[7]) + gap)
elseif tonumber(stockCounter or '0') < tonumber(ARGV[7]) then
  redis.call('SET', KEYS[10], ARGV[7])
end
local w = redis.call('HMGET', KEYS[6], 'opens_at', 'applied', 'version')
if not w[1] or tonumber(w[2] or w[3] or '0') < tonumber(ARGV[8]) then
  redis.call('HSET', KEYS[6], 'opens_at', ARGV[4], 'closes_at', ARGV[5], 'applied', ARGV[8])
end
local windowCounter = redis.call('HGET', KEYS[6], 'version')
if not windowCounter and tonumber(ARGV[8]) > 0 then
  redis.call('HSET', KEYS[6], 'version', tonumber(ARGV[8]) + gap)
elseif tonumber(windowCounter or '0') < tonumber(ARGV[8]) then
  redis.call('HSET', KEYS[6], 'version', ARGV[8])
end
redis.call('SET', KEYS[8], ARGV[6])
redis.call('DEL', KEYS[9])
redis.call('SET', KEYS[7], 'ready')
return 1
