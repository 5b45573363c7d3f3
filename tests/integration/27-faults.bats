#!/usr/bin/env bats
# Faults the agent survives and reports (issue 10 points 6 and 7): killed during a state-file write and
# during a container start (the test-only hook DROVER_CRASH_AT, common/crash.h), a killed shim, a full
# state filesystem, a runtime that hangs, a corrupt state record.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
}

teardown() {
	[ -z "${BATS_TEST_COMPLETED:-}" ] && [ -f "${AGENT_LOG:-}" ] && tail -40 "$AGENT_LOG" | sed "s/^/# /" >&3
	drv_teardown
}

sleeper() { # ID [jq-expr]: a PUT of a sleeping instance
	api PUT "/v1/instances/$1" "$(spec "$1" ".command = [\"sleep\", \"1000\"] | ${2:-.}")"
}

# count of the runtime's containers named ID
containers_of() {
	"$RUNC" --root "$RUN/runc" list -q | grep -cx "$1" || true
}

@test "a kill during a state-file write leaves no temp file behind after the restart" {
	start_agent
	drv_run sleeper a
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 phase_is a running
	kill9_agent
	# the next agent dies between writing a record's temp file and renaming it
	DROVER_CRASH_AT=state-write start_agent || true
	wait_for 10 sh -c "! kill -0 $AGENT_PID"
	AGENT_PID=""
	run sh -c "ls '$STATE'/*/*.tmp.* 2>/dev/null"
	[ -n "$output" ] # the crash did leave one
	start_agent
	run sh -c "ls '$STATE'/*/*.tmp.* 2>/dev/null"
	[ -z "$output" ]
	grep -q "removed 1 stale temp file" "$AGENT_LOG"
	[ "$(status_of a)" = running ]
}

@test "a kill while a container starts: the new agent adopts the start, no fake failure" {
	DROVER_CRASH_AT=spawn start_agent
	sleeper s1 >/dev/null || true # the agent dies right after spawning the shim
	wait_for 10 sh -c "! kill -0 $AGENT_PID"
	AGENT_PID=""
	start_agent
	wait_for 15 phase_is s1 running
	[ "$(status_of s1 .restarts)" = 0 ]
	[ "$(status_of s1 .reason)" = "" ]
	[ "$(status_of s1 .exit_code)" = null ]
	pid=$(status_of s1 .pid)
	[ -d "/proc/$pid" ]
	[ "$(containers_of s1)" = 1 ]
	grep -q "adopted a start the last agent began" "$AGENT_LOG"
	! grep -q "without an exit record" "$AGENT_LOG"
	sleep 1.5 # no restart under back-off follows
	[ "$(status_of s1 .pid)" = "$pid" ]
	[ "$(status_of s1 .restarts)" = 0 ]
}

@test "a kill before the shim exists: the start is begun again, not reported as failed" {
	DROVER_CRASH_AT=bundle start_agent
	sleeper s2 >/dev/null || true
	wait_for 10 sh -c "! kill -0 $AGENT_PID"
	AGENT_PID=""
	start_agent
	wait_for 15 phase_is s2 running
	[ "$(status_of s2 .restarts)" = 0 ]
	[ "$(containers_of s2)" = 1 ]
	! grep -q "without an exit record" "$AGENT_LOG"
}

@test "kill -9 of a shim: the container runs on, is watched, and its exit is reported" {
	start_agent
	sleeper k '.restart = "never"' >/dev/null
	wait_for 10 phase_is k running
	pid=$(status_of k .pid)
	shim=$(cat "$STATE/bundles/k/shim.pid")
	kill -9 "$shim"
	wait_for 10 sh -c "curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/k | jq -r .message | grep -q 'shim was killed'"
	[ "$(status_of k)" = running ]
	[ "$(status_of k .pid)" = "$pid" ]
	[ -d "/proc/$pid" ]
	# a restarted agent keeps watching it
	kill9_agent
	start_agent
	[ "$(status_of k)" = running ]
	[ "$(status_of k .pid)" = "$pid" ]
	# its exit is seen (the code is unknown: it is no child of ours any more)
	kill -9 "$pid"
	wait_for 10 phase_is k exited
	[[ "$(status_of k .message)" == *"exit code unknown"* ]]
	[ "$(containers_of k)" = 0 ]
}

@test "kill -9 of a shim, then a stop: the container is stopped and removed" {
	start_agent
	sleeper k2 >/dev/null
	wait_for 10 phase_is k2 running
	pid=$(status_of k2 .pid)
	kill -9 "$(cat "$STATE/bundles/k2/shim.pid")"
	wait_for 10 sh -c "curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/k2 | jq -r .message | grep -q 'shim was killed'"
	drv_run api DELETE /v1/instances/k2
	[[ "$output" == *"HTTP 202"* ]]
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/k2"
	wait_for 5 sh -c "[ ! -d /proc/$pid ] || grep -q '^State:[[:space:]]*Z' /proc/$pid/status"
	[ "$(containers_of k2)" = 0 ]
	[ ! -d "$STATE/bundles/k2" ]
}

