#!/usr/bin/env bash
# The README's test command runs this: dependencies, build, unit tests, the same unit tests
# under ASan+UBSan, the fuzz harnesses briefly, lint, integration tests, and the cgroup-touching
# tests on a real cgroup v2 kernel in a qemu guest (make check-v2) where qemu and Debian's cloud
# kernel could be installed. Ends with "N passed, N failed".
# Every foreground stage's output is shown as it happens (bats TAP lines included); fuzz, lint
# and v2 run in the background during the others (below) and their output is shown whole once
# integration is over. Builds run with make -s, so compiler command lines show only when a build
# fails.
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
# stage_end NAME LOG RC SECONDS: adds the summary line a stage that printed none owes, shows the
# stage's time and counts its summary lines
stage_end() {
	local name=$1 log=$2 rc=$3 secs=$4
	if ! grep -qE '^[a-z0-9]+: [0-9]+ passed, [0-9]+ failed' "$log"; then
		echo "$name: $([ "$rc" -eq 0 ] && echo 1 || echo 0) passed, $([ "$rc" -eq 0 ] && echo 0 || echo 1) failed" | tee -a "$log"
	elif [ "$rc" -ne 0 ] && ! grep -qE '^[a-z0-9]+: [0-9]+ passed, [1-9][0-9]* failed' "$log"; then
		echo "$name: 0 passed, 1 failed" >>"$log"
	fi
	echo "=== $name done in $secs s"
	count "$log"
	rm -f "$log"
}
stage() { # name, command...: streams the command's output, keeps a copy to count from
	local name=$1 log rc t0=$SECONDS
	shift
	log=$(mktemp)
	echo "=== $name ($(date +%T))"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	stage_end "$name" "$log" "$rc" $((SECONDS - t0))
}

# Background stages: fuzz, lint and v2 only need CPU (no containers, no host network), and the
# integration tests mostly wait on containers and timers, leaving more than half of two cores
# idle. So those three run one after the other behind the foreground stages (after the
# sanitizer build, which the sanitize stage then finds done), in a session of their own at the
# lowest priority: nice 19, and where the kernel schedules a session's processes as one group
# (autogroup) that group at nice 19 too, so the foreground tests and their containers get the CPU
# whenever they want it. Each background stage's output is kept and shown whole, and counted,
# once the foreground's integration stage is over (bg_wait); the sanitize stage runs after that,
# so it never builds while the background does, and reports its own build's failures.
bg_dir=$(mktemp -d)
bg_pid=""
bg_run() { # NAME CMD...: runs one background stage, its output and "RC SECONDS" to files in $bg_dir
	local name=$1 t0=$SECONDS
	shift
	echo "$name" >>"$bg_dir/order"
	date +%T >"$bg_dir/$name.start"
	"$@" >"$bg_dir/$name.log" 2>&1
	echo "$? $((SECONDS - t0))" >"$bg_dir/$name.rc"
}
background() {
	make -s -j2 sanitize-build >"$bg_dir/sanitize-build.log" 2>&1
	bg_run fuzz make -s -j2 fuzz-smoke
	bg_run lint make -s lint
	if command -v qemu-system-x86_64 >/dev/null && ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1; then
		bg_run v2 make -s check-v2
	else
		echo "=== v2 skipped: no qemu-system-x86_64 or no linux-image-cloud-amd64 kernel (not installable here)" \
			>"$bg_dir/v2.skipped"
	fi
}
bg_start() {
	export bg_dir
	export -f bg_run background
	echo "=== fuzz, lint, v2: in the background from $(date +%T); their output follows integration's"
	# not a process group leader here (no job control), so setsid makes this job a session of its own
	# shellcheck disable=SC2016
	setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; exec nice -n 19 bash -c background' &
	bg_pid=$!
}
bg_wait() {
	local name rc secs
	wait "$bg_pid"
	bg_pid=""
	while read -r name; do
		echo "=== $name (in the background from $(cat "$bg_dir/$name.start"))"
		cat "$bg_dir/$name.log"
		read -r rc secs <"$bg_dir/$name.rc" || { rc=1; secs='?'; }
		stage_end "$name" "$bg_dir/$name.log" "$rc" "$secs"
	done < <(cat "$bg_dir/order" 2>/dev/null)
	[ ! -e "$bg_dir/v2.skipped" ] || cat "$bg_dir/v2.skipped"
	rm -rf "$bg_dir"
}
# an interrupted run takes its background stages with it
trap '[ -z "$bg_pid" ] || kill -- -"$bg_pid" 2>/dev/null; rm -rf "$bg_dir"' EXIT
# A build that fails is run again without -s, one job at a time, to show the failing commands.
quiet_build() {
	make -s -j2 all || { echo "--- build failed; the failing commands:"; make -j1 all; false; }
}

stage build quiet_build
bg_start
stage unit make -s -j2 unit
stage format make -s format-check
stage integration make -s integration
bg_wait
stage sanitize make -s -j2 sanitize
# issue 10: a short crash-torture run (the full one: make torture, 1000 kills)
stage torture env TORTURE_KILLS=30 TORTURE_STEADY=10 TORTURE_CHURN=4 tests/torture/run.sh
echo
echo "all stages done in $(((SECONDS - t_all) / 60)) min $(((SECONDS - t_all) % 60)) s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
