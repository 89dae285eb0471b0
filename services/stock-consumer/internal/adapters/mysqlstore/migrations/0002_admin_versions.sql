-- The version of the last stock and window change each event recorded.
-- apply-gateway numbers admin changes in Redis; an older or replayed change
-- that arrives after a newer one leaves the newer one in place, so MySQL
-- ends in the order Redis applied the changes.
ALTER TABLE events
  ADD COLUMN stock_version  BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN window_version BIGINT NOT NULL DEFAULT 0;
