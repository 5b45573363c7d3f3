#!/usr/bin/env bats
# droverd end to end: assignments dir and API in, real runc and cgroups out.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	start_agent
}

teardown() {
	drv_teardown
}

@test "a spec file in the assignments dir runs and shows in droverctl ps" {
	put_file web '.command = ["sleep", "1000"]'
	wait_for 10 phase_is web running
	drv_run ctl ps
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *ID*PHASE* ]]
	[[ "$output" == *web*running* ]]
	pid=$(status_of web .pid)
	[ "$pid" -gt 1 ]
	[ -d "/proc/$pid" ]
	[ "$(status_of web .image_digest)" != null ]
	[[ "$(status_of web .started_at)" == 20*Z ]]
	drv_run ctl -o json ps
	[ "$(echo "$output" | jq -r '.[0].id')" = web ]
}

@test "exit codes 0 and 3 are reported" {
	put_file ok '.command = ["true"] | .restart = "never"'
	put_file three '.command = ["sh", "-c", "exit 3"] | .restart = "never"'
	wait_for 10 phase_is ok exited
	wait_for 10 phase_is three exited
	[ "$(status_of ok .exit_code)" = 0 ]
	[ "$(status_of ok .reason)" = Completed ]
	[ "$(status_of three .exit_code)" = 3 ]
	[ "$(status_of three .reason)" = Error ]
	[ "$(status_of three .finished_at)" != null ]
	[ "$(status_of three .restarts)" = 0 ]
}

@test "container output is readable with droverctl logs" {
	put_file talk '.command = ["sh", "-c", "echo hello err >&2; sleep 0.2; echo hello out; for i in 1 2 3; do echo line$i; done; exec sleep 1000"]'
	wait_for 10 phase_is talk running
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs talk | grep -q line3"
	drv_run ctl logs talk
	[ "$status" -eq 0 ]
	[[ "$output" == *"hello out"* ]]
	[[ "$output" == *"hello err"* ]]
	drv_run ctl logs --tail 2 talk
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = line2 ]
	[ "${lines[1]}" = line3 ]
}

@test "droverctl logs -f follows new output" {
	put_file chatty '.command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done"]'
	wait_for 10 phase_is chatty running
	timeout 3 "$DROVERCTL" --socket "$SOCK" logs -f chatty >"$T/follow.out" 2>&1 || true
	grep -q tick1 "$T/follow.out"
	grep -q tick8 "$T/follow.out"
}

@test "memory and pids limits are in the container's cgroup files" {
	put_file lim '.command = ["sleep", "1000"] | .resources = {memory: "64Mi", pids: 32, cpu: "250m"}'
	wait_for 10 phase_is lim running
	[ "$(cat "$(cg_file lim memory memory.limit_in_bytes)")" = 67108864 ]
	[ "$(cat "$(cg_file lim pids pids.max)")" = 32 ]
	[ "$(cat "$(cg_file lim cpu cpu.cfs_quota_us)")" = 25000 ]
	pid=$(status_of lim .pid)
	grep -q "$CGROOT/online/lim" "/proc/$pid/cgroup"
}

@test "batch instances go under the batch tier with the lowest CPU weight" {
	put_file bat '.command = ["sleep", "1000"] | .qos = "batch"'
	wait_for 10 phase_is bat running
	[ -d "/sys/fs/cgroup/memory$CGROOT/batch/bat" ]
	if [ -f "/sys/fs/cgroup/cpu$CGROOT/batch/cpu.idle" ]; then
		# SCHED_IDLE to online where the kernel has v1 cpu.idle; it shows the weight as 3
		[ "$(cat "/sys/fs/cgroup/cpu$CGROOT/batch/cpu.idle")" = 1 ]
		[ "$(cat "/sys/fs/cgroup/cpu$CGROOT/online/cpu.idle")" = 0 ]
	else
		[ "$(cat "/sys/fs/cgroup/cpu$CGROOT/batch/cpu.shares")" = 2 ]
	fi
}

