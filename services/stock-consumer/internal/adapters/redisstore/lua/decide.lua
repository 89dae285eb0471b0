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
local stock = winners + tonumber(redis.call('GET', KEYS[2]) or '0')
local out = {epoch, now, tostring(stock)}
for i = 4, #ARGV do
  local email = ARGV[i]
  local d = redis.call('HGET', KEYS[5], email)
  if d then
    out[#out + 1] = 'O|' .. d
  else
    local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
    if remaining > 0 then
      remaining = redis.call('DECR', KEYS[2])
      local rank = redis.call('INCR', KEYS[3])
      d = 'SUCCESS:' .. rank
      if remaining <= 0 then
        redis.call('SET', KEYS[6], '1')
      end
    else
      redis.call('INCR', KEYS[4])
      redis.call('SET', KEYS[6], '1')
      d = 'FAILURE:0'
    end
    redis.call('HSET', KEYS[5], email, d)
    -- When it was decided, beside the decision (the winners export reads it).
    redis.call('HSET', KEYS[9], email, now)
    -- Keep the admission marker: status must answer even if the gateway
    -- undid its marker after an ambiguous publish.
    redis.call('HSETNX', KEYS[7], email, 'P:' .. now)
    out[#out + 1] = 'N|' .. d
  end
  redis.call('ZREM', KEYS[8], email)
end
return out
