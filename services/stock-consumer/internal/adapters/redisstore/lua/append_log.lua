-- Appends decision-log lines copied from MySQL, only where they belong.
-- KEYS: 1 log
-- ARGV: 1 the sequence number of the first line, 2.. the lines in order
-- Returns the list's length after the call. When the list does not end just
-- before the first line (another copier was quicker, or Redis lost the
-- list), nothing is written and the caller copies again from the length.
local first = tonumber(ARGV[1])
local n = redis.call('LLEN', KEYS[1])
if n ~= first - 1 then
  return n
end
for i = 2, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
return n + #ARGV - 1
