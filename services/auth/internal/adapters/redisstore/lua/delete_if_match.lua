-- delete_if_match.lua: delete a code only if it is still the one that was
-- compared. Consuming a correct code and burning an exhausted one both use
-- it; of two concurrent correct verifies exactly one sees 1.
--
-- KEYS[1] code hash   ARGV[1] expected hmac
--
-- Returns 1 when deleted, 0 when the code is gone or was replaced.

if redis.call('HGET', KEYS[1], 'hmac') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
