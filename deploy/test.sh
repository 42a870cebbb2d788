#!/usr/bin/env bash
# `make test`: every test, on a fresh machine or a used one, in three phases.
#  1. deploy/test-env.sh installs and starts what the tests need (MariaDB, RabbitMQ, Keystone, Swift, the OpenStack
#     test bed) and writes .test.env. Then the e2e module — `make run`'s deployment on the local driver, then the
#     boot emulator against the test bed; mostly waiting for instances — runs beside the other modules, which use
#     databases, vhosts and loopback addresses of their own (pkg/testenv; 127.77.0.0/24 is the deployment's).
#  2. Trove's acceptance suite (deploy/conformance.sh) against that deployment, gated by conformance/required.txt.
#  3. The deployment switched to the openstack driver: the e2e tests of that driver (build tag openstack), then the
#     acceptance suite's classes gated there (conformance/required-openstack.txt), then back to the local driver.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
ROOT=$(dirname "$DEPLOY_DIR")
cd "$ROOT"
GO=${GO:-go}
T0=$(now_ms)

gotest() { # MODULE [go test flags…] (a later -timeout wins over the default)
	local m=$1
	shift
	# 9>&-: the tests' processes (guests a killed test may leave running) must not hold the deploy lock; this
	# script keeps it, and the deploy scripts the tests run see TROVE_DEPLOY_LOCKED.
	(cd "$m" && "$GO" test -count=1 -timeout 40m "$@" ./...) 9>&-
}

bash "$DEPLOY_DIR/test-env.sh"
set -a
# shellcheck source=/dev/null
source ./.test.env
set +a

step "phase 1: module tests, the e2e module beside the others"
E2E_LOG=$(mktemp /tmp/trove-test-e2e.XXXXXX)
set -m # the background job gets a process group of its own: stopped whole if this script ends first
(gotest deploy/e2e -timeout 60m && gotest deploy/openstack/bootemu) >"$E2E_LOG" 2>&1 &
E2E_PID=$!
set +m
trap 'kill -- -$E2E_PID 2>/dev/null || true; step_done' EXIT
rc=0
# One package at a time (-p 1): with the e2e module beside them that is two test binaries on the two cores, and
# both streams take about as long (~35 min each on this machine; the whole make test ~60 min).
for m in pkg db services/api services/taskmanager services/conductor services/guestagent; do
	gotest "$m" -p 1 || rc=1
done
log "modules done; waiting for deploy/e2e and deploy/openstack/bootemu"
wait "$E2E_PID" || rc=1
trap step_done EXIT
cat "$E2E_LOG"
rm -f "$E2E_LOG"
((rc == 0)) || fail "module tests failed" "see the FAIL lines above"

step "phase 2: Trove's acceptance suite on the local driver"
COMPUTE=local bash "$DEPLOY_DIR/run.sh" >/dev/null
bash "$DEPLOY_DIR/conformance.sh"

step "phase 3: the openstack driver: e2e, then the acceptance suite"
(cd deploy/e2e && "$GO" test -tags openstack -count=1 -timeout 30m -run 'TestOpenStack' .) 9>&-
# Only the classes gated on this driver run here (backups and replication are gated on the local one): every test
# of required-openstack.txt must be selected by the regex, else it would silently not be gated.
OS_REGEX='^trove_tempest_plugin\.tests\.scenario\.test_instance_(basic|actions|update_access)\.'
if unselected=$(grep -v -e '^#' -e '^$' "$DEPLOY_DIR/conformance/required-openstack.txt" | grep -Ev "$OS_REGEX"); then
	fail "required-openstack.txt has tests the openstack run does not select: $unselected" "widen OS_REGEX in $0"
fi
TROVE_CONFORMANCE_REGEX=$OS_REGEX bash "$DEPLOY_DIR/conformance.sh"
COMPUTE=local bash "$DEPLOY_DIR/run.sh" >/dev/null
step_done
printf '==> make test passed in %d s\n' $((($(now_ms) - T0) / 1000))
