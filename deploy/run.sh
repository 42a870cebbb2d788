#!/usr/bin/env bash
# `make run`: a complete Trove (Go) on this Debian bookworm machine, as root.
#   installs what is missing (MariaDB, RabbitMQ, Keystone, the datastore servers MariaDB and PostgreSQL, the
#   openstack CLI with the trove plugin), starts what is stopped, reuses what runs; creates the catalog database,
#   the Keystone service user/catalog entry/demo identities, a local CA + server certificate, /etc/trove/*.conf
#   with freshly generated keys; syncs the catalog, registers datastore versions, starts trove-api (HTTPS :8779),
#   trove-taskmanager and trove-conductor, waits until healthy, writes /etc/trove/openrc.{admin,demo}.
# Idempotent: a second run changes nothing and prints the status. Stop with deploy/stop.sh (`make stop`).
# Environment: TROVE_BIN_DIR (default $REPO/bin: the binaries `make build` produced); COMPUTE=local|openstack (the
# compute driver; default: the previous run's, else local). COMPUTE=openstack also brings up the OpenStack test bed
# (deploy/openstack.sh: Nova with the fake hypervisor, Neutron, Cinder, Glance, Placement and the boot emulator)
# and points the control plane at it ([DEFAULT] compute_driver = openstack, [service_credentials]).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN_SRC=${TROVE_BIN_DIR:-$REPO/bin}
BIN_DIR=/usr/local/bin
LIB_DIR=/usr/local/lib/trove-go
ETC=/etc/trove
SSL=$ETC/ssl
LOG_DIR=/var/log/trove
PID_DIR=/run/trove
DATA_DIR=/var/lib/trove
API_URL=https://127.0.0.1:8779
KS_URL=http://127.0.0.1:5000/v3
BINARIES=(trove-api trove-taskmanager trove-conductor trove-guestagent trove-manage)
SERVICES=(trove-conductor trove-taskmanager trove-api)
declare -A RESTART=()
T0=$(now_ms)

need_root
COMPUTE=${COMPUTE:-$(cat "$STATE_DIR/compute" 2>/dev/null || echo local)}
[[ $COMPUTE == local || $COMPUTE == openstack ]] || fail "COMPUTE=$COMPUTE is not a compute driver" "use COMPUTE=local (default) or COMPUTE=openstack"

step "check binaries"
missing=()
for b in "${BINARIES[@]}"; do
	[[ -x "$BIN_SRC/$b" ]] || missing+=("$b")
