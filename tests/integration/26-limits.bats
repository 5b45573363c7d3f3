#!/usr/bin/env bats
# The node survives its tenants: default limits, tier caps, oom_score_adj by class, admission,
# instance and grace caps, forced removal, big deletes off the loop, and an assignments dir that
# cannot hang or fool the agent. After each, an unrelated instance runs on with the same PID.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
}

teardown() {
	[ -z "${POLLER:-}" ] || kill "$POLLER" 2>/dev/null || true
	[ -z "${CHURN:-}" ] || kill "$CHURN" 2>/dev/null || true
	[ -z "$AGENT_PID" ] || kill -CONT "$AGENT_PID" 2>/dev/null || true
	drv_teardown
}

# An unrelated instance that must outlive whatever a test does to its neighbours.
keep_start() {
	put_file keep '.command = ["sleep", "1000"]'
	wait_for 10 phase_is keep running
	KEEP_PID=$(status_of keep .pid)
	[ "$KEEP_PID" -gt 1 ]
}

keep_check() {
	[ "$(status_of keep)" = running ]
	[ "$(status_of keep .pid)" = "$KEEP_PID" ]
	kill -0 "$KEEP_PID"
}

healthz_fast() { # the agent answers within one second
	curl -sf --max-time 1 --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null
}

# Polls healthz every 100 ms in the background; every answer slower than 1 s is a line in $T/slow.
poller_start() {
	: >"$T/slow"
	(
		while :; do
			healthz_fast || date +%s.%N >>"$T/slow"
			sleep 0.1
		done
	) &
	POLLER=$!
}

poller_stop() {
	kill "$POLLER" 2>/dev/null || true
	wait "$POLLER" 2>/dev/null || true
	POLLER=""
	if [ -s "$T/slow" ]; then
		echo "healthz was slower than 1 s $(wc -l <"$T/slow") times" >&2
		return 1
	fi
}

batch_limit_reported() {
	[ "$(api GET /v1/node | head -n -1 | jq .colocation.batch_memory_limit_bytes)" != null ]
}

gone() { # gone ID: the API no longer knows the instance
	! curl -sf --unix-socket "$SOCK" "http://localhost/v1/instances/$1" >/dev/null
}

@test "a spec without limits gets the default pids and memory limits; the tiers are capped" {
	start_agent --default-pids 77 --default-memory 96Mi
	keep_start
	[ "$(cat "$(cg_file keep pids pids.max)")" = 77 ]
	[ "$(cat "$(cg_file keep memory memory.limit_in_bytes)")" = 100663296 ]
	# the spec's own limits win over the defaults
	put_file own '.command = ["sleep", "1000"] | .resources = {memory: "64Mi", pids: 32}'
	wait_for 10 phase_is own running
	[ "$(cat "$(cg_file own pids pids.max)")" = 32 ]
	[ "$(cat "$(cg_file own memory memory.limit_in_bytes)")" = 67108864 ]
	# tiers: allocatable memory (capacity minus --system-reserved 512Mi) and 90% of the pid limit
	total=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024))
	want_mem=$(((total - 536870912) / 4096 * 4096))
	pid_max=$(cat /proc/sys/kernel/pid_max)
	threads=$(cat /proc/sys/kernel/threads-max)
	[ "$threads" -lt "$pid_max" ] && pid_max=$threads
	for tier in online batch; do
		[ "$(cat "/sys/fs/cgroup/pids$CGROOT/$tier/pids.max")" = $((pid_max / 10 * 9)) ]
	done
	[ "$(cat "/sys/fs/cgroup/memory$CGROOT/online/memory.limit_in_bytes")" = "$want_mem" ]
	# batch: the colocation controller's limit (--eviction-batch-memory of what online leaves), inside it
	wait_for 5 batch_limit_reported
	batch_mem=$(cat "/sys/fs/cgroup/memory$CGROOT/batch/memory.limit_in_bytes")
	[ "$batch_mem" -le "$want_mem" ]
	[ "$batch_mem" = "$(api GET /v1/node | head -n -1 | jq .colocation.batch_memory_limit_bytes)" ]
	keep_check
}

@test "a fork bomb in a spec without limits is contained by the default pids limit" {
	start_agent --default-pids 64
	keep_start
	drv_run api PUT /v1/instances/bomb "$(spec bomb '.command = ["sh", "-c", "b() { b | b & }; b; exec sleep 1000"]')"
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 20 phase_is bomb running
	cur=$(cg_file bomb pids pids.current)
	events=$(cg_file bomb pids pids.events)
	refused() { awk '$1 == "max" {print $2}' "$events" 2>/dev/null || echo 0; }
	# up to 20 s until the bomb hits the wall: the kernel counts each fork refused at the limit in
	# pids.events (a sample of pids.current may miss the moment it stands at 64 exactly, on a busy
	# machine where the bomb's shells die about as fast as they are born)
	for i in $(seq 1 200); do
		n=$(cat "$cur" 2>/dev/null || echo 0)
		[ "$n" -le 64 ]
		[ "$(refused)" -gt 0 ] && break
		sleep 0.1
	done
	[ "$(cat "$(cg_file bomb pids pids.max)")" = 64 ]
	# forks were refused at the limit, and the node stays responsive meanwhile
	[ "$(refused)" -gt 0 ]
	for i in 1 2 3 4 5; do
		healthz_fast
		[ "$(cat "$cur")" -le 64 ]
		sleep 0.2
	done
	drv_run ctl rm --force bomb
	[ "$status" -eq 0 ]
	wait_for 15 gone bomb
	keep_check
}

