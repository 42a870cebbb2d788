#!/usr/bin/env bash
# The test environment: installs what is missing, starts MariaDB, RabbitMQ, Keystone, Swift and the OpenStack test
# bed (reusing what runs),
# creates the test identities and the MariaDB account trove_test, and writes $REPO/.test.env (KEY='value' lines,
# sourced by `make test`, read by pkg/testenv). Re-running is fast and changes nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
T0=$(now_ms)
ENV_FILE="$REPO/.test.env"

bash "$DEPLOY_DIR/mariadb.sh" install
bash "$DEPLOY_DIR/mariadb.sh" start
bash "$DEPLOY_DIR/rabbitmq.sh" install
bash "$DEPLOY_DIR/rabbitmq.sh" start
KEYSTONE_MODE=${KEYSTONE_MODE:-$(cat "$STATE_DIR/keystone_mode" 2>/dev/null || echo test)} \
	bash "$DEPLOY_DIR/keystone.sh" install
bash "$DEPLOY_DIR/keystone.sh" start
bash "$DEPLOY_DIR/keystone.sh" entities
# Swift (with s3api) for pkg/backupstore: registers itself in the Keystone above.
bash "$DEPLOY_DIR/swift.sh" install
bash "$DEPLOY_DIR/swift.sh" start
# The OpenStack test bed (Nova with the fake hypervisor, Neutron, Cinder, Glance, Placement, the boot emulator) for
# pkg/compute/openstack and the openstack driver's e2e tests: registers itself in the Keystone above.
bash "$DEPLOY_DIR/openstack.sh" install
bash "$DEPLOY_DIR/openstack.sh" start
step "datastore servers, clients and test tools"
# The guest tests run real MariaDB/PostgreSQL servers; the rpc interop test runs Python oslo.messaging peers.
install_datastore_tools python3-oslo.messaging python3-cryptography python3-trove sudo
step_done

step "mariadb: account trove_test"
MYSQL_TEST_PASSWORD=$(secret mysql_test_password)
if ! MYSQL_PWD="$MYSQL_TEST_PASSWORD" mariadb -h 127.0.0.1 -P 3306 -u trove_test -e 'SELECT 1' >/dev/null 2>&1; then
	# The password goes over stdin, never argv.
	mariadb --protocol=socket -uroot <<EOF || fail "creating the MariaDB account trove_test failed" "check that root can log in over /run/mysqld/mysqld.sock"
CREATE USER IF NOT EXISTS 'trove_test'@'127.0.0.1' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
CREATE USER IF NOT EXISTS 'trove_test'@'localhost' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
ALTER USER 'trove_test'@'127.0.0.1' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
ALTER USER 'trove_test'@'localhost' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'trove_test'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'trove_test'@'localhost' WITH GRANT OPTION;
EOF
	log "created/updated the MariaDB account trove_test"
	MYSQL_PWD="$MYSQL_TEST_PASSWORD" mariadb -h 127.0.0.1 -P 3306 -u trove_test -e 'SELECT 1' >/dev/null ||
		fail "trove_test cannot log in over 127.0.0.1:3306" "check for anonymous accounts: SELECT user,host FROM mysql.user"
fi

step "write $ENV_FILE"
RABBIT_PASSWORD=$(secret rabbit_password)
if write_if_changed "$ENV_FILE" 0600 "$(stat -c %u:%g "$REPO")" <<EOF; then
# Written by deploy/test-env.sh — the servers the tests use (see docs/packages.md). Do not commit.
TROVE_TEST_MYSQL_DSN='trove_test:$MYSQL_TEST_PASSWORD@tcp(127.0.0.1:3306)/'
TROVE_TEST_TRANSPORT_URL='rabbit://trove:$RABBIT_PASSWORD@127.0.0.1:5672/'
TROVE_TEST_KEYSTONE_URL='http://127.0.0.1:5000/v3'
TROVE_TEST_KEYSTONE_ADMIN_PASSWORD='$(secret keystone_admin_password)'
TROVE_TEST_SERVICE_PASSWORD='$(secret keystone_service_password)'
TROVE_TEST_DEMO_PASSWORD='$(secret keystone_demo_password)'
TROVE_TEST_RABBIT_MANAGEMENT_URL='http://trove-broker-admin:$(secret rabbit_admin_password)@127.0.0.1:15672'
TROVE_TEST_SWIFT_URL='http://127.0.0.1:8080'
TROVE_TEST_S3_ENDPOINT='http://127.0.0.1:8080'
TROVE_TEST_OPENSTACK_ENV='/var/lib/trove-openstack/testbed.env'
EOF
	log "wrote $ENV_FILE"
else
	log "$ENV_FILE is up to date"
fi
step_done

ms=$(($(now_ms) - T0))
printf '==> test environment ready in %d.%03ds: MariaDB 127.0.0.1:3306, RabbitMQ 127.0.0.1:5672, Keystone http://127.0.0.1:5000/v3, Swift http://127.0.0.1:8080, OpenStack test bed (/var/lib/trove-openstack/testbed.env)\n' \
	$((ms / 1000)) $((ms % 1000)) >&2
