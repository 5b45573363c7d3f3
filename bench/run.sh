#!/usr/bin/env bash
# make bench: drover side by side with its peers on this machine, in one run.
#  (a) start latency: PUT /v1/instances/{id} -> phase running, vs `runc run -d` of the same
#      bundle (drover's own config.json on the same image), vs `podman run -d --network none`
#  (b) memory of the per-container monitor: drover-shim vs conmon (PSS and RSS, mean of 10)
#  (c) droverd's RSS with 50 running instances
# Writes bench/RESULTS.md section by section as each is measured (and prints it), so a run that
# stops part-way keeps what it measured. Nothing here is asserted: figures only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 1; }
scripts/deps.sh bench
make -s all build/bench/put-wait build/bench/exec-stamp build/tests/net-harness

N=${BENCH_N:-20}
B=/tmp/drover-bench-$$ # lowercase: podman names images after the path
mkdir -p "$B"
CG=/drover-bench-$$
export CONTAINERS_CONF=$PWD/bench/peers/containers.conf
export CONTAINERS_STORAGE_CONF=$PWD/bench/peers/storage.conf
export CONTAINERS_REGISTRIES_CONF=$PWD/bench/peers/registries.conf
PODMAN=(podman --root "$B/podman/root" --runroot "$B/podman/run" --tmpdir "$B/podman/tmp")
AGENT_PID=""
A3_PID=""
SOCK="$B/run/droverd.sock"
BR="dbr$$"
NFT="drover_bench$$"
SUB=""
for _ in $(seq 1 50); do p="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"; ip -4 route show | grep -q "^$p\." || { SUB="$p.0/24"; break; }; done

cleanup() {
	set +e
	"${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1
	"${PODMAN[@]}" system reset -f >/dev/null 2>&1
	for c in $(runc --root "$B/rr" list -q 2>/dev/null); do runc --root "$B/rr" delete -f "$c" >/dev/null 2>&1; done
	if [ -n "$AGENT_PID" ]; then
		for id in $(curl -s --unix-socket "$SOCK" http://localhost/v1/instances | jq -r '.[].id'); do
			build/bench/put-wait rm "$SOCK" "$id" >/dev/null 2>&1
		done
		kill "$AGENT_PID"
		wait "$AGENT_PID" 2>/dev/null
	fi
	[ -n "$A3_PID" ] && kill "$A3_PID" && wait "$A3_PID" 2>/dev/null
	for c in $(runc --root "$B/a3/run/runc" list -q 2>/dev/null); do runc --root "$B/a3/run/runc" delete -f "$c" >/dev/null 2>&1; done
	ip link del "${BR}a" 2>/dev/null
	nft delete table ip "${NFT}a" 2>/dev/null
	nft delete table bridge "${NFT}a" 2>/dev/null
	for f in $(ip -o link show master "$BR" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$f"; done
	ip link del "$BR" 2>/dev/null
	ip link del cni-podman0 2>/dev/null # podman's default network bridge
	nft delete table ip "$NFT" 2>/dev/null
	nft delete table bridge "$NFT" 2>/dev/null
	grep " $B/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	for d in /sys/fs/cgroup/*"$CG"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
	rm -rf "$B" "/run/drover-nft/$NFT.lock" "/run/drover-nft/${NFT}a.lock" /run/netns/"$BR"-*
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000)); } # microseconds
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

echo "bench: building the image and starting droverd" >&2
demo/build-image.sh "$B/image" latest >/dev/null
mkdir -p "$B/assign" "$B/rr" "$B/podman/tmp" /tmp/peers/podman
: >"$B/droverd.conf"
build/droverd --config "$B/droverd.conf" --state-dir "$B/state" --run-dir "$B/run" --assignments-dir "$B/assign" \
	--cgroup-root "$CG" --bridge "$BR" --subnet "$SUB" --nft-table "$NFT" --image-layout-root "$B" --log-level warning 2>"$B/droverd.log" &
