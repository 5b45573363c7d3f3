#!/usr/bin/env bats
# Container defaults against a hostile workload or image (issue 7: H1, H2, M4, M7, L7): no new
# namespaces, a masked /proc, a private cgroup namespace, image files that cannot hang the agent,
# working directories that cannot point into /proc, spec files owned by the container's user, and
# the runtime version check.

load helpers

CLONE_NS="$REPO_ROOT/${DROVER_BUILD:-build}/tests/clone-ns"

# layout_set_workdir LAYOUT DIR: rewrites the image config's WorkingDir (and the manifest and index
# that name it by digest), as a hostile image would ship it.
layout_set_workdir() {
	local l=$1 wd=$2 m c hex size
	m=$(jq -r '.manifests[0].digest' "$l/index.json")
	c=$(jq -r '.config.digest' "$l/blobs/sha256/${m#sha256:}")
	jq -c --arg wd "$wd" '.config.WorkingDir = $wd' "$l/blobs/sha256/${c#sha256:}" >"$l/new-config"
	hex=$(sha256sum "$l/new-config" | cut -d' ' -f1)
	size=$(stat -c %s "$l/new-config")
	mv "$l/new-config" "$l/blobs/sha256/$hex"
	jq -c --arg d "sha256:$hex" --argjson s "$size" '.config.digest = $d | .config.size = $s' \
		"$l/blobs/sha256/${m#sha256:}" >"$l/new-manifest"
	hex=$(sha256sum "$l/new-manifest" | cut -d' ' -f1)
	size=$(stat -c %s "$l/new-manifest")
	mv "$l/new-manifest" "$l/blobs/sha256/$hex"
	jq -c --arg d "sha256:$hex" --argjson s "$size" '.manifests[0].digest = $d | .manifests[0].size = $s' \
		"$l/index.json" >"$l/new-index"
	mv "$l/new-index" "$l/index.json"
}

setup_file() {
	image_setup_file
	local x="$BATS_FILE_TMPDIR/extra"
	# the clone helper in /bin
	mkdir -p "$x/tools/bin"
	if [ -x "$CLONE_NS" ]; then
		cp "$CLONE_NS" "$x/tools/bin/clone-ns"
		"$REPO_ROOT/demo/build-image.sh" "$BATS_FILE_TMPDIR/tools-image" latest --extra-layer "$x/tools" >/dev/null
	fi
	# FIFOs where the agent reads the image's user database
	mkdir -p "$x/fifo-passwd/etc" "$x/fifo-group/etc"
	mkfifo "$x/fifo-passwd/etc/passwd" "$x/fifo-group/etc/group"
	"$REPO_ROOT/demo/build-image.sh" "$BATS_FILE_TMPDIR/fifo-passwd" latest --extra-layer "$x/fifo-passwd" >/dev/null
	"$REPO_ROOT/demo/build-image.sh" "$BATS_FILE_TMPDIR/fifo-group" latest --extra-layer "$x/fifo-group" >/dev/null
	# WorkingDir through /proc (the CVE-2024-21626 vector)
	"$REPO_ROOT/demo/build-image.sh" "$BATS_FILE_TMPDIR/wd-proc" latest >/dev/null
	layout_set_workdir "$BATS_FILE_TMPDIR/wd-proc" /proc/self/fd/7
}

setup() {
	drv_setup
	start_agent
}

teardown() {
	drv_teardown
}

healthz_fast() {
	curl -sf -m 1 --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null
}

# A bystander instance; prints its pid once running.
start_bystander() {
	put_file bystander '.command = ["sleep", "1000"]'
	wait_for 10 phase_is bystander running
	status_of bystander .pid
}

bystander_unchanged() { # bystander_unchanged PID
	[ "$(status_of bystander)" = running ]
	[ "$(status_of bystander .pid)" = "$1" ]
	[ -d "/proc/$1" ]
}

logs_of() {
	"$DROVERCTL" --socket "$SOCK" logs "$1"
}

