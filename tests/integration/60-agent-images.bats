#!/usr/bin/env bats
# droverd with registry images: pulls through drover-image from a real docker-registry on
# 127.0.0.1, one download for instances that start at once, pull failures reported, and the
# image endpoints behind `droverctl image`.

load helpers

setup_file() {
	image_setup_file
	export IMG_TMP="$BATS_FILE_TMPDIR"
	export REG_PORT
	REG_PORT=$(free_port)
	registry_config "$IMG_TMP/registry.yml" "$REG_PORT" "$IMG_TMP/storage"
	start_registry registry "$IMG_TMP/registry.yml" "$REG_PORT"
	export REG="127.0.0.1:$REG_PORT"
	mkdir -p "$IMG_TMP/extra/etc"
	echo pulled >"$IMG_TMP/extra/etc/origin"
	cp -a "$IMAGE_DIR" "$IMG_TMP/app"
	"$REPO_ROOT/demo/build-image.sh" "$IMG_TMP/app" latest --extra-layer "$IMG_TMP/extra" >/dev/null
	push "$IMG_TMP/app" latest "$REG/demo/app:1"
	# what hostile registries serve: an image the bystander (demo/app) does not already bring
	push "$IMAGE_DIR" latest "$REG/other/app:1"
}

teardown_file() {
	[ -n "${IMG_TMP:-}" ] || return 0
	stop_all_procs
}

setup() {
	drv_setup
	start_agent
}

teardown() {
	drv_teardown
}

registry_spec() { # ID [jq]
	spec "$1" ".image = \"$REG/demo/app:1\" | ${2:-.}"
}

@test "a registry image is pulled, verified and run" {
	registry_spec pull1 '.command = ["sh", "-c", "cat /etc/origin; exec sleep 1000"]' >"$ASSIGN/pull1.json"
	wait_for 20 phase_is pull1 running
	[[ "$(status_of pull1 .image_digest)" == sha256:* ]]
	wait_for 5 sh -c "'$DROVERCTL' --socket '$SOCK' logs pull1 | grep -qx pulled"
	grep -q "phase.*pulling\|pulling" <(curl -s --unix-socket "$SOCK" "http://localhost/v1/events?after=0")
}

@test "two instances of one image started at once cause one download per blob" {
	: >"$IMG_TMP/registry.log.mark"
	before=$(wc -l <"$IMG_TMP/registry.log")
	registry_spec twin1 '.command = ["sleep", "1000"]' >"$T/twin1.json"
	registry_spec twin2 '.command = ["sleep", "1000"]' >"$T/twin2.json"
	mv "$T/twin1.json" "$ASSIGN/" && mv "$T/twin2.json" "$ASSIGN/"
	wait_for 20 phase_is twin1 running
	wait_for 20 phase_is twin2 running
	tail -n +"$((before + 1))" "$IMG_TMP/registry.log" >"$T/access.log"
	layers=$(skopeo inspect --raw --tls-verify=false "docker://$REG/demo/app:1" | jq -r '.layers[].digest')
	for d in $layers; do
		n=$(blob_gets "$T/access.log" demo/app "$d")
		[ "$n" -le 1 ]
	done
}