@test "a container that allocates past its memory limit ends OOMKilled" {
	put_file hog '.command = ["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr \"\\000\" a); echo ${#x}"] | .resources = {memory: "16Mi"} | .restart = "never"'
	wait_for 20 phase_is hog exited
	[ "$(status_of hog .reason)" = OOMKilled ]
	[ "$(status_of hog .oom_killed)" = true ]
}

@test "on-failure restarts with growing delays; never does not restart" {
	put_file flaky '.command = ["sh", "-c", "exit 1"] | .restart = "on-failure"'
	put_file once '.command = ["sh", "-c", "exit 1"] | .restart = "never"'
	wait_for 15 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/flaky | jq .restarts) -ge 2 ]"
	[ "$(status_of once .restarts)" = 0 ]
	[ "$(status_of once .phase)" = exited ]
	# the delays between starts grow: 1 s, then 2 s
	t0=$(date +%s%N)
	wait_for 10 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/flaky | jq .restarts) -ge 3 ]"
	t1=$(date +%s%N)
	grep -q "restarting in 1000 ms" "$AGENT_LOG"
	grep -q "restarting in 2000 ms" "$AGENT_LOG"
	grep -q "restarting in 4000 ms" "$AGENT_LOG"
	[ $(((t1 - t0) / 1000000)) -ge 1000 ]
	[ "$(status_of once .restarts)" = 0 ]
}

@test "an on-failure instance that exits 0 is not restarted" {
	put_file done '.command = ["true"] | .restart = "on-failure"'
	wait_for 10 phase_is done exited
	sleep 1.5
	[ "$(status_of done .restarts)" = 0 ]
	[ "$(status_of done .reason)" = Completed ]
}

@test "restart_backoff in the spec sets the restart delays: 200 ms, then 400 ms at most" {
	put_file quick '.command = ["sh", "-c", "exit 1"] | .restart_backoff = {initial_ms: 200, max_ms: 400, reset_after_ms: 60000}'
	wait_for 30 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/quick | jq .restarts) -ge 4 ]"
	grep -q "restarting in 200 ms (policy always) id=quick" "$AGENT_LOG"
	[ "$(grep -c "restarting in 400 ms (policy always) id=quick" "$AGENT_LOG")" -ge 3 ]
	[ "$(grep -o "restarting in [0-9]* ms (policy always) id=quick" "$AGENT_LOG" | grep -vcE "in (200|400) ms")" = 0 ]
	# the gaps from each exit to the next start, from the events' nanosecond times. An event's
	# time is taken after its state file is written, so each gap is the delay give or take that
	# write: at least half the delay each, and 4 of them far below the 15 s (1+2+4+8) of the
	# default back-off (1.4 s here; a loaded machine adds latency, hence the margin)
	curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=0" |
		jq -r '.events[] | select(.id == "quick") | "\(.phase) \(.time)"' >"$T/ev"
	gaps=()
	while read -r ph t; do
		ns=$(date -d "$t" +%s%N)
		if [ "$ph" = exited ]; then
			ex=$ns
		elif [ -n "${ex:-}" ]; then
			gaps+=($(((ns - ex) / 1000000)))
			ex=""
		fi
	done <"$T/ev"
	echo "gaps (ms): ${gaps[*]}" >&2
	[ "${#gaps[@]}" -ge 4 ]
	[ "${gaps[0]}" -ge 100 ]
	[ "${gaps[1]}" -ge 200 ] && [ "${gaps[2]}" -ge 200 ] && [ "${gaps[3]}" -ge 200 ]
	[ $((gaps[0] + gaps[1] + gaps[2] + gaps[3])) -lt 6000 ]
}

