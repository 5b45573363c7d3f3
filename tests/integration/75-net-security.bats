#!/usr/bin/env bats
# What a hostile workload on the bridge cannot do: reach the host's 127.0.0.1 with hand-made
# frames (it has CAP_NET_RAW), take over a host port, reach the node's own services or the
# metadata address, spoof a neighbour's address (IP, MAC or ARP), or send IPv6 router
# advertisements to the host. Frames are made by tests/helpers/raw-send, run inside the container
# with `runc exec`. Every address used is the test's own: its bridge, its client netns, and a
# policy route that sends only this bridge's 169.254.169.254 traffic to that netns.
# SC2154: bats sets status and output.
# shellcheck disable=SC2154

load helpers
bats_require_minimum_version 1.5.0

RAW_SEND="$REPO_ROOT/${DROVER_BUILD:-build}/tests/raw-send"

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	BG_PIDS=()
	CLIENT_NS=""
	CLIENT_VETH=""
	RT_TABLE=""
	requires nsenter unshare socat nft ip raw_send
}

teardown() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$RT_TABLE" ]; then
		ip rule del iif "$NET_BR" to 169.254.169.254/32 lookup "$RT_TABLE" 2>/dev/null
		ip route flush table "$RT_TABLE" 2>/dev/null
	fi
	[ -z "$CLIENT_VETH" ] || ip link del "$CLIENT_VETH" 2>/dev/null
	if [ -n "$CLIENT_NS" ]; then
		umount -l "$CLIENT_NS" 2>/dev/null
		rm -f "$CLIENT_NS"
	fi
	drv_teardown
}

# sleeper ID: a bridge instance that only sleeps.
sleeper() {
	spec "$1" '.network = {mode: "bridge"} | .command = ["sleep", "1000"] | .stop_grace_ms = 0' >"$ASSIGN/$1.json"
}

# bystander: an unrelated instance whose PID must survive every test.
bystander_start() {
	sleeper bystander
	wait_for 10 phase_is bystander running
	BY_PID=$(status_of bystander .pid)
}

bystander_ok() {
	curl -sf -m 1 --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null
	[ "$(status_of bystander)" = running ]
	[ "$(status_of bystander .pid)" = "$BY_PID" ]
	kill -0 "$BY_PID"
}

# cexec ID CMD...: runs CMD inside the container (its namespaces, capabilities and seccomp).
cexec() {
	local id=$1
	shift
	"$RUNC" --root "$RUN/runc" exec "$id" "$@"
}

# raw_into ID: copies the static frame maker into the container's root.
raw_into() {
	install -m 0755 "$RAW_SEND" "$STATE/bundles/$1/rootfs/raw-send"
}

mac_of() { # NETNS_FILE: the MAC of eth0 in it (not from /sys: that is the host's view)
	nsenter --net="$1" ip -o link show eth0 | awk '{ for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1) }'
}

# in_net ID CMD...: CMD in the instance's network namespace (its eth0, its routes), for clients
# the image lacks.
in_net() {
	local id=$1
	shift
	nsenter --net="$RUN/netns/$id" "$@"
}

