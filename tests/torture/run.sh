#!/usr/bin/env bash
# Crash-torture harness (issue 10): restarting droverd must never lose, restart or duplicate a
# container, nor leak what belonged to one.
#
# TORTURE_STEADY instances (default 50, network none, `sleep`) are started and left alone; a churn
# client creates, replaces and deletes TORTURE_CHURN more (default 10: half through the API with a
# published port, half through the assignments dir, all in bridge mode) and one instance crash-loops
# (restart: always, `exit 1`). Meanwhile droverd is killed with SIGKILL TORTURE_KILLS times (default
# 1000) and restarted at once: at random moments (every 0.2-2 s), and at chosen points through the
# test-only hook DROVER_CRASH_AT (common/crash.h): during a pull, the bundle write, the netns set-up,
# the shim's spawn, a stop, a state-file write.
#
# At the end, through the API and what the OS shows (never the agent's internals), it counts:
#   lost        a steady instance gone or not running; an acknowledged churn PUT not running
#   restarted   a steady instance with another PID or restart count; a churn instance restarted
#   duplicated  an id with more than one shim or more than one container process
#   leaked      a container, shim, mount, cgroup, netns, veth, IPAM lease, nftables rule, bundle dir,
#               state record or state temp file that belongs to no instance; an instance deleted
#               (acknowledged) that is still there
# prints "K kills, L lost, R restarted, D duplicated, X leaked" and exits non-zero if L+R+D+X > 0,
# if the agent does not answer at the end, or if the crash-looping instance was never restarted
# (a back-off that grows with every agent restart). Everything it makes has names of its own and is
# removed at the end.
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD=${DROVER_BUILD:-build}
DROVERD="$REPO_ROOT/$BUILD/droverd"
RUNC=${RUNC:-$(command -v runc)}
KILLS=${TORTURE_KILLS:-1000}
STEADY=${TORTURE_STEADY:-50}
CHURN=${TORTURE_CHURN:-10}
POINTS=(pull bundle netns spawn stop state-write)

[ "$(id -u)" -eq 0 ] || { echo "torture: needs root" >&2; exit 1; }
[ -x "$DROVERD" ] || { echo "torture: build droverd first (make all)" >&2; exit 1; }

UNIQ="tt$$"
T=$(mktemp -d "/tmp/drover-torture-$UNIQ.XXXX")
STATE="$T/state"
RUN="$T/run"
ASSIGN="$T/assign"
CGROOT="/drover-torture-$UNIQ"
SOCK="$RUN/droverd.sock"
LOG="$T/droverd.log"
NET_BR="dtt$$"
NET_BR=${NET_BR:0:15}
NFT_TABLE="drover_torture$$"
PORT_BASE=$((20000 + ($$ % 2000) * 10))
for _ in $(seq 1 50); do
	NET_PREFIX="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"
	ip -4 route show | grep -q "^$NET_PREFIX\." || break
done
mkdir -p "$ASSIGN" "$T/churn"
: >"$T/droverd.conf"
AGENT_PID=""
CHURN_PID=""

api() { # api METHOD PATH [BODY]: prints the HTTP code (000 when the agent is down)
	local m=$1 p=$2
	shift 2
	curl -s -o /dev/null -m 5 --unix-socket "$SOCK" -X "$m" -H 'Content-Type: application/json' \
		${1:+--data-binary "$1"} -w '%{http_code}' "http://localhost$p" 2>/dev/null || true
}

get() { curl -sf -m 5 --unix-socket "$SOCK" "http://localhost$1" 2>/dev/null; }

start_agent() { # [crash point]: starts droverd in the background, does not wait
	DROVER_CRASH_AT=${1:-} "$DROVERD" --state-dir "$STATE" --run-dir "$RUN" --assignments-dir "$ASSIGN" \
		--config "$T/droverd.conf" --cgroup-root "$CGROOT" --bridge "$NET_BR" --subnet "$NET_PREFIX.0/24" \
		--nft-table "$NFT_TABLE" --image-layout-root "$T" --log-level info >>"$LOG" 2>&1 &
	AGENT_PID=$!
}

