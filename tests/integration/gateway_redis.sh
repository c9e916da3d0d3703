#!/usr/bin/env bash
# clearway --redis end to end, against a private redis-server (unix socket in the scratch
# directory, AOF on so that a killed server comes back with its stream):
#  1. a cwgen workload loaded into Redis with cwctl (ent import, sender set, push --activate);
#     the gateway on net_pcap with the request capture answers byte for byte what
#     `cwctl simulate --redis` answers on the same capture, with the same counters; it reports
#     cw:node, cw:stats and cw:journal, and its node reads `state stopped` once it has stopped.
#  2. Churn while traffic flows (requests through a FIFO, chunk by chunk, as in the reload
#     test): a one-rule delta, registry set/del and sender set events, a full new rule set, then
#     redis-server killed (SIGKILL) and restarted while the gateway keeps answering, then one more
#     delta that must arrive over the re-established connection. Every packet is answered, no
#     drop of any kind, answer streams never go back a version, the summary ends on the last
#     version activated.
#  3. Without Redis: --no-wait answers at once (every datagram dropped as from an unknown sender,
#     since nothing could be loaded); without --no-wait it waits, and SIGTERM stops it cleanly.
#  4. --redis with a file option is a usage error.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools
command -v redis-server >/dev/null || fail "redis-server is not installed"

SOCK=$WORK/redis.sock
RADDR=unix:$SOCK
export CW_REDIS=$RADDR