@test "restart_backoff.reset_after_ms: runs longer than that start the back-off over" {
	put_file steady '.command = ["sh", "-c", "sleep 0.6; exit 1"] | .restart_backoff = {initial_ms: 200, max_ms: 3000, reset_after_ms: 300}'
	wait_for 30 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/steady | jq .restarts) -ge 3 ]"
	[ "$(grep -c "restarting in 200 ms (policy always) id=steady" "$AGENT_LOG")" -ge 3 ]
	[ "$(grep -o "restarting in [0-9]* ms (policy always) id=steady" "$AGENT_LOG" | grep -vc "in 200 ms")" = 0 ]
}

@test "a bad restart_backoff is refused with the field named and changes nothing" {
	drv_run api PUT /v1/instances/bo1 "$(spec bo1 '.command = ["sleep", "1000"] | .restart_backoff = {initial_ms: 500, max_ms: 400}')"
	[ "${lines[-1]}" = "HTTP 422" ]
	[[ "$output" == *'"field": "restart_backoff.initial_ms"'* || "$output" == *'"field":"restart_backoff.initial_ms"'* ]]
	[[ "$output" == *"must not exceed max_ms (400)"* ]]
	drv_run api PUT /v1/instances/bo1 "$(spec bo1 '.command = ["sleep", "1000"] | .restart_backoff = {initial_ms: 0}')"
	[ "${lines[-1]}" = "HTTP 422" ]
	[[ "$output" == *"between 100 and 3600000"* ]]
	drv_run api GET /v1/instances/bo1
	[ "${lines[-1]}" = "HTTP 404" ]
}

@test "a higher revision replaces the instance; same revision is a no-op; lower is refused" {
	put_file rev '.command = ["sleep", "1000"] | .revision = 1'
	wait_for 10 phase_is rev running
	old=$(status_of rev .pid)
	put_file rev '.command = ["sleep", "1000"] | .revision = 1 | .env = {X: "same-revision"}'
	sleep 0.5
	[ "$(status_of rev .pid)" = "$old" ]
	put_file rev '.command = ["sleep", "2000"] | .revision = 2'
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/rev | jq -r '.revision,.phase' | tr '\n' ' ')\" = '2 running ' ]"
	new=$(status_of rev .pid)
	[ "$new" != "$old" ]
	[ ! -d "/proc/$old" ] || ! grep -q sleep "/proc/$old/comm"
	grep -q 2000 "/proc/$new/cmdline"
	drv_run api PUT /v1/instances/apirev "$(spec apirev '.command = ["sleep","1000"] | .revision = 5')"
	[[ "$output" == *"HTTP 201"* ]]
	drv_run api PUT /v1/instances/apirev "$(spec apirev '.command = ["sleep","1000"] | .revision = 4')"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *older* ]]
}

