-- Decides a batch of applications for one event, in the order given.
-- KEYS: 1 state, 2 remaining, 3 winners, 4 losers, 5 decisions, 6 soldout, 7 applied, 8 unsettled,
--       9 decided_at
-- ARGV: 1 now (unix ms), 2.. emails in log order
-- Returns {"REBUILD"} when the event's state is missing (Redis lost it),
-- otherwise one entry per email: "N|SUCCESS:<rank>" for a new decision,
-- "O|<decision>" for one decided before (replays change nothing).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'REBUILD'}
end
local out = {}
local now = ARGV[1]
for i = 2, #ARGV do
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
