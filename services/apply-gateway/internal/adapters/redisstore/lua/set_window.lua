-- Sets the application window; undo_window.lua puts the previous one back if
-- the publish fails.
-- KEYS: 1 window, 2 state
-- ARGV: 1 opens_at ms, 2 closes_at ms
-- Returns {version, previous opens_at, previous closes_at, previous applied
-- version}; the previous times are '' when no window was set. Returns
-- {'-1'} while the event's state is not loaded: the version would restart
-- below the one MySQL recorded, and stock-consumer would keep the older
-- window. "version" counts window changes; "applied" is the number of the
-- change whose times the hash holds.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'-1'}
end
local prev = redis.call('HMGET', KEYS[1], 'opens_at', 'closes_at', 'applied', 'version')
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'opens_at', ARGV[1], 'closes_at', ARGV[2], 'applied', version)
return {tostring(version), prev[1] or '', prev[2] or '', prev[3] or prev[4] or '0'}
