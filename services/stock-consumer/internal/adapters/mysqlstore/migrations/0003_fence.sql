-- The rebuild fence and the persisted-decisions watermark.
-- epoch: incremented by every rebuild of the event's Redis state, under the
--   row lock; a batch's insert checks, in its own transaction, that the epoch
--   it decided under is still the current one.
-- decided, winners: how many decisions (and winners) are persisted, kept in
--   the same transaction as the inserts; a batch compares them with Redis's
--   counters before deciding, so a Redis that knows less than MySQL is rebuilt.
-- win_rank: a winner's rank (NULL for losers), unique per event, so no rank
--   is ever stored twice.
ALTER TABLE events
  ADD COLUMN epoch   BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN decided BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN winners BIGINT NOT NULL DEFAULT 0;

INSERT IGNORE INTO events (id) SELECT DISTINCT event_id FROM applications;

UPDATE events e SET
  e.decided = (SELECT COUNT(*) FROM applications a WHERE a.event_id = e.id),
  e.winners = (SELECT COUNT(*) FROM applications a WHERE a.event_id = e.id AND a.status = 'SUCCESS');

ALTER TABLE applications
  ADD COLUMN win_rank BIGINT AS (IF(status = 'SUCCESS', `rank`, NULL)) STORED,
  ADD UNIQUE KEY uq_applications_event_win_rank (event_id, win_rank);
