-- Ours (not in Trove; Python Trove's conductor stores content_manifest verbatim when its catalog has the column,
-- it arrives as a JSON string): what restore drills check a backup's contents against. content_manifest is the
-- JSON object {database: [table, ...]} our guest took when the backup completed (NULL: made before this column or
-- by a Python guest; such backups are drilled without a content check). content_checksum is the SHA-256 hex
-- digest of the restored tables' checksums recorded by the first drill of the backup that passed, at
-- content_checksum_at, with each table's checksum in content_table_checksums ({database: {table: checksum}});
-- later drills must restore to the same digest.
ALTER TABLE backups
  ADD COLUMN content_manifest MEDIUMTEXT NULL,
  ADD COLUMN content_checksum VARCHAR(64) NULL,
  ADD COLUMN content_table_checksums MEDIUMTEXT NULL,
  ADD COLUMN content_checksum_at DATETIME NULL;
