-- Starts rebuilding an event's state under a new epoch, which the caller
-- has just taken from MySQL (events.epoch + 1, under the row lock).
-- KEYS: 1 state, 2 decisions, 3 decided_at, 4 epoch, 5 rebuild
-- ARGV: 1 the new epoch, 2 the lease of the rebuild marker (ms): the
--       rebuilder renews it with every page it writes; a rebuilder that died
--       lets it expire, and the next one starts over.
-- Returns 0 when a rebuild under the same or a newer epoch started or
-- finished already (that one wins), else 1: the state is dropped (admissions,
-- stock changes and decisions wait for restore.lua), and so are the
-- decisions, which are written again from MySQL alone. Decisions that a
-- fenced batch made in Redis but never persisted must not survive.
local epoch = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[4]) or '0') >= epoch or tonumber(redis.call('GET', KEYS[5]) or '0') >= epoch then
  return 0
end
redis.call('SET', KEYS[5], epoch, 'PX', ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
