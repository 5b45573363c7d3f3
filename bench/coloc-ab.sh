#!/usr/bin/env bash
# Hand-made A/B of where a batch hog sits (docs/colocation-latency.md), no droverd involved:
#   bench/coloc-ab.sh SERVER RATE SECS ROUNDS LAYOUT...
# SERVER: srv (build/bench/online-srv) or httpd (busybox httpd); LAYOUT, run in turn each round:
#   none        online alone, in a root-level cgroup
#   plain       + hog in a root-level cgroup, cpu.shares=2
#   rootidle    + hog in a root-level cgroup, cpu.idle=1
#   nested      drover's layout: online in X/online/inst, hog in X/batch/hog (shares 2, 2)
#   nestedidle  nested, X/batch with cpu.idle=1
#   nestedpin   nestedidle, the hog pinned to CPU 1 (a static cpuset split)
#   nestedmem   nested, the hog with a 512Mi memory limit (drover's --default-memory)
#   idlecpu     rootidle with a hog of CPU work only (stress-ng --cpu 2)
#   idlevm      rootidle with a hog of memory work only (stress-ng --vm 2: page faults, map/unmap)
#   idlevmkeep  idlevm with --vm-keep: the memory mapped once and kept, so the work is memory traffic
#               from user space, not page faults and unmaps in the kernel
#   idlevmthp   idlevm with its memory in transparent huge pages (--vm-madvise hugepage)
#   isolated    rootidle, online pinned to CPU 0 and the hog (--cpu 1 --vm 1) to CPU 1: no CPU shared
#               at all, what is left is what the two CPUs share below the scheduler (caches, memory,
#               the hypervisor)
# Prints one line per case: round layout sent ok errors p50 p99 p999 max (ms), hog CPU, load.
set -u
W=$(cd "$(dirname "$0")/.." && pwd)
SRV=$1 RATE=$2 SECS=$3 ROUNDS=$4; shift 4
C=/sys/fs/cgroup
WWW=$(mktemp -d)
echo ok >"$WWW/index.html"
A=/coloc-ab-$$-a B=/coloc-ab-$$-b
P=$((30000 + RANDOM % 10000))
mk() { for h in cpu cpuacct memory; do mkdir -p "$C/$h$1"; done; }
mk $A-on; mk $A-hog; echo 2 >$C/cpu$A-hog/cpu.shares; mk $A-idle; echo 1 >$C/cpu$A-idle/cpu.idle
mk $B; mk $B/online; mk $B/online/inst; mk $B/batch; mk $B/batch/hog
echo 2 >$C/cpu$B/batch/cpu.shares; echo 2 >$C/cpu$B/batch/hog/cpu.shares
mk $B/batch/hogm; echo 2 >$C/cpu$B/batch/hogm/cpu.shares; echo $((512*1024*1024)) >$C/memory$B/batch/hogm/memory.limit_in_bytes
SP="" HP=""
cleanup() {
	[ -z "$HP" ] || kill -- "-$HP" 2>/dev/null
	[ -z "$SP" ] || kill "$SP" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$WWW"
	for d in $A-on $A-hog $A-idle $B/online/inst $B/online $B/batch/hog $B/batch/hogm $B/batch $B; do
		for h in cpu cpuacct memory; do rmdir "$C/$h$d" 2>/dev/null; done
	done
}
trap cleanup EXIT
if [ "$SRV" = httpd ]; then busybox httpd -f -p $P -h $WWW & SP=$!; path=/index.html
else $W/build/bench/online-srv $P 200 & SP=$!; path=/; fi
sleep 0.3
place() { for h in cpu cpuacct memory; do echo $2 >"$C/$h$1/cgroup.procs"; done; }
for r in $(seq 1 $ROUNDS); do
 for L in "$@"; do
  case $L in plain|none) on=$A-on hog=$A-hog;; rootidle|idlecpu|idlevm|idlevmkeep|idlevmthp|isolated) on=$A-on hog=$A-idle;; nested|nestedidle|nestedpin) on=$B/online/inst hog=$B/batch/hog;; nestedmem) on=$B/online/inst hog=$B/batch/hogm;; esac
  [ $L = nestedidle -o $L = nestedpin ] && echo 1 >$C/cpu$B/batch/cpu.idle || echo 0 >$C/cpu$B/batch/cpu.idle
  place $on $SP
  # isolated: the server and every child it forks on CPU 0 only; the others: both CPUs
  taskset -a -p -c "$([ $L = isolated ] && echo 0 || echo 0-1)" $SP >/dev/null
  HP=""
  if [ $L != none ]; then
   PIN=""; [ $L = nestedpin ] || [ $L = isolated ] && PIN="taskset -c 1"
   WORK="--cpu 2 --vm 2"; [ $L = idlecpu ] && WORK="--cpu 2"; [ $L = idlevm ] && WORK="--vm 2"
   [ $L = idlevmkeep ] && WORK="--vm 2 --vm-keep"; [ $L = idlevmthp ] && WORK="--vm 2 --vm-madvise hugepage"
   [ $L = isolated ] && WORK="--cpu 1 --vm 1"
   setsid sh -c 'for h in cpu cpuacct memory; do echo $$ >"/sys/fs/cgroup/$h'"$hog"'/cgroup.procs"; done; exec '"$PIN"' stress-ng '"$WORK"' --quiet' & HP=$!
   sleep 1.5
  fi
  u0=$(cat $C/cpuacct$hog/cpuacct.usage); t0=$(date +%s%N)
  out=$(chrt -f 50 $W/build/bench/loadgen 127.0.0.1 $P $path $RATE $SECS)
  u1=$(cat $C/cpuacct$hog/cpuacct.usage); t1=$(date +%s%N)
  [ -n "$HP" ] && { kill -- -$HP; wait $HP 2>/dev/null; HP=""; }
  echo "$r $L $out hogcpu=$(( (u1-u0)*100/(t1-t0) ))% load=$(cut -d' ' -f1 /proc/loadavg)"
  sleep 0.5
 done
done
