#!/usr/bin/env bats
# drover-shim against real runc: sync line, exit record, log framing and cap, OOM, failures, daemon shape.
# SC2016: container commands are single-quoted on purpose (the container's shell expands them).
# SC2153: SHIM, RUNC, ROOT, ... come from shim-helpers.bash.
# shellcheck disable=SC2016,SC2153

load helpers

setup() {
	shim_setup
}

teardown() {
	dump_state
	shim_teardown
}

@test "shim: exit 0 gives an exit record and an ok sync line" {
	make_bundle true
	shim_run start_shim
	[ "$status" -eq 0 ]
	wait_for_file "$BUNDLE/exit.json"
	wait_pid_gone "$(cat "$BUNDLE/shim.pid")"

	shim_run cat "$TMP/sync"
	[ "$output" = "ok $(cat "$BUNDLE/shim.pid") $(cat "$BUNDLE/container.pid")" ]
	[ "$(exit_field exit_code)" -eq 0 ]
	[ "$(exit_field signal)" -eq 0 ]
	[ "$(exit_field oom_killed)" = "false" ]
	[ "$(exit_field started_at)" -gt 1600000000000000000 ]
	[ "$(exit_field finished_at)" -ge "$(exit_field started_at)" ]
	# after writing the record the shim deletes the container (state and cgroup) itself
	shim_run "$RUNC" --root "$ROOT" state "$CTR_ID"
	[ "$status" -ne 0 ]
	[[ "$output" == *"does not exist"* ]]
	[ ! -d "/sys/fs/cgroup/memory/$CG_NAME/c" ]
}

@test "shim: exit code and both streams reach the log" {
	make_bundle sh -c 'echo out; echo err >&2; printf tail; exit 3'
	start_shim
	wait_for_file "$BUNDLE/exit.json"

	[ "$(exit_field exit_code)" -eq 3 ]
	[ "$(exit_field signal)" -eq 0 ]
	shim_run cat "$TMP/ctr.log"
	[[ "$output" =~ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z\ stdout\ F\ out ]]
	grep -qx '.*Z stdout F out' "$TMP/ctr.log"
	grep -qx '.*Z stderr F err' "$TMP/ctr.log"
	# output without a final newline is a partial record at EOF
	grep -qx '.*Z stdout P tail' "$TMP/ctr.log"
	[ "$(wc -l <"$TMP/ctr.log")" -eq 3 ]
}

@test "shim: a 40 KiB line is cut into partial records" {
	make_bundle sh -c 'head -c 40960 /dev/zero | tr "\0" x; echo'
	start_shim
	wait_for_file "$BUNDLE/exit.json"

	[ "$(exit_field exit_code)" -eq 0 ]
	shim_run awk '{ print $3, length($4) }' "$TMP/ctr.log"
	[ "$output" = "$(printf 'P 16384\nP 16384\nF 8192')" ]
}

@test "shim: OOM kill is reported" {
	# the shell keeps the command substitution's 64 MB in memory: far past the 16 MiB limit
	make_bundle --memory 16777216 sh -c 'x=$(yes | head -c 64000000); echo ${#x}'
	start_shim
	wait_for_file "$BUNDLE/exit.json"

	shim_run cat "$BUNDLE/exit.json"
	[ "$(exit_field oom_killed)" = "true" ]
	[ "$(exit_field signal)" -eq 9 ]
	[ "$(exit_field exit_code)" -eq 137 ]
}

@test "shim: a SIGKILL without OOM is not reported as OOM" {
	make_bundle --memory 16777216 sleep 1000
	start_shim
	wait_for_file "$TMP/sync"
	"$RUNC" --root "$ROOT" kill "$CTR_ID" KILL
	wait_for_file "$BUNDLE/exit.json"

	[ "$(exit_field signal)" -eq 9 ]
	[ "$(exit_field oom_killed)" = "false" ]
}