@test "a pull failure shows ImagePullFailed with the registry's error while the policy retries" {
	spec nosuch ".image = \"$REG/demo/app:nosuchtag\" | .command = [\"true\"] | .restart = \"on-failure\"" >"$ASSIGN/nosuch.json"
	# while the policy retries, the instance is pending with the failure's reason and the next try
	wait_for 20 sh -c "grep -q 'restarting in 1000 ms (policy on-failure) id=nosuch' '$AGENT_LOG'"
	# one status taken while it waits between two tries
	for _ in $(seq 1 200); do
		st=$(curl -sf --unix-socket "$SOCK" http://localhost/v1/instances/nosuch)
		[ "$(echo "$st" | jq -r .phase)" = pending ] && break
		sleep 0.05
	done
	[ "$(echo "$st" | jq -r .phase)" = pending ]
	[ "$(echo "$st" | jq -r .reason)" = ImagePullFailed ]
	[[ "$(echo "$st" | jq -r .message)" == backoff*nosuchtag* ]]
	[[ "$(echo "$st" | jq -r .next_try_at)" == 20*Z ]]
	# nothing ever ran, so nothing was restarted
	wait_for 10 sh -c "grep -q 'restarting in 2000 ms (policy on-failure) id=nosuch' '$AGENT_LOG'"
	[ "$(status_of nosuch .restarts)" = 0 ]
}

@test "droverctl image pull, ls, rm, import and prune work through the agent" {
	drv_run ctl image pull "$REG/demo/app:1"
	[ "$status" -eq 0 ]
	[[ "$output" == *sha256:* ]]
	drv_run ctl -o json image ls
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r --arg r "$REG/demo/app:1" '[.[] | select(.refs | index($r))] | length')" = 1 ]
	drv_run ctl image import "$IMAGE_DIR"
	[ "$status" -eq 0 ]
	registry_spec user1 '.command = ["sleep", "1000"]' >"$ASSIGN/user1.json"
	wait_for 20 phase_is user1 running
	drv_run ctl -o json image ls
	[ "$(echo "$output" | jq -r --arg d "$(status_of user1 .image_digest)" '.[] | select(.digest == $d) | .used_by[0]')" = user1 ]
	drv_run ctl image ls
	[[ "${lines[0]}" == *REF*DIGEST*SIZE*"IN USE BY"* ]]
	[[ "$output" == *"$REG/demo/app:1"*user1* ]]
	# an image in use is not removed; prune keeps it and drops the rest
	drv_run ctl image rm "$REG/demo/app:1"
	[ "$status" -ne 0 ]
	[[ "$output" == *"in use"* ]]
	drv_run ctl -o json image prune
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .images_removed)" -ge 1 ]
	drv_run ctl -o json image ls
	[ "$(echo "$output" | jq length)" = 1 ]
	[ "$(status_of user1)" = running ]
	drv_run ctl image pull "$REG/demo/app:nosuchtag"
	[ "$status" -ne 0 ]
	[[ "$output" == *nosuchtag* ]]
}

@test "while pulling, the instance shows phase pulling with bytes done and total" {
	port=$(free_port)
	start_fixture "slow-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode slow
	wait_port "$port"
	spec slowpull ".image = \"127.0.0.1:$port/demo/app:1\" | .command = [\"sleep\", \"1000\"]" >"$ASSIGN/slowpull.json"
	wait_for 20 sh -c "curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/slowpull | jq -e '.phase == \"pulling\" and .pull.bytes_total > 0 and .pull.bytes_done >= 0'"
	wait_for 60 phase_is slowpull running
	[ "$(status_of slowpull .pull)" = null ]
	stop_proc "slow-$BATS_TEST_NUMBER"
}

@test "past --image-gc-high, a pull is followed by removing the images no instance uses" {
	stop_agent
	start_agent --image-gc-high 0 --image-gc-low 0
	drv_run ctl image import "$IMAGE_DIR"
	[ "$status" -eq 0 ]
	drv_run ctl -o json image ls
	[ "$(echo "$output" | jq length)" = 1 ]
	registry_spec gcuser '.command = ["sleep", "1000"]' >"$ASSIGN/gcuser.json"
	wait_for 20 phase_is gcuser running
	wait_for 10 grep -q "image garbage collection: " "$AGENT_LOG"
	drv_run ctl -o json image ls
	[ "$(echo "$output" | jq length)" = 1 ]
	[ "$(echo "$output" | jq -r '.[0].digest')" = "$(status_of gcuser .image_digest)" ]
	[ "$(status_of gcuser)" = running ]
}

@test "droverctl image pull shows the pull's progress, then the digest" {
	port=$(free_port)
	start_fixture "slowctl-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode slow
	wait_port "$port"
	drv_run ctl image pull "127.0.0.1:$port/demo/app:1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pulling: "*" MB"* ]]
	[[ "${lines[-1]}" == *"pulled (sha256:"* ]]
	drv_run ctl image pull "127.0.0.1:$port/demo/app:nosuchtag"
	[ "$status" -eq 1 ]
	[[ "$output" == *nosuchtag* ]]
	stop_proc "slowctl-$BATS_TEST_NUMBER"
}