wait_healthy() { # SECONDS
	local i
	for i in $(seq 1 $(($1 * 10))); do
		get /v1/healthz >/dev/null && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

kill_agent() {
	[ -n "$AGENT_PID" ] || return 0
	kill -9 "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}

spec() { # ID REVISION KIND: steady | churn-api K | churn-dir | flap
	local base
	base=$(jq -nc --arg id "$1" --argjson rev "$2" --arg img "oci:$T/image:latest" \
		'{id: $id, revision: $rev, image: $img, command: ["sleep", "1000000"], stop_grace_ms: 300,
		  resources: {memory: "16Mi", cpu: "10m"}, network: {mode: "none"}}')
	case $3 in
	steady) echo "$base" ;;
	churn-api) jq -c --argjson p "$((PORT_BASE + $4))" \
		'.network = {mode: "bridge", ports: [{container: 8080, host: $p}]}' <<<"$base" ;;
	churn-dir) jq -c '.network = {mode: "bridge"}' <<<"$base" ;;
	flap) jq -c '.command = ["sh", "-c", "exit 1"] | .restart = "always"' <<<"$base" ;;
	esac
}

# --- the churn client: its last acknowledged wish per id is in $T/churn/ID ("present REV" | "absent")
churn_one() { # ID
	local id=$1 k=${1#ch-?} want rev code
	read -r want rev <"$T/churn/$id"
	if [[ $id == ch-a* ]]; then
		if [ "$want" = absent ]; then
			code=$(api PUT "/v1/instances/$id" "$(spec "$id" $((rev + 1)) churn-api "$k")")
			[[ $code == 20[01] ]] && echo "present $((rev + 1))" >"$T/churn/$id"
		elif [ $((RANDOM % 3)) -eq 0 ]; then # delete, then put again at once (a replace of a stop)
			code=$(api DELETE "/v1/instances/$id")
			[[ $code == 20[024] ]] && echo "absent $rev" >"$T/churn/$id"
			code=$(api PUT "/v1/instances/$id" "$(spec "$id" $((rev + 1)) churn-api "$k")")
			[[ $code == 20[01] ]] && echo "present $((rev + 1))" >"$T/churn/$id"
		elif [ $((RANDOM % 2)) -eq 0 ]; then
			code=$(api PUT "/v1/instances/$id" "$(spec "$id" $((rev + 1)) churn-api "$k")")
			[[ $code == 20[01] ]] && echo "present $((rev + 1))" >"$T/churn/$id"
		else
			code=$(api DELETE "/v1/instances/$id")
			[[ $code == 20[024] ]] && echo "absent $rev" >"$T/churn/$id"
		fi
	elif [ "$want" = absent ] || [ $((RANDOM % 3)) -eq 0 ]; then
		spec "$id" $((rev + 1)) churn-dir >"$ASSIGN/.$id.tmp"
		mv "$ASSIGN/.$id.tmp" "$ASSIGN/$id.json"
		echo "present $((rev + 1))" >"$T/churn/$id"
	else
		rm -f "$ASSIGN/$id.json"
		echo "absent $rev" >"$T/churn/$id"
	fi
}

churn_ids() {
	local k
	for k in $(seq 0 $((CHURN - 1))); do
		if [ $((k % 2)) -eq 0 ]; then echo "ch-a$k"; else echo "ch-d$k"; fi
	done
}

churn_loop() {
	local ids
	mapfile -t ids < <(churn_ids)
	while [ ! -e "$T/churn.stop" ]; do
		churn_one "${ids[RANDOM % ${#ids[@]}]}"
		sleep "0.$((RANDOM % 4 + 1))"
	done
}

cleanup() {
	local f pid c m
	[ -n "$CHURN_PID" ] && kill "$CHURN_PID" 2>/dev/null && wait "$CHURN_PID" 2>/dev/null
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
	fi
	for c in $("$RUNC" --root "$RUN/runc" list -q 2>/dev/null); do
		"$RUNC" --root "$RUN/runc" kill -a "$c" KILL >/dev/null 2>&1
	done
	sleep 0.2
	for c in $("$RUNC" --root "$RUN/runc" list -q 2>/dev/null); do
		"$RUNC" --root "$RUN/runc" delete -f "$c" >/dev/null 2>&1
	done
	for pid in $(pgrep -x drover-shim); do
		tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "--bundle $STATE/" && kill -9 "$pid" 2>/dev/null
	done
	for f in $(ip -o link show master "$NET_BR" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip link del "$f" 2>/dev/null
	done
	ip link del "$NET_BR" 2>/dev/null
	nft delete table ip "$NFT_TABLE" 2>/dev/null
	nft delete table bridge "$NFT_TABLE" 2>/dev/null
	rm -f "/run/drover-nft/$NFT_TABLE.lock" "/run/netns/$NET_BR-"*
	grep " $T/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	for c in /sys/fs/cgroup/*"$CGROOT" /sys/fs/cgroup/*/*"$CGROOT"; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	if [ -n "${TORTURE_KEEP_LOG:-}" ]; then cp "$LOG" "$TORTURE_KEEP_LOG"; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- set-up: the image, the agent, the steady instances and the crash-looper
"$REPO_ROOT/demo/build-image.sh" "$T/image" latest >/dev/null || exit 1
start_agent
wait_healthy 30 || { echo "torture: droverd did not come up" >&2; tail -20 "$LOG" >&2; exit 1; }
for k in $(seq 1 "$STEADY"); do
	code=$(api PUT "/v1/instances/st-$k" "$(spec "st-$k" 1 steady)")
	[[ $code == 201 ]] || { echo "torture: PUT st-$k answered $code" >&2; exit 1; }
done
code=$(api PUT /v1/instances/flap "$(spec flap 1 flap)")
[[ $code == 201 ]] || { echo "torture: PUT flap answered $code" >&2; exit 1; }
for _ in $(seq 1 $((STEADY * 10 + 300))); do
	n=$(get /v1/instances | jq '[.[] | select((.id | startswith("st-")) and .phase == "running")] | length')
	[ "${n:-0}" -eq "$STEADY" ] && break
	sleep 0.2
done
[ "${n:-0}" -eq "$STEADY" ] || { echo "torture: only ${n:-0} of $STEADY steady instances came up" >&2; exit 1; }
get /v1/instances | jq -r '.[] | select(.id | startswith("st-")) | "\(.id) \(.pid) \(.restarts)"' | sort >"$T/steady.before"
for id in $(churn_ids); do echo "absent 0" >"$T/churn/$id"; done
churn_loop &
CHURN_PID=$!

# --- the kills (bash's "Killed" notices for the agents are noise here)
exec 2> >(grep --line-buffered -v '[0-9] Killed ' >&2)
declare -A at_point
random_kills=0
t0=$SECONDS
for k in $(seq 1 "$KILLS"); do
	if [ $((RANDOM % 4)) -eq 0 ]; then
		# a chosen point: this agent kills itself when it gets there (or is killed after 3 s)
		p=${POINTS[RANDOM % ${#POINTS[@]}]}
		[ "$p" = state-write ] && p="state-write:$((RANDOM % 20 + 1))"
		kill_agent
		start_agent "$p"
		for _ in $(seq 1 30); do
			kill -0 "$AGENT_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$AGENT_PID" 2>/dev/null; then
			random_kills=$((random_kills + 1))
		else
			at_point[${p%%:*}]=$((${at_point[${p%%:*}]:-0} + 1))
		fi
		kill_agent
		start_agent
	else
		ms=$((200 + RANDOM % 1801)) # 0.2 to 2 s
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		kill_agent
		random_kills=$((random_kills + 1))
		start_agent
	fi
	[ $((k % 50)) -eq 0 ] && echo "torture: $k kills ($((SECONDS - t0)) s)"
done
touch "$T/churn.stop"
wait "$CHURN_PID" 2>/dev/null
CHURN_PID=""

# --- settle: one agent, left alone, until every wish is met (or 180 s)
kill_agent
answering=0
for _ in $(seq 1 5); do # an agent that exits at start (a lock a dying child still held) is started again
	start_agent
	wait_healthy 60 && { answering=1; break; }
	kill_agent
done
settled() {
	local list id want rev
	list=$(get /v1/instances) || return 1
	jq -e '[.[] | select(.phase == "pulling" or .phase == "creating" or .phase == "stopping"
		or (.phase == "pending" and .id != "flap"))] | length == 0' <<<"$list" >/dev/null || return 1
	for id in $(churn_ids); do
		read -r want rev <"$T/churn/$id"
		if [ "$want" = present ]; then
			jq -e --arg id "$id" --argjson rev "$rev" \
				'.[] | select(.id == $id and .revision == $rev and .phase == "running")' <<<"$list" >/dev/null || return 1
		else
			jq -e --arg id "$id" '[.[] | select(.id == $id)] | length == 0' <<<"$list" >/dev/null || return 1
		fi
	done
}
t1=$SECONDS
for _ in $(seq 1 180); do
	settled && break
	sleep 1
done
echo "torture: settled in $((SECONDS - t1)) s"
sleep 1 # let a last exit or restart show

# --- the checks
list=$(get /v1/instances || echo '[]')
jq -r '.[].id' <<<"$list" | sort >"$T/ids"
lost=0 restarted=0 dup=0 leaked=0
while read -r id pid restarts; do
	now=$(jq -r --arg id "$id" '.[] | select(.id == $id) | "\(.phase) \(.pid) \(.restarts)"' <<<"$list")
	if [ -z "$now" ] || [ "${now%% *}" != running ]; then
		lost=$((lost + 1)); echo "lost: $id (${now:-gone})"
	elif [ "$now" != "running $pid $restarts" ]; then
		restarted=$((restarted + 1)); echo "restarted: $id (was pid $pid restarts $restarts, now ${now#running })"
	fi
done <"$T/steady.before"
for id in $(churn_ids); do
	read -r want rev <"$T/churn/$id"
	now=$(jq -r --arg id "$id" '.[] | select(.id == $id) | "\(.phase) \(.revision) \(.restarts) \(.message)"' <<<"$list")
	if [ "$want" = present ] && [[ $now != "running $rev "* ]]; then
		lost=$((lost + 1)); echo "lost: $id revision $rev (${now:-gone})"
	elif [ "$want" = present ] && [[ $now != "running $rev 0 "* ]]; then
		restarted=$((restarted + 1)); echo "restarted: $id ($now)"
	elif [ "$want" = absent ] && [ -n "$now" ]; then
		leaked=$((leaked + 1)); echo "leaked: $id deleted but still there ($now)"
	fi
done
known() { grep -qx -- "$1" "$T/ids"; }
leak() { leaked=$((leaked + 1)); echo "leaked: $*"; }
# shims and container processes per id
declare -A shims procs
for pid in $(pgrep -x drover-shim); do
	b=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -A1 -x -- --bundle | tail -1)
	[[ $b == "$STATE/bundles/"* ]] || continue
	id=${b##*/}
	shims[$id]=$((${shims[$id]:-0} + 1))
done
for f in /proc/[0-9]*/cgroup; do
	id=$(grep -m1 -o -- "$CGROOT/\(online\|batch\)/[^/]*\$" "$f" 2>/dev/null) || continue
	id=${id##*/}
	procs[$id]=$((${procs[$id]:-0} + 1))
done
for id in "${!shims[@]}"; do
	known "$id" || leak "shim of $id"
	[ "${shims[$id]}" -gt 1 ] && { dup=$((dup + 1)); echo "duplicated: $id has ${shims[$id]} shims"; }
done
for id in "${!procs[@]}"; do
	known "$id" || leak "container process(es) of $id"
	[ "$id" != flap ] && [ "${procs[$id]}" -gt 1 ] && { dup=$((dup + 1)); echo "duplicated: $id has ${procs[$id]} container processes"; }
done
for c in $("$RUNC" --root "$RUN/runc" list -q 2>/dev/null); do known "$c" || leak "runc container $c"; done
for d in "$STATE"/bundles/*/; do
	[ -d "$d" ] || continue
	id=$(basename "$d")
	known "$id" || leak "bundle dir $id"
done
grep -o " $STATE/bundles/[^/ ]*/rootfs " /proc/self/mounts | while read -r m; do
	id=$(basename "$(dirname "$m")")
	known "$id" || echo "leaked: rootfs mount of $id"
done >"$T/mount-leaks"
while read -r line; do leak "${line#leaked: }"; done <"$T/mount-leaks"
for c in /sys/fs/cgroup/*"$CGROOT"/online/* /sys/fs/cgroup/*"$CGROOT"/batch/*; do
	[ -d "$c" ] || continue
	known "$(basename "$c")" || leak "cgroup $c"
done
for f in "$RUN"/netns/*; do
	[ -e "$f" ] || continue
	known "$(basename "$f")" || leak "netns $(basename "$f")"
done
bridged=$(jq '[.[] | select(.ip != null)] | length' <<<"$list")
veths=$(ip -o link show master "$NET_BR" 2>/dev/null | wc -l)
[ "$veths" -gt "$bridged" ] && leak "$((veths - bridged)) veth(s) on $NET_BR for $bridged bridged instances"
for f in "$STATE"/net/leases/*; do
	[ -f "$f" ] || continue
	id=$(tr -d '\n' <"$f" | grep -o '[a-z0-9][a-z0-9_.-]*' | head -1)
	[[ $(basename "$f") == [0-9]* ]] || continue
	known "$id" || leak "IPAM lease $(basename "$f") of '${id}'"
done
ips=$(jq -r '.[] | .ip // empty' <<<"$list")
for ip in $( (nft list table ip "$NFT_TABLE"; nft list table bridge "$NFT_TABLE") 2>/dev/null |
	grep -o "$NET_PREFIX\.[0-9]*" | sort -u); do
	[ "$ip" = "$NET_PREFIX.1" ] || [ "$ip" = "$NET_PREFIX.0" ] || [ "$ip" = "$NET_PREFIX.255" ] && continue
	grep -qx "$ip" <<<"$ips" || leak "nftables rule for $ip"
done
for f in "$STATE"/instances/*.json; do
	[ -e "$f" ] || continue
	known "$(basename "$f" .json)" || leak "state record $(basename "$f")"
done
for f in $(find "$STATE" -maxdepth 2 -name '*.tmp.[0-9]*' -not -path "*/bundles/*" -not -path "*/images/*"); do
	leak "state temp file ${f#"$STATE"/}"
done
flap=$(jq -r '.[] | select(.id == "flap") | .restarts' <<<"$list")
get /v1/healthz >/dev/null || answering=0

points=""
for p in "${POINTS[@]}"; do points="$points $p=${at_point[$p]:-0}"; done
echo "torture: $((SECONDS - t0)) s; kills at chosen points:$points; random kills: $random_kills"
echo "torture: the crash-looping instance was restarted ${flap:-0} times; agent answering: $([ $answering -eq 1 ] && echo yes || echo no)"
echo "$KILLS kills, $lost lost, $restarted restarted, $dup duplicated, $leaked leaked"
fail=$((lost + restarted + dup + leaked))
[ "$answering" -eq 1 ] || fail=$((fail + 1))
[ "${flap:-0}" -gt 0 ] || { echo "torture: the crash-looping instance was never restarted (back-off grows with agent restarts?)"; fail=$((fail + 1)); }
echo "torture: $([ $fail -eq 0 ] && echo 1 || echo 0) passed, $([ $fail -eq 0 ] && echo 0 || echo 1) failed"
[ "$fail" -eq 0 ]
