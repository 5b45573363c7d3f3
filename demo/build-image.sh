#!/usr/bin/env bash
# Builds a drover demo image as an OCI image layout from Debian's busybox-static, offline.
#
#   demo/build-image.sh OUTDIR [TAG] [--extra-layer DIR]...
#
# The base layer holds /bin/busybox, applet symlinks, /etc/passwd and /etc/group, /tmp (1777) and
# empty /proc /sys /dev. Each --extra-layer DIR adds a layer made of DIR's contents on top, in
# order (a file named ".wh.NAME" in DIR is an OCI whiteout). TAG defaults to "latest". The
# output is deterministic; OUTDIR is overwritten. Needs bash, tar, gzip, sha256sum, stat, jq.
set -euo pipefail

usage() {
	echo "usage: $0 OUTDIR [TAG] [--extra-layer DIR]..." >&2
	exit 2
}

BUSYBOX=${BUSYBOX:-/bin/busybox}
APPLETS=(sh ls cat echo sleep true false httpd nc env id head dd ps kill wget hostname mkdir rm touch printf seq)
outdir=""
tag=""
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--extra-layer)
		[ $# -ge 2 ] || usage
		[ -d "$2" ] || { echo "$0: --extra-layer '$2' is not a directory" >&2; exit 1; }
		extra+=("$(cd "$2" && pwd)")
		shift 2
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*)
		if [ -z "$outdir" ]; then outdir=$1
		elif [ -z "$tag" ]; then tag=$1
		else usage
		fi
		shift
		;;
	esac
done
[ -n "$outdir" ] || usage
tag=${tag:-latest}
[ -x "$BUSYBOX" ] || { echo "$0: '$BUSYBOX' not found (apt-get install busybox-static)" >&2; exit 1; }

case "$(uname -m)" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
i?86) arch=386 ;;
armv7l | armv6l) arch=arm ;;
ppc64le) arch=ppc64le ;;
s390x) arch=s390x ;;
riscv64) arch=riscv64 ;;
*) arch=$(uname -m) ;;
esac

umask 022
work=$(mktemp -d /tmp/drover-build-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"

# blob FILE -> prints "sha256:<hex> <size>" and stores FILE under blobs/
blob() {
	local hex size
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv "$1" "$work/blobs/sha256/$hex"
	echo "sha256:$hex $size"
}

# layer DIR -> prints "<blob digest> <size> <diff_id>"
layer() {
	local tarfile="$work/layer.tar" diff_id
	# every entry below DIR, without a "./" root entry, in a fixed order with fixed owners and times
	(cd "$1" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) >"$work/list"
	tar -C "$1" --format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
		--no-recursion -cf "$tarfile" -T "$work/list"
	diff_id=$(sha256sum "$tarfile" | cut -d' ' -f1)
	gzip -n -9 "$tarfile"
	echo "$(blob "$tarfile.gz") sha256:$diff_id"
}

make_base_rootfs() {
	local r=$1
	mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/proc" "$r/sys" "$r/dev" "$r/root" "$r/home/user"
	cp "$BUSYBOX" "$r/bin/busybox"
	chmod 0755 "$r/bin/busybox"
	for a in "${APPLETS[@]}"; do
		ln -s busybox "$r/bin/$a"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'user:x:1000:1000:user:/home/user:/bin/sh' \
		'nobody:x:65534:65534:nobody:/:/bin/false' >"$r/etc/passwd"
	printf '%s\n' 'root:x:0:' 'user:x:1000:' 'nogroup:x:65534:' >"$r/etc/group"
	chmod 0644 "$r/etc/passwd" "$r/etc/group"
	chmod 1777 "$r/tmp"
	chmod 0700 "$r/root"
}

make_base_rootfs "$work/rootfs"
layers=()
diff_ids=()
for dir in "$work/rootfs" "${extra[@]}"; do
	out=$(layer "$dir")
	read -r digest size diff_id <<<"$out"
	layers+=("$(jq -cn --arg d "$digest" --argjson s "$size" \
		'{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}')")
	diff_ids+=("$diff_id")
done

jq -cn --arg arch "$arch" --args '{
	created: "1970-01-01T00:00:00Z",
	architecture: $arch,
	os: "linux",
	config: {
		Env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
		Cmd: ["sleep", "infinity"],
		WorkingDir: "/"
	},
	rootfs: {type: "layers", diff_ids: $ARGS.positional}
}' "${diff_ids[@]}" >"$work/config.json"
out=$(blob "$work/config.json")
read -r cdigest csize <<<"$out"

printf '%s\n' "${layers[@]}" | jq -cs --arg d "$cdigest" --argjson s "$csize" '{
	schemaVersion: 2,
	mediaType: "application/vnd.oci.image.manifest.v1+json",
	config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
	layers: .
}' >"$work/manifest.json"
out=$(blob "$work/manifest.json")
read -r mdigest msize <<<"$out"

jq -cn --arg d "$mdigest" --argjson s "$msize" --arg tag "$tag" --arg arch "$arch" '{
	schemaVersion: 2,
	mediaType: "application/vnd.oci.image.index.v1+json",
	manifests: [{
		mediaType: "application/vnd.oci.image.manifest.v1+json",
		digest: $d,
		size: $s,
		platform: {os: "linux", architecture: $arch},
		annotations: {"org.opencontainers.image.ref.name": $tag}
	}]
}' >"$work/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"

# replace the layout in OUTDIR (only what a layout consists of; other files are left alone)
mkdir -p "$outdir"
rm -rf "$outdir/blobs" "$outdir/index.json" "$outdir/oci-layout"
mv "$work/blobs" "$outdir/blobs"
mv "$work/index.json" "$work/oci-layout" "$outdir/"
echo "$mdigest"
