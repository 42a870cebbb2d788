-- Ours (not in Trove; Python Trove ignores it): per-instance backup schedules run by the taskmanager, and the
-- runs each made. A taskmanager claims a due schedule by setting lease_owner/lease_until in one conditional
-- UPDATE; (schedule_id, slot) is unique, so a slot makes one backup even when a lease expires mid-run and a
-- second taskmanager claims it. alembic_version stays at Trove's head.
CREATE TABLE backup_schedules (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  instance_id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL,
  backup_type VARCHAR(32) NOT NULL,
  interval_seconds INT NOT NULL,
  keep_count INT NOT NULL DEFAULT 0,
  keep_days INT NOT NULL DEFAULT 0,
  next_run_at DATETIME NOT NULL,
  last_run_at DATETIME NULL,
  last_backup_id VARCHAR(36) NULL,
  last_error VARCHAR(1024) NULL,
  lease_owner VARCHAR(255) NULL,
  lease_until DATETIME NULL,
  created DATETIME NOT NULL,
  updated DATETIME NOT NULL,
  PRIMARY KEY (id),
  KEY backup_schedules_instance (instance_id),
  KEY backup_schedules_due (next_run_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE backup_schedule_runs (
  schedule_id VARCHAR(36) NOT NULL,
  slot DATETIME NOT NULL,
  backup_id VARCHAR(36) NOT NULL,
  created DATETIME NOT NULL,
  PRIMARY KEY (schedule_id, slot),
  UNIQUE KEY backup_schedule_runs_backup (backup_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
