#!/usr/bin/env bats
# droverd with bridge networking: instances get an address on a bridge of this test's own,
# reach each other and are reached through published ports; addresses survive restarts of the
# container and of the agent; removal leaves nothing behind. Traffic stays inside the
# namespaces, veths and bridge the test made.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	CLIENT_NS=""
	CLIENT_VETH=""
	BG_PIDS=()
	requires nsenter unshare socat nft
}

teardown() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -z "$CLIENT_VETH" ] || ip link del "$CLIENT_VETH" 2>/dev/null
	if [ -n "$CLIENT_NS" ]; then
		umount -l "$CLIENT_NS" 2>/dev/null
		rm -f "$CLIENT_NS"
	fi
	drv_teardown
}

# An httpd instance serving TEXT on 8080.
web_spec() { # ID TEXT [jq]
	spec "$1" ".network = {mode: \"bridge\"} | .command = [\"sh\", \"-c\", \"mkdir -p /www; echo $2 > /www/index.html; exec httpd -f -p 8080 -h /www\"] | ${3:-.}"
}

fetch() { # NETNS|host URL
	if [ "$1" = host ]; then
		timeout 3 busybox wget -q -O - "$2"
	else
		nsenter --net="$1" timeout 3 busybox wget -q -O - "$2"
	fi
}

# A netns playing a client host, wired to the host by a veth pair of our own (192.168.X.1/30 on
# the host end). Sets CLIENT_NS and HOST_ADDR.
client_setup() {
	CLIENT_NS="$T/client.ns"
	CLIENT_VETH="dc${NET_BR#dt}"
	CLIENT_VETH=${CLIENT_VETH:0:15}
	HOST_ADDR=$(make_client_host "$CLIENT_NS" "$CLIENT_VETH")
}

