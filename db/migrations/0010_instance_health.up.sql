-- Ours (not in Trove; Python Trove ignores it): the database's health as each guest last reported it with its
-- heartbeat (our guests add it to the payload; Trove's do not, and have no row). replication_lag is seconds behind
-- the source on a replica, NULL on a source or a standalone instance. Read by the metrics collectors and by an
-- admin's instance show.
CREATE TABLE instance_health (
  instance_id VARCHAR(36) NOT NULL,
  up TINYINT(1) NOT NULL,
  connections INT NOT NULL,
  replication_lag DOUBLE NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (instance_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
