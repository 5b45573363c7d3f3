#!/usr/bin/env bats
# Colocation on real cgroups v1: admission of online against allocatable and of batch against what
# online leaves; batch's CPU quota cut under online CPU pressure and given back; batch evicted
# first when node memory runs short; oom_score_adj by class. The machine is shared with other
# test runs, so waits are generous while the measured times are printed and bounded.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
}

teardown() {
	drv_teardown
}

node() { # node [jq filter]
	api GET /v1/node | head -n -1 | jq -r "${1:-.}"
}

batch_quota() { # the tier's path: $BATCH_CG when a test moves it (--batch-cgroup)
	cat "/sys/fs/cgroup/cpu${BATCH_CG:-$CGROOT/batch}/cpu.cfs_quota_us"
}

quota_cut() {
	[ "$(batch_quota)" != -1 ]
}

quota_free() {
	[ "$(batch_quota)" = -1 ]
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

ms_until() { # ms_until COMMAND...: waits (up to 10 s) for COMMAND to succeed, prints the ms it took
	local t0
	t0=$(now_ms)
	wait_for 10 "$@"
	echo $(($(now_ms) - t0))
}

@test "admission: online fits allocatable, batch fits what is reclaimable; refusals name the resource and the numbers" {
	ncpu=$(nproc)
	start_agent --system-reserved cpu=500m,memory=512Mi --eviction-batch-memory 256Mi
	# online cpu: allocatable is the CPUs minus 500m
	alloc=$((ncpu * 1000 - 500))
	drv_run api PUT /v1/instances/on1 "$(spec on1 ".command = [\"sleep\",\"1000\"] | .resources = {cpu: \"$((alloc - 200))m\"}")"
	[[ "$output" == *"HTTP 201"* ]]
	drv_run api PUT /v1/instances/on2 "$(spec on2 '.command = ["sleep","1000"] | .resources = {cpu: "300m"}')"
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = resources.cpu ]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *"insufficient cpu: 'resources.cpu' asks for 300m, but only 200m of the node's ${alloc}m allocatable are free ($((alloc - 200))m allocated)"* ]]
	# the same through the assignments dir: failed, InsufficientResources
	put_file on3 '.command = ["sleep","1000"] | .resources = {cpu: "300m"}'
	wait_for 5 phase_is on3 failed
	[ "$(status_of on3 .reason)" = InsufficientResources ]
	[[ "$(status_of on3 .message)" == *"insufficient cpu"*300m* ]]
	# batch memory: 256Mi reclaimable (--eviction-batch-memory as a size), online does not count
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/node | jq .colocation.reclaimable.memory.bytes)\" = 268435456 ]"
	drv_run api PUT /v1/instances/b1 "$(spec b1 '.command = ["sleep","1000"] | .qos = "batch" | .resources = {memory: "200Mi"}')"
	[[ "$output" == *"HTTP 201"* ]]
	drv_run api PUT /v1/instances/b2 "$(spec b2 '.command = ["sleep","1000"] | .qos = "batch" | .resources = {memory: "100Mi"}')"
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = resources.memory ]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *"insufficient memory for batch: 'resources.memory' asks for 104857600 bytes, but only 58720256 of the node's 268435456 reclaimable bytes are free (209715200 allocated to batch)"* ]]
	# an online instance with the same request still fits allocatable
	drv_run api PUT /v1/instances/on4 "$(spec on4 '.command = ["sleep","1000"] | .resources = {memory: "100Mi"}')"
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 phase_is b1 running
	wait_for 10 phase_is on4 running
}

busy_online() { # four busy loops in online on this 2-CPU node: its tasks wait for CPUs
	put_file busy '.command = ["sh", "-c", "for i in 1 2 3 4; do (while :; do :; done) & done; exec sleep 1000"]'
	wait_for 10 phase_is busy running
}

busy_stop() { # the busy loops end (the instance's shell sleeps on)
	local main p
	main=$(status_of busy .pid)
	for p in $(cat "$(cg_file busy cpu tasks)"); do
		[ "$p" = "$main" ] || kill -9 "$p" 2>/dev/null || true
	done
}