@test "a full state filesystem: the agent serves, reports it, loses nothing written before" {
	mkdir -p "$STATE"
	mount -t tmpfs -o size=24m tmpfs "$STATE"
	start_agent --image-min-free 0
	sleeper a >/dev/null
	wait_for 10 phase_is a running
	cp "$STATE/instances/a.json" "$T/a.before"
	dd if=/dev/zero of="$STATE/fill" bs=1M 2>/dev/null || true
	dd if=/dev/zero of="$STATE/fill2" bs=4k 2>/dev/null || true
	drv_run sleeper b
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 sh -c "curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/b | jq -r .state_error | grep -q 'No space left on device'"
	curl -sf --unix-socket "$SOCK" http://localhost/v1/healthz
	[ "$(status_of a)" = running ]
	grep -q "cannot save state: .*No space left on device.*id=b" "$AGENT_LOG"
	cmp "$STATE/instances/a.json" "$T/a.before" # the earlier record is whole
	jq -e . "$STATE/instances/a.json" >/dev/null
	rm -f "$STATE/fill" "$STATE/fill2"
	# written again once there is room; b starts (after its failed start's back-off)
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/b | jq -r .state_error)\" = null ]"
	wait_for 20 phase_is b running
	wait_for 10 grep -q "the API's set is saved again" "$AGENT_LOG" # else a restart drops b
	kill9_agent
	start_agent
	[ "$(status_of a)" = running ]
	[ "$(status_of b)" = running ]
}

@test "a runtime that hangs: the start fails by a deadline, the agent keeps answering" {
	local n=$((RANDOM + 100000))
	cat >"$T/hang-runtime" <<EOF
#!/bin/sh
case " \$* " in *" run "*) exec sleep $n ;; esac
exec "$RUNC" "\$@"
EOF
	chmod +x "$T/hang-runtime"
	start_agent --runtime "$T/hang-runtime" --runtime-timeout 2s
	sleeper h '.restart = "never"' >/dev/null
	wait_for 2 phase_is h creating
	# the agent answers at once while the runtime hangs
	run timeout 1 curl -sf --unix-socket "$SOCK" http://localhost/v1/healthz
	[ "$status" -eq 0 ]
	wait_for 15 phase_is h failed
	[ "$(status_of h .reason)" = StartFailed ]
	[[ "$(status_of h .message)" == *"did not finish within 2000 ms"* ]]
	! pgrep -f "sleep $n"
	[ "$(containers_of h)" = 0 ]
}

@test "a runtime that fails: the start fails with its exit status" {
	cat >"$T/fail-runtime" <<EOF
#!/bin/sh
case " \$* " in *" run "*) exit 3 ;; esac
exec "$RUNC" "\$@"
EOF
	chmod +x "$T/fail-runtime"
	start_agent --runtime "$T/fail-runtime"
	sleeper f '.restart = "never"' >/dev/null
	wait_for 10 phase_is f failed
	[ "$(status_of f .reason)" = StartFailed ]
	[[ "$(status_of f .message)" == *"exit status 3"* ]]
	curl -sf --unix-socket "$SOCK" http://localhost/v1/healthz
}

@test "a truncated or corrupt state record is reported, not dropped, and the agent starts" {
	start_agent
	sleeper c1 >/dev/null
	wait_for 10 phase_is c1 running
	kill9_agent
	head -c 40 "$STATE/instances/c1.json" >"$T/c1" && cat "$T/c1" >"$STATE/instances/c1.json"
	echo 'not json at all' >"$STATE/instances/zz.json" # an id no source knows
	start_agent
	grep -q "cannot load state record '$STATE/instances/c1.json'" "$AGENT_LOG"
	grep -q "cannot load state record '$STATE/instances/zz.json'" "$AGENT_LOG"
	[ "$(status_of zz)" = failed ]
	[[ "$(status_of zz .message)" == *"$STATE/instances/zz.json"*unreadable* ]]
	# c1's spec is still in the pushed set: it runs again, one container of it
	wait_for 20 phase_is c1 running
	[ "$(containers_of c1)" = 1 ]
	jq -e .spec "$STATE/instances/c1.json" >/dev/null
	# a DELETE removes the placeholder and its file
	drv_run api DELETE /v1/instances/zz
	[[ "$output" == *"HTTP 20"* ]]
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/zz"
	[ ! -e "$STATE/instances/zz.json" ]
	# a PUT takes an unreadable record's id over
	echo '{"spec": {"id": ' >"$STATE/instances/zy.json"
	kill9_agent
	start_agent
	[ "$(status_of zy)" = failed ]
	drv_run sleeper zy
	[[ "$output" == *"HTTP 200"* ]]
	wait_for 10 phase_is zy running
}
