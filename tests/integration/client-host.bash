#!/usr/bin/env bash
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
