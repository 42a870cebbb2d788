-- Ours (not in Trove; Python Trove ignores it): restore drills. restore_drills holds an instance's opt-in drill
-- (at most one per instance): every interval_seconds the taskmanager restores the instance's latest completed
-- backup into a throwaway instance, checks it, records the result and deletes it. A taskmanager claims a due
-- drill by setting lease_owner/lease_until in one conditional UPDATE (as backup_schedules); drill_instance_id
-- names the throwaway instance while a run lasts, so a run interrupted by a crash has it deleted by the next
-- one. backup_drill_results holds the last drill's result per backup (shown by backup show).
CREATE TABLE restore_drills (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  instance_id VARCHAR(36) NOT NULL,
  interval_seconds INT NOT NULL,
  next_run_at DATETIME NOT NULL,
  last_run_at DATETIME NULL,
  last_backup_id VARCHAR(36) NULL,
  last_result VARCHAR(16) NULL,
  last_error VARCHAR(1024) NULL,
  drill_instance_id VARCHAR(36) NULL,
  lease_owner VARCHAR(255) NULL,
  lease_until DATETIME NULL,
  created DATETIME NOT NULL,
  updated DATETIME NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY restore_drills_instance (instance_id),
  KEY restore_drills_due (next_run_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE backup_drill_results (
  backup_id VARCHAR(36) NOT NULL,
  drill_id VARCHAR(36) NOT NULL,
  result VARCHAR(16) NOT NULL,
  drilled_at DATETIME NOT NULL,
  message VARCHAR(1024) NULL,
  drill_instance_id VARCHAR(36) NULL,
  PRIMARY KEY (backup_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
