#!/bin/bash
# Runs inside the cgroup v2 guest (tests/v2/run.sh): the filesystems a host has, then the v2
# bats file, its output framed by markers for the host to pick up. Powers the guest off.
REPO=$1
BUILD=$2
FILTER=${3:-}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
# the checkout may live under /tmp or /run, which get fresh tmpfs mounts below (overlayfs
# cannot put its upper dirs on the overlay root): it is reached through a bind mount instead
mkdir -p /srv/drover-repo
mount --bind "$REPO" /srv/drover-repo || exit 1
REPO=/srv/drover-repo
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs -o size=1g tmpfs /tmp
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
ip link set lo up
hostname drover-v2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
cd "$REPO" || exit 1
# read once what every test runs, so no test pays for the first read over virtiofs (droverd gives
# the runtime 5 s to say its version)
for b in runc bash jq curl ip nft; do "$b" --version; done >/dev/null 2>&1
"$REPO/$BUILD/droverd" --help >/dev/null 2>&1
{
	echo "=== v2 begin"
	echo "# kernel $(uname -r), $(stat -fc %T /sys/fs/cgroup) on /sys/fs/cgroup, controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
	# each TAP line reaches the console as it happens, so a slow or stuck guest shows how far it got;
	# a test stuck for 5 min (none takes a minute) fails with what its teardown shows, and the rest run
	DROVER_BUILD=$BUILD DROVER_AGENT_START_S=120 BATS_TEST_TIMEOUT=300 bats --tap --timing ${FILTER:+-f "$FILTER"} tests/v2/cgroup-v2.bats 2>&1 | tee /tmp/tap
	pass=$(grep -E '^ok ' /tmp/tap | grep -vc '# skip')
	fail=$(( $(grep -cE '^not ok ' /tmp/tap) + $(grep -E '^ok ' /tmp/tap | grep -c '# skip') ))
	echo "v2: $pass passed, $fail failed"
	echo "=== v2 end"
} >/dev/ttyS0 2>&1
sync
busybox poweroff -f
