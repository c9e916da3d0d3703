#!/usr/bin/env bash
# A registry bigger than the default capacity (1 Mi enterprises): `cwctl simulate` and the
# gateway make room for every row of --registry, or of cw:ent in Redis, and decide alike (the
# answers equal datagram by datagram, the counters equal); given a smaller --registry-capacity,
# the gateway refuses to start and says the registry is full, and a malformed row is reported
# as such, not as a full registry. (Before, both stopped at about 1.03 M rows of a file, and
# from Redis silently left the rest unknown.)
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools

W=$WORK/w
workload --seed 9 --messages 3000 --enterprises 1100000 --rules 200 --profiles 200 \
	--out "$W"
rows=$(($(wc -l <"$W/registry.csv") - 1))
[ "$rows" -gt 1048576 ] || fail "the workload has only $rows enterprises"
files=(--rules "$W/rules.cw" --registry "$W/registry.csv" --senders "$W/senders.csv")

simulate "$W/requests.pcap" "$W/sim.pcap" "${files[@]}"
echo "ok   simulate: $rows enterprises loaded"

# gateway NAME ARGS...: clearway on the workload, answers to $WORK/NAME.pcap; its exit code
gateway() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	capped timeout 120 "$GW" $(eal_args "reg-$name") \
		--vdev "net_pcap0,rx_pcap=$W/requests.pcap,tx_pcap=$WORK/$name.pcap" \
		-- "$@" --idle-exit 400 --summary-json "$WORK/$name.json" >"$WORK/$name.out" 2>&1
}

gateway sized "${files[@]}" || { tail -20 "$WORK/sized.out"; fail "clearway exited with $?"; }
grep -q "clearway: $rows enterprises from" "$WORK/sized.out" || fail "not every row loaded"
check_accounting "$WORK/sized.json"
"$TOOLS/pcapcmp" seq "$WORK/sized.pcap" "$W/sim.pcap" || fail "answers differ from simulate"
compare_counters "$W/sim.pcap.json" "$WORK/sized.json" || fail "counters differ from simulate"
echo "ok   clearway: $rows enterprises loaded, answers and counters equal simulate's"

gateway small "${files[@]}" --registry-capacity 1000000 && fail "started with a registry too small"
grep -q "the registry is full (room for 1000000 enterprises" "$WORK/small.out" ||
	fail "no clear error: $(grep registry "$WORK/small.out")"
echo "ok   --registry-capacity 1000000: $(grep -o 'registry.csv:[0-9]*: .*' "$WORK/small.out")"

sed '3s/.*/91ABC,good/' "$W/registry.csv" >"$WORK/bad.csv"
"$CWCTL" simulate --rules "$W/rules.cw" --registry "$WORK/bad.csv" --senders "$W/senders.csv" \
	--in "$W/requests.pcap" --out "$WORK/bad.pcap" 2>"$WORK/bad.err" && fail "a bad row was accepted"
grep -q 'bad.csv:3: expected `uscc,class`' "$WORK/bad.err" || fail "bad row: $(cat "$WORK/bad.err")"
grep -q full "$WORK/bad.err" && fail "a bad row reported as a full registry"
echo "ok   malformed row: $(cat "$WORK/bad.err")"

# The same registry in Redis (cw:ent), for `cwctl simulate --redis`: it sizes its registry to
# HLEN cw:ent and answers as from the files.
command -v redis-server >/dev/null || fail "redis-server is not installed"
SOCK=$WORK/redis.sock
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$WORK" --save '' \
	--appendonly no --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" >/dev/null
redis_stop() { # redis-server writes its log and removes its files as it exits: wait for it
	local pid
	pid=$(cat "$WORK/redis.pid" 2>/dev/null) && kill "$pid" 2>/dev/null &&
		for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	cleanup
}
trap redis_stop EXIT
for _ in $(seq 200); do
	[ "$(redis-cli -s "$SOCK" PING 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
tail -n +2 "$W/registry.csv" | awk -F, '{printf "*4\r\n$4\r\nHSET\r\n$6\r\ncw:ent\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length($1), $1, length($2), $2}' |
	redis-cli -s "$SOCK" --pipe >"$WORK/pipe.log" 2>&1 || fail "loading cw:ent: $(tail -3 "$WORK/pipe.log")"
[ "$(redis-cli -s "$SOCK" HLEN cw:ent)" = "$rows" ] || fail "cw:ent has $(redis-cli -s "$SOCK" HLEN cw:ent) rows"
export CW_REDIS=unix:$SOCK
while IFS=, read -r id pfx name; do
	"$CWCTL" sender set "$id" "$pfx" "$name" >/dev/null || fail "cwctl sender set $id"
done < <(tail -n +2 "$W/senders.csv")
"$CWCTL" push "$W/rules.cw" --activate >/dev/null || fail "cwctl push"
capped "$CWCTL" simulate --redis "unix:$SOCK" --in "$W/requests.pcap" --out "$WORK/redis.pcap" \
	>"$WORK/redis.out" 2>"$WORK/redis.err" || fail "simulate --redis: $(tail -3 "$WORK/redis.err")"
grep -q "$rows enterprises" "$WORK/redis.err" || fail "simulate --redis: $(cat "$WORK/redis.err")"
"$TOOLS/pcapcmp" seq "$WORK/redis.pcap" "$W/sim.pcap" || fail "simulate --redis answers otherwise"
echo "ok   simulate --redis: $rows enterprises from cw:ent, the same answers"

# And the gateway following that Redis: its registry sized to HLEN cw:ent at start.
gateway gwredis --redis "unix:$SOCK" --node regtest ||
	{ tail -20 "$WORK/gwredis.out"; fail "clearway --redis exited with $?"; }
grep -q "full load: $rows enterprises ($rows changed" "$WORK/gwredis.out" ||
	fail "clearway --redis: $(grep 'full load' "$WORK/gwredis.out")"
check_accounting "$WORK/gwredis.json"
"$TOOLS/pcapcmp" seq "$WORK/gwredis.pcap" "$W/sim.pcap" || fail "clearway --redis answers otherwise"
echo "ok   clearway --redis: $rows enterprises from cw:ent, the same answers"