AGENT_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
jq -n --arg img "oci:$B/image:latest" '{image: $img, network: {mode: "none"}, command: ["sleep", "100000"], stop_grace_ms: 0}' >"$B/spec.json"

# the runc peer runs drover's own config.json for this image, on an overlay of the same layer
build/bench/put-wait run "$SOCK" template "$B/spec.json" >/dev/null
mkdir -p "$B/peer/rootfs" "$B/ov/u" "$B/ov/w"
layer=$(ls -d "$B"/state/images/layers/[0-9a-f]*)
mount -t overlay overlay -o "lowerdir=$layer,upperdir=$B/ov/u,workdir=$B/ov/w" "$B/peer/rootfs"
jq --arg r "$B/peer/rootfs" '.root.path = $r' "$B/state/bundles/template/config.json" >"$B/peer/config.tmpl"
build/bench/put-wait rm "$SOCK" template >/dev/null

"${PODMAN[@]}" pull -q "oci:$B/image:latest" >/dev/null
podman_img=$("${PODMAN[@]}" images -q | head -1)

ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
verdict() { # value limit le|ge|lt -> "met" or "not met"
	local ok
	case $3 in
	le) ok=$(echo "$1 <= $2" | bc) ;;
	ge) ok=$(echo "$1 >= $2" | bc) ;;
	lt) ok=$(echo "$1 < $2" | bc) ;;
	esac
	[ "$ok" = 1 ] && echo met || echo "not met"
}
machine="$(uname -srm), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), cgroup $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/v1 (hybrid)/;s/cgroup2fs/v2/'), runc $(runc --version | head -1 | cut -d' ' -f3), podman $(podman --version | cut -d' ' -f3)"
RESULTS=bench/RESULTS.md
write_section() { tee -a "$RESULTS"; echo | tee -a "$RESULTS"; } # appends a section and shows it
fuzzing=$(sed -n '/^## Fuzzing/,$p' "$RESULTS" 2>/dev/null)
: >"$RESULTS"
write_section <<MD
# drover benchmarks

