#!/usr/bin/env bash
# Compares the catalog our migrations build with the one Trove's own alembic migrations build, column by column
# (type, NULL-ness, default, position, collation), index by index and foreign key by foreign key; then checks
# that trove-manage adopts the Python-made catalog and that alembic sees ours as current.
#
# Needs: a Trove source checkout (any commit with trove/db/sqlalchemy/migrations), /usr/bin/python3 with
# alembic, SQLAlchemy and PyMySQL (Debian: python3-alembic python3-sqlalchemy python3-pymysql), a built
# trove-manage, and a MariaDB account that may create databases.
#
#   db/compare-with-trove.sh ~/src/trove bin/trove-manage 'user:password@127.0.0.1:3306'
set -euo pipefail
trove=${1:?usage: $0 TROVE_CHECKOUT TROVE_MANAGE USER:PASSWORD@HOST:PORT}
manage=$(realpath "${2:?trove-manage binary}")
server=${3:?USER:PASSWORD@HOST:PORT}
user=${server%%:*} rest=${server#*:} password=${rest%@*} hostport=${server##*@}
host=${hostport%:*} port=${hostport##*:}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/versions" "$work/trove/common"
cp "$trove"/trove/db/sqlalchemy/migrations/versions/*.py "$work/versions/"
cp "$trove/trove/common/constants.py" "$work/trove/common/"
touch "$work/trove/__init__.py" "$work/trove/common/__init__.py"
cat >"$work/trove/common/cfg.py" <<'EOF'
class _Credentials:
    region_name = 'RegionOne'
class _Conf:
    service_credentials = _Credentials()
CONF = _Conf()
EOF
cat >"$work/env.py" <<'EOF'
from alembic import context
from sqlalchemy import create_engine
with create_engine(context.config.get_main_option("sqlalchemy.url")).connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
EOF
touch "$work/script.py.mako"

sql() { MYSQL_PWD=$password mariadb -h"$host" -P"$port" -u"$user" -N -e "$1"; }
py=cmp_trove_py_$$ go=cmp_trove_go_$$
sql "CREATE DATABASE $py CHARACTER SET utf8mb4; CREATE DATABASE $go CHARACTER SET utf8mb4"
trap 'sql "DROP DATABASE IF EXISTS $py; DROP DATABASE IF EXISTS $go"; rm -rf "$work"' EXIT

url() { python3 -c 'import sys, urllib.parse as u; print("mysql+pymysql://%s:%s@%s/%s?charset=utf8" % (u.quote(sys.argv[1], safe=""), u.quote(sys.argv[2], safe=""), sys.argv[3], sys.argv[4]))' "$user" "$password" "$hostport" "$1"; }
alembic() { printf '[alembic]\nscript_location = %s\nsqlalchemy.url = %s\n' "$work" "$(url "$1" | sed 's/%/%%/g')" >"$work/alembic.ini"
	PYTHONPATH=$work /usr/bin/python3 -m alembic -c "$work/alembic.ini" "${@:2}"; }
manage() { printf '[database]\nconnection = %s\n' "$(url "$1")" >"$work/$1.conf"; "$manage" --config-file "$work/$1.conf" "${@:2}"; }

alembic "$py" upgrade head
manage "$go" db_sync

describe() {
	sql "SELECT table_name, column_name, ordinal_position, column_type, is_nullable, IFNULL(column_default, '-'), collation_name
	     FROM information_schema.columns WHERE table_schema = '$1' ORDER BY 1, 3"
	sql "SELECT table_name, index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index)
	     FROM information_schema.statistics WHERE table_schema = '$1' GROUP BY 1, 2, 3 ORDER BY 1, 2"
	sql "SELECT k.table_name, k.constraint_name, GROUP_CONCAT(k.column_name), k.referenced_table_name, r.update_rule, r.delete_rule
	     FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r
	       ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name
	     WHERE k.table_schema = '$1' GROUP BY 1, 2, 4, 5, 6 ORDER BY 1, 2"
	sql "SELECT version_num FROM $1.alembic_version"
}

manage "$py" db_sync # adopts the Python-made catalog and adds our tables
if ! diff <(describe "$py") <(describe "$go"); then
	echo "FAIL: the catalogs differ (< Trove's migrations + adoption, > ours)" >&2
	exit 1
fi
[ "$(alembic "$go" current 2>/dev/null)" = "95418fe2a1c8 (head)" ] || { echo "FAIL: alembic does not see our catalog at head" >&2; exit 1; }
echo "OK: identical catalogs; alembic sees ours at head"
