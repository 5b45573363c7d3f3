#!/usr/bin/env bats
# net/: bridge, veth, IPAM, agent-owned netns and the nftables table, on a real bridge and real
# namespaces, through tests/helpers/net-harness (each call is a fresh net_ctx, as a restarted
# agent). Every test uses its own bridge, subnet, table and dirs, and talks only to addresses
# inside the namespaces and bridges it made.
# SC2153/SC2034: IP, NS, VETH and NT_* are set and read by net-helpers.bash; SC2030/SC2031: each
# @test runs in its own subshell on purpose (teardown runs in it too).
# shellcheck disable=SC2153,SC2034,SC2030,SC2031

load helpers
bats_require_minimum_version 1.5.0

setup() {
	net_setup
}

teardown() {
	net_teardown
}

@test "net: two instances reach each other by IP, and the host reaches them" {
	attach a
	local ip_a=$IP ns_a=$NS
	attach b
	local ip_b=$IP ns_b=$NS
	[ "$ip_a" != "$ip_b" ]
	[[ "$ip_a" == "$NT_PREFIX".* ]]
	serve_http "$ns_a" "hello from a"

	net_run in_ns "$ns_b" timeout 3 busybox wget -q -O - "http://$ip_a:8080/"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from a" ]
	net_run timeout 3 busybox wget -q -O - "http://$ip_a:8080/"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from a" ]

	# inside: eth0 with the address, the bridge's MTU, a default route via the gateway, lo up
	net_run in_ns "$ns_a" ip -o -4 addr show dev eth0
	[[ "$output" == *"inet $ip_a/24"* ]]
	net_run in_ns "$ns_a" ip route show default
	[[ "$output" == "default via $NT_PREFIX.1 dev eth0"* ]]
	net_run in_ns "$ns_a" ip -o link show lo
	[[ "$output" == *"UP"* ]]
	[[ "$(ip -o link show "$VETH")" == *"master $NT_BR "* ]]
}

@test "net: runc joins the agent-owned netns by path" {
	local runc
	requires runc
	runc=$RUNC
	attach web
	local b="$NT_DIR/bundle" id="nt$$-$RANDOM"
	mkdir -p "$b/rootfs/bin"
	cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
	(cd "$b" && "$runc" spec)
	jq --arg ns "$NS" '.process.terminal = false
		| .process.args = ["/bin/busybox", "ip", "-o", "-4", "addr", "show", "dev", "eth0"]
		| .linux.namespaces = [.linux.namespaces[] | if .type == "network" then .path = $ns else . end]' \
		"$b/config.json" >"$b/config.json.new"
	mv "$b/config.json.new" "$b/config.json"
	net_run "$runc" --root "$NT_DIR/runc" run --bundle "$b" "$id"
	"$runc" --root "$NT_DIR/runc" delete -f "$id" >/dev/null 2>&1 || true
	[ "$status" -eq 0 ]
	[[ "$output" == *"inet $IP/24"* ]]
}

@test "net: a published TCP port is reached from another host, and from the host itself" {
	attach web
	serve_http "$NS" "published web"
	local hp=$((RANDOM % 20000 + 20000))
	net_run nh publish web "$IP" "tcp:$hp:8080"
	[ "$status" -eq 0 ]
	client_setup

	net_run in_ns "$NT_CLIENT" timeout 3 busybox wget -q -O - "http://$NT_HOST_ADDR:$hp/"
	[ "$status" -eq 0 ]
	[ "$output" = "published web" ]
	net_run timeout 3 busybox wget -q -O - "http://$NT_HOST_ADDR:$hp/"
	[ "$output" = "published web" ]
	net_run timeout 3 busybox wget -q -O - "http://$NT_PREFIX.1:$hp/"
	[ "$output" = "published web" ]
	# 127.0.0.1:PORT stays the host's own: not DNATed to the instance
	net_run timeout 3 busybox wget -q -O - "http://127.0.0.1:$hp/"
	[ "$status" -ne 0 ]
	# another instance reaches it through the host's address as well (hairpin)
	attach other
	net_run in_ns "$NS" timeout 3 busybox wget -q -O - "http://$NT_HOST_ADDR:$hp/"
	[ "$output" = "published web" ]
}

