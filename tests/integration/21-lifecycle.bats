#!/usr/bin/env bats
# The lifecycle across kill -9 of the agent: an acknowledged intent is on disk before the answer, and
# a restart's back-off is continued, not grown, by a restarted agent.

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

# The container's PID 1 ignores SIGTERM: it stays stopping for the whole grace period.
@test "a replacement PUT while the instance stops survives kill -9 of the agent" {
	id="lc$$r$RANDOM"
	drv_run api PUT "/v1/instances/$id" "$(spec "$id" '.command = ["sleep", "1000"] | .revision = 1 | .stop_grace_ms = 3000')"
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 phase_is "$id" running
	drv_run api DELETE "/v1/instances/$id"
	[[ "$output" == *"HTTP 202"* ]]
	[ "$(status_of "$id")" = stopping ]
	drv_run api PUT "/v1/instances/$id" "$(spec "$id" '.command = ["sleep", "1000"] | .revision = 2')"
	[[ "$output" == *"HTTP 200"* ]]
	# the record on disk carries the replacement, not the removal
	[ "$(jq .removing "$STATE/instances/$id.json")" = false ]
	[ "$(jq .next_spec.revision "$STATE/instances/$id.json")" = 2 ]
	kill9_agent
	start_agent
	wait_for 15 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/$id | jq -r '.revision, .phase' | tr '\n' ' ')\" = '2 running ' ]"
	grep -q "replacing revision 1 with 2 id=$id" "$AGENT_LOG"
	[ "$(grep -c "removed id=$id" "$AGENT_LOG")" = 0 ]
	[ "$(status_of "$id" .restarts)" = 0 ]
}

@test "a removal acknowledged while the instance stops is carried out after kill -9 of the agent" {
	id="lc$$d$RANDOM"
	drv_run api PUT "/v1/instances/$id" "$(spec "$id" '.command = ["sleep", "1000"] | .revision = 1 | .stop_grace_ms = 3000')"
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 phase_is "$id" running
	drv_run api DELETE "/v1/instances/$id"
	[[ "$output" == *"HTTP 202"* ]]
	[ "$(jq .removing "$STATE/instances/$id.json")" = true ]
	kill9_agent
	start_agent
	wait_for 15 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://localhost/v1/instances/$id)\" = 404 ]"
	[ ! -e "$STATE/instances/$id.json" ]
}

# Exits (or failed starts) of id, and restart decisions of the policy for id, in the agent log.
tried() { grep -Ec "(exited code=-?[0-9]+ oom=[01]|start failed: .*) id=$1\$" "$AGENT_LOG"; }
decided() { grep -Ec "restarting in [0-9]+ ms \(policy always\) id=$1\$" "$AGENT_LOG"; }

# restart: always with sh -c 'exit 1': each agent restart used to decide a restart again with a doubled
# back-off (2000 ... 32000 ms) though none was tried. Now the schedule the last agent persisted is
# kept, and every restart decision follows an exit.
@test "five kill -9/start cycles of the agent keep a restart's back-off and its due time" {
	id="lc$$b$RANDOM"
	put_file "$id" '.command = ["sh", "-c", "exit 1"] | .restart = "always"'
	wait_for 10 grep -q "restarting in 1000 ms (policy always) id=$id" "$AGENT_LOG"
	wait_for 5 sh -c "curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/$id | jq -e .next_try_at"
	for n in 1 2 3 4 5; do
		kill9_agent
		start_agent
	done
	before=$(tried "$id")
	# a restart is tried after the cycles, and it ran
	wait_for 40 sh -c "[ \$(grep -Ec '(exited code=-?[0-9]+ oom=[01]|start failed: .*) id=$id\$' '$AGENT_LOG') -gt $before ]"
	wait_for 5 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/$id | jq .restarts) -ge 1 ]"
	grep "id=$id" "$AGENT_LOG" | grep -E "restart|exited|start failed" >&2
	# every decision follows an exit (an exit is logged before its decision): none comes from an
	# agent restart alone
	d=$(decided "$id")
	t=$(tried "$id")
	[ "$d" -ge 2 ]
	[ "$d" -le "$t" ]
	[ "$(grep -c "restart due in [0-9]* ms (back-off [0-9]* ms kept from the last agent) id=$id" "$AGENT_LOG")" -ge 1 ]
}
