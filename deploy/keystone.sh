#!/usr/bin/env bash
# Keystone for Trove: its own config (/etc/keystone/trove-go.conf, SQLite, fernet, in-memory cache) served by one
# uwsgi process on http://127.0.0.1:5000 (Debian's own `keystone` service is kept stopped).
# usage: keystone.sh {install|start|stop|status|entities|catalog}
#   entities  projects service/demo/demo2, users trove/demo/demo2/demoreader with their roles (only what is missing);
#             with TROVE_ENDPOINT_URL set, also what `catalog` creates
#   catalog   service `trove` (type database) + endpoints TROVE_ENDPOINT_URL (default https://127.0.0.1:8779/v1.0/$(project_id)s)
# KEYSTONE_MODE=test|production: `test` adds password_hash_rounds=4 (fast, for tests only). The mode of the first
# configuration sticks unless KEYSTONE_MODE is given.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=trove-go
CONF=/etc/keystone/$NAME.conf
INI=/etc/keystone/$NAME-uwsgi.ini
DB=/var/lib/keystone/$NAME.sqlite
PIDFILE=$RUN_DIR/keystone.pid
ULOG=/var/log/keystone/$NAME-uwsgi.log
URL=http://127.0.0.1:5000/v3
UNIT=trove-go-keystone
MODE_FILE=$STATE_DIR/keystone_mode
BOOTSTRAP_MARK=$STATE_DIR/keystone_bootstrapped
SYNC_MARK=$STATE_DIR/keystone_synced_version

as_keystone() { runuser -u keystone -- "$@"; }
KM_LOG=/var/log/keystone/$NAME-manage.log
# keystone-manage prints harmless eventlet tracebacks at exit: keep its output in a log, show it on failure.
kmanage() {
	local rc=0
	as_keystone keystone-manage --config-file "$CONF" "$@" >>"$KM_LOG" 2>&1 || rc=$?
	((rc == 0)) || tail -n 20 "$KM_LOG" >&2
	return $rc
}
answering() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL")" == 200 ]]; }
ours_running() { pid_alive "$PIDFILE"; }

mode() {
	local m=${KEYSTONE_MODE:-}
	[[ -z "$m" && -s "$MODE_FILE" ]] && m=$(cat "$MODE_FILE")
	m=${m:-production}
	[[ "$m" == test || "$m" == production ]] || fail "KEYSTONE_MODE must be test or production, got '$m'" "unset it or fix it"
	echo "$m"
}