@test "kill -9 of droverd, then a restart, adopts every container untouched" {
	put_file a1 '.command = ["sleep", "1000"]'
	drv_run api PUT /v1/instances/b1 "$(spec b1 '.command = ["sleep","1000"]')"
	wait_for 10 phase_is a1 running
	wait_for 10 phase_is b1 running
	pa=$(status_of a1 .pid)
	pb=$(status_of b1 .pid)
	started=$(status_of a1 .started_at)
	restarts=$(status_of a1 .restarts)
	records=$(stat -c '%n %y' "$STATE"/instances/*.json)
	kill9_agent
	[ -d "/proc/$pa" ]
	start_agent
	# adoption rewrites no record that did not change (500 of them cost 1,000 fsyncs)
	[ "$(stat -c '%n %y' "$STATE"/instances/*.json)" = "$records" ]
	[ "$(status_of a1 .phase)" = running ]
	[ "$(status_of a1 .pid)" = "$pa" ]
	[ "$(status_of b1 .pid)" = "$pb" ]
	[ "$(status_of a1 .started_at)" = "$started" ]
	[ "$(status_of a1 .restarts)" = "$restarts" ]
	[ "$(pgrep -fc "sleep 1000" | head -1)" -ge 2 ]
	[ "$("$RUNC" --root "$RUN/runc" list -q | wc -l)" -eq 2 ]
	# the adopted instance's exit is still seen as an event
	kill -9 "$pa"
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/a1 | jq .restarts)\" = 1 ]"
	wait_for 10 phase_is a1 running
}

@test "droverd raises its open-file limit: two pidfds per instance, 500 need more than 1024" {
	limits() { awk '/^Max open files/ {print $4, $5}' "/proc/$AGENT_PID/limits"; }
	stop_agent
	ulimit -Sn 256
	ulimit -Hn 8192
	start_agent
	[ "$(limits)" = "8192 8192" ] # the soft limit up to the hard one
	stop_agent
	# below what --max-instances needs: raised with CAP_SYS_RESOURCE, else a warning says so
	ulimit -Hn 300
	start_agent --max-instances 1000
	if (($(printf '%d' "0x$(awk '/^CapEff/ {print $2}' /proc/self/status)") & (1 << 24))); then
		[ "$(limits)" = "2256 2256" ]
	else
		[ "$(limits)" = "300 300" ]
		grep -q "open-file limit 300 is below the 2256 that --max-instances 1000 needs" "$AGENT_LOG"
	fi
}

@test "an exit while droverd is down is picked up from the exit record" {
	put_file gone '.command = ["sleep", "1000"] | .restart = "never"'
	wait_for 10 phase_is gone running
	pid=$(status_of gone .pid)
	kill9_agent
	kill -9 "$pid"
	wait_for 5 test -f "$STATE/bundles/gone/exit.json"
	start_agent
	wait_for 5 phase_is gone exited
	[ "$(status_of gone .exit_code)" = 137 ]
}

@test "removing the spec file removes the container, its mounts, cgroup and runc state" {
	put_file rm1 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is rm1 running
	pid=$(status_of rm1 .pid)
	grep -q "$STATE/bundles/rm1/rootfs" /proc/self/mounts
	[ -d "/sys/fs/cgroup/memory$CGROOT/online/rm1" ]
	rm "$ASSIGN/rm1.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/rm1"
	! grep -q "$STATE/bundles/rm1" /proc/self/mounts
	[ ! -d "/sys/fs/cgroup/memory$CGROOT/online/rm1" ]
	[ ! -d "/sys/fs/cgroup/pids$CGROOT/online/rm1" ]
	[ ! -e "$RUN/runc/rm1" ]
	[ ! -e "$STATE/bundles/rm1" ]
	[ ! -e "$STATE/instances/rm1.json" ]
	wait_for 5 sh -c "[ ! -d /proc/$pid ]"
}

@test "droverctl rm stops with SIGTERM, then SIGKILL after the grace period" {
	drv_run api PUT /v1/instances/grace "$(spec grace '.command = ["sleep","1000"] | .stop_grace_ms = 300')"
	wait_for 10 phase_is grace running
	drv_run ctl rm grace
	[ "$status" -eq 0 ]
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/grace"
	grep -q "grace period over, sending SIGKILL id=grace" "$AGENT_LOG"
	drv_run ctl rm grace
	[ "$status" -ne 0 ]
	[[ "$output" == *"no instance 'grace'"* ]]
}

@test "a malformed spec file fails with InvalidSpec and leaves running instances alone" {
	put_file keep '.command = ["sleep", "1000"]'
	wait_for 10 phase_is keep running
	pid=$(status_of keep .pid)
	echo '{"id": "broken", "image": ' >"$ASSIGN/broken.json"
	wait_for 5 phase_is broken failed
	[ "$(status_of broken .reason)" = InvalidSpec ]
	[[ "$(status_of broken .message)" == *broken.json*malformed* ]]
	grep -q "assignment file '$ASSIGN/broken.json' is invalid" "$AGENT_LOG"
	spec bad '.resources = {memory: "lots"}' >"$ASSIGN/bad.json"
	wait_for 5 phase_is bad failed
	[[ "$(status_of bad .message)" == *resources.memory* ]]
	# a broken edit of a running instance's file keeps the instance as it is
	echo 'not json' >"$ASSIGN/keep.json"
	sleep 0.5
	[ "$(status_of keep .pid)" = "$pid" ]
	[ "$(status_of keep)" = running ]
	# fixing the file brings the broken one up
	put_file broken '.command = ["sleep", "1000"]'
	wait_for 10 phase_is broken running
}

@test "bad API bodies get clear 4xx errors and change nothing" {
	drv_run api PUT /v1/instances/ok1 "$(spec ok1 '.command = ["sleep","1000"]')"
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 phase_is ok1 running
	pid=$(status_of ok1 .pid)
	drv_run api PUT /v1/instances/j1 '{"id": "j1", '
	[[ "$output" == *"HTTP 400"* ]]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *malformed* ]]
	drv_run api PUT /v1/instances/j2 '{"id": "j2", "image": "oci:/x", "network": {"mode": "none"}, "resources": {"pids": -4}}'
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = resources.pids ]
	drv_run api PUT /v1/instances/j3 '{"id": "j3", "image": "Registry.Example/App:1", "network": {"mode": "none"}}'
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = image ]
	drv_run api PUT /v1/instances/j4 '{"id": "j4", "image": "oci:/x", "network": {"mode": "host", "ports": [{"container": 80, "host": 8080}]}}'
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = network.ports ]
	drv_run api PUT /v1/instances/Bad_Id '{}'
	[[ "$output" == *"HTTP 404"* ]]
	drv_run api GET /v1/instances/nope
	[[ "$output" == *"HTTP 404"* ]]
	head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
	drv_run curl -s --unix-socket "$SOCK" -X PUT --data-binary "@$T/big.json" -w '\nHTTP %{http_code}\n' \
		http://localhost/v1/instances/j5
	[[ "$output" == *"HTTP 413"* ]]
	drv_run ctl apply -f /dev/null
	[ "$status" -ne 0 ]
	[ "$(status_of ok1 .pid)" = "$pid" ]
	[ "$(curl -sf --unix-socket "$SOCK" http://localhost/v1/instances | jq length)" = 1 ]
}

@test "an image whose command cannot run fails with StartFailed and the runtime's reason" {
	put_file nope '.command = ["/no/such/binary"] | .restart = "never"'
	wait_for 10 phase_is nope failed
	[ "$(status_of nope .reason)" = StartFailed ]
	[[ "$(status_of nope .message)" == *no/such/binary* ]]
}

@test "API and dir instances coexist; the same id from a second source is refused" {
	put_file shared '.command = ["sleep", "1000"]'
	wait_for 10 phase_is shared running
	drv_run api PUT /v1/instances/shared "$(spec shared '.command = ["sleep","1000"] | .revision = 9')"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *"assignments dir"* ]]
	drv_run api DELETE /v1/instances/shared
	[[ "$output" == *"HTTP 409"* ]]
	spec viaapi '.command = ["sleep","1000"]' >"$T/viaapi.json"
	drv_run ctl apply -f "$T/viaapi.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *created* ]]
	wait_for 10 phase_is viaapi running
	drv_run ctl apply -f "$T/viaapi.json"
	[[ "$output" == *unchanged* ]]
	drv_run ctl inspect viaapi
	[ "$(echo "$output" | jq -r .source)" = api ]
	[ "$(status_of shared .source)" = dir ]
}

@test "two instances of one image share the layer store" {
	put_file s1 '.command = ["sleep", "1000"]'
	put_file s2 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is s1 running
	wait_for 10 phase_is s2 running
	[ "$(ls "$STATE/images/layers" | grep -vc '^\.')" -ge 1 ]
	l1=$(grep " $STATE/bundles/s1/rootfs " /proc/self/mounts | sed -E 's/.*lowerdir=([^,]*).*/\1/')
	l2=$(grep " $STATE/bundles/s2/rootfs " /proc/self/mounts | sed -E 's/.*lowerdir=([^,]*).*/\1/')
	[ -n "$l1" ]
	[ "$l1" = "$l2" ]
	# one copy of busybox on disk: the same inode seen through both rootfs
	[ "$(stat -c %i "$STATE/bundles/s1/rootfs/bin/busybox")" = "$(stat -c %i "$STATE/bundles/s2/rootfs/bin/busybox")" ] ||
		[ "$(stat -Lc %d:%i "${l1%%:*}/bin/busybox")" = "$(stat -Lc %d:%i "${l2%%:*}/bin/busybox")" ]
}

@test "spec files, env, workdir and user reach the container" {
	put_file cfg '.command = ["sh", "-c", "cat /etc/app.conf; echo M=$MODE; pwd; id -u; id -g; exec sleep 1000"] |
		.files = [{path: "/etc/app.conf", content: "k=v\n", mode: "0644"}] | .env = {MODE: "prod"} |
		.workdir = "/tmp" | .user = "1000:1000"'
	wait_for 10 phase_is cfg running
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs cfg | grep -q M=prod"
	drv_run ctl logs cfg
	[ "${lines[0]}" = k=v ]
	[ "${lines[1]}" = M=prod ]
	[ "${lines[2]}" = /tmp ]
	[ "${lines[3]}" = 1000 ]
	[ "${lines[4]}" = 1000 ]
}

@test "GET /v1/node, /metrics and /v1/events answer" {
	put_file ev '.command = ["sleep", "1000"]'
	wait_for 10 phase_is ev running
	drv_run curl -sf --unix-socket "$SOCK" http://localhost/metrics
	[ "$status" -eq 0 ]
	[[ "$output" == *'drover_instances{phase="running"} 1'* ]]
	[[ "$output" == *'drover_instance_restarts_total{id="ev"} 0'* ]]
	# a duration, whatever it is on this machine: figures belong in benchmarks, not in tests
	[[ "$output" =~ drover_instance_start_seconds\{id=\"ev\"\}\ [0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)? ]]
	[[ "$output" == *"drover_agent_resident_memory_bytes "* ]]
	drv_run api GET /v1/node
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq -r .instances.total)" = 1 ]
	drv_run api GET "/v1/events?after=0"
	[ "$(echo "${lines[0]}" | jq '[.events[] | select(.id == "ev" and .status.phase == "running")] | length')" -ge 1 ]
	last=$(echo "${lines[0]}" | jq .last)
	# a long-poll returns as soon as something changes
	(sleep 0.5; rm "$ASSIGN/ev.json") &
	drv_run api GET "/v1/events?after=$last&wait=10"
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq '.events | length')" -ge 1 ]
	# a sequence number from a previous agent's life does not make the client wait
	drv_run api GET "/v1/events?after=999999&wait=10"
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq '.events | length')" -ge 1 ]
}

@test "a layout rebuilt under the same reference is resolved again on the next start" {
	put_file img '.command = ["sleep", "1000"] | .revision = 1'
	wait_for 10 phase_is img running
	d1=$(status_of img .image_digest)
	# same path and tag, new content: an extra layer on top
	mkdir -p "$T/extra/etc"
	echo v2 >"$T/extra/etc/version"
	cp -a "$IMAGE_DIR" "$T/image2"
	"$REPO_ROOT/demo/build-image.sh" "$T/image2" latest --extra-layer "$T/extra" >/dev/null
	put_file img ".command = [\"sh\", \"-c\", \"cat /etc/version; exec sleep 1000\"] | .revision = 2 | .image = \"oci:$T/image2:latest\""
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/img | jq -r '.revision,.phase' | tr '\n' ' ')\" = '2 running ' ]"
	d2=$(status_of img .image_digest)
	[ "$d1" != "$d2" ]
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs img | grep -qx v2"
	# rebuild image2 in place without the extra layer: the cached resolution must not be reused
	"$REPO_ROOT/demo/build-image.sh" "$T/image2" latest >/dev/null
	put_file img ".command = [\"sh\", \"-c\", \"cat /etc/version || echo none; exec sleep 1000\"] | .revision = 3 | .image = \"oci:$T/image2:latest\""
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/img | jq -r '.revision,.phase' | tr '\n' ' ')\" = '3 running ' ]"
	[ "$(status_of img .image_digest)" = "$d1" ]
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs img | grep -qx none"
}

