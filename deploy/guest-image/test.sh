#!/usr/bin/env bash
# deploy/guest-image/test.sh [--datastore mariadb|postgresql] [--format qcow2|raw] [--boot]
#
# Builds a guest image (mariadb by default) into a temporary directory with build.sh, inspects it with check.sh
# (the image) and check.sh again on the kept root file system, and prints the build time and the image size.
# --boot also boots it under QEMU TCG with boot-test.sh (a few more minutes; installs qemu-system-x86, mtools).
# Needs root and the Debian mirror; the .debs are cached in /var/cache/trove-guest-image, so a re-run downloads
# nothing new. Exits non-zero when the build or a check fails.
set -Eeuo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATASTORE=mariadb FORMAT=qcow2 BOOT=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--datastore) DATASTORE=${2:?}; shift 2 ;;
	--format) FORMAT=${2:?}; shift 2 ;;
	--boot) BOOT=1; shift ;;
	*) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
DIR=$(mktemp -d "${TMPDIR:-/tmp}/trove-guest-image-test.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
IMG=$DIR/trove-guest-$DATASTORE.$FORMAT

passed=0 failed=0
t0=$(date +%s)
if "$HERE/build.sh" --datastore "$DATASTORE" --format "$FORMAT" --output "$IMG" --keep-rootfs "$DIR/rootfs" >"$DIR/build.out" 2>"$DIR/build.err"; then
	passed=$((passed + 1))
	echo "PASS build ($DATASTORE, $FORMAT)"
else
	failed=$((failed + 1))
	echo "FAIL build ($DATASTORE, $FORMAT): last lines of its output:"
	tail -30 "$DIR/build.err"
fi
build_s=$(($(date +%s) - t0))
grep -E '^    [^ ].*: [0-9]+\.[0-9]+s$' "$DIR/build.err" || true # the build's step timings

if [[ -f $IMG ]]; then
	for target in "$IMG" "$DIR/rootfs"; do
		if "$HERE/check.sh" "$target" --datastore "$DATASTORE" >"$DIR/check.out" 2>&1; then
			passed=$((passed + 1))
			echo "PASS check.sh $(basename "$target")"
		else
			failed=$((failed + 1))
			echo "FAIL check.sh $(basename "$target"):"
			cat "$DIR/check.out"
		fi
	done
	echo "image: $(du -h --apparent-size "$IMG" | cut -f1) file ($FORMAT), virtual $(qemu-img info "$IMG" | sed -n 's/^virtual size: \([^ ]* [^ ]*\).*/\1/p')"
	if [[ -n $BOOT ]]; then
		(source "$HERE/../lib.sh" && apt_install qemu-system-x86 mtools dosfstools) >/dev/null
		if "$HERE/boot-test.sh" "$IMG" --datastore "$DATASTORE"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	fi
fi
echo "build time: ${build_s}s"
echo "guest-image: $passed passed, $failed failed"
((failed == 0))