# (fd 3, the FIFO's write end in part 2, is closed for the daemon: it would hold the FIFO open)
redis_start() {
	redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$WORK" \
		--save '' --appendonly yes --appendfsync always --daemonize yes \
		--pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" >/dev/null 3>&-
	for _ in $(seq 200); do
		# PING answers LOADING while an AOF is read back
		[ "$(redis-cli -s "$SOCK" PING 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	fail "redis-server did not start: $(tail -5 "$WORK/redis.log")"
}
redis_kill() {
	local pid
	pid=$(cat "$WORK/redis.pid" 2>/dev/null) || return 0
	kill -KILL "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$WORK/redis.pid"
}
# the gateways first (they write into $WORK until they exit), then Redis, then the scratch files;
# CW_KEEP=DIR keeps a copy of them for a post-mortem
stop_all() {
	local p
	exec 3>&- # a worker blocked on the FIFO would never see the stop
	for p in "${GW_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	GW_PIDS=()
	redis_kill
	[ -z "${CW_KEEP:-}" ] || cp -r "$WORK" "$CW_KEEP"
	rm -rf /var/run/dpdk/cwit-redis*-$$
	cleanup
}
trap stop_all EXIT
trap 'exit 143' TERM INT # the watchdog's TERM too: the EXIT trap then stops Redis
R() { redis-cli -s "$SOCK" --raw "$@"; }
ctl() { "$CWCTL" "$@" >>"$WORK/cwctl.log" 2>&1 || { tail -5 "$WORK/cwctl.log"; fail "cwctl $*"; }; }
hget() { R HGET "$1" "$2"; }
tel() { python3 "$ROOT/tests/tools/telemetry.py" "$1" "$2" --wait 20; }
tel_version() { tel "$1" /clearway/ruleset | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }

# load_workload DIR: registry, senders and the rule set of a cwgen workload into Redis
load_workload() {
	ctl ent import "$1/registry.csv"
	local id pfx name
	while IFS=, read -r id pfx name; do
		ctl sender set "$id" "$pfx" "$name"
	done < <(tail -n +2 "$1/senders.csv")
	ctl push "$1/rules.cw" --activate
}

redis_start

# ---------------------------------------------------------------- 1. same answers as simulate
W=$WORK/w
workload --seed 42 --messages 60000 --senders 6 --out "$W"
v1=$(awk '$1 == "version" {print $2; exit}' "$W/rules.cw")
load_workload "$W"
[ "$(R HLEN cw:senders)" = 6 ] || fail "senders not in Redis"

simulate "$W/requests.pcap" "$WORK/sim.pcap" --redis "$RADDR"
grep -q "from $RADDR: cw:ruleset:$v1, 10000 enterprises, 6 senders" "$WORK/simulate.log" ||
	{ cat "$WORK/simulate.log"; fail "simulate --redis did not say what it loaded"; }
# the same inputs from files give the same answers
simulate "$W/requests.pcap" "$WORK/sim-files.pcap" --rules "$W/rules.cw" \
	--registry "$W/registry.csv" --senders "$W/senders.csv"
cmp -s "$WORK/sim.pcap" "$WORK/sim-files.pcap" || fail "simulate --redis differs from files"
# the backtest against a stored candidate (pushed, not activated) is the backtest of the files
sed 's/^version .*/version 990/' "$W/rules.cw" >"$WORK/cand.cw"
printf 'rule 990001 mode supervise reason "backtest alert" when hs 84\n' >>"$WORK/cand.cw"
ctl push "$WORK/cand.cw"
simulate "$W/requests.pcap" "$WORK/bt.pcap" --redis "$RADDR" --diff 990
mv "$WORK/bt.pcap.json" "$WORK/bt-redis.json"
simulate "$W/requests.pcap" "$WORK/bt.pcap" --rules "$W/rules.cw" --diff "$WORK/cand.cw" \
	--registry "$W/registry.csv" --senders "$W/senders.csv"
cmp -s "$WORK/bt-redis.json" "$WORK/bt.pcap.json" || fail "simulate --redis --diff 990 differs from files"
grep -q '"changed":0,' "$WORK/bt.pcap.json" && fail "the candidate changed nothing"
[ "$(R GET cw:ruleset:active)" = "$v1" ] || fail "the backtest activated the candidate"

# shellcheck disable=SC2046
capped "$GW" $(eal_args redis1) \
	--vdev "net_pcap0,rx_pcap=$W/requests.pcap,tx_pcap=$WORK/got.pcap" \
	-- --redis "$RADDR" --node gw-a --idle-exit 300 --summary-json "$WORK/sum.json" \
	>"$WORK/out.txt" 2>"$WORK/err.txt" || { tail -20 "$WORK/err.txt"; fail "clearway --redis failed"; }
check_accounting "$WORK/sum.json"
"$TOOLS/pcapcmp" seq "$WORK/got.pcap" "$WORK/sim.pcap" || fail "answers differ from simulate --redis"
compare_counters "$WORK/sim.pcap.json" "$WORK/sum.json" || fail "counters differ"
[ "$(json_get "$WORK/sum.json" ruleset_version)" = "$v1" ] || fail "summary: version"
[ "$(json_get "$WORK/sum.json" ruleset_source)" = "redis cw:ruleset:$v1" ] || fail "summary: source"
grep -q "rule set version $v1 (redis cw:ruleset:$v1)" "$WORK/out.txt" || fail "text summary: version"
grep -q "Redis $RADDR as node gw-a" "$WORK/err.txt" || fail "no Redis line in the log"
# what the gateway left in Redis
[ "$(hget cw:node:gw-a state)" = stopped ] || fail "node state: $(hget cw:node:gw-a state)"
[ "$(hget cw:node:gw-a status)" = ok ] || fail "node status: $(hget cw:node:gw-a error)"
[ "$(hget cw:node:gw-a version)" = "$v1" ] || fail "node version"
[ "$(hget cw:node:gw-a ent_count)" = 10000 ] || fail "node ent_count"
[ "$(hget cw:node:gw-a sender_count)" = 6 ] || fail "node sender_count"
[ -n "$(hget cw:node:gw-a updated_ms)" ] || fail "node: no heartbeat"
[ "$(hget cw:stats:gw-a rx_packets)" = "$(json_get "$WORK/sum.json" rx_packets)" ] ||
	fail "cw:stats rx_packets"
queued=$(json_get "$WORK/sum.json" journal.queued)
[ "$queued" -gt 0 ] || fail "nothing journaled"
[ "$(json_get "$WORK/sum.json" journal.overflow)" = 0 ] || fail "journal overflow"
[ "$(hget cw:stats:gw-a control_journal_written)" = "$queued" ] || fail "journal: written"
[ "$(R XLEN cw:journal)" = "$queued" ] || fail "cw:journal has $(R XLEN cw:journal) of $queued"
[ "$(R XRANGE cw:journal - + COUNT 1 | sed -n 3p)" = gw-a ] || fail "journal entry: node"
echo "redis 1: $(json_get "$WORK/sum.json" accounting); $queued journal entries"

# ---------------------------------------------------------------- 2. churn while traffic flows
W2=$WORK/w2
workload --seed 7 --messages 150000 --senders 6 --out "$W2"
workload --seed 8 --messages 10 --senders 6 --rules 1500 --version 300 --out "$WORK/w3"
R FLUSHALL >/dev/null
load_workload "$W2"
va=$(awk '$1 == "version" {print $2; exit}' "$W2/rules.cw")
vb=$((va + 1)) vc=300 vd=301
# a one-rule delta of va, a full set (1500 other rules), a one-rule delta of that
sed "s/^version $va\$/version $vb/" "$W2/rules.cw" >"$WORK/vb.cw"
echo "rule 990001 mode verify when hs 0101" >>"$WORK/vb.cw"
cp "$WORK/w3/rules.cw" "$WORK/vc.cw"
sed "s/^version $vc\$/version $vd/" "$WORK/vc.cw" >"$WORK/vd.cw"
echo "rule 990002 mode sample when hs 0201" >>"$WORK/vd.cw"
for f in vb vc vd; do "$CWCTL" check "$WORK/$f.cw" >/dev/null || fail "$f.cw does not compile"; done
uscc_set=$(sed -n 2p "$W2/registry.csv" | cut -d, -f1)
uscc_del=$(sed -n 3p "$W2/registry.csv" | cut -d, -f1)
s3=$(sed -n 4p "$W2/senders.csv" | cut -d, -f2) # sender 3's prefixes: kept, only the name changes

frames=$("$TOOLS/pcapcmp" count "$W2/requests.pcap" | awk '{print $1 + $3}')
nchunks=$(python3 "$ROOT/tests/tools/pcapsplit.py" chunks "$W2/requests.pcap" "$WORK/chunk." 100)
mkfifo "$WORK/in.fifo"
prefix=cwit-redis2-$$
# shellcheck disable=SC2046
( # capped as in capped(), but a plain subshell so that $! is the gateway itself
	case "$GW" in *build-asan*) ;; *) ulimit -v 8388608 ;; esac
	exec "$GW" $(eal_args redis2) --vdev "net_pcap0,rx_pcap=$WORK/in.fifo,tx_pcap=$WORK/got2.pcap" \
		-- --redis "$RADDR" --node gw-b --summary-json "$WORK/sum2.json" >"$WORK/out2.txt" 2>&1
) &
gw=$!
GW_PIDS+=("$gw")
watchdog "$gw" $$ 300
exec 3>"$WORK/in.fifo" # blocks until the gateway has loaded from Redis and opened the FIFO