count_dnat() { nft list table ip "$NFT_TABLE" 2>/dev/null | grep -c 'dnat to' || true; }
# the addresses the bridge table's anti-spoofing sets hold (one element per set per instance)
count_elements() {
	nft list table bridge "$NFT_TABLE" 2>/dev/null | grep -o "$NET_PREFIX\.[0-9]*" | sort -u | wc -l
}
count_leases() { find "$STATE/net/leases" -maxdepth 1 -name '[0-9]*' 2>/dev/null | wc -l; }
# the links this test owns (links.bash): its bridge's ports and its ids' veths, never host-wide
count_links() { count_owned_links "$NET_BR" "$@"; }
count_netns() { find "$RUN/netns" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

@test "two bridge instances reach each other by IP; the host reaches them; the status has the IP" {
	start_agent
	web_spec a1 hello-a >"$ASSIGN/a1.json"
	spec b1 '.network = {mode: "bridge"} | .command = ["sleep", "1000"]' >"$ASSIGN/b1.json"
	wait_for 10 phase_is a1 running
	wait_for 10 phase_is b1 running
	ip_a=$(status_of a1 .ip)
	ip_b=$(status_of b1 .ip)
	[[ "$ip_a" == "$NET_PREFIX".* ]]
	[[ "$ip_b" == "$NET_PREFIX".* ]]
	[ "$ip_a" != "$ip_b" ]
	wait_for 5 fetch "$RUN/netns/b1" "http://$ip_a:8080/"
	[ "$(fetch "$RUN/netns/b1" "http://$ip_a:8080/")" = hello-a ]
	[ "$(fetch host "http://$ip_a:8080/")" = hello-a ]
	# the container sees the address on eth0
	pid=$(status_of b1 .pid)
	nsenter --net="/proc/$pid/ns/net" ip -o -4 addr show eth0 | grep -q "$ip_b/"
}

@test "published TCP and UDP ports are reached from another host through the host's address" {
	start_agent
	client_setup
	web_spec pub hello-pub '.network.ports = [{container: 8080, host: 18080}]' >"$ASSIGN/pub.json"
	spec udp '.network = {mode: "bridge", ports: [{container: 9000, host: 19000, protocol: "udp"}]} | .command = ["sleep", "1000"]' >"$ASSIGN/udp.json"
	wait_for 10 phase_is pub running
	wait_for 10 phase_is udp running
	[ "$(status_of pub '.ports[0].host')" = 18080 ]
	wait_for 5 fetch "$CLIENT_NS" "http://$HOST_ADDR:18080/"
	[ "$(fetch "$CLIENT_NS" "http://$HOST_ADDR:18080/")" = hello-pub ]
	# the host itself reaches the published port through its own address
	[ "$(fetch host "http://$HOST_ADDR:18080/")" = hello-pub ]
	# UDP: a server in the instance's namespace answers a client on the other host
	nsenter --net="$RUN/netns/udp" socat UDP-RECVFROM:9000,fork SYSTEM:'echo pong' &
	BG_PIDS+=($!)
	sleep 0.3
	out=$(nsenter --net="$CLIENT_NS" sh -c "echo ping | timeout 3 socat - UDP:$HOST_ADDR:19000")
	[ "$out" = pong ]
}

@test "an instance restarted by its policy keeps its IP and veth" {
	start_agent
	spec flap '.network = {mode: "bridge"} | .command = ["sh", "-c", "sleep 0.5; exit 1"] | .restart = "always"' >"$ASSIGN/flap.json"
	wait_for 10 phase_is flap running
	ip1=$(status_of flap .ip)
	wait_for 15 sh -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/flap | jq .restarts) -ge 2 ]"
	[ "$(status_of flap .ip)" = "$ip1" ]
	[ "$(count_leases)" = 1 ]
	[ "$(count_netns)" = 1 ]
}

@test "kill -9 of droverd keeps IPs, connectivity and rules, with no duplicates" {
	start_agent
	client_setup
	web_spec keep hello-keep '.network.ports = [{container: 8080, host: 18081}]' >"$ASSIGN/keep.json"
	wait_for 10 phase_is keep running
	ip1=$(status_of keep .ip)
	wait_for 5 fetch "$CLIENT_NS" "http://$HOST_ADDR:18081/"
	rules=$(count_dnat)
	kill9_agent
	start_agent
	[ "$(status_of keep .ip)" = "$ip1" ]
	[ "$(status_of keep)" = running ]
	[ "$(count_dnat)" = "$rules" ]
	[ "$(fetch "$CLIENT_NS" "http://$HOST_ADDR:18081/")" = hello-keep ]
	[ "$(fetch host "http://$ip1:8080/")" = hello-keep ]
}

@test "removal leaves no veth, netns, lease or rule; 100 create/remove cycles leave the counts as they were" {
	start_agent
	spec warm '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .stop_grace_ms = 0' >"$ASSIGN/warm.json"
	wait_for 10 phase_is warm running
	rm "$ASSIGN/warm.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/warm"
	links=$(count_links warm cyc)
	[ "$links" = 0 ]
	[ "$(count_leases)" = 0 ]
	[ "$(count_netns)" = 0 ]
	[ "$(count_dnat)" = 0 ]
	[ "$(count_elements)" = 0 ]
	body=$(spec cyc '.network = {mode: "bridge", ports: [{container: 8080, host: 18082}]} | .command = ["sleep", "1000"] | .stop_grace_ms = 0')
	per=""
	for n in $(seq 1 100); do
		curl -sf --unix-socket "$SOCK" -X PUT --data-binary "$body" http://localhost/v1/instances/cyc >/dev/null
		wait_for 10 phase_is cyc running
		[ -n "$per" ] || per=$(count_dnat)
		[ "$per" -ge 1 ]
		[ "$(count_dnat)" = "$per" ]
		[ "$(count_links cyc)" = 1 ] # its veth, on our bridge
		[ "$(count_elements)" = 1 ]  # its address in the anti-spoofing sets
		curl -sf --unix-socket "$SOCK" -X DELETE http://localhost/v1/instances/cyc >/dev/null
		wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/cyc"
	done
	[ "$(count_links warm cyc)" = "$links" ]
	[ "$(count_leases)" = 0 ]
	[ "$(count_netns)" = 0 ]
	[ "$(count_dnat)" = 0 ]
	[ "$(count_elements)" = 0 ]
}

@test "a start changes only its own anti-spoofing elements; a bridge table removed behind the agent comes back whole" {
	start_agent
	spec a1 '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .stop_grace_ms = 0' >"$ASSIGN/a1.json"
	wait_for 10 phase_is a1 running
	local ip_a ip_b handle
	ip_a=$(status_of a1 .ip)
	nft list set bridge "$NFT_TABLE" ipv4_ok | grep -q "$ip_a"
	nft list set bridge "$NFT_TABLE" arp_ok | grep -q "$ip_a"
	# the chain is not rebuilt by a start: its rules keep their handles
	handle=$(nft -a list chain bridge "$NFT_TABLE" prerouting | grep 'counter' | tail -1)
	spec b1 '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .stop_grace_ms = 0' >"$ASSIGN/b1.json"
	wait_for 10 phase_is b1 running
	ip_b=$(status_of b1 .ip)
	[ "$(nft -a list chain bridge "$NFT_TABLE" prerouting | grep 'counter' | tail -1 | sed 's/packets [0-9]* bytes [0-9]*//')" = "$(sed 's/packets [0-9]* bytes [0-9]*//' <<<"$handle")" ]
	[ "$(count_elements)" = 2 ]
	# someone removes the table: the next start puts it back with every instance's elements
	nft delete table bridge "$NFT_TABLE"
	spec c1 '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .stop_grace_ms = 0' >"$ASSIGN/c1.json"
	wait_for 10 phase_is c1 running
	[ "$(count_elements)" = 3 ]
	nft list set bridge "$NFT_TABLE" ipv4_ok | grep -q "$ip_a"
	nft list set bridge "$NFT_TABLE" ipv4_ok | grep -q "$ip_b"
	# a removal takes its elements only
	rm "$ASSIGN/b1.json"
	wait_for 10 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/b1"
	[ "$(count_elements)" = 2 ]
	run ! grep -q "$ip_b" <<<"$(nft list table bridge "$NFT_TABLE")"
}

@test "a host port another instance publishes is refused without disturbing it" {
	start_agent
	web_spec holder hello-holder '.network.ports = [{container: 8080, host: 18083}]' >"$ASSIGN/holder.json"
	wait_for 10 phase_is holder running
	ip1=$(status_of holder .ip)
	rules=$(count_dnat)
	[ "$rules" -ge 1 ]
	drv_run api PUT /v1/instances/thief "$(web_spec thief x '.network.ports = [{container: 8080, host: 18083}]')"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *"18083"*holder* ]]
	web_spec thief2 x '.network.ports = [{container: 8080, host: 18083}]' >"$ASSIGN/thief2.json"
	wait_for 5 phase_is thief2 failed
	[[ "$(status_of thief2 .message)" == *18083* ]]
	[ "$(count_dnat)" = "$rules" ]
	[ "$(fetch host "http://$ip1:8080/")" = hello-holder ]
	[ "$(status_of holder)" = running ]
}

@test "a full subnet gives a clear error" {
	NET_SUBNET="$NET_PREFIX.0/29" # gateway + 5 addresses
	start_agent
	for n in 1 2 3 4 5; do
		spec "f$n" '.network = {mode: "bridge"} | .command = ["sleep", "1000"]' >"$ASSIGN/f$n.json"
		wait_for 10 phase_is "f$n" running
	done
	spec f6 '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .restart = "never"' >"$ASSIGN/f6.json"
	wait_for 10 phase_is f6 failed
	[ "$(status_of f6 .reason)" = StartFailed ]
	[[ "$(status_of f6 .message)" == *"no free address"* ]]
}
