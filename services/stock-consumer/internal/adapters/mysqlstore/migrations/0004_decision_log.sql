-- The verifiable decision log: every persisted decision and every persisted
-- stock or window change, in the order they were committed, each entry
-- carrying the previous entry's hash. Entries are appended in the same
-- transaction as what they record, under the events row lock, so the log
-- holds exactly what MySQL holds, in one order.
-- log_seq, log_head: the number of entries and the last entry's hash.
-- log_frozen: 1 once the window closed and the freeze entry was appended.
CREATE TABLE IF NOT EXISTS decision_log (
  event_id VARCHAR(64)   NOT NULL,
  seq      BIGINT        NOT NULL,
  entry    VARCHAR(1024) NOT NULL,
  hash     CHAR(64)      NOT NULL,
  PRIMARY KEY (event_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE events
  ADD COLUMN log_seq    BIGINT   NOT NULL DEFAULT 0,
  ADD COLUMN log_head   CHAR(64) NOT NULL DEFAULT '',
  ADD COLUMN log_frozen TINYINT  NOT NULL DEFAULT 0;