@test "renaming a spec file keeps the instance owned by the new file" {
	put_file mv1 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is mv1 running
	mv "$ASSIGN/mv1.json" "$ASSIGN/renamed.json"
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/mv1 | jq -r '.phase,.source_file' | tr '\n' ' ')\" = 'running renamed.json ' ]"
	rm "$ASSIGN/renamed.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/mv1"
}

@test "a missing or corrupted image fails with ImagePullFailed and a clear message" {
	put_file noimg '.image = "oci:/nonexistent/layout:latest" | .command = ["true"] | .restart = "never"'
	wait_for 10 phase_is noimg failed
	[ "$(status_of noimg .reason)" = ImagePullFailed ]
	[[ "$(status_of noimg .message)" == */nonexistent/layout* ]]
	# flip a byte in the layer blob of a copy of the image: the digest check refuses it
	cp -a "$IMAGE_DIR" "$T/bad"
	layer=$(jq -r '.layers[0].digest' "$T/bad/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/bad/index.json" | cut -d: -f2)" | cut -d: -f2)
	printf 'X' | dd of="$T/bad/blobs/sha256/$layer" bs=1 seek=100 conv=notrunc status=none
	# a fresh state dir so the good copy's layer is not already in the store; the spec goes in
	# while the agent is down, so no pull of it is writing into the store as it is removed
	stop_agent
	rm -rf "$STATE/images"
	put_file badimg ".image = \"oci:$T/bad:latest\" | .command = [\"true\"] | .restart = \"never\""
	start_agent
	wait_for 10 phase_is badimg failed
	[ "$(status_of badimg .reason)" = ImagePullFailed ]
	[[ "$(status_of badimg .message)" == *"$layer"* ]]
	[ -z "$(ls "$STATE/images/layers" 2>/dev/null | grep -v '^\.')" ]
}