@test "a default container cannot create namespaces: unshare, setns, clone flags and AF_VSOCK fail" {
	requires clone_ns
	put_file ns "$(printf '%s' '.image = "oci:'"$BATS_FILE_TMPDIR"'/tools-image:latest" | .restart = "never" |
		.command = ["sh", "-c", "busybox unshare -U true; echo unshare-U=$?; busybox unshare -n true; echo unshare-n=$?;
			busybox nsenter -t 1 -n true; echo nsenter=$?;
			clone-ns none user net user+net pid mnt uts ipc cgroup vsock; echo done"]')"
	wait_for 15 phase_is ns exited
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs ns | grep -q '^done'"
	drv_run logs_of ns
	[[ "$output" == *"unshare-U=1"* ]]
	[[ "$output" == *"unshare-n=1"* ]]
	[[ "$output" == *"nsenter=1"* ]]
	# plain clone (fork) still works; every namespace flag is refused by the filter
	[[ "$output" == *"none ok"* ]]
	local a
	for a in user net user+net pid mnt uts ipc cgroup vsock; do
		echo "$output" | grep -qx "$a EPERM"
	done
	[ "$(status_of ns .exit_code)" = 0 ]
}

@test "the same attempts in bridge mode fail too, and the host's answer is EPERM, not a crash" {
	requires clone_ns
	put_file nsb "$(printf '%s' '.image = "oci:'"$BATS_FILE_TMPDIR"'/tools-image:latest" | .restart = "never" |
		.network = {"mode": "bridge"} | .command = ["clone-ns", "user+net", "none"]')"
	wait_for 20 phase_is nsb exited
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs nsb | grep -q '^none ok'"
	drv_run logs_of nsb
	[ "${lines[0]}" = "user+net EPERM" ]
	[ "${lines[1]}" = "none ok" ]
}

@test "/proc is nosuid,noexec,nodev, /proc/interrupts is masked, the cgroup namespace is private" {
	put_file procs '.restart = "never" | .command = ["sh", "-c",
		"busybox grep \" /proc proc \" /proc/mounts; echo interrupts=$(busybox wc -c < /proc/interrupts);
		 busybox sed \"s/^/cg /\" /proc/self/cgroup; echo done"]'
	wait_for 15 phase_is procs exited
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs procs | grep -q '^done'"
	drv_run logs_of procs
	local procline
	procline=$(echo "$output" | grep -m1 ' /proc proc ')
	[[ ",$(echo "$procline" | cut -d' ' -f4)," == *,nosuid,* ]]
	[[ ",$(echo "$procline" | cut -d' ' -f4)," == *,nodev,* ]]
	[[ ",$(echo "$procline" | cut -d' ' -f4)," == *,noexec,* ]]
	# the host's file has content; the container's is /dev/null
	[ "$(wc -c </proc/interrupts)" -gt 0 ]
	[[ "$output" == *"interrupts=0"* ]]
	# every hierarchy shows the container's own cgroup as its root, never the host's path
	[ "$(echo "$output" | grep -c '^cg ')" -ge 1 ]
	! echo "$output" | grep '^cg ' | grep -qv ':/$'
	! echo "$output" | grep -q "$CGROOT"
	# powercap is masked in the config (this VM has no powercap to read)
	jq -e '.linux.maskedPaths | index("/sys/devices/virtual/powercap") and index("/proc/interrupts")' \
		"$STATE/bundles/procs/config.json"
	jq -e '.linux.namespaces | map(.type) | index("cgroup")' "$STATE/bundles/procs/config.json"
}

@test "a FIFO at the image's /etc/passwd or /etc/group fails the start and the agent keeps answering" {
	local pid t0 t1 id img
	pid=$(start_bystander)
	for id in fifo-passwd fifo-group; do
		img="oci:$BATS_FILE_TMPDIR/$id:latest"
		t0=$(date +%s%N)
		drv_run api PUT "/v1/instances/$id" "$(spec "$id" ".image = \"$img\" | .restart = \"never\" | .command = [\"true\"]")"
		[[ "$output" == *"HTTP 201"* ]]
		wait_for 15 sh -c "[ \"\$(curl -sf -m 1 --unix-socket '$SOCK' http://localhost/v1/instances/$id | jq -r .phase)\" = failed ]"
		t1=$(date +%s%N)
		healthz_fast
		[ "$(status_of "$id" .reason)" = StartFailed ]
		[[ "$(status_of "$id" .message)" == *"/etc/${id#fifo-}"*"FIFO"* ]]
		[ $(((t1 - t0) / 1000000)) -lt 15000 ]
	done
	# the agent answers within a second, and the bystander never noticed
	healthz_fast
	bystander_unchanged "$pid"
}

@test "workdir under /proc is refused with 422; an image WorkingDir under /proc fails the start" {
	local pid
	pid=$(start_bystander)
	drv_run api PUT /v1/instances/wd1 "$(spec wd1 '.workdir = "/proc/self/fd/7"')"
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = workdir ]
	[[ "$(echo "${lines[0]}" | jq -r .error)" == *"/proc, /sys or /dev"* ]]
	drv_run api PUT /v1/instances/wd2 "$(spec wd2 '.workdir = "/srv/../dev"')"
	[[ "$output" == *"HTTP 422"* ]]
	[ "$(echo "${lines[0]}" | jq -r .field)" = workdir ]
	drv_run api GET /v1/instances/wd1
	[[ "$output" == *"HTTP 404"* ]]
	# from the image: the start fails and says why
	drv_run api PUT /v1/instances/wd3 "$(spec wd3 ".image = \"oci:$BATS_FILE_TMPDIR/wd-proc:latest\" | .restart = \"never\"")"
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 15 phase_is wd3 failed
	[ "$(status_of wd3 .reason)" = StartFailed ]
	[[ "$(status_of wd3 .message)" == *"WorkingDir '/proc/self/fd/7'"*"/proc, /sys or /dev"* ]]
	# the spec's workdir wins over the image's, normalised
	put_file wd4 ".image = \"oci:$BATS_FILE_TMPDIR/wd-proc:latest\" | .restart = \"never\" | .workdir = \"//tmp/./\" |
		.command = [\"sh\", \"-c\", \"pwd; echo done\"]"
	wait_for 15 phase_is wd4 exited
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs wd4 | grep -q '^done'"
	drv_run logs_of wd4
	[ "${lines[0]}" = /tmp ]
	healthz_fast
	bystander_unchanged "$pid"
}