Measured $(date -u +%Y-%m-%d) on: $machine.
Produced by \`make bench\` (bench/run.sh); medians of $N rounds run in turn, so
drift of the machine hits every peer alike. Figures, never assertions.
MD

echo "bench: (a) start latency, $N rounds, the three in turn" >&2
: >"$B/a.drover"
: >"$B/a.runc"
: >"$B/a.podman"
for i in $(seq 1 "$N"); do
	build/bench/put-wait run "$SOCK" "d$i" "$B/spec.json" >>"$B/a.drover"
	jq --arg cg "$CG/peer/r$i" '.linux.cgroupsPath = $cg' "$B/peer/config.tmpl" >"$B/peer/config.json"
	t0=$(now_ms)
	runc --root "$B/rr" run -d --bundle "$B/peer" "r$i" </dev/null >/dev/null 2>&1
	t1=$(now_ms)
	echo "scale=2; ($t1 - $t0) / 1000" | bc >>"$B/a.runc"
	t0=$(now_ms)
	"${PODMAN[@]}" run -d --network none --name "p$i" "$podman_img" sleep 100000 >/dev/null
	t1=$(now_ms)
	echo "scale=2; ($t1 - $t0) / 1000" | bc >>"$B/a.podman"
	# not timed: keep at most a few of each running so every round starts alike
	build/bench/put-wait rm "$SOCK" "d$i" >/dev/null
	runc --root "$B/rr" delete -f "r$i" >/dev/null
	"${PODMAN[@]}" rm -f -t 0 "p$i" >/dev/null
done
a_drover=$(median <"$B/a.drover")
a_runc=$(median <"$B/a.runc")
a_podman=$(median <"$B/a.podman")
write_section <<MD
## (a) Start latency: request to running

| what | median ms | vs raw runc | vs podman |
|---|---|---|---|
| drover: \`PUT /v1/instances/{id}\` to \`phase: running\` | $a_drover | $(ratio "$a_drover" "$a_runc")x | $(ratio "$a_drover" "$a_podman")x |
| raw \`runc run -d\` of the same bundle (drover's config.json) | $a_runc | 1.00x | $(ratio "$a_runc" "$a_podman")x |
| \`podman run -d --network none\` | $a_podman | $(ratio "$a_podman" "$a_runc")x | 1.00x |

Targets (issue 2): drover within 1.25x of raw runc, at least 3x faster than podman.
drover's figure includes validating the spec, resolving the image, mounting the
overlay rootfs, writing the bundle, persisting the instance record (fsync'd),
starting drover-shim, runc, and telling the client (an event long-poll).
MD
echo "bench: (a3) where a start's time goes, as a polling client sees it, $N rounds" >&2
# a second agent whose runtime is the stamping wrapper (bench/exec-stamp.c), so the client's time
# splits into the agent's work before the runtime is exec'd and the rest
mkdir -p "$B/a3/assign"
cp build/bench/exec-stamp "$B/a3/runc-wrap"
printf '%s\n%s\n' "$(command -v runc)" "$B/a3/exec.log" >"$B/a3/runc-wrap.conf"
: >"$B/a3/droverd.conf"
build/droverd --config "$B/a3/droverd.conf" --state-dir "$B/a3/state" --run-dir "$B/a3/run" \
	--assignments-dir "$B/a3/assign" --cgroup-root "$CG/a3" --bridge "${BR}a" --nft-table "${NFT}a" \
	--image-layout-root "$B" --runtime "$B/a3/runc-wrap" --log-level debug 2>"$B/a3/droverd.log" &
A3_PID=$!
A3_SOCK="$B/a3/run/droverd.sock"
for _ in $(seq 1 100); do [ -S "$A3_SOCK" ] && break; sleep 0.05; done
build/bench/put-wait poll "$A3_SOCK" warm "$B/spec.json" >/dev/null
build/bench/put-wait rm "$A3_SOCK" warm >/dev/null
: >"$B/a3.split"
for i in $(seq 1 "$N"); do
	read -r total w0 < <(build/bench/put-wait poll "$A3_SOCK" "s$i" "$B/spec.json")
	tx=$(awk -v id="s$i" '$2 == id {print $1; exit}' "$B/a3/exec.log")
	agent_ms=$(sed -n "s/.*start_ms=\([0-9.]*\) id=s$i\$/\1/p" "$B/a3/droverd.log" | head -1)
	# the agent's own split (a debug line): its parts before the shim, and when the shim was exec'd
	split=$(sed -n "s/.*start split: to create \([0-9.]*\) ms, prepare \([0-9.]*\) ms, shim spawn \([0-9.]*\) ms, record sync \([0-9.]*\) ms wall_us=\([0-9]*\) id=s$i\$/\1 \2 \3 \4 \5/p" "$B/a3/droverd.log" | head -1)
	[ -n "$split" ] || split="0 0 0 0 $tx"
	echo "$total $(echo "$tx $w0" | awk '{printf "%.2f", ($1 - $2) / 1000}') ${agent_ms:-0} $(echo "$split $tx $w0" | awk '{printf "%s %s %s %s %.2f %.2f", $1, $2, $3, $4, ($6 - $5) / 1000, ($5 - $7) / 1000}')" >>"$B/a3.split"
	build/bench/put-wait rm "$A3_SOCK" "s$i" >/dev/null
done
kill "$A3_PID"
wait "$A3_PID" 2>/dev/null
A3_PID=""
a3_total=$(awk '{print $1}' "$B/a3.split" | median)
a3_pre=$(awk '{print $2}' "$B/a3.split" | median)
a3_post=$(awk '{printf "%.2f\n", $1 - $2}' "$B/a3.split" | median)
a3_agent=$(awk '{print $3}' "$B/a3.split" | median)
a3_seen=$(awk '{printf "%.2f\n", $1 - $3}' "$B/a3.split" | median)
a3_col() { awk -v c="$1" '{print $c}' "$B/a3.split" | median; }
write_section <<MD
## (a3) Where a start's time goes, as a client polling GET sees it

A client PUTs the spec, then GETs \`/v1/instances/{id}\` every millisecond until \`running\`; the
runtime is a wrapper that stamps the moment it is exec'd. Medians of $N rounds.

| part | median ms |
|---|---|
| PUT to \`running\` seen by the client | $a3_total |
| the agent's work before the runtime is exec'd (spec, image, overlay mount, bundle, record, shim spawn) | $a3_pre |
| &nbsp; PUT to the shim exec'd (HTTP, spec, image, record, bundle, fork and exec of the shim) | $(a3_col 9) |
| &nbsp; &nbsp; in it: start begun to \`creating\` (image resolved, record written unsynced) | $(a3_col 4) |
| &nbsp; &nbsp; in it: overlay mount, bundle, config.json | $(a3_col 5) |
| &nbsp; &nbsp; in it: the shim's fork and exec, as droverd waits for it | $(a3_col 6) |
| &nbsp; the shim exec'd to the runtime exec'd (its set-up, fork and exec of the runtime) | $(a3_col 8) |
| the creating record's fsyncs, after the spawn (off the client's path, overlapping the runtime) | $(a3_col 7) |
| runtime exec'd to \`running\` seen (\`runc run -d\`, the shim's report, the client's next poll) | $a3_post |
| raw \`runc run -d\` of the same bundle, from (a) | $a_runc |
| agent overhead: client's time minus raw runc | $(echo "$a3_total $a_runc" | awk '{printf "%.2f", $1 - $2}') |
| in the agent, start begun to \`running\` known (its log's start_ms) | $a3_agent |
| PUT to \`running\` seen, minus the agent's own start_ms (HTTP, parse, the client's poll) | $a3_seen |

Target (issue 10): agent overhead under 10 ms.
MD
echo "bench: (a2) start latency with networking, $N rounds" >&2
jq '.network = {mode: "bridge"}' "$B/spec.json" >"$B/spec-br.json"
: >"$B/a2.drover"
: >"$B/a2.podman"
for i in $(seq 1 "$N"); do
	build/bench/put-wait run "$SOCK" "n$i" "$B/spec-br.json" >>"$B/a2.drover"
	t0=$(now_ms)
	"${PODMAN[@]}" run -d --name "pn$i" "$podman_img" sleep 100000 >/dev/null
	t1=$(now_ms)
	echo "scale=2; ($t1 - $t0) / 1000" | bc >>"$B/a2.podman"
	build/bench/put-wait rm "$SOCK" "n$i" >/dev/null
	"${PODMAN[@]}" rm -f -t 0 "pn$i" >/dev/null
done
a2_drover=$(median <"$B/a2.drover")
a2_podman=$(median <"$B/a2.podman")
write_section <<MD
## (a2) Start latency with networking

| what | median ms | podman / drover |
|---|---|---|
| drover, \`network.mode: bridge\` (netns, veth, address, then runc) | $a2_drover | $(ratio "$a2_podman" "$a2_drover")x |
| \`podman run -d\` with its default (CNI bridge) network | $a2_podman | 1.00x |
MD

echo "bench: (b) monitor memory, 10 containers each" >&2
pss_rss() { # PID -> "PSS_KiB RSS_KiB"
	awk '/^Pss:/ {p=$2} /^Rss:/ {r=$2} END {print p, r}' "/proc/$1/smaps_rollup"
}
for i in $(seq 1 10); do
	build/bench/put-wait run "$SOCK" "m$i" "$B/spec.json" >/dev/null
	"${PODMAN[@]}" run -d --network none --name "pm$i" "$podman_img" sleep 100000 >/dev/null
done
shim_pids=$(for f in "$B"/state/bundles/m*/shim.pid; do cat "$f"; done)
conmon_pids=$(pgrep -f "conmon .*$B/podman" || true)
mean_mem() { # pids... -> "PSS RSS" means in KiB
	for p in "$@"; do pss_rss "$p"; done | awk '{p+=$1; r+=$2; n++} END {if (n) printf "%.0f %.0f %d\n", p/n, r/n, n; else print "0 0 0"}'
}
read -r shim_pss shim_rss shim_n <<<"$(mean_mem $shim_pids)"
read -r conmon_pss conmon_rss conmon_n <<<"$(mean_mem $conmon_pids)"
"${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1
write_section <<MD
## (b) Per-container monitor memory (mean of $shim_n and $conmon_n containers)

| monitor | PSS KiB | RSS KiB |
|---|---|---|
| drover-shim | $shim_pss | $shim_rss |
| conmon (podman) | $conmon_pss | $conmon_rss |

Shim PSS / conmon PSS: $(ratio "$shim_pss" "$conmon_pss") (target: at most 0.5).
MD

echo "bench: (c) droverd RSS with 50 instances" >&2
rss_idle=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status")
for i in $(seq 11 50); do
	build/bench/put-wait run "$SOCK" "m$i" "$B/spec.json" >/dev/null
done
running=$(curl -s --unix-socket "$SOCK" http://localhost/v1/instances | jq '[.[] | select(.phase == "running")] | length')
rss_50=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status")
pss_50=$(pss_rss "$AGENT_PID" | cut -d' ' -f1)
write_section <<MD
## (c) droverd memory

| instances running | VmRSS KiB | PSS KiB |
|---|---|---|
| 0 (after start-up and one image resolution) | $rss_idle | |
| $running | $rss_50 | $pss_50 |

Target: under 8 MiB (8192 KiB) RSS with 50 running instances.
MD

echo "bench: (d) network set-up and tear-down vs CNI" >&2
net_rows=$(bash bench/net.sh "$N")
write_section <<MD
## (d) Network set-up and tear-down per instance (median of $N)

| what | set-up ms | tear-down ms |
|---|---|---|
$net_rows

Target (issue 4): set-up at least 3x faster than CNI. drover's set-up includes creating the
namespace; CNI's does not (a runtime makes it before calling ADD). Tear-down on both sides is
mostly the kernel deleting the veth pair.
MD
echo "bench: (e) image pull + unpack vs skopeo+umoci and podman" >&2
img_rows=$(bash bench/images.sh 5)
img_bytes=$(echo "$img_rows" | sed -n 's/^IMAGE_BYTES=//p')
second_row=$(echo "$img_rows" | sed -n 's/^SECOND=//p')
img_rows=$(echo "$img_rows" | grep '^|')
write_section <<MD
## (e) Image pull + unpack from a loopback registry (median of 5)

A 5-layer image: busybox, 30 MB and 20 MB of random data, 30 MB and 20 MB of log-like text
($img_bytes bytes of compressed blobs). Each run starts from an empty store.

| what | seconds | vs drover |
|---|---|---|
$img_rows

Target (issue 3): at least 1.5x faster than skopeo+umoci and not slower than podman.

Through droverd (PUT to running), the same image from the registry:

| what | time | what | time | what | bytes |
|---|---|---|---|---|---|
$second_row

Target (issue 3): a second instance of the same image ready in under 50 ms with no extra layer
bytes on disk.
MD
write_section <<MD
## Reading

- drover vs raw runc: $(ratio "$a_drover" "$a_runc")x (target at most 1.25x): $(verdict "$(ratio "$a_drover" "$a_runc")" 1.25 le).
- podman vs drover: $(ratio "$a_podman" "$a_drover")x (target at least 3x): $(verdict "$(ratio "$a_podman" "$a_drover")" 3 ge).
  Raw runc itself is $(ratio "$a_podman" "$a_runc")x faster than podman here, so where that is
  below 3 the target cannot be met by any agent that starts containers through runc.
- shim PSS / conmon PSS: $(ratio "$shim_pss" "$conmon_pss") (target at most 0.5): $(verdict "$(ratio "$shim_pss" "$conmon_pss")" 0.5 le).
- droverd RSS with $running instances: $rss_50 KiB (target under 8192): $(verdict "$rss_50" 8192 lt).
MD
# `make fuzz` figures (and what bench/intake.sh wrote after them) are kept as they were
[ -z "$fuzzing" ] || printf '%s\n' "$fuzzing" >>"$RESULTS"
