#!/usr/bin/env bash
# The control-plane fixture (tests/fixtures/control-plane.py) for the pull tests.

# free_port: a TCP port nothing listens on (the fixture's and its control port).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# cp_start [fixture flags]: starts the fixture; sets CP_URL (http unless TLS flags are given).
cp_start() {
	CP_PORT=$(free_port)
	CP_CTL=$(free_port)
	[ "$CP_CTL" != "$CP_PORT" ] || CP_CTL=$(free_port)
	python3 "$REPO_ROOT/tests/fixtures/control-plane.py" --port "$CP_PORT" --control-port "$CP_CTL" "$@" \
		>"$T/cp.log" 2>&1 &
	CP_PID=$!
	CP_URL="http://127.0.0.1:$CP_PORT"
	wait_for 10 curl -sf "http://127.0.0.1:$CP_CTL/stats"
}

cp_stop() {
	[ -n "${CP_PID:-}" ] || return 0
	kill "$CP_PID" 2>/dev/null || true
	wait "$CP_PID" 2>/dev/null || true
	CP_PID=""
}

cp_ctl() { # cp_ctl METHOD PATH [BODY]
	if [ $# -gt 2 ]; then
		curl -sf -X "$1" --data-binary "$3" "http://127.0.0.1:$CP_CTL$2"
	else
		curl -sf -X "$1" "http://127.0.0.1:$CP_CTL$2"
	fi
}

cp_mode() {
	cp_ctl PUT /mode "{\"mode\": \"$1\"}" >/dev/null
}

cp_polls() {
	cp_ctl GET /stats | jq .polls
}

# cp_set REV ID...: serves {revision: REV, instances: [sleeping spec ID at revision REV ...]} to NODE.
cp_set() {
	local rev=$1 id
	shift
	for id in "$@"; do
		spec "$id" ".command = [\"sleep\", \"1000\"] | .revision = $rev"
	done | jq -cs --argjson rev "$rev" '{revision: $rev, instances: .}' | cp_set_json
}

# cp_set_json < SET: serves the set read from stdin.
cp_set_json() {
	cp_ctl PUT "/nodes/$NODE/assignments" "$(cat)" >/dev/null
}

# cp_posts: every status body the fixture received from this test's agent.
cp_posts() {
	cp_ctl GET "/nodes/$NODE/status"
}

# cp_events [jq filter on one event]: the events received, in the order posted, one compact line each.
cp_events() {
	cp_posts | jq -c ".[].events[] | ${1:-.} | select(. != null)"
}

start_pull_agent() {
	start_agent --node-name "$NODE" --control-plane "$CP_URL" --status-interval 1s "$@"
}