do_install() {
	step "keystone: packages"
	if [[ -n "$(missing_packages keystone)" ]]; then
		# No database, bootstrap or endpoints from the package's postinst: we configure our own instance.
		debconf-set-selections <<'EOF'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
EOF
	fi
	apt_install keystone python3-keystone uwsgi-core uwsgi-plugin-python3 python3-openstackclient \
		python3-keystoneclient python3-troveclient sqlite3 curl
	stop_debian_keystone

	step "keystone: configuration"
	local m
	m=$(mode)
	install -d -m 0755 "$STATE_DIR"
	echo "$m" >"$MODE_FILE"
	install -d -o keystone -g keystone -m 0750 /var/lib/keystone /var/log/keystone
	install -d -m 0755 "$RUN_DIR"
	local changed=""
	{
		cat <<EOF
# Written by trove-go deploy/keystone.sh (mode: $m). Served by uwsgi with $INI.
[DEFAULT]
log_file = /var/log/keystone/$NAME.log

[database]
connection = sqlite:///$DB

[token]
provider = fernet
expiration = 14400

[fernet_tokens]
key_repository = /etc/keystone/fernet-keys/

[credential]
key_repository = /etc/keystone/credential-keys/
# Off: with the memory cache backend every POST /v3/s3tokens (S3 through Swift's s3token) is a 500 — keystone
# mutates the cached credential dict (KeyError: 'encrypted_blob').
caching = false

[cache]
# Without a cache one token validation costs ~960 SQL queries; the memory cache is only correct with one process.
enabled = true
backend = dogpile.cache.memory
EOF
		if [[ "$m" == test ]]; then
			printf '\n[identity]\n# Test mode only: cheap password hashes. Never in production.\npassword_hash_rounds = 4\n'
		fi
	} | write_if_changed "$CONF" 0640 root:keystone && changed=1
	write_if_changed "$INI" 0644 root:root <<EOF && changed=1
# Written by trove-go deploy/keystone.sh. With SQLite: one process, one thread (more give "database is locked").
[uwsgi]
plugins = python3
master = true
http-socket = 127.0.0.1:5000
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_FILES=$CONF
uid = keystone
gid = keystone
processes = 1
threads = 1
buffer-size = 65535
# uwsgi's http-socket closes connections without saying so; keep-alive clients would see resets.
add-header = Connection: close
die-on-term = true
pidfile = $PIDFILE
daemonize = $ULOG
EOF
	if [[ -n "$changed" ]]; then
		log "wrote $CONF and $INI"
		if ours_running; then
			log "restarting keystone to apply the new configuration"
			stop_ours
		fi
	fi

	step "keystone: database"
	# db_sync only for a new database or a new keystone package (db_sync --check costs a python start-up).
	local version
	version=$(dpkg-query -W -f='${Version}' keystone)
	if [[ ! -s "$DB" ]]; then
		rm -f "$BOOTSTRAP_MARK"
		kmanage db_sync || fail "keystone-manage db_sync failed" "see $KM_LOG"
		echo "$version" >"$SYNC_MARK"
		log "created $DB"
	elif [[ "$(cat "$SYNC_MARK" 2>/dev/null)" != "$version" ]]; then
		kmanage db_sync || fail "keystone-manage db_sync failed" "see $KM_LOG"
		echo "$version" >"$SYNC_MARK"
		log "synced $DB with keystone $version"
	fi
	if [[ "$(sqlite3 "$DB" 'PRAGMA journal_mode;')" != wal ]]; then
		sqlite3 "$DB" 'PRAGMA journal_mode=WAL;' >/dev/null
	fi
	chown keystone:keystone "$DB"*

	step "keystone: keys"
	if [[ ! -s /etc/keystone/fernet-keys/0 ]]; then
		kmanage fernet_setup --keystone-user keystone --keystone-group keystone
	fi
	if [[ ! -s /etc/keystone/credential-keys/0 ]]; then
		kmanage credential_setup --keystone-user keystone --keystone-group keystone
	fi

	step "keystone: bootstrap"
	if [[ ! -e "$BOOTSTRAP_MARK" ]]; then
		local pw
		pw=$(secret keystone_admin_password)
		# bootstrap reads the password from OS_BOOTSTRAP_PASSWORD, so it never appears in ps.
		OS_BOOTSTRAP_PASSWORD="$pw" kmanage bootstrap \
			--bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
			--bootstrap-service-name keystone --bootstrap-region-id RegionOne \
			--bootstrap-admin-url "$URL/" --bootstrap-internal-url "$URL/" --bootstrap-public-url "$URL/" ||
			fail "keystone-manage bootstrap failed" "see $KM_LOG"
		touch "$BOOTSTRAP_MARK"
		log "bootstrapped admin"
	fi
}

# stop_debian_keystone keeps the package's own keystone service (default config, :5000) stopped and disabled.
stop_debian_keystone() {
	if has_systemd; then
		if systemctl is-enabled --quiet keystone 2>/dev/null || systemctl is-active --quiet keystone 2>/dev/null; then
			systemctl disable --now keystone >/dev/null 2>&1 || true
			log "disabled Debian's keystone service"
		fi
	elif [[ -x /etc/init.d/keystone ]] && pid_alive /run/keystone/keystone.pid; then
		/etc/init.d/keystone stop >/dev/null 2>&1 || true
		log "stopped Debian's keystone service"
	fi
}

