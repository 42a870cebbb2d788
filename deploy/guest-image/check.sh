#!/usr/bin/env bash
# deploy/guest-image/check.sh IMAGE_OR_ROOTFS [--datastore mariadb|mysql|postgresql]
#
# Inspects a guest image built by build.sh without booting it, and exits non-zero when something a Trove guest
# needs is missing: the static trove-guestagent, its unit (enabled, reading /etc/trove/conf.d), cloud-init and
# its OpenStack datasources, the datastore's server packages (its own service not enabled), user trove, a kernel,
# initramfs and GRUB configuration. IMAGE_OR_ROOTFS is a qcow2 or raw disk image (MBR-partitioned, or a bare
# ext4 file system), or a root file system directory (build.sh --keep-rootfs). A disk image is read with debugfs
# (no loop device, no mount); a qcow2 is converted to a temporary raw file first.
set -Eeuo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

TARGET=${1:?usage: check.sh IMAGE_OR_ROOTFS [--datastore mariadb|mysql|postgresql]}
shift
DATASTORE=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--datastore) DATASTORE=${2:?}; shift 2 ;;
	*) echo "check.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ -e $TARGET ]] || { echo "check.sh: $TARGET does not exist" >&2; exit 2; }

FAILED=0
ok() { printf '  ok   %s\n' "$*"; }
bad() { printf '  FAIL %s\n' "$*"; FAILED=$((FAILED + 1)); }
check() { # check DESCRIPTION COMMAND...: ok when the command succeeds
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}

T=$(mktemp -d "${TMPDIR:-/tmp}/trove-guest-check.XXXXXX")
trap 'rm -rf "$T"' EXIT

FS_UUID=""
if [[ -d $TARGET ]]; then
	R=$(realpath "$TARGET")
	echo "root file system directory $R"
else
	IMG=$(realpath "$TARGET")
	fmt=$(qemu-img info --output=json "$IMG" 2>/dev/null | sed -n 's/.*"format": *"\([^"]*\)".*/\1/p' | head -1)
	[[ -n $fmt ]] || fmt=raw
	echo "disk image $IMG ($fmt, $(du -h --apparent-size "$IMG" | cut -f1))"
	if [[ $fmt != raw ]]; then
		qemu-img convert -f "$fmt" -O raw "$IMG" "$T/disk.raw"
		IMG=$T/disk.raw
	fi
	# The root partition: the first (bootable) partition of an MBR/GPT table, or the whole file.
	offset=0
	if table=$(sfdisk -d "$IMG" 2>/dev/null) && grep -q 'start=' <<<"$table"; then
		line=$(grep 'start=' <<<"$table" | grep -m1 bootable || grep -m1 'start=' <<<"$table")
		start=$(sed -n 's/.*start= *\([0-9]*\).*/\1/p' <<<"$line")
		offset=$((start * 512))
		check "partition table with a bootable partition (at sector $start)" grep -q bootable <<<"$line"
		check "MBR boot signature 55aa" test "$(od -An -tx1 -j510 -N2 "$IMG" | tr -d ' ')" = 55aa
		check "GRUB boot code in the MBR" grep -aq GRUB <(head -c 440 "$IMG")
		# grub-mkimage's core.img (diskboot) in sector 1, right after the MBR.
		check "GRUB core image after the MBR" test "$(od -An -tx1 -j512 -N1 "$IMG" | tr -d ' ')" != 00
	else
		echo "  (no partition table: a bare file system image, which boots only with an external kernel)"
	fi
	DEV="$IMG?offset=$offset"
	check "ext4 file system clean (e2fsck -fn)" e2fsck -fn "$DEV"
	FS_UUID=$(dumpe2fs -h "$DEV" 2>/dev/null | sed -n 's/^Filesystem UUID: *//p')
	R=$T/root
	mkdir -p "$R/usr/local/bin" "$R/usr/local/sbin" "$R/var/lib/dpkg" "$R/boot"
	cat >"$T/debugfs.cmd" <<EOF
rdump /etc $R
rdump /boot/grub $R/boot
dump -p /usr/local/bin/trove-guestagent $R/usr/local/bin/trove-guestagent
dump -p /usr/local/sbin/trove-guest-volume $R/usr/local/sbin/trove-guest-volume
dump /var/lib/dpkg/status $R/var/lib/dpkg/status
EOF
	debugfs -f "$T/debugfs.cmd" "$DEV" >"$T/debugfs.log" 2>&1 || true
	# The kernel and initramfs: names only (debugfs ls), created empty so the checks below see them.
	debugfs -R 'ls -l /boot' "$DEV" 2>/dev/null | awk '{print $NF}' | grep -E '^(vmlinuz|initrd\.img)-' |
		while read -r f; do : >"$R/boot/$f"; done
	for l in vmlinuz initrd.img; do
		debugfs -R "stat /$l" "$DEV" 2>/dev/null | grep -q 'Type: symlink' && ln -s /dev/null "$R/$l"
	done
fi

