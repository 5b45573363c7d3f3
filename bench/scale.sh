#!/usr/bin/env bash
# make bench, part (s): SCALE_N instances (default 500) on one node, network mode none, `sleep`.
#  - start: one PUT /v1/assignments naming all of them, to every instance running (GET
#    /v1/instances polled every 50 ms by bench/scale-wait.c)
#  - droverd's VmRSS and PSS with all of them running, its open fds
#  - GET /v1/instances: median and max of 20 (curl --unix-socket, a new connection each), body size
#  - kill -9 droverd and start it again: time to the first answer of /v1/healthz and to a GET that
#    shows every instance running with the pid and restart count it had before (adopted); then the
#    same after a clean stop (SIGTERM: the agent leaves the containers running, as designed)
#  - the removal of all of them (PUT /v1/assignments with an empty set), to an empty list
# droverd runs with a soft RLIMIT_NOFILE of 1024, as a shell or an init without LimitNOFILE gives
# it. Writes its section of bench/RESULTS.md (between the scale markers). Figures, never asserted.
# Everything it makes is removed at the end, also on failure, by PID and by its own names.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "scale: run as root" >&2; exit 1; }
scripts/deps.sh all
make -s all build/bench/scale-wait

N=${SCALE_N:-500}
B=/tmp/drover-scale-$$
CG=/drover-scale-$$
NFT=drover_scale$$
BR=dbs$$
SOCK=$B/run/droverd.sock
AGENT_PID=""
mkdir -p "$B/assign"

stop_agent() { # SIGNAL: stops droverd and waits for it
	[ -n "$AGENT_PID" ] || return 0
	kill "-$1" "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=""
}

cleanup() {
	set +e
	stop_agent KILL
	# the shims first (by the pid each wrote, if that process is still a shim), so none reports
	# or restarts anything; then the containers through the runtime, which kills what still runs
	for f in "$B"/state/bundles/*/shim.pid; do
		[ -s "$f" ] || continue
		p=$(cat "$f")
		grep -q drover-shim "/proc/$p/comm" 2>/dev/null && kill -9 "$p"
	done
	for c in $(runc --root "$B/run/runc" list -q 2>/dev/null); do
		runc --root "$B/run/runc" delete -f "$c" >/dev/null 2>&1
	done
	grep " $B/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	for d in /sys/fs/cgroup/*"$CG" /sys/fs/cgroup/*/"$CG"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	nft delete table ip "$NFT" 2>/dev/null
	nft delete table bridge "$NFT" 2>/dev/null
	ip link del "$BR" 2>/dev/null
	rm -rf "$B" "/run/drover-nft/$NFT.lock"
}
trap cleanup EXIT

start_agent() { # starts droverd in the background; AGENT_PID and T0 (its start, EPOCHREALTIME us)
	T0=${EPOCHREALTIME/./}
	(
		ulimit -Sn 1024
		exec build/droverd --config "$B/droverd.conf" --state-dir "$B/state" --run-dir "$B/run" \
			--assignments-dir "$B/assign" --cgroup-root "$CG" --bridge "$BR" --nft-table "$NFT" \
			--image-layout-root "$B" --max-instances "$((N + 10))" --log-level notice 2>>"$B/droverd.log"
	) &
	AGENT_PID=$!
}
await() { # POLL_MS TIMEOUT_S OUT: prints "HEALTH_US ALL_US" (see bench/scale-wait.c)
	build/bench/scale-wait await "$SOCK" "$N" "$1" "$2" "$3" || {
		echo "scale: the agent did not hold $N running instances; its log says:" >&2
		grep -v '^$' "$B/droverd.log" | tail -5 >&2
		return 1
	}
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) / 1000}'; }
kib() { awk -v k="$1" '/^VmRSS:/ && k == "rss" {print $2} /^VmHWM:/ && k == "hwm" {print $2}' "/proc/$AGENT_PID/status"; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$AGENT_PID/smaps_rollup"; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000 / hz}' "/proc/$AGENT_PID/stat"; } # user+sys
pids_of() { jq -r '.[] | "\(.id) \(.pid) \(.restarts)"' "$1" | sort; }

echo "scale: building the image and starting droverd" >&2
demo/build-image.sh "$B/image" latest >/dev/null
: >"$B/droverd.conf"
start_agent
for _ in $(seq 1 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
rss_idle=$(kib rss)
limits=$(awk '/Max open files/ {print $4 " soft, " $5 " hard"}' "/proc/$AGENT_PID/limits")

echo "scale: (s1) starting $N instances through one PUT /v1/assignments" >&2
jq -nc --arg img "oci:$B/image:latest" --argjson n "$N" '{revision: 1, instances: [range(1; $n + 1) |
	{id: "s\(.)", image: $img, network: {mode: "none"}, command: ["sleep", "1000000"],
	 resources: {memory: "16Mi"}, stop_grace_ms: 0}]}' >"$B/set.json"