@test "oom_score_adj follows the class: batch high, online without a memory limit positive, online with one negative" {
	start_agent
	keep_start
	put_file guaranteed '.command = ["sleep", "1000"] | .resources = {memory: "64Mi"}'
	put_file besteffort '.command = ["sleep", "1000"] | .qos = "batch" | .resources = {memory: "64Mi"}'
	wait_for 10 phase_is guaranteed running
	wait_for 10 phase_is besteffort running
	# -500 needs CAP_SYS_RESOURCE (bit 24); without it nothing may go below 0, and 0 is used
	capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$AGENT_PID/status")
	want=0
	(((0x$capeff >> 24) & 1)) && want=-500
	[ "$(cat "/proc/$(status_of guaranteed .pid)/oom_score_adj")" = "$want" ]
	[ "$(cat "/proc/$(status_of besteffort .pid)/oom_score_adj")" = 1000 ]
	# keep is online without resources: a default memory limit, but never a negative score
	[ "$(cat "/proc/$KEEP_PID/oom_score_adj")" = 100 ]
	keep_check
}

@test "a FIFO, a symlink out of the dir and a quoting parse error in the assignments dir do not hang or leak" {
	start_agent
	keep_start
	# inotify reports renames into the dir; a FIFO opened for reading would block for ever
	mkfifo "$ASSIGN/.fifo.tmp"
	mv "$ASSIGN/.fifo.tmp" "$ASSIGN/fifo.json"
	ln -s /proc/kmsg "$ASSIGN/.kmsg.tmp"
	mv "$ASSIGN/.kmsg.tmp" "$ASSIGN/kmsg.json"
	secret="tok$RANDOM$RANDOM"
	echo "{\"id\": \"leak\", \"image\": $secret}" >"$ASSIGN/leak.json"
	healthz_fast
	wait_for 5 phase_is fifo failed
	wait_for 5 phase_is kmsg failed
	wait_for 5 phase_is leak failed
	healthz_fast
	[ "$(status_of fifo .reason)" = InvalidSpec ]
	[[ "$(status_of fifo .message)" == *"not a regular file"* ]]
	[[ "$(status_of kmsg .message)" == *"symbolic link that leads out of its directory"* ]]
	[[ "$(status_of leak .message)" == *"line 1 column"* ]]
	[[ "$(status_of leak .message)" != *"$secret"* ]]
	! grep -q "$secret" "$AGENT_LOG"
	# a symlink that stays inside the dir is followed
	mkdir "$ASSIGN/..data"
	spec linked '.command = ["sleep", "1000"]' >"$ASSIGN/..data/linked.json"
	ln -s ..data/linked.json "$ASSIGN/.linked.tmp"
	mv "$ASSIGN/.linked.tmp" "$ASSIGN/linked.json"
	wait_for 10 phase_is linked running
	# the scan at start reads them the same way
	stop_agent
	start_agent
	healthz_fast
	wait_for 5 phase_is fifo failed
	[[ "$(status_of kmsg .message)" == *"leads out of its directory"* ]]
	keep_check
}

@test "an inotify queue overflow makes the agent rescan: every file created or removed meanwhile is seen" {
	start_agent
	keep_start
	spec gone '.command = ["true"] | del(.image)' >"$ASSIGN/gone.json"
	wait_for 5 phase_is gone failed
	n=300
	# a stopped agent reads no events: overflow its queue (max_queued_events) in this test's own dir
	kill -STOP "$AGENT_PID"
	events=$(($(cat /proc/sys/fs/inotify/max_queued_events) / 2 + 1000))
	python3 -c '
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
a, b = os.path.join(d, ".churn-a"), os.path.join(d, ".churn-b")
open(a, "w").close()
for _ in range(n):
    os.rename(a, b)
    os.rename(b, a)
os.unlink(a)
' "$ASSIGN" "$events"
	for i in $(seq 1 $n); do
		echo "{\"id\": \"f$i\"}" >"$ASSIGN/f$i.json" # no image: each shows as failed, no container
	done
	rm "$ASSIGN/gone.json"
	kill -CONT "$AGENT_PID"
	wait_for 20 grep -q "inotify queue overflow" "$AGENT_LOG"
	wait_for 20 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances | jq '[.[] | select(.id | startswith(\"f\"))] | length') -eq $n ]"
	wait_for 10 gone gone
	[ "$(status_of f1 .reason)" = InvalidSpec ]
	[ "$(status_of "f$n" .reason)" = InvalidSpec ]
	healthz_fast
	keep_check
}

