#!/usr/bin/env bash
# Helpers for 40-net.bats: a bridge, subnet, nftables table and state/netns dirs unique to each
# test, the net-harness wrapper, a client netns playing another host, and a teardown that removes
# everything the test made (processes, namespaces, veths, the bridge, the table, mounts, dirs).
# SC2154: bats sets status and output; SC2034: IP, NS, VETH, NT_PREFIX are read by 40-net.bats.
# shellcheck disable=SC2154,SC2034

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=tests/integration/client-host.bash
. "$REPO_ROOT/tests/integration/client-host.bash"
NET_HARNESS="${NET_HARNESS:-$REPO_ROOT/${DROVER_BUILD:-build}/tests/net-harness}"

# Like bats' `run`, and shows the command, status and output when a test fails.
net_run() {
	run "$@"
	echo "net_run $*" >&2
	echo "status: $status" >&2
	echo "output: $output" >&2
}

requires_net() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	[ -x "$NET_HARNESS" ] || skip "build $NET_HARNESS first (make build/tests/net-harness)"
	local t
	for t in busybox nsenter unshare nft ip socat; do
		command -v "$t" >/dev/null || skip "needs $t"
	done
}

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
	requires_net
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
