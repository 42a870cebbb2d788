#!/usr/bin/env bash
# MariaDB for the Trove catalog and the tests: 127.0.0.1:3306 and /run/mysqld/mysqld.sock, nothing else.
# usage: mariadb.sh {install|start|stop|status}
# Never starts a second server: if one already answers, it is reused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CNF=/etc/mysql/mariadb.conf.d/99-trove-deploy.cnf
LOG=/var/log/mysql/trove-deploy.log

answering() { mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; }

do_install() {
	step "mariadb: packages"
	apt_install mariadb-server mariadb-client
	step "mariadb: configuration"
	install -d -m 0755 /etc/mysql/mariadb.conf.d
	if write_if_changed "$CNF" 0644 root:root <<'EOF'; then
# Written by trove-go deploy/mariadb.sh: loopback only; room for the tests' per-test databases.
[mysqld]
bind-address = 127.0.0.1
max_connections = 500
EOF
		log "wrote $CNF"
		if answering; then log "MariaDB is running: restart it to apply $CNF"; fi
	fi
	if [[ ! -d /var/lib/mysql/mysql ]]; then
		step "mariadb: initialize data directory"
		install -d -o mysql -g mysql -m 0755 /var/lib/mysql
		mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null ||
			fail "mariadb-install-db failed" "inspect /var/lib/mysql (remove it if it is an empty, broken initialization)"
	fi
}

do_start() {
	step "mariadb: start"
	if answering; then
		log "MariaDB already running"
		return 0
	fi
	if port_open 127.0.0.1 3306; then
		fail "something listens on 127.0.0.1:3306 but 'mariadb-admin ping' as root over the socket fails" \
			"stop that server (ss -ltnp 'sport = :3306') or make root socket login work, then re-run"
	fi
	command -v mariadbd >/dev/null || fail "mariadbd is not installed" "run: $0 install"
	install -d -o mysql -g root -m 0755 /run/mysqld
	install -d -o mysql -g adm -m 0750 /var/log/mysql
	if has_systemd; then
		systemctl start mariadb || fail "systemctl start mariadb failed" "see: journalctl -u mariadb"
	else
		# mysqld_safe supervises mariadbd (restarts it on a crash) and drops to user mysql.
		start_detached "$LOG" mysqld_safe --skip-syslog --log-error=/var/log/mysql/error.log
	fi
	wait_for 90 "mariadb ping" answering ||
		fail "MariaDB did not answer 'mariadb-admin ping' within 90 s" "see /var/log/mysql/error.log"
	log "MariaDB is up"
}

do_stop() {
	step "mariadb: stop"
	if has_systemd; then
		systemctl stop mariadb
		return 0
	fi
	if ! answering; then
		log "MariaDB is not running"
		return 0
	fi
	mariadb-admin --protocol=socket -uroot shutdown ||
		fail "mariadb-admin shutdown failed" "see /var/log/mysql/error.log"
	wait_for 60 "mariadb stopped" bash -c '! mariadb-admin --protocol=socket -uroot ping' ||
		fail "MariaDB still answers 60 s after shutdown" "see /var/log/mysql/error.log"
	log "MariaDB stopped"
}

do_status() {
	if answering; then
		echo "mariadb: running (127.0.0.1:3306)"
	else
		echo "mariadb: stopped"
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
