#!/usr/bin/env bash
# make bench, section (k): colocation. An online service under open-loop load, alone and beside a
# CPU+memory hog (stress-ng --cpu NCPU --vm 2), in one run, interleaved rounds, medians of rounds:
#   alone   the online instance (drover, qos: online, network host) with nothing beside it
#   plain   + the hog in a plain root-level cgroup with cpu.shares=2 (kubelet's BestEffort), no
#           memory limit
#   drover  + the hog as a drover instance with qos: batch, the colocation controller on
#   droverown  the same with droverd given --batch-cgroup (the batch tier a cgroup of its own
#           beside drover's root; droverd is restarted into that mode and back, adopting online)
#   droverweight  droverown with --batch-cpu-class weight (the tier at the lowest weight, not
#           idle: a drover-run twin of plain)
#   rootidle (not run by default) + the hog in a root-level cgroup with cpu.idle 1, made by hand:
#           what droverown should match (docs/colocation-latency.md)
# Online is two servers: bench/online-srv.c (epoll, no fork, ~200 us of CPU per request) and busybox
# httpd (a fork per request); each at COLOC_RATES req/s. The load client (bench/loadgen.c) runs at
# real-time priority: it stands for remote users, so what it measures is the server's latency.
# The hog's CPU is reported as a share of the CPU the node had idle in the same round's alone run.
#
# Short runs for trying: COLOC_ROUNDS (5), COLOC_SECONDS (15), COLOC_RATES ("100 300"),
# COLOC_SERVERS ("srv httpd"), COLOC_CASES ("alone plain drover droverown droverweight"). COLOC_VARIANTS names a
# file defining shell functions variant_NAME, run with the cgroup mount and drover's cgroup root
# after the hog starts in a case "drover:NAME" (A/B experiments on knobs). COLOC_NO_RESULTS=1
# prints the section instead of writing bench/RESULTS.md. COLOC_AGENT_ARGS: extra droverd flags.
# The raw rows of the last run are kept in /tmp/drover-coloc-last.data, droverd's log in
# /tmp/drover-coloc-last.log.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 1; }
scripts/deps.sh bench
make -s all build/bench/put-wait build/bench/loadgen build/bench/online-srv

ROUNDS=${COLOC_ROUNDS:-5}
SECS=${COLOC_SECONDS:-15}
RATES=${COLOC_RATES:-100 300}
SERVERS=${COLOC_SERVERS:-srv httpd}
CASES=${COLOC_CASES:-alone plain drover droverown droverweight}
NCPU=$(nproc)
B=/tmp/drover-coloc-$$
CG=/drover-coloc-$$
HOGCG=/drover-coloc-hog-$$
OWNCG=/drover-coloc-batch-$$
AGENT_MODE=""
SOCK="$B/run/droverd.sock"
AGENT_PID=""
HOG_PID=""
PORT_SRV=$((20000 + RANDOM % 10000))
PORT_HTTPD=$((PORT_SRV + 1))
HOG_ARGS=(stress-ng --cpu "$NCPU" --vm 2 --quiet)
mkdir -p "$B"
[ -z "${COLOC_VARIANTS:-}" ] || . "$COLOC_VARIANTS"

