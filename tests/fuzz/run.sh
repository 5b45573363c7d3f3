#!/usr/bin/env bash
# Runs the libFuzzer harnesses: run.sh SECONDS|smoke HARNESS_BINARY...
# For each harness: replays its seed corpus (tests/fuzz/corpus/NAME) and every saved crash input
# (tests/fuzz/regressions/NAME), then fuzzes for SECONDS (smoke: 5) with the seeds and the
# dictionary tests/fuzz/NAME.dict if there is one. New corpus entries go to build-fuzz/corpus/NAME,
# crash inputs to build-fuzz/artifacts/NAME/, the full output to build-fuzz/logs/NAME.log.
# Ends with "fuzz: N passed, N failed" (one per harness).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
mode=${1:?usage: run.sh SECONDS|smoke HARNESS...}
shift
secs=$mode
[ "$mode" = smoke ] && secs=5
case "$secs" in '' | *[!0-9]*) echo "run.sh: '$mode' is not a number of seconds" >&2; exit 2 ;; esac

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# one harness: prints its result lines; fails if it failed
fuzz_one() {
	local bin=$1 name seeds work arts log ok inputs opts dirs execs cov
	name=$(basename "$bin")
	seeds=tests/fuzz/corpus/$name
	work=build-fuzz/corpus/$name
	arts=build-fuzz/artifacts/$name
	log=build-fuzz/logs/$name.log
	mkdir -p "$work" "$arts" "$(dirname "$log")"
	: >"$log"
	ok=1
	# every seed and regression input once: they must all pass as they are
	mapfile -t inputs < <(find "$seeds" tests/fuzz/regressions/"$name" -type f 2>/dev/null | sort)
	if [ "${#inputs[@]}" -gt 0 ] && ! "$bin" "${inputs[@]}" >>"$log" 2>&1; then
		echo "fuzz: $name: a seed or regression input fails"
		ok=0
	fi
	opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$arts/")
	[ -f tests/fuzz/"$name".dict ] && opts+=(-dict=tests/fuzz/"$name".dict)
	dirs=("$work")
	[ -d "$seeds" ] && dirs+=("$seeds")
	if [ "$ok" -eq 1 ] && ! "$bin" "${opts[@]}" "${dirs[@]}" >>"$log" 2>&1; then
		echo "fuzz: $name: crash, the input is in $arts/, the output in $log"
		ok=0
	fi
	execs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
	if [ "$ok" -eq 1 ]; then
		echo "fuzz: $name: ok, ${secs}s, ${execs:-0} executions, ${cov:-cov: ?}"
		return 0
	fi
	grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz: |    #[0-9] )' "$log" | head -20
	return 1
}

# FUZZ_JOBS (2) harnesses at a time: each is one process on one core (libFuzzer without -jobs),
# so two at a time on two cores run as many executions each in their seconds as one alone, in
# half the wall-clock time. Each harness's lines are kept and printed whole, in the order given.
res=$(mktemp -d)
trap 'rm -rf "$res"' EXIT
bins=("$@")
pass=0
fail=0
shown=0
# show_done: prints the results of the harnesses finished so far, in order, up to the first still running
show_done() {
	while [ "$shown" -lt "${#bins[@]}" ] && [ -e "$res/$shown.rc" ]; do
		cat "$res/$shown.out"
		if [ "$(cat "$res/$shown.rc")" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
		shown=$((shown + 1))
	done
}
running=0
for i in "${!bins[@]}"; do
	if [ "$running" -ge "${FUZZ_JOBS:-2}" ]; then
		wait -n
		running=$((running - 1))
		show_done
	fi
	(
		fuzz_one "${bins[$i]}" >"$res/$i.out" 2>&1
		echo $? >"$res/$i.rc.tmp" && mv "$res/$i.rc.tmp" "$res/$i.rc"
	) &
	running=$((running + 1))
done
wait
show_done
while [ "$shown" -lt "${#bins[@]}" ]; do # a harness whose subshell died before writing its status
	echo "fuzz: $(basename "${bins[$shown]}"): no result" >>"$res/$shown.out"
	echo 1 >"$res/$shown.rc"
	show_done
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
