-- alembic f90016d7baf8: root_enabled_history.deleted_at (set when root is disabled).
ALTER TABLE root_enabled_history ADD COLUMN deleted_at DATETIME NULL;
UPDATE alembic_version SET version_num = 'f90016d7baf8';
