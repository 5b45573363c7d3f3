#!/usr/bin/env bats
# The agent API over TCP (--listen): TLS always, mutual TLS and/or a bearer token, the limits a
# network-facing listener needs, droverctl --server, and GET /v1/node. Certificates are made here
# with openssl: a CA, a server certificate for 127.0.0.1, a client certificate, and a second CA
# with its own client certificate.

load helpers

# mkca DIR NAME / mkcert DIR NAME CA EXT: small EC keys, valid for one day.
mkca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$2" \
		-keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
}

mkcert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$1/$2.key" -out "$1/$2.csr" 2>/dev/null
	printf '%s\n' "$4" >"$1/$2.ext"
	openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.crt" -CAkey "$1/$3.key" -CAcreateserial -days 1 \
		-extfile "$1/$2.ext" -out "$1/$2.crt" 2>/dev/null
}

setup_file() {
	image_setup_file
	export CERTS="$BATS_FILE_TMPDIR/certs"
	mkdir -p "$CERTS"
	mkca "$CERTS" ca
	mkca "$CERTS" otherca
	mkcert "$CERTS" server ca "subjectAltName=IP:127.0.0.1"
	mkcert "$CERTS" client ca "extendedKeyUsage=clientAuth"
	mkcert "$CERTS" stranger otherca "extendedKeyUsage=clientAuth"
}

setup() {
	drv_setup
	TOKEN_FILE="$T/token"
	head -c 32 /dev/urandom | base64 >"$TOKEN_FILE"
	chmod 600 "$TOKEN_FILE"
	TOKEN=$(cat "$TOKEN_FILE")
	PORT=""
}

teardown() {
	drv_teardown
}

TLS_FLAGS=()
tls_flags() { # tls_flags [mtls] [token]
	TLS_FLAGS=(--tls-cert "$CERTS/server.crt" --tls-key "$CERTS/server.key")
	local a
	for a in "$@"; do
		case $a in
		mtls) TLS_FLAGS+=(--tls-client-ca "$CERTS/ca.crt") ;;
		token) TLS_FLAGS+=(--token-file "$TOKEN_FILE") ;;
		esac
	done
}

# start_tcp_agent [flags]: a free loopback port picked at random; another one if it was taken.
start_tcp_agent() {
	local try
	for try in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 40000))
		ss -Htln "sport = :$PORT" | grep -q . && continue
		: >"$AGENT_LOG"
		if start_agent --listen "127.0.0.1:$PORT" "$@"; then
			return 0
		fi
		grep -q "Address already in use" "$AGENT_LOG" || return 1
	done
	return 1
}

URL() {
	echo "https://127.0.0.1:$PORT$1"
}

# tcurl ARGS... PATH: curl over TCP verifying the server with the CA; prints the body, then "HTTP NNN".
tcurl() {
	local path=${*: -1}
	curl -sS --max-time 20 --cacert "$CERTS/ca.crt" -w '\nHTTP %{http_code}\n' "${@:1:$#-1}" "$(URL "$path")"
}

CLIENT=(--cert "$CERTS/client.crt" --key "$CERTS/client.key")

rctl() { # droverctl against the TCP listener
	"$DROVERCTL" --server "$(URL "")" --cacert "$CERTS/ca.crt" "$@"
}