cleanup() {
	set +e
	[ -z "$HOG_PID" ] || { kill -- "-$HOG_PID" 2>/dev/null; wait "$HOG_PID" 2>/dev/null; }
	if [ -n "$AGENT_PID" ]; then
		for id in $(curl -s --unix-socket "$SOCK" http://localhost/v1/instances | jq -r '.[].id'); do
			build/bench/put-wait rm "$SOCK" "$id" >/dev/null 2>&1
		done
		kill "$AGENT_PID"
		wait "$AGENT_PID" 2>/dev/null
	fi
	grep " $B/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	for d in /sys/fs/cgroup/*"$CG" /sys/fs/cgroup/*"$HOGCG" /sys/fs/cgroup/*"$OWNCG"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "$B"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (!NR) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# the image: busybox, plus the static online server, a page for httpd, and stress-ng with the
# shared libraries it loads, copied from the host at their paths
echo "bench: (k) building the colocation image" >&2
mkdir -p "$B/layer/bin" "$B/layer/www"
cp build/bench/online-srv "$B/layer/bin/online-srv"
echo ok >"$B/layer/www/index.html"
stress=$(command -v stress-ng)
cp "$stress" "$B/layer/bin/stress-ng"
for lib in $(ldd "$stress" | grep -o '/[^ ]*'); do
	mkdir -p "$B/layer$(dirname "$lib")"
	cp -L "$lib" "$B/layer$lib"
done
demo/build-image.sh "$B/image" latest --extra-layer "$B/layer" >/dev/null

: >"$B/droverd.conf"
mkdir -p "$B/assign"
agent_start() { # MODE: "" (the default layout), "own" (--batch-cgroup) or "ownweight" (and weight class)
	local own=()
	[ -z "$1" ] || own=(--batch-cgroup "$OWNCG")
	[ "$1" != ownweight ] || own+=(--batch-cpu-class weight)
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID"
		wait "$AGENT_PID" 2>/dev/null || true
	fi
	rm -f "$SOCK"
	# shellcheck disable=SC2086 # COLOC_AGENT_ARGS is a list of flags
	build/droverd --config "$B/droverd.conf" --state-dir "$B/state" --run-dir "$B/run" --assignments-dir "$B/assign" \
		--cgroup-root "$CG" --nft-table "drover_coloc$$" --image-layout-root "$B" --log-level info \
		"${own[@]}" ${COLOC_AGENT_ARGS:-} 2>>"$B/droverd.log" &
	AGENT_PID=$!
	AGENT_MODE=$1
	for _ in $(seq 1 100); do curl -sf --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null 2>&1 && break; sleep 0.05; done
}
agent_start ""
spec() { # spec QOS COMMAND-JSON
	jq -n --arg img "oci:$B/image:latest" --arg qos "$1" --argjson cmd "$2" \
		'{image: $img, network: {mode: "host"}, qos: $qos, command: $cmd, stop_grace_ms: 0}'
}
spec online "[\"/bin/online-srv\", \"$PORT_SRV\", \"200\"]" >"$B/srv.json"
spec online "[\"httpd\", \"-f\", \"-p\", \"$PORT_HTTPD\", \"-h\", \"/www\"]" >"$B/httpd.json"
spec batch "$(printf '%s\n' "${HOG_ARGS[@]}" | jq -R . | jq -sc .)" >"$B/hog.json"
build/bench/put-wait run "$SOCK" srv "$B/srv.json" >/dev/null
build/bench/put-wait run "$SOCK" httpd "$B/httpd.json" >/dev/null
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$PORT_SRV/" >/dev/null && curl -sf "http://127.0.0.1:$PORT_HTTPD/index.html" >/dev/null && break
	sleep 0.05
done

busy_ms() { awk '/^cpu / {printf "%d\n", ($2+$3+$4+$7+$8+$9) * 1000 / '"$(getconf CLK_TCK)"'}' /proc/stat; }
hog_ms() { # CPU used so far by the hog's cgroup, ms
	local f
	case $1 in
	plain | rootidle) f=/sys/fs/cgroup/cpuacct$HOGCG/cpuacct.usage ;;
	droverown | droverweight) f=/sys/fs/cgroup/cpuacct$OWNCG/cpuacct.usage ;;
	*) f=/sys/fs/cgroup/cpuacct$CG/batch/cpuacct.usage ;;
	esac
	[ -f "$f" ] && echo $(($(cat "$f") / 1000000)) || echo 0
}
diag() { # "cpu-some-ms memory-some-ms agent-cpu-ms allocstall pgscan" so far: what else ran or stalled
	local psi_cpu psi_mem agent
	psi_cpu=$(awk '/^some/ {sub("total=", "", $5); print int($5 / 1000)}' /proc/pressure/cpu 2>/dev/null || echo 0)
	psi_mem=$(awk '/^some/ {sub("total=", "", $5); print int($5 / 1000)}' /proc/pressure/memory 2>/dev/null || echo 0)
	agent=$(awk '{print int($1 / 1000000)}' "/proc/$AGENT_PID/schedstat")
	echo "${psi_cpu:-0} ${psi_mem:-0} $agent $(awk '/^allocstall_/ {a += $2} /^pgscan_(direct|kswapd) / {s += $2} END {print a + 0, s + 0}' /proc/vmstat)"
}
evictions() { # "evictions quota-changes" so far
	curl -s --unix-socket "$SOCK" http://localhost/v1/node |
		jq -r '.colocation.eviction | "\(.evictions_total) \(.batch_cpu_quota_changes_total)"'
}