@test "net: a published UDP port is reached from another host" {
	attach dns
	local hp=$((RANDOM % 20000 + 20000)) got="$NT_DIR/udp.out"
	nsenter --net="$NS" socat -u UDP-RECV:5353 "OPEN:$got,creat,append" &
	NT_PIDS+=($!)
	net_run nh publish dns "$IP" "udp:$hp:5353"
	[ "$status" -eq 0 ]
	client_setup
	local i
	for i in $(seq 1 40); do
		echo "ping-$i" | in_ns "$NT_CLIENT" socat -u - "UDP-SENDTO:$NT_HOST_ADDR:$hp"
		grep -q ping "$got" 2>/dev/null && break
		sleep 0.05
	done
	grep -q '^ping-' "$got"
	# the tcp port of the same number is not published
	[ "$(nft list table ip "$NT_TABLE" | grep -c "tcp dport $hp")" -eq 0 ]
}

@test "net: attach twice is idempotent" {
	attach web
	local first="$IP $NS $VETH"
	attach web
	[ "$IP $NS $VETH" = "$first" ]
	[ "$(count_leases)" -eq 1 ]
	[ "$(count_netns)" -eq 1 ]
	[ "$(ip -o link show master "$NT_BR" | wc -l)" -eq 1 ]
	[ "$(in_ns "$NS" ip -o -4 addr show dev eth0 | wc -l)" -eq 1 ]
}

@test "net: the veth is rebuilt when its namespace went away, keeping the IP" {
	attach web
	local first=$IP
	umount "$NS" && rm -f "$NS" # as after a crash that lost /run
	attach web
	[ "$IP" = "$first" ]
	net_run busybox ping -c 1 -W 2 "$IP"
	[ "$status" -eq 0 ]
	# the netns is there but its eth0 is gone (moved out): the pair is rebuilt
	local moved="dz$RANDOM"
	NT_LINKS+=("$moved")
	in_ns "$NS" ip link set eth0 name "$moved"
	in_ns "$NS" ip link set "$moved" netns 1
	attach web
	[ "$IP" = "$first" ]
	run ! ip link show "$moved"
	net_run busybox ping -c 1 -W 2 "$IP"
	[ "$status" -eq 0 ]
}

@test "net: detach leaves no veth, no netns file, no lease, no rule" {
	local links
	nh reclaim >/dev/null # the bridge exists from here on, as with a running agent
	links=$(count_links web)
	attach web
	local veth=$VETH
	[ "$veth" = "$(drover_veth_name "$NT_BR" web)" ] # the helper names veths as net/ does
	net_run nh publish web "$IP" "tcp:$((RANDOM % 20000 + 20000)):80" "udp:$((RANDOM % 20000 + 20000)):53"
	[ "$status" -eq 0 ]
	[ "$(count_dnat)" -eq 4 ]
	net_run nh detach web
	[ "$status" -eq 0 ]
	run ! ip link show "$veth" 2>/dev/null
	[ "$(count_links web)" -eq "$links" ]
	[ "$(count_netns)" -eq 0 ]
	[ "$(count_leases)" -eq 0 ]
	[ "$(count_dnat)" -eq 0 ]
	run ! grep -q "$NT_NETNS/web" /proc/self/mountinfo
	net_run nh detach web # idempotent
	[ "$status" -eq 0 ]
}

@test "net: 100 attach/publish/detach cycles leave link, lease and rule counts where they started" {
	attach keep
	net_run nh publish keep "$IP" "tcp:$((RANDOM % 10000 + 20000)):80"
	local links leases rules i hp
	leases=$(count_leases)
	rules=$(count_dnat)
	links=$(count_links keep c0 c1 c2 c3 c4 c5 c6)
	for i in $(seq 1 100); do
		attach "c$((i % 7))" || { echo "attach $i failed" >&2; return 1; }
		hp=$((i + 40000))
		nh publish "c$((i % 7))" "$IP" "tcp:$hp:80" || { echo "publish $i failed" >&2; return 1; }
		nh detach "c$((i % 7))" || { echo "detach $i failed" >&2; return 1; }
	done
	[ "$(count_links keep c0 c1 c2 c3 c4 c5 c6)" -eq "$links" ]
	[ "$(count_leases)" -eq "$leases" ]
	[ "$(count_dnat)" -eq "$rules" ]
	[ "$(count_netns)" -eq 1 ]
}

@test "net: a conflicting host port is refused without disturbing the holder" {
	attach a
	local ip_a=$IP hp=$((RANDOM % 20000 + 20000))
	serve_http "$NS" "holder a"
	net_run nh publish a "$ip_a" "tcp:$hp:8080"
	[ "$status" -eq 0 ]
	local before
	before=$(nft list table ip "$NT_TABLE")
	attach b
	net_run nh publish b "$IP" "tcp:$((hp + 1)):80" "tcp:$hp:80"
	[ "$status" -eq 1 ]
	[[ "$output" == *"host port tcp/$hp is already published by instance 'a'"* ]]
	[ "$(nft list table ip "$NT_TABLE")" = "$before" ] # nothing changed, not even b's other port
	net_run timeout 3 busybox wget -q -O - "http://$NT_PREFIX.1:$hp/"
	[ "$output" = "holder a" ]
	# the same number over udp is a different port
	net_run nh publish b "$IP" "udp:$hp:80"
	[ "$status" -eq 0 ]
}