@test "--listen refuses to start in clear, unauthenticated, or with a token file others can read" {
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" --listen 127.0.0.1:7443
	[ "$status" -eq 2 ]
	[[ "$output" == *"--listen needs --tls-cert and --tls-key"* ]]
	tls_flags
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--listen 127.0.0.1:7443 "${TLS_FLAGS[@]}"
	[ "$status" -eq 2 ]
	[[ "$output" == *"needs --tls-client-ca (mutual TLS) or --token-file (bearer token)"* ]]
	chmod 644 "$TOKEN_FILE"
	tls_flags token
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--listen 127.0.0.1:7443 "${TLS_FLAGS[@]}"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--token-file '$TOKEN_FILE' has mode 0644"*"chmod 600"* ]]
	[[ "$output" != *"$TOKEN"* ]]
	chmod 640 "$TOKEN_FILE"
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--listen 127.0.0.1:7443 "${TLS_FLAGS[@]}"
	[ "$status" -eq 2 ]
	[[ "$output" == *"has mode 0640"* ]]
	mkdir "$T/tokdir"
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--listen 127.0.0.1:7443 "${TLS_FLAGS[@]:0:4}" --token-file "$T/tokdir"
	[ "$status" -eq 2 ]
	[[ "$output" == *"is not a regular file"* ]]
	chmod 600 "$TOKEN_FILE"
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--listen 127.0.0.1 "${TLS_FLAGS[@]}"
	[ "$status" -eq 2 ]
	[[ "$output" == *"is not ADDR:PORT"* ]]
	drv_run "$DROVERD" --config "$T/droverd.conf" --state-dir "$STATE" --run-dir "$RUN" \
		--system-reserved cpu=lots
	[ "$status" -eq 2 ]
	[[ "$output" == *"--system-reserved: cpu 'lots'"* ]]
	# refused before anything was made
	[ ! -e "$STATE" ]
	[ ! -e "$RUN" ]
}

@test "bearer token: none or a wrong one gets 401 with WWW-Authenticate, the right one 200; never logged" {
	tls_flags token
	start_tcp_agent "${TLS_FLAGS[@]}"
	drv_run tcurl -D "$T/h1" /v1/instances
	[[ "$output" == *"HTTP 401"* ]]
	grep -qi '^WWW-Authenticate: Bearer realm="droverd"' "$T/h1"
	[ "$(echo "${lines[0]}" | jq -r .error)" = "a bearer token is required" ]
	drv_run tcurl -D "$T/h2" -H "Authorization: Bearer ${TOKEN}x" /v1/instances
	[[ "$output" == *"HTTP 401"* ]]
	grep -qi '^WWW-Authenticate: Bearer realm="droverd", error="invalid_token"' "$T/h2"
	drv_run tcurl -H "Authorization: Bearer ${TOKEN:0:10}" /v1/healthz
	[[ "$output" == *"HTTP 401"* ]]
	drv_run tcurl -H "Authorization: Basic $(printf 'a:%s' "$TOKEN" | base64 -w0)" /v1/healthz
	[[ "$output" == *"HTTP 401"* ]]
	drv_run tcurl -H "Authorization: Bearer $TOKEN" /v1/instances
	[[ "$output" == *"HTTP 200"* ]]
	[ "${lines[0]}" = "[]" ]
	drv_run tcurl -H "authorization: bearer $TOKEN" /v1/healthz
	[[ "$output" == *"HTTP 200"* ]]
	# the unix socket needs no token, as before
	drv_run api GET /v1/healthz
	[[ "$output" == *"HTTP 200"* ]]
	grep -q "refused GET /v1/instances from 127.0.0.1 over TCP: no bearer token" "$AGENT_LOG"
	! grep -qF "$TOKEN" "$AGENT_LOG"
	! grep -qF "${TOKEN}x" "$AGENT_LOG"
}

