-- Brings the live stock and window up to the settings MySQL holds, after an
-- admin change was persisted: a rebuild that ran between the gateway's
-- acknowledgement and the persist (and restored the older settings), or a
-- gateway commit that never reached Redis, is repaired here. Each side is a
-- compare-and-set on its version: only a newer change than the one Redis
-- holds is written, so a later live change is never overwritten.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 soldout, 5 stock pending,
--       6 total version, 7 stock version, 8 window
-- ARGV: 1 total, 2 stock version, 3 opens_at ms, 4 closes_at ms, 5 window version
-- Returns {stock written (0/1), window written (0/1)}.
local stockVersion = tonumber(ARGV[2])
local stockDone = 0
if tonumber(redis.call('GET', KEYS[6]) or '0') < stockVersion then
  local total = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], total)
  redis.call('SET', KEYS[6], stockVersion)
  -- A counter Redis lost is left to the rebuild, which resumes the
  -- numbering a gap above (restore.lua).
  local counter = redis.call('GET', KEYS[7])
  if counter and tonumber(counter) < stockVersion then
    redis.call('SET', KEYS[7], stockVersion)
  end
  local live = total
  local pending = redis.call('GET', KEYS[5])
  if pending then
    local pv, pnew = string.match(pending, '^(%d+):(%d+):')
    if tonumber(pv) <= stockVersion then
      -- This change (or an older one) is settled by being persisted.
      redis.call('DEL', KEYS[5])
    elseif tonumber(pnew) < live then
      live = tonumber(pnew)
    end
  end
  local remaining = live - tonumber(redis.call('GET', KEYS[3]) or '0')
  if remaining < 0 then remaining = 0 end
  redis.call('SET', KEYS[2], remaining)
  if remaining == 0 then
    redis.call('SET', KEYS[4], '1')
  else
    redis.call('DEL', KEYS[4])
  end
  stockDone = 1
end
local windowVersion = tonumber(ARGV[5])
local windowDone = 0
local w = redis.call('HMGET', KEYS[8], 'applied', 'version')
if tonumber(w[1] or w[2] or '0') < windowVersion then
  redis.call('HSET', KEYS[8], 'opens_at', ARGV[3], 'closes_at', ARGV[4], 'applied', windowVersion)
  if w[2] and tonumber(w[2]) < windowVersion then
    redis.call('HSET', KEYS[8], 'version', windowVersion)
  end
  windowDone = 1
end
return {stockDone, windowDone}
