#!/usr/bin/env bats
# Health probes against real containers: readiness (http, tcp, exec), liveness restarts with
# LivenessFailed under the back-off, startup gating, probes from inside the instance's namespace
# (bridge and mode none), ready
# instances staying ready across kill -9 of droverd, and a 100 ms period that leaves no TIME_WAIT
# and no fd behind; "notify" readiness (READY=1 over NOTIFY_SOCKET, relayed by the shim), also
# across kill -9 of droverd. Probe traffic goes only to this test's own bridge and namespaces.

load helpers

SD_NOTIFY="$REPO_ROOT/${DROVER_BUILD:-build}/tests/sd-notify"

setup_file() {
	image_setup_file
	# the demo image plus the static sd-notify helper at /bin/sd-notify (busybox's nc has no
	# unix datagram mode)
	if [ -x "$SD_NOTIFY" ]; then
		local x="$BATS_FILE_TMPDIR/notify-layer"
		mkdir -p "$x/bin"
		cp "$SD_NOTIFY" "$x/bin/sd-notify"
		"$REPO_ROOT/demo/build-image.sh" "$BATS_FILE_TMPDIR/notify-image" latest --extra-layer "$x" >/dev/null
	fi
}

setup() {
	drv_setup
	start_agent
}

teardown() {
	drv_teardown
}

# events ID: the ready values of ID's events after SEQ (default 0), one per line as "phase ready health"
events_of() { # ID [AFTER]
	curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=${2:-0}" |
		jq -r --arg id "$1" '.events[] | select(.id == $id) | "\(.phase) \(.ready) \(.health) \(.reason)"'
}

ready_is() { # ID true|false
	[ "$(status_of "$1" .ready)" = "$2" ]
}

last_seq() {
	curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=0" | jq .last
}

in_ctr() { # ID CMD...: runs CMD in the container
	local id=$1
	shift
	"$RUNC" --root "$RUN/runc" exec "$id" "$@"
}

# An httpd on 8080 serving /www, in a bridge network; the page is made later by the test.
httpd_spec() { # ID [jq]
	spec "$1" ".network = {mode: \"bridge\"} | .command = [\"sh\", \"-c\", \"mkdir -p /www; exec httpd -f -p 8080 -h /www\"] | ${2:-.}"
}

@test "http readiness: not ready until the page appears, ready after it, not ready after it goes; events in order" {
	httpd_spec web '.health.readiness = {http: {port: 8080, path: "/index.html"}, interval_ms: 200, failure_threshold: 2}' >"$ASSIGN/web.json"
	wait_for 10 phase_is web running
	ip=$(status_of web .ip)
	# no page: 404, never ready
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/web | jq -r .probes.readiness.last.message)\" = 'HTTP 404' ]"
	sleep 0.5
	[ "$(status_of web .ready)" = false ]
	[ "$(status_of web .health)" = unhealthy ]
	[ "$(status_of web .probes.readiness.state)" = failing ]
	in_ctr web sh -c 'echo ok > /www/index.html'
	wait_for 5 ready_is web true
	[ "$(status_of web .health)" = healthy ]
	[ "$(status_of web .probes.readiness.last.message)" = "HTTP 200" ]
	[ "$(status_of web .probes.readiness.last.ok)" = true ]
	drv_run ctl ps
	[[ "${lines[0]}" == *PHASE*READY*HEALTH* ]]
	[[ "$output" == *web*running*true*healthy* ]]
	in_ctr web rm /www/index.html
	wait_for 5 ready_is web false
	[ "$(status_of web .probes.readiness.failures)" = 2 ]
	drv_run ctl inspect web
	[[ "$output" == *'"message": "HTTP 404"'* ]]
	# events: running and not ready, then ready (once), then not ready again; no flapping in between
	drv_run events_of web
	[[ "$output" == *"running false"*"running true healthy"*"running false unhealthy"* ]]
	[ "$(events_of web | grep -c '^running true')" -eq 1 ]
	[ "$(status_of web .restarts)" = 0 ]
	[ "$ip" = "$(status_of web .ip)" ]
}