@test "mutual TLS: no client certificate or one from another CA fails the handshake; the CA's gets 200" {
	tls_flags mtls
	start_tcp_agent "${TLS_FLAGS[@]}"
	# no certificate: TLS 1.2 fails inside the handshake; under TLS 1.3 the client learns it on its
	# first read. Either way no HTTP response comes back.
	drv_run curl -sS --max-time 10 --cacert "$CERTS/ca.crt" -o /dev/null -w '%{http_code}' "$(URL /v1/healthz)"
	[ "$status" -ne 0 ]
	[ "$output" != 200 ]
	[[ "$output" == *000* ]]
	drv_run curl -sS --max-time 10 --tls-max 1.2 --cacert "$CERTS/ca.crt" -o /dev/null "$(URL /v1/healthz)"
	[ "$status" -eq 35 ] # CURLE_SSL_CONNECT_ERROR: the handshake itself failed
	drv_run curl -sS --max-time 10 --cacert "$CERTS/ca.crt" --cert "$CERTS/stranger.crt" \
		--key "$CERTS/stranger.key" -o /dev/null -w '%{http_code}' "$(URL /v1/healthz)"
	[ "$status" -ne 0 ]
	[[ "$output" == *000* ]]
	drv_run curl -sS --max-time 10 --tls-max 1.2 --cacert "$CERTS/ca.crt" --cert "$CERTS/stranger.crt" \
		--key "$CERTS/stranger.key" -o /dev/null "$(URL /v1/healthz)"
	[ "$status" -eq 35 ]
	drv_run tcurl "${CLIENT[@]}" /v1/healthz
	[[ "$output" == *"HTTP 200"* ]]
	[ "$(echo "${lines[0]}" | jq -r .status)" = ok ]
	drv_run tcurl --tls-max 1.2 "${CLIENT[@]}" /v1/instances
	[[ "$output" == *"HTTP 200"* ]]
}

@test "droverctl --server works for every command with client certificates, and with a token" {
	tls_flags mtls
	start_tcp_agent "${TLS_FLAGS[@]}"
	spec web '.command = ["sh", "-c", "echo hello-tcp; while true; do echo tick; sleep 0.2; done"]' >"$T/web.json"
	drv_run rctl "${CLIENT[@]}" apply -f "$T/web.json"
	[ "$status" -eq 0 ]
	wait_for 10 phase_is web running
	drv_run rctl "${CLIENT[@]}" ps
	[ "$status" -eq 0 ]
	[[ "$output" == *web*running* ]]
	drv_run rctl "${CLIENT[@]}" -o json inspect web
	[ "$(echo "$output" | jq -r .phase)" = running ]
	drv_run rctl "${CLIENT[@]}" logs web
	[[ "$output" == *hello-tcp* ]]
	timeout 3 "$DROVERCTL" --server "$(URL "")" --cacert "$CERTS/ca.crt" "${CLIENT[@]}" logs -f web \
		>"$T/follow.out" 2>&1 || true
	[ "$(grep -c tick "$T/follow.out")" -ge 3 ]
	drv_run rctl "${CLIENT[@]}" node
	[[ "$output" == *"allocatable.cpu_millis"* ]]
	drv_run rctl "${CLIENT[@]}" events --once --after 0 --wait 1
	[ "$status" -eq 0 ]
	[[ "$output" == *web*running* ]]
	drv_run rctl "${CLIENT[@]}" image ls
	[ "$status" -eq 0 ]
	# the environment names the server and the credentials just as well
	drv_run env DROVER_SERVER="$(URL "")" DROVER_CACERT="$CERTS/ca.crt" DROVER_CERT="$CERTS/client.crt" \
		DROVER_KEY="$CERTS/client.key" "$DROVERCTL" ps
	[[ "$output" == *web*running* ]]
	# without the client certificate droverctl cannot reach the agent at all
	drv_run rctl ps
	[ "$status" -eq 3 ]
	[[ "$output" == *"cannot reach droverd"* ]]
	drv_run rctl "${CLIENT[@]}" rm web
	[ "$status" -eq 0 ]
	wait_for 10 bash -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/web"
	stop_agent
	tls_flags token
	start_tcp_agent "${TLS_FLAGS[@]}"
	drv_run rctl --token-file "$TOKEN_FILE" ps
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *ID*PHASE* ]]
	drv_run rctl --token-file "$TOKEN_FILE" -o json node
	[ "$(echo "$output" | jq -r .name)" != null ]
	drv_run rctl ps
	[ "$status" -eq 1 ]
	[[ "$output" == *"bearer token is required"* ]]
}

