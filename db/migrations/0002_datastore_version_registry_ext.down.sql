ALTER TABLE datastore_versions DROP COLUMN registry_ext, DROP COLUMN repl_strategy;
UPDATE alembic_version SET version_num = '906cffda7b29';
