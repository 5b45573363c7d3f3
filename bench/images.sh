#!/usr/bin/env bash
# Pull + unpack of a ~100 MB, 5-layer image (compressible and random files) from a
# docker-registry on 127.0.0.1: drover-image vs skopeo copy + umoci unpack vs podman pull, in
# turn, each into an empty store. Prints markdown rows; called by bench/run.sh.
set -euo pipefail
N=${1:-5}
W=/tmp/drover-bench-img-$$
mkdir -p "$W"
PORT=$((20000 + RANDOM % 20000))
REGPID=""
export CONTAINERS_CONF=$PWD/bench/peers/containers.conf
export CONTAINERS_STORAGE_CONF=$PWD/bench/peers/storage.conf
export CONTAINERS_REGISTRIES_CONF=$W/registries.conf
PODMAN=(podman --root "$W/podman/root" --runroot "$W/podman/run" --tmpdir "$W/podman/tmp")
AGENT=""
CG=/drover-bench-img-$$
cleanup() {
	set +e
	if [ -n "$AGENT" ]; then
		for id in second1 second2; do build/bench/put-wait rm "$W/run/droverd.sock" "$id" >/dev/null 2>&1; done
		kill "$AGENT"
		wait "$AGENT" 2>/dev/null
	fi
	grep " $W/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	for d in /sys/fs/cgroup/*"$CG"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
	"${PODMAN[@]}" rmi -a -f >/dev/null 2>&1
	[ -z "$REGPID" ] || kill "$REGPID"
	wait 2>/dev/null
	rm -rf "$W" "/run/drover-nft/drover_bimg$$.lock"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
secs() { echo "scale=3; ($2 - $1) / 1000000000" | bc | sed 's/^\./0./'; }

cat >"$W/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: 127.0.0.1:$PORT
YML
printf 'unqualified-search-registries = []\n[[registry]]\nlocation = "127.0.0.1:%s"\ninsecure = true\n' "$PORT" >"$W/registries.conf"
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
REGPID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done

# base busybox + 4 layers: 30 MB random, 30 MB text, 20 MB random, 20 MB text
demo/build-image.sh "$W/base" latest >/dev/null
for l in 1 2 3 4; do
	mkdir -p "$W/l$l/data"
	size=$(( l <= 2 ? 30 : 20 ))
	if [ $((l % 2)) = 1 ]; then
		head -c "${size}M" /dev/urandom >"$W/l$l/data/random$l.bin"
	else
		{ seq -f "%g GET /api/v1/items HTTP/1.1 200 compressible log line, layer $l" 1 2000000 || true; } |
			head -c "${size}M" >"$W/l$l/data/text$l.txt"
	fi
done
cp -a "$W/base" "$W/big"
demo/build-image.sh "$W/big" latest --extra-layer "$W/l1" --extra-layer "$W/l2" --extra-layer "$W/l3" --extra-layer "$W/l4" >/dev/null
skopeo copy -q --dest-tls-verify=false oci:"$W/big":latest "docker://127.0.0.1:$PORT/bench/big:1"
REF="127.0.0.1:$PORT/bench/big:1"
bytes=$(du -sb "$W/big/blobs" | cut -f1)

: >"$W/t.drover"
: >"$W/t.skopeo"
: >"$W/t.podman"
for i in $(seq 1 "$N"); do
	rm -rf "$W/store"
	t0=$(date +%s%N)
	build/drover-image resolve "$W/store" "$REF" >/dev/null
	t1=$(date +%s%N)
	secs "$t0" "$t1" >>"$W/t.drover"
	rm -rf "$W/oci" "$W/bundle"
	t0=$(date +%s%N)
	skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$W/oci:1"
	umoci unpack --image "$W/oci:1" "$W/bundle" >/dev/null
	t1=$(date +%s%N)
	secs "$t0" "$t1" >>"$W/t.skopeo"
	"${PODMAN[@]}" rmi -a -f >/dev/null 2>&1 || true
	t0=$(date +%s%N)
	"${PODMAN[@]}" pull -q "$REF" >/dev/null
	t1=$(date +%s%N)
	secs "$t0" "$t1" >>"$W/t.podman"
done
# A second instance of an image the store already has: time to running, and layer bytes added.
mkdir -p "$W/assign"
: >"$W/droverd.conf"
build/droverd --config "$W/droverd.conf" --state-dir "$W/state" --run-dir "$W/run" --assignments-dir "$W/assign" \
	--cgroup-root "$CG" --nft-table "drover_bimg$$" --insecure-registry "127.0.0.1:$PORT" --log-level warning \
	2>"$W/droverd.log" &
AGENT=$!
for _ in $(seq 1 100); do [ -S "$W/run/droverd.sock" ] && break; sleep 0.05; done
jq -n --arg img "$REF" '{image: $img, network: {mode: "none"}, command: ["sleep", "100000"], stop_grace_ms: 0}' >"$W/spec.json"
first=$(build/bench/put-wait run "$W/run/droverd.sock" second1 "$W/spec.json")
layers_before=$(du -sb "$W/state/images/layers" | cut -f1)
second=$(build/bench/put-wait run "$W/run/droverd.sock" second2 "$W/spec.json")
layers_after=$(du -sb "$W/state/images/layers" | cut -f1)
echo "SECOND=| first instance (pull included) | $first ms | second instance of the same image | $second ms | layer bytes added by the second | $((layers_after - layers_before)) |"

d=$(median <"$W/t.drover")
s=$(median <"$W/t.skopeo")
p=$(median <"$W/t.podman")
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
echo "IMAGE_BYTES=$bytes"
echo "| drover-image resolve (pull, verify, unpack into the store) | $d | 1.00x |"
echo "| skopeo copy to an OCI layout + umoci unpack | $s | $(ratio "$s" "$d")x |"
echo "| podman pull | $p | $(ratio "$p" "$d")x |"