hog_start() { # CASE
	case $1 in
	alone) ;;
	plain | rootidle)
		for h in cpu cpuacct; do mkdir -p "/sys/fs/cgroup/$h$HOGCG"; done
		if [ "$1" = plain ]; then
			[ ! -f "/sys/fs/cgroup/cpu$HOGCG/cpu.idle" ] || echo 0 >"/sys/fs/cgroup/cpu$HOGCG/cpu.idle"
			echo 2 >"/sys/fs/cgroup/cpu$HOGCG/cpu.shares"
		elif [ -f "/sys/fs/cgroup/cpu$HOGCG/cpu.idle" ]; then
			echo 1 >"/sys/fs/cgroup/cpu$HOGCG/cpu.idle"
		else
			echo 2 >"/sys/fs/cgroup/cpu$HOGCG/cpu.shares" # no cpu.idle here: the same as plain
		fi
		setsid sh -c 'for h in cpu cpuacct; do echo $$ >"/sys/fs/cgroup/$h'"$HOGCG"'/cgroup.procs"; done; exec "$@"' \
			hog "${HOG_ARGS[@]}" &
		HOG_PID=$!
		;;
	droverown | droverweight)
		local mode=own
		[ "$1" = droverown ] || mode=ownweight
		[ "$AGENT_MODE" = "$mode" ] || agent_start "$mode"
		build/bench/put-wait run "$SOCK" hog "$B/hog.json" >/dev/null
		;;
	drover*)
		[ -z "$AGENT_MODE" ] || agent_start ""
		build/bench/put-wait run "$SOCK" hog "$B/hog.json" >/dev/null
		local v=${1#drover}
		[ -z "$v" ] || "variant_${v#:}" "/sys/fs/cgroup" "$CG"
		;;
	esac
	sleep 2 # the hog's memory workers allocate, the controller sees the load
}
hog_stop() {
	case $1 in
	alone) ;;
	plain | rootidle)
		kill -- "-$HOG_PID" 2>/dev/null || true
		wait "$HOG_PID" 2>/dev/null || true
		HOG_PID=""
		;;
	*) build/bench/put-wait rm "$SOCK" hog >/dev/null 2>&1 || true ;;
	esac
	sleep 1
}

# data: round server rate case p50 p99 p999 errors hog_ms busy_ms evictions window_ms quota_changes
#       psi_cpu_some_ms psi_memory_some_ms agent_cpu_ms allocstalls pages_scanned
: >"$B/data"
for r in $(seq 1 "$ROUNDS"); do
	for s in $SERVERS; do
		for rate in $RATES; do
			for c in $CASES; do
				echo "bench: (k) round $r/$ROUNDS $s $rate req/s $c" >&2
				hog_start "$c"
				read -r e0 q0 < <(evictions)
				read -r d0 < <(diag)
				h0=$(hog_ms "$c")
				b0=$(busy_ms)
				t0=$(date +%s%N)
				if [ "$s" = srv ]; then port=$PORT_SRV path=/; else port=$PORT_HTTPD path=/index.html; fi
				read -r _ _ err p50 p99 p999 _ < <(chrt -f 50 build/bench/loadgen 127.0.0.1 "$port" "$path" "$rate" "$SECS")
				h1=$(hog_ms "$c")
				b1=$(busy_ms)
				t1=$(date +%s%N)
				read -r e1 q1 < <(evictions)
				read -r d1 < <(diag)
				dd=$(awk -v a="$d0" -v b="$d1" 'BEGIN {n = split(a, x); split(b, y); for (i = 1; i <= n; i++) printf "%d ", y[i] - x[i]}')
				echo "$r $s $rate $c $p50 $p99 $p999 $err $((h1 - h0)) $((b1 - b0)) $((e1 - e0)) $(((t1 - t0) / 1000000)) $((q1 - q0)) $dd" >>"$B/data"
				hog_stop "$c"
			done
		done
	done
done
cp "$B/data" /tmp/drover-coloc-last.data
cp "$B/droverd.log" /tmp/drover-coloc-last.log