@test "shim: runc failure gives an error sync line and leaves nothing behind" {
	make_bundle /nonexistent
	shim_run start_shim
	[ "$status" -eq 0 ] # the first process always exits 0; the error goes to the sync fd
	wait_for_file "$TMP/sync"
	wait_pid_gone "$(cat "$BUNDLE/shim.pid")"

	shim_run cat "$TMP/sync"
	[[ "$output" == "error "*'exec: "/nonexistent"'*"no such file or directory" ]]
	[ "$(wc -l <"$TMP/sync")" -eq 1 ]
	[ ! -e "$BUNDLE/exit.json" ]
	shim_run "$RUNC" --root "$ROOT" list -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "shim: exit status 1 on start failure, 0 after the container exits (--foreground)" {
	make_bundle /nonexistent
	shim_run start_shim --foreground
	[ "$status" -eq 1 ]
	[[ "$(cat "$TMP/sync")" == "error "*"/nonexistent"* ]]

	"$RUNC" --root "$ROOT" delete -f "$CTR_ID" >/dev/null 2>&1 || true
	rm -f "$BUNDLE/runc.log" "$TMP/sync"
	make_bundle sh -c 'exit 5'
	shim_run start_shim --foreground
	[ "$status" -eq 0 ]
	[ "$(exit_field exit_code)" -eq 5 ]
	[[ "$(cat "$TMP/sync")" == "ok "* ]]
}

@test "shim: bad arguments are reported on the sync fd" {
	shim_run "$SHIM" --id x --bundle "$BUNDLE" 3>"$TMP/sync"
	[ "$status" -eq 1 ]
	[[ "$output" == *"missing '--runtime'"* ]]
	[ "$(cat "$TMP/sync")" = "error missing '--runtime'" ]

	make_bundle true
	shim_run start_shim --foreground --runtime /nonexistent/runc
	[ "$status" -eq 1 ]
	[ "$(cat "$TMP/sync")" = "error runc run: cannot exec '/nonexistent/runc': No such file or directory" ]
}

@test "shim: the log is capped and rotated to FILE.1" {
	# 4000 lines of 4 digits: 20000 bytes of output, about 172 KB of log records
	make_bundle seq -w 1 4000
	start_shim --log-max 4096
	wait_for_file "$BUNDLE/exit.json"

	[ "$(exit_field exit_code)" -eq 0 ]
	[ -f "$TMP/ctr.log" ]
	[ -f "$TMP/ctr.log.1" ]
	[ "$(stat -c %s "$TMP/ctr.log")" -le 4096 ]
	[ "$(stat -c %s "$TMP/ctr.log.1")" -le 4096 ]
	[ ! -e "$TMP/ctr.log.2" ]
	# the newest record is last, and no record was lost across the last rotation
	[ "$(tail -n1 "$TMP/ctr.log" | awk '{ print $4 }')" = "4000" ]
	local last_old first_new
	last_old="$(tail -n1 "$TMP/ctr.log.1" | awk '{ print $4 }')"
	first_new="$(head -n1 "$TMP/ctr.log" | awk '{ print $4 }')"
	[ "$((10#$first_new))" -eq "$((10#$last_old + 1))" ]
}

@test "shim: survives the death of the process that started it" {
	make_bundle sleep 1000
	(
		start_shim
		echo "$BASHPID" >"$TMP/starter.pid"
	)
	wait_for_file "$TMP/sync"
	local shim starter
	shim="$(cat "$BUNDLE/shim.pid")"
	starter="$(cat "$TMP/starter.pid")"

	[[ "$(cat "$TMP/sync")" == "ok $shim "* ]]
	[ ! -d "/proc/$starter" ]
	[ -d "/proc/$shim" ]
	local ppid sid
	ppid="$(awk '/^PPid:/ { print $2 }' "/proc/$shim/status")"
	[ "$ppid" != "$starter" ]
	[ "$ppid" != "$$" ]
	# its own session, and a subreaper: the container init is its child
	sid="$(cut -d' ' -f6 "/proc/$shim/stat")"
	[ "$sid" -eq "$shim" ]
	[ "$(awk '/^PPid:/ { print $2 }' "/proc/$(cat "$BUNDLE/container.pid")/status")" -eq "$shim" ]

	"$RUNC" --root "$ROOT" kill "$CTR_ID" KILL
	wait_for_file "$BUNDLE/exit.json"
	wait_pid_gone "$shim"
	[ "$(exit_field signal)" -eq 9 ]
}

@test "shim: SIGTERM, SIGINT and SIGHUP do not kill the shim" {
	make_bundle sleep 1000
	start_shim
	wait_for_file "$TMP/sync"
	local shim
	shim="$(cat "$BUNDLE/shim.pid")"

	kill -TERM "$shim"
	kill -INT "$shim"
	kill -HUP "$shim"
	sleep 0.3
	[ -d "/proc/$shim" ]
	[ ! -e "$BUNDLE/exit.json" ]

	# still doing its job: the container's end is recorded (a pid-1 sleep ignores SIGTERM, so KILL)
	"$RUNC" --root "$ROOT" kill "$CTR_ID" KILL
	wait_for_file "$BUNDLE/exit.json"
	wait_pid_gone "$shim"
	[ "$(exit_field signal)" -eq 9 ]
	[ "$(exit_field exit_code)" -eq 137 ]
}
