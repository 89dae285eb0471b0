-- release.lua: give up a claim after a failed send, so a retry may claim it
-- again. A "sent" marker is never removed.
--
-- KEYS[1] marker   Returns 1 when released, else 0.

if redis.call('GET', KEYS[1]) == 'sending' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
