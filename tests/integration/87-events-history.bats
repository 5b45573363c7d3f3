#!/usr/bin/env bats
# Events (persisted seq, 410, long-poll deadlines, droverctl events -f) and spec history.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	start_agent
}

teardown() {
	[ -z "${FOLLOW_PID:-}" ] || kill "$FOLLOW_PID" 2>/dev/null || true
	drv_teardown
}

last_seq() {
	curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=0" | jq .last
}

@test "event seq continues above the last one seen after an agent restart (also after kill -9)" {
	put_file e1 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is e1 running
	s1=$(last_seq)
	[ "$s1" -ge 2 ]
	stop_agent
	start_agent
	# the kept events survive the restart: a client continues where it was
	drv_run api GET "/v1/events?after=$((s1 - 1))"
	[ "$(echo "${lines[0]}" | jq '.events[0].seq')" = "$s1" ]
	put_file e2 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is e2 running
	s2=$(last_seq)
	[ "$s2" -gt "$s1" ]
	[ "$(curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=$s1" | jq '.events[0].seq')" = $((s1 + 1)) ]
	kill9_agent
	start_agent
	rm "$ASSIGN/e2.json"
	wait_for 10 sh -c "curl -sf --unix-socket '$SOCK' 'http://localhost/v1/events?after=$s2' | jq -e '.events[] | select(.id == \"e2\" and .phase == \"removed\")'"
	s3=$(curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=$s2" | jq '.events[0].seq')
	[ "$s3" -eq $((s2 + 1)) ]
	# every seq ever handed out is unique in the journal
	[ "$(jq -r .seq "$STATE/events/journal" | sort -n | uniq -d | wc -l)" -eq 0 ]
}

@test "an after older than the kept window gets 410 Gone; droverctl events skips with a notice" {
	put_file g1 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is g1 running
	s=$(last_seq)
	stop_agent
	# as if 5000 events had happened since (the agent keeps the last 1024): a reservation far ahead,
	# written by another boot, so the next agent continues above it
	echo "$((s + 5000)) another-boot" >"$STATE/events/reserved"
	start_agent
	put_file g2 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is g2 running
	first=$(curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=$((s + 5000))" | jq '.events[0].seq')
	[ "$first" -eq $((s + 5001)) ]
	drv_run api GET "/v1/events?after=1"
	[[ "$output" == *"HTTP 200"* ]] # seq 1 is still kept (the window is 1024 events)
	# drop the old journal lines, as compaction does once more than the window is kept
	stop_agent
	jq -c "select(.seq > $s)" "$STATE/events/journal" >"$T/j" && cp "$T/j" "$STATE/events/journal"
	start_agent
	drv_run api GET "/v1/events?after=1"
	[[ "$output" == *"HTTP 410"* ]]
	[ "$(echo "${lines[0]}" | jq .first)" -eq $((s + 5001)) ]
	drv_run ctl events
	[ "$status" -eq 0 ]
	[[ "$output" == *"no longer kept"* ]]
	[[ "$output" == *g2* ]]
}

@test "a long-poll with no event answers when wait runs out; log writes do not wake it" {
	put_file chatty '.command = ["sh", "-c", "while :; do echo tick; sleep 0.1; done"]'
	wait_for 10 phase_is chatty running
	# a follower of the chatty log: its writes wake log followers, never the event long-poll
	"$DROVERCTL" --socket "$SOCK" logs -f chatty >"$T/chatty.out" 2>&1 &
	FOLLOW_PID=$!
	wait_for 5 grep -q tick "$T/chatty.out"
	s=$(last_seq)
	start=$(date +%s%N)
	drv_run api GET "/v1/events?after=$s&wait=2"
	end=$(date +%s%N)
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq '.events | length')" -eq 0 ]
	ms=$(((end - start) / 1000000))
	echo "answered in $ms ms" >&2
	[ "$ms" -ge 1900 ]
	[ "$ms" -lt 4500 ] # ~2 s; slack for a loaded machine
	# and one answers as soon as an event arrives, well before its wait
	(sleep 0.5; rm "$ASSIGN/chatty.json") &
	start=$(date +%s%N)
	drv_run api GET "/v1/events?after=$s&wait=20"
	end=$(date +%s%N)
	[ "$(echo "${lines[0]}" | jq '.events | length')" -ge 1 ]
	[ $(((end - start) / 1000000)) -lt 5000 ]
}

@test "droverctl events -f follows new events, each once" {
	"$DROVERCTL" --socket "$SOCK" events -f -o json >"$T/follow.out" 2>&1 &
	FOLLOW_PID=$!
	put_file fa '.command = ["sleep", "1000"]'
	wait_for 10 phase_is fa running
	wait_for 5 grep -q '"id":"fa".*"phase":"running"' "$T/follow.out"
	rm "$ASSIGN/fa.json"
	wait_for 10 grep -q '"id":"fa".*"phase":"removed"' "$T/follow.out"
	kill "$FOLLOW_PID"
	FOLLOW_PID=""
	[ "$(jq -r .seq "$T/follow.out" | sort -n | uniq -d | wc -l)" -eq 0 ]
	# one change, one event: an exit is not published twice (once as exited, once again unchanged)
	[ "$(jq -c 'select(.id == "fa") | [.phase, .reason, .status.restarts]' "$T/follow.out" | uniq -d | wc -l)" -eq 0 ]
}

@test "history lists the revisions an instance ran, newest first, and survives a restart" {
	for rev in 1 2 3; do
		put_file hi ".command = [\"sleep\", \"1000\"] | .revision = $rev"
		wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/hi | jq .revision)\" = $rev ]"
		wait_for 10 phase_is hi running
	done
	drv_run api GET /v1/instances/hi/history
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq -c '[.[].revision]')" = '[3,2,1]' ]
	[ "$(echo "${lines[0]}" | jq -r '.[0].end')" = current ]
	[ "$(echo "${lines[0]}" | jq -r '.[1].end')" = replaced ]
	[ "$(echo "${lines[0]}" | jq -r '.[2].source')" = dir ]
	[ "$(echo "${lines[0]}" | jq -r '.[1].spec.revision')" = 2 ]
	stop_agent
	start_agent
	drv_run ctl history hi
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == REVISION* ]]
	[[ "${lines[1]}" == 3* ]]
	[[ "${lines[2]}" == 2*replaced* ]]
	[[ "${lines[3]}" == 1*replaced* ]]
	drv_run ctl history -o json hi
	[ "$(echo "$output" | jq length)" = 3 ]
	# how a run ended: an exit code and reason on the newest entry
	put_file hi '.command = ["sh", "-c", "exit 4"] | .revision = 4 | .restart = "never"'
	wait_for 10 phase_is hi exited
	drv_run ctl history -o json hi
	[ "$(echo "$output" | jq -r '.[0].end')" = exited ]
	[ "$(echo "$output" | jq -r '.[0].exit_code')" = 4 ]
	[ "$(echo "$output" | jq -r '.[0].reason')" = Error ]
}

@test "--history-limit keeps only the newest entries" {
	stop_agent
	start_agent --history-limit 2
	for rev in 1 2 3; do
		put_file hl ".command = [\"sleep\", \"1000\"] | .revision = $rev"
		wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/hl | jq .revision)\" = $rev ]"
	done
	wait_for 10 phase_is hl running
	drv_run api GET /v1/instances/hl/history
	[ "$(echo "${lines[0]}" | jq -c '[.[].revision]')" = '[3,2]' ]
	rm "$ASSIGN/hl.json"
	wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://localhost/v1/instances/hl/history)\" = 404 ]"
	[ ! -e "$STATE/history/hl.json" ]
}
