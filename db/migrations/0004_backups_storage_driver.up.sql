-- alembic 7ee6154548a6: backups.storage_driver; existing rows were Swift backups.
ALTER TABLE backups ADD COLUMN storage_driver TEXT NULL;
UPDATE backups SET storage_driver = 'swift' WHERE storage_driver IS NULL;
UPDATE alembic_version SET version_num = '7ee6154548a6';
