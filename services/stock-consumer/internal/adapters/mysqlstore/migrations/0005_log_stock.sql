-- log_stock: the stock the decision log says is in force after its last
-- entry (the last stock or stock-seen entry; 0 before any). A decision made
-- under another stock is preceded in the log by a stock-seen entry, so
-- every decision's stock is one the log records before it.
ALTER TABLE events ADD COLUMN log_stock BIGINT NOT NULL DEFAULT 0;

UPDATE events SET log_stock = COALESCE((
  SELECT CAST(JSON_UNQUOTE(JSON_EXTRACT(d.entry, '$.stock')) AS SIGNED)
  FROM decision_log d
  WHERE d.event_id = events.id AND JSON_UNQUOTE(JSON_EXTRACT(d.entry, '$.kind')) IN ('stock', 'stock-seen')
  ORDER BY d.seq DESC LIMIT 1), 0);
