#!/usr/bin/env bats
# etcd: droverd --etcd watches PREFIX/nodes/NODE/instances/ in a real etcd (Debian's etcd-server)
# and writes statuses to PREFIX/status/NODE[/ID] under a lease it keeps alive.

load helpers

setup_file() {
	image_setup_file
}

setup() {
	drv_setup
	NODE="n$UNIQ"
	etcd_start
}

teardown() {
	drv_teardown
	[ -z "${ETCD_PID:-}" ] || kill -CONT "$ETCD_PID" 2>/dev/null || true
	etcd_stop
}

gone() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://localhost/v1/instances/$1")" = 404 ]
}

@test "etcd: put starts, a higher revision replaces, delete removes; statuses written under a lease" {
	etcd_put e1 '.command = ["sleep", "1000"] | .revision = 1'
	start_etcd_agent
	wait_for 10 phase_is e1 running
	[ "$(status_of e1 .source)" = etcd ]
	wait_for 5 sh -c "[ \"\$(ETCDCTL_API=3 etcdctl --endpoints=$ETCD_URL get --print-value-only /drover/status/$NODE/e1 | jq -r .phase)\" = running ]"
	[ "$(etcd_status e1 .pid)" = "$(status_of e1 .pid)" ]
	[ "$(etcdctl_ get --print-value-only "/drover/status/$NODE" | jq -r .name)" = "$NODE" ]
	# every status key is attached to one live lease
	lease=$(etcdctl_ get -w json "/drover/status/$NODE/e1" | jq -r '.kvs[0].lease')
	[ "$lease" != null ] && [ "$lease" -gt 0 ]
	pid=$(status_of e1 .pid)
	etcd_put e2 '.command = ["sleep", "1000"]'
	wait_for 10 phase_is e2 running
	[ "$(status_of e1 .pid)" = "$pid" ] # an unrelated change leaves e1 alone
	etcd_put e1 '.command = ["sleep", "1001"] | .revision = 2'
	wait_for 10 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/e1 | jq .revision)\" = 2 ]"
	wait_for 10 phase_is e1 running
	[ "$(status_of e1 .pid)" != "$pid" ]
	etcdctl_ del "/drover/nodes/$NODE/instances/e1" >/dev/null
	wait_for 10 gone e1
	wait_for 5 sh -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints=$ETCD_URL get --print-value-only /drover/status/$NODE/e1)\" ]"
	[ "$(status_of e2 .phase)" = running ]
	[ "$(grep -c 'etcd connected' "$AGENT_LOG")" -eq 1 ]
}

@test "etcd: junk and a spec under another id's key are refused; the rest keep running" {
	etcd_put ok1 '.command = ["sleep", "1000"]'
	start_etcd_agent
	wait_for 10 phase_is ok1 running
	pid=$(status_of ok1 .pid)
	etcdctl_ put "/drover/nodes/$NODE/instances/junk" 'this is { not json' >/dev/null
	etcdctl_ put "/drover/nodes/$NODE/instances/liar" "$(spec other '.command = ["sleep", "1000"]')" >/dev/null
	etcdctl_ put "/drover/nodes/$NODE/instances/bad" "$(spec bad '.resources = {memory: "lots"}')" >/dev/null
	wait_for 10 grep -q "key for 'junk' does not hold a JSON object" "$AGENT_LOG"
	wait_for 10 grep -q "names instance 'liar' but its spec has another id" "$AGENT_LOG"
	wait_for 10 sh -c "[ \"\$(ETCDCTL_API=3 etcdctl --endpoints=$ETCD_URL get --print-value-only /drover/status/$NODE/bad | jq -r .reason)\" = InvalidSpec ]"
	gone junk && gone liar && gone other
	[ "$(status_of ok1 .pid)" = "$pid" ]
	curl -sf --max-time 1 --unix-socket "$SOCK" http://localhost/v1/healthz >/dev/null
}

@test "etcd: the agent killed -9 lets its keys expire within the lease TTL" {
	etcd_put k1 '.command = ["sleep", "1000"]'
	start_etcd_agent --etcd-lease-ttl 3s
	wait_for 10 phase_is k1 running
	wait_for 5 sh -c "ETCDCTL_API=3 etcdctl --endpoints=$ETCD_URL get --print-value-only /drover/status/$NODE | grep -q ."
	kill9_agent
	t0=$(date +%s%N)
	wait_for 10 sh -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints=$ETCD_URL get --prefix --keys-only /drover/status/$NODE)\" ]"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -le 5000 ] # TTL 3 s + 2 s
	# the container itself is not touched by losing the keys
	start_etcd_agent --etcd-lease-ttl 3s
	[ "$(status_of k1 .phase)" = running ]
	wait_for 10 sh -c "[ \"\$(ETCDCTL_API=3 etcdctl --endpoints=$ETCD_URL get --print-value-only /drover/status/$NODE/k1 | jq -r .phase)\" = running ]"
}

# An outage of 6 s here instead of 20: what matters is that the agent retries (back-off) across it.
@test "etcd: stopped while a spec changes, then back: converges once, with no replay" {
	etcd_put s1 '.command = ["sleep", "1000"] | .revision = 1'
	etcd_put s2 '.command = ["sleep", "1000"] | .revision = 1'
	start_etcd_agent
	wait_for 10 phase_is s1 running
	wait_for 10 phase_is s2 running
	p2=$(status_of s2 .pid)
	# the agent frozen while etcd goes away and comes back with s1 changed: the agent's watch is
	# then a dead connection, and the change is only in etcd's history
	kill -STOP "$AGENT_PID"
	etcd_stop
	etcd_start
	etcd_put s1 '.command = ["sleep", "1001"] | .revision = 2'
	kill -CONT "$AGENT_PID"
	wait_for 20 sh -c "[ \"\$(curl -sf --unix-socket '$SOCK' http://localhost/v1/instances/s1 | jq .revision)\" = 2 ]"
	wait_for 10 phase_is s1 running
	sleep 6 # the outage and the agent's retries
	etcd_stop
	sleep 6
	etcd_start
	wait_for 20 grep -q "etcd back after" "$AGENT_LOG"
	sleep 1
	# s1 was replaced once; s2 never; the agent applied the list and the one change, nothing replayed
	[ "$(status_of s1 .restarts)" = 0 ]
	[ "$(status_of s2 .pid)" = "$p2" ]
	grep 'etcd: revision' "$AGENT_LOG" >&2
	[ "$(grep -c 'etcd: revision' "$AGENT_LOG")" -eq 2 ]
	[ "$(grep 'etcd: revision' "$AGENT_LOG" | tail -1 | grep -c '1 replaced')" -eq 1 ]
	[ "$(grep -c 'etcd lost' "$AGENT_LOG")" -ge 1 ]
}

@test "etcd: a compaction past the agent's revision makes it list again and converge" {
	etcd_put c1 '.command = ["sleep", "1000"]'
	start_etcd_agent
	wait_for 10 phase_is c1 running
	kill -STOP "$AGENT_PID"
	etcd_stop
	etcd_start
	etcd_put c2 '.command = ["sleep", "1000"]'
	etcdctl_ del "/drover/nodes/$NODE/instances/c1" >/dev/null
	etcd_put c3 '.command = ["sleep", "1000"]'
	rev=$(etcdctl_ get -w json /x | jq -r .header.revision)
	etcdctl_ compact "$rev" >/dev/null
	kill -CONT "$AGENT_PID"
	wait_for 20 grep -q "was compacted away; listing again" "$AGENT_LOG"
	wait_for 10 phase_is c2 running
	wait_for 10 phase_is c3 running
	wait_for 10 gone c1
}
