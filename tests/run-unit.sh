#!/usr/bin/env bash
# Runs cmocka test binaries with TAP output; prints "unit: N passed, N failed" and fails on any failure.
set -uo pipefail
pass=0
fail=0
for t in "$@"; do
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(not )?ok ' | sed "s|^|$(basename "$t"): |"
	p=$(echo "$out" | grep -cE '^ok ')
	f=$(echo "$out" | grep -cE '^not ok ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$out" | tail -20
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
