#!/usr/bin/env bash
# clang-tidy over every given source, LINT_JOBS (2) files at a time: one after the other it was
# most of `make lint` (about 3 minutes on two cores). Each file's findings go to a file of their
# own and are printed whole, in the order given, once all are done, so two files' warnings never
# interleave. Fails if clang-tidy failed on any file (WarningsAsErrors in .clang-tidy).
#   tests/run-tidy.sh BUILD_DIR SOURCE...
set -uo pipefail
build=${1:?usage: run-tidy.sh BUILD_DIR SOURCE...}
shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# one job: $1 build dir, $2 output dir, $3 the source's index, $4 the source
# shellcheck disable=SC2016 # expanded by the job's shell
job='clang-tidy -quiet -p "$1" "$4" >"$2/$3.out" 2>/dev/null || { : >"$2/$3.failed"; exit 1; }'
n=$#
for ((i = 0; i < n; i++)); do
	printf '%s\0%s\0' "$i" "${@:i+1:1}"
done | xargs -0 -n2 -P "${LINT_JOBS:-2}" sh -c "$job" run-tidy "$build" "$out"
xrc=${PIPESTATUS[1]}
rc=0
# 123: some job failed, which the loop below reports; anything else: xargs itself failed
case $xrc in 0 | 123) ;; *) echo "run-tidy: xargs failed ($xrc)" >&2; rc=1 ;; esac
for ((i = 0; i < n; i++)); do
	# no .out: that file's job never ran
	[ -e "$out/$i.out" ] || { echo "run-tidy: ${*:i+1:1} was not checked" >&2; rc=1; }
	cat "$out/$i.out" 2>/dev/null
	[ ! -e "$out/$i.failed" ] || rc=1
done
exit "$rc"
