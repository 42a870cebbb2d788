#!/usr/bin/env bash
# OpenStack test bed for the `openstack` compute driver: Debian's Zed packages — Nova (fake.FakeDriver), Placement,
# Glance, Neutron (ML2, an agentless mechanism driver) and Cinder (a fake volume driver) — beside the MariaDB,
# RabbitMQ and Keystone that deploy/run.sh starts (this script never starts or stops those). Only the hypervisor and
# the block storage are fake; every API, scheduler, state machine, quota and database is real.
# More in deploy/openstack/README.md (env file keys, limits, timings); facts and pitfalls established on this kind
# of machine: /work/shared/reference/openstack-testbed.md.
#
# usage: openstack.sh {install|start|stop|status|env}
#   install  packages (debconf preseeded: no postinst touches databases, RabbitMQ, Keystone or endpoints; the
#            packages' init scripts stay off)
#   start    install if needed; databases, a RabbitMQ vhost/user `openstack`, Keystone users/services/endpoints,
#            db syncs, all processes (detached, pid files in /run/trove-openstack, logs in
#            /var/log/trove-openstack), flavors/networks/images, then $ENV_FILE; the boot emulator if built
#   stop     stops what start started (reverse order); MariaDB/RabbitMQ/Keystone stay up
#   status   one line per process; exit 3 when something is down
#   env      (re)writes $ENV_FILE (mode 0600, KEY=VALUE, shell-sourceable)
# Our own configs live in /var/lib/trove-openstack/etc/<svc>/ (generated secrets in $SECRETS_DIR/openstack_*);
# Debian's /etc/<svc>/*.conf are never read. APIs (all 127.0.0.1): nova 8774, placement 8778, glance 9292,
# neutron 9696, cinder 8776.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE=/var/lib/trove-openstack
ETC=$BASE/etc
LOG_DIR=/var/log/trove-openstack
PID_DIR=/run/trove-openstack
MARKS=$BASE/marks
PYLIB=$BASE/python
ENV_FILE=$BASE/testbed.env
KS_URL=http://127.0.0.1:5000/v3
REGION=RegionOne
HOST_NAME=trove-testbed
RABBIT_VHOST=openstack
RABBIT_USER=openstack
BOOTEMU_BIN=$REPO/bin/trove-boot-emulator
BOOTEMU_ROOT=$BASE/machines
GUESTAGENT=/usr/local/bin/trove-guestagent

PACKAGES=(nova-api nova-conductor nova-scheduler nova-compute nova-compute-ironic placement-api glance-api
	neutron-server python3-neutron cinder-api cinder-scheduler cinder-volume python3-cinder python3-pymysql
	uwsgi-core uwsgi-plugin-python3 python3-openstackclient python3-openstacksdk mariadb-client curl util-linux)
SERVICES=(nova placement glance neutron cinder)
# process name → start order; stop is the reverse.
PROCS=(placement glance neutron-server nova-api nova-conductor nova-scheduler nova-compute cinder-api
	cinder-scheduler cinder-volume)

declare -A PORT=([nova]=8774 [placement]=8778 [glance]=9292 [neutron]=9696 [cinder]=8776)

# ---------------------------------------------------------------------------------------------------- install --
preseed() {
	local s
	{
		for s in nova placement glance neutron cinder; do
			printf '%s-common %s/configure_db boolean false\n' "$s" "$s"
			printf '%s-common %s/configure_ksat boolean false\n' "$s" "$s"
			printf '%s-common %s/ksat-create-service-user boolean false\n' "$s" "$s"
			printf '%s-api %s/configure_api-endpoint boolean false\n' "$s" "$s"
		done
		for s in nova glance neutron cinder; do
			printf '%s-common %s/configure_rabbit boolean false\n' "$s" "$s"
		done
		printf 'nova-api novaapi/configure_db boolean false\n'
		printf 'nova-common nova/configure_neutron boolean false\n'
		printf 'nova-common nova/configure_placement boolean false\n'
		printf 'neutron-common neutron/configure_nova boolean false\n'
		printf 'cinder-common cinder/volume_group string \n'
	} | debconf-set-selections
}