# An unrelated instance that must keep running, with the same PID, through every hostile case.
start_bystander() {
	registry_spec bystander '.command = ["sleep", "1000"]' >"$ASSIGN/bystander.json"
	wait_for 30 phase_is bystander running
	BYSTANDER_PID=$(status_of bystander .pid)
	[ "$BYSTANDER_PID" -gt 0 ]
}

# The agent answers within a second and the bystander was not touched.
agent_unharmed() {
	curl -sf --max-time 1 --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null
	[ "$(status_of bystander)" = running ]
	[ "$(status_of bystander .pid)" = "$BYSTANDER_PID" ]
}

# pull_fails ID MESSAGE-GLOB [SECONDS]: the instance ends ImagePullFailed with that message.
pull_fails() {
	if ! wait_for "${3:-20}" phase_is "$1" failed; then
		curl -s --unix-socket "$SOCK" "http://localhost/v1/instances/$1" >&2
		tail -30 "$AGENT_LOG" >&2
		return 1
	fi
	[ "$(status_of "$1" .reason)" = ImagePullFailed ]
	local msg
	msg=$(status_of "$1" .message)
	echo "message of $1: $msg" >&2
	[[ "$msg" == $2 ]]
}

@test "a trickling registry: a pulling instance is removed at once, and a pull ends at --image-pull-timeout" {
	stop_agent
	start_agent --image-pull-timeout 4s
	start_bystander
	local port
	port=$(free_port)
	start_fixture "trickle-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" --mode trickle
	wait_port "$port"
	spec trick1 ".image = \"127.0.0.1:$port/other/app:1\" | .command = [\"sleep\", \"1000\"]" >"$ASSIGN/trick1.json"
	wait_for 10 phase_is trick1 pulling
	# removed while it pulls: gone at once, not when the pull ends
	rm "$ASSIGN/trick1.json"
	wait_for 2 sh -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/trick1"
	agent_unharmed
	# nobody waited for that pull any more: it was killed
	wait_for 5 grep -q "nobody waits for the pull of '127.0.0.1:$port/other/app:1'" "$AGENT_LOG"
	spec trick2 ".image = \"127.0.0.1:$port/other/app:1\" | .command = [\"sleep\", \"1000\"] | .restart = \"never\"" >"$ASSIGN/trick2.json"
	pull_fails trick2 "*--image-pull-timeout*" 15
	agent_unharmed
	stop_proc "trickle-$BATS_TEST_NUMBER"
}

@test "hostile layouts through the agent: a bomb, a lying diff_id, a path outside the root, a FIFO" {
	requires zstd
	local lay="$T/lay" m blob
	mkdir -p "$lay"
	stop_agent
	start_agent --image-max-unpacked 16Mi --image-layout-root "$lay"
	start_bystander
	local before
	before=$(ls -A "$STATE/images/layers" | grep -v '^\.lock-')
	python3 "$FIXTURES/oci-layout.py" bomb --size $((256 << 20)) | zstd -q -3 >"$T/bomb.zst"
	python3 "$FIXTURES/oci-layout.py" build "$lay/bomb" --layer "$T/bomb.zst"
	spec bomb1 ".image = \"oci:$lay/bomb\" | .command = [\"true\"] | .restart = \"never\"" >"$ASSIGN/bomb1.json"
	pull_fails bomb1 "*--image-max-unpacked*"
	agent_unharmed
	[ "$(ls -A "$STATE/images/layers" | grep -v '^\.lock-')" = "$before" ]
	[ "$(du -sm "$STATE/images" | cut -f1)" -lt 64 ]

	m=$(jq -r '.manifests[0].digest' "$IMAGE_DIR/index.json" | cut -d: -f2)
	blob="$IMAGE_DIR/blobs/sha256/$(jq -r '.layers[0].digest' "$IMAGE_DIR/blobs/sha256/$m" | cut -d: -f2)"
	python3 "$FIXTURES/oci-layout.py" build "$lay/liar" --layer "$blob" --diff-id "$(printf 'cd%.0s' $(seq 32))"
	spec liar1 ".image = \"oci:$lay/liar\" | .command = [\"true\"] | .restart = \"never\"" >"$ASSIGN/liar1.json"
	pull_fails liar1 "*diff_id mismatch*"
	agent_unharmed

	spec outside1 ".image = \"oci:$IMAGE_DIR:latest\" | .command = [\"true\"] | .restart = \"never\"" >"$ASSIGN/outside1.json"
	pull_fails outside1 "*not a directory under --image-layout-root*"
	agent_unharmed

	cp -a "$IMAGE_DIR" "$lay/fifo"
	rm "$lay/fifo/index.json"
	mkfifo "$lay/fifo/index.json"
	spec fifo1 ".image = \"oci:$lay/fifo:latest\" | .command = [\"true\"] | .restart = \"never\"" >"$ASSIGN/fifo1.json"
	pull_fails fifo1 "*not a regular file*" 10
	agent_unharmed
}

