-- alembic 95418fe2a1c8 (Trove's head): instances.ssl_mode and ssl_ref.
ALTER TABLE instances ADD COLUMN ssl_mode VARCHAR(16) NULL, ADD COLUMN ssl_ref TEXT NULL;
UPDATE alembic_version SET version_num = '95418fe2a1c8';
