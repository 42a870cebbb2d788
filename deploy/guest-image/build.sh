#!/usr/bin/env bash
# deploy/guest-image/build.sh — builds a bootable Trove guest image: Debian bookworm with cloud-init, the static
# trove-guestagent and its systemd unit, and one datastore's server packages.
#
#   deploy/guest-image/build.sh [--datastore mariadb|mysql|postgresql] [--output FILE] [--format qcow2|raw]
#                               [--size SIZE] [--no-compress] [--keep-rootfs DIR]
#
# How (no loop device, no device-mapper, no mount of the image, no KVM needed):
#   1. CGO_ENABLED=0 go build of services/guestagent/cmd/trove-guestagent (static);
#   2. mmdebstrap (minbase + --include, no recommends) builds the root filesystem in a directory from the Debian
#      mirror the host's apt uses; the downloaded .debs are kept in $CACHE_DIR (/var/cache/trove-guest-image);
#   3. the agent, its unit (trove-guestagent.service beside this script, enabled), user trove, the cloud-init
#      datasource list (ConfigDrive, OpenStack), fstab and a GRUB configuration go into the tree; the datastore's
#      own service is disabled (the agent runs the server);
#   4. a raw disk: an MBR partition table (sfdisk) with one bootable Linux partition at 1 MiB, the ext4 file
#      system written into it straight from the tree (mkfs.ext4 -d -E offset=), GRUB for BIOS (grub-mkimage's
#      core.img in the post-MBR gap, boot.img in the MBR, modules and grub.cfg in the partition's /boot/grub);
#   5. qemu-img convert to a compressed qcow2 (unless --format raw; --no-compress: ~3x larger, 25 s faster).
# Environment: MIRROR (default: the host's Debian mirror), SECURITY_MIRROR, CACHE_DIR, GO (go binary).
# shellcheck source=deploy/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

HERE="$DEPLOY_DIR/guest-image"
CACHE_DIR="${CACHE_DIR:-/var/cache/trove-guest-image}"
DATASTORE=mariadb FORMAT=qcow2 OUTPUT="" SIZE="" KEEP_ROOTFS="" COMPRESS=(-c)

usage_build() {
	sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit "${1:-2}"
}
while [[ $# -gt 0 ]]; do
	case $1 in
	--datastore) DATASTORE=${2:?}; shift 2 ;;
	--output) OUTPUT=${2:?}; shift 2 ;;
	--format) FORMAT=${2:?}; shift 2 ;;
	--size) SIZE=${2:?}; shift 2 ;;
	--keep-rootfs) KEEP_ROOTFS=${2:?}; shift 2 ;;
	--no-compress) COMPRESS=(); shift ;;
	-h | --help) usage_build 0 ;;
	*) log "unknown argument: $1"; usage_build ;;
	esac
done
case $DATASTORE in
mariadb | mysql) DS_PACKAGES="mariadb-server mariadb-client mariadb-backup" DS_SERVICES="mariadb.service" ;;
postgresql) DS_PACKAGES="postgresql-15 postgresql-client-15" DS_SERVICES="postgresql.service" ;;
*) fail "unknown datastore '$DATASTORE'" "use --datastore mariadb, mysql or postgresql" ;;
esac
case $FORMAT in qcow2 | raw) ;; *) fail "unknown format '$FORMAT'" "use --format qcow2 or raw" ;; esac
[[ $(id -u) -eq 0 ]] || fail "must run as root (mmdebstrap --mode=root, chroot)" "run it as root"
OUTPUT=${OUTPUT:-$PWD/trove-guest-$DATASTORE.$FORMAT}
OUTPUT=$(realpath -m "$OUTPUT")
mkdir -p "$(dirname "$OUTPUT")"

T_START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trove-guest-image.XXXXXX")
ROOT=$WORK/rootfs
cleanup() {
	step_done
	# mmdebstrap unmounts what it mounted; a failure inside a chroot below may leave /proc etc. mounted.
	local m
	for m in "$ROOT/dev/pts" "$ROOT/dev" "$ROOT/sys" "$ROOT/proc"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
	done
	rm -rf --one-file-system "$WORK" # never into a mount left behind
}
trap cleanup EXIT

