-- Settles a stock change prepared by set_stock.lua: "commit" after the
-- broker acknowledged its publish, "undo" after the publish failed.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 soldout, 5 stock pending,
--       6 total version, 7 the change's mark (redisx.ChangeMark)
-- ARGV: 1 version returned by set_stock.lua, 2 new total, 3 "commit" or
--       "undo", 4 the mark's TTL (ms)
-- An undo first settles the race with stock-consumer on the change's mark:
-- when stock-consumer already marked the change "applied" (a publish that
-- timed out was delivered all the same), the change is durable and is
-- committed instead; otherwise the mark becomes "undone" and stock-consumer
-- will skip the message, so the change reaches neither store.
-- A commit writes the new total only when Redis holds an older change's
-- total (compare-and-set on the total version), so a late commit never
-- overwrites a newer change. A pending entry of this version is dropped
-- either way; remaining is recomputed against whatever is still pending.
-- Returns 1 when the change holds (committed), 0 when it was undone.
local version = tonumber(ARGV[1])
local mode = ARGV[3]
if mode == 'undo' then
  if redis.call('GET', KEYS[7]) == 'applied' then
    mode = 'commit'
  else
    redis.call('SET', KEYS[7], 'undone', 'PX', tonumber(ARGV[4]))
  end
end
local pendingNew = nil
local pending = redis.call('GET', KEYS[5])
if pending then
  local pv, pnew = string.match(pending, '^(%d+):(%d+):')
  if tonumber(pv) == version then
    redis.call('DEL', KEYS[5])
  else
    pendingNew = tonumber(pnew)
  end
end
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
if mode == 'commit' and tonumber(redis.call('GET', KEYS[6]) or '0') < version then
  total = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], total)
  redis.call('SET', KEYS[6], version)
end
local live = total
if pendingNew and pendingNew < live then live = pendingNew end
local winners = tonumber(redis.call('GET', KEYS[3]) or '0')
local remaining = live - winners
if remaining < 0 then remaining = 0 end
redis.call('SET', KEYS[2], remaining)
if remaining == 0 then
  redis.call('SET', KEYS[4], '1')
else
  redis.call('DEL', KEYS[4])
end
if mode == 'commit' then
  return 1
end
return 0
