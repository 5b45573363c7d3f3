#!/usr/bin/env bash
# Helpers for the drover-shim bats tests: busybox bundles, a shim wrapper, bounded waits, cleanup.
# Needs root, runc, jq and a static busybox. Every test gets its own temp dir, runc root and cgroup.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHIM="${SHIM:-$REPO_ROOT/build/drover-shim}"
RUNC="${RUNC:-/usr/sbin/runc}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
BUSYBOX_APPLETS=(sh echo sleep dd head cat tr yes seq printf true false)

# Runs a command like bats' `run` and echoes its status and output to stderr (bats shows it on failure).
# shellcheck disable=SC2154 # status and output are set by bats' run
shim_run() {
	run "$@"
	echo "shim_run $*" >&2
	echo "status: $status" >&2
	echo "output: $output" >&2
}

requires_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	[ -x "$RUNC" ] || skip "needs runc at $RUNC"
	[ -x "$BUSYBOX" ] || skip "needs busybox at $BUSYBOX"
	command -v jq >/dev/null || skip "needs jq"
	[ -x "$SHIM" ] || skip "build $SHIM first (make build/drover-shim)"
}

# Sets TMP, ROOT (runc state), BUNDLE, CTR_ID and CG_NAME for this test.
shim_setup() {
	requires_root
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
