#!/usr/bin/env bash
# A/B of start latency as a polling client sees it (bench/run.sh section (a3)'s method), for two
# builds side by side, interleaved round by round with raw `runc run -d` of the same bundle, so
# the drift of a shared machine hits all three alike.
#
#   bench/start-ab.sh BUILD_A BUILD_B [ROUNDS]
#
# BUILD_x is a build directory holding droverd, drover-shim and bench/put-wait, bench/exec-stamp.
# Prints per-variant medians: PUT to running seen, the agent's work before the runtime's exec,
# runtime exec to running seen, the agent's own start_ms, and raw runc; leaves the raw rows in
# $B (printed). Figures only, indicative on a loaded machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "start-ab: run as root" >&2; exit 1; }
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [ROUNDS]" >&2; exit 2; }
BA=$(cd "$1" && pwd)
BB=$(cd "$2" && pwd)
N=${3:-20}
B=/tmp/h-start-ab-$$
CG=/h-start-ab-$$
mkdir -p "$B"
PIDS=()

cleanup() {
	set +e
	for v in A B; do
		for c in $(runc --root "$B/$v/run/runc" list -q 2>/dev/null); do runc --root "$B/$v/run/runc" delete -f "$c" >/dev/null 2>&1; done
	done
	for c in $(runc --root "$B/rr" list -q 2>/dev/null); do runc --root "$B/rr" delete -f "$c" >/dev/null 2>&1; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	for v in A B; do
		ip link del "hsab$v$$" 2>/dev/null
		nft delete table ip "hsab$v$$" 2>/dev/null
		nft delete table bridge "hsab$v$$" 2>/dev/null
		rm -f "/run/drover-nft/hsab$v$$.lock"
	done
	grep " $B/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	for d in /sys/fs/cgroup/*"$CG"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
	[ -n "${KEEP:-}" ] || rm -rf "$B"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
now_us() { echo $(($(date +%s%N) / 1000)); }

demo/build-image.sh "$B/image" latest >/dev/null
jq -n --arg img "oci:$B/image:latest" '{image: $img, network: {mode: "none"}, command: ["sleep", "100000"], stop_grace_ms: 0}' >"$B/spec.json"
declare -A BUILD=([A]=$BA [B]=$BB)
for v in A B; do
	mkdir -p "$B/$v/assign"
	cp "${BUILD[$v]}/bench/exec-stamp" "$B/$v/runc-wrap"
	printf '%s\n%s\n' "$(command -v runc)" "$B/$v/exec.log" >"$B/$v/runc-wrap.conf"
	: >"$B/$v/droverd.conf"
	"${BUILD[$v]}/droverd" --config "$B/$v/droverd.conf" --state-dir "$B/$v/state" --run-dir "$B/$v/run" \
		--assignments-dir "$B/$v/assign" --cgroup-root "$CG/$v" --bridge "hsab$v$$" --nft-table "hsab$v$$" \
		--image-layout-root "$B" --runtime "$B/$v/runc-wrap" --log-level debug 2>"$B/$v/droverd.log" &
	PIDS+=($!)
	for _ in $(seq 1 100); do [ -S "$B/$v/run/droverd.sock" ] && break; sleep 0.05; done
	"${BUILD[$v]}/bench/put-wait" poll "$B/$v/run/droverd.sock" warm "$B/spec.json" >/dev/null
	"${BUILD[$v]}/bench/put-wait" rm "$B/$v/run/droverd.sock" warm >/dev/null
	: >"$B/$v.split"
done

# raw runc: drover's own config.json (variant A's) on an overlay of the same layer
"$BA/bench/put-wait" run "$B/A/run/droverd.sock" template "$B/spec.json" >/dev/null
mkdir -p "$B/peer/rootfs" "$B/ov/u" "$B/ov/w" "$B/rr"
layer=$(ls -d "$B"/A/state/images/layers/[0-9a-f]*)
mount -t overlay overlay -o "lowerdir=$layer,upperdir=$B/ov/u,workdir=$B/ov/w" "$B/peer/rootfs"
jq --arg r "$B/peer/rootfs" '.root.path = $r' "$B/A/state/bundles/template/config.json" >"$B/peer/config.tmpl"
"$BA/bench/put-wait" rm "$B/A/run/droverd.sock" template >/dev/null
: >"$B/runc"

one() { # variant round
	local v=$1 i=$2 total w0 tx agent_ms
	read -r total w0 < <("${BUILD[$v]}/bench/put-wait" poll "$B/$v/run/droverd.sock" "s$i" "$B/spec.json")
	tx=$(awk -v id="s$i" '$2 == id {print $1; exit}' "$B/$v/exec.log")
	agent_ms=$(sed -n "s/.*start_ms=\([0-9.]*\) id=s$i\$/\1/p" "$B/$v/droverd.log" | head -1)
	# the agent's own split, where it logs one (start split: ... wall_us=W id=ID)
	split=$(sed -n "s/.*start split: to create \([0-9.]*\) ms, prepare \([0-9.]*\) ms, shim spawn \([0-9.]*\) ms, record sync \([0-9.]*\) ms wall_us=\([0-9]*\) id=s$i\$/\1 \2 \3 \4 \5/p" "$B/$v/droverd.log" | head -1)
	[ -n "$split" ] || split="0 0 0 0 $tx"
	echo "$total $(echo "$tx $w0" | awk '{printf "%.2f", ($1 - $2) / 1000}') ${agent_ms:-0} $(echo "$split $tx" | awk '{printf "%s %s %s %s %.2f", $1, $2, $3, $4, ($6 - $5) / 1000}')" >>"$B/$v.split"
	"${BUILD[$v]}/bench/put-wait" rm "$B/$v/run/droverd.sock" "s$i" >/dev/null
}
raw() {
	local i=$1 t0 t1
	jq --arg cg "$CG/peer/r$i" '.linux.cgroupsPath = $cg' "$B/peer/config.tmpl" >"$B/peer/config.json"
	t0=$(now_us)
	runc --root "$B/rr" run -d --bundle "$B/peer" "r$i" </dev/null >/dev/null 2>&1
	t1=$(now_us)
	echo "$t0 $t1" | awk '{printf "%.2f\n", ($2 - $1) / 1000}' >>"$B/runc"
	runc --root "$B/rr" delete -f "r$i" >/dev/null
}
for i in $(seq 1 "$N"); do
	if [ $((i % 2)) = 1 ]; then one A "$i"; one B "$i"; raw "$i"; else raw "$i"; one B "$i"; one A "$i"; fi
done
rr=$(median <"$B/runc")
col() { awk -v c="$2" '{print $c}' "$B/$1.split" | median; }
printf '%-7s %7s %7s %7s %7s %7s | %7s %7s %7s %7s %7s\n' variant total pre post start_ms overhd \
	tocreate prepare spawn rsync shimset
for v in A B; do
	t=$(col "$v" 1)
	printf '%-7s %7s %7s %7s %7s %7s | %7s %7s %7s %7s %7s\n' "$v" "$t" "$(col "$v" 2)" \
		"$(awk '{printf "%.2f\n", $1 - $2}' "$B/$v.split" | median)" "$(col "$v" 3)" \
		"$(echo "$t $rr" | awk '{printf "%.2f", $1 - $2}')" "$(col "$v" 4)" "$(col "$v" 5)" "$(col "$v" 6)" \
		"$(col "$v" 7)" "$(col "$v" 8)"
done
printf '%-8s %8s\n' runc "$rr"
# rounds pair up (A and B ran next to each other): the median of the differences drifts less
paste "$B/A.split" "$B/B.split" | awk '{n = NF / 2; print $1 - $(n + 1), $2 - $(n + 2), ($1 - $2) - ($(n + 1) - $(n + 2))}' >"$B/diff"
printf 'paired A-B medians: total %s, pre %s, post %s; B faster in %s of %s rounds\n' \
	"$(awk '{print $1}' "$B/diff" | median)" "$(awk '{print $2}' "$B/diff" | median)" \
	"$(awk '{print $3}' "$B/diff" | median)" "$(awk '$1 > 0' "$B/diff" | wc -l)" "$N"
[ -z "${KEEP:-}" ] || echo "rows in $B"