@test "tcp liveness on a port the container closes: restart with LivenessFailed, counted, after the back-off" {
	spec live '.network = {mode: "bridge"} | .command = ["sh", "-c", "httpd -f -p 9000 & p=$!; sleep 2; kill $p; exec sleep 1000"] |
		.health.liveness = {tcp: {port: 9000}, interval_ms: 200, failure_threshold: 2} | .stop_grace_ms = 300' >"$ASSIGN/live.json"
	wait_for 10 phase_is live running
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/live | jq -r .health)\" = healthy ]"
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/live | jq -r .restarts)\" -ge 1 ]"
	# the exit said why, with a restart scheduled after the back-off
	ev=$(curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=0" |
		jq -c '[.events[] | select(.id == "live" and .phase == "exited")][0]')
	[ "$(echo "$ev" | jq -r .reason)" = LivenessFailed ]
	[[ "$(echo "$ev" | jq -r .status.message)" == *"liveness probe failed 2 times: connect "*":9000: connection refused"* ]]
	[ "$(echo "$ev" | jq -r .status.next_try_at)" != null ]
	fin=$(date -d "$(echo "$ev" | jq -r .status.finished_at)" +%s%N)
	next=$(date -d "$(echo "$ev" | jq -r .status.next_try_at)" +%s%N)
	[ $(((next - fin) / 1000000)) -ge 900 ] # the first back-off step: 1 s
	# it stopped through SIGTERM first: a stopping event with the reason
	drv_run events_of live
	[[ "$output" == *"running true healthy"*"stopping false unknown LivenessFailed"*"exited false unknown LivenessFailed"*"running true unknown"* ]]
	grep -q 'liveness probe failed 2 times' "$AGENT_LOG"
	# the new run started from unknown (the events above) and counts as a restart
	[ "$(status_of live .restarts)" -ge 1 ]
}

@test "exec readiness: test -f /tmp/ok through the runtime" {
	put_file ex '.command = ["sleep", "1000"] | .health.readiness = {exec: {command: ["/bin/busybox", "test", "-f", "/tmp/ok"]}, interval_ms: 1000, failure_threshold: 1}'
	wait_for 10 phase_is ex running
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/ex | jq -r .probes.readiness.last.message)\" = 'exit 1' ]"
	[ "$(status_of ex .ready)" = false ]
	[ "$(status_of ex .probes.readiness.kind)" = exec ]
	in_ctr ex touch /tmp/ok
	wait_for 10 ready_is ex true
	drv_run status_of ex .probes.readiness.last.message
	[ "$output" = "exit 0" ]
}

@test "an exec probe past its timeout is killed and counts as a failure" {
	put_file slow '.command = ["sleep", "1000"] | .health.readiness = {exec: {command: ["sleep", "5"]}, interval_ms: 1000, timeout_ms: 300, failure_threshold: 1}'
	wait_for 10 phase_is slow running
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/slow | jq -r .probes.readiness.last.message)\" = 'timed out after 300 ms' ]"
	# each probe's sleep was killed at its timeout, not left running in the container: were they
	# left, three runs in 3 s would show three
	sleep 3
	drv_run in_ctr slow ps
	[ "$(echo "$output" | grep -c 'sleep 5')" -le 1 ]
	[ "$(status_of slow .ready)" = false ]
}

@test "a startup probe gates liveness until it passes; a failing one restarts like liveness" {
	# the port opens after 2 s; liveness (threshold 1) would fail at once if it ran before that
	spec st '.network = {mode: "bridge"} | .command = ["sh", "-c", "sleep 2; exec httpd -f -p 8080 -h /"] |
		.health.startup = {tcp: {port: 8080}, interval_ms: 200, failure_threshold: 50} |
		.health.liveness = {tcp: {port: 8080}, interval_ms: 200, failure_threshold: 1}' >"$ASSIGN/st.json"
	wait_for 10 phase_is st running
	[ "$(status_of st .probes.liveness.last)" = null ]
	[ "$(status_of st .ready)" = false ] # readiness waits for startup too
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/st | jq -r .probes.startup.state)\" = passing ]"
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/st | jq -r .probes.liveness.state)\" = passing ]"
	[ "$(status_of st .ready)" = true ]
	[ "$(status_of st .health)" = healthy ]
	[ "$(status_of st .restarts)" = 0 ]
	# a startup probe that never passes: restarted with LivenessFailed
	spec nost '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .stop_grace_ms = 200 |
		.health.startup = {tcp: {port: 8080}, interval_ms: 200, failure_threshold: 3}' >"$ASSIGN/nost.json"
	wait_for 15 sh -c "curl -sf --unix-socket '$SOCK' 'http://localhost/v1/events?after=0' | jq -e '.events[] | select(.id == \"nost\" and .reason == \"LivenessFailed\" and .phase == \"exited\")'"
	[[ "$(events_of nost | grep exited | head -1)" == *LivenessFailed* ]]
	curl -sf --unix-socket "$SOCK" 'http://localhost/v1/events?after=0' |
		jq -r '.events[] | select(.id == "nost" and .phase == "exited") | .status.message' | grep -q 'startup probe failed 3 times'
}

