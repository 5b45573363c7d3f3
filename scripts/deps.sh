#!/usr/bin/env bash
# Install everything drover needs to build, run and test, from Debian's packages.
# Idempotent: skips apt entirely when every package is already present.
set -euo pipefail

build_pkgs=(build-essential pkg-config libjansson-dev libnl-3-dev libnl-route-3-dev
	libseccomp-dev libcap-dev libmicrohttpd-dev libcurl4-openssl-dev libarchive-dev
	libssl-dev libsystemd-dev libcmocka-dev libnftables-dev libgnutls28-dev)
run_pkgs=(runc busybox-static libnftables1)
test_pkgs=(bats jq curl iproute2 nftables util-linux procps cppcheck clang-tidy clang-format systemd
	docker-registry skopeo apache2-utils python3 python3-cryptography openssl socat zstd
	cpio clang libclang-rt-14-dev etcd-server etcd-client lintian)
# the cgroup v2 guest (make check-v2): installed where Debian has them; the test command runs
# that stage only if they are there
v2_pkgs=(qemu-system-x86 linux-image-cloud-amd64)
bench_pkgs=(jq curl bc podman conmon containernetworking-plugins docker-registry skopeo umoci stress-ng)

want=("${build_pkgs[@]}" "${run_pkgs[@]}")
case "${1:-all}" in
run) ;;
all) want+=("${test_pkgs[@]}") ;;
bench) want+=("${bench_pkgs[@]}") ;;
*) echo "usage: $0 [run|all|bench]" >&2; exit 2 ;;
esac

missing_of() { # prints the packages of "$@" that are not installed
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
	done
}
mapfile -t missing < <(missing_of "${want[@]}")
v2_missing=()
[ "${1:-all}" != all ] || mapfile -t v2_missing < <(missing_of "${v2_pkgs[@]}")
if [ "${#missing[@]}" -eq 0 ] && [ "${#v2_missing[@]}" -eq 0 ]; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${#v2_missing[@]}" -gt 0 ]; then
	echo "deps: installing ${v2_missing[*]}" >&2
	apt-get install -y -qq --no-install-recommends "${v2_missing[@]}" >/dev/null ||
		echo "deps: ${v2_missing[*]} could not be installed: no cgroup v2 guest (make check-v2) here" >&2
fi
