-- alembic cee1bcba3541: drop sqlalchemy-migrate's version table (present only in databases upgraded from it).
DROP TABLE IF EXISTS migrate_version;
UPDATE alembic_version SET version_num = 'cee1bcba3541';
