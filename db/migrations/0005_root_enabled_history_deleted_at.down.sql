ALTER TABLE root_enabled_history DROP COLUMN deleted_at;
UPDATE alembic_version SET version_num = '7ee6154548a6';