# packages_installed: all of PACKAGES are installed (one dpkg-query; missing_packages asks once per package).
packages_installed() {
	local st
	st=$(dpkg-query -W -f='${Status}\n' "${PACKAGES[@]}" 2>/dev/null) || return 1
	[[ $(grep -c '^install ok installed$' <<<"$st") -eq ${#PACKAGES[@]} ]]
}

do_install() {
	step "openstack: packages"
	if ! packages_installed; then
		preseed
		# apt_install keeps the init scripts from starting anything (policy-rc.d while apt runs).
		apt_install "${PACKAGES[@]}"
		stop_debian_services
	fi
	step "openstack: directories"
	install -d -m 0755 "$BASE" "$ETC" "$PYLIB" "$PID_DIR"
	install -d -m 0700 "$MARKS"
	install -d -m 0750 "$LOG_DIR"
	local s
	for s in "${SERVICES[@]}"; do
		id "$s" >/dev/null 2>&1 || fail "system user $s is missing" "reinstall the ${s}-common package"
		install -d -m 0750 -o root -g "$s" "$ETC/$s"
		install -d -m 0750 -o "$s" -g "$s" "$BASE/$s" "$BASE/$s/lock"
		# an empty config dir of ours: oslo.config would otherwise also read /etc/<svc>/<svc>.conf.d
		install -d -m 0750 -o root -g "$s" "$ETC/$s/conf.d"
	done
	install -d -m 0750 -o glance -g glance "$BASE/glance/images" "$BASE/glance/staging"
}

# stop_debian_services: the packages' own daemons (Debian configs) must never run.
stop_debian_services() {
	local u
	for u in nova-api nova-conductor nova-scheduler nova-compute placement-api glance-api neutron-server neutron-api \
		neutron-rpc-server cinder-api cinder-scheduler cinder-volume; do
		if has_systemd; then
			systemctl disable --now --quiet "$u" 2>/dev/null || true
		elif [[ -x /etc/init.d/$u ]] && pid_alive "/run/${u%%-*}/$u.pid"; then
			/etc/init.d/"$u" stop >/dev/null 2>&1 || true
			log "stopped Debian's $u"
		fi
	done
}

# ------------------------------------------------------------------------------------------------ configuration --
db_url() { printf 'mysql+pymysql://%s:%s@127.0.0.1/%s?charset=utf8' "$1" "$(secret "openstack_db_$1")" "$2"; }
rabbit_url() { printf 'rabbit://%s:%s@127.0.0.1:5672/%s' "$RABBIT_USER" "$(secret openstack_rabbit_password)" "$RABBIT_VHOST"; }

# ks_section SECTION USER [extra lines…]: Keystone password credentials of USER in project service.
ks_section() {
	local section=$1 user=$2
	shift 2
	cat <<EOF

[$section]
auth_url = $KS_URL
auth_type = password
user_domain_name = Default
project_domain_name = Default
project_name = service
username = $user
password = $(secret "openstack_ks_$user")
region_name = $REGION
EOF
	local l
	for l in "$@"; do echo "$l"; done
}

# authtoken USER: the API's token validation ([keystone_authtoken]) with the service-token rule of OSSA-2023-003.
authtoken() {
	ks_section keystone_authtoken "$1" "www_authenticate_uri = $KS_URL" "service_token_roles_required = true"
}

# service_user USER: the service token sent along with a user's token on service-to-service calls.
service_user() {
	ks_section service_user "$1" "send_service_user_token = true"
}

# conf_nova [compute]: nova.conf; with `compute` nova-compute.conf, the same without database credentials (Nova's
# compute service must not touch the databases: it logs "No DB access allowed in nova-compute" errors otherwise).
conf_nova() {
	cat <<EOF
# Written by trove-go deploy/openstack.sh — the test bed's Nova (fake hypervisor). Not Debian's /etc/nova.
[DEFAULT]
host = $HOST_NAME
my_ip = 127.0.0.1
state_path = $BASE/nova
transport_url = $(rabbit_url)
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = ${PORT[nova]}
osapi_compute_workers = 1
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
allow_resize_to_same_host = true
# the fake hypervisor reports plenty (1000 vCPU, 800 GB RAM, 600 TB disk); no overcommit games needed
initial_cpu_allocation_ratio = 4.0
initial_ram_allocation_ratio = 1.5
initial_disk_allocation_ratio = 1.0
reserved_host_memory_mb = 0
instance_name_template = testbed-%08x

[api]
auth_strategy = keystone

[wsgi]
api_paste_config = /etc/nova/api-paste.ini

$(if [[ ${1:-} != compute ]]; then printf '[api_database]\nconnection = %s\n\n[database]\nconnection = %s\n' \
		"$(db_url nova nova_api)" "$(db_url nova nova)"; else echo "# nova-compute: no database access (conductor does it)"; fi)

[conductor]
workers = 1

[scheduler]
workers = 1
# hosts are mapped by openstack.sh (nova-manage cell_v2 discover_hosts after nova-compute is up)
discover_hosts_in_cells_interval = -1

[filter_scheduler]
enabled_filters = ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter

[quota]
instances = -1
cores = -1
ram = -1
key_pairs = -1
server_groups = -1
server_group_members = -1

[oslo_concurrency]
lock_path = $BASE/nova/lock

$(ks_section cinder nova "catalog_info = volumev3:cinderv3:publicURL" "os_region_name = $REGION")

[glance]
region_name = $REGION
$(ks_section placement placement)
$(ks_section neutron neutron "service_metadata_proxy = false")
$(authtoken nova)
$(service_user nova)
EOF
}

conf_placement() {
	cat <<EOF
# Written by trove-go deploy/openstack.sh — the test bed's Placement (uwsgi). Not Debian's /etc/placement.
[api]
auth_strategy = keystone

[placement_database]
connection = $(db_url placement placement)
$(authtoken placement)
EOF
}

uwsgi_ini() { # NAME WSGI_FILE PORT USER ENV…
	local name=$1 wsgi=$2 port=$3 user=$4
	shift 4
	cat <<EOF
# Written by trove-go deploy/openstack.sh: $name under uwsgi (1 process, a few threads), run by openstack.sh.
[uwsgi]
plugins = python3
master = true
http-socket = 127.0.0.1:$port
wsgi-file = $wsgi
uid = $user
gid = $user
processes = 1
threads = 4
enable-threads = true
lazy-apps = true
buffer-size = 65535
# uwsgi's http-socket closes connections without saying so; keep-alive clients would see resets.
add-header = Connection: close
# image uploads come chunked
http-chunked-input = true
http-raw-body = true
die-on-term = true
EOF
	local e
	for e in "$@"; do echo "env = $e"; done
}

conf_glance() {
	cat <<EOF
# Written by trove-go deploy/openstack.sh — the test bed's Glance (uwsgi, file store). Not Debian's /etc/glance.
[DEFAULT]
bind_host = 127.0.0.1
bind_port = ${PORT[glance]}
workers = 1
enabled_backends = fs:file
show_image_direct_url = false

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = $BASE/glance/images

[os_glance_staging_store]
filesystem_store_datadir = $BASE/glance/staging

[os_glance_tasks_store]
filesystem_store_datadir = $BASE/glance/staging

[database]
connection = $(db_url glance glance)

[paste_deploy]
flavor = keystone
config_file = $ETC/glance/glance-api-paste.ini

[oslo_concurrency]
lock_path = $BASE/glance/lock
$(authtoken glance)
EOF
}

conf_neutron() {
	cat <<EOF
# Written by trove-go deploy/openstack.sh — the test bed's Neutron (ML2, no agents). Not Debian's /etc/neutron.
[DEFAULT]
host = $HOST_NAME
bind_host = 127.0.0.1
bind_port = ${PORT[neutron]}
state_path = $BASE/neutron
transport_url = $(rabbit_url)
auth_strategy = keystone
api_paste_config = /etc/neutron/api-paste.ini
core_plugin = ml2
# the L3 plug-in for its API (routers, floating IPs as records; no L3 agent): clouds Trove runs on have it
service_plugins = router
allow_overlapping_ips = true
dhcp_agent_notification = false
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true

[database]
connection = $(db_url neutron neutron)

[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
quota_router = -1
quota_floatingip = -1
quota_security_group = -1
quota_security_group_rule = -1

[oslo_concurrency]
lock_path = $BASE/neutron/lock

[ml2]
type_drivers = flat,vlan
tenant_network_types = vlan
# deploy/openstack/python/trove_testbed/ml2.py: binds every port on every segment, stateless
mechanism_drivers = trove_agentless
extension_drivers = port_security

[ml2_type_vlan]
network_vlan_ranges = physnet1:100:3999

[ml2_type_flat]
flat_networks = physnet1

[securitygroup]
enable_security_group = true
firewall_driver = noop
$(ks_section nova nova)
$(ks_section placement neutron)
$(authtoken neutron)
EOF
}

conf_cinder() {
	cat <<EOF
# Written by trove-go deploy/openstack.sh — the test bed's Cinder (fake volume driver). Not Debian's /etc/cinder.
[DEFAULT]
host = $HOST_NAME
my_ip = 127.0.0.1
state_path = $BASE/cinder
transport_url = $(rabbit_url)
auth_strategy = keystone
api_paste_config = /etc/cinder/api-paste.ini
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = ${PORT[cinder]}
osapi_volume_workers = 1
enabled_backends = fake
glance_api_servers = http://127.0.0.1:${PORT[glance]}
quota_volumes = -1
quota_snapshots = -1
quota_gigabytes = -1
quota_backups = -1
quota_backup_gigabytes = -1

[fake]
# deploy/openstack/python/trove_testbed/cinder_fake.py: cinder.tests.fake_driver with a no-op extend_volume
volume_driver = trove_testbed.cinder_fake.ExtendableFakeDriver
volume_backend_name = fake

[database]
connection = $(db_url cinder cinder)

[oslo_concurrency]
lock_path = $BASE/cinder/lock
$(ks_section nova cinder "interface = public")
$(authtoken cinder)
$(service_user cinder)
EOF
}

# conf_file SVC: our config file of SVC (glance's wsgi app wants the name glance-api.conf).
conf_file() {
	case $1 in
	glance) echo "$ETC/glance/glance-api.conf" ;;
	*) echo "$ETC/$1/$1.conf" ;;
	esac
}

write_configs() {
	step "openstack: configuration"
	local s changed=() inputs
	# Everything the configs are made of: this script, the plug-ins, the secrets. Unchanged → nothing to write
	# (generating them costs ~100 forks: seconds on a loaded machine).
	inputs=$(cat "${BASH_SOURCE[0]}" "$DEPLOY_DIR/lib.sh" "$SECRETS_DIR"/openstack_* "$SECRETS_DIR"/keystone_admin_password \
		/etc/glance/glance-api-paste.ini 2>/dev/null | cat - <(cd "$DEPLOY_DIR/openstack/python" && find . -type f ! -name '*.pyc' -exec cat {} +) |
		sha256sum | cut -d' ' -f1)
	if [[ "$(cat "$MARKS/config-inputs" 2>/dev/null)" == "$inputs" && -s "$ETC/nova/nova-compute.conf" ]]; then
		return 0
	fi
	for s in "${SERVICES[@]}"; do
		if "conf_$s" | write_if_changed "$(conf_file "$s")" 0640 "root:$s"; then changed+=("$s"); fi
	done
	if conf_nova compute | write_if_changed "$ETC/nova/nova-compute.conf" 0640 root:nova; then changed+=(nova); fi
	if uwsgi_ini placement /usr/bin/placement-api "${PORT[placement]}" placement \
		"OS_PLACEMENT_CONFIG_DIR=$ETC/placement" | write_if_changed "$ETC/placement/uwsgi.ini" 0640 root:placement; then
		changed+=(placement)
	fi
	# glance's wsgi app reads its paste pipeline from OS_GLANCE_CONFIG_DIR too (the packaged one, unchanged)
	write_if_changed "$ETC/glance/glance-api-paste.ini" 0640 root:glance </etc/glance/glance-api-paste.ini && changed+=(glance)
	if uwsgi_ini glance /usr/bin/glance-wsgi-api "${PORT[glance]}" glance \
		"OS_GLANCE_CONFIG_DIR=$ETC/glance" | write_if_changed "$ETC/glance/uwsgi.ini" 0640 root:glance; then
		changed+=(glance)
	fi
	# the test-bed plug-ins (ML2 driver, Cinder fake driver) where the service users can read them
	local f
	if ! diff -rq -x __pycache__ "$DEPLOY_DIR/openstack/python" "$PYLIB" >/dev/null 2>&1; then
		while IFS= read -r -d '' f; do
			install -d -m 0755 "$(dirname "$PYLIB/$f")"
			if write_if_changed "$PYLIB/$f" 0644 root:root <"$DEPLOY_DIR/openstack/python/$f"; then
				case $f in *ml2* | *dist-info*) changed+=(neutron) ;; *cinder*) changed+=(cinder) ;; esac
			fi
		done < <(cd "$DEPLOY_DIR/openstack/python" && find . -type f ! -name '*.pyc' -printf '%P\0')
	fi
	if ((${#changed[@]})); then
		log "configuration changed: ${changed[*]}"
		CHANGED=" ${changed[*]} "
	fi
	echo "$inputs" >"$MARKS/config-inputs"
}

# ------------------------------------------------------------------------------------- databases, broker, keystone --
sql() { mariadb --protocol=socket -uroot -N -B "$@"; }

ensure_databases() {
	step "openstack: databases"
	local user db
	declare -A dbs=([nova]="nova_api nova nova_cell0" [placement]=placement [glance]=glance [neutron]=neutron [cinder]=cinder)
	{
		for user in "${SERVICES[@]}"; do
			local pw
			pw=$(secret "openstack_db_$user")
			for h in 127.0.0.1 localhost; do
				printf "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';\n" "$user" "$h" "$pw"
				printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n" "$user" "$h" "$pw"
			done
			for db in ${dbs[$user]}; do
				printf 'CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4;\n' "$db"
				for h in 127.0.0.1 localhost; do
					printf "GRANT ALL PRIVILEGES ON \`%s\`.* TO '%s'@'%s';\n" "$db" "$user" "$h"
				done
			done
		done
	} | sql || fail "creating the OpenStack databases failed" "is MariaDB up? run deploy/run.sh (or deploy/mariadb.sh start)"
}

ensure_rabbit() {
	step "openstack: RabbitMQ vhost $RABBIT_VHOST, user $RABBIT_USER"
	local pass
	pass=$(secret openstack_rabbit_password)
	rmq() { rabbitmqctl -q "$@"; }
	if ! rmq list_vhosts | grep -qx "$RABBIT_VHOST"; then
		rmq add_vhost "$RABBIT_VHOST" >/dev/null
		log "created vhost $RABBIT_VHOST"
	fi
	if ! rmq authenticate_user "$RABBIT_USER" "$pass" >/dev/null 2>&1; then
		if rmq list_users | awk '{print $1}' | grep -qx "$RABBIT_USER"; then
			rmq change_password "$RABBIT_USER" "$pass" >/dev/null
			log "reset the password of user $RABBIT_USER to the persisted one"
		else
			rmq add_user "$RABBIT_USER" "$pass" >/dev/null
			log "created user $RABBIT_USER"
		fi
	fi
	if ! rmq list_user_permissions "$RABBIT_USER" | grep -qP "^\Q$RABBIT_VHOST\E\t\.\*\t\.\*\t\.\*$"; then
		rmq set_permissions -p "$RABBIT_VHOST" "$RABBIT_USER" '.*' '.*' '.*' >/dev/null
		log "granted $RABBIT_USER full permissions on vhost $RABBIT_VHOST"
	fi
}

# objects_py MODE…: deploy/openstack/testbed_objects.py with the admin's and the service users' passwords in its
# environment (never in argv).
objects_py() {
	local s
	KS_URL=$KS_URL KS_ADMIN_PASSWORD=$(secret keystone_admin_password) KS_REGION=$REGION
	export KS_URL KS_ADMIN_PASSWORD KS_REGION
	for s in "${SERVICES[@]}"; do
		export "OS_SVC_PASSWORD_${s^^}=$(secret "openstack_ks_$s")"
	done
	"$PYTHON" "$DEPLOY_DIR/openstack/testbed_objects.py" "$@"
}

ensure_keystone() {
	step "openstack: keystone users, services, endpoints"
	[[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$KS_URL")" == 200 ]] ||
		fail "Keystone does not answer at $KS_URL" "run deploy/run.sh (or deploy/keystone.sh start) first"
	objects_py keystone || fail "creating the Keystone entities failed" "see the error above"
}

# db_sync NAME USER CMD…: runs CMD as USER unless it already ran for this version of python3-USER.
db_sync() {
	local name=$1 user=$2 version mark=$MARKS/dbsync-$1
	shift 2
	version=$(dpkg-query -W -f='${Version}' "python3-$user")
	[[ "$(cat "$mark" 2>/dev/null)" == "$version" ]] && return 0
	log "$name: $* ($version)"
	local t0
	t0=$(now_ms)
	as_svc "$user" "$@" >>"$LOG_DIR/dbsync.log" 2>&1 || {
		tail -n 20 "$LOG_DIR/dbsync.log" >&2
		fail "$name failed ($*)" "see $LOG_DIR/dbsync.log"
	}
	echo "$version" >"$mark"
	log "$name done in $((($(now_ms) - t0) / 1000)) s"
}

# svc_prefix USER: sets PREFIX to what runs a command as USER with a clean environment (nothing of the caller's
# OS_* leaks into a service); the test-bed plug-ins on PYTHONPATH.
svc_prefix() {
	PREFIX=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
	if [[ $1 == root ]]; then
		PREFIX+=(HOME=/root)
	else
		PREFIX+=(HOME="$BASE/$1" PYTHONPATH="$PYLIB" setpriv --reuid="$1" --regid="$1" --init-groups --)
	fi
}

# as_svc USER CMD…
as_svc() {
	local PREFIX
	svc_prefix "$1"
	shift
	"${PREFIX[@]}" "$@"
}

NOVA_MANAGE=(nova-manage --config-file "$ETC/nova/nova.conf" --config-dir "$ETC/nova/conf.d")

# ensure_schemas: the db syncs in the order that works (placement, glance, nova api → cell0 → cell1 → nova,
# neutron, cinder), each once per package version.
ensure_schemas() {
	step "openstack: database schemas"
	db_sync placement-db placement placement-manage --config-file "$ETC/placement/placement.conf" db sync
	db_sync glance-db glance glance-manage --config-file "$ETC/glance/glance-api.conf" db_sync
	db_sync nova-api-db nova "${NOVA_MANAGE[@]}" api_db sync
	db_sync nova-cell0 nova "${NOVA_MANAGE[@]}" cell_v2 map_cell0
	# create_cell is not idempotent (exit 2 when cell1 exists): ask list_cells first
	if [[ "$(cat "$MARKS/dbsync-nova-cell1" 2>/dev/null)" != "$(dpkg-query -W -f='${Version}' python3-nova)" ]] && as_svc nova "${NOVA_MANAGE[@]}" cell_v2 list_cells 2>/dev/null | grep -q ' cell1 '; then
		dpkg-query -W -f='${Version}' python3-nova >"$MARKS/dbsync-nova-cell1"
	fi
	db_sync nova-cell1 nova "${NOVA_MANAGE[@]}" cell_v2 create_cell --name cell1
	db_sync nova-db nova "${NOVA_MANAGE[@]}" db sync
	db_sync neutron-db neutron neutron-db-manage --config-file "$ETC/neutron/neutron.conf" upgrade heads
	db_sync cinder-db cinder cinder-manage --config-file "$ETC/cinder/cinder.conf" db sync
}

# -------------------------------------------------------------------------------------------------- processes --
# proc_user NAME / proc_cmd NAME: who runs a process and its command line.
proc_user() {
	case $1 in
	placement | glance) echo root ;; # uwsgi drops to uid/gid itself after binding
	boot-emulator) echo root ;;
	*) echo "${1%%-*}" ;;
	esac
}
proc_cmd() {
	local svc=${1%%-*}
	case $1 in
	placement | glance) echo "uwsgi --ini $ETC/$1/uwsgi.ini" ;;
	boot-emulator) echo "$BOOTEMU_BIN -env $ENV_FILE -root $BOOTEMU_ROOT -guestagent $GUESTAGENT" ;;
	nova-compute) echo "/usr/bin/$1 --config-file $ETC/nova/nova-compute.conf --config-dir $ETC/nova/conf.d" ;;
	*) echo "/usr/bin/$1 --config-file $ETC/$svc/$svc.conf --config-dir $ETC/$svc/conf.d" ;;
	esac
}

