#!/usr/bin/env bats
# droverd with registry images: pulls through drover-image from a real docker-registry on
# 127.0.0.1, one download for instances that start at once, pull failures reported, and the
# image endpoints behind `droverctl image`.

load helpers
load image-helpers

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
