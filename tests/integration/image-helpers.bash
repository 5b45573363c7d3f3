#!/usr/bin/env bash
# Helpers for tests/integration/50-image.bats: Debian's docker-registry on free loopback ports
# (own storage per test file, access log on), images built with demo/build-image.sh and pushed
# with skopeo, the fixtures in tests/fixtures, and a teardown that stops every process started.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DROVER_IMAGE="$REPO_ROOT/${DROVER_BUILD:-build}/drover-image"
FIXTURES="$REPO_ROOT/tests/fixtures"
REGISTRY_BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"

# Like bats' `run`, and shows the command, status and output when a test fails.
img_run() {
	run "$@"
	echo "img_run $*" >&2
	echo "status: $status" >&2
	echo "output: $output" >&2
}

requires_image_tools() {
	[ -x "$DROVER_IMAGE" ] || skip "build drover-image first"
	command -v skopeo >/dev/null || skip "needs skopeo"
	[ -x "$REGISTRY_BIN" ] || skip "needs docker-registry"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

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
