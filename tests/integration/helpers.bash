#!/usr/bin/env bash
# The one helper layer of the bats tests (tests/integration and tests/v2): every test file does
# `load helpers` (the old per-area file names still work: each sources this file).
#   - common: paths, the run wrappers, the `requires` dispatcher, bounded waits, free ports
#   - agent: a private droverd per test (own state, run, assignments dir, cgroup root, bridge,
#     subnet and nftables table), droverctl and API wrappers, and a teardown that removes every
#     container, mount, cgroup and process the test made
#   - shim: busybox bundles and drover-shim run by hand (10-shim.bats)
#   - image: Debian's docker-registry and python fixtures on free loopback ports, skopeo pushes
#   - control plane and etcd: the pull fixture (tests/fixtures/control-plane.py), a private etcd
#   - net: the net-harness wrapper over net/ (40-net.bats), links a test owns, a client netns
# SC2154: bats sets status and output; SC2034: variables read by the test files.
# shellcheck disable=SC2154,SC2034

# --- common ------------------------------------------------------------------------------------

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# DROVER_BUILD=build-san runs the suites against the ASan+UBSan build (make sanitize).
DROVER_BIN="$REPO_ROOT/${DROVER_BUILD:-build}"
DROVERD="$DROVER_BIN/droverd"
DROVERCTL="$DROVER_BIN/droverctl"
DROVER_IMAGE="$DROVER_BIN/drover-image"
SHIM="${SHIM:-$DROVER_BIN/drover-shim}"
NET_HARNESS="${NET_HARNESS:-$DROVER_BIN/tests/net-harness}"
RUNC="${RUNC:-$(command -v runc || echo /usr/sbin/runc)}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
BUSYBOX_APPLETS=(sh echo sleep dd head cat tr yes seq printf true false)
REGISTRY_BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"
FIXTURES="$REPO_ROOT/tests/fixtures"

# show_run LABEL CMD...: bats' `run`, and the command, status and output on stderr (bats shows
# them when the test fails).
show_run() {
	local label=$1
	shift
	run "$@"
	echo "$label $*" >&2
	echo "status: $status" >&2
	echo "output: $output" >&2
}
drv_run() { show_run drv_run "$@"; }
shim_run() { show_run shim_run "$@"; }
img_run() { show_run img_run "$@"; }
net_run() { show_run net_run "$@"; }

# requires FEATURE...: skips the test, naming what is missing, unless every feature is there.
#   root, runc, busybox, cgroups_v1 (v1 or hybrid: the controllers on v1), cgroups_v2 (unified),
#   droverd, droverctl, shim, drover_image, net_harness, clone_ns, raw_send, sd_notify (built here),
#   registry (docker-registry), etcd (etcd-server), qemu (qemu-system-x86_64), x86_64,
#   python_cryptography; any other name is a command that must be on PATH (jq, skopeo, nft, ...).
requires() {
	local f
	for f in "$@"; do
		case $f in
		root) [ "$(id -u)" -eq 0 ] || skip "needs root" ;;
		runc) [ -x "$RUNC" ] || skip "needs runc (RUNC=$RUNC)" ;;
		busybox) [ -x "$BUSYBOX" ] || skip "needs a static busybox at $BUSYBOX" ;;
		cgroups_v1) [ -d /sys/fs/cgroup/memory ] && [ "$(stat -fc %T /sys/fs/cgroup/memory)" = cgroupfs ] ||
			skip "needs cgroup v1 controllers (this host has $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup)" ;;
		cgroups_v2) [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || skip "needs a cgroup v2 host" ;;
		droverd | droverctl) [ -x "$DROVER_BIN/$f" ] || skip "build $DROVER_BIN/$f first (make)" ;;
		shim) [ -x "$SHIM" ] || skip "build $SHIM first (make)" ;;
		drover_image) [ -x "$DROVER_IMAGE" ] || skip "build $DROVER_IMAGE first (make)" ;;
		net_harness | clone_ns | raw_send | sd_notify)
			local helper="$DROVER_BIN/tests/${f//_/-}"
			[ "$f" != net_harness ] || helper=$NET_HARNESS
			[ -x "$helper" ] || skip "build $helper first (make integration)" ;;
		registry) [ -x "$REGISTRY_BIN" ] || skip "needs docker-registry at $REGISTRY_BIN" ;;
		etcd) [ -x /usr/bin/etcd ] && command -v etcdctl >/dev/null || skip "needs etcd-server and etcd-client" ;;
		qemu) command -v qemu-system-x86_64 >/dev/null || skip "needs qemu-system-x86" ;;
		x86_64) [ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host" ;;
		python_cryptography) python3 -c 'import cryptography' 2>/dev/null || skip "needs python3-cryptography" ;;
		*) command -v "$f" >/dev/null || skip "needs $f (not on PATH)" ;;
		esac
	done
}

