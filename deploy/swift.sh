#!/usr/bin/env bash
# OpenStack Swift for Trove's backups (storage_strategy = swift, or s3 through Swift's s3api): Debian's swift
# all-in-one on this host. One device (/srv/node/d1, a plain directory), rings of 1 replica, account/container/
# object servers on 127.0.0.1:6202/6201/6200, a container- and an object-updater, memcached on 127.0.0.1:11211 and
# the proxy on http://127.0.0.1:8080 with Keystone auth (authtoken s3api s3token keystoneauth, in that order) — every
# process a single eventlet process (workers = 0) run as user swift, logging with -v to /var/log/swift/<name>.log.
# Keystone (deploy/keystone.sh, 127.0.0.1:5000): user `swift` (admin on project service, password in
# $SECRETS_DIR/keystone_swift_password), service `object-store`, endpoints http://127.0.0.1:8080/v1/AUTH_$(project_id)s;
# each project's objects live in its own account, created on first write. S3 clients use EC2 credentials from
# Keystone (`openstack ec2 credentials create`), path-style, region us-east-1. Facts: ../shared/reference/swift.md.
# usage: swift.sh {install|start|stop|status}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ETC=/etc/swift
DEV_ROOT=/srv/node
LOG_DIR=/var/log/swift
PID_DIR=$RUN_DIR/swift
PROXY_URL=http://127.0.0.1:8080
KEYSTONE_URL=http://127.0.0.1:5000/v3
ENDPOINT_URL='http://127.0.0.1:8080/v1/AUTH_$(project_id)s'
# name → command line (conf file last but -v); the order is the start order.
SERVERS=(account container object container-updater object-updater proxy)

server_cmd() {
	case $1 in
	account | container | object | proxy) echo "swift-$1-server $ETC/$1-server.conf -v" ;;
	container-updater) echo "swift-container-updater $ETC/container-server.conf -v" ;;
	object-updater) echo "swift-object-updater $ETC/object-server.conf -v" ;;
	esac
}

answering() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$PROXY_URL/healthcheck")" == 200 ]]; }

do_install() {
	step "swift: packages"
	apt_install swift swift-proxy swift-account swift-container swift-object python3-swift python3-swiftclient \
		python3-keystonemiddleware memcached curl util-linux
	# Debian's init scripts stay off: this script runs the servers (no systemd units of ours either).
	if has_systemd; then
		local u
		for u in memcached swift-proxy swift-account swift-container swift-object swift-container-updater swift-object-updater; do
			systemctl disable --now --quiet "$u" 2>/dev/null || true
		done
	fi

	step "swift: storage and directories"
	install -d -o swift -g swift -m 0750 "$DEV_ROOT" "$DEV_ROOT/d1" /var/cache/swift "$LOG_DIR"
	install -d -m 0755 "$PID_DIR"

	step "swift: configuration"
	local prefix suffix swift_pw changed=""
	# The hash path prefix/suffix place every object on disk: generated once, never changed while data exists.
	prefix=$(secret swift_hash_path_prefix)
	suffix=$(secret swift_hash_path_suffix)
	swift_pw=$(secret keystone_swift_password)
	write_if_changed "$ETC/swift.conf" 0640 root:swift <<EOF && changed=1
# Written by trove-go deploy/swift.sh. The hash path prefix/suffix must never change once data exists.
[swift-hash]
swift_hash_path_prefix = $prefix
swift_hash_path_suffix = $suffix

[storage-policy:0]
name = Policy-0
default = yes
EOF
	local kind port
	for kind in account container object; do
		case $kind in account) port=6202 ;; container) port=6201 ;; object) port=6200 ;; esac
		{
			cat <<EOF
# Written by trove-go deploy/swift.sh: one process (workers = 0), run as swift by swift.sh, logs with -v.
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = swift
swift_dir = $ETC
devices = $DEV_ROOT
mount_check = false
log_name = $kind-server

[pipeline:main]
pipeline = healthcheck recon $kind-server

[app:$kind-server]
use = egg:swift#$kind

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon
recon_cache_path = /var/cache/swift
EOF
			case $kind in
			container) printf '\n[container-updater]\n# Keeps account byte/object counts current.\ninterval = 15\nconcurrency = 1\n' ;;
			object) printf '\n[object-updater]\n# Replays container updates that failed under load (listings stay right).\ninterval = 15\nconcurrency = 1\n' ;;
			esac
		} | write_if_changed "$ETC/$kind-server.conf" 0640 root:swift && changed=1
	done
	write_if_changed "$ETC/proxy-server.conf" 0640 root:swift <<EOF && changed=1
# Written by trove-go deploy/swift.sh. authtoken s3api s3token keystoneauth: this order exactly (s3api's docstring;
# with s3api s3token authtoken, authtoken erases what s3token set and S3 requests fail as SignatureDoesNotMatch).
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = 8080
workers = 0
user = swift
swift_dir = $ETC
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl authtoken s3api s3token keystoneauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = $swift_pw
delay_auth_decision = true
memcached_servers = 127.0.0.1:11211

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:s3token]
use = egg:swift#s3token
reseller_prefix = AUTH_
delay_auth_decision = false
auth_uri = $KEYSTONE_URL
http_timeout = 10.0
# Debian's Keystone enforces identity:s3tokens_validate: s3token authenticates as the swift service user.
auth_url = $KEYSTONE_URL
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = $swift_pw

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_admin_role = ResellerAdmin

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11211

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:tempurl]
use = egg:swift#tempurl

[filter:copy]
use = egg:swift#copy

