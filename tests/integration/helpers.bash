#!/usr/bin/env bash
# Helpers for the droverd bats tests: a private agent per test (own state dir,
# run dir, assignments dir, cgroup root), a droverctl wrapper, bounded waits,
# and a teardown that removes every container, mount, cgroup and process made.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# DROVER_BUILD=build-san runs the suites against the ASan+UBSan build (make sanitize).
DROVERD="$REPO_ROOT/${DROVER_BUILD:-build}/droverd"
DROVERCTL="$REPO_ROOT/${DROVER_BUILD:-build}/droverctl"
RUNC="${RUNC:-$(command -v runc)}"

# Like bats' `run`, and shows the command, status and output when a test fails.
drv_run() {
	run "$@"
	echo "drv_run $*" >&2
	echo "status: $status" >&2
	echo "output: $output" >&2
}

requires_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	[ -x "$RUNC" ] || skip "needs runc"
	[ -x "$DROVERD" ] || skip "build droverd first"
}

# One demo image per test file, built locally from busybox-static.
image_setup_file() {
	export IMAGE_DIR="$BATS_FILE_TMPDIR/image"
	"$REPO_ROOT/demo/build-image.sh" "$IMAGE_DIR" latest >/dev/null
}

drv_setup() {
	requires_root
	UNIQ="it$$-${BATS_TEST_NUMBER}-$RANDOM"
	T="$(mktemp -d "/tmp/drover-$UNIQ.XXXX")"
	STATE="$T/state"
	RUN="$T/run"
	ASSIGN="$T/assign"
	CGROOT="/drover-$UNIQ"
	SOCK="$RUN/droverd.sock"
	AGENT_LOG="$T/droverd.log"
	mkdir -p "$ASSIGN"
	: >"$T/droverd.conf"
	AGENT_PID=""
	# bridge networking: a bridge, subnet and nftables table of this test's own
	NET_BR="dt$RANDOM$RANDOM"
	NET_BR=${NET_BR:0:15}
	NFT_TABLE="drover_it$$_${BATS_TEST_NUMBER}"
	local p i
	for i in $(seq 1 50); do
		p="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"
		ip -4 route show | grep -q "^$p\." || break
	done
	NET_PREFIX=$p
	NET_SUBNET="${NET_SUBNET_OVERRIDE:-$p.0/24}"
}

# start_agent [extra flags]: starts droverd in the background and waits until the API answers.
start_agent() {
	"$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" --assignments-dir "$ASSIGN" \
		--cgroup-root "$CGROOT" --bridge "$NET_BR" --subnet "$NET_SUBNET" --nft-table "$NFT_TABLE" \
		--image-layout-root "$BATS_FILE_TMPDIR,$T" --log-level debug "$@" >>"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	# up to DROVER_AGENT_START_S seconds of wall-clock time (30), less if droverd exits
	local deadline=${EPOCHREALTIME/[.,]/} pipe
	deadline=$((deadline + ${DROVER_AGENT_START_S:-30} * 1000000))
	exec {pipe}<> <(:)
	while [ "${EPOCHREALTIME/[.,]/}" -lt "$deadline" ] && kill -0 "$AGENT_PID" 2>/dev/null; do
		if curl -sf --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null 2>&1; then
			exec {pipe}>&-
			return 0
		fi
		read -r -t 0.05 -u "$pipe" _ || true
	done
	exec {pipe}>&-
	echo "droverd did not come up; log:" >&2
	cat "$AGENT_LOG" >&2
	return 1
}

# Stops droverd with SIGTERM; it must exit 0 (under the sanitizers this is where leaks show).
stop_agent() {
	local rc=0
	[ -n "$AGENT_PID" ] || return 0
	kill "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || rc=$?
	AGENT_PID=""
	if [ "$rc" -ne 0 ]; then
		echo "droverd exited with $rc; log:" >&2
		tail -50 "$AGENT_LOG" >&2
		return 1
	fi
}

kill9_agent() {
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=""
}

ctl() {
	"$DROVERCTL" --socket "$SOCK" "$@"
}

