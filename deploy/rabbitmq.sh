#!/usr/bin/env bash
# RabbitMQ for Trove's RPC: AMQP on 127.0.0.1:5672, epmd and Erlang distribution on loopback, user `trove` with a
# generated password (persisted in $SECRETS_DIR/rabbit_password) and full permissions on vhost `/` (the control
# plane's account). The management HTTP API on 127.0.0.1:15672 only, with user `trove-broker-admin` (tag
# administrator, no vhost permissions; password in $SECRETS_DIR/rabbit_admin_password): the taskmanager creates
# and removes each guest's own account through it ([guest_broker], docs/deploy.md). The default `guest` account
# is deleted.
# usage: rabbitmq.sh {install|start|stop|status}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENV_CONF=/etc/rabbitmq/rabbitmq-env.conf
CONF=/etc/rabbitmq/rabbitmq.conf
MGMT_PORT=15672
ADMIN_USER=trove-broker-admin
LOG=/var/log/rabbitmq/trove-deploy.log

ctl() { rabbitmqctl -q "$@"; }
running() { port_open 127.0.0.1 5672 && rabbitmqctl -q status >/dev/null 2>&1; }

do_install() {
	step "rabbitmq: packages"
	apt_install rabbitmq-server
	step "rabbitmq: configuration"
	# rabbitmq-env.conf is sourced by the rabbitmq scripts (sh): NODE_* become RABBITMQ_NODE_*; the exported
	# ERL_EPMD_ADDRESS keeps epmd on loopback; inet_dist_use_interface does the same for the distribution port.
	if write_if_changed "$ENV_CONF" 0644 rabbitmq:rabbitmq <<'EOF'; then
# Written by trove-go deploy/rabbitmq.sh: everything on loopback.
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
		log "wrote $ENV_CONF"
		if running; then log "RabbitMQ is running: restart it ($0 stop; $0 start) to apply $ENV_CONF"; fi
	fi
	# Read at boot; a running node gets the same listener from ensure_management before the plugin starts.
	if write_if_changed "$CONF" 0644 rabbitmq:rabbitmq <<EOF; then
# Written by trove-go deploy/rabbitmq.sh: the management HTTP API on loopback only.
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
EOF
		log "wrote $CONF"
	fi
	if has_systemd; then
		# Debian's epmd.socket listens on every interface; ERL_EPMD_ADDRESS does not apply to socket activation.
		install -d -m 0755 /etc/systemd/system/epmd.socket.d
		if write_if_changed /etc/systemd/system/epmd.socket.d/trove-go-loopback.conf 0644 root:root <<'EOF'; then
# Written by trove-go deploy/rabbitmq.sh: epmd on loopback only.
[Socket]
ListenStream=
ListenStream=127.0.0.1:4369
EOF
			systemctl daemon-reload
			systemctl restart epmd.socket 2>/dev/null || true
			log "epmd.socket restricted to 127.0.0.1"
		fi
	fi
}

