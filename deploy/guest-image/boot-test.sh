#!/usr/bin/env bash
# deploy/guest-image/boot-test.sh IMAGE [--datastore mariadb|mysql|postgresql] [--timeout SECONDS]
#
# Boots a guest image built by build.sh in QEMU with software emulation (TCG: no KVM needed, slow — a few
# minutes) the way Nova would: the image as the first virtio disk (through a throw-away overlay), a config drive
# (vfat, label config-2, openstack/latest/{meta_data.json,user_data}) whose user_data is a #cloud-config with
# write_files for /etc/trove/conf.d/guest_info.conf and trove-guestagent.conf owned by trove:trove (as the
# openstack driver writes them), a 4 GiB root disk (the root file system must grow to it), and an empty 1 GiB
# data volume as /dev/vdb. A runcmd prints the units' journal
# to the serial console and powers off. Passes when the serial log shows GRUB, the kernel, cloud-init reading the
# config drive, the data volume formatted and mounted on [local] data_dir, and trove-guestagent started by
# systemd and running with the injected configuration (its transport_url is a closed port on the host, so it
# logs "AMQP connection failed" and keeps retrying — that is the expected sign of life here).
set -Eeuo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
IMAGE=${1:?usage: boot-test.sh IMAGE [--datastore mariadb|mysql|postgresql] [--timeout SECONDS]}
shift
TIMEOUT=900 DATASTORE=mariadb
while [[ $# -gt 0 ]]; do
	case $1 in
	--datastore) DATASTORE=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	*) echo "boot-test.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
IMAGE=$(realpath "$IMAGE")
for t in qemu-system-x86_64 mkfs.vfat mcopy qemu-img; do
	command -v "$t" >/dev/null || {
		echo "boot-test.sh: $t missing: apt-get install --no-install-recommends qemu-system-x86 mtools dosfstools qemu-utils" >&2
		exit 2
	}
done

D=$(mktemp -d "${TMPDIR:-/tmp}/trove-guest-boot.XXXXXX")
QEMU_PID=""
cleanup() {
	[[ -n $QEMU_PID ]] && kill "$QEMU_PID" 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT

id=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$D/cd/openstack/latest"
printf '{"uuid": "%s", "hostname": "trove-boot-test", "name": "trove-boot-test"}\n' "$id" \
	>"$D/cd/openstack/latest/meta_data.json"
b64() { base64 -w0; }
case $DATASTORE in
mariadb | mysql) ds_unit=mariadb.service ;;
postgresql) ds_unit=postgresql.service ;;
*) echo "boot-test.sh: unknown datastore $DATASTORE" >&2; exit 2 ;;
esac
guest_info=$(printf '[DEFAULT]\nguest_id = %s\ndatastore_manager = %s\n' "$id" "$DATASTORE" | b64)
guest_conf=$(printf '[DEFAULT]\ntransport_url = rabbit://nobody:nothing@10.0.2.2:1/\ndevice_path = /dev/vdb\n[local]\ndata_dir = /var/lib/trove/data\n' | b64)
cat >"$D/cd/openstack/latest/user_data" <<EOF
#cloud-config
write_files:
- path: /etc/trove/conf.d/guest_info.conf
  encoding: b64
  content: $guest_info
  owner: trove:trove
  permissions: "0600"
- path: /etc/trove/conf.d/trove-guestagent.conf
  encoding: b64
  content: $guest_conf
  owner: trove:trove
  permissions: "0600"
