ALTER TABLE backups DROP COLUMN storage_driver;
UPDATE alembic_version SET version_num = 'cee1bcba3541';