@test "a drover-shim that cannot be exec'd fails the start with the exec error" {
	stop_agent
	mkdir -p "$T/bin"
	cp "$SHIM" "$T/bin/drover-shim"
	start_agent --shim "$T/bin/drover-shim"
	# gone after the agent checked it at start (an upgrade half done, a mistaken cleanup)
	rm "$T/bin/drover-shim"
	put_file noshim '.command = ["sleep", "1000"] | .restart = "never"'
	wait_for 10 phase_is noshim failed
	[ "$(status_of noshim .reason)" = StartFailed ]
	[ "$(status_of noshim .message)" = "cannot exec drover-shim at $T/bin/drover-shim: No such file or directory" ]
	grep -q "cannot exec drover-shim at $T/bin/drover-shim: No such file or directory" "$AGENT_LOG"
	# not a program at all
	printf '\001\002 not a program\n' >"$T/bin/drover-shim"
	chmod 0755 "$T/bin/drover-shim"
	put_file junkshim '.command = ["sleep", "1000"] | .restart = "never"'
	wait_for 10 phase_is junkshim failed
	[ "$(status_of junkshim .message)" = "cannot exec drover-shim at $T/bin/drover-shim: Exec format error" ]
	# nothing was started for either
	[ -z "$(ls "$RUN/runc" 2>/dev/null)" ]
}

@test "a droverd copied without a drover-shim next to it refuses to start and says so" {
	stop_agent
	mkdir -p "$T/bin"
	cp "$DROVERD" "$DROVER_IMAGE" "$T/bin/"
	drv_run timeout 10 "$T/bin/droverd" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--assignments-dir "$ASSIGN" --cgroup-root "$CGROOT" --bridge "$NET_BR" --subnet "$NET_SUBNET" \
		--nft-table "$NFT_TABLE"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *"drover-shim not found next to droverd (use --shim)"* ]]
	[ ! -S "$SOCK" ]
}
