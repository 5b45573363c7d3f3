#!/usr/bin/env bats
# drover-image against a real registry: Debian's docker-registry on free 127.0.0.1 ports, images
# built from busybox-static by demo/build-image.sh and pushed with skopeo.

load helpers

# A multi-platform OCI layout in $1: an index listing an arm64 image first and this host's amd64
# image second (each with a marker file /arch naming its platform), tagged "multi".
build_multi_layout() {
	local out=$1 w="$IMG_TMP/multi-work" a
	mkdir -p "$w/amd64" "$w/arm64" "$out/blobs/sha256"
	echo amd64 >"$w/amd64/arch"
	echo arm64 >"$w/arm64/arch"
	for a in amd64 arm64; do
		"$REPO_ROOT/demo/build-image.sh" "$w/l-$a" m --extra-layer "$w/$a" >/dev/null
		cp -n "$w/l-$a"/blobs/sha256/* "$out/blobs/sha256/"
	done
	jq -n --argjson x "$(jq '.manifests[0] | del(.annotations) | .platform.architecture = "arm64"' "$w/l-arm64/index.json")" \
		--argjson y "$(jq '.manifests[0] | del(.annotations) | .platform.architecture = "amd64"' "$w/l-amd64/index.json")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$x, $y]}' >"$w/index"
	local hex size
	hex=$(sha256sum "$w/index" | cut -d' ' -f1)
	size=$(stat -c %s "$w/index")
	cp "$w/index" "$out/blobs/sha256/$hex"
	jq -n --arg d "sha256:$hex" --argjson s "$size" '{schemaVersion: 2, manifests: [{
		mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
		annotations: {"org.opencontainers.image.ref.name": "multi"}}]}' >"$out/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
}

setup_file() {
	command -v skopeo >/dev/null && [ -x "$REGISTRY_BIN" ] && [ -x "$DROVER_IMAGE" ] || return 0
	export IMG_TMP="$BATS_FILE_TMPDIR"
	export REG_PORT REG_STORAGE="$IMG_TMP/storage"
	REG_PORT=$(free_port)
	registry_config "$IMG_TMP/registry.yml" "$REG_PORT" "$REG_STORAGE"
	start_registry registry "$IMG_TMP/registry.yml" "$REG_PORT"
	export REG="127.0.0.1:$REG_PORT"

	# demo:1 = base + a layer with a file and a whiteout; demo:2 shares the base, adds another layer
	mkdir -p "$IMG_TMP/x1/etc" "$IMG_TMP/x2"
	echo one >"$IMG_TMP/x1/etc/one.txt"
	: >"$IMG_TMP/x1/etc/.wh.group"
	echo two >"$IMG_TMP/x2/two.txt"
	"$REPO_ROOT/demo/build-image.sh" "$IMG_TMP/l1" 1 --extra-layer "$IMG_TMP/x1" >/dev/null
	"$REPO_ROOT/demo/build-image.sh" "$IMG_TMP/l2" 2 --extra-layer "$IMG_TMP/x2" >/dev/null
	push "$IMG_TMP/l1" 1 "$REG/demo:1"
	push "$IMG_TMP/l2" 2 "$REG/demo:2"
	build_multi_layout "$IMG_TMP/lm"
	skopeo copy -q --all --dest-tls-verify=false oci:"$IMG_TMP/lm":multi "docker://$REG/multi:1" >&2
	export BASE_HEX D1_EXTRA_HEX D2_EXTRA_HEX
	BASE_HEX=$(jq -r '.layers[0].digest' "$IMG_TMP/l1/blobs/sha256/$(jq -r '.manifests[0].digest' "$IMG_TMP/l1/index.json" | cut -d: -f2)" | cut -d: -f2)
	D1_EXTRA_HEX=$(jq -r '.layers[1].digest' "$IMG_TMP/l1/blobs/sha256/$(jq -r '.manifests[0].digest' "$IMG_TMP/l1/index.json" | cut -d: -f2)" | cut -d: -f2)
	D2_EXTRA_HEX=$(jq -r '.layers[1].digest' "$IMG_TMP/l2/blobs/sha256/$(jq -r '.manifests[0].digest' "$IMG_TMP/l2/index.json" | cut -d: -f2)" | cut -d: -f2)
}

teardown_file() {
	[ -n "${IMG_TMP:-}" ] || return 0
	stop_all_procs
}

setup() {
	requires drover_image skopeo registry
	STORE="$BATS_TEST_TMPDIR/store"
	TEST_PROCS=()
}

teardown() {
	local n
	for n in "${TEST_PROCS[@]:-}"; do
		[ -n "$n" ] && stop_proc "$n"
	done
	return 0
}

# test_proc NAME: remembers a per-test process for the teardown.
test_proc() {
	TEST_PROCS+=("$1")
}

@test "pull by tag: layers verified, unpacked with whiteouts, listed" {
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo:1"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.layer_dirs | length')" -eq 2 ]
	local top
	top=$(echo "$output" | jq -r '.layer_dirs[1]')
	[ "$(cat "$top/etc/one.txt")" = one ]
	[ -c "$top/etc/group" ] # the whiteout became an overlay 0/0 char device
	[ -x "$(echo "$output" | jq -r '.layer_dirs[0]')/bin/busybox" ]
	[ "$(echo "$output" | jq -r '.config.Cmd[0]')" = sleep ]
	img_run "$DROVER_IMAGE" ls "$STORE"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[0].refs[0]')" = "$REG/demo:1" ]
	[ "$(echo "$output" | jq -r '.[0].layers')" -eq 2 ]
	[ "$(echo "$output" | jq -r '.[0].size')" -gt 1000000 ]
	# nothing half-made lying around
	[ -z "$(ls -A "$STORE/layers" | grep '^\.tmp-' || true)" ]
}

@test "pull by digest, and a second pull fetches no blob again" {
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo:1"
	[ "$status" -eq 0 ]
	local digest before
	digest=$(echo "$output" | jq -r .manifest_digest)
	before=$(grep -c '/blobs/' "$IMG_TMP/registry.log")
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo@$digest"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .manifest_digest)" = "$digest" ]
	[ "$(grep -c '/blobs/' "$IMG_TMP/registry.log")" -eq "$before" ]
	img_run "$DROVER_IMAGE" ls "$STORE"
	echo "$output" | jq -e --arg r "$REG/demo@$digest" '.[0].refs | index($r)'
	# a wrong digest is refused by the registry, clearly
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo@sha256:$(printf '0%.0s' $(seq 64))"
	[ "$status" -eq 1 ]
	[[ "$output" == *MANIFEST_UNKNOWN* ]]
}

@test "a multi-platform index picks this host's platform" {
	requires x86_64 # the index lists amd64 and arm64
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/multi:1"
	[ "$status" -eq 0 ]
	[ "$(cat "$(echo "$output" | jq -r '.layer_dirs[1]')/arch")" = amd64 ]
}

@test "progress lines on --progress-fd, and parallel layers" {
	img_run "$DROVER_IMAGE" resolve --parallel 2 --progress-fd 3 "$STORE" "$REG/demo:2" 3>"$BATS_TEST_TMPDIR/progress"
	[ "$status" -eq 0 ]
	grep -qE '^progress [0-9]+ [0-9]+$' "$BATS_TEST_TMPDIR/progress"
	local last
	last=$(tail -1 "$BATS_TEST_TMPDIR/progress")
	[ "$(echo "$last" | cut -d' ' -f2)" = "$(echo "$last" | cut -d' ' -f3)" ]
}

@test "bad references and options are refused clearly" {
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/Demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"invalid repository"* ]]
	img_run "$DROVER_IMAGE" resolve --parallel 0 "$STORE" "$REG/demo:1"
	[ "$status" -eq 2 ]
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/nosuch:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$REG"* && "$output" == *404* ]]
}

@test "basic auth against an htpasswd registry: right and wrong password, auth file mode" {
	requires htpasswd
	local port
	port=$(free_port)
	htpasswd -Bbc "$BATS_TEST_TMPDIR/htpasswd" alice s3cret 2>/dev/null
	registry_config "$BATS_TEST_TMPDIR/reg.yml" "$port" "$REG_STORAGE" \
		"auth:" "  htpasswd:" "    realm: drover-test" "    path: $BATS_TEST_TMPDIR/htpasswd"
	start_registry "basic-$BATS_TEST_NUMBER" "$BATS_TEST_TMPDIR/reg.yml" "$port"
	test_proc "basic-$BATS_TEST_NUMBER"
	local auth="$BATS_TEST_TMPDIR/auth.json"
	(umask 077 && printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$port" "$(printf alice:s3cret | base64)" >"$auth")
	img_run "$DROVER_IMAGE" resolve --auth "$auth" "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 0 ]
	# no credentials
	img_run "$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"credentials"* ]]
	# wrong password
	(umask 077 && printf '{"auths":{"http://127.0.0.1:%s":{"username":"alice","password":"nope"}}}' "$port" >"$auth")
	img_run "$DROVER_IMAGE" resolve --auth "$auth" "$STORE" "127.0.0.1:$port/demo:2"
	[ "$status" -eq 1 ]
	[[ "$output" == *401* ]]
	# a file others can read is refused before anything is sent
	chmod 0644 "$auth"
	img_run "$DROVER_IMAGE" resolve --auth "$auth" "$STORE" "127.0.0.1:$port/demo:2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"mode 0644"* ]]
}

@test "bearer token flow against the token-server fixture" {
	requires python_cryptography
	local port tport d="$BATS_TEST_TMPDIR"
	port=$(free_port)
	tport=$(free_port)
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" -days 1 \
		-subj /CN=drover-token >/dev/null 2>&1
	start_fixture "token-$BATS_TEST_NUMBER" "$FIXTURES/token-server.py" --port "$tport" \
		--key "$d/key.pem" --cert "$d/cert.pem" --user bob --password pw
	test_proc "token-$BATS_TEST_NUMBER"
	wait_port "$tport"
	registry_config "$d/reg.yml" "$port" "$REG_STORAGE" \
		"auth:" "  token:" "    realm: http://127.0.0.1:$tport/token" "    service: drover-test" \
		"    issuer: drover-test-issuer" "    rootcertbundle: $d/cert.pem"
	start_registry "bearer-$BATS_TEST_NUMBER" "$d/reg.yml" "$port"
	test_proc "bearer-$BATS_TEST_NUMBER"
	(umask 077 && printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$port" "$(printf bob:pw | base64)" >"$d/auth.json")
	img_run "$DROVER_IMAGE" resolve --auth "$d/auth.json" "$STORE" "127.0.0.1:$port/demo:2"
	[ "$status" -eq 0 ]
	# one token for the whole pull (ping, manifest, config, layers), scoped to the repository
	[ "$(grep -c '^issued repository:demo:pull$' "$IMG_TMP/token-$BATS_TEST_NUMBER.log")" -eq 1 ]
	# without credentials the token server says no, and the message says why
	img_run "$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"token server refused"* ]]
}

@test "a token with header bytes in it is refused before it reaches a header" {
	requires python_cryptography
	local port tport d="$BATS_TEST_TMPDIR"
	port=$(free_port)
	tport=$(free_port)
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" -days 1 \
		-subj /CN=drover-token >/dev/null 2>&1
	start_fixture "badtok-$BATS_TEST_NUMBER" "$FIXTURES/token-server.py" --port "$tport" \
		--key "$d/key.pem" --cert "$d/cert.pem" --bad-token
	test_proc "badtok-$BATS_TEST_NUMBER"
	wait_port "$tport"
	registry_config "$d/reg.yml" "$port" "$REG_STORAGE" \
		"auth:" "  token:" "    realm: http://127.0.0.1:$tport/token" "    service: drover-test" \
		"    issuer: drover-test-issuer" "    rootcertbundle: $d/cert.pem"
	start_registry "badtokreg-$BATS_TEST_NUMBER" "$d/reg.yml" "$port"
	test_proc "badtokreg-$BATS_TEST_NUMBER"
	img_run "$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot go in a header (0x0d)"* ]]
}

@test "a blob whose bytes do not match its digest: refused, nothing stored" {
	local port
	port=$(free_port)
	start_fixture "tamper-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode tamper
	test_proc "tamper-$BATS_TEST_NUMBER"
	wait_port "$port"
	img_run "$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"sha256:"*"digest mismatch"* ]]
	[ -z "$(ls -A "$STORE/layers" | grep -v '^\.lock-' || true)" ]
	[ -z "$(ls -A "$STORE/images" | grep -v '^\.lock-' || true)" ]
}

@test "a registry that drops connections mid-blob: retries, a clear failure, then a later pull works" {
	local port
	port=$(free_port)
	start_fixture "cut-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode cut
	test_proc "cut-$BATS_TEST_NUMBER"
	wait_port "$port"
	img_run "$DROVER_IMAGE" resolve --parallel 1 "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"registry 127.0.0.1:$port"* && "$output" == *"attempts"* ]]
	# the same blob was asked for several times
	[ "$(grep -c "/blobs/sha256:" "$IMG_TMP/cut-$BATS_TEST_NUMBER.log")" -ge 4 ]
	[ -z "$(ls -A "$STORE/layers" | grep -v '^\.lock-' || true)" ]
	stop_proc "cut-$BATS_TEST_NUMBER"
	start_fixture "cut-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode pass
	wait_port "$port"
	img_run "$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 0 ]
}

@test "a registry killed mid-pull: a clear failure naming it, nothing half-made" {
	local port pid
	port=$(free_port)
	start_fixture "slow-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode slow
	test_proc "slow-$BATS_TEST_NUMBER"
	wait_port "$port"
	"$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	for _ in $(seq 1 100); do
		grep -q "/blobs/sha256:$BASE_HEX" "$IMG_TMP/slow-$BATS_TEST_NUMBER.log" && break
		sleep 0.05
	done
	sleep 0.2
	stop_proc "slow-$BATS_TEST_NUMBER"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 1 ]
	cat "$BATS_TEST_TMPDIR/err" >&2
	grep -q "registry 127.0.0.1:$port" "$BATS_TEST_TMPDIR/err"
	# a layer that finished before the kill is verified and complete; nothing else is left
	[ -z "$(ls -A "$STORE/layers" | grep '^\.tmp-' || true)" ]
	[ ! -d "$STORE/layers/$BASE_HEX" ]
	[ -z "$(ls -A "$STORE/images" | grep -v '^\.lock-' || true)" ]
}

@test "two pulls of one image at once: one download per blob" {
	local name="conc$BATS_TEST_NUMBER" p1 p2 b
	skopeo copy -q --dest-tls-verify=false oci:"$IMG_TMP/l2":2 "docker://$REG/$name:1" >&2
	"$DROVER_IMAGE" resolve "$STORE" "$REG/$name:1" >"$BATS_TEST_TMPDIR/o1" 2>&1 &
	p1=$!
	"$DROVER_IMAGE" resolve "$STORE" "$REG/$name:1" >"$BATS_TEST_TMPDIR/o2" 2>&1 &
	p2=$!
	wait "$p1"
	wait "$p2"
	[ "$(jq -r .manifest_digest "$BATS_TEST_TMPDIR/o1")" = "$(jq -r .manifest_digest "$BATS_TEST_TMPDIR/o2")" ]
	for b in $(grep -o "GET /v2/$name/blobs/sha256:[0-9a-f]*" "$IMG_TMP/registry.log" | sort -u | cut -d: -f2); do
		[ "$(blob_gets "$IMG_TMP/registry.log" "$name" "sha256:$b")" -eq 1 ]
	done
	[ "$(grep -c "GET /v2/$name/blobs/" "$IMG_TMP/registry.log")" -eq 3 ] # config + 2 layers
}

@test "prune removes only what no kept image uses" {
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo:1"
	[ "$status" -eq 0 ]
	local keep
	keep=$(echo "$output" | jq -r .manifest_digest)
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo:2"
	[ "$status" -eq 0 ]
	[ -d "$STORE/layers/$D2_EXTRA_HEX" ]
	img_run "$DROVER_IMAGE" prune "$STORE" --keep "$keep"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .images_removed)" -eq 1 ]
	[ "$(echo "$output" | jq .layers_removed)" -eq 1 ]
	[ "$(echo "$output" | jq .bytes_freed)" -gt 0 ]
	[ -d "$STORE/layers/$BASE_HEX" ]
	[ -d "$STORE/layers/$D1_EXTRA_HEX" ]
	[ ! -e "$STORE/layers/$D2_EXTRA_HEX" ]
	img_run "$DROVER_IMAGE" ls "$STORE"
	[ "$(echo "$output" | jq length)" -eq 1 ]
	# rm drops the ref and then the record; layers wait for prune
	img_run "$DROVER_IMAGE" rm "$STORE" "$REG/demo:1"
	[ "$status" -eq 0 ]
	img_run "$DROVER_IMAGE" ls "$STORE"
	[ "$output" = "[]" ]
	[ -d "$STORE/layers/$BASE_HEX" ]
	img_run "$DROVER_IMAGE" prune "$STORE"
	[ "$(echo "$output" | jq .layers_removed)" -eq 2 ]
	img_run "$DROVER_IMAGE" rm "$STORE" "$REG/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in the store"* ]]
}

@test "prune waits for a pull in progress and keeps what it pulled" {
	local port pid
	port=$(free_port)
	start_fixture "slowp-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode slow
	test_proc "slowp-$BATS_TEST_NUMBER"
	wait_port "$port"
	"$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do
		grep -q "/blobs/" "$IMG_TMP/slowp-$BATS_TEST_NUMBER.log" && break
		sleep 0.05
	done
	img_run "$DROVER_IMAGE" prune "$STORE"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .layers_removed)" -eq 0 ]
	wait "$pid"
	for d in $(jq -r '.layer_dirs[]' "$BATS_TEST_TMPDIR/out"); do
		[ -d "$d" ]
	done
}

@test "import a docker save tar and an OCI layout dir" {
	skopeo copy -q oci:"$IMG_TMP/l1":1 "docker-archive:$BATS_TEST_TMPDIR/save.tar:example.com/team/app:3" >&2
	img_run "$DROVER_IMAGE" import "$STORE" "$BATS_TEST_TMPDIR/save.tar"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.refs[0]')" = example.com/team/app:3 ]
	[ "$(cat "$(echo "$output" | jq -r '.layer_dirs[1]')/etc/one.txt")" = one ]
	[ -c "$(echo "$output" | jq -r '.layer_dirs[1]')/etc/group" ]
	img_run "$DROVER_IMAGE" import "$STORE" "$IMG_TMP/l2"
	[ "$status" -eq 0 ]
	[[ "$(echo "$output" | jq -r '.refs[0]')" == "oci:$IMG_TMP/l2:2" ]]
	img_run "$DROVER_IMAGE" ls "$STORE"
	[ "$(echo "$output" | jq length)" -eq 2 ]
	# a tar that is not a docker save archive
	tar -C "$IMG_TMP/x2" -cf "$BATS_TEST_TMPDIR/bad.tar" .
	img_run "$DROVER_IMAGE" import "$STORE" "$BATS_TEST_TMPDIR/bad.tar"
	[ "$status" -eq 1 ]
	[[ "$output" == *manifest.json* ]]
}

@test "HTTPS registry: verified with --ca, refused without it" {
	local port dir="$BATS_TEST_TMPDIR/tls"
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
	port=$(free_port)
	registry_config "$IMG_TMP/tls-$BATS_TEST_NUMBER.yml" "$port" "$REG_STORAGE" \
		"  tls:" "    certificate: $dir/cert.pem" "    key: $dir/key.pem"
	# the http: block is last in the config, so the tls lines above land inside it
	start_registry "tls-$BATS_TEST_NUMBER" "$IMG_TMP/tls-$BATS_TEST_NUMBER.yml" "$port"
	test_proc "tls-$BATS_TEST_NUMBER"
	img_run "$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"127.0.0.1:$port"* ]]
	[[ "$output" == *certificate* || "$output" == *SSL* ]]
	img_run "$DROVER_IMAGE" resolve --ca "$dir/cert.pem" "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 0 ]
	[[ "$(echo "$output" | jq -r .manifest_digest)" == sha256:* ]]
}

@test "blob redirects to other storage are followed, and still verified" {
	local port
	port=$(free_port)
	start_fixture "redir-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode redirect
	test_proc "redir-$BATS_TEST_NUMBER"
	wait_port "$port"
	img_run "$DROVER_IMAGE" resolve "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 0 ]
	[[ "$(echo "$output" | jq -r .manifest_digest)" == sha256:* ]]
	grep -q "GET /v2/demo/blobs/sha256:" "$IMG_TMP/redir-$BATS_TEST_NUMBER.log"
}

@test "prune --until-below stops at the mark and never removes a kept image" {
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo:1"
	[ "$status" -eq 0 ]
	sleep 1.1
	img_run "$DROVER_IMAGE" resolve "$STORE" "$REG/demo:2"
	[ "$status" -eq 0 ]
	d2=$(echo "$output" | jq -r .manifest_digest)
	# a mark above the current use: nothing goes
	img_run "$DROVER_IMAGE" prune --until-below 100 "$STORE"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .images_removed)" = 0 ]
	# a mark that cannot be reached: every unkept image goes, oldest first, the kept one stays
	img_run "$DROVER_IMAGE" prune --until-below 0 --keep "$d2" "$STORE"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .images_removed)" = 1 ]
	img_run "$DROVER_IMAGE" ls "$STORE"
	[ "$(echo "$output" | jq -r '.[0].digest')" = "$d2" ]
	[ "$(echo "$output" | jq length)" = 1 ]
}

# hostile_layout OUT LAYER_FILE [oci-layout.py build options]: an OCI layout of that one layer.
hostile_layout() {
	local out=$1 layer=$2
	shift 2
	python3 "$FIXTURES/oci-layout.py" build "$out" --layer "$layer" "$@"
}

# The first layer blob of the OCI layout in $1.
first_layer_blob() {
	local m
	m=$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)
	echo "$1/blobs/sha256/$(jq -r '.layers[0].digest' "$1/blobs/sha256/$m" | cut -d: -f2)"
}

no_layers_left() {
	[ -z "$(ls -A "$STORE/layers" 2>/dev/null | grep -v '^\.lock-' || true)" ]
}

@test "decompression bombs stop at --image-max-unpacked and --image-max-entries, nothing is left" {
	requires zstd
	local d="$BATS_TEST_TMPDIR"
	# one 256 MiB file of zeros (zstd makes it a few KiB), and 16 files of 4 MiB
	python3 "$FIXTURES/oci-layout.py" bomb --size $((256 << 20)) | zstd -q -3 >"$d/one.zst"
	python3 "$FIXTURES/oci-layout.py" bomb --files 16 --size $((4 << 20)) | zstd -q -3 >"$d/many.zst"
	[ "$(stat -c %s "$d/one.zst")" -lt 1048576 ]
	hostile_layout "$d/one" "$d/one.zst"
	hostile_layout "$d/many" "$d/many.zst"
	img_run "$DROVER_IMAGE" resolve --image-max-unpacked $((16 << 20)) -- "$STORE" "oci:$d/one"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--image-max-unpacked"* ]]
	no_layers_left
	[ "$(du -sm "$STORE" | cut -f1)" -lt 16 ]
	img_run "$DROVER_IMAGE" resolve --image-max-unpacked $((16 << 20)) -- "$STORE" "oci:$d/many"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--image-max-unpacked"* ]]
	no_layers_left
	img_run "$DROVER_IMAGE" resolve --image-max-entries 5 -- "$STORE" "oci:$d/many"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--image-max-entries"* ]]
	no_layers_left
	# within the caps the same layer unpacks
	img_run "$DROVER_IMAGE" resolve --image-max-unpacked $((128 << 20)) -- "$STORE" "oci:$d/many"
	[ "$status" -eq 0 ]
	[ "$(stat -c %s "$(echo "$output" | jq -r '.layer_dirs[0]')/zero00015")" -eq $((4 << 20)) ]
}

@test "declared sizes past the caps, or past the free space, are refused before any layer is read" {
	img_run "$DROVER_IMAGE" resolve --image-max-layer-size 1000 -- "$STORE" "$REG/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--image-max-layer-size"* ]]
	img_run "$DROVER_IMAGE" resolve --image-max-size 1000 -- "$STORE" "oci:$IMG_TMP/l1:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--image-max-size"* ]]
	# a reserve no filesystem here can keep: the pull says so and fetches nothing
	local before
	before=$(grep -c '/blobs/' "$IMG_TMP/registry.log")
	img_run "$DROVER_IMAGE" resolve --image-min-free $((1 << 50)) -- "$STORE" "$REG/demo:2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--image-min-free"* && "$output" == *"needed"* ]]
	# only the config blob was read
	[ "$(grep -c '/blobs/' "$IMG_TMP/registry.log")" -eq $((before + 1)) ]
	no_layers_left
}

@test "a layer whose uncompressed tar does not match the config's diff_id is refused" {
	local d="$BATS_TEST_TMPDIR"
	hostile_layout "$d/liar" "$(first_layer_blob "$IMG_TMP/l1")" --diff-id "$(printf 'ab%.0s' $(seq 32))"
	img_run "$DROVER_IMAGE" resolve "$STORE" "oci:$d/liar"
	[ "$status" -eq 1 ]
	[[ "$output" == *"diff_id mismatch"* && "$output" == *"sha256:abab"* ]]
	no_layers_left
	# the same layer with its true diff_id is fine
	hostile_layout "$d/honest" "$(first_layer_blob "$IMG_TMP/l1")"
	img_run "$DROVER_IMAGE" resolve "$STORE" "oci:$d/honest"
	[ "$status" -eq 0 ]
}

@test "oci: layouts must be directories under --image-layout-root, reached without symlinks" {
	local root="$BATS_TEST_TMPDIR/layouts"
	mkdir -p "$root"
	cp -a "$IMG_TMP/l1" "$root/good"
	img_run "$DROVER_IMAGE" resolve --image-layout-root "$root" -- "$STORE" "oci:$root/good:1"
	[ "$status" -eq 0 ]
	img_run "$DROVER_IMAGE" resolve --image-layout-root "$root" -- "$STORE" "oci:$IMG_TMP/l1:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a directory under --image-layout-root"* ]]
	ln -s "$IMG_TMP/l1" "$root/link"
	img_run "$DROVER_IMAGE" resolve --image-layout-root "$root" -- "$STORE" "oci:$root/link:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *symlink* ]]
	img_run "$DROVER_IMAGE" resolve --image-layout-root "$root" -- "$STORE" "oci:$root/../layouts/good:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--image-layout-root"* ]]
	# a blob that is a symlink to a host file is refused, not read
	cp -a "$IMG_TMP/l2" "$root/sneaky"
	local blob
	blob=$(first_layer_blob "$root/sneaky")
	rm "$blob"
	ln -s /etc/passwd "$blob"
	img_run "$DROVER_IMAGE" resolve --image-layout-root "$root" -- "$BATS_TEST_TMPDIR/store2" "oci:$root/sneaky:2"
	[ "$status" -eq 1 ]
	[[ "$output" == *symlink* ]]
}

@test "a FIFO as a layout's index.json or as a blob fails at once" {
	local d="$BATS_TEST_TMPDIR"
	cp -a "$IMG_TMP/l1" "$d/fifo1"
	rm "$d/fifo1/index.json"
	mkfifo "$d/fifo1/index.json"
	img_run timeout 10 "$DROVER_IMAGE" resolve "$STORE" "oci:$d/fifo1:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"index.json"*"not a regular file"* ]]
	cp -a "$IMG_TMP/l1" "$d/fifo2"
	local blob
	blob=$(first_layer_blob "$d/fifo2")
	rm "$blob"
	mkfifo "$blob"
	img_run timeout 10 "$DROVER_IMAGE" resolve "$STORE" "oci:$d/fifo2:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a regular file"* ]]
}

@test "a registry trickling a blob is dropped under --low-speed-limit" {
	local port
	port=$(free_port)
	start_fixture "trickle-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode trickle
	test_proc "trickle-$BATS_TEST_NUMBER"
	wait_port "$port"
	SECONDS=0
	img_run timeout 60 "$DROVER_IMAGE" resolve --parallel 1 --low-speed-limit 1000 --low-speed-time 1 -- "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"registry 127.0.0.1:$port"* && "$output" == *"too slow"* ]]
	[ "$SECONDS" -lt 40 ]
	no_layers_left
}

@test "a redirect target's challenge gets no credentials" {
	local port evil d="$BATS_TEST_TMPDIR"
	port=$(free_port)
	evil=$(free_port)
	start_fixture "evil-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$evil" --mode evil
	test_proc "evil-$BATS_TEST_NUMBER"
	start_fixture "redev-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" \
		--mode redirect-evil --evil "$evil"
	test_proc "redev-$BATS_TEST_NUMBER"
	wait_port "$evil"
	wait_port "$port"
	(umask 077 && printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$port" "$(printf alice:s3cret | base64)" >"$d/auth.json")
	img_run "$DROVER_IMAGE" resolve --auth "$d/auth.json" -- "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"redirect target refused"* && "$output" == *"127.0.0.1:$evil"* ]]
	cat "$IMG_TMP/evil-$BATS_TEST_NUMBER.log" >&2
	grep -q "GET /v2/demo/blobs/" "$IMG_TMP/evil-$BATS_TEST_NUMBER.log"
	! grep -q "^AUTH" "$IMG_TMP/evil-$BATS_TEST_NUMBER.log"
	! grep -q "/token" "$IMG_TMP/evil-$BATS_TEST_NUMBER.log"
}

@test "registry credentials scoped to a repository prefix, and recorded with the image" {
	requires htpasswd
	local port d="$BATS_TEST_TMPDIR"
	port=$(free_port)
	skopeo copy -q --dest-tls-verify=false oci:"$IMG_TMP/l1":1 "docker://$REG/team/app:1" >&2
	htpasswd -Bbc "$d/htpasswd" alice s3cret 2>/dev/null
	registry_config "$d/reg.yml" "$port" "$REG_STORAGE" \
		"auth:" "  htpasswd:" "    realm: drover-test" "    path: $d/htpasswd"
	start_registry "scoped-$BATS_TEST_NUMBER" "$d/reg.yml" "$port"
	test_proc "scoped-$BATS_TEST_NUMBER"
	# the entry covers team/... only; a wrong password for the whole registry is never chosen for it
	(umask 077 && printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"},"127.0.0.1:%s/team":{"auth":"%s"}}}' \
		"$port" "$(printf alice:wrong | base64)" "$port" "$(printf alice:s3cret | base64)" >"$d/auth.json")
	img_run "$DROVER_IMAGE" resolve --auth "$d/auth.json" -- "$STORE" "127.0.0.1:$port/team/app:1"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .auth)" = "127.0.0.1:$port/team" ]
	local hex
	hex=$(echo "$output" | jq -r .manifest_digest | cut -d: -f2)
	[ "$(jq -r .pulled_with.auth "$STORE/images/$hex.json")" = "127.0.0.1:$port/team" ]
	# demo/ is outside the scope: the registry-wide entry (a wrong password) is what it gets
	img_run "$DROVER_IMAGE" resolve --auth "$d/auth.json" -- "$STORE" "127.0.0.1:$port/demo:1"
	[ "$status" -eq 1 ]
	[[ "$output" == *401* ]]
	# the store's copy is not handed to a reference whose own credentials the registry refuses
	img_run "$DROVER_IMAGE" resolve --auth "$d/auth.json" -- "$STORE" "127.0.0.1:$port/demo@sha256:$hex"
	[ "$status" -eq 1 ]
}