@test "spec files belong to the spec's user and lose setuid bits unless the operator allows them" {
	put_file owned '.restart = "never" | .user = "1000:1000" |
		.files = [{"path": "/run/secrets/token", "content": "t0k3n\n", "mode": "0600"},
			  {"path": "/bin/suid", "content": "#!/bin/sh\n", "mode": "6755"}] |
		.command = ["sh", "-c", "id -u; cat /run/secrets/token; busybox stat -c \"%n %u:%g %a\" /run/secrets/token /bin/suid /run/secrets; echo done"]'
	wait_for 15 phase_is owned exited
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs owned | grep -q '^done'"
	drv_run logs_of owned
	[ "${lines[0]}" = 1000 ]
	[ "${lines[1]}" = t0k3n ]
	[ "${lines[2]}" = "/run/secrets/token 1000:1000 600" ]
	[ "${lines[3]}" = "/bin/suid 1000:1000 755" ]
	[ "${lines[4]}" = "/run/secrets 0:0 755" ]
	# a user name resolves through the image's /etc/passwd
	put_file named '.restart = "never" | .user = "user" |
		.files = [{"path": "/home/user/.cfg", "content": "k=v\n", "mode": "0400"}] |
		.command = ["sh", "-c", "busybox stat -c \"%u:%g %a\" /home/user/.cfg; cat /home/user/.cfg; echo done"]'
	wait_for 15 phase_is named exited
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs named | grep -q '^done'"
	drv_run logs_of named
	[ "${lines[0]}" = "1000:1000 400" ]
	[ "${lines[1]}" = k=v ]
	# the operator's switch keeps the bits
	stop_agent
	start_agent --allow-setuid-files
	put_file kept '.restart = "never" | .files = [{"path": "/bin/suid", "content": "#!/bin/sh\n", "mode": "6755"}] |
		.command = ["sh", "-c", "busybox stat -c \"%u %a\" /bin/suid; echo done"]'
	wait_for 15 phase_is kept exited
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs kept | grep -q '^done'"
	drv_run logs_of kept
	[ "${lines[0]}" = "0 6755" ]
}

@test "the runtime's version is checked at start: old runc refused, warn lets it run, this runc starts" {
	# this machine's Debian runc carries the CVE-2024-21626 fix: it started, with a warning
	grep -q 'CVE-2025-31133' "$AGENT_LOG"
	stop_agent
	local fake="$T/fake-runc"
	printf '#!/bin/sh\necho "runc version 1.1.11"\necho "commit: v1.1.11-0-g4bccb38c"\n' >"$fake"
	chmod 0755 "$fake"
	drv_run timeout 20 "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--assignments-dir "$ASSIGN" --cgroup-root "$CGROOT" --runtime "$fake"
	[ "$status" -eq 2 ] # refused like any bad flag: before anything is made
	[[ "$output" == *"runc 1.1.11 is older than 1.1.12"*"CVE-2024-21626"* ]]
	[ "$(echo "$output" | grep -c .)" -le 2 ]
	[ ! -e "$SOCK" ]
	# an output naming no runtime is refused too
	printf '#!/bin/sh\necho "something 9.9"\n' >"$fake"
	drv_run timeout 20 "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--assignments-dir "$ASSIGN" --cgroup-root "$CGROOT" --runtime "$fake"
	[ "$status" -eq 2 ]
	[[ "$output" == *"names neither runc nor crun"* ]]
	# warn: the agent serves, and says why it should not
	printf '#!/bin/sh\necho "runc version 1.1.11"\n' >"$fake"
	start_agent --runtime "$fake" --runtime-version-check warn
	healthz_fast
	grep -q 'runc 1.1.11 is older than 1.1.12' "$AGENT_LOG"
	stop_agent
	drv_run timeout 20 "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--assignments-dir "$ASSIGN" --cgroup-root "$CGROOT" --runtime-version-check sometimes
	[ "$status" -ne 0 ]
	[[ "$output" == *"'runtime-version-check' must be refuse, warn or off"* ]]
}
