#!/usr/bin/env bash
# `make conformance`: Trove's own acceptance suite — Debian's tempest with trove-tempest-plugin — against the
# deployment `make run` brought up. Installs the suite when missing, renders a tempest.conf for this deployment
# (identity from our Keystone with dynamic credentials, our CA for the https `database` endpoint, every registered
# datastore and its versions, flavors from our flavor list), runs every test of the plugin and prints one table:
# test → pass / fail / skip, with the first failing request or the skip reason.
#
# The gate: deploy/conformance/required.txt lists the tests that must pass; a required test that fails (or does not
# run) fails this script. Every other test still runs and is printed. The list only grows.
#
# Environment: TROVE_CONFORMANCE_DIR (default /var/lib/trove-conformance: the tempest workspace, its log and
# results), TROVE_CONFORMANCE_REGEX (default: the whole plugin; with a regex, required tests it does not select are
# not gate failures), TROVE_CONFORMANCE_CONCURRENCY (default 4: the
# tests mostly wait for instances, so more workers than cores pay off), TROVE_CONFORMANCE_RUNS (default 1: run the
# suite N times in a row; every run must pass the gate), TROVE_CONFORMANCE_REQUIRED (default
# deploy/conformance/required.txt, or required-openstack.txt when make run's compute driver is openstack).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
T0=$(now_ms)
WORK=${TROVE_CONFORMANCE_DIR:-/var/lib/trove-conformance}
REGEX=${TROVE_CONFORMANCE_REGEX:-^trove_tempest_plugin\.}
PARTIAL=()
[[ -z "${TROVE_CONFORMANCE_REGEX:-}" ]] || PARTIAL=(--partial)
CONCURRENCY=${TROVE_CONFORMANCE_CONCURRENCY:-4}
RUNS=${TROVE_CONFORMANCE_RUNS:-1}
COMPUTE=$(cat "$STATE_DIR/compute" 2>/dev/null || echo local)
REQUIRED=${TROVE_CONFORMANCE_REQUIRED:-$DEPLOY_DIR/conformance/required.txt}
# The local driver gives each instance a loopback address: a UUID-like network the plugin never asks Neutron
# about. On the openstack driver (COMPUTE=openstack make run) instances go on the test bed's shared network and
# Nova, Neutron and Cinder are there for the tests that look at them.
SHARED_NETWORK=00000000-0000-4000-8000-000000000001 VOLUME_TYPE=local CLOUD=false
if [[ $COMPUTE == openstack ]]; then
	[[ -n ${TROVE_CONFORMANCE_REQUIRED:-} ]] || REQUIRED=$DEPLOY_DIR/conformance/required-openstack.txt
	SHARED_NETWORK=$(sed -n 's/^TESTBED_SHARED_NETWORK_ID=//p' /var/lib/trove-openstack/testbed.env | tr -d "'\"")
	[[ -n $SHARED_NETWORK ]] || fail "the test bed's shared network is unknown" "run: bash deploy/openstack.sh start"
	VOLUME_TYPE=__DEFAULT__ CLOUD=true
fi
ETC=/etc/trove
API=https://127.0.0.1:8779

step "tempest, trove-tempest-plugin"
# python3-psycopg2: the plugin imports it at module level without depending on it; python3-pymysql: its MySQL tests.
apt_install tempest python3-tempest trove-tempest-plugin python3-psycopg2 python3-pymysql python3-subunit

step "the deployment under test"
[[ -r $ETC/openrc.admin && -r $ETC/ssl/ca.crt ]] || fail "no make run deployment here ($ETC/openrc.admin missing)" "run 'make run' first"
curl -fsS --cacert "$ETC/ssl/ca.crt" -o /dev/null "$API/" ||
	fail "trove-api does not answer on $API" "run 'make run' (it starts trove-api); see /var/log/trove/trove-api.log"
# The admin's openrc gives the Keystone admin (project admin) the tests' dynamic credentials are made with.
# shellcheck disable=SC1091
source "$ETC/openrc.admin"
osc() { "$PYTHON" /usr/bin/openstack "$@"; }