# The agent's tests' usual needs (kept for test files that call it).
requires_root() { requires root runc droverd; }
requires_image_tools() { requires drover_image skopeo registry; }
requires_net() { requires root net_harness busybox nsenter unshare nft ip socat; }

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

# free_port: a loopback TCP port nothing listens on (the kernel picks it).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# --- agent ---------------------------------------------------------------------------------------

# One demo image per test file, built locally from busybox-static.
image_setup_file() {
	export IMAGE_DIR="$BATS_FILE_TMPDIR/image"
	"$REPO_ROOT/demo/build-image.sh" "$IMAGE_DIR" latest >/dev/null
}

drv_setup() {
	requires root runc droverd
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
	# (and a batch tier of its own beside the root, named "$CGROOT-batch" by the tests using one)
	for c in /sys/fs/cgroup/*"$CGROOT" /sys/fs/cgroup/*/*"$CGROOT" /sys/fs/cgroup/*"$CGROOT-batch" \
		/sys/fs/cgroup/*/*"$CGROOT-batch"; do
		[ -d "$c" ] || continue
		find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	rm -rf "$T"
	return "$agent_rc"
}

# --- shim ----------------------------------------------------------------------------------------

# Sets TMP, ROOT (runc state), BUNDLE, CTR_ID and CG_NAME for this test.
shim_setup() {
	requires root runc busybox jq shim
	TMP="$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/shim-XXXXXX")"
	ROOT="$TMP/root"
	BUNDLE="$TMP/bundle"
	CTR_ID="shimtest-$$-${BATS_TEST_NUMBER}-$RANDOM"
	CG_NAME="drover-shimtest-$$-${BATS_TEST_NUMBER}"
	mkdir -p "$ROOT" "$BUNDLE/rootfs/bin"
}