@test "net: IPAM exhaustion on a /29 gives a clear error and leaves nothing behind" {
	NT_SUBNET="$NT_PREFIX.0/29"
	local i links
	for i in 1 2 3 4 5; do
		attach "i$i"
	done
	links=$(count_links i1 i2 i3 i4 i5 i6)
	net_run nh attach i6
	[ "$status" -eq 1 ]
	[[ "$output" == *"subnet $NT_PREFIX.0/29 has no free address (5 in use)"* ]]
	[ "$(count_leases)" -eq 5 ]
	[ "$(count_netns)" -eq 5 ]
	[ "$(count_links i1 i2 i3 i4 i5 i6)" -eq "$links" ]
	# a holder still gets its own address
	net_run nh attach i3
	[ "$status" -eq 0 ]
}

@test "net: reclaim removes leaked leases, veths, netns files and rules" {
	attach keep
	local keep_ip=$IP
	net_run nh publish keep "$keep_ip" "tcp:$((RANDOM % 10000 + 20000)):80"
	attach leak1
	net_run nh publish leak1 "$IP" "tcp:$((RANDOM % 10000 + 30000)):80"
	attach leak2
	ip link set "$VETH" nomaster # left off the bridge: still ours by its alias and name
	local foreign
	foreign=$(printf 'dv%08x' $((RANDOM * 32768 + RANDOM)))
	NT_LINKS+=("$foreign")
	ip link add "$foreign" type veth peer name "p$foreign" # a dv* veth that is not ours
	: >"$NT_STATE/leases/$NT_PREFIX.200" # a lease left empty by a crash
	: >"$NT_NETNS/stale"                  # a mount point whose mount is gone
	net_run nh reclaim keep
	[ "$status" -eq 0 ]
	[ "$output" -eq 9 ] # 1 port set, 3 leases, 2 veths, 3 netns files
	[ "$(count_leases)" -eq 1 ]
	[ "$(count_netns)" -eq 1 ]
	[ "$(ip -o link show master "$NT_BR" | wc -l)" -eq 1 ]
	[ "$(count_dnat)" -eq 2 ]
	[ -e "$NT_NETNS/keep" ]
	ip link show "$foreign" >/dev/null
	# the kept instance is untouched: same IP, still reachable
	attach keep
	[ "$IP" = "$keep_ip" ]
	net_run busybox ping -c 1 -W 2 "$keep_ip"
	[ "$status" -eq 0 ]
	net_run nh reclaim keep # nothing left to do
	[ "$output" -eq 0 ]
}

@test "net: a restarted agent rebuilds the same table, without duplicates" {
	attach web
	net_run nh publish web "$IP" "tcp:$((RANDOM % 10000 + 20000)):80"
	local rules
	rules=$(nft list table ip "$NT_TABLE")
	nft delete table ip "$NT_TABLE" # even if someone removed it
	net_run nh reclaim web
	[ "$status" -eq 0 ]
	[ "$(nft list table ip "$NT_TABLE")" = "$rules" ]
	net_run nh reclaim web
	[ "$(nft list table ip "$NT_TABLE")" = "$rules" ]
	[ "$(count_dnat)" -eq 2 ]
}

@test "net: teardown removes the bridge, the table, the namespaces and the mounts" {
	attach a
	attach b
	net_run nh publish b "$IP" "tcp:$((RANDOM % 10000 + 20000)):80"
	net_run nh teardown
	[ "$status" -eq 0 ]
	run ! ip link show "$NT_BR" 2>/dev/null
	run ! nft list table ip "$NT_TABLE" 2>/dev/null
	[ "$(count_netns)" -eq 0 ]
	[ "$(count_leases)" -eq 0 ]
	run ! grep -q "$NT_DIR" /proc/self/mountinfo
}

@test "net: bad input is refused with a clear message" {
	net_run nh attach "Bad/Id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"invalid instance id 'Bad/Id'"* ]]
	NT_SUBNET="10.1.2.3/24"
	net_run nh attach web
	[ "$status" -eq 1 ]
	[[ "$output" == *"subnet '10.1.2.3/24'"* ]]
}

