-- Decides a batch of applications for one event, in the order given.
-- KEYS: 1 state, 2 remaining, 3 winners, 4 losers, 5 decisions, 6 soldout, 7 applied, 8 unsettled,
--       9 decided_at, 10 epoch
-- ARGV: 1 MySQL's epoch, 2 MySQL's persisted decisions, 3 MySQL's persisted winners
--       (the watermark, read just before this call), 4.. emails in log order
-- Returns {"REBUILD"} when the state must be rebuilt from MySQL first: the
-- state is missing (Redis lost the event), it was restored under an older
-- epoch than MySQL's, or Redis knows fewer decisions or winners than MySQL
-- persisted (Redis lost part of the event, or came back as an older copy).
-- Otherwise {epoch, now ms, stock, one entry per email}, where stock is the
-- stock the batch is decided under (winners so far plus remaining): "N|SUCCESS:<rank>" for a
-- new decision, "O|<decision>" for one decided before (replays change nothing).
-- The epoch goes with the batch to its MySQL insert, which is refused if a
-- rebuild moved the epoch on meanwhile. "now" is Redis's clock, the one
-- clock every replica shares.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'REBUILD'}
end
local epoch = redis.call('GET', KEYS[10])
if not epoch or tonumber(epoch) < tonumber(ARGV[1]) then
  return {'REBUILD'}
end
local winners = tonumber(redis.call('GET', KEYS[3]) or '0')
local losers = tonumber(redis.call('GET', KEYS[4]) or '0')
if winners < tonumber(ARGV[3]) or winners + losers < tonumber(ARGV[2]) then
  return {'REBUILD'}
end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
local stock = winners + remaining
local out = {epoch, now, tostring(stock)}

-- The batch is read and written with a few commands, not several per
-- application: the decisions known before it in one HMGET per chunk, the
-- new ones decided in Lua and written at the end. The script runs
-- atomically, so the end state is what one command per step would leave.
-- CHUNK keeps every command's argument count below Lua's stack limit.
local CHUNK = 1000
local function chunks(list, step, fn)
  for i = 1, #list, step do
    fn(unpack(list, i, math.min(i + step - 1, #list)))
  end
end

local emails = {}
for i = 4, #ARGV do
  emails[#emails + 1] = ARGV[i]
end
local before = {}
for i = 1, #emails, CHUNK do
  local part = redis.call('HMGET', KEYS[5], unpack(emails, i, math.min(i + CHUNK - 1, #emails)))
  for j = 1, #part do
    before[i + j - 1] = part[j]
  end
end

local mine = {}       -- email -> decision made by this call (a duplicate in the batch sees it)
local fresh = {}      -- emails decided by this call, in order
local decisions = {}  -- HSET arguments: email, decision, ...
local times = {}      -- HSET arguments: email, now, ...
local won, lost = 0, 0
for i, email in ipairs(emails) do
  local d = before[i]
  if not d then
    d = mine[email]
  end
  if d then
    out[#out + 1] = 'O|' .. d
  else
    if remaining > 0 then
      remaining = remaining - 1
      won = won + 1
      d = 'SUCCESS:' .. (winners + won)
    else
      lost = lost + 1
      d = 'FAILURE:0'
    end
    mine[email] = d
    fresh[#fresh + 1] = email
    decisions[#decisions + 1] = email
    decisions[#decisions + 1] = d
    -- When it was decided, beside the decision (the winners export reads it).
    times[#times + 1] = email
    times[#times + 1] = now
    out[#out + 1] = 'N|' .. d
  end
end

if #fresh > 0 then
  chunks(decisions, 2 * CHUNK, function(...) redis.call('HSET', KEYS[5], ...) end)
  chunks(times, 2 * CHUNK, function(...) redis.call('HSET', KEYS[9], ...) end)
  if won > 0 then
    redis.call('DECRBY', KEYS[2], won)
    redis.call('INCRBY', KEYS[3], won)
  end
  if lost > 0 then
    redis.call('INCRBY', KEYS[4], lost)
  end
  -- Sold out: the last unit was won here, or someone lost.
  if remaining <= 0 then
    redis.call('SET', KEYS[6], '1')
  end
  -- Keep the admission marker: status must answer even if the gateway
  -- undid its marker after an ambiguous publish (HSETNX: an existing
  -- marker stays as it is).
  local applied = {}
  for i = 1, #fresh, CHUNK do
    local part = redis.call('HMGET', KEYS[7], unpack(fresh, i, math.min(i + CHUNK - 1, #fresh)))
    for j = 1, #part do
      if not part[j] then
        applied[#applied + 1] = fresh[i + j - 1]
        applied[#applied + 1] = 'P:' .. now
      end
    end
  end
  chunks(applied, 2 * CHUNK, function(...) redis.call('HSET', KEYS[7], ...) end)
end
chunks(emails, CHUNK, function(...) redis.call('ZREM', KEYS[8], ...) end)
return out
