-- Prepares a stock change; settle_stock.lua commits or undoes it once the
-- broker answered the publish. Deciding here, in one script, keeps the check
-- against the winners atomic with the change.
-- KEYS: 1 total, 2 remaining, 3 winners, 4 soldout, 5 state, 6 stock version,
--       7 stock pending
-- ARGV: 1 new total, 2 pending TTL (ms)
-- Returns {version, previous total} when prepared, or
--   {-1}          while the event's state is not loaded: setting it on an
--                 empty Redis would forget the winners so far;
--   {-2, winners} when the new total is below the winners so far;
--   {-3}          while another stock change is in flight.
-- While the change is pending, total keeps the previous value and remaining
-- counts the smaller of both totals, so whatever is decided meanwhile fits
-- whichever of the two the settle keeps.
if redis.call('EXISTS', KEYS[5]) == 0 then
  return {-1}
end
if redis.call('EXISTS', KEYS[7]) == 1 then
  return {-3}
end
local total = tonumber(ARGV[1])
local winners = tonumber(redis.call('GET', KEYS[3]) or '0')
if total < winners then
  return {-2, winners}
end
local prev = tonumber(redis.call('GET', KEYS[1]) or '0')
local version = redis.call('INCR', KEYS[6])
redis.call('SET', KEYS[7], version .. ':' .. total .. ':' .. prev, 'PX', tonumber(ARGV[2]))
local remaining = math.min(prev, total) - winners
if remaining < 0 then remaining = 0 end
redis.call('SET', KEYS[1], prev)
redis.call('SET', KEYS[2], remaining)
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], 0)
end
if remaining == 0 then
  redis.call('SET', KEYS[4], '1')
else
  redis.call('DEL', KEYS[4])
end
return {version, prev}
