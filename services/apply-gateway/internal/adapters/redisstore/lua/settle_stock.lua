-- Settles a stock change prepared by set_stock.lua: "commit" after the
-- broker acknowledged its publish, "undo" after the publish failed.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 soldout, 5 state, 6 stock version,
--       7 stock pending
-- ARGV: 1 version returned by set_stock.lua, 2 new total, 3 previous total,
--       4 "commit" or "undo"
-- Compare-and-set on the version: only the change that is still the newest
-- is settled. A pending entry that expired (the publish outlived its TTL) is
-- settled as long as no later change was prepared since. Returns 1 when
-- settled, 0 when a later change or a lost state made it moot.
if redis.call('EXISTS', KEYS[5]) == 0 then
  return 0
end
if tonumber(redis.call('GET', KEYS[6]) or '0') ~= tonumber(ARGV[1]) then
  return 0
end
local total = tonumber(ARGV[3])
if ARGV[4] == 'commit' then
  total = tonumber(ARGV[2])
end
local winners = tonumber(redis.call('GET', KEYS[3]) or '0')
local remaining = total - winners
if remaining < 0 then remaining = 0 end
redis.call('SET', KEYS[1], total)
redis.call('SET', KEYS[2], remaining)
if remaining == 0 then
  redis.call('SET', KEYS[4], '1')
else
  redis.call('DEL', KEYS[4])
end
redis.call('DEL', KEYS[7])
return 1
