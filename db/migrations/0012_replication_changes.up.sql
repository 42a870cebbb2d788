-- Ours (not in Trove): a replication role change in progress — promote_to_replica_source (kind promote: target_id
-- becomes the source of source_id's set) or eject_replica_source (kind eject: target_id, the most advanced
-- replica, once chosen). Written before the first step and deleted after the last, so a taskmanager restarted in
-- between finishes the change instead of leaving the set half switched.
CREATE TABLE replication_changes (
  source_id VARCHAR(36) NOT NULL,
  target_id VARCHAR(36) NULL,
  kind VARCHAR(16) NOT NULL,
  created DATETIME NOT NULL,
  PRIMARY KEY (source_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