do_start() {
	step "rabbitmq: start"
	# An open AMQP port counts as running (rabbitmqctl costs an Erlang VM start); ensure_user then proves that
	# rabbitmqctl reaches that node.
	if port_open 127.0.0.1 5672; then
		log "RabbitMQ already running"
	else
		[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || fail "rabbitmq-server is not installed" "run: $0 install"
		# The node is rabbit@<short hostname>: Erlang distribution needs that name to resolve.
		getent hosts "$(hostname -s)" >/dev/null ||
			fail "the host name $(hostname -s) does not resolve" "add '127.0.1.1 $(hostname -s)' to /etc/hosts"
		if has_systemd; then
			systemctl start rabbitmq-server || fail "systemctl start rabbitmq-server failed" "see: journalctl -u rabbitmq-server"
		else
			# /usr/sbin/rabbitmq-server switches to user rabbitmq and runs the node in the foreground.
			start_detached "$LOG" /usr/sbin/rabbitmq-server
		fi
		# await_startup needs the node to be reachable first; poll it.
		wait_for 120 "rabbitmq startup" rabbitmqctl -q await_startup --timeout 10 ||
			fail "RabbitMQ did not finish starting within 120 s" "see $LOG and /var/log/rabbitmq/*.log"
		log "RabbitMQ is up"
	fi
	ensure_user
	ensure_management
	ensure_admin
}

ensure_user() {
	step "rabbitmq: user trove"
	local pass
	pass=$(secret rabbit_password)
	# Common case first: one call proves the user exists with the persisted password.
	if ! ctl authenticate_user trove "$pass" >/dev/null 2>&1; then
		ctl status >/dev/null 2>&1 || fail "rabbitmqctl cannot reach the node that listens on 127.0.0.1:5672" \
			"stop that server (ss -ltnp 'sport = :5672') or check the Erlang cookie /var/lib/rabbitmq/.erlang.cookie"
		if ctl list_users | awk '{print $1}' | grep -qx trove; then
			ctl change_password trove "$pass" >/dev/null
			log "reset the password of user trove to the persisted one"
		else
			ctl add_user trove "$pass" >/dev/null
			log "created user trove"
		fi
	fi
	if ! ctl list_user_permissions trove | grep -qP '^/\t\.\*\t\.\*\t\.\*$'; then
		ctl set_permissions -p / trove '.*' '.*' '.*' >/dev/null
		log "granted trove full permissions on vhost /"
	fi
}

# ensure_management: the management plugin, listening on 127.0.0.1 only. On a running node the listener is set
# in the application environment first ($CONF covers the next boot), so the plugin never binds every interface.
ensure_management() {
	step "rabbitmq: management API on 127.0.0.1:$MGMT_PORT"
	if ! rabbitmq-plugins -q is_enabled rabbitmq_management >/dev/null 2>&1; then
		ctl eval "application:load(rabbitmq_management), application:set_env(rabbitmq_management, tcp_config, [{ip, \"127.0.0.1\"}, {port, $MGMT_PORT}])." >/dev/null ||
			fail "could not set the management listener" "see /var/log/rabbitmq/*.log"
		rabbitmq-plugins -q enable rabbitmq_management >/dev/null || fail "enabling rabbitmq_management failed" "see /var/log/rabbitmq/*.log"
		log "enabled rabbitmq_management"
	fi
	wait_for 60 "management API" port_open 127.0.0.1 "$MGMT_PORT" ||
		fail "the management API does not listen on 127.0.0.1:$MGMT_PORT" "see /var/log/rabbitmq/*.log"
	if ss -Hltn "sport = :$MGMT_PORT" | awk '{print $4}' | grep -qv '^127\.0\.0\.1:'; then
		fail "the management API listens beyond loopback" "set management.tcp.ip = 127.0.0.1 in $CONF and restart RabbitMQ"
	fi
}

# ensure_admin: the management account the taskmanager uses for guest accounts ([guest_broker] management_user):
# tag administrator (managing users and permissions needs it), no permission on any vhost (it never speaks AMQP).
# Also deletes RabbitMQ's default administrator guest/guest (it logs in on loopback; nothing of ours uses it).
ensure_admin() {
	step "rabbitmq: user $ADMIN_USER, no user guest"
	local pass users
	pass=$(secret rabbit_admin_password)
	users=$(ctl list_users)
	if ! grep -qP "^\Q$ADMIN_USER\E\t" <<<"$users"; then
		ctl add_user "$ADMIN_USER" "$pass" >/dev/null
		log "created user $ADMIN_USER"
	elif ! ctl authenticate_user "$ADMIN_USER" "$pass" >/dev/null 2>&1; then
		ctl change_password "$ADMIN_USER" "$pass" >/dev/null
		log "reset the password of user $ADMIN_USER to the persisted one"
	fi
	if ! grep -qP "^\Q$ADMIN_USER\E\t\[administrator\]$" <<<"$users"; then
		ctl set_user_tags "$ADMIN_USER" administrator >/dev/null
	fi
	if grep -qP '^guest\t' <<<"$users"; then
		ctl delete_user guest >/dev/null
		log "deleted the default user guest"
	fi
}

do_stop() {
	step "rabbitmq: stop"
	if has_systemd; then
		systemctl stop rabbitmq-server
		return 0
	fi
	if ! running; then
		log "RabbitMQ is not running"
		return 0
	fi
	rabbitmqctl -q stop >/dev/null || fail "rabbitmqctl stop failed" "see /var/log/rabbitmq/*.log"
	wait_for 60 "rabbitmq stopped" bash -c '! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null' ||
		fail "RabbitMQ still listens 60 s after stop" "see /var/log/rabbitmq/*.log"
	# epmd outlives the node; stop it too so the next start binds it per rabbitmq-env.conf (loopback).
	epmd -kill >/dev/null 2>&1 || true
	log "RabbitMQ stopped"
}

do_status() {
	if running; then
		echo "rabbitmq: running (127.0.0.1:5672)"
	else
		echo "rabbitmq: stopped"
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