echo "guest agent"
agent=$R/usr/local/bin/trove-guestagent
check "/usr/local/bin/trove-guestagent present and executable" test -x "$agent"
check "/usr/local/sbin/trove-guest-volume present and executable" test -x "$R/usr/local/sbin/trove-guest-volume"
desc=$(file -b "$agent" 2>/dev/null || true)
if [[ $desc == *ELF*x86-64*statically\ linked* ]]; then ok "static x86-64 binary"; else bad "not a static x86-64 ELF binary: ${desc:-missing}"; fi
unit=$R/etc/systemd/system/trove-guestagent.service
check "trove-guestagent.service present" test -f "$unit"
check "the unit runs the agent with --config-dir /etc/trove/conf.d" \
	grep -q '^ExecStart=/usr/local/bin/trove-guestagent --config-dir /etc/trove/conf.d' "$unit"
check "the unit starts after cloud-init" grep -q '^After=.*cloud-init.service' "$unit"
check "the unit is enabled (multi-user.target.wants)" test -L "$R/etc/systemd/system/multi-user.target.wants/trove-guestagent.service"
check "the unit requires trove-guest-volume.service" grep -q '^Requires=.*trove-guest-volume.service' "$unit"
check "trove-guest-volume.service present and enabled" \
	test -f "$R/etc/systemd/system/trove-guest-volume.service" -a -L "$R/etc/systemd/system/multi-user.target.wants/trove-guest-volume.service"
check "/etc/trove/conf.d exists" test -d "$R/etc/trove/conf.d"
check "user trove exists" grep -q '^trove:' "$R/etc/passwd"

echo "packages"
status=$R/var/lib/dpkg/status
installed() { dpkg-query --admindir="$(dirname "$status")" -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
version() { dpkg-query --admindir="$(dirname "$status")" -W -f='${Version}' "$1" 2>/dev/null; }
if [[ -z $DATASTORE ]]; then
	if installed mariadb-server; then DATASTORE=mariadb; elif installed postgresql-15; then DATASTORE=postgresql; fi
fi
case $DATASTORE in
mariadb | mysql) ds_pkgs=(mariadb-server mariadb-backup) ds_units=(mariadb.service mysql.service mysqld.service) ;;
postgresql) ds_pkgs=(postgresql-15) ds_units=(postgresql.service) ;;
"") ds_pkgs=() ds_units=(); bad "no datastore server package (mariadb-server or postgresql-15) installed" ;;
*) echo "check.sh: unknown datastore $DATASTORE" >&2; exit 2 ;;
esac
for p in cloud-init cloud-guest-utils linux-image-cloud-amd64 systemd-sysv ifupdown openssh-server "${ds_pkgs[@]}"; do
	if installed "$p"; then ok "$p $(version "$p")"; else bad "package $p not installed"; fi
done
for u in "${ds_units[@]}"; do
	check "$u not enabled (the agent starts the server)" test ! -e "$R/etc/systemd/system/multi-user.target.wants/$u"
done
[[ $DATASTORE == postgresql ]] && check "no default PostgreSQL cluster" test ! -e "$R/etc/postgresql/15/main"

echo "cloud-init"
ds=$R/etc/cloud/cloud.cfg.d/91_trove_datasources.cfg
check "datasource_list has ConfigDrive and OpenStack" grep -Eq '^datasource_list:.*ConfigDrive.*OpenStack' "$ds"
check "no cloud-init state from the build" test -z "$(ls -A "$R/var/lib/cloud" 2>/dev/null)"

echo "boot"
check "a kernel in /boot" compgen -G "$R/boot/vmlinuz-*"
check "an initramfs in /boot" compgen -G "$R/boot/initrd.img-*"
root_uuid=$(sed -n 's/^UUID=\([^ ]*\) \/ .*/\1/p' "$R/etc/fstab")
check "fstab mounts / by UUID" test -n "$root_uuid"
[[ -n $FS_UUID ]] && check "the file system's UUID is fstab's ($FS_UUID)" test "$FS_UUID" = "$root_uuid"
check "grub.cfg boots root=UUID=$root_uuid" grep -q "root=UUID=$root_uuid" "$R/boot/grub/grub.cfg"
check "GRUB modules in /boot/grub/i386-pc" test -f "$R/boot/grub/i386-pc/normal.mod" -a -f "$R/boot/grub/i386-pc/linux.mod"
k=$(sed -n 's/^\tlinux \([^ ]*\) .*/\1/p' "$R/boot/grub/grub.cfg")
check "grub.cfg's kernel ${k:-?} exists" test -e "$R$k" -o -L "$R$k"

echo "first boot hygiene"
check "no SSH host keys" test -z "$(ls "$R"/etc/ssh/ssh_host_* 2>/dev/null)"
check "empty machine-id" test ! -s "$R/etc/machine-id"

if ((FAILED)); then
	echo "check.sh: $FAILED check(s) FAILED"
	exit 1
fi
echo "check.sh: all checks passed"
