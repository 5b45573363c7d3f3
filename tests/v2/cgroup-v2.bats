#!/usr/bin/env bats
# The cgroup-touching part of the agent on a real cgroup v2 kernel (run by tests/v2/run.sh inside
# a qemu guest with only cgroup2 mounted): limits, OOMKilled, the qos tiers, adoption, removal.
# Uses the integration helpers as they are; only the knob paths differ from v1.

load ../integration/helpers

setup_file() {
	image_setup_file
}

setup() {
	requires cgroups_v2
	drv_setup
	v2_start_agent
}

# The guest's /tmp, where the tests keep the agent's state and image store, is a 1 GiB tmpfs:
# below the 1 GiB that --image-min-free keeps free by default.
v2_start_agent() {
	start_agent --image-min-free 64Mi "$@"
}

teardown() {
	# the console is all a guest leaves behind: a failed test shows what the agent saw
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${T:-}" ]; then
		curl -sf --unix-socket "$SOCK" http://localhost/v1/instances |
			jq -c '.[] | {id, phase, reason, message}' >&2 || true
		tail -25 "$AGENT_LOG" >&2
		ps -eo pid,stat,etime,wchan:24,args | grep -v ' \[' | head -40 >&2 # what hangs, if anything
	fi
	drv_teardown
}

v2_knob() { # v2_knob ID KNOB [QOS]
	cat "/sys/fs/cgroup$CGROOT/${3:-online}/$1/$2"
}

@test "v2: the agent's tiers get the cpu, memory and pids controllers" {
	grep -qw memory "/sys/fs/cgroup$CGROOT/cgroup.subtree_control"
	grep -qw pids "/sys/fs/cgroup$CGROOT/cgroup.subtree_control"
	grep -qw cpu "/sys/fs/cgroup$CGROOT/online/cgroup.subtree_control"
	grep -qw memory "/sys/fs/cgroup$CGROOT/batch/cgroup.subtree_control"
}

@test "v2: the tiers are capped and a spec without limits gets the node's defaults" {
	for tier in online batch; do
		[[ "$(cat "/sys/fs/cgroup$CGROOT/$tier/memory.max")" =~ ^[0-9]+$ ]]
		[[ "$(cat "/sys/fs/cgroup$CGROOT/$tier/pids.max")" =~ ^[0-9]+$ ]]
	done
	put_file dflt '.command = ["sleep", "1000"]'
	wait_for 90 phase_is dflt running
	[ "$(v2_knob dflt memory.max)" = 536870912 ]
	[ "$(v2_knob dflt pids.max)" = 1024 ]
}

@test "v2: memory, pids and cpu limits are in the container's cgroup files" {
	put_file lim '.command = ["sleep", "1000"] | .resources = {memory: "64Mi", pids: 32, cpu: "250m"}'
	wait_for 90 phase_is lim running
	[ "$(v2_knob lim memory.max)" = 67108864 ]
	[ "$(v2_knob lim pids.max)" = 32 ]
	[ "$(v2_knob lim cpu.max)" = "25000 100000" ]
	pid=$(status_of lim .pid)
	grep -q "^0::$CGROOT/online/lim" "/proc/$pid/cgroup"
}

@test "v2: batch instances go under the batch tier with the lowest CPU weight" {
	put_file bat '.command = ["sleep", "1000"] | .qos = "batch"'
	wait_for 90 phase_is bat running
	[ -d "/sys/fs/cgroup$CGROOT/batch/bat" ]
	# cpu.idle (5.15+) makes the tier SCHED_IDLE, below any weight; without it, weight 1
	if [ -e "/sys/fs/cgroup$CGROOT/batch/cpu.idle" ]; then
		[ "$(cat "/sys/fs/cgroup$CGROOT/batch/cpu.idle")" = 1 ]
	else
		[ "$(cat "/sys/fs/cgroup$CGROOT/batch/cpu.weight")" = 1 ]
	fi
	[ "$(cat "/sys/fs/cgroup$CGROOT/online/cpu.weight")" = 100 ]
	pid=$(status_of bat .pid)
	grep -q "^0::$CGROOT/batch/bat" "/proc/$pid/cgroup"
}

@test "v2: --batch-cgroup puts the batch tier beside the root, controllers enabled down to it, idle; --batch-cpu-class weight" {
	local b="$CGROOT-batch"
	stop_agent
	v2_start_agent --batch-cgroup "$b"
	grep -qw memory "/sys/fs/cgroup$b/cgroup.subtree_control"
	grep -qw cpu "/sys/fs/cgroup$b/cgroup.subtree_control"
	[ ! -d "/sys/fs/cgroup$CGROOT/batch" ]
	[[ "$(cat "/sys/fs/cgroup$b/memory.max")" =~ ^[0-9]+$ ]]
	if [ -e "/sys/fs/cgroup$b/cpu.idle" ]; then
		[ "$(cat "/sys/fs/cgroup$b/cpu.idle")" = 1 ]
	else
		[ "$(cat "/sys/fs/cgroup$b/cpu.weight")" = 1 ]
	fi
	put_file bat '.command = ["sleep", "1000"] | .qos = "batch" | .resources = {memory: "32Mi"}'
	wait_for 90 phase_is bat running
	grep -q "^0::$b/bat\$" "/proc/$(status_of bat .pid)/cgroup"
	[ "$(cat "/sys/fs/cgroup$b/bat/memory.max")" = 33554432 ]
	rm "$ASSIGN/bat.json"
	wait_for 90 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/bat"
	[ ! -d "/sys/fs/cgroup$b/bat" ]
	# --batch-cpu-class weight: out of the idle class, the lowest weight
	stop_agent
	v2_start_agent --batch-cgroup "$b" --batch-cpu-class weight
	[ "$(cat "/sys/fs/cgroup$b/cpu.weight")" = 1 ]
	[ ! -e "/sys/fs/cgroup$b/cpu.idle" ] || [ "$(cat "/sys/fs/cgroup$b/cpu.idle")" = 0 ]
}

@test "v2: a container that allocates past its memory limit ends OOMKilled" {
	put_file hog '.command = ["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr \"\\000\" a); echo ${#x}"] | .resources = {memory: "16Mi"} | .restart = "never"'
	wait_for 90 phase_is hog exited
	[ "$(status_of hog .reason)" = OOMKilled ]
	[ "$(status_of hog .oom_killed)" = true ]
}

@test "v2: kill -9 of droverd, then a restart, adopts the container untouched" {
	put_file a1 '.command = ["sleep", "1000"] | .resources = {memory: "32Mi"}'
	wait_for 90 phase_is a1 running
	pa=$(status_of a1 .pid)
	kill9_agent
	v2_start_agent
	[ "$(status_of a1 .phase)" = running ]
	[ "$(status_of a1 .pid)" = "$pa" ]
	[ "$(status_of a1 .restarts)" = 0 ]
	[ "$(v2_knob a1 memory.max)" = 33554432 ]
	kill -9 "$pa"
	wait_for 90 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/a1 | jq .restarts)\" = 1 ]"
}

@test "v2: removing the spec removes the container's cgroup" {
	put_file rm1 '.command = ["sleep", "1000"]'
	wait_for 90 phase_is rm1 running
	[ -d "/sys/fs/cgroup$CGROOT/online/rm1" ]
	rm "$ASSIGN/rm1.json"
	wait_for 90 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/rm1"
	[ ! -d "/sys/fs/cgroup$CGROOT/online/rm1" ]
}
