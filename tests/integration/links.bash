#!/usr/bin/env bash
# Counting only the links a test owns: the ports of its own bridge, plus the host ends of the
# veths of its own instance ids wherever they are (a leaked veth is off the bridge). Never a
# host-wide total: other tests and programs make links on this host at the same time.

# fnv1a32 HASH STRING: FNV-1a over the bytes of STRING, from HASH (as net/net-util.c does).
fnv1a32() {
	local h=$1 s=$2 i c
	LC_ALL=C
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ c) * 16777619 & 0xffffffff))
	done
	echo "$h"
}

# drover_veth_name BRIDGE ID: the host end of ID's veth on BRIDGE ("dv" + 8 hex digits).
drover_veth_name() {
	local h
	h=$(fnv1a32 2166136261 "$1")
	h=$(fnv1a32 $((h ^ 255)) "/")
	h=$(fnv1a32 "$h" "$2")
	printf 'dv%08x\n' "$h"
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