# The worker blocks reading the FIFO while this script does not write, and a rule set goes live
# only once the worker passes a quiescent state: so the script keeps writing chunks while it
# waits for a version (`want`), and starts the next step only once the previous one is live.
# Steps: a one-rule delta; registry and sender events; a full new set; redis-server killed, and
# restarted two chunks later; a delta that must arrive over the new connection.
want=
live() {
	if [ -n "$want" ] && [ "$(tel_version "$prefix")" = "$want" ]; then want=; fi
}
steps=(delta events full kill restart after)
next=0
gap=$((nchunks / 10))
last_step=0
for ((i = 0; i < nchunks; i++)); do
	cat "$WORK/chunk.$(printf %04d $i)" >&3
	live
	if [ -z "$want" ] && [ $next -lt ${#steps[@]} ] && [ $((i - last_step)) -ge $gap ]; then
		last_step=$i
		case ${steps[$next]} in
		delta)
			[ "$(hget cw:node:gw-b state)" = running ] || fail "node not running"
			ctl push "$WORK/vb.cw" --activate
			want=$vb
			;;
		events)
			ctl ent set "$uscc_set" serious
			ctl ent del "$uscc_del"
			ctl sender set 3 "$s3" "Guangzhou Nansha, renamed"
			ctl sender set 99 "192.0.2.0/24" "Unused test sender"
			;;
		full)
			ctl push "$WORK/vc.cw" --activate
			want=$vc
			;;
		kill)
			redis_kill
			last_step=$((i - gap + 2)) # restart two chunks later
			;;
		restart)
			redis_start
			;;
		after)
			ctl push "$WORK/vd.cw" --activate
			ctl ent set "$uscc_del" warning
			want=$vd
			;;
		esac
		next=$((next + 1))
	fi
	sleep 0.02