[filter:container-quotas]
use = egg:swift#container_quotas

[filter:account-quotas]
use = egg:swift#account_quotas

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes

[filter:symlink]
use = egg:swift#symlink
EOF
	[[ -n "$changed" ]] && log "wrote $ETC/*.conf"

	step "swift: rings"
	local b
	for kind in account container object; do
		case $kind in account) port=6202 ;; container) port=6201 ;; object) port=6200 ;; esac
		b=$ETC/$kind.builder
		if [[ ! -s $ETC/$kind.ring.gz ]]; then
			# part power 10, 1 replica, min_part_hours 1; one device on loopback.
			[[ -s $b ]] || swift-ring-builder "$b" create 10 1 1 >/dev/null
			swift-ring-builder "$b" search --ip 127.0.0.1 --port "$port" --device d1 >/dev/null 2>&1 ||
				swift-ring-builder "$b" add --region 1 --zone 1 --ip 127.0.0.1 --port "$port" --device d1 --weight 100 >/dev/null
			swift-ring-builder "$b" rebalance >/dev/null || [[ -s $ETC/$kind.ring.gz ]] ||
				fail "swift-ring-builder $b rebalance wrote no ring" "see: swift-ring-builder $b"
			log "built $ETC/$kind.ring.gz"
		fi
	done
	chown -R root:swift "$ETC"
	chmod 0755 "$ETC"
	if [[ -n "$changed" ]] && any_running; then
		log "restarting swift to apply the new configuration"
		do_stop
	fi
}

# ensure_keystone: user swift, service object-store and its endpoints, in the Keystone deploy/keystone.sh runs.
ensure_keystone() {
	step "swift: keystone user swift, service object-store, endpoints"
	[[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$KEYSTONE_URL")" == 200 ]] ||
		fail "keystone does not answer at $KEYSTONE_URL" "run: deploy/keystone.sh start"
	KS_URL=$KEYSTONE_URL KS_ADMIN_PASSWORD=$(secret keystone_admin_password) \
		KS_SWIFT_PASSWORD=$(secret keystone_swift_password) SWIFT_ENDPOINT_URL=$ENDPOINT_URL \
		"$PYTHON" "$DEPLOY_DIR/keystone_entities.py" swift ||
		fail "creating the swift entities in keystone failed" "see the error above and /var/log/keystone/trove-go.log"
}

server_running() { pid_alive "$PID_DIR/$1.pid"; }
any_running() {
	local s
	for s in memcached "${SERVERS[@]}"; do server_running "$s" && return 0; done
	return 1
}

# start_server NAME CMD...: CMD as user swift in its own session; its pid in $PID_DIR/NAME.pid.
start_server() {
	local name=$1
	shift
	server_running "$name" && return 0
	setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 9>&- &
	echo $! >"$PID_DIR/$name.pid"
	disown || true
}

do_start() {
	[[ -s $ETC/proxy-server.conf && -s $ETC/object.ring.gz ]] || fail "swift is not configured" "run: $0 install"
	ensure_keystone
	step "swift: start"
	install -d -m 0755 "$PID_DIR"
	install -d -o swift -g swift -m 0750 "$LOG_DIR"
	if ! server_running memcached; then
		port_open 127.0.0.1 11211 && fail "something else listens on 127.0.0.1:11211" "stop it (ss -ltnp 'sport = :11211'), then re-run"
		start_server memcached memcached -u memcache -l 127.0.0.1 -p 11211 -U 0 -m 64
	fi
	local s cmd
	for s in "${SERVERS[@]}"; do
		server_running "$s" && continue
		# shellcheck disable=SC2206 # the command line is words by construction
		cmd=($(server_cmd "$s"))
		start_server "$s" setpriv --reuid=swift --regid=swift --init-groups "${cmd[@]}"
	done
	wait_port 127.0.0.1 11211 30 || fail "memcached did not listen on 127.0.0.1:11211" "see $LOG_DIR/memcached.log"
	for s in 6202 6201 6200; do
		wait_port 127.0.0.1 "$s" 60 || fail "a swift storage server did not listen on 127.0.0.1:$s" "see $LOG_DIR/*-server.log"
	done
	wait_for 60 "swift proxy" answering || fail "the swift proxy did not answer $PROXY_URL/healthcheck within 60 s" "see $LOG_DIR/proxy.log"
	for s in memcached "${SERVERS[@]}"; do
		server_running "$s" || fail "swift's $s exited right after start" "see $LOG_DIR/$s.log"
	done
	log "swift is up at $PROXY_URL (Keystone auth; S3 path-style, region us-east-1)"
}

do_stop() {
	step "swift: stop"
	local s pids=() pid
	for s in proxy object-updater container-updater object container account memcached; do
		if server_running "$s"; then
			pid=$(cat "$PID_DIR/$s.pid")
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	if ((${#pids[@]} == 0)); then
		log "swift is not running"
		return 0
	fi
	wait_for 30 "swift to exit" all_gone "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null || true
	for s in memcached "${SERVERS[@]}"; do rm -f "$PID_DIR/$s.pid"; done
	log "swift stopped"
}

do_status() {
	local s down=()
	for s in memcached "${SERVERS[@]}"; do server_running "$s" || down+=("$s"); done
	if ((${#down[@]} == 0)) && answering; then
		echo "swift: running ($PROXY_URL)"
	else
		echo "swift: stopped${down[*]:+ (not running: ${down[*]})}"
		exit 3
	fi
}

need_root
case "${1:-}" in
install) do_install ;;
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) usage "install|start|stop|status" ;;
esac
