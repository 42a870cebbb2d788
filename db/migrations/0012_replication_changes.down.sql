DROP TABLE replication_changes;
