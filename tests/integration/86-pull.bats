#!/usr/bin/env bats
# Pull: droverd --control-plane long-polls the fixture for its desired set and reports status.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	NODE="n$UNIQ"
	cp_start
}

teardown() {
	cp_stop
	drv_teardown
}

gone() { # gone ID: the agent no longer knows ID
	[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://localhost/v1/instances/$1")" = 404 ]
}

@test "a change on the control plane converges; reports carry node, instances and events" {
	cp_set 1 pa
	start_pull_agent
	wait_for 10 phase_is pa running
	[ "$(status_of pa .source)" = control-plane ]
	cp_set 2 pb
	wait_for 10 phase_is pb running
	wait_for 10 gone pa
	[ "$(jq .revision "$STATE/sources/control-plane.json")" = 2 ]
	# the report: node status, every instance, the events (pb running among them)
	wait_for 5 sh -c "[ \"\$(curl -sf http://127.0.0.1:$CP_CTL/nodes/$NODE/status | jq -r '.[-1].instances[] | select(.id == \"pb\") | .phase')\" = running ]"
	last=$(cp_posts | jq -c '.[-1]')
	[ "$(echo "$last" | jq -r .node.name)" = "$NODE" ]
	[ "$(cp_events 'select(.id == "pb" and .phase == "running") | .seq' | wc -l)" -eq 1 ]
	[ "$(cp_events 'select(.id == "pa" and .phase == "removed") | .seq' | wc -l)" -eq 1 ]
	# a heartbeat every --status-interval (1 s here) with nothing changing
	n=$(cp_posts | jq length)
	sleep 2.5
	[ "$(cp_posts | jq length)" -ge $((n + 2)) ]
	[ "$(grep -c 'control plane connected' "$AGENT_LOG")" -eq 1 ]
	# an id the assignments dir owns is refused visibly in the report, naming the owner
	put_file mine '.command = ["sleep", "1000"]'
	wait_for 10 phase_is mine running
	cp_set 3 pb mine
	wait_for 10 sh -c "curl -sf http://127.0.0.1:$CP_CTL/nodes/$NODE/status | jq -e '.[-1].instances[] | select(.id == \"mine\" and .reason == \"InvalidSpec\" and (.message | test(\"assignments dir\")))'"
	[ "$(status_of mine .phase)" = running ]
	[ "$(status_of mine .source)" = dir ]
}

# An outage (8 s here instead of 30: the agent's retries back off to at most 10 s, so what matters
# is that the outage spans several retries) while one instance exits and another starts.
@test "the control plane away while an instance exits and another starts: both arrive once, in order" {
	cp_set 1 keep
	start_pull_agent
	wait_for 10 phase_is keep running
	wait_for 5 sh -c "[ \"\$(curl -sf http://127.0.0.1:$CP_CTL/nodes/$NODE/status | jq '.[-1].events | length')\" = 0 ]"
	cp_mode down
	put_file brief '.command = ["sh", "-c", "sleep 2; exit 3"] | .restart = "never"'
	wait_for 10 phase_is brief exited
	sleep 4
	cp_mode ok
	wait_for 20 sh -c "curl -sf http://127.0.0.1:$CP_CTL/nodes/$NODE/status | jq -e '[.[].events[] | select(.id == \"brief\" and .phase == \"exited\")] | length == 1'"
	run_seq=$(cp_events 'select(.id == "brief" and .phase == "running") | .seq')
	exit_seq=$(cp_events 'select(.id == "brief" and .phase == "exited") | .seq')
	[ "$(echo "$run_seq" | wc -l)" -eq 1 ]
	[ "$exit_seq" -gt "$run_seq" ]
	[ "$(cp_events 'select(.id == "brief" and .phase == "exited") | .status.exit_code')" = 3 ]
	# every seq once, ascending in the order posted
	seqs=$(cp_events '.seq')
	[ "$(echo "$seqs" | sort -n | uniq | tr '\n' ' ')" = "$(echo "$seqs" | tr '\n' ' ')" ]
	[ "$(grep -c 'control plane lost' "$AGENT_LOG")" -eq 1 ]
	# "back" needs the long-poll working again too, which may still be in its back-off
	wait_for 25 grep -q 'control plane back' "$AGENT_LOG"
	[ "$(grep -c 'control plane back' "$AGENT_LOG")" -eq 1 ]
}

@test "agent killed -9 while the control plane is away: nothing sent twice as new, nothing lost" {
	cp_set 1 ka
	start_pull_agent
	wait_for 10 phase_is ka running
	wait_for 5 sh -c "[ \"\$(curl -sf http://127.0.0.1:$CP_CTL/nodes/$NODE/status | jq '.[-1].events | length')\" = 0 ]"
	before=$(cp_events '.seq' | sort -n | tail -1)
	pid=$(status_of ka .pid)
	cp_mode down
	put_file kb '.command = ["sleep", "1000"]'
	wait_for 10 phase_is kb running
	kill9_agent
	start_pull_agent
	# the held set keeps ka running while the control plane is away
	sleep 1
	[ "$(status_of ka .pid)" = "$pid" ]
	[ "$(status_of ka .phase)" = running ]
	cp_mode ok
	wait_for 20 sh -c "curl -sf http://127.0.0.1:$CP_CTL/nodes/$NODE/status | jq -e '[.[].events[] | select(.id == \"kb\" and .phase == \"running\")] | length == 1'"
	seqs=$(cp_events '.seq')
	[ "$(echo "$seqs" | sort -n | uniq -d | wc -l)" -eq 0 ]
	[ "$(cp_events "select(.id == \"kb\") | .seq" | sort -n | head -1)" -gt "$before" ]
}

@test "junk, 500, a 2 GiB body and a cut stream from the control plane leave instances untouched" {
	cp_set 1 ja
	start_pull_agent
	wait_for 10 phase_is ja running
	pid=$(status_of ja .pid)
	for mode in junk fail big halfclose; do
		n=$(cp_polls)
		# the agent may be in its back-off from the previous mode (at most 10 s plus jitter), and a
		# poll in a bad mode may last until its own deadline: two of them fit in 60 s by the clock
		wait_for 60 sh -c "[ \$(curl -sf http://127.0.0.1:$CP_CTL/stats | jq .polls) -gt $n ]"
		cp_mode "$mode"
		n=$(cp_polls)
		wait_for 60 sh -c "[ \$(curl -sf http://127.0.0.1:$CP_CTL/stats | jq .polls) -gt $((n + 1)) ]"
		cp_mode ok
		[ "$(status_of ja .pid)" = "$pid" ]
		[ "$(status_of ja .phase)" = running ]
	done
	grep -q 'answered junk' "$AGENT_LOG"
	grep -q 'answered HTTP 500' "$AGENT_LOG"
	grep -q 'larger than 16777216 bytes' "$AGENT_LOG"
	grep -Eq 'bytes remaining|transfer closed|Partial' "$AGENT_LOG"
	[ "$(jq .revision "$STATE/sources/control-plane.json")" = 1 ]
	wait_for 15 grep -q 'control plane back' "$AGENT_LOG"
	kill -0 "$AGENT_PID"
}

@test "TLS with a bearer token; a token file readable by others refuses to start" {
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=drover-test-ca" \
		-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$T/cp.key" -out "$T/cp.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$T/ext"
	openssl x509 -req -in "$T/cp.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
		-extfile "$T/ext" -out "$T/cp.pem" 2>/dev/null
	cp_stop
	cp_start --tls-cert "$T/cp.pem" --tls-key "$T/cp.key" --token s3cret
	CP_URL="https://127.0.0.1:$CP_PORT"
	printf 's3cret\n' >"$T/token"
	chmod 0644 "$T/token"
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--cgroup-root "$CGROOT" --bridge "$NET_BR" --nft-table "$NFT_TABLE" \
		--control-plane "$CP_URL" --control-plane-token-file "$T/token"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--control-plane-token-file '$T/token' has mode 0644"*"chmod 600"* ]]
	# refused at start, before anything was made: no cgroup, no state
	for d in /sys/fs/cgroup/*"$CGROOT" /sys/fs/cgroup/"$CGROOT"; do [ ! -e "$d" ]; done
	[ ! -e "$STATE/instances" ]
	chmod 0600 "$T/token"
	cp_set 1 ta
	start_pull_agent --control-plane-ca "$T/ca.pem" --control-plane-token-file "$T/token"
	wait_for 10 phase_is ta running
	wait_for 5 sh -c "curl -sf http://127.0.0.1:$CP_CTL/nodes/$NODE/status | jq -e 'length > 0'"
	run grep -q s3cret "$AGENT_LOG"
	[ "$status" -ne 0 ]
}