done
((${#missing[@]} == 0)) || fail "missing in $BIN_SRC: ${missing[*]}" \
	"run 'make build' (services/*/cmd/<binary>); until every service has a main package make run cannot start"
[[ -x "$BIN_SRC/trove-local-helper" ]] || fail "missing in $BIN_SRC: trove-local-helper" "run 'make build' (services/taskmanager/cmd/trove-local-helper)"
[[ -r /etc/debian_version ]] || fail "not a Debian system" "make run supports Debian bookworm; see docs/deploy.md for other hosts"

# --- packages and the shared servers -----------------------------------------------------------------------
step_done
bash "$DEPLOY_DIR/mariadb.sh" install
bash "$DEPLOY_DIR/rabbitmq.sh" install
bash "$DEPLOY_DIR/keystone.sh" install
step "datastore servers and tools"
install_datastore_tools sudo
step_done
bash "$DEPLOY_DIR/mariadb.sh" start
bash "$DEPLOY_DIR/rabbitmq.sh" start
bash "$DEPLOY_DIR/keystone.sh" start
TROVE_ENDPOINT_URL="$API_URL/v1.0/\$(project_id)s" bash "$DEPLOY_DIR/keystone.sh" entities

# --- system user, directories, binaries ----------------------------------------------------------------------
step "user trove, directories, binaries"
if ! id trove >/dev/null 2>&1; then
	useradd --system --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin --user-group trove
	log "created system user trove"
fi
install -d -m 0750 -o root -g trove "$ETC"
install -d -m 0750 -o trove -g trove "$LOG_DIR" "$DATA_DIR" "$DATA_DIR/local" "$DATA_DIR/backups"
install -d -m 0755 -o trove -g trove "$PID_DIR"
install -d -m 0755 "$LIB_DIR"
for b in "${BINARIES[@]}"; do
	if ! cmp -s "$BIN_SRC/$b" "$BIN_DIR/$b"; then
		install -m 0755 "$BIN_SRC/$b" "$BIN_DIR/$b.new"
		mv "$BIN_DIR/$b.new" "$BIN_DIR/$b"
		RESTART[$b]=1
		log "installed $BIN_DIR/$b"
	fi
done
# The local driver's root helper and the one sudoers rule that lets the taskmanager run it (docs/deploy.md, "Local
# driver isolation"): each instance runs as a Unix user of its own in namespaces of its own.
HELPER=/usr/local/sbin/trove-local-helper
if ! cmp -s "$BIN_SRC/trove-local-helper" "$HELPER"; then
	install -m 0755 -o root -g root "$BIN_SRC/trove-local-helper" "$HELPER.new"
	mv "$HELPER.new" "$HELPER"
	log "installed $HELPER"
fi
sudoers=$(mktemp)
printf '%s\n' "# Written by deploy/run.sh: trove-taskmanager (user trove) runs the local driver's root helper, nothing else." \
	"Defaults!$HELPER !use_pty" "trove ALL=(root) NOPASSWD: $HELPER" >"$sudoers"
visudo -cqf "$sudoers" || fail "the generated sudoers rule for $HELPER does not parse" "check sudo's version (visudo -c)"
write_if_changed /etc/sudoers.d/trove-local-helper 0440 root:root <"$sudoers" && RESTART[trove-taskmanager]=1
rm -f "$sudoers"
if ! cmp -s "$DEPLOY_DIR/supervise.sh" "$LIB_DIR/supervise.sh"; then
	install -m 0755 "$DEPLOY_DIR/supervise.sh" "$LIB_DIR/supervise.sh"
fi

# --- the OpenStack test bed (COMPUTE=openstack) ---------------------------------------------------------------
if [[ $COMPUTE == openstack ]]; then
	bash "$DEPLOY_DIR/openstack.sh" install
	bash "$DEPLOY_DIR/openstack.sh" start
	set -a
	# shellcheck disable=SC1091
	source /var/lib/trove-openstack/testbed.env
	set +a
fi

# --- catalog database ---------------------------------------------------------------------------------------
step "catalog database trove"
DB_PASSWORD=$(secret trove_db_password)
if ! MYSQL_PWD="$DB_PASSWORD" mariadb -h 127.0.0.1 -u trove trove -e 'SELECT 1' >/dev/null 2>&1; then
	mariadb --protocol=socket -uroot <<EOF || fail "creating database/user trove failed" "check that root can log in over /run/mysqld/mysqld.sock"
CREATE DATABASE IF NOT EXISTS trove CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'trove'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS 'trove'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER 'trove'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER 'trove'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON trove.* TO 'trove'@'127.0.0.1';
GRANT ALL PRIVILEGES ON trove.* TO 'trove'@'localhost';
EOF
	log "created database trove and its user"
fi

# --- TLS: a local CA and the trove-api certificate ----------------------------------------------------------
step "TLS certificates"
install -d -m 0750 -o root -g trove "$SSL"
if [[ ! -s $SSL/ca.key || ! -s $SSL/ca.crt ]] || ! openssl x509 -in "$SSL/ca.crt" -noout -checkend 2592000 >/dev/null; then
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
		-subj "/CN=Trove-Go local CA ($(hostname))" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$SSL/ca.key" -out "$SSL/ca.crt" 2>/dev/null) || fail "openssl could not create the CA" "check that openssl works"
	chmod 0644 "$SSL/ca.crt"
	rm -f "$SSL/trove-api.crt"
	log "created local CA $SSL/ca.crt"
fi
if [[ ! -s $SSL/trove-api.key || ! -s $SSL/trove-api.crt ]] ||
	! openssl x509 -in "$SSL/trove-api.crt" -noout -checkend 2592000 >/dev/null ||
	! openssl verify -CAfile "$SSL/ca.crt" "$SSL/trove-api.crt" >/dev/null 2>&1; then
	(umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -subj "/CN=127.0.0.1" \
		-keyout "$SSL/trove-api.key" -out "$SSL/trove-api.csr" 2>/dev/null)
	openssl x509 -req -in "$SSL/trove-api.csr" -CA "$SSL/ca.crt" -CAkey "$SSL/ca.key" -CAcreateserial -sha256 \
		-days 825 -out "$SSL/trove-api.crt" -extfile <(printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			"basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth") 2>/dev/null ||
		fail "openssl could not sign the server certificate" "remove $SSL and re-run"
	rm -f "$SSL/trove-api.csr"
	chown root:trove "$SSL/trove-api.key"
	chmod 0640 "$SSL/trove-api.key"
	chmod 0644 "$SSL/trove-api.crt"
	RESTART[trove-api]=1
	log "issued $SSL/trove-api.crt for 127.0.0.1"
fi

# --- configuration ------------------------------------------------------------------------------------------
step "configuration $ETC"
RABBIT_URL="rabbit://trove:$(secret rabbit_password)@127.0.0.1:5672/"
SERVICE_PASSWORD=$(secret keystone_service_password)
TM_KEY=$(secret taskmanager_rpc_encr_key)
INST_KEY=$(secret inst_rpc_key_encr_key)
# The key-encryption key of backups ([backup_encryption] key in the guest config): generated once, like the RPC keys.
BACKUP_KEY=$(secret backup_encryption_key)
MARIADB_VERSION=""
if [[ -x /usr/sbin/mariadbd ]]; then
	MARIADB_VERSION=$(/usr/sbin/mariadbd --version | grep -oP 'Ver \K[0-9]+\.[0-9]+')
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_VERSION=""
[[ -n "$PG_BIN" && -x "$PG_BIN/postgres" ]] && PG_VERSION=$(basename "$(dirname "$PG_BIN")")

LOCAL_IMAGES=""
[[ -n "$MARIADB_VERSION" ]] && LOCAL_IMAGES+="mariadb-$MARIADB_VERSION = /usr/sbin"$'\n'
[[ -n "$PG_VERSION" ]] && LOCAL_IMAGES+="postgresql-$PG_VERSION = $PG_BIN"$'\n'
COMPUTE_OPTIONS=""
if [[ $COMPUTE == openstack ]]; then
	# Trove's options of the openstack driver: guests get a port on the management network too.
	# Our guest image (deploy/guest-image) has a trove user, not Trove's default ubuntu: cloud-init chowns to it.
	COMPUTE_OPTIONS="management_networks = $TESTBED_MGMT_NETWORK_ID"$'\n'"os_region_name = RegionOne"
	COMPUTE_OPTIONS+=$'\n'"injected_config_owner = trove"$'\n'"injected_config_group = trove"
fi
declare -A VALUES=(
	[COMPUTE_DRIVER]=$COMPUTE [COMPUTE_OPTIONS]=$COMPUTE_OPTIONS
	[API_URL]=$API_URL [KEYSTONE_URL]=$KS_URL [TRANSPORT_URL]=$RABBIT_URL [DB_PASSWORD]=$DB_PASSWORD
	[SERVICE_PASSWORD]=$SERVICE_PASSWORD [TASKMANAGER_RPC_ENCR_KEY]=$TM_KEY [INST_RPC_KEY_ENCR_KEY]=$INST_KEY
	[BACKUP_ENCRYPTION_KEY]=$BACKUP_KEY
	[RABBIT_ADMIN_PASSWORD]=$(secret rabbit_admin_password)
	[LOCAL_IMAGES]=${LOCAL_IMAGES%$'\n'}
)
# render NAME: deploy/config/NAME.sample with every @KEY@ replaced, on stdout.
render() {
	local text k
	text=$(<"$DEPLOY_DIR/config/$1.sample")
	for k in "${!VALUES[@]}"; do
		text=${text//@$k@/${VALUES[$k]}}
	done
	[[ "$text" != *@[A-Z_]*@* ]] || fail "unreplaced placeholder in $1.sample" "add it to VALUES in $0"
	printf '%s\n' "$text"
}
# render_to NAME FILE: renders the sample and writes it unless unchanged/hand-edited; 0 when FILE changed.
render_to() {
	local text
	text=$(render "$1") || exit 1
	write_managed "$2" 0640 root:trove <<<"$text"
}
render_to trove.conf "$ETC/trove.conf" && RESTART[conf]=1
render_to trove-taskmanager.conf "$ETC/trove-taskmanager.conf" && RESTART[trove-taskmanager]=1
render_to trove-conductor.conf "$ETC/trove-conductor.conf" && RESTART[trove-conductor]=1
# Copied into each new guest by the taskmanager; running guests keep theirs.
render_to trove-guestagent.conf "$ETC/trove-guestagent.conf" || true

# --- catalog schema and datastores ---------------------------------------------------------------------------
manage() { setpriv --reuid=trove --regid=trove --init-groups "$BIN_DIR/trove-manage" --config-file "$ETC/trove.conf" "$@"; }

step "trove-manage db_sync"
manage db_sync >>"$LOG_DIR/trove-manage.log" 2>&1 ||
	fail "trove-manage db_sync failed" "see $LOG_DIR/trove-manage.log; check [database] connection in $ETC/trove.conf"

step "datastore versions"
# The image of each datastore version: the local driver's [local_images] names, or the test bed's Glance images.
IMAGE_MARIADB="mariadb-$MARIADB_VERSION" IMAGE_MYSQL="mariadb-$MARIADB_VERSION" IMAGE_PG="postgresql-$PG_VERSION"
if [[ $COMPUTE == openstack ]]; then
	IMAGE_MARIADB=$TESTBED_IMAGE_MARIADB IMAGE_MYSQL=$TESTBED_IMAGE_MYSQL IMAGE_PG=$TESTBED_IMAGE_POSTGRESQL
fi
register() { # datastore version manager image [version number]
	manage datastore_update "$1" "" &&
		manage datastore_version_update "$1" "$2" "$3" "$4" "" 1 --version "${5:-$2}" &&
		manage datastore_update "$1" "$2"
}
# load_rules datastore version manager [version number]: the manager's configuration parameter rules
# (deploy/config/validation-rules/<manager>.json, copied where the trove user can read it).
load_rules() {
	install -D -m 0644 "$DEPLOY_DIR/config/validation-rules/$3.json" "$LIB_DIR/validation-rules/$3.json" &&
		manage db_load_datastore_config_parameters "$1" "$2" "$LIB_DIR/validation-rules/$3.json" --version "${4:-$2}"
}
[[ -n "$MARIADB_VERSION$PG_VERSION" ]] || fail "no datastore server installed" "apt-get install mariadb-server postgresql-15"
if [[ -n "$MARIADB_VERSION" ]]; then
	# On the test bed a second MariaDB version on the second image (trove-guest-mariadb-2): what an upgrade rebuilds
	# onto. Registered first, so the plain version stays the default; on the local driver it is switched off.
	if [[ $COMPUTE == openstack ]]; then
		register mariadb "$MARIADB_VERSION-image2" mariadb "$TESTBED_IMAGE_MARIADB_2" "$MARIADB_VERSION" >>"$LOG_DIR/trove-manage.log" 2>&1 ||
			fail "registering datastore mariadb $MARIADB_VERSION-image2 failed" "see $LOG_DIR/trove-manage.log"
	elif [[ $(MYSQL_PWD="$DB_PASSWORD" mariadb -h 127.0.0.1 -u trove trove -N -e "SELECT COUNT(*) FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id WHERE d.name = 'mariadb' AND v.name = '$MARIADB_VERSION-image2' AND v.active = 1") != 0 ]]; then
		manage datastore_version_update mariadb "$MARIADB_VERSION-image2" mariadb "" "" 0 --image-tags trove,mariadb --version "$MARIADB_VERSION" >>"$LOG_DIR/trove-manage.log" 2>&1 ||
			fail "deactivating datastore version mariadb $MARIADB_VERSION-image2 failed" "see $LOG_DIR/trove-manage.log"
		log "deactivated datastore version mariadb $MARIADB_VERSION-image2 (the test bed's; the local driver has no such image)"
	fi
	register mariadb "$MARIADB_VERSION" mariadb "$IMAGE_MARIADB" >>"$LOG_DIR/trove-manage.log" 2>&1 ||
		fail "registering datastore mariadb $MARIADB_VERSION failed" "see $LOG_DIR/trove-manage.log"
	load_rules mariadb "$MARIADB_VERSION" mariadb >>"$LOG_DIR/trove-manage.log" 2>&1 ||
		fail "loading the configuration parameters of mariadb $MARIADB_VERSION failed" "see $LOG_DIR/trove-manage.log"
	# The `mysql` datastore: Debian ships no MySQL server, so on the local driver it runs MariaDB (through the
	# guest's mysql manager) and says so in its version name, `mariadb-<version>` — never a bare MySQL-looking
	# number. A bare version left by an older make run is deactivated.
	MYSQL_VERSION_NAME="mariadb-$MARIADB_VERSION"
	register mysql "$MYSQL_VERSION_NAME" mysql "$IMAGE_MYSQL" "$MARIADB_VERSION" >>"$LOG_DIR/trove-manage.log" 2>&1 ||
		fail "registering datastore mysql $MYSQL_VERSION_NAME failed" "see $LOG_DIR/trove-manage.log"
	load_rules mysql "$MYSQL_VERSION_NAME" mysql "$MARIADB_VERSION" >>"$LOG_DIR/trove-manage.log" 2>&1 ||
		fail "loading the configuration parameters of mysql $MYSQL_VERSION_NAME failed" "see $LOG_DIR/trove-manage.log"
	if [[ $(MYSQL_PWD="$DB_PASSWORD" mariadb -h 127.0.0.1 -u trove trove -N -e "SELECT COUNT(*) FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id WHERE d.name = 'mysql' AND v.name = '$MARIADB_VERSION' AND v.active = 1") != 0 ]]; then
		manage datastore_version_update mysql "$MARIADB_VERSION" mysql "mariadb-$MARIADB_VERSION" "" 0 >>"$LOG_DIR/trove-manage.log" 2>&1 ||
			fail "deactivating datastore version mysql $MARIADB_VERSION failed" "see $LOG_DIR/trove-manage.log"
		log "deactivated datastore version mysql $MARIADB_VERSION (it ran MariaDB under a MySQL-looking name; now mysql $MYSQL_VERSION_NAME)"
	fi
fi
if [[ -n "$PG_VERSION" ]]; then
	register postgresql "$PG_VERSION" postgresql "$IMAGE_PG" >>"$LOG_DIR/trove-manage.log" 2>&1 ||
		fail "registering datastore postgresql $PG_VERSION failed" "see $LOG_DIR/trove-manage.log"
	load_rules postgresql "$PG_VERSION" postgresql >>"$LOG_DIR/trove-manage.log" 2>&1 ||
		fail "loading the configuration parameters of postgresql $PG_VERSION failed" "see $LOG_DIR/trove-manage.log"
fi

# --- services -----------------------------------------------------------------------------------------------
args_of() {
	case $1 in
	trove-api) echo "--config-file $ETC/trove.conf" ;;
	trove-taskmanager) echo "--config-file $ETC/trove.conf --config-file $ETC/trove-taskmanager.conf" ;;
	trove-conductor) echo "--config-file $ETC/trove.conf --config-file $ETC/trove-conductor.conf" ;;
	esac
}
needs_restart() { [[ -n "${RESTART[$1]:-}${RESTART[conf]:-}" ]]; }

step "services"
if port_open 127.0.0.1 8779 && ! { has_systemd && systemctl is-active --quiet trove-api; } && ! pid_alive "$PID_DIR/trove-api.pid"; then
	fail "something else listens on 127.0.0.1:8779" "stop it (ss -ltnp 'sport = :8779'); make run starts trove-api there"
fi
if has_systemd; then
	units_changed=""
	for u in "$DEPLOY_DIR"/systemd/*.service; do
		if ! cmp -s "$u" "/etc/systemd/system/$(basename "$u")"; then
			install -m 0644 "$u" "/etc/systemd/system/$(basename "$u")"
			units_changed=1
			RESTART[$(basename "$u" .service)]=1
		fi
	done
	[[ -n "$units_changed" ]] && systemctl daemon-reload
	for s in "${SERVICES[@]}"; do
		systemctl enable --quiet "$s"
		if needs_restart "$s"; then
			systemctl restart "$s" || fail "systemctl restart $s failed" "see: journalctl -u $s"
			log "(re)started $s"
		elif ! systemctl is-active --quiet "$s"; then
			systemctl start "$s" || fail "systemctl start $s failed" "see: journalctl -u $s"
			log "started $s"
		fi
	done
else
	for s in "${SERVICES[@]}"; do
		pidfile=$PID_DIR/$s.pid
		if pid_alive "$pidfile"; then
			needs_restart "$s" || continue
			bash "$DEPLOY_DIR/stop.sh" --quiet "$s"
		fi
		# shellcheck disable=SC2046
		start_detached /dev/null setpriv --reuid=trove --regid=trove --init-groups \
			"$LIB_DIR/supervise.sh" "$pidfile" "$LOG_DIR/$s.log" "$BIN_DIR/$s" $(args_of "$s")
		wait_for 10 "$s pid file" pid_alive "$pidfile" || fail "$s did not start" "see $LOG_DIR/$s.log"
		log "started $s (log $LOG_DIR/$s.log)"
	done
fi

step "wait until healthy"
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$SSL/ca.crt" "$1" || true; }
healthy() {
	[[ "$(http_code "$API_URL/healthcheck")" == 200 ]] && [[ "$(http_code "$API_URL/")" =~ ^(200|300)$ ]]
}
if ! wait_for 60 "trove-api" healthy; then
	fail "trove-api is not healthy at $API_URL/ and $API_URL/healthcheck after 60 s" \
		"see $LOG_DIR/trove-api.log (or journalctl -u trove-api)"
fi
for s in trove-taskmanager trove-conductor; do
	if has_systemd; then
		systemctl is-active --quiet "$s" || fail "$s is not running" "see: journalctl -u $s"
	else
		# The supervisor restarts a crashing service: require the child to have stayed up.
		child=$(pgrep -P "$(cat "$PID_DIR/$s.pid")" | head -n 1 || true)
		[[ -n "$child" ]] || fail "$s is not running" "see $LOG_DIR/$s.log"
	fi
done

step "openrc files"
openrc() { # user project password
	cat <<EOF
# Credentials for the openstack CLI: source $ETC/openrc.$1
export OS_AUTH_URL=$KS_URL
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$1
export OS_PASSWORD=$3
export OS_PROJECT_NAME=$2
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
export OS_CACERT=$SSL/ca.crt
EOF
}
openrc admin admin "$(secret keystone_admin_password)" | write_if_changed "$ETC/openrc.admin" 0600 root:root || true
openrc demo demo "$(secret keystone_demo_password)" | write_if_changed "$ETC/openrc.demo" 0600 root:root || true
step_done

echo "$COMPUTE" | write_if_changed "$STATE_DIR/compute" 0644 root:root || true
bash "$DEPLOY_DIR/status.sh" || true
ms=$(($(now_ms) - T0))
cat <<EOF

Trove (Go) is running at $API_URL on the $COMPUTE compute driver (ready in $((ms / 1000)).$((ms % 1000 / 100))s). Try:
  source $ETC/openrc.demo
  openstack datastore list
  openstack database flavor list
  openstack database instance create db1 --flavor 1 --size 1 --datastore mariadb${MARIADB_VERSION:+ --datastore-version $MARIADB_VERSION} --databases app --users app:app-password-1
  openstack database instance list
  openstack database backup create b1 --instance db1     # backups go to $DATA_DIR/backups (docs/deploy.md: Swift, S3)
  curl --cacert $SSL/ca.crt $API_URL/
Logs: $LOG_DIR/*.log   Configuration: $ETC/*.conf   Stop: make stop (deploy/stop.sh; --all also stops MariaDB, RabbitMQ, Keystone)
EOF
