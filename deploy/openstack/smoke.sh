#!/usr/bin/env bash
# Smoke test of the OpenStack test bed (deploy/openstack.sh start) through the openstack CLI, as the demo user
# (/etc/trove/openrc.demo): network + subnet (127.122.0.0/24, DHCP off), port, 1 GB volume, server (m1.tiny,
# trove-guest-mariadb, on that port, the volume attached at boot) → ACTIVE; extend the in-use volume to 2 GB;
# resize to m1.small and confirm; rebuild from trove-guest-mariadb-2; delete everything → gone.
# Prints the time of each step; exits non-zero at the first failure (what it created is deleted either way).
# usage: deploy/openstack/smoke.sh   (as root: it reads /etc/trove/openrc.demo)
set -Eeuo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OPENRC=${OPENRC:-/etc/trove/openrc.demo}
[[ -r $OPENRC ]] || { echo "smoke: $OPENRC not readable (run deploy/run.sh first)" >&2; exit 1; }
# shellcheck disable=SC1090
source "$OPENRC"
NAME=smoke-$$-$(date +%s)
T_ALL=$(date +%s%3N)
STEP="" T0=""

os() { openstack "$@"; }
step() { done_step; STEP=$1; T0=$(date +%s%3N); }
done_step() {
	[[ -n "$STEP" ]] || return 0
	local ms=$(($(date +%s%3N) - T0))
	printf 'smoke: %-44s %d.%03ds\n' "$STEP" $((ms / 1000)) $((ms % 1000))
	STEP=""
}
die() { echo "smoke: FAILED at '$STEP': $*" >&2; exit 1; }

# wait_field TIMEOUT_S WANT CMD…: polls CMD (printing one value) until it prints WANT; an "error" value fails.
wait_field() {
	local timeout=$1 want=$2 got=""
	shift 2
	local deadline=$(($(date +%s) + timeout))
	while :; do
		got=$("$@" 2>/dev/null || true)
		[[ "$got" == "$want" ]] && return 0
		[[ "${got,,}" == *error* ]] && die "$* is '$got' (want '$want')"
		(($(date +%s) >= deadline)) && die "$* is still '$got' after ${timeout}s (want '$want')"
		sleep 0.5
	done
}
# gone TIMEOUT_S CMD…: polls until CMD fails (the object is not found any more).
gone() {
	local timeout=$1
	shift
	local deadline=$(($(date +%s) + timeout))
	while "$@" >/dev/null 2>&1; do
		(($(date +%s) >= deadline)) && die "$* still finds it after ${timeout}s"
		sleep 0.5
	done
}

NET="" SUBNET="" PORT="" VOL="" SRV=""
cleanup() {
	local rc=$?
	trap - EXIT
	if ((rc != 0)); then
		echo "smoke: cleaning up after the failure" >&2
		[[ -n "$SRV" ]] && os server delete --wait "$SRV" >/dev/null 2>&1
		[[ -n "$VOL" ]] && { sleep 2; os volume delete "$VOL" >/dev/null 2>&1; }
		[[ -n "$PORT" ]] && os port delete "$PORT" >/dev/null 2>&1
		[[ -n "$SUBNET" ]] && os subnet delete "$SUBNET" >/dev/null 2>&1
		[[ -n "$NET" ]] && os network delete "$NET" >/dev/null 2>&1
		echo "smoke: FAILED (exit $rc)" >&2
	fi
	exit $rc
}
trap cleanup EXIT

step "token"
os token issue -f value -c expires >/dev/null || die "cannot authenticate as $OS_USERNAME"

step "network + subnet 127.122.0.0/24 (dhcp off)"
NET=$(os network create "$NAME" -f value -c id)
SUBNET=$(os subnet create "$NAME" --network "$NET" --subnet-range 127.122.0.0/24 --no-dhcp -f value -c id)

step "port"
PORT=$(os port create "$NAME" --network "$NET" -f value -c id)
IP=$(os port show "$PORT" -f json -c fixed_ips | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["fixed_ips"][0]["ip_address"])')
[[ $IP == 127.122.0.* ]] || die "port address $IP is not in 127.122.0.0/24"

step "volume 1 GB → available"
VOL=$(os volume create "$NAME" --size 1 -f value -c id)
wait_field 60 available os volume show "$VOL" -f value -c status

step "server m1.tiny + volume → ACTIVE"
SRV=$(os server create "$NAME" --flavor m1.tiny --image trove-guest-mariadb --nic "port-id=$PORT" \
	--block-device-mapping "vdb=$VOL:volume::false" -f value -c id)
wait_field 120 ACTIVE os server show "$SRV" -f value -c status
wait_field 60 in-use os volume show "$VOL" -f value -c status
[[ "$(os port show "$PORT" -f value -c status)" == ACTIVE ]] || die "port $PORT is not ACTIVE"
[[ "$(os port show "$PORT" -f value -c device_id)" == "$SRV" ]] || die "port $PORT is not bound to the server"

step "extend the in-use volume to 2 GB"
os --os-volume-api-version 3.42 volume set --size 2 "$VOL"
wait_field 60 2 os volume show "$VOL" -f value -c size
wait_field 60 in-use os volume show "$VOL" -f value -c status

step "resize to m1.small → VERIFY_RESIZE"
os server resize --flavor m1.small "$SRV"
wait_field 120 VERIFY_RESIZE os server show "$SRV" -f value -c status

step "resize confirm → ACTIVE m1.small"
os server resize confirm "$SRV"
wait_field 60 ACTIVE os server show "$SRV" -f value -c status
[[ "$(os server show "$SRV" -f value -c flavor)" == m1.small* ]] || die "flavor is not m1.small after the resize"

step "rebuild from trove-guest-mariadb-2 → ACTIVE"
IMG2=$(os image show trove-guest-mariadb-2 -f value -c id)
os server rebuild --image "$IMG2" "$SRV" >/dev/null
wait_field 120 ACTIVE os server show "$SRV" -f value -c status
[[ "$(os server show "$SRV" -f value -c image)" == *"$IMG2"* ]] || die "the server's image is not $IMG2 after the rebuild"

step "delete server → gone, volume available"
os server delete "$SRV"
gone 120 os server show "$SRV"
SRV=""
wait_field 60 available os volume show "$VOL" -f value -c status

step "delete volume, port, subnet, network → gone"
os volume delete "$VOL"
gone 60 os volume show "$VOL"
VOL=""
os port delete "$PORT"
PORT=""
os subnet delete "$SUBNET"
SUBNET=""
os network delete "$NET"
gone 30 os network show "$NET"
NET=""
done_step
ms=$(($(date +%s%3N) - T_ALL))
printf 'smoke: OK in %d.%03ds\n' $((ms / 1000)) $((ms % 1000))
