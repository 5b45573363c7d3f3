#!/usr/bin/env bash
# make bench, part (i): the four ways assignments reach droverd, measured in one run.
#  (i1) reaction latency per intake mode (dir, push, pull, etcd): from the change (file renamed
#       into place, PUT answered, the fixture's long-poll answered, etcd put acknowledged) to
#       the runtime being exec'd for the new instance (a wrapper around runc logs the moment);
#       median and p99 over BENCH_INTAKE_N changes per mode
#  (i2) idle cost with every instance running and every mode connected: droverd's wake-ups
#       (epoll_wait returns, counted by strace) and CPU time over BENCH_IDLE_S seconds
#  (i3) status delivery: instance transitions made during a control-plane outage, delivered
#       once each after it returns, and the time to drain
#  (i4) load per node on the control plane and on etcd, at rest and under churn
# Writes its section of bench/RESULTS.md (between the intake markers). Figures, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "intake: run as root" >&2; exit 1; }
scripts/deps.sh all
make -s all build/bench/exec-stamp

N=${BENCH_INTAKE_N:-50}
IDLE_S=${BENCH_IDLE_S:-60}
OUTAGE_S=${BENCH_OUTAGE_S:-60}
B=/tmp/drover-intake-$$
mkdir -p "$B/assign" "$B/etcd"
CG=/drover-intake-$$
NODE=bench$$
AGENT_PID="" CP_PID="" ETCD_PID=""

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
CP_PORT=$(free_port) CP_CTL=$(free_port) ETCD_PORT=$(free_port) ETCD_PEER=$(free_port)
ETCD_URL=http://127.0.0.1:$ETCD_PORT
SOCK=$B/run/droverd.sock

