UPDATE alembic_version SET version_num = '5c68b4fb3cd1';