@test "probes reach a mode-none instance inside its own namespace" {
	put_file nn '.command = ["sh", "-c", "echo ok > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"] |
		.health.readiness = {http: {port: 8080, path: "/"}, interval_ms: 200} |
		.health.liveness = {tcp: {port: 8080}, interval_ms: 200}'
	put_file nx '.command = ["sleep", "1000"] | .health.readiness = {tcp: {port: 8081}, interval_ms: 200, failure_threshold: 1}'
	wait_for 10 ready_is nn true
	[ "$(status_of nn .health)" = healthy ]
	[[ "$(status_of nn .probes.readiness.last.message)" == "HTTP "[23]* ]]
	[ "$(status_of nn .probes.liveness.last.message)" = "connected to 127.0.0.1:8080" ]
	# the host's own 127.0.0.1:8080 is not what answered: the container's namespace was probed
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/nx | jq -r .probes.readiness.last.message)\" = 'connect 127.0.0.1:8081: connection refused' ]"
	[ "$(status_of nx .ready)" = false ]
	[ "$(status_of nx .health)" = unhealthy ]
}

@test "bridge-mode probes come from inside the instance's own namespace, not over the bridge" {
	httpd_spec own '.command = ["sh", "-c", "mkdir -p /www; echo ok > /www/index.html; exec httpd -f -v -p 8080 -h /www"] |
		.health.readiness = {http: {port: 8080, path: "/index.html"}, interval_ms: 200}' >"$ASSIGN/own.json"
	wait_for 10 ready_is own true
	ip=$(status_of own .ip)
	[ "$(status_of own .probes.readiness.last.message)" = "HTTP 200" ]
	sleep 1
	drv_run ctl logs own
	echo "$output" >&2
	# httpd -v logs each client as ADDR:PORT: every probe came from the instance's own address (its
	# namespace's loopback path), none from the bridge's side of the veth
	n=$(grep -c ': response:' <<<"$output")
	[ "$n" -ge 3 ]
	[ "$(grep ': response:' <<<"$output" | grep -cE "^(\[::ffff:)?${ip//./\\.}\]?:")" -eq "$n" ]
}

@test "kill -9 of droverd with 5 ready instances: still ready after the restart, no restart, no ready:false event" {
	for n in 1 2 3 4 5; do
		httpd_spec "r$n" '.command = ["sh", "-c", "mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"] |
			.health.readiness = {http: {port: 8080, path: "/index.html"}, interval_ms: 300} |
			.health.liveness = {tcp: {port: 8080}, interval_ms: 300}' >"$ASSIGN/r$n.json"
	done
	for n in 1 2 3 4 5; do
		wait_for 15 ready_is "r$n" true
	done
	declare -A pids
	for n in 1 2 3 4 5; do
		pids[$n]=$(status_of "r$n" .pid)
	done
	seq=$(last_seq)
	kill9_agent
	start_agent
	for n in 1 2 3 4 5; do
		[ "$(status_of "r$n" .ready)" = true ]
		[ "$(status_of "r$n" .health)" = healthy ]
	done
	sleep 2 # several probe periods
	for n in 1 2 3 4 5; do
		[ "$(status_of "r$n" .ready)" = true ]
		[ "$(status_of "r$n" .restarts)" = 0 ]
		[ "$(status_of "r$n" .pid)" = "${pids[$n]}" ]
		[ "$(status_of "r$n" .probes.readiness.last.message)" = "HTTP 200" ]
	done
	drv_run sh -c "curl -sf --unix-socket '$SOCK' 'http://localhost/v1/events?after=$seq' | jq -c '[.events[] | select(.ready == false)]'"
	[ "$output" = "[]" ]
}

# A spec on the image with sd-notify, readiness by notify, as a non-root user.
notify_spec() { # ID COMMAND-STRING [jq]
	spec "$1" ".image = \"oci:$BATS_FILE_TMPDIR/notify-image:latest\" | .user = \"65534:65534\" |
		.health.readiness = {notify: true} | .command = [\"sh\", \"-c\", $(jq -n --arg c "$2" '$c')] | ${3:-.}"
}

shim_of() { # ID: the pid of the instance's shim
	cat "$STATE/bundles/$1/shim.pid"
}

@test "notify readiness: not ready until the service sends READY=1, ready then; events in order" {
	requires sd_notify
	notify_spec nt 'sleep 3; sd-notify STATUS=up READY=1; exec sleep 1000' >"$ASSIGN/nt.json"
	wait_for 10 phase_is nt running
	t0=${EPOCHREALTIME/[.,]/}
	[ "$(status_of nt .ready)" = false ]
	[ "$(status_of nt .health)" = unknown ]
	[ "$(status_of nt .probes.readiness.kind)" = notify ]
	[ "$(status_of nt .probes.readiness.state)" = unknown ]
	# the service, not root, can reach the socket, and finds it where NOTIFY_SOCKET says
	[ "$(in_ctr nt id -u)" = 65534 ]
	[ "$(in_ctr nt sh -c 'echo $NOTIFY_SOCKET')" = /run/drover/notify.sock ]
	# the mount is read-only: the container cannot replace the socket or add files
	run in_ctr nt touch /run/drover/x
	[ "$status" -ne 0 ]
	wait_for 10 ready_is nt true
	t1=${EPOCHREALTIME/[.,]/}
	echo "ready $(((t1 - t0) / 1000)) ms after running" >&2
	[ $((t1 - t0)) -ge 2000000 ] # the service said it only after its 3 s sleep
	[ "$(status_of nt .health)" = healthy ]
	[ "$(status_of nt .probes.readiness.last.message)" = READY=1 ]
	[ "$(status_of nt .probes.readiness.last.ok)" = true ]
	drv_run events_of nt
	[[ "$output" == *"running false unknown"*"running true healthy"* ]]
	[[ "$output" != *"running true healthy"*"running false"* ]]
	grep -q 'readiness probe passing: READY=1 id=nt' "$AGENT_LOG"
	# STOPPING=1 ends the readiness for this run, and a later READY=1 does not bring it back (the
	# shim has closed the socket: the send is refused)
	in_ctr nt sd-notify STOPPING=1
	wait_for 5 ready_is nt false
	[ "$(status_of nt .probes.readiness.last.message)" = STOPPING=1 ]
	run in_ctr nt sd-notify READY=1
	[[ "$output" == *"Connection refused"* ]]
	sleep 0.5
	[ "$(status_of nt .ready)" = false ]
	# a restart is a new run: not ready until the service says so again
	pid=$(status_of nt .pid)
	kill -9 "$pid"
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/nt | jq -r .restarts)\" = 1 ]"
	wait_for 10 phase_is nt running
	[ "$(status_of nt .pid)" != "$pid" ]
	[ "$(status_of nt .ready)" = false ]
	wait_for 10 ready_is nt true
}

@test "notify readiness: a service that never sends READY=1, or sends junk or a flood, stays not ready" {
	requires sd_notify
	notify_spec quiet 'exec sleep 1000' >"$ASSIGN/quiet.json"
	notify_spec junk 'sd-notify READY=0 ready=1 " READY=1" "READY=1 " STATUS=x; sd-notify -f 20000 X=1; exec sleep 1000' >"$ASSIGN/junk.json"
	wait_for 10 phase_is quiet running
	wait_for 10 phase_is junk running
	wait_for 10 grep -q '^X' "$STATE/bundles/junk/container.log" || true
	shim=$(shim_of junk)
	cpu0=$(awk '{print $14 + $15}' "/proc/$shim/stat")
	sleep 3
	for id in quiet junk; do
		[ "$(status_of "$id" .ready)" = false ]
		[ "$(status_of "$id" .health)" = unknown ]
		[ "$(status_of "$id" .probes.readiness.last)" = null ]
	done
	[ ! -e "$STATE/bundles/junk/notify.state" ]
	# another flood, now with the shim watched: it reads a bounded number of datagrams a second
	in_ctr junk sd-notify -f 50000 X=1
	cpu1=$(awk '{print $14 + $15}' "/proc/$shim/stat")
	echo "shim cpu ticks during the flood: $((cpu1 - cpu0))" >&2
	[ $((cpu1 - cpu0)) -le 20 ]
	# still listening after all that
	in_ctr junk sd-notify READY=1
	wait_for 5 ready_is junk true
	[ "$(status_of quiet .ready)" = false ]
}

@test "notify readiness across kill -9 of droverd: ready stays ready, READY=1 sent meanwhile is taken" {
	requires sd_notify
	notify_spec early 'sd-notify READY=1; exec sleep 1000' >"$ASSIGN/early.json"
	notify_spec late 'exec sleep 1000' >"$ASSIGN/late.json"
	wait_for 10 ready_is early true
	wait_for 10 phase_is late running
	[ "$(status_of late .ready)" = false ]
	pid=$(status_of early .pid)
	seq=$(last_seq)
	kill9_agent
	# said while no agent runs: the shim keeps it for the next one
	in_ctr late sd-notify READY=1
	wait_for 5 test -e "$STATE/bundles/late/notify.state"
	start_agent
	[ "$(status_of early .ready)" = true ]
	[ "$(status_of early .health)" = healthy ]
	[ "$(status_of early .pid)" = "$pid" ]
	[ "$(status_of early .restarts)" = 0 ]
	wait_for 5 ready_is late true
	sleep 1
	[ "$(status_of early .ready)" = true ]
	drv_run sh -c "curl -sf --unix-socket '$SOCK' 'http://localhost/v1/events?after=$seq' | jq -c '[.events[] | select(.ready == false and .id == \"early\")]'"
	[ "$output" = "[]" ]
	# the watch works in the new agent too
	in_ctr early sd-notify STOPPING=1
	wait_for 5 ready_is early false
}

@test "bad probe specs are refused with the field named" {
	drv_run api PUT /v1/instances/bad "$(spec bad '.health.readiness = {http: {port: 8080, path: "x"}}')"
	[ "${lines[-1]}" = "HTTP 422" ]
	[ "$(echo "${lines[0]}" | jq -r .field)" = health.readiness.http.path ]
	drv_run api PUT /v1/instances/bad "$(spec bad '.health.liveness = {tcp: {port: 1}, interval_ms: 50}')"
	[ "${lines[-1]}" = "HTTP 422" ]
	[ "$(echo "${lines[0]}" | jq -r .field)" = health.liveness.interval_ms ]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *"between 100 and"* ]]
	drv_run api GET /v1/instances/bad
	[ "${lines[-1]}" = "HTTP 404" ]
}

@test "a 100 ms http readiness period for 60 s leaves no TIME_WAIT socket and no fd behind" {
	httpd_spec fast '.command = ["sh", "-c", "mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"] |
		.health.readiness = {http: {port: 8080, path: "/index.html"}, interval_ms: 100} |
		.health.liveness = {tcp: {port: 8080}, interval_ms: 100}' >"$ASSIGN/fast.json"
	wait_for 10 ready_is fast true
	ip=$(status_of fast .ip)
	before=$(ls "/proc/$AGENT_PID/fd" | wc -l)
	m0=$(curl -sf --unix-socket "$SOCK" http://localhost/metrics | awk '/^drover_probe_results_total\{kind="http",outcome="success"\}/ {print $2}')
	sleep 60
	after=$(ls "/proc/$AGENT_PID/fd" | wc -l)
	m1=$(curl -sf --unix-socket "$SOCK" http://localhost/metrics | awk '/^drover_probe_results_total\{kind="http",outcome="success"\}/ {print $2}')
	echo "fds before=$before after=$after; http successes $m0 -> $m1" >&2
	[ "$after" -le "$before" ]
	[ $((m1 - m0)) -ge 500 ] # about 600 in 60 s
	# neither end keeps a TIME_WAIT: the probe closes with a reset
	[ "$(ss -Htan state time-wait dst "$ip" | wc -l)" -eq 0 ]
	[ "$(nsenter --net="$RUN/netns/fast" ss -Htan state time-wait | wc -l)" -eq 0 ]
	[ "$(status_of fast .ready)" = true ]
	[ "$(status_of fast .probes.readiness.failures)" = 0 ]
	# the latency histogram is there
	curl -sf --unix-socket "$SOCK" http://localhost/metrics | grep -q '^drover_probe_duration_seconds_count{kind="http"} [1-9]'
	curl -sf --unix-socket "$SOCK" http://localhost/metrics | grep -q '^drover_probe_duration_seconds_bucket{kind="tcp",le="+Inf"} [1-9]'
}
