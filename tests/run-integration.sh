#!/usr/bin/env bash
# Runs the bats suites (as root, against real runc and cgroups); prints "integration: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/integration/*.bats)
out=$(mktemp)
filter=()
[ -z "${DROVER_FILTER:-}" ] || filter=(-f "$DROVER_FILTER")
bats --tap "${filter[@]}" "${files[@]}" 2>&1 | tee "$out"
pass=$(grep -E '^ok ' "$out" | grep -vc '# skip' || true)
skip=$(grep -E '^ok ' "$out" | grep -c '# skip' || true)
fail=$(grep -cE '^not ok ' "$out" || true)
rm -f "$out"
# a skip is a failure in CI: the real thing runs here
fail=$((fail + skip))
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
