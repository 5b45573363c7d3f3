#!/usr/bin/env bash
# Runs the cgroup-touching integration tests on a real cgroup v2 kernel: boots Debian's cloud
# kernel under qemu (TCG: this machine has no KVM) with only cgroup2 mounted, the host's root
# filesystem shared read-only over virtiofs with a tmpfs overlay on top, and runs
# tests/v2/cgroup-v2.bats inside against real runc and the drover binaries built here.
# Prints the guest's TAP lines and "v2: N passed, N failed".
#
#   tests/v2/run.sh [BUILD_DIR]     (root; needs qemu-system-x86 and linux-image-cloud-amd64)
#
# DROVER_V2_FILTER=REGEX runs only the tests whose names match (bats -f; no spaces: the
# command line carries it). DROVER_V2_GUEST_CMD runs another command in the guest instead of tests/v2/guest.sh (to debug
# the harness; it must print the markers and the summary line as guest.sh does).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
BUILD=${1:-build}
fail() { echo "v2: $*" >&2; echo "v2: 0 passed, 1 failed"; exit 1; }

kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)
[ -n "$kernel" ] || fail "no /boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)"
kver=${kernel#/boot/vmlinuz-}
[ -d "/lib/modules/$kver" ] || fail "no modules for $kver"
command -v qemu-system-x86_64 >/dev/null || fail "no qemu-system-x86_64"
virtiofsd=/usr/lib/qemu/virtiofsd
[ -x "$virtiofsd" ] || fail "no $virtiofsd"
[ -x "$BUILD/droverd" ] || fail "build drover first ($BUILD/droverd)"

work=$(mktemp -d /tmp/drover-v2.XXXXXX)
vfs_pid=""
qemu_pid=""
cleanup() {
	[ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null
	[ -n "$vfs_pid" ] && kill "$vfs_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# The initramfs: busybox, the modules virtiofs and overlayfs need, and tests/v2/init.
mkdir -p "$work/initrd"/{bin,mod,proc,sys,dev,mnt/host,mnt/rw,mnt/root}
cp /bin/busybox "$work/initrd/bin/busybox" || fail "needs busybox-static"
# modprobe --show-depends lists each module after what it needs
for m in virtio_pci virtiofs overlay; do
	modprobe -S "$kver" --show-depends "$m" || fail "module $m not found for $kver"
done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' >"$work/modules"
while read -r f; do
	m=$(basename "$f")
	m=${m%%.ko*}
	case "$f" in
	*.xz) xz -dc "$f" >"$work/initrd/mod/$m.ko" ;;
	*.zst) zstd -qdc "$f" >"$work/initrd/mod/$m.ko" ;;
	*) cp "$f" "$work/initrd/mod/$m.ko" ;;
	esac
	echo "$m" >>"$work/initrd/mod/order"
done <"$work/modules"
cp tests/v2/init "$work/initrd/init"
chmod 0755 "$work/initrd/init"
(cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz" || fail "cpio"

# What the guest runs once its root is the overlay: passed on the kernel command line.
guest_cmd=${DROVER_V2_GUEST_CMD:-"$REPO/tests/v2/guest.sh $REPO $BUILD ${DROVER_V2_FILTER:-}"}

# cache=always: the guest keeps what it read in its page cache. With cache=none every exec read
# its binary and libraries from the host again, a few seconds each under TCG.
"$virtiofsd" --socket-path="$work/vfs.sock" -o source=/ -o cache=always -o sandbox=chroot \
	>"$work/virtiofsd.log" 2>&1 &
vfs_pid=$!
for _ in $(seq 1 100); do [ -S "$work/vfs.sock" ] && break; sleep 0.1; done
[ -S "$work/vfs.sock" ] || { cat "$work/virtiofsd.log" >&2; fail "virtiofsd did not start"; }

mem=2048
timeout_s=${DROVER_V2_TIMEOUT:-1500}
timeout "$timeout_s" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m "$mem" \
	-object memory-backend-memfd,id=mem,size=${mem}M,share=on -numa node,memdev=mem \
	-chardev socket,id=vfs,path="$work/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=hostroot \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 drover.cmd=$(echo "$guest_cmd" | sed 's/ /,/g')" \
	-nographic -no-reboot -nic none >"$work/console.log" 2>&1 &
qemu_pid=$!
wait "$qemu_pid"
rc=$?
qemu_pid=""
# The guest prints its results between markers on the serial console.
sed -n '/=== v2 begin/,/=== v2 end/p' "$work/console.log" | tr -d '\r' | grep -v '=== v2' >"$work/out"
if ! grep -qE '^v2: [0-9]+ passed, [0-9]+ failed' "$work/out"; then
	echo "v2: the guest printed no summary (qemu rc $rc); console tail:" >&2
	tail -40 "$work/console.log" | tr -d '\r' >&2
	echo "v2: 0 passed, 1 failed"
	exit 1
fi
cat "$work/out"
grep -qE "^v2: [1-9][0-9]* passed, 0 failed" "$work/out"
