#!/usr/bin/env bats
# The pushed set: PUT /v1/assignments replaces the API source's whole set.

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

# set_of REV ID...: a set of sleeping instances at revision REV (each instance at revision REV too).
set_of() {
	local rev=$1 id
	shift
	for id in "$@"; do
		spec "$id" ".command = [\"sleep\", \"1000\"] | .revision = $rev"
	done | jq -cs --argjson rev "$rev" '{revision: $rev, instances: .}'
}

@test "a pushed set converges; what left the set is stopped and removed" {
	drv_run api PUT /v1/assignments "$(set_of 1 pa pb)"
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq -c .created)" = '["pa","pb"]' ]
	wait_for 10 phase_is pa running
	wait_for 10 phase_is pb running
	[ "$(status_of pa .source)" = api ]
	pid_b=$(status_of pb .pid)
	# revision 2: pa replaced (instance revision 2), pb gone, pc new
	drv_run api PUT /v1/assignments "$(set_of 2 pa pc)"
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq -c .removed)" = '["pb"]' ]
	[ "$(echo "${lines[0]}" | jq -c .replaced)" = '["pa"]' ]
	wait_for 10 phase_is pc running
	wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://localhost/v1/instances/pb)\" = 404 ]"
	run kill -0 "$pid_b"
	[ "$status" -ne 0 ]
	[ ! -e "$RUN/runc/pb" ]
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/pa | jq .revision)\" = 2 ]"
	wait_for 10 phase_is pa running
	drv_run api GET /v1/assignments
	[ "$(echo "${lines[0]}" | jq .revision)" = 2 ]
	[ "$(echo "${lines[0]}" | jq -c '[.instances[].id]')" = '["pa","pc"]' ]
}

@test "a stale set revision gets 409, the same revision is a no-op, an invalid set changes nothing" {
	drv_run api PUT /v1/assignments "$(set_of 5 sa)"
	[[ "$output" == *"HTTP 200"* ]]
	wait_for 10 phase_is sa running
	drv_run api PUT /v1/assignments "$(set_of 4 sb)"
	[[ "$output" == *"HTTP 409"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = revision ]
	drv_run api PUT /v1/assignments "$(set_of 5 sb)"
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq -r .result)" = unchanged ]
	# the second instance has a bad memory quantity: 422 naming index and field, nothing changes
	bad=$(set_of 6 sa sc | jq -c '.instances[1].resources = {memory: "lots"}')
	drv_run api PUT /v1/assignments "$bad"
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = "instances[1].resources.memory" ]
	[ "$(echo "${lines[0]}" | jq -r .index)" = 1 ]
	drv_run api GET /v1/instances/sc
	[[ "$output" == *"HTTP 404"* ]]
	[ "$(status_of sa .revision)" = 5 ]
	drv_run api GET /v1/assignments
	[ "$(echo "${lines[0]}" | jq .revision)" = 5 ]
	# malformed JSON and a body that is not a set
	drv_run api PUT /v1/assignments '{"revision": 7, "instances": ['
	[[ "$output" == *"HTTP 400"* ]]
	drv_run api PUT /v1/assignments '{"revision": 7, "instances": {}, "extra": 1}'
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(status_of sa .phase)" = running ]
}

@test "an id of the assignments dir in a pushed set is refused, naming the owner" {
	put_file owned '.command = ["sleep", "1000"]'
	wait_for 10 phase_is owned running
	drv_run api PUT /v1/assignments "$(set_of 1 owned other)"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *"assignments dir"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = "instances[0].id" ]
	drv_run api GET /v1/instances/other
	[[ "$output" == *"HTTP 404"* ]]
	[ "$(status_of owned .source)" = dir ]
}

@test "per-instance PUT and DELETE edit the pushed set; the next set replaces them" {
	drv_run api PUT /v1/assignments "$(set_of 1 ea)"
	[[ "$output" == *"HTTP 200"* ]]
	drv_run api PUT /v1/instances/eb "$(spec eb '.command = ["sleep","1000"]')"
	[[ "$output" == *"HTTP 201"* ]]
	drv_run api GET /v1/assignments
	[ "$(echo "${lines[0]}" | jq -c '[.instances[].id] | sort')" = '["ea","eb"]' ]
	[ "$(echo "${lines[0]}" | jq .revision)" = 1 ]
	drv_run api DELETE /v1/instances/ea
	[[ "$output" == *"HTTP 202"* ]]
	drv_run api GET /v1/assignments
	[ "$(echo "${lines[0]}" | jq -c '[.instances[].id]')" = '["eb"]' ]
	wait_for 10 phase_is eb running
	drv_run api PUT /v1/assignments "$(set_of 2 ec)"
	[ "$(echo "${lines[0]}" | jq -c .removed)" = '["eb"]' ]
	wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://localhost/v1/instances/eb)\" = 404 ]"
}

@test "the pushed set survives an agent restart, and a kill -9 right after a push" {
	drv_run api PUT /v1/assignments "$(set_of 3 ka kb)"
	[[ "$output" == *"HTTP 200"* ]]
	wait_for 10 phase_is ka running
	wait_for 10 phase_is kb running
	pid_a=$(status_of ka .pid)
	stop_agent
	[ "$(jq .revision "$STATE/sources/api.json")" = 3 ]
	start_agent
	drv_run api GET /v1/assignments
	[ "$(echo "${lines[0]}" | jq .revision)" = 3 ]
	[ "$(status_of ka .pid)" = "$pid_a" ]
	drv_run api PUT /v1/assignments "$(set_of 2 ka)"
	[[ "$output" == *"HTTP 409"* ]]
	# held before it is applied: a push followed at once by kill -9 converges at the next start
	drv_run api PUT /v1/assignments "$(set_of 4 ka)"
	[[ "$output" == *"HTTP 200"* ]]
	kill9_agent
	start_agent
	wait_for 15 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://localhost/v1/instances/kb)\" = 404 ]"
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/ka | jq .revision)\" = 4 ]"
	wait_for 10 phase_is ka running
}
