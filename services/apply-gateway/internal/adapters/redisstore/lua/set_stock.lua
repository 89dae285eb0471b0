-- Sets the event's total stock; remaining becomes total minus winners so far.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 soldout, 5 state
-- ARGV: 1 new total
-- Returns {total, remaining, winners}, or {-1} while the event's state is not
-- loaded: setting it on an empty Redis would forget the winners so far.
if redis.call('EXISTS', KEYS[5]) == 0 then
  return {-1}
end
local total = tonumber(ARGV[1])
local winners = tonumber(redis.call('GET', KEYS[3]) or '0')
local remaining = total - winners
if remaining < 0 then remaining = 0 end
redis.call('SET', KEYS[1], total)
redis.call('SET', KEYS[2], remaining)
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], 0)
end
if remaining == 0 then
  redis.call('SET', KEYS[4], '1')
else
  redis.call('DEL', KEYS[4])
end
return {total, remaining, winners}
