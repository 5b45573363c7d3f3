#!/usr/bin/env bash
# The README's test command runs this: dependencies, build, unit tests, the same
# unit tests under ASan+UBSan, lint, integration tests. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh all || { echo "0 passed, 1 failed"; exit 1; }

total_pass=0
total_fail=0
count() { # parses "<stage>: N passed, N failed" from a stage's output
	local line p f
	line=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
	p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	[ -n "$p" ] || p=0
	[ -n "$f" ] || f=1 # a stage that printed no summary failed
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}
stage() { # name, command...
	local name=$1 log rc
	shift
	log=$(mktemp)
	echo "=== $name"
	"$@" >"$log" 2>&1
	rc=$?
	cat "$log"
	if ! grep -qE '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$log"; then
		echo "$name: $([ $rc -eq 0 ] && echo 1 || echo 0) passed, $([ $rc -eq 0 ] && echo 0 || echo 1) failed"
		echo "$name: $([ $rc -eq 0 ] && echo 1 || echo 0) passed, $([ $rc -eq 0 ] && echo 0 || echo 1) failed" >>"$log"
	elif [ $rc -ne 0 ] && ! grep -qE '^[a-z]+: [0-9]+ passed, [1-9][0-9]* failed' "$log"; then
		echo "$name: 0 passed, 1 failed" >>"$log"
	fi
	count "$log"
	rm -f "$log"
}

stage build make -j2 all
stage unit make -j2 unit
stage sanitize make -j2 sanitize
stage lint make lint
stage integration make integration
echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
