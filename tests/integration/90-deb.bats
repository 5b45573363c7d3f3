#!/usr/bin/env bats
# make deb, then the package on this machine as a host would take it: apt-get install of the
# local file (dependencies from Debian's mirror only), the programs run, the unit is enabled
# but not started, lintian finds no error; then purge, and nothing of the package is left.
# The package is installed host-wide: the test runs only where no drover package is installed
# already, and removes what it installed.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	requires root dpkg-deb apt-get
	if dpkg-query -W -f='${Status}' drover 2>/dev/null | grep -q "install ok installed"; then
		skip "a drover package is installed on this host already"
	fi
	T="$(mktemp -d /tmp/drover-deb.XXXX)"
	CREATED=()
	for d in /run/drover /var/lib/drover /etc/drover; do
		[ -e "$d" ] || CREATED+=("$d")
	done
	WANTS=/etc/systemd/system/multi-user.target.wants/droverd.service
}

teardown() {
	local d
	if dpkg-query -W -f='${Status}' drover 2>/dev/null | grep -q "ok installed\|config-files"; then
		apt-get purge -y -qq -o DPkg::Lock::Timeout=300 drover >/dev/null 2>&1 || true
	fi
	# the dirs systemd-tmpfiles made in postinst, if this test made them (empty: rmdir)
	for d in "${CREATED[@]}"; do
		[ "$d" != /etc/drover ] || rmdir /etc/drover/assignments.d 2>/dev/null
		rmdir "$d" 2>/dev/null
	done
	rm -rf "$T"
}

@test "make deb builds a package that installs, runs, is enabled but not started, and purges clean" {
	drv_run make -s -C "$REPO_ROOT" deb
	[ "$status" -eq 0 ]
	deb=$(ls "$REPO_ROOT"/build/drover_*.deb)
	[ -f "$deb" ]
	drv_run dpkg-deb -f "$deb" Depends
	[[ "$output" == *runc* ]]
	[[ "$output" == *libnftables1* ]]
	[[ "$output" == *libjansson4* ]]
	[[ "$output" == *libmicrohttpd* ]]
	drv_run dpkg-deb -c "$deb"
	for f in ./usr/bin/droverd ./usr/bin/drover-shim ./usr/bin/droverctl ./usr/bin/drover-image \
		./lib/systemd/system/droverd.service ./usr/lib/tmpfiles.d/drover.conf ./etc/drover/droverd.conf.example \
		./usr/share/man/man8/droverd.8.gz ./usr/share/man/man1/droverctl.1.gz; do
		[[ "$output" == *" $f"* ]] || { echo "missing $f" >&2; false; }
	done
	if command -v lintian >/dev/null; then
		drv_run lintian --tag-display-limit 0 "$deb"
		# neither errors nor warnings
		! echo "$output" | grep -qE '^(E|W): '
	fi
	cp "$deb" "$T/"
	drv_run apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$T/$(basename "$deb")"
	[ "$status" -eq 0 ]
	drv_run /usr/bin/droverd --version
	[ "$status" -eq 0 ]
	[[ "$output" == "droverd "* ]]
	drv_run /usr/bin/droverctl --version
	[ "$status" -eq 0 ]
	drv_run /usr/bin/drover-shim --help
	[ "$status" -eq 0 ]
	grep -qx "ExecStart=/usr/bin/droverd" /lib/systemd/system/droverd.service
	# enabled (the wants link), never started
	[ -L "$WANTS" ]
	run ! pgrep -x -f /usr/bin/droverd
	[ -f /etc/drover/droverd.conf.example ]
	drv_run apt-get purge -y -qq -o DPkg::Lock::Timeout=300 drover
	[ "$status" -eq 0 ]
	[ ! -e /usr/bin/droverd ]
	[ ! -e /lib/systemd/system/droverd.service ]
	[ ! -L "$WANTS" ]
	[ ! -e /etc/drover/droverd.conf.example ]
	run ! dpkg-query -W -f='${Status}' drover
}
