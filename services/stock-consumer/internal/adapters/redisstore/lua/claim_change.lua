-- Claims an admin change for persisting, atomically with the gateway's undo
-- (apply-gateway's settle_stock.lua undo and undo_window.lua).
-- KEYS: 1 the change's mark (redisx.ChangeMark)
-- ARGV: 1 the mark's TTL (ms)
-- Returns 0 when the gateway marked the change undone (its publish failed
-- and the caller got 503): the message must change nothing. Else marks it
-- applied, so a later undo keeps it, and returns 1.
if redis.call('GET', KEYS[1]) == 'undone' then
  return 0
end
redis.call('SET', KEYS[1], 'applied', 'PX', tonumber(ARGV[1]))
return 1