@test "a restart and a removal of an instance whose upper dir holds 200k files keep the agent answering" {
	start_agent
	keep_start
	drv_run api PUT /v1/instances/many "$(spec many '.command = ["sh", "-c", "mkdir /t && cd /t && seq 200000 | xargs touch && echo made && exit 1"] | .restart = "on-failure"')"
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 phase_is many running
	poller_start
	# the first run fills its upper dir and exits 1; the restart moves that layer to the trash
	wait_for 180 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/many | jq .restarts) -ge 1 ]"
	grep -q "trash: child" "$AGENT_LOG"
	# and the removal (the second run's files included) goes the same way
	sleep 2
	drv_run ctl rm --force many
	[ "$status" -eq 0 ]
	wait_for 15 gone many
	[ ! -e "$STATE/bundles/many" ]
	# the files are deleted by the child, eventually
	wait_for 180 sh -c "[ -z \"\$(ls -A '$STATE/trash')\" ]"
	poller_stop
	keep_check
}

@test "admission refuses what does not fit: memory over allocatable, instances over --max-instances, cpu below 10m" {
	start_agent --max-instances 3
	keep_start
	drv_run api PUT /v1/instances/huge "$(spec huge '.command = ["sleep","1000"] | .resources = {memory: "1Ti"}')"
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = resources.memory ]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *"insufficient memory"*1099511627776*allocatable* ]]
	gone huge
	put_file huge2 '.command = ["sleep","1000"] | .resources = {memory: "1Ti"}'
	wait_for 5 phase_is huge2 failed
	[ "$(status_of huge2 .reason)" = InsufficientResources ]
	[[ "$(status_of huge2 .message)" == *"insufficient memory"*1099511627776* ]]
	drv_run api PUT /v1/instances/tiny "$(spec tiny '.command = ["sleep","1000"] | .resources = {cpu: "5m"}')"
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = resources.cpu ]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *10m* ]]
	# keep + two more fill --max-instances 3; the next is refused, a new revision of one is not
	drv_run api PUT /v1/instances/two "$(spec two '.command = ["sleep","1000"]')"
	[[ "$output" == *"HTTP 201"* ]]
	drv_run api PUT /v1/instances/three "$(spec three '.command = ["sleep","1000"]')"
	[[ "$output" == *"HTTP 201"* ]]
	drv_run api PUT /v1/instances/four "$(spec four '.command = ["sleep","1000"]')"
	[[ "$output" == *"HTTP 422"* ]]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *"3 of its 3"*--max-instances* ]]
	drv_run api PUT /v1/instances/three "$(spec three '.command = ["sleep","1000"] | .revision = 2')"
	[[ "$output" == *"HTTP 200"* ]]
	drv_run ctl rm two
	wait_for 10 gone two
	drv_run api PUT /v1/instances/four "$(spec four '.command = ["sleep","1000"]')"
	[[ "$output" == *"HTTP 201"* ]]
	keep_check
}

@test "rm --force kills at once; --max-stop-grace cuts a spec's long grace period" {
	start_agent --max-stop-grace 1000
	keep_start
	# sleep as PID 1 ignores SIGTERM: only SIGKILL ends it
	drv_run api PUT /v1/instances/slow "$(spec slow '.command = ["sleep","1000"] | .stop_grace_ms = 3600000')"
	[[ "$output" == *"HTTP 201"* ]]
	drv_run api PUT /v1/instances/hard "$(spec hard '.command = ["sleep","1000"] | .stop_grace_ms = 3600000')"
	drv_run api PUT /v1/instances/esc "$(spec esc '.command = ["sleep","1000"] | .stop_grace_ms = 3600000')"
	wait_for 10 phase_is slow running
	wait_for 10 phase_is hard running
	wait_for 10 phase_is esc running
	drv_run api DELETE "/v1/instances/hard?force=maybe"
	[[ "$output" == *"HTTP 400"* ]]
	phase_is hard running
	drv_run ctl rm --force hard
	[ "$status" -eq 0 ]
	wait_for 5 gone hard
	grep -q "forced stop, sending SIGKILL id=hard" "$AGENT_LOG"
	! grep -q "grace period over, sending SIGKILL id=hard" "$AGENT_LOG" # no SIGTERM and grace first
	# an hour of grace is cut to the operator's second
	start=$(date +%s%N)
	drv_run ctl rm slow
	wait_for 10 gone slow
	elapsed=$((($(date +%s%N) - start) / 1000000))
	[ "$elapsed" -ge 900 ] && [ "$elapsed" -lt 10000 ]
	grep -q "grace period over, sending SIGKILL id=slow" "$AGENT_LOG"
	# a forced removal cuts a grace period under way short: its kill timer never fires
	drv_run api DELETE /v1/instances/esc
	[[ "$output" == *"HTTP 202"* ]]
	wait_for 5 phase_is esc stopping
	drv_run api DELETE "/v1/instances/esc?force=1"
	[[ "$output" == *"HTTP 202"* ]]
	wait_for 5 gone esc
	sleep 1.2
	! grep -q "grace period over, sending SIGKILL id=esc" "$AGENT_LOG"
	keep_check
}