step "tempest.conf"
install -d -m 0700 "$WORK" "$WORK/etc"
# What `tempest init` writes, without registering a workspace: stestr discovers tests through tempest's loader.
TEMPEST_LIB=$("$PYTHON" -c 'import os, tempest; print(os.path.dirname(os.path.dirname(tempest.__file__)))')
write_if_changed "$WORK/.stestr.conf" 0600 root:root <<EOF || true
[DEFAULT]
test_path=$TEMPEST_LIB/tempest/test_discover
top_dir=$TEMPEST_LIB
group_regex=([^\.]*\.)*
EOF
# Every registered datastore with its default version (the plugin creates instances of it).
datastores=()
versions=()
while read -r ds; do
	[[ -n "$ds" ]] || continue
	dv=$(osc datastore show "$ds" -f value -c default_version 2>/dev/null || true)
	[[ -n "$dv" ]] || dv=$(osc datastore version list "$ds" -f value -c Name | head -n 1)
	[[ -n "$dv" ]] || continue
	datastores+=("$ds")
	versions+=("$ds:$dv")
done < <(osc datastore list -f value -c Name | sort)
((${#datastores[@]} > 0)) || fail "no datastore is registered" "make run registers them (trove-manage datastore_version_update)"
# The smallest flavor to build, the next one to resize to.
mapfile -t flavors < <(osc database flavor list -f value -c ID -c RAM | sort -k2,2n -k1,1n | awk '{print $1}')
((${#flavors[@]} >= 2)) || fail "fewer than two flavors" "make run creates m1.tiny/m1.small (trove-manage flavor commands)"
join() { local IFS=,; echo "$*"; }
write_if_changed "$WORK/etc/tempest.conf" 0600 root:root <<EOF || true
# Written by deploy/conformance.sh for the make run deployment on this host. Regenerated at every run.
[DEFAULT]
log_file = $WORK/tempest.log
use_stderr = false
debug = false

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = $OS_USERNAME
admin_password = $OS_PASSWORD
admin_project_name = $OS_PROJECT_NAME
admin_domain_name = Default

[identity]
uri_v3 = $OS_AUTH_URL
auth_version = v3
region = $OS_REGION_NAME
ca_certificates_file = $ETC/ssl/ca.crt
disable_ssl_certificate_validation = false

[identity-feature-enabled]
api_v2 = false

[service_available]
trove = true
nova = $CLOUD
neutron = $CLOUD
cinder = $CLOUD
glance = $CLOUD
swift = false

[validation]
run_validation = false

[database]
catalog_type = database
endpoint_type = publicURL
enabled_datastores = $(join "${datastores[@]}")
default_datastore_versions = $(join "${versions[@]}")
flavor_id = ${flavors[0]}
resize_flavor_id = ${flavors[1]}
shared_network = $SHARED_NETWORK
volume_type = $VOLUME_TYPE
database_build_timeout = 300
database_restore_timeout = 300
backup_wait_timeout = 300
remove_swift_account = false
EOF

# run N: one whole run of the suite, its subunit stream kept as $WORK/results-N.subunit.
run() {
	local n=$1 rc=0
	step "tempest run $n/$RUNS (regex $REGEX, concurrency $CONCURRENCY)"
	(cd "$WORK" && PYTHON=$PYTHON TEMPEST_CONFIG_DIR="$WORK/etc" \
		tempest run --regex "$REGEX" --concurrency "$CONCURRENCY" >"$WORK/run-$n.out" 2>&1) || rc=$?
	(cd "$WORK" && PYTHON=$PYTHON stestr last --subunit >"$WORK/results-$n.subunit") ||
		fail "tempest produced no results (exit $rc)" "see $WORK/run-$n.out and $WORK/tempest.log"
	(cd "$WORK" && PYTHON=$PYTHON TEMPEST_CONFIG_DIR="$WORK/etc" \
		stestr list "$REGEX" >"$WORK/tests.txt" 2>/dev/null) || fail "listing the plugin's tests failed" "see $WORK/run-$n.out"
	step "results $n/$RUNS"
	"$PYTHON" "$DEPLOY_DIR/conformance/report.py" --tests "$WORK/tests.txt" --required "$REQUIRED" "${PARTIAL[@]}" \
		"$WORK/results-$n.subunit"
}
failed=0
for ((i = 1; i <= RUNS; i++)); do
	run "$i" || failed=$((failed + 1))
done
ms=$(($(now_ms) - T0))
printf '==> conformance (%s driver): %d run(s), %d failed the gate, %d.%03ds (workspace %s)\n' "$COMPUTE" "$RUNS" "$failed" \
	$((ms / 1000)) $((ms % 1000)) "$WORK" >&2
((failed == 0)) || fail "a required conformance test did not pass" "see the table above, $WORK/tempest.log (requests) and /var/log/trove/*.log"