t_put=${EPOCHREALTIME/./}
curl -sf --unix-socket "$SOCK" -X PUT --data-binary "@$B/set.json" http://localhost/v1/assignments >/dev/null
t_answer=${EPOCHREALTIME/./}
r=$(await 50 $((N + 120)) "$B/list0.json")
read -r _ t_all <<<"$r"
start_s=$(awk -v a="$t_put" -v b="$t_all" 'BEGIN {printf "%.1f", (b - a) / 1e6}')
pids_of "$B/list0.json" >"$B/pids0"

echo "scale: (s2) memory and list latency with $N running" >&2
sleep 2 # the last starts' bookkeeping settles
: >"$B/lat"
cpu0=$(cpu_ms)
for _ in $(seq 1 20); do
	curl -s --unix-socket "$SOCK" -o "$B/body" -w '%{time_total}\n' http://localhost/v1/instances |
		awk '{printf "%.2f\n", $1 * 1000}' >>"$B/lat"
done
lat_cpu=$(awk -v a="$cpu0" -v b="$(cpu_ms)" 'BEGIN {printf "%.1f", (b - a) / 20}')
lat_med=$(sort -n "$B/lat" | awk '{a[NR]=$1} END {printf "%.2f", NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
lat_max=$(sort -n "$B/lat" | tail -1)
body_bytes=$(wc -c <"$B/body")
rss_n=$(kib rss)
hwm_n=$(kib hwm)
pss_n=$(pss)
fds_n=$(ls "/proc/$AGENT_PID/fd" | wc -l)
shims=$(for f in "$B"/state/bundles/*/shim.pid; do p=$(cat "$f"); grep -q drover-shim "/proc/$p/comm" && echo "$p"; done | sort)
shim_pss=$(for p in $shims; do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"; done | awk '{s+=$1} END {printf "%.0f", s/NR}')

restart() { # SIGNAL NAME: stops droverd, starts it, times its answer and the adoption
	echo "scale: (s3) $2: stopping droverd, starting it again" >&2
	stop_agent "$1"
	start_agent
	local r t_health t_adopt same alive
	r=$(await 5 60 "$B/list.$2.json")
	read -r t_health t_adopt <<<"$r"
	local cpu
	cpu=$(cpu_ms) # droverd's CPU time so far: start-up, adoption, the polls' answers
	pids_of "$B/list.$2.json" >"$B/pids.$2"
	same=$(join "$B/pids0" "$B/pids.$2" | awk '$2 == $4 && $3 == $5' | wc -l)
	alive=$(for p in $shims; do grep -q drover-shim "/proc/$p/comm" 2>/dev/null && echo "$p"; done | wc -l)
	echo "| $2 | $(ms "$T0" "$t_health") | $(ms "$T0" "$t_adopt") | $cpu | $same of $N | $alive of $N | $(kib rss) |" >>"$B/restarts"
}
: >"$B/restarts"
restart KILL "kill -9"
restart TERM "SIGTERM (clean stop)"
fds_after=$(ls "/proc/$AGENT_PID/fd" | wc -l)

echo "scale: (s4) removing all $N" >&2
t_rm=${EPOCHREALTIME/./}
curl -sf --unix-socket "$SOCK" -X PUT --data-binary '{"revision": 2, "instances": []}' \
	http://localhost/v1/assignments >/dev/null
left=$N
for _ in $(seq 1 $((N * 4 + 600))); do
	left=$(curl -s --unix-socket "$SOCK" http://localhost/v1/instances | jq length)
	[ "$left" -eq 0 ] && break
	sleep 0.1
done
rm_s=$(awk -v a="$t_rm" -v b="${EPOCHREALTIME/./}" 'BEGIN {printf "%.1f", (b - a) / 1e6}')
rss_after=$(kib rss)

echo "scale: writing bench/RESULTS.md" >&2
{
	echo "<!-- scale begin -->"
	echo "## (s) $N instances on one node (bench/scale.sh)"
	echo
	echo "Measured $(date -u +%Y-%m-%d) on this machine: $N instances, \`network.mode: none\`, \`sleep\`,"
	echo "\`resources.memory: 16Mi\` each, droverd with \`--max-instances $((N + 10))\` and a soft open-file"
	echo "limit of 1024 as started (droverd's limits once running: $limits)."
	echo
	echo "| what | figure |"
	echo "|---|---|"
	echo "| start: one \`PUT /v1/assignments\` of $N specs to all $N running (GET polled every 50 ms) | $start_s s (the PUT answered in $(ms "$t_put" "$t_answer") ms) |"
	echo "| droverd VmRSS: idle / with $N running (peak) | $rss_idle KiB / $rss_n KiB ($hwm_n KiB) |"
	echo "| droverd PSS with $N running | $pss_n KiB |"
	echo "| droverd open fds with $N running: before / after a restart | $fds_n / $fds_after |"
	echo "| drover-shim PSS, mean of $N | $shim_pss KiB |"
	echo "| \`GET /v1/instances\` with $N: median / max of 20 (curl, a new connection each) | $lat_med ms / $lat_max ms |"
	echo "| droverd CPU time per such GET (user+sys over the 20, in clock ticks) | $lat_cpu ms |"
	echo "| its body | $body_bytes bytes |"
	echo "| removal: \`PUT /v1/assignments\` of an empty set to an empty list | $rm_s s (droverd VmRSS after: $rss_after KiB) |"
	echo
	echo "Restarts: droverd stopped and started again with all $N running. Times from its exec to the"
	echo "first answer of \`/v1/healthz\` (the API opens only once adoption is done) and to the first"
	echo "\`GET /v1/instances\` (polled every 5 ms) showing all $N running, each with the pid and restart"
	echo "count it had before (\"adopted\"); the shims counted are the processes from before."
	echo
	echo "| stop | healthz ms | all adopted ms | droverd CPU ms by then | same pid and restarts | shims still alive | VmRSS KiB |"
	echo "|---|---|---|---|---|---|---|"
	cat "$B/restarts"
	echo
	echo "On a shared machine the CPU times say more than the wall-clock ones: they do not count the"
	echo "time droverd waited for a CPU. Load average when measured: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo "Targets (issue 10): adoption of 500 under 1 s, RSS under 16 MiB (16384 KiB), list under 20 ms."
	echo "<!-- scale end -->"
} >"$B/section.md"
if grep -q '<!-- scale begin -->' bench/RESULTS.md 2>/dev/null; then
	awk -v f="$B/section.md" '/<!-- scale begin -->/ {while ((getline l < f) > 0) print l; skip = 1}
		/<!-- scale end -->/ {skip = 0; next} !skip' bench/RESULTS.md >"$B/results.new"
	cat "$B/results.new" >bench/RESULTS.md
else
	{ echo; cat "$B/section.md"; } >>bench/RESULTS.md
fi
cat "$B/section.md"
