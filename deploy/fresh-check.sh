#!/usr/bin/env bash
# Verifies deploy/ the way a fresh Debian bookworm machine would see it, without touching this machine's servers:
#   1. debootstrap a minimal bookworm root (FRESH_ROOT, default /srv/trove-fresh; reused if present);
#   2. in that root, with this machine's network but its own pid/mount namespaces, let the deploy scripts install
#      their packages (apt, maintainer scripts start nothing);
#   3. in a new network namespace (its own loopback: no clash with servers running here) run deploy/test-env.sh
#      twice and the pkg/testenv tests, then deploy/run.sh twice, create a MariaDB instance with the openstack CLI,
#      wait for ACTIVE, and deploy/stop.sh --all.
# Needs root, the Debian mirror, and `make build` done (bin/). Takes ~10 min on a fresh root (~1 GB on disk).
# Every process started inside dies with the pid namespace; mounts vanish with the mount namespace.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FRESH_ROOT=${FRESH_ROOT:-/srv/trove-fresh}
need_root
for b in trove-api trove-taskmanager trove-conductor trove-guestagent trove-manage; do
	[[ -x "$REPO/bin/$b" ]] || fail "missing $REPO/bin/$b" "run make build first"
done
apt_install debootstrap rsync iproute2 util-linux

if [[ ! -x "$FRESH_ROOT/usr/bin/apt-get" ]]; then
	step "debootstrap bookworm into $FRESH_ROOT"
	debootstrap --variant=minbase bookworm "$FRESH_ROOT" http://deb.debian.org/debian >"$FRESH_ROOT.debootstrap.log" 2>&1 ||
		fail "debootstrap failed" "see $FRESH_ROOT.debootstrap.log"
fi

step "copy the repository into $FRESH_ROOT/repo"
rm -f "$FRESH_ROOT/etc/apt/sources.list"
cp /etc/apt/sources.list.d/* "$FRESH_ROOT/etc/apt/sources.list.d/" 2>/dev/null || cp /etc/apt/sources.list "$FRESH_ROOT/etc/apt/"
cp /etc/hosts "$FRESH_ROOT/etc/hosts"
cp /etc/resolv.conf "$FRESH_ROOT/etc/resolv.conf" 2>/dev/null || true
install -d "$FRESH_ROOT/repo"
rsync -a --delete --exclude .git --exclude .test.env "$REPO/" "$FRESH_ROOT/repo/"
step_done

# in_root NET SCRIPT: runs SCRIPT (bash) inside the root; NET=isolated gives it its own network namespace.
in_root() {
	local net=() pre=""
	if [[ $1 == isolated ]]; then
		net=(--net)
		pre="ip link set lo up;"
	fi
	# shellcheck disable=SC2016 # expanded by the inner shell
	FRESH_ROOT=$FRESH_ROOT SCRIPT=$2 unshare "${net[@]}" --pid --fork --mount bash -c "$pre"'
		set -e
		mount -t proc proc "$FRESH_ROOT/proc"
		mount --rbind /dev "$FRESH_ROOT/dev"
		mount -t tmpfs tmpfs "$FRESH_ROOT/run"
		mkdir -p "$FRESH_ROOT/usr/local/go" "$FRESH_ROOT/root/go/pkg/mod"
		mount --bind /usr/local/go "$FRESH_ROOT/usr/local/go"
		mount --bind -o ro "$(/usr/local/go/bin/go env GOMODCACHE)" "$FRESH_ROOT/root/go/pkg/mod"
		chroot "$FRESH_ROOT" /usr/bin/env -i PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			TERM=dumb KEYSTONE_MODE=test bash -ec "$SCRIPT"'
}

step "fresh root: install packages"
in_root shared '
	for s in mariadb rabbitmq keystone; do bash /repo/deploy/$s.sh install; done
	source /repo/deploy/lib.sh
	apt_install postgresql-15 openssl curl procps python3-openstackclient python3-troveclient
' || fail "installing on the fresh root failed" "see the output above"

step "fresh root: test environment, tests, make run, an instance"
in_root isolated '
	t() { local t0=$(date +%s); "$@"; echo "TIMING $* $(($(date +%s) - t0))s"; }
	t bash /repo/deploy/test-env.sh
	t bash /repo/deploy/test-env.sh
	(cd /repo/pkg && GOFLAGS=-mod=mod GOPROXY=off GOWORK=off go test -count=1 ./testenv)
	t bash /repo/deploy/run.sh
	t bash /repo/deploy/run.sh
	source /etc/trove/openrc.demo
	t0=$(date +%s)
	id=$(openstack database instance create "fresh-$t0" --flavor 1 --size 1 --datastore mariadb -f value -c id)
	for i in $(seq 1 120); do
		s=$(openstack database instance show "$id" -f value -c status)
		[[ $s == ACTIVE || $s == ERROR ]] && break
		sleep 2
	done
	echo "TIMING instance $id $s after $(($(date +%s) - t0))s"
	[[ $s == ACTIVE ]]
	openstack database instance delete "$id"
	for i in $(seq 1 60); do openstack database instance show "$id" >/dev/null 2>&1 || break; sleep 2; done
	echo "TIMING instance deleted after $(($(date +%s) - t0))s"
	bash /repo/deploy/stop.sh --all
' || fail "the fresh-root check failed" "see the output above; the root stays in $FRESH_ROOT for inspection"
step_done
log "fresh-root check passed"