do_start() {
	step "keystone: start"
	if ours_running && answering; then
		log "keystone already running"
		return 0
	fi
	[[ -s "$CONF" && -s "$INI" && -e "$BOOTSTRAP_MARK" ]] || fail "keystone is not configured" "run: $0 install"
	stop_debian_keystone
	if ! ours_running && port_open 127.0.0.1 5000; then
		fail "something else listens on 127.0.0.1:5000" "stop it (ss -ltnp 'sport = :5000'), then re-run"
	fi
	if has_systemd; then
		install_unit
		systemctl start "$UNIT" || fail "systemctl start $UNIT failed" "see: journalctl -u $UNIT and $ULOG"
	elif ! ours_running; then
		install -d -m 0755 "$RUN_DIR"
		uwsgi --ini "$INI" 9>&- || fail "uwsgi did not start" "see $ULOG"
	fi
	wait_for 60 "keystone" answering ||
		fail "keystone did not answer GET $URL with 200 within 60 s" "see $ULOG and /var/log/keystone/$NAME.log"
	log "keystone is up at $URL"
}

# install_unit: with systemd, the same uwsgi ini runs as a forking unit (restarted on failure, started at boot).
install_unit() {
	if write_if_changed "/etc/systemd/system/$UNIT.service" 0644 root:root <<EOF; then
# Keystone for Trove (Go) — written by deploy/keystone.sh.
[Unit]
Description=Keystone for Trove (Go): uwsgi on 127.0.0.1:5000 with $CONF
After=network-online.target
Wants=network-online.target
Conflicts=keystone.service

[Service]
Type=forking
PIDFile=$PIDFILE
RuntimeDirectory=$(basename "$RUN_DIR")
RuntimeDirectoryPreserve=yes
ExecStart=/usr/bin/uwsgi --ini $INI
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
		systemctl daemon-reload
	fi
	systemctl enable --quiet "$UNIT"
}

stop_ours() {
	if has_systemd && [[ -f "/etc/systemd/system/$UNIT.service" ]]; then
		systemctl stop "$UNIT"
		return 0
	fi
	local pid
	pid=$(cat "$PIDFILE")
	kill -TERM "$pid" 2>/dev/null || true
	wait_for 30 "uwsgi to exit" all_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
	rm -f "$PIDFILE"
}

do_stop() {
	step "keystone: stop"
	if ours_running; then
		stop_ours
		log "keystone stopped"
	else
		log "keystone is not running"
	fi
}

do_status() {
	if ours_running && answering; then
		echo "keystone: running ($URL)"
	else
		echo "keystone: stopped"
		exit 3
	fi
}

# ks_env exports what keystone_entities.py reads.
ks_env() {
	export KS_URL=$URL
	KS_ADMIN_PASSWORD=$(secret keystone_admin_password)
	export KS_ADMIN_PASSWORD
	KS_SERVICE_PASSWORD=$(secret keystone_service_password)
	export KS_SERVICE_PASSWORD
	KS_DEMO_PASSWORD=$(secret keystone_demo_password)
	export KS_DEMO_PASSWORD
}

do_entities() {
	step "keystone: entities"
	answering || fail "keystone does not answer at $URL" "run: $0 start"
	ks_env
	# With TROVE_ENDPOINT_URL set, the database service and endpoints too (one python start-up instead of two).
	local modes=(test)
	[[ -n "${TROVE_ENDPOINT_URL:-}" ]] && modes+=(catalog)
	"$PYTHON" "$DEPLOY_DIR/keystone_entities.py" "${modes[@]}" || fail "creating the keystone entities failed" "see the error above and /var/log/keystone/$NAME.log"
}

do_catalog() {
	step "keystone: database service and endpoints"
	answering || fail "keystone does not answer at $URL" "run: $0 start"
	ks_env
	export TROVE_ENDPOINT_URL=${TROVE_ENDPOINT_URL:-'https://127.0.0.1:8779/v1.0/$(project_id)s'}
	"$PYTHON" "$DEPLOY_DIR/keystone_entities.py" catalog || fail "creating the database service/endpoints failed" "see the error above"
}

need_root
case "${1:-}" in
install) do_install ;;
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
entities) do_entities ;;
catalog) do_catalog ;;
*) usage "install|start|stop|status|entities|catalog" ;;
esac