api() { # api METHOD PATH [BODY]: prints the body, then "HTTP NNN" on the last line
	local m=$1 p=$2
	shift 2
	if [ $# -gt 0 ]; then
		curl -s --unix-socket "$SOCK" -X "$m" -H 'Content-Type: application/json' --data-binary "$1" \
			-w '\nHTTP %{http_code}\n' "http://localhost$p"
	else
		curl -s --unix-socket "$SOCK" -X "$m" -w '\nHTTP %{http_code}\n' "http://localhost$p"
	fi
}

status_of() { # status_of ID [jq filter]
	curl -sf --unix-socket "$SOCK" "http://localhost/v1/instances/$1" | jq -r "${2:-.phase}"
}

# wait_for SECONDS CMD...: retries CMD until it succeeds (tests may poll; the agent may not).
# The limit is wall-clock time however long each try takes (in a slow guest tries are slow); the
# clock is bash's own and the 50 ms pause a read that times out on a pipe nobody writes to, so
# a try costs no fork beyond CMD.
wait_for() {
	local limit=$1 deadline pipe
	shift
	deadline=${EPOCHREALTIME/[.,]/}
	deadline=$((deadline + limit * 1000000))
	exec {pipe}<> <(:)
	while ! "$@" >/dev/null 2>&1; do
		if [ "${EPOCHREALTIME/[.,]/}" -ge "$deadline" ]; then
			exec {pipe}>&-
			echo "timed out after ${limit}s waiting for: $*" >&2
			return 1
		fi
		read -r -t 0.05 -u "$pipe" _ || true
	done
	exec {pipe}>&-
}

phase_is() { # phase_is ID PHASE
	[ "$(status_of "$1")" = "$2" ]
}

# spec ID [jq-expr]: a spec on the demo image with network none, edited by jq.
spec() {
	local id=$1 expr=${2:-.}
	jq -n --arg id "$id" --arg img "oci:$IMAGE_DIR:latest" \
		'{id: $id, image: $img, network: {mode: "none"}, stop_grace_ms: 500}' | jq -c "$expr"
}

# put_file ID [jq-expr]: writes the spec atomically into the assignments dir.
put_file() {
	spec "$@" >"$ASSIGN/.$1.tmp"
	mv "$ASSIGN/.$1.tmp" "$ASSIGN/$1.json"
}

# cg_file ID CONTROLLER KNOB [QOS]: the v1 knob of an instance's cgroup on this machine.
cg_file() {
	echo "/sys/fs/cgroup/$2$CGROOT/${4:-online}/$1/$3"
}

drv_teardown() {
	local agent_rc=0
	[ -n "${T:-}" ] || return 0
	stop_agent || agent_rc=1
	local f pid c
	# containers first: kill, then delete (runc removes their cgroups)
	if [ -d "$RUN/runc" ]; then
		for c in $(ls "$RUN/runc" 2>/dev/null); do
			"$RUNC" --root "$RUN/runc" kill -a "$c" KILL >/dev/null 2>&1 || true
		done
		sleep 0.1
		for c in $(ls "$RUN/runc" 2>/dev/null); do
			"$RUNC" --root "$RUN/runc" delete -f "$c" >/dev/null 2>&1 || true
		done
	fi
	# shims by their recorded PID, only if that PID is still a drover-shim
	for f in "$STATE"/bundles/*/shim.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		if grep -q drover-shim "/proc/$pid/comm" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	# bridge networking: the instances' veths, the bridge, the table, the namespaces
	for f in $(ip -o link show master "$NET_BR" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip link del "$f" 2>/dev/null || true
	done
	ip link del "$NET_BR" 2>/dev/null || true
	nft delete table ip "$NFT_TABLE" 2>/dev/null || true
	nft delete table bridge "$NFT_TABLE" 2>/dev/null || true
	rm -f "/run/drover-nft/$NFT_TABLE.lock" "/run/netns/$NET_BR-"*
	for f in "$RUN"/netns/*; do
		[ -e "$f" ] && umount -l "$f" 2>/dev/null
	done
	# overlay mounts (and the netns dir's own mount) under this test's dir
	grep " $T/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	# cgroups: depth-first rmdir in every hierarchy
	for c in /sys/fs/cgroup/*"$CGROOT" /sys/fs/cgroup/*/*"$CGROOT"; do
		[ -d "$c" ] || continue
		find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	rm -rf "$T"
	return "$agent_rc"
}
