#!/usr/bin/env bash
# SIGHUP while traffic flows: the gateway reads requests from a FIFO that this script fills
# chunk by chunk; halfway through, the rule file gets a new version and the gateway a SIGHUP.
# No answer may be lost (every datagram answered exactly as `cwctl simulate` answers it, apart
# from the version field), every answer stream switches version once and never back, both
# versions are seen, and telemetry reports the new rule set. Then a broken rule file and another
# SIGHUP: the version stays and the failure is reported. A version-only edit must go live as a
# delta on the last full build (the incremental parse and the shared tables), and then be
# folded into a full build of its own text. Also checks the
# four telemetry commands while the gateway runs.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools

W=$WORK/w
workload --seed 42 --messages 60000 --senders 6 --out "$W"
v1=$(awk '$1 == "version" {print $2; exit}' "$W/rules.cw")
v2=$((v1 + 1))
cp "$W/rules.cw" "$WORK/live.cw"
files=(--rules "$WORK/live.cw" --registry "$W/registry.csv" --senders "$W/senders.csv")
simulate "$W/requests.pcap" "$WORK/sim.pcap" "${files[@]}"

frames=$("$TOOLS/pcapcmp" count "$W/requests.pcap" | awk '{print $1 + $3}')
nchunks=$(python3 "$ROOT/tests/tools/pcapsplit.py" chunks "$W/requests.pcap" "$WORK/chunk." 320)
mkfifo "$WORK/in.fifo"
prefix=cwit-reload-$$
# shellcheck disable=SC2046
( # capped as in capped(), but a plain subshell so that $! is the gateway itself
	ulimit -v 8388608
	exec "$GW" $(eal_args reload) --vdev "net_pcap0,rx_pcap=$WORK/in.fifo,tx_pcap=$WORK/got.pcap" \
		-- "${files[@]}" --summary-json "$WORK/sum.json" >"$WORK/out.txt" 2>&1
) &
gw=$!
GW_PIDS+=("$gw")
# Writing into a FIFO blocks while nobody reads it: should the gateway die, stop after 120 s.
watchdog "$gw" $$ 120
exec 3>"$WORK/in.fifo" # blocks until the gateway opens its end

tel() { python3 "$ROOT/tests/tools/telemetry.py" "$prefix" "$1" --wait 20; }
half=$((nchunks / 2))
for ((i = 0; i < nchunks; i++)); do
	cat "$WORK/chunk.$(printf %04d $i)" >&3
	if [ $i -eq 1 ]; then
		for c in stats latency ruleset stores; do
			tel /clearway/$c >"$WORK/tel-$c.json" || fail "telemetry /clearway/$c"
		done
	fi
	if [ $i -eq "$half" ]; then
		sed -i "s/^version $v1\$/version $v2/" "$WORK/live.cw"
		kill -HUP "$gw"
	fi
	sleep 0.05
done
exec 3>&- # end of the capture

# Wait until every frame is in, then stop the gateway.
for ((t = 0; t < 200; t++)); do
	rx=$(tel /clearway/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["rx_packets"])')
	[ "$rx" = "$frames" ] && break
	sleep 0.1
done
[ "$rx" = "$frames" ] || fail "gateway received $rx of $frames frames"
tel /clearway/ruleset >"$WORK/tel-ruleset-after.json"
# A second small edit in a row (traffic is over, so no stream switches again): a delta again,
# on the full build the first one was folded into right after it went live.
v3=$((v2 + 1))
sed -i "s/^version $v2\$/version $v3/" "$WORK/live.cw"
kill -HUP "$gw"
for ((t = 0; t < 100; t++)); do
	grep -q "SIGHUP: rule set version $v3 live" "$WORK/out.txt" && break
	sleep 0.05
done
grep -q "SIGHUP: rule set version $v3 live after .*(delta on the last full build)" "$WORK/out.txt" ||
	fail "a second version-only change was not built as a delta"
# its fold runs in the background (control/fold.h): let it land before the next SIGHUP
for ((t = 0; t < 200; t++)); do
	grep -q "rule set version $v3 folded into a full build" "$WORK/out.txt" && break
	sleep 0.05
done
# A rule file that does not compile is not activated: the old version stays, the failure shows.
echo "this is not a rule" >>"$WORK/live.cw"
kill -HUP "$gw"
for ((t = 0; t < 100; t++)); do
	tel /clearway/ruleset >"$WORK/tel-ruleset-bad.json"
	[ "$(json_get "$WORK/tel-ruleset-bad.json" load_failures)" = 1 ] && break
	sleep 0.05
done
kill -TERM "$gw"
wait "$gw" || { tail -30 "$WORK/out.txt"; fail "clearway exited with an error"; }
GW_PIDS=()

check_accounting "$WORK/sum.json"
grep -q "SIGHUP: rule set version $v2 live" "$WORK/out.txt" || fail "no reload in the log"
grep -q "SIGHUP: rule set version $v2 live after .*(delta on the last full build)" "$WORK/out.txt" ||
	fail "a version-only change was not built as a delta"
for v in "$v2" "$v3"; do # each delta then replaced by the full build of its text
	grep -q "clearway: rule set version $v folded into a full build" "$WORK/out.txt" ||
		fail "version $v was not folded into a full build"
done
[ "$(json_get "$WORK/tel-ruleset-after.json" version)" = "$v2" ] || fail "telemetry: version"
[ "$(json_get "$WORK/tel-ruleset-after.json" loads)" = 2 ] || fail "telemetry: loads"
[ "$(json_get "$WORK/tel-ruleset.json" version)" = "$v1" ] || fail "telemetry before: version"
[ "$(json_get "$WORK/tel-ruleset-bad.json" load_failures)" = 1 ] || fail "bad file not reported"
[ "$(json_get "$WORK/tel-ruleset-bad.json" version)" = "$v3" ] || fail "bad file changed the version"
grep -q "SIGHUP: .*keeping version $v3" "$WORK/out.txt" || fail "bad file not in the log"
[ "$(json_get "$WORK/tel-stats.json" rx_packets)" -gt 0 ] || fail "telemetry: no packets"
json_get "$WORK/tel-latency.json" p99_ns >/dev/null || fail "telemetry: latency"
[ "$(json_get "$WORK/tel-stores.json" senders)" = 6 ] || fail "telemetry: senders"

"$TOOLS/pcapcmp" seq "$WORK/got.pcap" "$WORK/sim.pcap" --ignore-version ||
	fail "answers differ from cwctl simulate"
out=$("$TOOLS/pcapcmp" versions "$WORK/got.pcap") || { echo "$out"; fail "a stream went back"; }
echo "$out"
echo "$out" | grep -q " v$v1: [1-9]" || fail "no answer under version $v1"
echo "$out" | grep -q " v$v2: [1-9]" || fail "no answer under version $v2"
# every stream is active from start to end here, so each must have switched exactly once
echo "$out" | grep -qE " ([0-9]+) streams, \1 switched" || fail "a stream did not switch"
echo "reload: $(json_get "$WORK/sum.json" accounting)"