@test "batch CPU quota is cut under online CPU pressure within 2 s and given back within 3 s" {
	start_agent
	put_file hog '.command = ["sh", "-c", "while :; do :; done"] | .qos = "batch"'
	wait_for 10 phase_is hog running
	sleep 1
	quota_free # batch alone: no cap
	busy_online
	cut_ms=$(ms_until quota_cut)
	echo "cut after ${cut_ms} ms to $(batch_quota) us" >&3
	[ "$cut_ms" -le 2000 ]
	[ "$(node .colocation.batch_cpu_quota_millis)" != null ]
	[ "$(node .colocation.pressure.online_cpu_under_pressure)" = true ]
	grep -q "batch cpu quota .*online CPU pressure" "$AGENT_LOG"
	# the pressure is gone: the quota is lifted
	busy_stop
	back_ms=$(ms_until quota_free)
	echo "given back after ${back_ms} ms" >&3
	[ "$back_ms" -le 3000 ]
	[ "$(node .colocation.batch_cpu_quota_millis)" = null ]
	[ "$(api GET /metrics | grep -c '^drover_batch_cpu_quota_changes_total [1-9]')" = 1 ]
	[ "$(status_of hog)" = running ]
	# droverctl node shows the same: quota, reclaimable capacity with its inputs, pressure
	drv_run ctl node
	[ "$status" -eq 0 ]
	[[ "$output" == *"colocation.batch_cpu_quota_millis"* ]]
	[[ "$output" == *"colocation.reclaimable.cpu.online_usage_millis"* ]]
	[[ "$output" == *"colocation.reclaimable.memory.formula"* ]]
	[[ "$output" == *"colocation.pressure.online_cpu_percent"* ]]
}

