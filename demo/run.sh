#!/usr/bin/env bash
# The README's first command: installs what drover needs, builds it, builds a
# demo image locally (no network), drops a demo assignment into the default
# assignments dir and runs droverd in the foreground. Ctrl-C stops the agent;
# the demo container keeps running and is adopted by the next droverd.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (droverd manages containers and cgroups)" >&2; exit 1; }
scripts/deps.sh run
make -j"$(nproc)" all >/dev/null

# oci: layouts must live under --image-layout-root (default /var/lib/drover/layouts)
image=/var/lib/drover/layouts/demo
assign=/etc/drover/assignments.d
mkdir -p "$assign" /var/lib/drover/layouts
demo/build-image.sh "$image" latest >/dev/null
if [ ! -e "$assign/demo.json" ]; then
	cat >"$assign/demo.json" <<JSON
{
  "id": "demo",
  "revision": 1,
  "image": "oci:$image:latest",
  "command": ["sh", "-c", "echo hello from drover; i=0; while true; do i=\$((i+1)); echo tick \$i; sleep 5; done"],
  "resources": {"cpu": "250m", "memory": "32Mi", "pids": 64},
  "network": {"mode": "none"},
  "restart": "always",
  "stop_grace_ms": 2000
}
JSON
fi

# Once the demo runs, show it the way an operator would.
(
	for _ in $(seq 1 100); do
		if build/droverctl ps 2>/dev/null | grep -q 'demo .*running'; then
			echo
			build/droverctl ps
			echo
			echo "demo is running. In another shell: build/droverctl logs -f demo   (Ctrl-C here stops droverd only)"
			exit 0
		fi
		sleep 0.1
	done
	echo "demo did not reach running; see the log above and build/droverctl inspect demo" >&2
) &
exec build/droverd "$@"
