#!/usr/bin/env bash
# deploy/guest-image/customize.sh ROOT WORK — mmdebstrap's customize hook for build.sh (not for direct use).
# Turns the bookworm tree ROOT into a Trove guest: the agent (from WORK/trove-guestagent) and its enabled unit,
# the data volume helper (trove-guest-volume and its unit),
# user trove, the datastore's own service disabled, cloud-init datasources, fstab, network, GRUB configuration,
# first-boot hygiene (no machine-id, no SSH host keys, no cloud-init state). Writes WORK/root-uuid,
# WORK/datastore-version and WORK/datastore-package-version for build.sh.
# Environment: DATASTORE (mariadb|mysql|postgresql), DS_SERVICES (units to disable).
set -Eeuo pipefail
ROOT=${1:?root}
WORK=${2:?work}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${DATASTORE:?}" "${DS_SERVICES:?}"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# --- the agent ---------------------------------------------------------------------------------------------
install -D -m 0755 "$WORK/trove-guestagent" "$ROOT/usr/local/bin/trove-guestagent"
install -D -m 0644 "$HERE/trove-guestagent.service" "$ROOT/etc/systemd/system/trove-guestagent.service"
install -D -m 0755 "$HERE/trove-guest-volume" "$ROOT/usr/local/sbin/trove-guest-volume"
install -D -m 0644 "$HERE/trove-guest-volume.service" "$ROOT/etc/systemd/system/trove-guest-volume.service"
systemctl --root="$ROOT" enable trove-guestagent.service trove-guest-volume.service
# user trove: the owner of the files cloud-init writes (Trove's injected_config_owner/group = trove).
in_root useradd --system --user-group --create-home --home-dir /home/trove --shell /bin/bash trove
install -d -m 0755 "$ROOT/etc/trove"
install -d -m 0750 -o 0 -g "$(in_root getent group trove | cut -d: -f3)" "$ROOT/etc/trove/conf.d"

# --- the datastore: installed, its own service off (the agent runs the server on its data directory) ---------
for s in $DS_SERVICES; do
	systemctl --root="$ROOT" disable "$s"
done
case $DATASTORE in
mariadb | mysql)
	pkgver=$(in_root dpkg-query -W -f='${Version}' mariadb-server)
	v=${pkgver#*:}
	echo "${v%%.*}.$(echo "$v" | cut -d. -f2)" >"$WORK/datastore-version"
	# The package's initial /var/lib/mysql (~110 MB, mostly redo log) is of no use: the agent initializes the
	# server in its own data directory.
	find "$ROOT/var/lib/mysql" -mindepth 1 -delete
	;;
postgresql)
	pkgver=$(in_root dpkg-query -W -f='${Version}' postgresql-15)
	echo 15 >"$WORK/datastore-version"
	# The package's default cluster (15/main, port 5432) is of no use: the agent creates its own.
	if [[ -d $ROOT/etc/postgresql/15/main ]]; then
		in_root pg_dropcluster 15 main
	fi
	;;
esac
echo "$pkgver" >"$WORK/datastore-package-version"

# --- cloud-init: OpenStack's config drive first, then the metadata service --------------------------------
cat >"$ROOT/etc/cloud/cloud.cfg.d/91_trove_datasources.cfg" <<'EOF'
# Trove guest image: Nova's config drive, else the OpenStack metadata service.
datasource_list: [ ConfigDrive, OpenStack, None ]
datasource:
  OpenStack:
    max_wait: 120
    timeout: 10
    apply_network_config: true
EOF
rm -rf "$ROOT/var/lib/cloud/"*

# --- file systems, network, host name ---------------------------------------------------------------------
cat /proc/sys/kernel/random/uuid >"$WORK/root-uuid"
uuid=$(cat "$WORK/root-uuid")
printf '# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=%s / ext4 defaults,errors=remount-ro 0 1\n' \
	"$uuid" >"$ROOT/etc/fstab"
cat >"$ROOT/etc/network/interfaces" <<'EOF'
# cloud-init writes the instance's interfaces to /etc/network/interfaces.d/50-cloud-init.
auto lo
iface lo inet loopback

source /etc/network/interfaces.d/*
EOF
mkdir -p "$ROOT/etc/network/interfaces.d"
echo trove-guest >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\ttrove-guest\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"

# --- boot: the initramfs and GRUB's configuration and modules (build.sh writes the boot sectors) -------------
kver=$(find "$ROOT/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
[[ -n $kver ]] || { echo "customize: no kernel in /boot" >&2; exit 1; }
[[ -f $ROOT/boot/initrd.img-$kver ]] || in_root update-initramfs -c -k "$kver"
# /vmlinuz and /initrd.img follow kernel upgrades inside the guest (linux-update-symlinks); else the versions.
kernel=/boot/vmlinuz-$kver initrd=/boot/initrd.img-$kver
[[ -L $ROOT/vmlinuz && -L $ROOT/initrd.img ]] && kernel=/vmlinuz initrd=/initrd.img
mkdir -p "$ROOT/boot/grub/i386-pc"
cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$ROOT/boot/grub/i386-pc/"
cat >"$ROOT/boot/grub/grub.cfg" <<EOF
# Trove guest image (deploy/guest-image/build.sh): root file system UUID $uuid.
set default=0
set timeout=1
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
search --no-floppy --fs-uuid --set=root $uuid
menuentry 'Debian GNU/Linux 12 (Trove guest)' {
	linux $kernel root=UUID=$uuid ro console=tty0 console=ttyS0,115200n8
	initrd $initrd
}
EOF

# --- first-boot hygiene: every instance gets its own identity; nothing the guest can rebuild -----------------
rm -f "$ROOT"/etc/ssh/ssh_host_*
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
rm -rf "$ROOT/tmp/"* "$ROOT/var/log/"*.log "$ROOT/var/log/apt/"*
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/var/cache/apt/"*.bin
# build.sh's dpkg force-unsafe-io is for the build only; the guest's own upgrades keep dpkg's fsyncs.
sed -i '/^force-unsafe-io$/d' "$ROOT/etc/dpkg/dpkg.cfg.d/99mmdebstrap" 2>/dev/null || true
