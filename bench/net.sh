#!/usr/bin/env bash
# Network set-up and tear-down per instance: drover's net/ (through tests' net-harness, the same
# code droverd runs) vs the CNI bridge + host-local plugins exec'd on a netns the way a CNI
# runtime does. Prints markdown rows; called by bench/run.sh. Everything is private to the run:
# own bridges, subnets, nftables table, dirs; no traffic leaves them.
set -euo pipefail
N=${1:-20}
W=$(mktemp -d /tmp/drover-bench-net.XXXX)
BR_D="dbd$$"
BR_C="dbc$$"
TABLE="drover_bench$$"
pick() { local p; for _ in $(seq 1 50); do p="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"; ip -4 route show | grep -q "^$p\." || { echo "$p.0/24"; return; }; done; }
SUB_D=$(pick)
SUB_C=$(pick)
cleanup() {
	set +e
	build/tests/net-harness "$BR_D" "$SUB_D" "$W/state" "$W/netns" "$TABLE" teardown >/dev/null 2>&1
	ip link del "$BR_D" 2>/dev/null
	ip link del "$BR_C" 2>/dev/null
	nft delete table ip "$TABLE" 2>/dev/null
	for f in "$W"/cni-ns-*; do [ -e "$f" ] && umount -l "$f" 2>/dev/null; done
	grep " $W" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

build/tests/net-harness "$BR_D" "$SUB_D" "$W/state" "$W/netns" "$TABLE" bench bench0 "$N" >"$W/drover.txt"
d_add=$(awk '{print $1}' "$W/drover.txt" | median)
d_del=$(awk '{print $2}' "$W/drover.txt" | median)

cat >"$W/cni.json" <<JSON
{"cniVersion": "1.0.0", "name": "drover-bench", "type": "bridge", "bridge": "$BR_C", "isGateway": true,
 "ipMasq": false, "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUB_C"}]], "dataDir": "$W/cni-ipam"}}
JSON
: >"$W/cni.add"
: >"$W/cni.del"
for i in $(seq 1 "$N"); do
	ns="$W/cni-ns-$i"
	: >"$ns"
	unshare --net="$ns" true
	export CNI_CONTAINERID="bench$i" CNI_NETNS="$ns" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
	t0=$(date +%s%N)
	CNI_COMMAND=ADD /usr/lib/cni/bridge <"$W/cni.json" >/dev/null
	t1=$(date +%s%N)
	CNI_COMMAND=DEL /usr/lib/cni/bridge <"$W/cni.json" >/dev/null
	t2=$(date +%s%N)
	echo "scale=3; ($t1 - $t0) / 1000000" | bc >>"$W/cni.add"
	echo "scale=3; ($t2 - $t1) / 1000000" | bc >>"$W/cni.del"
	umount -l "$ns"
	rm -f "$ns"
done
c_add=$(median <"$W/cni.add")
c_del=$(median <"$W/cni.del")
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
echo "| drover net/ (netns + veth + address + routes) | $d_add | $d_del |"
echo "| CNI bridge + host-local (exec'd per ADD/DEL, netns made beforehand) | $c_add | $c_del |"
echo "| CNI / drover | $(ratio "$c_add" "$d_add")x | $(ratio "$c_del" "$d_del")x |"
