#!/usr/bin/env bash
# Counting only the links a test owns: the ports of its own bridge, plus the host ends of the
# veths of its own instance ids wherever they are (a leaked veth is off the bridge). Never a
# host-wide total: other tests and programs make links on this host at the same time.

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