# the hog's share of the idle CPU: its CPU over (window x CPUs - busy CPU of the same round's alone)
rows=""
for s in $SERVERS; do
	for rate in $RATES; do
		base=$(awk -v s="$s" -v r="$rate" '$2==s && $3==r && $4=="alone" {print $6}' "$B/data" | median)
		for c in $CASES; do
			sel() { awk -v s="$s" -v r="$rate" -v c="$c" '$2==s && $3==r && $4==c' "$B/data"; }
			p50=$(sel | awk '{print $5}' | median)
			p99=$(sel | awk '{print $6}' | median)
			p999=$(sel | awk '{print $7}' | median)
			errs=$(sel | awk '{n+=$8} END {print n+0}')
			ev=$(sel | awk '{n+=$11} END {print n+0}')
			qc=$(sel | awk '{n+=$13} END {print n+0}')
			# idle CPU per ms of window when alone, times the case's own window
			share=$(awk -v s="$s" -v r="$rate" -v c="$c" -v n="$NCPU" '
				$2==s && $3==r && $4=="alone" && $12 > 0 {idle[$1] = (n * $12 - $10) / $12}
				$2==s && $3==r && $4==c {hog[$1] = $9; win[$1] = $12}
				END {for (k in hog) if (idle[k] > 0) printf "%.0f\n", 100 * hog[k] / (idle[k] * win[k])}' "$B/data" |
				median | awk '{print ($1 == "-") ? "-" : sprintf("%.0f", $1)}')
			[ "$c" = alone ] && share="-"
			x=$(awk -v a="$p99" -v b="$base" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}')
			name=$s
			[ "$s" = srv ] && name="online-srv (epoll, 200 us CPU/req)"
			[ "$s" = httpd ] && name="busybox httpd (fork/req)"
			rows+="| $name | $rate | $c | $p50 | $p99 | $p999 | $x | $share | $errs | $ev | $qc |"$'\n'
		done
	done
done
section=$(
	cat <<MD
## (k) Colocation: online latency beside a batch hog

Measured $(date -u '+%Y-%m-%d %H:%M') UTC, kernel $(uname -r), $NCPU CPUs; hog \`${HOG_ARGS[*]}\`. Medians of $ROUNDS interleaved rounds of ${SECS} s per case;
load client at SCHED_FIFO, open loop (latency from each request's due time), a connection per
request. Online runs as a drover instance (\`qos: online\`, host network) in every case.
*plain*: the hog in a root-level cgroup with \`cpu.shares=2\` (kubelet's BestEffort), no memory
limit. *drover*: the hog as a \`qos: batch\` instance, colocation controller on (defaults${COLOC_AGENT_ARGS:+; droverd also given \`$COLOC_AGENT_ARGS\`}).
*droverown*: the same, droverd started with \`--batch-cgroup\` (the batch tier a cgroup of its own
beside drover's root, still idle class). *droverweight*: droverown with \`--batch-cpu-class weight\`
(the tier at the lowest weight instead of idle: plain's CPU setting, plus drover's controller). *rootidle*, where run: the hog by hand in a root-level
cgroup with \`cpu.idle=1\` (docs/colocation-latency.md).
"hog CPU" is the hog's CPU as a share of the CPU the node left idle in the same round's alone run.

| online | req/s | case | p50 ms | p99 ms | p99.9 ms | p99 vs alone | hog CPU % of idle | errors | evictions | batch quota changes |
|---|---|---|---|---|---|---|---|---|---|---|
$rows
Targets (issue 12): busybox httpd at 300 req/s p99 within 1.5x of alone and no worse than plain,
hog keeping at least 60% of idle; at 100 req/s within 1.3x keeping 80%; online-srv never worse
than plain, hog keeping at least 95%. Where a row misses its target, docs/colocation-latency.md
shows, with hand-made layouts on the same machine, what stands in the way (on these VMs: the
hog's page-table work inside a non-preemptible kernel, the cost of switching address spaces, and,
for the light server, the batch tier's CPU class: the idle class that keeps a forking server near
alone costs the light one against a root-level shares=2 group).
MD
)
if [ -n "${COLOC_NO_RESULTS:-}" ]; then
	printf '%s\n' "$section"
else
	# replace this section in RESULTS.md (or append it), leaving the others as they are
	awk -v new="$section" '
		/^## \(k\) / {skip = 1; if (!done) {print new; print ""; done = 1}; next}
		skip && /^## / {skip = 0}
		!skip {print}
		END {if (!done) {print new; print ""}}' bench/RESULTS.md >"$B/results" && cat "$B/results" >bench/RESULTS.md
	printf '%s\n' "$section"
fi