@test "through the agent, a redirect target's challenge fails the pull and sees no credentials" {
	local port evil
	port=$(free_port)
	evil=$(free_port)
	start_fixture "evil-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$evil" --mode evil
	start_fixture "redev-$BATS_TEST_NUMBER" "$FIXTURES/registry-proxy.py" --port "$port" --upstream "$REG_PORT" \
		--mode redirect-evil --evil "$evil"
	wait_port "$evil"
	wait_port "$port"
	(umask 077 && printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$port" "$(printf alice:s3cret | base64)" >"$T/auth.json")
	stop_agent
	start_agent --registry-auth "$T/auth.json"
	start_bystander
	spec evil1 ".image = \"127.0.0.1:$port/other/app:1\" | .command = [\"true\"] | .restart = \"never\"" >"$ASSIGN/evil1.json"
	pull_fails evil1 "*redirect target refused*"
	agent_unharmed
	grep -q "GET /v2/other/app/blobs/" "$IMG_TMP/evil-$BATS_TEST_NUMBER.log"
	! grep -q "^AUTH" "$IMG_TMP/evil-$BATS_TEST_NUMBER.log"
	! grep -q "/token" "$IMG_TMP/evil-$BATS_TEST_NUMBER.log"
	stop_proc "evil-$BATS_TEST_NUMBER"
	stop_proc "redev-$BATS_TEST_NUMBER"
}

@test "image API values are checked before they reach drover-image's argv" {
	drv_run api POST /v1/images/pull '{"ref": "--ca=/etc/shadow"}'
	[[ "${lines[-1]}" == "HTTP 400" ]]
	[[ "$output" == *"image reference"* ]]
	drv_run api POST /v1/images/pull '{"ref": "oci:relative/path"}'
	[[ "${lines[-1]}" == "HTTP 400" ]]
	drv_run api POST /v1/images/import '{"path": "--auth=/etc/shadow"}'
	[[ "${lines[-1]}" == "HTTP 400" ]]
	[[ "$output" == *absolute* ]]
	drv_run api DELETE /v1/images/--keep
	[[ "${lines[-1]}" == "HTTP 400" ]]
	drv_run api DELETE /v1/images/sha256:xyz
	[[ "${lines[-1]}" == "HTTP 400" ]]
	# nothing of it ran drover-image
	! grep -q "drover-image .*--ca=/etc/shadow\|usage: drover-image" "$AGENT_LOG"
	curl -sf --max-time 1 --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null
}

@test "a tag is resolved again once --image-tag-ttl has passed" {
	stop_agent
	start_agent --image-tag-ttl 0s
	push "$IMAGE_DIR" latest "$REG/ttl/app:1"
	registry_spec ttl1 ".image = \"$REG/ttl/app:1\" | .command = [\"sleep\", \"1000\"]" >"$ASSIGN/ttl1.json"
	wait_for 30 phase_is ttl1 running
	local d1
	d1=$(status_of ttl1 .image_digest)
	# the tag moves to another image; the next instance gets that one
	push "$IMG_TMP/app" latest "$REG/ttl/app:1"
	registry_spec ttl2 ".image = \"$REG/ttl/app:1\" | .command = [\"sleep\", \"1000\"]" >"$ASSIGN/ttl2.json"
	wait_for 30 phase_is ttl2 running
	[ "$(status_of ttl2 .image_digest)" != "$d1" ]
	[ "$(status_of ttl1 .image_digest)" = "$d1" ]
}
