-- alembic 5c68b4fb3cd1: datastore_versions.registry_ext and repl_strategy (TEXT NOT NULL), backfilled from the
-- manager exactly as Trove does (unknown managers get '' and '.').
ALTER TABLE datastore_versions ADD COLUMN registry_ext TEXT NULL, ADD COLUMN repl_strategy TEXT NULL;
UPDATE datastore_versions SET
  registry_ext = CASE manager
    WHEN 'mysql' THEN 'trove.guestagent.datastore.mysql.manager.Manager'
    WHEN 'mariadb' THEN 'trove.guestagent.datastore.mariadb.manager.Manager'
    WHEN 'postgresql' THEN 'trove.guestagent.datastore.postgres.manager.PostgresManager'
    ELSE '' END,
  repl_strategy = CASE manager
    WHEN 'mysql' THEN 'trove.guestagent.strategies.replication.mysql_gtid.MysqlGTIDReplication'
    WHEN 'mariadb' THEN 'trove.guestagent.strategies.replication.mariadb_gtid.MariaDBGTIDReplication'
    WHEN 'postgresql' THEN 'trove.guestagent.strategies.replication.postgresql.PostgresqlReplicationStreaming'
    ELSE '.' END;
ALTER TABLE datastore_versions MODIFY registry_ext TEXT NOT NULL, MODIFY repl_strategy TEXT NOT NULL;
UPDATE alembic_version SET version_num = '5c68b4fb3cd1';
