-- pin_policy.lua: record the email policy an event runs under, and refuse
-- another one once the event has applications: the same mailbox would then
-- have two identities and could apply twice.
--
-- KEYS[1] the event's pinned policy   farewell:{<event>}:email-policy
-- KEYS[2] the event's admissions      farewell:{<event>}:applied
-- ARGV[1] the policy to run under
--
-- Returns {"ok", <policy pinned before, or "">} or {"in_use", <pinned policy>}.

local pinned = redis.call('GET', KEYS[1])
if pinned == ARGV[1] then
  return {'ok', pinned}
end
if pinned and redis.call('HLEN', KEYS[2]) > 0 then
  return {'in_use', pinned}
end
redis.call('SET', KEYS[1], ARGV[1])
return {'ok', pinned or ''}
