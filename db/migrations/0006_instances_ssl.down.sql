ALTER TABLE instances DROP COLUMN ssl_mode, DROP COLUMN ssl_ref;
UPDATE alembic_version SET version_num = 'f90016d7baf8';