@test "--batch-cgroup puts the batch tier beside the root: batch runs there idle, its quota is cut and given back, its usage counts, --cleanup removes it" {
	BATCH_CG="$CGROOT-batch"
	# a batch instance from before the switch: the operator is told it is no longer tracked
	start_agent
	put_file old '.command = ["sleep", "1000"] | .qos = "batch" | .stop_grace_ms = 0'
	wait_for 10 phase_is old running
	stop_agent
	start_agent --batch-cgroup "$BATCH_CG"
	grep -q "batch tier '$BATCH_CG'" "$AGENT_LOG"
	grep -q "'$CGROOT/batch' still holds cgroups of batch instances started before --batch-cgroup" "$AGENT_LOG"
	rm "$ASSIGN/old.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/old"
	# restarted with no instance left there: the old tier goes
	stop_agent
	start_agent --batch-cgroup "$BATCH_CG"
	[ ! -d "/sys/fs/cgroup/cpu$CGROOT/batch" ] && [ -d "/sys/fs/cgroup/memory$BATCH_CG" ]
	[ "$(cat "/sys/fs/cgroup/cpu$BATCH_CG/cpu.idle" 2>/dev/null || cat "/sys/fs/cgroup/cpu$BATCH_CG/cpu.shares")" \
		= "$([ -e "/sys/fs/cgroup/cpu$BATCH_CG/cpu.idle" ] && echo 1 || echo 2)" ]
	put_file hog '.command = ["sh", "-c", "while :; do :; done"] | .qos = "batch"'
	wait_for 10 phase_is hog running
	grep -q "memory:$BATCH_CG/hog\$" "/proc/$(status_of hog .pid)/cgroup"
	# the node's usage is both tiers: the hog's CPU shows although it is outside the root
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/node | jq '.usage.cpu_millis')\" -gt 500 ]"
	quota_free
	busy_online
	cut_ms=$(ms_until quota_cut)
	echo "cut after ${cut_ms} ms to $(batch_quota) us" >&3
	[ "$cut_ms" -le 2000 ]
	busy_stop
	back_ms=$(ms_until quota_free)
	echo "given back after ${back_ms} ms" >&3
	[ "$back_ms" -le 3000 ]
	rm "$ASSIGN/hog.json" "$ASSIGN/busy.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/hog"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/busy"
	[ ! -d "/sys/fs/cgroup/memory$BATCH_CG/hog" ]
	stop_agent
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" --assignments-dir "$ASSIGN" \
		--cgroup-root "$CGROOT" --batch-cgroup "$BATCH_CG" --bridge "$NET_BR" --subnet "$NET_SUBNET" \
		--nft-table "$NFT_TABLE" --cleanup
	[ "$status" -eq 0 ]
	for c in /sys/fs/cgroup/*"$BATCH_CG" /sys/fs/cgroup/*/*"$BATCH_CG" /sys/fs/cgroup/*/*"$CGROOT"; do
		[ ! -d "$c" ]
	done
}

@test "--batch-cpu-class weight: the batch tier leaves the idle class for the lowest weight; a restart without it goes back" {
	local d="/sys/fs/cgroup/cpu$CGROOT/batch"
	start_agent --batch-cpu-class weight
	[ "$(cat "$d/cpu.shares")" = 2 ]
	[ ! -e "$d/cpu.idle" ] || [ "$(cat "$d/cpu.idle")" = 0 ]
	[ "$(node .colocation.batch_tier.cpu_class)" = weight ]
	[ "$(node .colocation.batch_tier.cgroup)" = "$CGROOT/batch" ]
	stop_agent
	start_agent
	[ ! -e "$d/cpu.idle" ] || [ "$(cat "$d/cpu.idle")" = 1 ]
	[ "$(node .colocation.batch_tier.cpu_class)" = idle ]
}

@test "a batch cgroup inside the root is refused at start with one line naming both" {
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" --assignments-dir "$ASSIGN" \
		--cgroup-root "$CGROOT" --batch-cgroup "$CGROOT/online/b"
	[ "$status" -ne 0 ]
	[[ "$output" == *"batch cgroup '$CGROOT/online/b' must lie beside the cgroup root '$CGROOT'"* ]]
	[ ! -d "/sys/fs/cgroup/memory$CGROOT" ]
}

@test "on a hybrid host online's CPU pressure is PSI from the cgroup2 hierarchy: short-lived tasks queueing for the CPUs count" {
	local u=/sys/fs/cgroup/unified
	[ "$(stat -fc %T "$u" 2>/dev/null)" = cgroup2fs ] || skip "no cgroup2 hierarchy beside the v1 ones at $u"
	start_agent
	[ -d "$u$CGROOT/online" ] && [ -d "$u$CGROOT/batch" ]
	put_file hog '.command = ["sh", "-c", "while :; do :; done"] | .qos = "batch"'
	wait_for 10 phase_is hog running
	[ "$(node .colocation.pressure.online_cpu_source)" = "psi cpu.pressure some" ]
	# eight tasks at a time on two CPUs, each gone after about 60 ms of counting: a sample of the
	# tasks alive misses the wait of those that ended since the last one; the tier's PSI has it
	put_file forks '.command = ["sh", "-c", "while :; do for t in 1 2 3 4 5 6 7 8; do (i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done) & done; wait; done"]'
	wait_for 10 phase_is forks running
	[ -d "$u$CGROOT/online/forks" ] # runc put the instance in the cgroup2 hierarchy too
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/node | jq .colocation.pressure.online_cpu_under_pressure)\" = true ]"
	[ "$(status_of hog)" = running ]
}

@test "a cut that brings online no relief (its own tasks queue for the CPUs) is given back, and not tried again during the back-off" {
	start_agent
	put_file hog '.command = ["sh", "-c", "while :; do :; done"] | .qos = "batch"'
	wait_for 10 phase_is hog running
	sleep 1
	busy_online
	wait_for 10 quota_cut
	# batch runs in the idle class, so cutting it does not shorten online's queue: within the
	# relief check (8 ticks of 250 ms) it gets its CPU back while the busy loops go on
	back_ms=$(ms_until quota_free) || { grep "batch cpu quota" "$AGENT_LOG" >&3; false; }
	echo "given back after ${back_ms} ms of cuts without relief" >&3
	[ "$back_ms" -le 4000 ]
	grep -q "batch cpu quota .*cuts brought no relief: online .* waiting (.* before them)" "$AGENT_LOG"
	# the back-off (8 s the first time): online still under pressure, batch keeps its CPU
	for _ in 1 2 3 4; do
		sleep 1
		quota_free
	done
	[ "$(node .colocation.pressure.online_cpu_under_pressure)" = true ]
	[ "$(node .colocation.batch_cpu_quota_millis)" = null ]
	busy_stop
	[ "$(status_of hog)" = running ]
}

# epoll_wait returns of droverd over SECONDS (strace counts them; nothing else is traced)
wakeups() {
	timeout -s INT "$1" strace -qq -e trace=epoll_wait,epoll_pwait -p "$AGENT_PID" -o "$T/wake.log" || true
	grep -c 'epoll_wait\|epoll_pwait' "$T/wake.log" || true
}

@test "at rest (no batch, memory far from the threshold) the sampler wakes the agent every 5 s; a batch instance brings the quick pace back" {
	command -v strace >/dev/null || skip "strace is not installed"
	start_agent
	put_file web '.command = ["sleep", "1000"]'
	wait_for 10 phase_is web running
	sleep 6 # past the start's own work and one resting period
	n=$(wakeups 11)
	echo "at rest: $n wake-ups in 11 s" >&3
	[ "$n" -ge 1 ]
	[ "$n" -le 5 ]
	# a batch instance: sampled at once, then every 250 ms
	put_file hog '.command = ["sleep", "1000"] | .qos = "batch"'
	wait_for 10 phase_is hog running
	n=$(wakeups 3)
	echo "with batch: $n wake-ups in 3 s" >&3
	[ "$n" -ge 9 ]
}

@test "below the eviction threshold a batch instance is evicted (Evicted, numbers in the message); online beside it is untouched" {
	avail=$(($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) * 1024))
	thr=$((avail - 100 * 1024 * 1024))
	start_agent --eviction-hard "memory.available<$thr" --default-memory 1Gi
	put_file on '.command = ["sleep", "1000"] | .resources = {memory: "64Mi"}'
	wait_for 10 phase_is on running
	on_pid=$(status_of on .pid)
	# about 200 MB of anonymous memory held by a shell variable
	put_file hungry '.command = ["sh", "-c", "x=$(seq 1 25000000); exec sleep 1000"] | .qos = "batch"'
	wait_for 10 phase_is hungry running
	usage=$(cg_file hungry memory memory.usage_in_bytes batch)
	# from the moment its usage passes the margin (and then some), eviction takes at most 2 s
	wait_for 60 sh -c "[ \"\$(cat $usage 2>/dev/null || echo 999999999999)\" -gt $((150 * 1024 * 1024)) ]"
	ev_ms=$(ms_until phase_is hungry failed)
	echo "evicted after ${ev_ms} ms" >&3
	[ "$ev_ms" -le 2000 ]
	[ "$(status_of hungry .reason)" = Evicted ]
	msg=$(status_of hungry .message)
	[[ "$msg" == *"batch, largest usage over request"*"threshold $thr bytes"* ]]
	[[ "$msg" == *"it used "[0-9]*" bytes, request 0 bytes"* ]]
	grep -q "evicting id=hungry qos=batch" "$AGENT_LOG"
	# no restart: it stays failed; online runs on with the same process
	sleep 2
	[ "$(status_of hungry)" = failed ]
	[ "$(status_of on)" = running ]
	[ "$(status_of on .pid)" = "$on_pid" ]
	[ "$(node .colocation.eviction.evictions_total)" = 1 ]
	api GET /metrics | grep -q '^drover_evictions_total 1$'
}

batch_mem_limit() {
	cat "/sys/fs/cgroup/memory$CGROOT/batch/memory.limit_in_bytes"
}

@test "a lower batch memory limit the kernel refuses (memory batch cannot give back) holds batch where it is, is reported as it is, and lands once batch lets go" {
	# allocatable 1 GiB: batch's limit is 80% of what online leaves
	total_mi=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
	start_agent --system-reserved "memory=$((total_mi - 1024))Mi"
	wait_for 5 sh -c "[ \"\$(cat /sys/fs/cgroup/memory$CGROOT/batch/memory.limit_in_bytes)\" -lt $((1024 * 1024 * 1024)) ]"
	before=$(batch_mem_limit)
	# about 200 MB of anonymous memory in batch, held by the shell (sleep is not its last command,
	# which it would exec, freeing it); without swap the kernel cannot reclaim it
	put_file hungry '.command = ["sh", "-c", "x=$(seq 1 25000000); sleep 1000; echo ${#x}"] | .qos = "batch" | .stop_grace_ms = 200'
	wait_for 10 phase_is hungry running
	# until the shell is done growing: above 150 MB and steady for a second
	usage=$(cg_file hungry memory memory.usage_in_bytes batch)
	prev=0 held=0
	for _ in $(seq 1 90); do
		sleep 1
		held=$(cat "$usage")
		[ "$held" -gt $((150 * 1024 * 1024)) ] && [ $((held - prev)) -lt 1048576 ] && [ $((prev - held)) -lt 1048576 ] && break
		prev=$held
	done
	held=$(cat "/sys/fs/cgroup/memory$CGROOT/batch/memory.usage_in_bytes")
	[ "$held" -gt $((150 * 1024 * 1024)) ]
	# an online request of 900Mi leaves batch 80% of 124Mi: below what batch holds
	put_file on '.command = ["sleep", "1000"] | .resources = {memory: "900Mi"}'
	wait_for 10 phase_is on running
	wait_for 5 grep -q "batch memory limit .* refused by the kernel" "$AGENT_LOG"
	sleep 1
	lim=$(batch_mem_limit)
	echo "batch limit $before, batch holds $held, held at $lim, now $(cat /sys/fs/cgroup/memory$CGROOT/batch/memory.usage_in_bytes)" >&3
	[ "$lim" -lt "$before" ]	 # batch may not grow back to the old limit
	[ "$lim" -ge "$held" ]		 # nor is it made to give back what it cannot
	[ "$(node .colocation.batch_memory_limit_bytes)" = "$lim" ] # reported as the kernel has it
	[ "$(status_of hungry)" = running ]
	# batch lets go: the wanted limit lands (80% of what online leaves, page-aligned)
	rm "$ASSIGN/hungry.json"
	want=$(($(node .colocation.reclaimable.memory.bytes) / 4096 * 4096))
	[ "$want" -lt "$held" ]
	wait_for 10 sh -c "[ \"\$(cat /sys/fs/cgroup/memory$CGROOT/batch/memory.limit_in_bytes)\" = $want ]"
	[ "$(node .colocation.batch_memory_limit_bytes)" = "$want" ]
}

@test "oom_score_adj per class is visible in /proc: batch 1000, online below batch" {
	start_agent
	put_file gua '.command = ["sleep", "1000"] | .resources = {memory: "64Mi"}'
	put_file bat '.command = ["sleep", "1000"] | .qos = "batch"'
	put_file onl '.command = ["sleep", "1000"]'
	wait_for 10 phase_is gua running
	wait_for 10 phase_is bat running
	wait_for 10 phase_is onl running
	# online with a request: -500, or 0 when the agent lacks CAP_SYS_RESOURCE (bit 24)
	capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$AGENT_PID/status")
	want=0
	(((0x$capeff >> 24) & 1)) && want=-500
	[ "$(cat "/proc/$(status_of bat .pid)/oom_score_adj")" = 1000 ]
	[ "$(cat "/proc/$(status_of gua .pid)/oom_score_adj")" = "$want" ]
	[ "$(cat "/proc/$(status_of onl .pid)/oom_score_adj")" = 100 ]
}

@test "bad colocation flags are refused at start with one line" {
	for f in "--eviction-hard memory.free<1Gi" "--batch-cpu-target 0" "--batch-cpu-min 1m" "--eviction-batch-memory 0%" "--batch-cpu-class nice"; do
		# shellcheck disable=SC2086
		run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" --assignments-dir "$ASSIGN" \
			--cgroup-root "$CGROOT" $f
		[ "$status" -eq 2 ]
		[[ "$output" == *"${f%% *}"* ]]
		[ "${#lines[@]}" -eq 1 ]
		[ ! -e "$STATE" ]
	done
}