done
[ $next = ${#steps[@]} ] && [ -z "$want" ] ||
	{ tail -20 "$WORK/out2.txt"; fail "ran out of traffic at step $next (waiting for '$want')"; }
exec 3>&-

for ((t = 0; t < 300; t++)); do
	rx=$(tel "$prefix" /clearway/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["rx_packets"])')
	[ "$rx" = "$frames" ] && break
	sleep 0.1
done
[ "$rx" = "$frames" ] || fail "gateway received $rx of $frames frames"
tel "$prefix" /clearway/ruleset >"$WORK/tel-ruleset.json"
tel "$prefix" /clearway/stores >"$WORK/tel-stores.json"
# the heartbeat is about once a second: wait for one that has seen every event
ents=$(R HLEN cw:ent)
for ((t = 0; t < 100; t++)); do
	[ "$(hget cw:node:gw-b ent_count)" = "$ents" ] && [ "$(hget cw:node:gw-b sender_count)" = 7 ] && break
	sleep 0.1
done
R HGETALL cw:node:gw-b >"$WORK/node-running.txt"
kill -TERM "$gw"
wait "$gw" || { tail -30 "$WORK/out2.txt"; fail "clearway exited with an error"; }
GW_PIDS=()

S=$WORK/sum2.json
check_accounting "$S"
[ "$(json_get "$S" rx_packets)" = "$frames" ] || fail "rx_packets"
[ "$(json_get "$S" answered_datagrams)" = "$frames" ] || fail "not every datagram answered"
for d in header unknown_sender source fragment checksum l2l4 too_long tx; do
	[ "$(json_get "$S" drops.$d)" = 0 ] || fail "drops.$d = $(json_get "$S" drops.$d)"
done
[ "$(json_get "$S" ruleset_version)" = "$vd" ] || fail "summary version $(json_get "$S" ruleset_version), want $vd"
[ "$(json_get "$WORK/tel-ruleset.json" source)" = "redis cw:ruleset:$vd" ] || fail "telemetry: source"
[ "$(json_get "$WORK/tel-stores.json" senders)" = 7 ] || fail "telemetry: senders"
grep -q "events connection lost" "$WORK/out2.txt" || fail "the Redis kill was not noticed"
grep -q "redis $RADDR: connected" "$WORK/out2.txt" || fail "no reconnection in the log"
grep -q "rule set v$vd active" "$WORK/out2.txt" || fail "v$vd not activated"
out=$("$TOOLS/pcapcmp" versions "$WORK/got2.pcap") || { echo "$out"; fail "an answer stream went back"; }
for v in "$va" "$vb" "$vc" "$vd"; do
	echo "$out" | grep -q " v$v: [1-9]" || { echo "$out"; fail "no answer under version $v"; }
done
# the node, while running and after the stop
grep -qx running "$WORK/node-running.txt" || fail "node state while running"
[ "$(sed -n '/^ent_count$/{n;p}' "$WORK/node-running.txt")" = "$ents" ] || fail "node ent_count"
[ "$(hget cw:node:gw-b state)" = stopped ] || fail "node state after stop"
[ "$(hget cw:node:gw-b status)" = ok ] || fail "node status: $(hget cw:node:gw-b error)"
[ "$(hget cw:node:gw-b version)" = "$vd" ] || fail "node version"
[ "$(hget cw:node:gw-b last_event)" = "$(R XREVRANGE cw:events + - COUNT 1 | head -1)" ] ||
	fail "node last_event is not the stream's last"
[ -n "$(hget cw:node:gw-b updated_ms)" ] || fail "node heartbeat"
[ "$(hget cw:stats:gw-b rx_packets)" = "$frames" ] || fail "cw:stats rx_packets"
[ "$(hget cw:stats:gw-b control_activations)" = 4 ] || fail "activations: $(hget cw:stats:gw-b control_activations)"
[ "$(hget cw:stats:gw-b control_reconnects)" -ge 1 ] || fail "no reconnect counted"
[ "$(hget cw:stats:gw-b control_events_malformed)" = 0 ] || fail "malformed events"
[ "$(hget cw:stats:gw-b control_ruleset_errors)" = 0 ] || fail "rule-set errors"
[ "$(R XLEN cw:journal)" -gt 0 ] || fail "no journal entries from gw-b"
[ "$(R XRANGE cw:journal - + COUNT 1 | sed -n 3p)" = gw-b ] || fail "journal entry: node"
echo "redis 2: $(json_get "$S" accounting); versions: $(echo "$out" | tail -1)"
echo "redis 2: $(hget cw:stats:gw-b control_events_applied) events applied," \
	"$(hget cw:stats:gw-b control_delta_activations) delta activations," \
	"$(hget cw:stats:gw-b control_reconnects) reconnects"

# ---------------------------------------------------------------- 3. no Redis
redis_kill
# shellcheck disable=SC2046
capped "$GW" $(eal_args redis3) --vdev "net_pcap0,rx_pcap=$W/requests.pcap" \
	-- --redis "$RADDR" --node gw-c --no-wait --idle-exit 300 --summary-json "$WORK/sum3.json" \
	>"$WORK/out3.txt" 2>&1 || { tail -20 "$WORK/out3.txt"; fail "clearway --no-wait failed"; }
check_accounting "$WORK/sum3.json"
[ "$(json_get "$WORK/sum3.json" drops.unknown_sender)" = "$(json_get "$WORK/sum3.json" datagrams)" ] ||
	fail "--no-wait without Redis: datagrams not dropped as from unknown senders"
[ "$(json_get "$WORK/sum3.json" ruleset_version)" = 0 ] || fail "--no-wait: version"
grep -q "retrying" "$WORK/out3.txt" || fail "--no-wait: no retry in the log"

# shellcheck disable=SC2046
"$GW" $(eal_args redis4) --vdev "net_pcap0,rx_pcap=$W/requests.pcap" \
	-- --redis "$RADDR" --node gw-d >"$WORK/out4.txt" 2>&1 &
gw=$!
GW_PIDS+=("$gw")
for ((t = 0; t < 200; t++)); do grep -qs retrying "$WORK/out4.txt" && break; sleep 0.05; done
grep -q retrying "$WORK/out4.txt" || fail "waiting gateway: no retry in the log"
kill -TERM "$gw"
wait "$gw" || { cat "$WORK/out4.txt"; fail "waiting gateway: SIGTERM was not a clean stop"; }
GW_PIDS=()
grep -q "before the first load" "$WORK/out4.txt" || fail "waiting gateway: no stop line"

# ---------------------------------------------------------------- 4. usage
set +e
"$GW" $(eal_args redis5) -- --redis "$RADDR" --rules "$W/rules.cw" >"$WORK/out5.txt" 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "--redis with --rules: exit $rc, want 2"
grep -q -- "--rules cannot be combined with --redis" "$WORK/out5.txt" || fail "no usage message"
echo "redis: ok"
