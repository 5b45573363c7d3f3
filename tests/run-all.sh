#!/usr/bin/env bash
# The README's test command runs this: dependencies, build, unit tests, the same unit tests
# under ASan+UBSan, the fuzz harnesses briefly, lint, integration tests, and the cgroup-touching
# tests on a real cgroup v2 kernel in a qemu guest (make check-v2) where qemu and Debian's cloud
# kernel could be installed. Ends with "N passed, N failed".
# Every stage's output is shown as it happens (bats TAP lines included); builds run with
# make -s, so compiler command lines show only when a build fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/deps.sh all || { echo "0 passed, 1 failed"; exit 1; }

total_pass=0
total_fail=0
t_all=$SECONDS
count() { # sums every "<stage>: N passed, N failed" line of a stage's output
	local p f line found=0
	while read -r line; do
		p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		found=1
	done < <(grep -E '^[a-z0-9]+: [0-9]+ passed, [0-9]+ failed' "$1")
	[ "$found" -eq 1 ] || total_fail=$((total_fail + 1)) # a stage that printed no summary failed
}
stage() { # name, command...: streams the command's output, keeps a copy to count from
	local name=$1 log rc t0=$SECONDS
	shift
	log=$(mktemp)
	echo "=== $name ($(date +%T))"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if ! grep -qE '^[a-z0-9]+: [0-9]+ passed, [0-9]+ failed' "$log"; then
		echo "$name: $([ $rc -eq 0 ] && echo 1 || echo 0) passed, $([ $rc -eq 0 ] && echo 0 || echo 1) failed" | tee -a "$log"
	elif [ $rc -ne 0 ] && ! grep -qE '^[a-z0-9]+: [0-9]+ passed, [1-9][0-9]* failed' "$log"; then
		echo "$name: 0 passed, 1 failed" >>"$log"
	fi
	echo "=== $name done in $((SECONDS - t0)) s"
	count "$log"
	rm -f "$log"
}
# A build that fails is run again without -s, one job at a time, to show the failing commands.
quiet_build() {
	make -s -j2 all || { echo "--- build failed; the failing commands:"; make -j1 all; false; }
}

stage build quiet_build
stage unit make -s -j2 unit
stage sanitize make -s -j2 sanitize
stage fuzz make -s fuzz-smoke
stage format make -s format-check
stage lint make -s lint
stage integration make -s integration
if command -v qemu-system-x86_64 >/dev/null && ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1; then
	stage v2 make -s check-v2
else
	echo "=== v2 skipped: no qemu-system-x86_64 or no linux-image-cloud-amd64 kernel (not installable here)"
fi
# issue 10: a short crash-torture run (the full one: make torture, 1000 kills)
stage torture env TORTURE_KILLS=30 TORTURE_STEADY=10 TORTURE_CHURN=4 tests/torture/run.sh
echo
echo "all stages done in $(((SECONDS - t_all) / 60)) min $(((SECONDS - t_all) % 60)) s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