# counter FAMILY COMMENT: packets counted by drover's rules with that comment.
counter() {
	nft list table "$1" "$NFT_TABLE" | awk -v c="comment \"$2\"" \
		'index($0, c) { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}

# udp_sink FILE ADDR PORT [NETNS]: appends every datagram received there to FILE.
udp_sink() {
	local ns=()
	[ -z "${4:-}" ] || ns=(nsenter --net="$4")
	"${ns[@]}" socat -u "UDP-RECV:$3,bind=$2" "OPEN:$1,creat,append" &
	BG_PIDS+=($!)
}

# http_sink NETNS|host ADDR PORT TEXT: a TCP listener answering an HTTP GET with TEXT.
http_sink() {
	local ns=() resp="$T/resp-$3-$RANDOM"
	[ "$1" = host ] || ns=(nsenter --net="$1")
	printf 'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s\n' $((${#4} + 1)) "$4" >"$resp"
	"${ns[@]}" socat "TCP-LISTEN:$3,bind=$2,reuseaddr,fork" "SYSTEM:cat $resp" &
	BG_PIDS+=($!)
}

# web ID [jq]: an httpd instance answering "hello" on 8080, in bridge mode.
web() {
	spec "$1" '.network = {mode: "bridge"} | .stop_grace_ms = 0 | .command = ["sh", "-c", "mkdir -p /www; echo hello > /www/index.html; exec httpd -f -p 8080 -h /www"]' |
		jq -c "${2:-.}"
}

# client_net: a netns playing another host (sets CLIENT_NS, HOST_ADDR, CLIENT_ADDR).
client_net() {
	CLIENT_NS="$T/client.ns"
	CLIENT_VETH="dc${NET_BR#dt}"
	CLIENT_VETH=${CLIENT_VETH:0:15}
	HOST_ADDR=$(make_client_host "$CLIENT_NS" "$CLIENT_VETH")
	CLIENT_ADDR="${HOST_ADDR%.1}.2"
}

# metadata_net: 169.254.169.254 answering "metadata" inside the client netns, and a policy route
# that sends only traffic arriving from this test's bridge there (the host's own is untouched).
metadata_net() {
	local i
	client_net
	nsenter --net="$CLIENT_NS" ip addr add 169.254.169.254/32 dev lo
	http_sink "$CLIENT_NS" 169.254.169.254 80 metadata
	for i in $(seq 1 50); do
		RT_TABLE=$((RANDOM % 20000 + 10000))
		[ -z "$(ip route show table "$RT_TABLE" 2>/dev/null)" ] && break
	done
	ip route add 169.254.169.254/32 via "$CLIENT_ADDR" table "$RT_TABLE"
	ip rule add iif "$NET_BR" to 169.254.169.254/32 lookup "$RT_TABLE"
	wait_for 3 port_listening tcp 80 "$CLIENT_NS"
}

# show_tables: drover's tables with their counters, on stderr (bats shows it when a test fails)
show_tables() {
	nft list table ip "$NFT_TABLE" >&2
	nft list table bridge "$NFT_TABLE" >&2
	ip -o link show master "$NET_BR" >&2
}

port_listening() { # PROTO PORT [NETNS]
	local ns=()
	[ -z "${3:-}" ] || ns=(nsenter --net="$3")
	"${ns[@]}" ss -Hln"${1:0:1}" "sport = :$2" | grep -q .
}

@test "C1: frames from a container to the host's 127.0.0.1 reach nothing; the gateway does" {
	start_agent --allow-host-access
	bystander_start
	sleeper evil
	wait_for 10 phase_is evil running
	local gw="$NET_PREFIX.1" port=$((RANDOM % 10000 + 30000)) ip_e gwmac i before
	ip_e=$(status_of evil .ip)
	gwmac=$(cat "/sys/class/net/$NET_BR/address")
	udp_sink "$T/lo.out" 127.0.0.1 "$port"
	udp_sink "$T/gw.out" "$gw" "$((port + 1))"
	wait_for 3 port_listening udp "$port"
	wait_for 3 port_listening udp "$((port + 1))"
	raw_into evil
	# the container has CAP_NET_RAW: hand-made IPv4/UDP frames to the gateway's MAC
	cexec evil /bin/busybox grep -q "^CapEff:.*[1-9a-f]" /proc/self/status
	before=$(counter bridge loopback)
	for i in 1 2 3; do
		cexec evil /raw-send udp eth0 "$gwmac" self "$ip_e" 127.0.0.1 "$port" "loopback-$i"
		cexec evil /raw-send udp eth0 "$gwmac" self "$ip_e" "$gw" "$((port + 1))" "control-$i"
	done
	wait_for 3 grep -q control- "$T/gw.out"
	sleep 0.3
	[ ! -s "$T/lo.out" ]
	[ "$(counter bridge loopback)" -ge $((before + 3)) ]
	[ "$(cat "/proc/sys/net/ipv4/conf/$NET_BR/route_localnet")" = 0 ]
	bystander_ok
}

@test "H3: a host port a host process holds, or a reserved one, is refused; published ports reach the node's own addresses, not 127.0.0.1" {
	local busy=$((RANDOM % 5000 + 30000)) rsv=$((RANDOM % 5000 + 36000)) ok=$((RANDOM % 5000 + 42000))
	start_agent --reserved-host-ports "22,$rsv-$((rsv + 1))"
	bystander_start
	client_net
	http_sink host 127.0.0.1 "$busy" host-service
	wait_for 3 port_listening tcp "$busy"
	udp_sink "$T/udp.out" 127.0.0.1 "$busy"
	wait_for 3 port_listening udp "$busy"

	drv_run api PUT /v1/instances/thief "$(web thief '.network.ports = [{container: 8080, host: '"$busy"'}]')"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *"host port tcp/$busy is in use by a process on this node"* ]]
	drv_run api PUT /v1/instances/thief "$(web thief '.network.ports = [{container: 53, host: '"$busy"', protocol: "udp"}]')"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *"udp/$busy"* ]]
	drv_run api PUT /v1/instances/thief "$(web thief '.network.ports = [{container: 8080, host: '"$((rsv + 1))"'}]')"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *"host port tcp/$((rsv + 1)) is reserved on this node"* ]]
	drv_run api PUT /v1/instances/thief "$(web thief '.network.ports = [{container: 22, host: 22}]')"
	[[ "$output" == *"HTTP 409"* ]]
	[[ "$output" == *"tcp/22 is reserved"* ]]
	drv_run api GET /v1/instances/thief
	[[ "$output" == *"HTTP 404"* ]]
	# from the assignments dir: failed, with the port in the reason
	web thief2 '.network.ports = [{container: 8080, host: '"$busy"'}]' >"$ASSIGN/thief2.json"
	wait_for 5 phase_is thief2 failed
	[[ "$(status_of thief2 .message)" == *"tcp/$busy is in use"* ]]
	# the host's service is untouched
	[ "$(curl -sf -m 3 "http://127.0.0.1:$busy/")" = host-service ]
	# 22 is reserved by default
	"$DROVERD" --help | grep -q -- '--reserved-host-ports .*\[22\]'

	web pub '.network.ports = [{container: 8080, host: '"$ok"'}]' >"$ASSIGN/pub.json"
	wait_for 10 phase_is pub running
	wait_for 5 curl -sf -m 1 "http://$HOST_ADDR:$ok/"
	[ "$(nsenter --net="$CLIENT_NS" timeout 3 busybox wget -q -O - "http://$HOST_ADDR:$ok/")" = hello ]
	[ "$(curl -sf -m 3 "http://$HOST_ADDR:$ok/")" = hello ]
	[ "$(curl -sf -m 3 "http://$NET_PREFIX.1:$ok/")" = hello ]
	run ! curl -sf -m 2 "http://127.0.0.1:$ok/"
	bystander_ok
}

@test "M8: the node's services and 169.254.169.254 are closed to containers; --allow-host-access opens them" {
	start_agent
	bystander_start
	sleeper c1
	wait_for 10 phase_is c1 running
	local gw="$NET_PREFIX.1" port=$((RANDOM % 10000 + 30000)) before_h before_m
	http_sink host "$gw" "$port" host-on-gateway
	wait_for 3 port_listening tcp "$port"
	metadata_net
	before_h=$(counter ip "host access")
	before_m=$(counter ip metadata)
	drv_run in_net c1 timeout 3 busybox wget -q -O - "http://$gw:$port/"
	[ "$status" -ne 0 ]
	drv_run in_net c1 timeout 3 busybox wget -q -O - "http://169.254.169.254/"
	[ "$status" -ne 0 ]
	show_tables
	[ "$(counter ip "host access")" -gt "$before_h" ]
	[ "$(counter ip metadata)" -gt "$before_m" ]
	# replies to what the host opens are let in: the host still reaches the instance
	busybox ping -c 1 -W 2 "$(status_of c1 .ip)"
	bystander_ok

	stop_agent
	start_agent --allow-host-access
	[ "$(in_net c1 timeout 4 busybox wget -q -O - "http://$gw:$port/")" = host-on-gateway ]
	[ "$(in_net c1 timeout 4 busybox wget -q -O - "http://169.254.169.254/")" = metadata ]
	bystander_ok
}

@test "M8/M2: a container cannot spoof a neighbour's IP, MAC or ARP, nor send IPv6; IPv6 is off on the bridge" {
	start_agent
	bystander_start
	local id
	for id in a b c; do
		sleeper "$id"
	done
	for id in a b c; do
		wait_for 10 phase_is "$id" running
	done
	local ip_a ip_b ip_c mac_a mac_b mac_c before i
	ip_a=$(status_of a .ip)
	ip_b=$(status_of b .ip)
	ip_c=$(status_of c .ip)
	mac_a=$(mac_of "$RUN/netns/a")
	mac_b=$(mac_of "$RUN/netns/b")
	mac_c=$(mac_of "$RUN/netns/c")
	udp_sink "$T/c.out" 0.0.0.0 9999 "$RUN/netns/c"
	wait_for 3 port_listening udp 9999 "$RUN/netns/c"
	raw_into a
	before=$(counter bridge spoofed)
	for i in 1 2 3; do
		cexec a /raw-send udp eth0 "$mac_c" self "$ip_b" "$ip_c" 9999 "spoofed-ip-$i"
		cexec a /raw-send udp eth0 "$mac_c" 02:d7:de:ad:be:ef "$ip_a" "$ip_c" 9999 "spoofed-mac-$i"
		cexec a /raw-send udp eth0 "$mac_c" self "$ip_a" "$ip_c" 9999 "genuine-$i"
	done
	show_tables
	wait_for 3 grep -q genuine- "$T/c.out"
	sleep 0.3
	run ! grep spoofed "$T/c.out"
	[ "$(counter bridge spoofed)" -ge $((before + 6)) ]

	# ARP: c knows b's MAC; a's gratuitous ARP claiming b's address changes nothing
	in_net c busybox ping -c 1 -W 2 "$ip_b"
	[[ "$(nsenter --net="$RUN/netns/c" ip neigh show "$ip_b")" == *"$mac_b"* ]]
	sleep 1.1 # past the neighbour entry's lock time, so a real update would land
	before=$(counter bridge spoofed)
	cexec a /raw-send arp eth0 self "$ip_b"
	cexec a /raw-send arp eth0 self "$ip_b"
	sleep 0.3
	[[ "$(nsenter --net="$RUN/netns/c" ip neigh show "$ip_b")" == *"$mac_b"* ]]
	[[ "$(nsenter --net="$RUN/netns/c" ip neigh show "$ip_b")" != *"$mac_a"* ]]
	[ "$(counter bridge spoofed)" -ge $((before + 2)) ]
	# instances still talk to each other and to the world's side of the gateway
	in_net a busybox ping -c 1 -W 2 "$ip_c"

	# M2: no router advertisements accepted, no IPv6 on the bridge or the instances' veths
	[ "$(cat "/proc/sys/net/ipv6/conf/$NET_BR/accept_ra")" = 0 ]
	[ "$(cat "/proc/sys/net/ipv6/conf/$NET_BR/disable_ipv6")" = 1 ]
	local veth n=0
	for veth in $(ip -o link show master "$NET_BR" | awk -F': ' '{print $2}' | cut -d@ -f1); do
		[ "$(cat "/proc/sys/net/ipv6/conf/$veth/disable_ipv6")" = 1 ]
		n=$((n + 1))
	done
	[ "$n" -eq 4 ]
	# and IPv6 frames from an instance (an RA among them) never pass the bridge
	before=$(counter bridge spoofed)
	in_net a busybox ping6 -c 1 -W 1 -I eth0 ff02::1 || true
	[ "$(counter bridge spoofed)" -gt "$before" ]
	bystander_ok
}