@test "droverctl refuses to send a token over plain http to a non-loopback host, warns for loopback" {
	SECONDS=0
	drv_run "$DROVERCTL" --server http://192.0.2.1:7443 --token-file "$TOKEN_FILE" ps
	[ "$status" -ne 0 ]
	[[ "$output" == *"refusing to send the --token-file token in clear to 'http://192.0.2.1:7443'"* ]]
	[ "$SECONDS" -lt 5 ] # refused before any connection attempt (192.0.2.1 would time out)
	drv_run "$DROVERCTL" --server http://127.0.0.1@192.0.2.1:7443 --token-file "$TOKEN_FILE" ps
	[[ "$output" == *"refusing to send"* ]]
	# loopback: a warning, then the request (a plain listener here records what arrives)
	PORT=$((20000 + RANDOM % 40000))
	socat -T 1 "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr" "OPEN:$T/got,creat,append" &
	local spid=$!
	sleep 0.3
	drv_run timeout 5 "$DROVERCTL" --server "http://127.0.0.1:$PORT" --token-file "$TOKEN_FILE" ps
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	[[ "$output" == *"warning: sending the bearer token over plain http:// (loopback only)"* ]]
	grep -q "Authorization: Bearer $TOKEN" "$T/got"
}

@test "a body over the 1 MiB cap gets 413 over TCP before it is read; smaller ones go through" {
	tls_flags token
	start_tcp_agent "${TLS_FLAGS[@]}"
	head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
	drv_run tcurl -H "Authorization: Bearer $TOKEN" -X PUT -H 'Content-Type: application/json' \
		--data-binary "@$T/big.json" /v1/instances/big
	[[ "$output" == *"HTTP 413"* ]]
	[[ "$output" == *"larger than 1048576 bytes"* ]]
	# the cap is checked after authentication: a stranger's big body gets 401, not 413
	drv_run tcurl -X PUT --data-binary "@$T/big.json" /v1/instances/big
	[[ "$output" == *"HTTP 401"* ]]
	spec small '.command = ["sleep", "1000"]' >"$T/small.json"
	drv_run tcurl -H "Authorization: Bearer $TOKEN" -X PUT -H 'Content-Type: application/json' \
		--data-binary "@$T/small.json" /v1/instances/small
	[[ "$output" == *"HTTP 201"* ]]
	wait_for 10 phase_is small running
	drv_run api GET /v1/instances/big
	[[ "$output" == *"HTTP 404"* ]]
}

@test "idle TCP connections are closed, waiting long-polls are not; one address gets 32 connections" {
	tls_flags token
	start_tcp_agent "${TLS_FLAGS[@]}" --api-idle-timeout 2
	# a connection that never starts its handshake is closed after the idle timeout
	local idle
	exec {idle}<>"/dev/tcp/127.0.0.1/$PORT" # (bats owns fd 3)
	SECONDS=0
	timeout 10 cat <&"$idle" >/dev/null || true
	exec {idle}<&-
	[ "$SECONDS" -ge 1 ]
	[ "$SECONDS" -le 5 ]
	# an event long-poll suspended for 4 s, longer than the idle timeout, still gets its answer
	last=$(tcurl -H "Authorization: Bearer $TOKEN" /v1/events?after=0 | head -1 | jq .last)
	(sleep 4; put_file late '.command = ["sleep", "1000"]') &
	local writer=$!
	SECONDS=0
	drv_run tcurl -H "Authorization: Bearer $TOKEN" "/v1/events?after=$last&wait=15"
	[[ "$output" == *"HTTP 200"* ]]
	[ "$SECONDS" -ge 3 ]
	[ "$(echo "${lines[0]}" | jq '[.events[] | select(.id == "late")] | length')" -ge 1 ]
	wait "$writer"
	# per-address limit: 32 open connections, the 33rd is closed at once
	local fds=() i fd
	for i in $(seq 1 32); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
		fds+=("$fd")
	done
	sleep 0.3
	drv_run tcurl -H "Authorization: Bearer $TOKEN" /v1/healthz
	[[ "$output" != *"HTTP 200"* ]]
	for fd in "${fds[@]}"; do
		exec {fd}<&-
	done
	wait_for 5 bash -c "curl -sf --cacert '$CERTS/ca.crt' -H 'Authorization: Bearer $TOKEN' '$(URL /v1/healthz)'"
}

