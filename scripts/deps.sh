#!/usr/bin/env bash
# Install everything drover needs to build, run and test, from Debian's packages.
# Idempotent: skips apt entirely when every package is already present.
set -euo pipefail

build_pkgs=(build-essential pkg-config libjansson-dev libnl-3-dev libnl-route-3-dev
	libseccomp-dev libcap-dev libmicrohttpd-dev libcurl4-openssl-dev libarchive-dev
	libssl-dev libsystemd-dev libcmocka-dev libnftables-dev libgnutls28-dev)
run_pkgs=(runc busybox-static libnftables1)
test_pkgs=(bats jq curl iproute2 nftables util-linux procps cppcheck clang-tidy systemd
	docker-registry skopeo apache2-utils python3 python3-cryptography openssl socat zstd
	qemu-system-x86 linux-image-cloud-amd64 cpio clang libclang-rt-14-dev etcd-server etcd-client lintian)
bench_pkgs=(jq curl bc podman conmon containernetworking-plugins docker-registry skopeo umoci)

want=("${build_pkgs[@]}" "${run_pkgs[@]}")
case "${1:-all}" in
run) ;;
all) want+=("${test_pkgs[@]}") ;;
bench) want+=("${bench_pkgs[@]}") ;;
*) echo "usage: $0 [run|all|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
