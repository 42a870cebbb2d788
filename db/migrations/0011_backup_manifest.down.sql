ALTER TABLE backups
  DROP COLUMN content_checksum_at,
  DROP COLUMN content_table_checksums,
  DROP COLUMN content_checksum,
  DROP COLUMN content_manifest;