@test "net: detach deletes only the instance's own veth; names carry 48 bits" {
	attach web
	[[ "$VETH" =~ ^dv[0-9a-f]{12}$ ]]
	# a veth that has the name "other" would get, owned by another instance (a hash collision)
	local name
	name=$(nh vethname other)
	[[ "$name" =~ ^dv[0-9a-f]{12}$ ]]
	NT_LINKS+=("$name")
	ip link add "$name" type veth peer name "p${name:2:12}"
	ip link set "$name" alias "drover:web"
	net_run nh detach other
	[ "$status" -eq 0 ]
	ip link show "$name" >/dev/null
	# its owner's detach does delete its own
	net_run nh detach web
	[ "$status" -eq 0 ]
	run ! ip link show "$VETH"
}

@test "net: a host port a process holds, or a reserved one, is refused naming the port" {
	attach web
	local busy=$((RANDOM % 5000 + 30000)) rsv=$((RANDOM % 5000 + 36000)) before i
	socat "TCP-LISTEN:$busy,bind=127.0.0.1,reuseaddr,fork" SYSTEM:'echo host-service' &
	NT_PIDS+=($!)
	for i in $(seq 1 50); do
		ss -Hlnt "sport = :$busy" | grep -q . && break
		sleep 0.05
	done
	before=$(nft list table ip "$NT_TABLE")
	net_run nh publish web "$IP" "tcp:$busy:80"
	[ "$status" -eq 1 ]
	[[ "$output" == *"host port tcp/$busy is in use by a process on this node"* ]]
	[ "$(nft list table ip "$NT_TABLE")" = "$before" ]
	[ "$(timeout 3 socat -u "TCP:127.0.0.1:$busy" -)" = host-service ]
	NET_HARNESS_RESERVED="22,$rsv-$((rsv + 2))" net_run nh publish web "$IP" "tcp:$((rsv + 2)):80"
	[ "$status" -eq 1 ]
	[[ "$output" == *"host port tcp/$((rsv + 2)) is reserved on this node"* ]]
	NET_HARNESS_RESERVED="22,$rsv-$((rsv + 2))" net_run nh publish web "$IP" "udp:$((rsv + 3)):80"
	[ "$status" -eq 0 ]
	NET_HARNESS_RESERVED="2-1" net_run nh publish web "$IP"
	[ "$status" -eq 2 ]
}

@test "net: frames from any port of the bridge to 127.0.0.0/8 are dropped before routing" {
	local raw="$REPO_ROOT/${DROVER_BUILD:-build}/tests/raw-send"
	requires raw_send
	nh reclaim >/dev/null
	[ "$(cat "/proc/sys/net/ipv4/conf/$NT_BR/route_localnet")" = 0 ]
	[ "$(cat "/proc/sys/net/ipv6/conf/$NT_BR/accept_ra")" = 0 ]
	[ "$(cat "/proc/sys/net/ipv6/conf/$NT_BR/disable_ipv6")" = 1 ]
	# a port of the bridge that is no instance's (the bridge table lets it by): the ip table's
	# guard chain still drops its loopback-bound packets
	local ns="$NT_DIR/foreign" port=$((RANDOM % 10000 + 30000)) gwmac before i
	NT_CLIENT="$ns"
	NT_CLIENT_VETH="df${NT_BR#dt}"
	NT_CLIENT_VETH=${NT_CLIENT_VETH:0:15}
	: >"$ns"
	unshare --net="$ns" true
	ip link add "$NT_CLIENT_VETH" type veth peer name eth0 netns "$ns"
	ip link set "$NT_CLIENT_VETH" master "$NT_BR" up
	in_ns "$ns" ip addr add "$NT_PREFIX.250/24" dev eth0
	in_ns "$ns" ip link set eth0 up
	socat -u "UDP-RECV:$port,bind=127.0.0.1" "OPEN:$NT_DIR/lo.out,creat,append" &
	NT_PIDS+=($!)
	gwmac=$(cat "/sys/class/net/$NT_BR/address")
	before=$(nft list chain ip "$NT_TABLE" guard | awk '/daddr 127/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }')
	for i in 1 2 3; do
		in_ns "$ns" "$raw" udp eth0 "$gwmac" self "$NT_PREFIX.250" 127.0.0.1 "$port" "loopback-$i"
	done
	sleep 0.3
	[ ! -s "$NT_DIR/lo.out" ]
	[ "$(nft list chain ip "$NT_TABLE" guard | awk '/daddr 127/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }')" -ge $((before + 3)) ]
}
