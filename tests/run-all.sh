#!/usr/bin/env bash
# The README's test command runs this: dependencies, build, unit tests, the same
# unit tests under ASan+UBSan, lint, integration tests. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh all || { echo "0 passed, 1 failed"; exit 1; }

total_pass=0
total_fail=0
count() { # sums every "<stage>: N passed, N failed" line of a stage's output
	local p f line found=0
	while read -r line; do
		p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		found=1
	done < <(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$1")
	[ "$found" -eq 1 ] || total_fail=$((total_fail + 1)) # a stage that printed no summary failed
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
stage v2 make -s check-v2
echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
