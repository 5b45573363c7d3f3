#!/usr/bin/env bash
# make deb: builds build/drover_VERSION_ARCH.deb with dpkg-deb from what `make install` lays out
# (PREFIX=/usr): the four programs, the systemd unit, tmpfiles.d, the example config. Library
# dependencies are computed by dpkg-shlibdeps from the binaries; runc is added (it is exec'd, not
# linked). The maintainer scripts enable the unit but never start it: the operator writes a
# config and assignments first, then runs `systemctl start droverd`.
# Usage: scripts/build-deb.sh BUILD_DIR GIT_VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1
gitver=$2
arch=$(dpkg --print-architecture)
# the maintainer: DEB_MAINTAINER, else git's user (the package is built from a checkout)
maintainer=${DEB_MAINTAINER:-"$(git config user.name) <$(git config user.email)>"}
# Debian versions start with a digit: 0.1+git.<describe>, '-' and other marks made dots.
version="0.1+git.$(echo "$gitver" | tr -c 'A-Za-z0-9.\n' '.')"
work="$build/deb"
root="$work/root"
rm -rf "$work"
mkdir -p "$root/DEBIAN"

make -s BUILD="$build" install DESTDIR="$PWD/$root" PREFIX=/usr UNITDIR=/lib/systemd/system >/dev/null
# installed programs without debug symbols (the build tree keeps them)
for b in "$root"/usr/bin/*; do
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$b"
done
install -d "$root/usr/share/doc/drover"
install -m 0644 scripts/deb/copyright "$root/usr/share/doc/drover/copyright"
{
	echo "drover ($version) unstable; urgency=medium"
	echo
	echo "  * Built from git $gitver by make deb."
	echo
	echo " -- $maintainer  $(date -R)"
} | gzip -9n >"$root/usr/share/doc/drover/changelog.gz"
# manual pages made from each program's --help, so they say what the program says
man_page() { # PROGRAM SECTION SUMMARY
	local up
	up=$(echo "$1" | tr 'a-z-' 'A-Z_')
	install -d "$root/usr/share/man/man$2"
	{
		echo ".TH $up $2 \"$(date -u +%Y-%m-%d)\" \"drover $version\""
		echo ".SH NAME"
		echo "$1 \\- $3"
		echo ".SH DESCRIPTION"
		echo ".nf"
		{ "$build/$1" --help 2>&1 || true; } | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
		echo ".fi"
		echo ".SH SEE ALSO"
		echo "droverd(8), droverctl(1), /usr/share/doc/drover"
	} | gzip -9n >"$root/usr/share/man/man$2/$1.$2.gz"
}
man_page droverd 8 "the drover node agent"
man_page droverctl 1 "operator CLI for the drover node agent"
man_page drover-shim 8 "per-container parent process started by droverd"
man_page drover-image 8 "image helper run by droverd: pull, verify, unpack"

# dpkg-shlibdeps wants a debian/control next to where it runs
mkdir -p "$work/src/debian"
printf 'Source: drover\n\nPackage: drover\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O -e"$PWD/../root/usr/bin/droverd" -e"$PWD/../root/usr/bin/drover-image" \
	-e"$PWD/../root/usr/bin/droverctl" -e"$PWD/../root/usr/bin/drover-shim" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: drover
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $shlibs, runc (>= 1.1)
Recommends: nftables, iproute2
Section: admin
Priority: optional
Homepage: https://example.invalid/drover
Description: node agent of a PaaS: runs assigned containers through runc
 droverd turns assignments (an assignments directory or its local API) into
 containers run by runc with cgroup limits, bridge networking and nftables
 port publishing, keeps them running and reports their status. drover-shim
 is the small per-container parent, drover-image pulls and unpacks images,
 droverctl is the operator CLI. The service is enabled on install but not
 started.
EOF
(cd "$root" && find etc -type f | sed 's|^|/|') >"$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "scripts/deb/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find usr lib -type f -exec md5sum {} + | sort -k2) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
out="$build/drover_${version}_${arch}.deb"
rm -f "$build"/drover_*.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
