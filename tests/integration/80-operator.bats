#!/usr/bin/env bats
# What an operator meets on the first day: one agent per run dir, state dir and nftables table;
# flags checked at start; broken edits and back-off visible in inspect and events; a clear
# message for a container killed after its grace period; `ip netns` names; droverctl exec;
# droverd --cleanup; the generated example config; drover-shim --help. Traffic stays on
# loopback and inside the bridge and namespaces the tests made.
# SC2030/SC2031: each @test runs in its own subshell on purpose; SC2016: commands for the container.
# shellcheck disable=SC2030,SC2031,SC2016

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	SECOND=""
}

teardown() {
	if [ -n "$SECOND" ]; then
		kill "$SECOND" 2>/dev/null
		wait "$SECOND" 2>/dev/null
	fi
	rm -f "/run/netns/$NET_BR-"* "/run/drover-nft/${NFT_TABLE}_2.lock" 2>/dev/null
	drv_teardown
}

# An httpd instance in bridge mode serving TEXT on 8080.
web_spec() { # ID TEXT [jq]
	spec "$1" ".network = {mode: \"bridge\"} | .command = [\"sh\", \"-c\", \"mkdir -p /www; echo $2 > /www/index.html; exec httpd -f -p 8080 -h /www\"] | ${3:-.}"
}

# second_flags: a droverd next to the test's own, on its own dirs, bridge, subnet and table;
# flags given after these win.
second_flags() {
	mkdir -p "$T/s2/assign"
	S2=(--config "$T/droverd.conf" --state-dir "$T/s2/state" --run-dir "$T/s2/run"
		--assignments-dir "$T/s2/assign" --cgroup-root "$CGROOT-2" --bridge "${NET_BR:0:13}x2"
		--subnet "$NET_PREFIX.128/25" --nft-table "${NFT_TABLE}_2")
}

second_agent() { # expects the second droverd to exit (a timeout fails the test)
	second_flags
	drv_run timeout 10 "$DROVERD" "${S2[@]}" "$@"
}

# pending_snapshot ID: one status of ID taken while it is pending (between two tries)
pending_snapshot() {
	local st i
	for i in $(seq 1 200); do
		st=$(curl -sf --unix-socket "$SOCK" "http://localhost/v1/instances/$1")
		[ "$(echo "$st" | jq -r .phase)" = pending ] && { echo "$st"; return 0; }
		sleep 0.05
	done
	echo "$1 was never seen pending" >&2
	return 1
}

events_of() { # events_of ID: the events of ID as one compact JSON object per line
	curl -sf --unix-socket "$SOCK" "http://localhost/v1/events?after=0" | jq -c --arg id "$1" '.events[] | select(.id == $id)'
}