# Force-deletes the container, kills a shim still running, removes the cgroups and the temp dir.
shim_teardown() {
	[ -n "${TMP:-}" ] || return 0
	"$RUNC" --root "$ROOT" delete -f "$CTR_ID" >/dev/null 2>&1 || true
	if [ -s "$BUNDLE/shim.pid" ]; then
		local pid
		pid="$(cat "$BUNDLE/shim.pid")"
		if [ -d "/proc/$pid" ] && grep -q drover-shim "/proc/$pid/comm" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	local d
	for d in /sys/fs/cgroup/*/"$CG_NAME"; do
		[ -d "$d" ] || continue
		[ -d "$d/c" ] && rmdir "$d/c" 2>/dev/null
		rmdir "$d" 2>/dev/null || true
	done
	rm -rf "$TMP"
}

# make_bundle [--memory BYTES] ARG...: a busybox rootfs and a runc spec running ARG... (process.args).
make_bundle() {
	local mem=""
	if [ "$1" = "--memory" ]; then
		mem="$2"
		shift 2
	fi
	cp "$BUSYBOX" "$BUNDLE/rootfs/bin/busybox"
	local a
	for a in "${BUSYBOX_APPLETS[@]}"; do
		ln -sf busybox "$BUNDLE/rootfs/bin/$a"
	done
	rm -f "$BUNDLE/config.json"
	(cd "$BUNDLE" && "$RUNC" spec)
	local args
	args="$(printf '%s\n' "$@" | jq -R . | jq -s .)"
	jq --argjson args "$args" --arg cg "/$CG_NAME/c" --arg mem "$mem" '
		.process.args = $args | .process.terminal = false | .linux.cgroupsPath = $cg
		| if $mem != "" then .linux.resources.memory = { limit: ($mem | tonumber) } else . end
	' "$BUNDLE/config.json" >"$BUNDLE/config.json.new"
	mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
}

OOM_FILE() {
	echo "/sys/fs/cgroup/memory/$CG_NAME/c/memory.oom_control"
}

# start_shim [EXTRA ARGS...]: runs the shim (it daemonizes) with the sync pipe on $TMP/sync.
start_shim() {
	"$SHIM" --id "$CTR_ID" --bundle "$BUNDLE" --runtime "$RUNC" --runtime-root "$ROOT" \
		--log "$TMP/ctr.log" --oom-file "$(OOM_FILE)" "$@" 3>"$TMP/sync" >"$TMP/shim.out" 2>"$TMP/shim.err"
}

# wait_for_file FILE [SECONDS]: bounded poll until FILE exists and is non-empty.
wait_for_file() {
	local i
	for ((i = 0; i < ${2:-15} * 10; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

# wait_pid_gone PID [SECONDS]
wait_pid_gone() {
	local i
	for ((i = 0; i < ${2:-15} * 10; i++)); do
		[ -d "/proc/$1" ] || return 0
		sleep 0.1
	done
	echo "timed out waiting for pid $1 to exit" >&2
	return 1
}

# exit_field NAME: one field of BUNDLE/exit.json.
exit_field() {
	jq -r ".$1" "$BUNDLE/exit.json"
}

# Prints what a failed test needs to see.
dump_state() {
	local f
	for f in "$TMP/sync" "$TMP/shim.err" "$BUNDLE/exit.json" "$BUNDLE/runc.log" "$TMP/ctr.log"; do
		[ -f "$f" ] && { echo "--- $f" >&2; head -c 2000 "$f" >&2; echo >&2; }
	done
	return 0
}

# --- image: registry, fixtures, pushes (50-image.bats, 60-agent-images.bats) ---------------------

# wait_port PORT: until something accepts on 127.0.0.1:PORT (5 s at most).
wait_port() {
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# registry_config FILE PORT STORAGE [extra yaml lines for the top level, e.g. an auth: block]
registry_config() {
	local file=$1 port=$2 storage=$3
	shift 3
	{
		cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		printf '%s\n' "$@"
	} >"$file"
}

# start_registry NAME CONFIG PORT: runs it in the background, logs to $IMG_TMP/NAME.log.
# Its pid goes to $IMG_TMP/NAME.pid for stop_registry and the teardown.
start_registry() {
	local name=$1 config=$2 port=$3
	"$REGISTRY_BIN" serve "$config" >"$IMG_TMP/$name.log" 2>&1 &
	echo $! >"$IMG_TMP/$name.pid"
	wait_port "$port"
}

# start_fixture NAME PROGRAM ARGS...: a python fixture in the background, pid in NAME.pid.
start_fixture() {
	local name=$1
	shift
	python3 "$@" >"$IMG_TMP/$name.log" 2>&1 &
	echo $! >"$IMG_TMP/$name.pid"
}

stop_proc() {
	local f="$IMG_TMP/$1.pid" pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$f"
}

stop_all_procs() {
	local f
	for f in "$IMG_TMP"/*.pid; do
		[ -e "$f" ] || continue
		stop_proc "$(basename "$f" .pid)"
	done
}

# push LAYOUT TAG DEST: skopeo copy of an OCI layout to the registry at 127.0.0.1.
push() {
	skopeo copy -q --dest-tls-verify=false "oci:$1:$2" "docker://$3" >&2
}

# blob_gets LOG REPO DIGEST: how many GETs for that blob of REPO the access log saw.
blob_gets() {
	grep -c "\"GET /v2/$2/blobs/$3 " "$1" || true
}

# --- control plane (86-pull.bats, 88-etcd.bats) ---------------------------------------------------

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

# --- etcd (88-etcd.bats) -------------------------------------------------------------------------

# etcd_start: starts (or restarts, keeping its data) the test's etcd; sets ETCD_URL.
etcd_start() {
	requires etcd
	if [ -z "${ETCD_PORT:-}" ]; then
		ETCD_PORT=$(free_port)
		ETCD_PEER=$(free_port)
		[ "$ETCD_PEER" != "$ETCD_PORT" ] || ETCD_PEER=$(free_port)
	fi
	ETCD_URL="http://127.0.0.1:$ETCD_PORT"
	etcd --name "e$UNIQ" --data-dir "$T/etcd" --listen-client-urls "$ETCD_URL" \
		--advertise-client-urls "$ETCD_URL" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
		--initial-cluster "e$UNIQ=http://127.0.0.1:$ETCD_PEER" >>"$T/etcd.log" 2>&1 &
	ETCD_PID=$!
	wait_for 20 etcdctl_ endpoint health
}

etcd_stop() {
	[ -n "${ETCD_PID:-}" ] || return 0
	kill "$ETCD_PID" 2>/dev/null || true
	wait "$ETCD_PID" 2>/dev/null || true
	ETCD_PID=""
}

etcdctl_() {
	ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" --dial-timeout=2s --command-timeout=5s "$@"
}

# etcd_put ID [jq-expr]: the spec of ID (spec() above) at the node's instance key.
etcd_put() {
	local id=$1
	shift
	etcdctl_ put "/drover/nodes/$NODE/instances/$id" "$(spec "$id" "$@")" >/dev/null
}

etcd_status() { # etcd_status ID [jq filter]: what the agent wrote for ID
	etcdctl_ get --print-value-only "/drover/status/$NODE/$1" | jq -r "${2:-.phase}"
}

start_etcd_agent() {
	start_agent --node-name "$NODE" --etcd "$ETCD_URL" --status-interval 1s "$@"
}

# --- net: the harness over net/ (40-net.bats) -----------------------------------------------------

# A /24 (or /$1) in 10.20-219.x.0 that no route on this host uses yet.
pick_subnet() {
	local len=${1:-24} p i
	for i in $(seq 1 50); do
		p="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"
		if ! ip -4 route show | grep -q "^$p\."; then
			NT_PREFIX=$p
			NT_SUBNET="$p.0/$len"
			return 0
		fi
	done
	echo "no free test subnet" >&2
	return 1
}

net_setup() {
	requires root net_harness busybox nsenter unshare nft ip socat
	NT_BR="dt$RANDOM$RANDOM"
	NT_BR=${NT_BR:0:15}
	pick_subnet 24
	NT_TABLE="drover_t$$_${BATS_TEST_NUMBER}"
	NT_DIR="$(mktemp -d "/tmp/drover-net-$$-${BATS_TEST_NUMBER}.XXXX")"
	NT_STATE="$NT_DIR/state"
	NT_NETNS="$NT_DIR/netns"
	NT_CLIENT=""
	NT_CLIENT_VETH=""
	NT_PIDS=()
	NT_LINKS=()
	mkdir -p "$NT_DIR/www"
}

# nh CMD ARGS...: the harness on this test's bridge, subnet, dirs and table.
nh() {
	"$NET_HARNESS" "$NT_BR" "$NT_SUBNET" "$NT_STATE" "$NT_NETNS" "$NT_TABLE" "$@"
}

# attach ID: sets IP, NS and VETH from the harness output.
attach() {
	local out
	out=$(nh attach "$1") || return 1
	read -r IP NS VETH <<<"$out"
}

# in_ns NETNS_PATH CMD...: runs CMD inside the namespace (nsenter execs it, so $! is CMD's pid).
in_ns() {
	local ns=$1
	shift
	nsenter --net="$ns" "$@"
}

# serve_http NETNS_PATH TEXT [PORT]: busybox httpd inside the netns, serving TEXT at /.
serve_http() {
	local dir="$NT_DIR/www/$RANDOM"
	mkdir -p "$dir"
	echo "$2" >"$dir/index.html"
	nsenter --net="$1" busybox httpd -f -p "${3:-8080}" -h "$dir" &
	NT_PIDS+=($!)
	wait_http "$1" "127.0.0.1:${3:-8080}"
}

# wait_http NETNS_PATH ADDR:PORT: until something answers there (from inside NETNS_PATH).
wait_http() {
	local i
	for i in $(seq 1 50); do
		in_ns "$1" timeout 1 busybox wget -q -O /dev/null "http://$2/" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing answers on $2 in $1" >&2
	return 1
}

# client_setup: a netns playing a client host, wired to the host by a veth pair of our own:
# host end 192.168.X.1/30, client end 192.168.X.2/30 with its default route via .1.
client_setup() {
	NT_CLIENT="$NT_DIR/client"
	NT_CLIENT_VETH="dc${NT_BR#dt}"
	NT_CLIENT_VETH=${NT_CLIENT_VETH:0:15}
	NT_HOST_ADDR=$(make_client_host "$NT_CLIENT" "$NT_CLIENT_VETH")
}

# the links this test owns (links.bash): its bridge's ports and its ids' veths, never host-wide
count_links() { count_owned_links "$NT_BR" "$@"; }
count_leases() { find "$NT_STATE/leases" -maxdepth 1 -name '[0-9]*' 2>/dev/null | wc -l; }
count_dnat() { nft list table ip "$NT_TABLE" 2>/dev/null | grep -c 'dnat to' || true; }
count_netns() { find "$NT_NETNS" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# Kills every process whose network namespace is one of the given files.
kill_in_ns() {
	local f ino p
	for f in "$@"; do
		ino=$(stat -L -c %i "$f" 2>/dev/null) || continue
		[ "$(stat -f -c %T "$f" 2>/dev/null)" = "nsfs" ] || continue
		for p in /proc/[0-9]*; do
			[ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$ino" ] && kill -9 "${p#/proc/}" 2>/dev/null
		done
	done
	return 0
}

net_teardown() {
	local p f
	[ -n "${NT_DIR:-}" ] || return 0
	for p in "${NT_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kill_in_ns "$NT_NETNS"/* ${NT_CLIENT:+"$NT_CLIENT"}
	nh teardown >/dev/null 2>&1 || true
	# whatever the harness could not remove
	for f in $(ip -o link show master "$NT_BR" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip link del "$f" 2>/dev/null
	done
	ip link del "$NT_BR" 2>/dev/null
	for f in ${NT_CLIENT_VETH:+"$NT_CLIENT_VETH"} "${NT_LINKS[@]}"; do
		ip link del "$f" 2>/dev/null
	done
	nft delete table ip "$NT_TABLE" 2>/dev/null
	nft delete table bridge "$NT_TABLE" 2>/dev/null
	for f in "$NT_NETNS"/* ${NT_CLIENT:+"$NT_CLIENT"}; do
		[ -e "$f" ] || continue
		umount -l "$f" 2>/dev/null
		rm -f "$f"
	done
	while mountpoint -q "$NT_NETNS" 2>/dev/null; do
		umount -l "$NT_NETNS" || break
	done
	rm -rf "$NT_DIR"
	return 0
}

# --- links a test owns ---------------------------------------------------------------------------

# drover_veth_name BRIDGE ID: the host end of ID's veth on BRIDGE, as net/ names it (the test
# harness prints it, so the hash is never copied here).
drover_veth_name() {
	"$REPO_ROOT/${DROVER_BUILD:-build}/tests/net-harness" "$1" - - - - vethname "$2"
}

# count_owned_links BRIDGE ID...: ports of BRIDGE plus the veths of the IDs that are not on it.
count_owned_links() {
	local br=$1 n id name
	shift
	n=$(ip -o link show master "$br" 2>/dev/null | wc -l)
	for id in "$@"; do
		name=$(drover_veth_name "$br" "$id")
		if ip link show "$name" >/dev/null 2>&1 && ! ip -o link show master "$br" 2>/dev/null | grep -q ": $name@"; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

# --- a client host ---------------------------------------------------------------------------------

# make_client_host NS_FILE VETH: a network namespace playing another host, bind-mounted at
# NS_FILE and wired to this host by a veth pair of the test's own: host end VETH with
# 192.168.X.1/30, client end eth0 with 192.168.X.2/30 and its default route via .1, X picked so
# no route on this host uses it. Prints the host end's address.
make_client_host() {
	local ns=$1 veth=$2 x
	for _ in $(seq 1 50); do
		x=$((RANDOM % 150 + 100))
		ip -4 route show | grep -q "^192\.168\.$x\." || break
	done
	: >"$ns"
	unshare --net="$ns" true
	ip link add "$veth" type veth peer name eth0 netns "$ns"
	ip addr add "192.168.$x.1/30" dev "$veth"
	ip link set "$veth" up
	nsenter --net="$ns" ip addr add "192.168.$x.2/30" dev eth0
	nsenter --net="$ns" ip link set lo up
	nsenter --net="$ns" ip link set eth0 up
	nsenter --net="$ns" ip route add default via "192.168.$x.1"
	echo "192.168.$x.1"
}