cleanup() {
	set +e
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID"
		wait "$AGENT_PID" 2>/dev/null
	fi
	for c in $(runc --root "$B/run/runc" list -q 2>/dev/null); do
		runc --root "$B/run/runc" kill "$c" KILL >/dev/null 2>&1
		sleep 0.05
		runc --root "$B/run/runc" delete -f "$c" >/dev/null 2>&1
	done
	for f in "$B"/state/bundles/*/shim.pid; do
		[ -s "$f" ] && grep -q drover-shim "/proc/$(cat "$f")/comm" 2>/dev/null && kill -9 "$(cat "$f")"
	done
	[ -n "$CP_PID" ] && kill "$CP_PID"
	[ -n "$ETCD_PID" ] && kill "$ETCD_PID"
	wait 2>/dev/null
	grep " $B/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	for d in /sys/fs/cgroup/*"$CG"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
	nft delete table ip "drover_intake$$" 2>/dev/null
	nft delete table bridge "drover_intake$$" 2>/dev/null
	ip link del "dbi$$" 2>/dev/null
	rm -rf "$B" "/run/drover-nft/drover_intake$$.lock"
}
trap cleanup EXIT

now_us() { echo "${EPOCHREALTIME/./}"; } # no fork: the shell's own clock
stats() { # reads numbers, prints "median p99"
	sort -n | awk '{a[NR]=$1} END {if (!NR) {print "- -"; exit}
		m = NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; i = int(NR*0.99 + 0.999); if (i > NR) i = NR
		printf "%.2f %.2f\n", m, a[i]}'
}

echo "intake: starting etcd, the control-plane fixture and droverd" >&2
demo/build-image.sh "$B/image" latest >/dev/null
etcd --name "b$$" --data-dir "$B/etcd/d" --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
	--initial-cluster "b$$=http://127.0.0.1:$ETCD_PEER" >"$B/etcd.log" 2>&1 &
ETCD_PID=$!
python3 tests/fixtures/control-plane.py --port "$CP_PORT" --control-port "$CP_CTL" >"$B/cp.log" 2>&1 &
CP_PID=$!
for _ in $(seq 1 100); do
	curl -sf "$ETCD_URL/health" >/dev/null && curl -sf "http://127.0.0.1:$CP_CTL/stats" >/dev/null && break
	sleep 0.1
done

# The runtime wrapper (bench/exec-stamp.c) notes when the runtime is exec'd to start a container:
# the moment the agent's work for a new instance ends and the runtime's begins.
cp build/bench/exec-stamp "$B/runc-wrap"
printf '%s\n%s\n' "$(command -v runc)" "$B/exec.log" >"$B/runc-wrap.conf"
: >"$B/exec.log"
: >"$B/droverd.conf"
build/droverd --config "$B/droverd.conf" --state-dir "$B/state" --run-dir "$B/run" --assignments-dir "$B/assign" \
	--cgroup-root "$CG" --nft-table "drover_intake$$" --bridge "dbi$$" --node-name "$NODE" --runtime "$B/runc-wrap" --image-layout-root "$B" \
	--control-plane "http://127.0.0.1:$CP_PORT" --etcd "$ETCD_URL" --log-level warning 2>"$B/droverd.log" &
AGENT_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done

spec() { # spec ID: a sleeping instance with no network
	jq -nc --arg id "$1" --arg img "oci:$B/image:latest" \
		'{id: $id, revision: 1, image: $img, network: {mode: "none"}, command: ["sleep", "100000"], stop_grace_ms: 0}'
}
exec_time() { # exec_time ID: waits for the wrapper's line of ID, prints its time
	local i l
	for i in $(seq 1 400); do
		l=$(grep " $1\$" "$B/exec.log" | head -1) && [ -n "$l" ] && { echo "${l%% *}"; return; }
		sleep 0.025
	done
	echo "intake: no runtime exec for $1; the agent said:" >&2
	tail -5 "$B/droverd.log" >&2
	return 1
}
settle() { # lets the agent finish the start before the next change: running, then a breath
	local i
	for i in $(seq 1 200); do
		[ "$(curl -s --unix-socket "$SOCK" "http://localhost/v1/instances/$1" | jq -r .phase)" = running ] && break
		sleep 0.025
	done
	sleep 0.1
}

push_set='[]'
pull_set='[]'
for mode in dir push pull etcd; do
	echo "intake: (i1) $mode, $N changes" >&2
	: >"$B/lat.$mode"
	for i in $(seq 1 "$N"); do
		id="$mode-$i"
		case $mode in
		dir)
			spec "$id" >"$B/assign/.$id.tmp"
			mv "$B/assign/.$id.tmp" "$B/assign/$id.json"
			t0=$(now_us)
			;;
		push)
			push_set=$(echo "$push_set" | jq -c --argjson s "$(spec "$id")" '. + [$s]')
			curl -sf --unix-socket "$SOCK" -X PUT --data-binary "{\"revision\": $i, \"instances\": $push_set}" \
				http://localhost/v1/assignments >/dev/null
			t0=$(now_us)
			;;
		pull)
			pull_set=$(echo "$pull_set" | jq -c --argjson s "$(spec "$id")" '. + [$s]')
			curl -sf -X PUT --data-binary "{\"revision\": $i, \"instances\": $pull_set}" \
				"http://127.0.0.1:$CP_CTL/nodes/$NODE/assignments" >/dev/null
			t0=$(now_us)
			;;
		etcd)
			k=$(echo -n "/drover/nodes/$NODE/instances/$id" | base64 -w0)
			v=$(spec "$id" | base64 -w0)
			curl -sf "$ETCD_URL/v3/kv/put" -d "{\"key\": \"$k\", \"value\": \"$v\"}" >/dev/null
			t0=$(now_us)
			;;
		esac
		t1=$(exec_time "$id")
		echo "$(((t1 - t0)))" | awk '{printf "%.2f\n", $1 / 1000}' >>"$B/lat.$mode"
		settle "$id"
	done
done

# (i2) measures the node at rest with the dir's instances: what push, pull and etcd started goes
echo "intake: emptying the push set, the pulled set and etcd's keys" >&2
curl -sf --unix-socket "$SOCK" -X PUT --data-binary "{\"revision\": $((N + 1)), \"instances\": []}" \
	http://localhost/v1/assignments >/dev/null
curl -sf -X PUT --data-binary "{\"revision\": $((N + 1)), \"instances\": []}" \
	"http://127.0.0.1:$CP_CTL/nodes/$NODE/assignments" >/dev/null
ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" del --prefix "/drover/nodes/$NODE/instances/" >/dev/null
for _ in $(seq 1 1200); do
	[ "$(curl -s --unix-socket "$SOCK" http://localhost/v1/instances | jq length)" -le "$N" ] && break
	sleep 0.1
done

idle_count=$(curl -s --unix-socket "$SOCK" http://localhost/v1/instances | jq '[.[] | select(.phase == "running")] | length')
echo "intake: (i2) idle, ${IDLE_S} s with $idle_count instances" >&2
sleep 3
ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"; }
hz=$(getconf CLK_TCK)
cpu0=$(ticks)
polls0=$(curl -sf "http://127.0.0.1:$CP_CTL/stats" | jq .polls)
posts0=$(curl -sf "http://127.0.0.1:$CP_CTL/stats" | jq .posts)
grpc() { curl -sf "$ETCD_URL/metrics" | awk '/^grpc_server_handled_total/ {s += $2} END {print s + 0}'; }
grpc0=$(grpc)
timeout -s INT "$IDLE_S" strace -f -qq -e trace=epoll_wait,epoll_pwait -p "$AGENT_PID" -o "$B/strace.log" || true
cpu1=$(ticks)
wakeups=$(grep -c 'epoll_wait\|epoll_pwait' "$B/strace.log" || true)
polls1=$(curl -sf "http://127.0.0.1:$CP_CTL/stats" | jq .polls)
posts1=$(curl -sf "http://127.0.0.1:$CP_CTL/stats" | jq .posts)
grpc1=$(grpc)
post_bytes=$(curl -sf "http://127.0.0.1:$CP_CTL/nodes/$NODE/status" | jq -c '.[-1]' | wc -c)
post_count=$(curl -s --unix-socket "$SOCK" http://localhost/v1/instances | jq length)
status_bytes=$(ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" get --prefix "/drover/status/$NODE/" --print-value-only | wc -c)

echo "intake: (i3) status delivery across a ${OUTAGE_S} s control-plane outage" >&2
seq_before=$(curl -sf --unix-socket "$SOCK" 'http://localhost/v1/events?after=0' | jq .last)
curl -sf -X PUT --data-binary '{"mode": "down"}' "http://127.0.0.1:$CP_CTL/mode" >/dev/null
t_out=$(now_us)
# transitions: instances of the dir that start, run a moment and end (never restarted)
k=0
while [ $(($(now_us) - t_out)) -lt $((OUTAGE_S * 1000000 - 5000000)) ] && [ $k -lt 67 ]; do
	k=$((k + 1))
	jq -nc --arg id "churn-$k" --arg img "oci:$B/image:latest" \
		'{id: $id, image: $img, network: {mode: "none"}, command: ["true"], restart: "never"}' >"$B/assign/.c.tmp"
	mv "$B/assign/.c.tmp" "$B/assign/churn-$k.json"
	sleep 0.4
done
while [ $(($(now_us) - t_out)) -lt $((OUTAGE_S * 1000000)) ]; do sleep 0.5; done
seq_after=$(curl -sf --unix-socket "$SOCK" 'http://localhost/v1/events?after=0' | jq .last)
grpc_churn=$(($(grpc) - grpc1)) # etcd stayed up: its requests under this churn
made=$((seq_after - seq_before))
curl -sf -X PUT --data-binary '{"mode": "ok"}' "http://127.0.0.1:$CP_CTL/mode" >/dev/null
t_back=$(now_us)
delivered=0
for _ in $(seq 1 600); do
	delivered=$(curl -sf "http://127.0.0.1:$CP_CTL/nodes/$NODE/status" |
		jq --argjson a "$seq_before" --argjson b "$seq_after" \
			'[.[].events[]? | select(.seq > $a and .seq <= $b) | .seq] | unique | length')
	[ "$delivered" -ge "$made" ] && break
	sleep 0.05
done
t_drained=$(now_us)
dups=$(curl -sf "http://127.0.0.1:$CP_CTL/nodes/$NODE/status" |
	jq --argjson a "$seq_before" '[.[].events[]? | select(.seq > $a) | .seq] | (length - (unique | length))')

echo "intake: writing bench/RESULTS.md" >&2
{
	echo "<!-- intake begin -->"
	echo "## (i) Intake and reporting: dir, push, pull, etcd (bench/intake.sh)"
	echo
	echo "Measured $(date -u +%Y-%m-%d) on this machine; one agent with all four sources connected"
	echo "(etcd $(etcd --version | awk '/^etcd Version/ {print $3}'), the test control-plane fixture)."
	echo
	echo "### (i1) Reaction latency: change to runtime exec ($N changes per mode)"
	echo
	echo "| mode | the change is | median ms | p99 ms |"
	echo "|---|---|---|---|"
	echo "| dir | a spec file renamed into the dir | $(stats <"$B/lat.dir" | awk '{print $1" | "$2}') |"
	echo "| push | \`PUT /v1/assignments\` answered | $(stats <"$B/lat.push" | awk '{print $1" | "$2}') |"
	echo "| pull | the fixture's set replaced (its parked long-poll answers at once) | $(stats <"$B/lat.pull" | awk '{print $1" | "$2}') |"
	echo "| etcd | \`/v3/kv/put\` acknowledged | $(stats <"$B/lat.etcd" | awk '{print $1" | "$2}') |"
	echo
	echo "Target: median under 20 ms in every mode. A negative figure means the runtime was already"
	echo "exec'd when the client got its answer (the push PUT answers after the start is under way)."
	echo "Every figure includes the agent's own work for a start before the runtime is exec'd (spec,"
	echo "image, overlay mount, bundle, record, shim spawn: section (a3)). The fixture sends with"
	echo "TCP_NODELAY: earlier pull figures (61 ms) held a 40 ms stall of the fixture's own (its headers"
	echo "and body left in two writes, the body held by Nagle until the agent's delayed ACK)."
	echo
	echo "### (i2) Idle cost, $IDLE_S s, $idle_count instances running, every mode connected"
	echo
	echo "| droverd wake-ups (epoll_wait returns) | per second | CPU time | control-plane polls / posts | etcd requests |"
	echo "|---|---|---|---|---|"
	echo "| $wakeups | $(echo "$wakeups $IDLE_S" | awk '{printf "%.2f", $1/$2}') | $(echo "$cpu0 $cpu1 $hz" | awk '{printf "%.2f s", ($2-$1)/$3}') | $((polls1 - polls0)) / $((posts1 - posts0)) | $((grpc1 - grpc0)) |"
	echo
	echo "Target: at most one wake-up per second plus the status heartbeat (--status-interval 10 s)."
	echo "What wakes an idle agent: the colocation sampler every 5 s at rest, etcd's lease keep-alive"
	echo "every TTL/3 (3.3 s; a request and its answer), the status heartbeat to the control plane and"
	echo "the node status to etcd every 10 s, and the long-poll's renewal. Timers due at once (libcurl"
	echo "asks for 0 ms ones) run before the loop blocks, not on a wake-up of their own."
	echo
	echo "### (i3) Status delivery across a $OUTAGE_S s control-plane outage"
	echo
	echo "| events made during the outage | delivered after it | delivered twice | time to drain |"
	echo "|---|---|---|---|"
	echo "| $made | $delivered | $dups | $(echo "$t_back $t_drained" | awk '{printf "%.0f ms", ($2-$1)/1000}') |"
	echo
	echo "### (i4) Load per node, from the figures above"
	echo
	echo "At rest a node makes $(echo "$polls1 $polls0 $posts1 $posts0 $IDLE_S" | awk '{printf "%.1f", ($1-$2+$3-$4)*60/$5}') requests a"
	echo "minute to the control plane (long-polls of 30 s and the heartbeat post; a post here is"
	echo "$post_bytes bytes with $post_count instances) and"
	echo "$(echo "$grpc1 $grpc0 $IDLE_S" | awk '{printf "%.1f", ($1-$2)*60/$3}') to etcd (lease keep-alives at a third of the TTL and"
	echo "the node status every --status-interval; all of this node's status values are $status_bytes bytes)."
	echo "One etcd that takes about 10,000 writes a second carries, at rest, about"
	echo "$(echo "$grpc1 $grpc0 $IDLE_S" | awk '{r = ($1-$2)/$3; if (r > 0) printf "%d", 10000 / r; else print "-"}') nodes like this one; under churn each"
	echo "instance transition adds at most one write, batched per 100 ms per node: during the outage above"
	echo "($made transitions in $OUTAGE_S s) the node made $(echo "$grpc_churn $OUTAGE_S" | awk '{printf "%.1f", $1*60/$2}') etcd requests a minute."
	echo "<!-- intake end -->"
} >"$B/section.md"
if grep -q '<!-- intake begin -->' bench/RESULTS.md 2>/dev/null; then
	awk -v f="$B/section.md" '/<!-- intake begin -->/ {while ((getline l < f) > 0) print l; skip = 1}
		/<!-- intake end -->/ {skip = 0; next} !skip' bench/RESULTS.md >"$B/results.new"
	cat "$B/results.new" >bench/RESULTS.md
else
	{ echo; cat "$B/section.md"; } >>bench/RESULTS.md
fi
cat "$B/section.md"