http_up() { # URL: any HTTP answer below 500
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1") || return 1
	[[ "$code" =~ ^[1-4][0-9][0-9]$ ]]
}

# service_reported DB BINARY HOST SINCE: the service's heartbeat row is newer than SINCE (UTC, 'YYYY-MM-DD HH:MM:SS').
service_reported() {
	[[ "$(sql -e "SELECT COUNT(*) FROM \`$1\`.services WHERE deleted=0 AND \`binary\`='$2' AND host='$3' AND updated_at >= '$4'")" -ge 1 ]]
}

# healthy NAME SINCE: the process answers (API) or has reported since SINCE (workers).
healthy() {
	local name=$1 since=${2:-1970-01-01 00:00:00}
	case $name in
	placement) http_up "http://127.0.0.1:${PORT[placement]}/" ;;
	glance) http_up "http://127.0.0.1:${PORT[glance]}/" ;;
	neutron-server) http_up "http://127.0.0.1:${PORT[neutron]}/" ;;
	nova-api) http_up "http://127.0.0.1:${PORT[nova]}/" ;;
	cinder-api) http_up "http://127.0.0.1:${PORT[cinder]}/" ;;
	nova-conductor | nova-scheduler) service_reported nova "$name" "$HOST_NAME" "$since" ;;
	nova-compute) service_reported nova "$name" "$HOST_NAME" "$since" &&
		[[ "$(sql -e "SELECT COUNT(*) FROM nova.compute_nodes WHERE deleted=0 AND host='$HOST_NAME'")" -ge 1 ]] ;;
	cinder-scheduler) service_reported cinder "$name" "$HOST_NAME" "$since" ;;
	cinder-volume) service_reported cinder "$name" "$HOST_NAME@fake" "$since" ;;
	boot-emulator) pid_alive "$PID_DIR/$name.pid" ;;
	esac
}

running() { pid_alive "$PID_DIR/$1.pid"; }

# launch NAME: starts the process detached (own session, clean environment), pid file $PID_DIR/NAME.pid.
launch() {
	local name=$1 user cmd
	user=$(proc_user "$name")
	read -r -a cmd <<<"$(proc_cmd "$name")"
	local logf=$LOG_DIR/$name.log
	printf '\n==== %s starting %s\n' "$(date -u '+%F %T')" "$name" >>"$logf"
	local PREFIX
	svc_prefix "$user"
	start_detached "$logf" "${PREFIX[@]}" "${cmd[@]}"
	echo $! >"$PID_DIR/$name.pid"
}

# start_procs: starts what is not running (and what a changed configuration needs restarted), then waits for each.
start_procs() {
	step "openstack: processes"
	local name svc started=() since STOPPED=()
	since=$(date -u -d '-2 sec' '+%F %T')
	for name in "${PROCS[@]}"; do
		svc=${name%%-*}
		if running "$name" && [[ "${CHANGED:-}" == *" $svc "* ]]; then
			log "restarting $name (configuration changed)"
			[[ $name == nova-compute ]] && warn_servers
			stop_procs "$name"
		fi
		if ! running "$name"; then
			local port=""
			case $name in placement | glance | nova-api | cinder-api | neutron-server) port=${PORT[$svc]} ;; esac
			if [[ -n "$port" ]] && port_open 127.0.0.1 "$port"; then
				fail "something else listens on 127.0.0.1:$port (wanted by $name)" "stop it (ss -ltnp 'sport = :$port'), then re-run"
			fi
			launch "$name"
			started+=("$name")
		fi
	done
	((${#started[@]})) && log "started: ${started[*]}"
	for name in "${PROCS[@]}"; do
		if [[ " ${started[*]} " == *" $name "* ]]; then
			wait_for 180 "$name" healthy "$name" "$since" ||
				fail "$name did not become healthy within 180 s" "see $LOG_DIR/$name.log"
		elif ! healthy "$name"; then
			fail "$name runs but is not healthy" "see $LOG_DIR/$name.log; restart the bed ($0 stop; $0 start)"
		fi
	done
	STARTED="${started[*]}"
}

# map_compute_host: nova-manage cell_v2 discover_hosts once the compute host is not mapped yet.
map_compute_host() {
	if [[ "$(sql -e "SELECT COUNT(*) FROM nova_api.host_mappings WHERE host='$HOST_NAME'")" -ge 1 ]]; then
		return 0
	fi
	step "openstack: map the compute host"
	as_svc nova "${NOVA_MANAGE[@]}" cell_v2 discover_hosts >>"$LOG_DIR/dbsync.log" 2>&1 ||
		fail "nova-manage cell_v2 discover_hosts failed" "see $LOG_DIR/dbsync.log"
	[[ "$(sql -e "SELECT COUNT(*) FROM nova_api.host_mappings WHERE host='$HOST_NAME'")" -ge 1 ]] ||
		fail "host $HOST_NAME is not mapped after discover_hosts" "see $LOG_DIR/nova-compute.log"
	log "mapped compute host $HOST_NAME"
}

# stop_procs NAME…: SIGTERM to each running one (in the order given), then waits for all (each takes 2–8 s to
# shut down: in parallel the whole bed stops in ~8 s instead of ~40 s); SIGKILL after 30 s.
stop_procs() {
	local name pids=() names=()
	for name in "$@"; do
		if running "$name"; then
			pids+=("$(cat "$PID_DIR/$name.pid")")
			names+=("$name")
			kill -TERM "${pids[-1]}" 2>/dev/null || true
		fi
		rm -f "$PID_DIR/$name.pid"
	done
	((${#pids[@]})) || return 0
	if ! wait_for 30 "${names[*]} to exit" all_gone "${pids[@]}"; then
		log "still running 30 s after SIGTERM: SIGKILL"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		wait_for 10 "${names[*]} to die" all_gone "${pids[@]}" || true
	fi
	STOPPED+=("${names[@]}")
}

start_boot_emulator() {
	step "openstack: boot emulator"
	if [[ ! -x "$BOOTEMU_BIN" ]]; then
		log "no boot emulator ($BOOTEMU_BIN missing; build it: go build -o bin/trove-boot-emulator ./deploy/openstack/bootemu): servers will not run guests"
		return 0
	fi
	if running boot-emulator && [[ "$BOOTEMU_BIN" -nt "$PID_DIR/boot-emulator.pid" ]]; then
		log "restarting the boot emulator ($BOOTEMU_BIN was rebuilt)"
		stop_procs boot-emulator
	fi
	if running boot-emulator; then
		log "boot emulator already running"
		return 0
	fi
	install -d -m 0750 "$BOOTEMU_ROOT"
	launch boot-emulator
	sleep 1
	running boot-emulator || fail "the boot emulator exited right after its start" "see $LOG_DIR/boot-emulator.log"
	log "boot emulator running (log $LOG_DIR/boot-emulator.log)"
}

# ------------------------------------------------------------------------------------------------ env file --
write_env() {
	step "openstack: $ENV_FILE"
	local ids
	ids=$(objects_py objects) || fail "creating the flavors, networks and images failed" "see the error above and $LOG_DIR/*.log"
	{
		cat <<EOF
OS_AUTH_URL=$KS_URL
OS_REGION_NAME=$REGION
OS_IDENTITY_API_VERSION=3
OS_USERNAME=admin
OS_PASSWORD=$(secret keystone_admin_password)
OS_PROJECT_NAME=admin
OS_USER_DOMAIN_NAME=Default
OS_PROJECT_DOMAIN_NAME=Default
TROVE_SERVICE_USERNAME=trove
TROVE_SERVICE_PASSWORD=$(secret keystone_service_password)
TROVE_SERVICE_PROJECT=service
TESTBED_NOVA_URL=http://127.0.0.1:${PORT[nova]}/v2.1
TESTBED_PLACEMENT_URL=http://127.0.0.1:${PORT[placement]}
TESTBED_GLANCE_URL=http://127.0.0.1:${PORT[glance]}
TESTBED_NEUTRON_URL=http://127.0.0.1:${PORT[neutron]}
TESTBED_CINDER_URL=http://127.0.0.1:${PORT[cinder]}/v3
TESTBED_COMPUTE_HOST=$HOST_NAME
EOF
		echo "$ids"
	} | write_if_changed "$ENV_FILE" 0600 root:root && log "wrote $ENV_FILE"
	return 0
}

# ---------------------------------------------------------------------------------------------------- actions --
do_start() {
	if [[ ! -s "$ETC/nova/nova.conf" ]] || ! packages_installed; then
		do_install
	fi
	install -d -m 0755 "$PID_DIR"
	CHANGED=""
	write_configs
	local all_up=1 name
	for name in "${PROCS[@]}"; do running "$name" || all_up=""; done
	# Everything running with unchanged configs: the databases, broker and Keystone entities were set up by the
	# start that launched them (a full `start` again re-checks them only when something has to be started).
	if [[ -z "$all_up" || -n "$CHANGED" || ! -e $MARKS/setup-done ]]; then
		sql -e 'SELECT 1' >/dev/null 2>&1 || fail "MariaDB does not answer" "run deploy/run.sh (or deploy/mariadb.sh start) first"
		port_open 127.0.0.1 5672 || fail "RabbitMQ does not listen on 127.0.0.1:5672" "run deploy/run.sh (or deploy/rabbitmq.sh start) first"
		ensure_databases
		ensure_rabbit
		ensure_keystone
		ensure_schemas
		touch "$MARKS/setup-done"
	fi
	start_procs
	map_compute_host
	# The flavors, networks and images are checked whenever something was set up or started (and by `env`); an
	# idempotent start with everything up keeps the env file as it is.
	if [[ -n "$STARTED" || -n "$CHANGED" || ! -s "$ENV_FILE" ]]; then
		write_env
	else
		log "all processes were running: $ENV_FILE kept (re-check the objects with: $0 env)"
	fi
	start_boot_emulator
	step_done
	log "test bed up: source $ENV_FILE (set -a) for admin credentials and ids"
}

# warn_servers: before nova-compute stops — the fake hypervisor forgets its servers.
warn_servers() {
	local servers
	servers=$(sql -e 'SELECT COUNT(*) FROM nova.instances WHERE deleted=0' 2>/dev/null || echo 0)
	if ((servers > 0)) && running nova-compute; then
		log "warning: $servers server(s) exist; the fake hypervisor forgets them when nova-compute stops (a later rebuild or resize of one sticks): delete them after the next start"
	fi
}

do_stop() {
	step "openstack: stop"
	local i rev=()
	STOPPED=()
	warn_servers
	# the boot emulator first (it stops the guests), then the services in reverse start order
	stop_procs boot-emulator
	for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do rev+=("${PROCS[i]}"); done
	stop_procs "${rev[@]}"
	if ((${#STOPPED[@]})); then log "stopped: ${STOPPED[*]}"; else log "nothing was running"; fi
}

do_status() {
	local name rc=0
	for name in "${PROCS[@]}" boot-emulator; do
		if running "$name" && healthy "$name"; then
			echo "$name: running (pid $(cat "$PID_DIR/$name.pid"))"
		elif running "$name"; then
			echo "$name: running, not healthy (see $LOG_DIR/$name.log)"
			rc=3
		elif [[ $name == boot-emulator && ! -x "$BOOTEMU_BIN" ]]; then
			echo "$name: not built"
		else
			echo "$name: stopped"
			rc=3
		fi
	done
	exit $rc
}

case "${1:-}" in
install) need_root && do_install ;;
start) need_root && do_start ;;
stop) need_root && do_stop ;;
status) do_status ;;
env) need_root && write_env ;;
*) usage "install|start|stop|status|env" ;;
esac