runcmd:
- sleep 20
- sh -c 'exec >/dev/ttyS0 2>&1; echo BOOT-TEST-BEGIN; systemctl is-active trove-guest-volume.service; findmnt -n -o SOURCE,FSTYPE /var/lib/trove/data | sed "s/^/BOOT-TEST-MOUNT /"; stat -c "BOOT-TEST-CONF %U %a %n" /etc/trove/conf.d/*.conf; echo "BOOT-TEST-ROOT-MB \$(df -B1M --output=size / | tail -1 | tr -d " ")"; echo "BOOT-TEST-DATASTORE-UNIT \$(systemctl is-enabled $ds_unit)"; journalctl -b --no-pager -o cat -u trove-guest-volume.service -u trove-guestagent.service | sed "s/^/BOOT-TEST-JOURNAL /"; echo BOOT-TEST-END'
- poweroff
EOF
mkfs.vfat -n CONFIG-2 -C "$D/config.vfat" 4096 >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -i "$D/config.vfat" "$D/cd/openstack" ::/
fmt=$(qemu-img info --output=json "$IMAGE" | sed -n 's/.*"format": *"\([^"]*\)".*/\1/p' | head -1)
qemu-img create -q -f qcow2 -b "$IMAGE" -F "$fmt" "$D/root.qcow2" 4G # a 4 GiB flavor disk: growpart grows /
truncate -s 1G "$D/volume.raw"

echo "booting $IMAGE under QEMU TCG (timeout ${TIMEOUT}s); serial log: $D/serial.log"
t0=$(date +%s)
qemu-system-x86_64 -accel tcg -m 1536 -smp 2 -no-reboot -display none -monitor none -boot strict=on \
	-serial "file:$D/serial.log" \
	-drive "file=$D/root.qcow2,if=none,id=root,format=qcow2" -device virtio-blk-pci,drive=root,bootindex=1 \
	-drive "file=$D/volume.raw,if=none,id=volume,format=raw" -device virtio-blk-pci,drive=volume \
	-drive "file=$D/config.vfat,if=ide,format=raw" \
	-netdev user,id=n0 -device virtio-net-pci,netdev=n0 >"$D/qemu.log" 2>&1 &
QEMU_PID=$!
while kill -0 "$QEMU_PID" 2>/dev/null; do
	if (($(date +%s) - t0 > TIMEOUT)); then
		echo "boot-test.sh: no power-off after ${TIMEOUT}s"
		break
	fi
	sleep 5
done
kill "$QEMU_PID" 2>/dev/null || true
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=""
elapsed=$(($(date +%s) - t0))
log=$D/serial.txt
sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\r//g' "$D/serial.log" >"$log"

passed=0 failed=0
expect() { # expect DESCRIPTION REGEX
	if grep -Eq "$2" "$log"; then
		echo "  ok   $1"
		passed=$((passed + 1))
	else
		echo "  FAIL $1 (no /$2/ in the serial log)"
		failed=$((failed + 1))
	fi
}
expect "GRUB booted from the MBR (its menu on the serial console)" 'GNU GRUB +version|Booting .Debian GNU/Linux 12 \(Trove guest\)'
expect "the kernel booted" 'Linux version [0-9]'
expect "cloud-init read the config drive (hostname)" 'trove-boot-test'
expect "systemd started trove-guest-volume" 'trove-guest-volume: /dev/vdb mounted on /var/lib/trove/data'
expect "the data volume is ext4 on data_dir" '^BOOT-TEST-MOUNT /dev/vdb ext4'
expect "the injected files belong to trove, mode 0600" '^BOOT-TEST-CONF trove 600 /etc/trove/conf.d/guest_info.conf'
expect "systemd started trove-guestagent" 'Started trove-guestagent'
expect "the agent ran with the injected configuration (dialed its transport_url)" '^BOOT-TEST-JOURNAL .*AMQP connection failed'
expect "$ds_unit stays disabled" '^BOOT-TEST-DATASTORE-UNIT disabled'
expect "the root file system grew to the 4 GiB disk (growpart, resizefs)" '^BOOT-TEST-ROOT-MB (3[5-9][0-9][0-9]|4[0-9][0-9][0-9])$'
expect "the guest powered off" 'reboot: Power down'
echo "boot time to power-off: ${elapsed}s"
if ((failed)); then
	cp "$log" "${TMPDIR:-/tmp}/trove-guest-boot-serial.log"
	echo "--- serial log (last 60 lines; all of it: ${TMPDIR:-/tmp}/trove-guest-boot-serial.log) ---"
	tail -60 "$log"
fi
echo "boot-test: $passed passed, $failed failed"
((failed == 0))
