#!/usr/bin/env bash
# A private etcd (Debian's etcd-server) on free loopback ports, its data in the test's dir.

# etcd_start: starts (or restarts, keeping its data) the test's etcd; sets ETCD_URL.
etcd_start() {
	[ -x /usr/bin/etcd ] || skip "needs etcd-server"
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

# etcd_put ID [jq-expr]: the spec of ID (spec() of helpers.bash) at the node's instance key.
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
