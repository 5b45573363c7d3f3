#!/usr/bin/env bash
# Writes a compile_commands.json for clang-tidy: $1 is the compiler command line, the rest are sources.
set -euo pipefail
cmd=$1; shift
dir=$(pwd)
echo "["
first=1
for src in "$@"; do
	[ $first -eq 1 ] || echo ","
	first=0
	printf '{"directory": "%s", "file": "%s", "command": "%s -c %s"}' "$dir" "$src" "${cmd//\"/\\\"}" "$src"
done
echo "]"
