#!/usr/bin/env bats
# The systemd side: the unit file verifies, READY=1 comes only once the API
# serves, the watchdog is pinged from the loop, and make install lays out the files.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	LISTENER_PID=""
}

teardown() {
	[ -z "$LISTENER_PID" ] || kill "$LISTENER_PID" 2>/dev/null || true
	drv_teardown
}

@test "systemd/droverd.service passes systemd-analyze verify" {
	sed "s|^ExecStart=.*|ExecStart=$DROVERD|" "$REPO_ROOT/systemd/droverd.service" >"$T/droverd.service"
	drv_run systemd-analyze verify "$T/droverd.service"
	[ "$status" -eq 0 ]
	grep -qx "Type=notify" "$T/droverd.service"
	grep -qx "KillMode=process" "$T/droverd.service"
	grep -qx "Delegate=yes" "$T/droverd.service"
	grep -qx "Restart=always" "$T/droverd.service"
	grep -q "^WatchdogSec=" "$T/droverd.service"
}

@test "READY=1 is sent once the API serves, and the watchdog is pinged" {
	"$REPO_ROOT/build/tests/notify-listen" "$T/notify.sock" >"$T/notify.out" &
	LISTENER_PID=$!
	wait_for 5 test -S "$T/notify.sock"
	put_file early '.command = ["sleep", "1000"]'
	NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=200000 start_agent
	wait_for 5 grep -q "READY=1" "$T/notify.out"
	# READY came after the socket answered: the agent had adopted and was serving by then
	grep -q "serving on" "$AGENT_LOG"
	wait_for 5 sh -c "[ \$(grep -c WATCHDOG=1 '$T/notify.out') -ge 3 ]"
	stop_agent
	grep -q "STOPPING=1" "$T/notify.out"
}

@test "make install honours DESTDIR and PREFIX" {
	drv_run make -C "$REPO_ROOT" install DESTDIR="$T/root" PREFIX=/usr
	[ "$status" -eq 0 ]
	for f in usr/bin/droverd usr/bin/drover-shim usr/bin/droverctl usr/bin/drover-image; do
		[ -x "$T/root/$f" ]
	done
	[ -f "$T/root/usr/lib/systemd/system/droverd.service" ]
	grep -qx "ExecStart=/usr/bin/droverd" "$T/root/usr/lib/systemd/system/droverd.service"
	[ -f "$T/root/usr/lib/tmpfiles.d/drover.conf" ]
	[ -f "$T/root/etc/drover/droverd.conf.example" ]
	[ -d "$T/root/etc/drover/assignments.d" ]
	# the example config is accepted by droverd as it is
	"$DROVERD" --config "$T/root/etc/drover/droverd.conf.example" --help >/dev/null
	# make uninstall removes every file install put there
	drv_run make -C "$REPO_ROOT" uninstall DESTDIR="$T/root" PREFIX=/usr
	[ "$status" -eq 0 ]
	[ -z "$(find "$T/root" -type f)" ]
	[ ! -e "$T/root/etc/drover" ]
}

@test "the config file sets flags; a flag on the command line wins; bad keys are refused" {
	cat >"$T/droverd.conf" <<-CONF
		# comment
		node-name = from-file
		log-level = debug
	CONF
	start_agent
	drv_run ctl node
	[[ "$output" == *from-file* ]]
	stop_agent
	start_agent --node-name from-flag
	drv_run ctl node
	[[ "$output" == *from-flag* ]]
	stop_agent
	echo "bogus-key = 1" >"$T/bad.conf"
	drv_run "$DROVERD" --config "$T/bad.conf"
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown key 'bogus-key'"* ]]
	drv_run "$DROVERD" --config "$T/droverd.conf" --listen 127.0.0.1:0
	[ "$status" -eq 2 ]
}

@test "a second droverd on the same state dir refuses to start" {
	start_agent
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$T/run2" --assignments-dir "$ASSIGN" --cgroup-root "$CGROOT"
	[ "$status" -ne 0 ]
	[[ "$output" == *"another droverd is running"* ]]
}