@test "a second droverd on the same run dir is refused while the first keeps serving" {
	NET_SUBNET="$NET_PREFIX.0/25"
	start_agent
	put_file keep '.command = ["sleep", "1000"]'
	wait_for 10 phase_is keep running
	second_agent --run-dir "$RUN"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another droverd is running with run dir '$RUN' (pid $AGENT_PID"* ]]
	# the socket is still the first agent's, and it answers
	[ -S "$SOCK" ]
	drv_run ctl ps
	[ "$status" -eq 0 ]
	[[ "$output" == *keep*running* ]]
	[ ! -e "$T/s2/state/instances" ] || [ -z "$(ls "$T/s2/state/instances")" ]
	# the same for the state dir
	second_agent --state-dir "$STATE"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another droverd is running with state dir '$STATE' (pid $AGENT_PID"* ]]
	[ "$(status_of keep)" = running ]
}

@test "a second droverd on the same nftables table is refused while the first's port keeps working" {
	NET_SUBNET="$NET_PREFIX.0/25"
	start_agent
	hp=$((RANDOM % 10000 + 30000))
	web_spec pub hello-pub ".network.ports = [{container: 8080, host: $hp}]" >"$ASSIGN/pub.json"
	wait_for 10 phase_is pub running
	# published ports answer on the node's own addresses, never 127.0.0.1: the bridge's is one
	wait_for 5 timeout 3 busybox wget -q -O - "http://$NET_PREFIX.1:$hp/"
	rules=$(nft list table ip "$NFT_TABLE" | grep -c 'dnat to')
	[ "$rules" -ge 1 ]
	second_agent --nft-table "$NFT_TABLE"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another droverd is running with nftables table '$NFT_TABLE' (pid $AGENT_PID"* ]]
	[ "$(nft list table ip "$NFT_TABLE" | grep -c 'dnat to')" = "$rules" ]
	[ "$(timeout 3 busybox wget -q -O - "http://$NET_PREFIX.1:$hp/")" = hello-pub ]
	[ "$(status_of pub)" = running ]
	# another table is no conflict: a second agent with its own starts and serves
	second_flags
	"$DROVERD" "${S2[@]}" --log-level warning >>"$T/s2.log" 2>&1 &
	SECOND=$!
	wait_for 10 curl -sf --unix-socket "$T/s2/run/droverd.sock" http://localhost/v1/healthz
	kill "$SECOND"
	wait "$SECOND"
	SECOND=""
	[ "$(timeout 3 busybox wget -q -O - "http://$NET_PREFIX.1:$hp/")" = hello-pub ]
	for c in /sys/fs/cgroup/*"$CGROOT-2"; do find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
	rm -f "/run/drover-nft/${NFT_TABLE}_2.lock"
}

@test "bad flags are refused at start with exit 2 and a one-line message naming the flag" {
	while IFS='|' read -r flag value want; do
		drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$T/bad-state" --run-dir "$T/bad-run" \
			--assignments-dir "$ASSIGN" --cgroup-root "$CGROOT" --bridge "$NET_BR" --subnet "$NET_SUBNET" \
			--nft-table "$NFT_TABLE" "$flag" "$value"
		[ "$status" -eq 2 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"$want"* ]]
		# nothing was created
		[ ! -e "$T/bad-state" ]
		[ ! -e "$T/bad-run" ]
	done <<'EOF'
--subnet|10.77.0.0/33|--subnet '10.77.0.0/33' is not an IPv4 subnet
--subnet|10.77.0.5/24|--subnet '10.77.0.5/24' is not an IPv4 subnet
--bridge|a-much-too-long-bridge|--bridge 'a-much-too-long-bridge' is not an interface name
--bridge|br/0|--bridge 'br/0' is not an interface name
--cgroup-root|drover|--cgroup-root must be an absolute cgroup path
--cgroup-root|/a/../b|--cgroup-root must be an absolute cgroup path
--runtime|/nonexistent/runc|--runtime '/nonexistent/runc' is not an executable program
--runtime|no-such-runtime-anywhere|--runtime 'no-such-runtime-anywhere' is not an executable program
--nft-table|has-dash|--nft-table 'has-dash' is not a table name
--pull-parallel|0|--pull-parallel must be 1 to 64
--image-gc-low|95|--image-gc-low (95) must not be above --image-gc-high
--log-level|loud|--log-level must be err, warning, notice, info or debug
--state-dir|relative/dir|--state-dir must be an absolute path
--listen|127.0.0.1:0|--listen needs --tls-cert and --tls-key
EOF
	# a directory is not a runtime either
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$T/bad-state" --run-dir "$T/bad-run" --runtime /tmp
	[ "$status" -eq 2 ]
	[[ "$output" == *"--runtime '/tmp' is not an executable program"* ]]
}

@test "a broken edit of a running instance's file shows in inspect and events; fixing it clears it" {
	start_agent
	put_file keep '.command = ["sleep", "1000"]'
	wait_for 10 phase_is keep running
	pid=$(status_of keep .pid)
	echo '{"id": "keep", "image": ' >"$ASSIGN/keep.json"
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/keep | jq -r '.spec_error // empty')\" != '' ]"
	[ "$(status_of keep)" = running ]
	[ "$(status_of keep .pid)" = "$pid" ]
	[[ "$(status_of keep .spec_error)" == *"keep.json is invalid, revision 0 keeps running"*malformed* ]]
	[[ "$(status_of keep .message)" == *"keep.json is invalid"* ]]
	drv_run ctl inspect keep
	[[ "$output" == *'"spec_error"'*"keep.json is invalid"* ]]
	# and in the events, as a change of a running instance
	[ "$(events_of keep | jq -r 'select(.phase == "running") | .status.spec_error // empty' | grep -c 'keep.json is invalid')" -ge 1 ]
	# a fixed file (same revision) clears it, still without a restart
	put_file keep '.command = ["sleep", "1000"]'
	wait_for 5 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/keep | jq -r '.spec_error // \"none\"')\" = none ]"
	[ "$(status_of keep .pid)" = "$pid" ]
	[ "$(status_of keep .message)" = "" ]
}

@test "a start that keeps failing shows pending with backoff and next_try_at; restarts counts only runs" {
	start_agent
	put_file nope '.command = ["/no/such/binary"] | .restart = "always"'
	wait_for 10 grep -q 'restarting in 2000 ms.*id=nope' "$AGENT_LOG"
	st=$(pending_snapshot nope)
	[ "$(echo "$st" | jq -r .reason)" = StartFailed ]
	[[ "$(echo "$st" | jq -r .message)" == "backoff: next try in "*no/such/binary* ]]
	[[ "$(echo "$st" | jq -r .next_try_at)" == 20*Z ]]
	[ "$(echo "$st" | jq -r .restarts)" = 0 ]
	# the table shows it pending between tries (it is creating for a moment at each try)
	wait_for 10 sh -c "'$DROVERCTL' --socket '$SOCK' ps | grep -q '^nope .* pending '"
	# the event stream says pending with the back-off, never failed then pending for one attempt
	[ "$(events_of nope | jq -r .phase | grep -c failed)" = 0 ]
	[ "$(events_of nope | jq -r 'select(.phase == "pending") | .status.next_try_at // empty' | grep -c Z)" -ge 1 ]
	# a container that ran and exits is restarted: those count
	put_file flap '.command = ["sh", "-c", "sleep 0.3; exit 1"] | .restart = "always"'
	wait_for 15 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/flap | jq .restarts) -ge 1 ]"
	[ "$(status_of nope .restarts)" = 0 ]
}

@test "a container whose PID 1 ignores SIGTERM is reported 'Killed after grace period'" {
	start_agent
	drv_run api PUT /v1/instances/stub "$(spec stub '.command = ["sh", "-c", "trap \"\" TERM; while true; do sleep 1; done"] | .stop_grace_ms = 300 | .restart = "never"')"
	wait_for 10 phase_is stub running
	drv_run api PUT /v1/instances/stub "$(spec stub '.command = ["sleep", "1000"] | .revision = 2 | .restart = "never"')"
	wait_for 10 sh -c "grep -q 'grace period over, sending SIGKILL id=stub' '$AGENT_LOG'"
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/stub | jq .revision)\" = 2 ]"
	drv_run events_of stub
	ev=$(echo "$output" | jq -c 'select(.phase == "exited")' | head -1)
	[ "$(echo "$ev" | jq -r .reason)" = Error ]
	[ "$(echo "$ev" | jq -r .status.message)" = "Killed after grace period (exit code 137)" ]
}

@test "status events are published once per change" {
	start_agent
	put_file three '.command = ["sh", "-c", "exit 3"] | .restart = "never"'
	put_file flaky '.command = ["sh", "-c", "exit 1"] | .restart = "on-failure"'
	wait_for 10 phase_is three exited
	wait_for 15 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/flaky | jq .restarts) -ge 1 ]"
	for id in three flaky; do
		drv_run events_of "$id"
		# no two events in a row carry the same status
		dups=$(echo "$output" | jq -c '.status | del(.pid, .started_at)' | uniq -d | wc -l)
		[ "$dups" = 0 ]
	done
	[ "$(events_of three | jq -r .phase | grep -c exited)" = 1 ]
}

@test "droverctl exec runs a command in the instance and returns its exit code" {
	start_agent
	put_file box '.command = ["sleep", "1000"] | .env = {GREETING: "hi-from-box"}'
	wait_for 10 phase_is box running
	drv_run ctl exec box -- sh -c 'echo "$GREETING"; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = hi-from-box ]
	drv_run ctl exec -T box cat /proc/1/cmdline
	[ "$status" -eq 0 ]
	[[ "$output" == sleep* ]]
	drv_run ctl exec box -- /no/such/thing
	[ "$status" -ne 0 ]
	# a terminal when asked for one: script gives droverctl a pty
	if command -v script >/dev/null; then
		drv_run script -qec "'$DROVERCTL' --socket '$SOCK' exec -t box -- sh -c 'test -t 0 && echo tty-yes'" /dev/null
		[[ "$output" == *tty-yes* ]]
	fi
	put_file gone '.command = ["true"] | .restart = "never"'
	wait_for 10 phase_is gone exited
	drv_run ctl exec gone -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"instance 'gone' is not running (phase exited)"* ]]
	drv_run ctl exec box
	[ "$status" -eq 2 ]
}

@test "ip netns lists the agent's namespaces while they exist" {
	start_agent
	spec nsweb '.network = {mode: "bridge"} | .command = ["sleep", "1000"]' >"$ASSIGN/nsweb.json"
	wait_for 10 phase_is nsweb running
	ip=$(status_of nsweb .ip)
	ip netns list | grep -q "^$NET_BR-nsweb\b"
	drv_run ip netns exec "$NET_BR-nsweb" ip -o -4 addr show eth0
	[[ "$output" == *"inet $ip/"* ]]
	rm "$ASSIGN/nsweb.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/nsweb"
	[ ! -e "/run/netns/$NET_BR-nsweb" ]
	[ ! -L "/run/netns/$NET_BR-nsweb" ]
}

@test "droverd --cleanup refuses while instances exist, then leaves no bridge, table, mount or cgroup" {
	start_agent
	spec cl '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .stop_grace_ms = 0' >"$ASSIGN/cl.json"
	wait_for 10 phase_is cl running
	flags=(--config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" --assignments-dir "$ASSIGN"
		--cgroup-root "$CGROOT" --bridge "$NET_BR" --subnet "$NET_SUBNET" --nft-table "$NFT_TABLE")
	drv_run "$DROVERD" "${flags[@]}" --cleanup
	[ "$status" -eq 1 ]
	[[ "$output" == *"another droverd is running with state dir"* ]]
	stop_agent
	drv_run "$DROVERD" "${flags[@]}" --cleanup
	[ "$status" -eq 1 ]
	[[ "$output" == *"1 instance(s) still exist (cl)"* ]]
	ip link show "$NET_BR" >/dev/null # nothing was removed
	start_agent
	rm "$ASSIGN/cl.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/cl"
	stop_agent
	drv_run "$DROVERD" "${flags[@]}" --cleanup
	[ "$status" -eq 0 ]
	[[ "$output" == *"left in place: state dir '$STATE'"* ]]
	[[ "$output" == *"net.ipv4.ip_forward is left as it is"* ]]
	run ! ip link show "$NET_BR"
	run ! nft list table ip "$NFT_TABLE"
	[ "$(count_owned_links "$NET_BR" cl)" = 0 ]
	run ! grep -q " $RUN/netns" /proc/self/mounts
	run ! compgen -G "/run/netns/$NET_BR-*"
	for c in /sys/fs/cgroup/*"$CGROOT" /sys/fs/cgroup/*/*"$CGROOT"; do
		[ ! -d "$c" ]
	done
}

@test "droverd --print-config lists every flag and is a config file droverd reads" {
	drv_run "$DROVERD" --print-config
	[ "$status" -eq 0 ]
	keys=$("$DROVERD" --help | sed -nE 's/^  --([a-z-]+) .*/\1/p' | grep -vxE 'config|help|version|print-config|cleanup')
	for k in $keys; do
		echo "$output" | grep -qE "^#$k( =|=)" || { echo "missing key $k" >&2; false; }
	done
	# every key with a default, uncommented, is a config file droverd reads: the first complaint is
	# about a flag checked after the file was read
	"$DROVERD" --print-config | sed -E 's/^#([a-z-]+ = .+)$/\1/' >"$T/all.conf"
	grep -q '^subnet = 10.77.0.0/24$' "$T/all.conf"
	drv_run "$DROVERD" --config "$T/all.conf" --state-dir relative
	[ "$status" -eq 2 ]
	[ "$output" = "<3>droverd: --state-dir must be an absolute path, got 'relative'" ]
	[ -z "$(git -C "$REPO_ROOT" ls-files systemd/droverd.conf.example)" ] # generated, not kept in git
}

@test "a plain-HTTP registry off loopback is named as such, with the flag that allows it" {
	requires unshare
	mkdir -p "$T/www/v2"
	echo '{}' >"$T/www/v2/index.html"
	# a namespace of our own with a non-loopback address on its lo: the registry and the client
	# both live in it, so no traffic leaves it
	drv_run unshare --net sh -c '
		ip link set lo up && ip addr add 192.0.2.1/32 dev lo || exit 99
		busybox httpd -f -p 192.0.2.1:5000 -h "$1" &
		pid=$!
		for _ in 1 2 3 4 5 6 7 8 9 10; do busybox wget -q -O /dev/null http://192.0.2.1:5000/v2/ && break; sleep 0.1; done
		"$2" resolve "$3" 192.0.2.1:5000/demo/app:1
		rc=$?
		kill "$pid"
		exit $rc' _ "$T/www" "$REPO_ROOT/${DROVER_BUILD:-build}/drover-image" "$T/store"
	[ "$status" -ne 0 ]
	[ "$status" -lt 98 ]
	[[ "$output" == *"this registry speaks plain HTTP; add it to --insecure-registry if you trust it"* ]]
	[[ "$output" != *"wrong version number"* ]]
}

@test "drover-shim --help and --version answer" {
	drv_run "$REPO_ROOT/${DROVER_BUILD:-build}/drover-shim" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "Usage: drover-shim --id ID --bundle DIR"* ]]
	drv_run "$REPO_ROOT/${DROVER_BUILD:-build}/drover-shim" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "drover-shim "* ]]
}