step "host tools"
tools=(mmdebstrap grub-pc-bin e2fsprogs fdisk file)
[[ $FORMAT == qcow2 ]] && tools+=(qemu-utils)
apt_install "${tools[@]}"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || fail "go not found" "install Go (see DEVELOPERS.md) or set GO=/path/to/go"

step "trove-guestagent (static)"
(cd "$REPO/services/guestagent" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$WORK/trove-guestagent" ./cmd/trove-guestagent)
file "$WORK/trove-guestagent" | grep -q 'statically linked' ||
	fail "trove-guestagent is not statically linked: $(file -b "$WORK/trove-guestagent")" "build with CGO_ENABLED=0"

step "root filesystem (mmdebstrap bookworm, $DATASTORE)"
# The mirror the host's apt uses (deb822 or one-line sources), else deb.debian.org.
host_mirror() {
	local m
	m=$({ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
		grep -v '^ *#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)
	echo "${m%/}"
}
MIRROR=${MIRROR:-$(host_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}
log "mirror $MIRROR, security $SECURITY_MIRROR, .deb cache $CACHE_DIR"
mkdir -p "$CACHE_DIR"
# Base system, kernel, boot, network (cloud-init renders ifupdown on Debian), cloud-init, the datastore.
PACKAGES="systemd-sysv udev kmod dbus e2fsprogs linux-image-cloud-amd64 initramfs-tools
 ifupdown isc-dhcp-client iproute2 netbase ca-certificates openssh-server sudo less procps
 cloud-init cloud-guest-utils $DS_PACKAGES"
{
	echo "deb $MIRROR bookworm main"
	echo "deb $MIRROR bookworm-updates main"
	echo "deb $SECURITY_MIRROR bookworm-security main"
} >"$WORK/sources.list"
# customize.sh runs while mmdebstrap has /proc, /sys and /dev mounted in the tree and keeps services from
# starting (policy-rc.d); it reads the agent from $WORK and writes root-uuid and the datastore version there.
mmdebstrap --mode=root --variant=minbase --format=directory \
	--aptopt='APT::Install-Recommends "false"' --aptopt='APT::Install-Suggests "false"' \
	--dpkgopt=force-unsafe-io --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--include="$(echo $PACKAGES | tr ' ' ',')" \
	--skip=essential/unlink --skip=download/empty \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
	--setup-hook="find '$CACHE_DIR' -maxdepth 1 -name '*.deb' -exec cp -t \"\$1/var/cache/apt/archives/\" {} +" \
	--customize-hook="cp -n \"\$1\"/var/cache/apt/archives/*.deb '$CACHE_DIR'/ 2>/dev/null || true" \
	--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
	--customize-hook="DATASTORE='$DATASTORE' DS_SERVICES='$DS_SERVICES' '$HERE/customize.sh' \"\$1\" '$WORK'" \
	bookworm "$ROOT" "$WORK/sources.list" >&2
# Keep only the newest version of each cached package.
ls -1 "$CACHE_DIR"/*.deb 2>/dev/null | sed 's/_[^_]*_[^_]*\.deb$//' | sort | uniq -d | while read -r p; do
	ls -1v "$p"_*.deb | head -n -1 | xargs -r rm -f
done
[[ -n $KEEP_ROOTFS ]] && { rm -rf "$KEEP_ROOTFS"; cp -a "$ROOT" "$KEEP_ROOTFS"; log "root filesystem kept in $KEEP_ROOTFS"; }

step "disk image (MBR, ext4, GRUB for BIOS)"
ROOT_UUID=$(cat "$WORK/root-uuid")
used_kb=$(du -sxk "$ROOT" | cut -f1)
if [[ -n $SIZE ]]; then
	disk_bytes=$(numfmt --from=iec "${SIZE%B}")
else # the tree, 25% and 256 MiB of room (cloud-init's growpart and resizefs grow it to the flavor's disk)
	disk_bytes=$(((used_kb * 5 / 4 / 1024 + 256 + 1) * 1024 * 1024))
fi
disk_bytes=$(((disk_bytes + 1048575) / 1048576 * 1048576))
part_kb=$((disk_bytes / 1024 - 1024))
((part_kb > used_kb)) || fail "--size $SIZE is smaller than the root filesystem ($((used_kb / 1024)) MiB)" "give a larger --size"
RAW=$WORK/disk.raw
truncate -s "$disk_bytes" "$RAW"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$RAW"
mkfs.ext4 -q -F -L trove-root -U "$ROOT_UUID" -E offset=1048576 -d "$ROOT" "$RAW" "${part_kb}k"
# GRUB: core.img finds the root by UUID and loads normal.mod and grub.cfg from its /boot/grub (put there by
# customize.sh with the i386-pc modules); boot.img (first 440 bytes, the partition table stays) loads core.img
# from sector 1 — the layout grub-install would embed, written without a loop device.
cat >"$WORK/early.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
EOF
grub-mkimage -O i386-pc -o "$WORK/core.img" -c "$WORK/early.cfg" -p /boot/grub \
	biosdisk part_msdos ext2 search search_fs_uuid configfile normal
core_sectors=$((($(stat -c %s "$WORK/core.img") + 511) / 512))
((core_sectors < 2047)) || fail "core.img is $core_sectors sectors, larger than the post-MBR gap" "report a bug"
dd if=/usr/lib/grub/i386-pc/boot.img of="$RAW" bs=440 count=1 conv=notrunc status=none
dd if="$WORK/core.img" of="$RAW" bs=512 seek=1 conv=notrunc status=none
# The file system as written is clean (no boot-time fsck surprise).
e2fsck -fn "$RAW?offset=1048576" >"$WORK/e2fsck.log" 2>&1 ||
	fail "e2fsck found errors in the new file system: $(tail -3 "$WORK/e2fsck.log")" "report a bug"

step "output ($FORMAT)"
if [[ $FORMAT == qcow2 ]]; then
	qemu-img convert "${COMPRESS[@]}" -f raw -O qcow2 -o compat=1.1 "$RAW" "$OUTPUT.tmp"
else
	cp --sparse=always "$RAW" "$OUTPUT.tmp"
fi
mv -f "$OUTPUT.tmp" "$OUTPUT"
step_done
CURRENT_STEP=done

VERSION=$(cat "$WORK/datastore-version")
MANAGER=$DATASTORE
NAME="trove-guest-$DATASTORE-$VERSION"
VERSION_NAME=$VERSION
[[ $DATASTORE == mysql ]] && VERSION_NAME="mariadb-$VERSION"
DISK_MB=$(((disk_bytes + 1048575) / 1048576 / 1024 + 1))
cat <<EOF
image:        $OUTPUT
format:       $FORMAT, virtual size $(numfmt --to=iec "$disk_bytes"), file $(du -h --apparent-size "$OUTPUT" | cut -f1) ($(du -h "$OUTPUT" | cut -f1) on disk)
datastore:    $DATASTORE $(cat "$WORK/datastore-package-version") (manager $MANAGER, version $VERSION)
root fs UUID: $ROOT_UUID (label trove-root)
build time:   $(($(date +%s) - T_START)) s

Upload it to Glance (tags: trove and the manager) and register the datastore version:

  openstack image create $NAME \\
    --file $OUTPUT --disk-format $FORMAT --container-format bare \\
    --min-disk $DISK_MB --private --project <trove service project> \\
    --property os_distro=debian --property os_version=12 --property hw_disk_bus=virtio \\
    --property hw_vif_model=virtio --property hw_qemu_guest_agent=no \\
    --tag trove --tag $MANAGER

  trove-manage --config-file /etc/trove/trove.conf datastore_update $DATASTORE ''
  trove-manage --config-file /etc/trove/trove.conf datastore_version_update $DATASTORE $VERSION_NAME $MANAGER '' '' 1 \\
    --image-tags trove,$MANAGER --version $VERSION
  trove-manage --config-file /etc/trove/trove.conf datastore_update $DATASTORE $VERSION_NAME

(or pass the image id instead of '' and drop --image-tags). Trove's [DEFAULT] injected_config_owner must be
'trove' (the image has no 'ubuntu' user) — see docs/guest-image.md.
EOF