@test "GET /v1/node: capacity, allocatable = capacity - reserved, allocated by qos, usage, conditions" {
	tls_flags mtls
	start_tcp_agent "${TLS_FLAGS[@]}" --system-reserved cpu=500m,memory=512Mi,pids=1000
	put_file on1 '.command = ["sleep", "1000"] | .resources = {cpu: "250m", memory: "64Mi", pids: 100}'
	put_file ba1 '.command = ["sleep", "1000"] | .qos = "batch" | .resources = {cpu: "100m", memory: "32Mi"}'
	wait_for 10 phase_is on1 running
	wait_for 10 phase_is ba1 running
	drv_run tcurl "${CLIENT[@]}" /v1/node
	[[ "$output" == *"HTTP 200"* ]]
	n="${lines[0]}"
	jqn() { echo "$n" | jq -e "$@"; }
	jqn '(.name | type == "string") and (.version | type == "string")'
	jqn '.started_at | test("^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")'
	jqn '.capacity | (.cpu_millis > 0) and (.memory_bytes > 0) and (.pids > 0) and (.ephemeral_storage_bytes > 0)'
	jqn '.capacity.cpu_millis == ('"$(nproc)"' * 1000)'
	pid_max=$(cat /proc/sys/kernel/pid_max)
	thr_max=$(cat /proc/sys/kernel/threads-max)
	jqn ".capacity.pids == ([$pid_max, $thr_max] | min)"
	jqn '.system_reserved == {cpu_millis: 500, memory_bytes: 536870912, pids: 1000, ephemeral_storage_bytes: 0}'
	jqn '.allocatable.cpu_millis == .capacity.cpu_millis - 500'
	jqn '.allocatable.memory_bytes == .capacity.memory_bytes - 536870912'
	jqn '.allocatable.pids == .capacity.pids - 1000'
	jqn '.allocatable.ephemeral_storage_bytes == .capacity.ephemeral_storage_bytes'
	jqn '.allocated.online == {cpu_millis: 250, memory_bytes: 67108864, pids: 100, instances: 1}'
	jqn '.allocated.batch == {cpu_millis: 100, memory_bytes: 33554432, pids: 0, instances: 1}'
	jqn '.allocated.total.instances == 2 and .allocated.total.cpu_millis == 350'
	# usage from the cgroup root: two sleeping containers
	jqn '.usage.memory_bytes > 0 and .usage.memory_working_set_bytes >= 0 and .usage.pids >= 2'
	jqn '.usage.cpu_usage_nanoseconds >= 0 and .usage.ephemeral_storage_bytes > 0'
	jqn '[.conditions[].type] == ["MemoryPressure", "DiskPressure", "PIDPressure"]'
	jqn '[.conditions[] | .status | IN("True", "False", "Unknown")] | all'
	jqn '[.conditions[] | (.reason | type == "string") and (.message | type == "string")] | all'
	if [ -r /proc/pressure/memory ]; then
		jqn '.pressure.memory.some_avg10 | type == "number"'
	fi
	jqn '.instances.total == 2 and .instances.by_phase.running == 2'
	# a second read has a CPU rate
	sleep 0.2
	drv_run tcurl "${CLIENT[@]}" /v1/node
	echo "${lines[0]}" | jq -e '.usage.cpu_millis | type == "number"'
	# an instance stopped for good no longer counts
	rm "$ASSIGN/ba1.json"
	wait_for 10 bash -c "! curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/ba1"
	drv_run api GET /v1/node
	echo "${lines[0]}" | jq -e '.allocated.batch.instances == 0 and .allocated.online.instances == 1'
}
