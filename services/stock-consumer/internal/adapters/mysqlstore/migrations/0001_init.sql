-- Events and the decided applications. MySQL is the source of truth; Redis
-- is rebuilt from these tables when it loses an event's keys.
CREATE TABLE IF NOT EXISTS events (
  id          VARCHAR(64)  NOT NULL PRIMARY KEY,
  total_stock BIGINT       NOT NULL DEFAULT 0,
  opens_at    DATETIME(3)  NULL,
  closes_at   DATETIME(3)  NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS applications (
  id             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id       VARCHAR(64)  NOT NULL,
  email          VARCHAR(254) NOT NULL,
  status         VARCHAR(16)  NOT NULL,
  `rank`         BIGINT       NOT NULL DEFAULT 0,
  application_id VARCHAR(64)  NOT NULL DEFAULT '',
  applied_at     DATETIME(3)  NOT NULL,
  decided_at     DATETIME(3)  NOT NULL,
  UNIQUE KEY uq_applications_event_email (event_id, email),
  KEY idx_applications_event_status (event_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
