#!/usr/bin/env bash
# cwkbase pace (bench/kbase/pace.c): the paced generator the latency and update experiments
# drive the gateway with over net_memif. Checked here against a real gateway: asked for far more
# than the gateway takes, pace without --hold drops what the memif ring refuses and counts it
# (refused_frames), and with --hold drops nothing and counts what it had to send again
# (deferred_frames); in both, every frame pace says it sent reached the gateway and was
# answered (the gateway's accounting; the answers go to a null port, as in the benchmark), and
# the JSON has the documented fields.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools
[ -x "$BUILD/cwkbase" ] || fail "$BUILD/cwkbase is not built"

W=$WORK/w
workload --seed 5 --messages 20000 --senders 4 --out "$W"
files=(--rules "$W/rules.cw" --registry "$W/registry.csv" --senders "$W/senders.csv")

# one RUN [pace flags...]: a gateway (memif server, answers to net_null) and pace against it for
# one second at 50 M msgs/s, a rate no gateway here takes; leaves $WORK/RUN-{pace,gw}.json.
one() {
	local run=$1 sock=$WORK/$1.sock
	shift
	# shellcheck disable=SC2046
	"$GW" $(eal_args "pace-gw-$run") --vdev "net_memif0,role=server,socket=$sock" \
		--vdev net_null0 -- "${files[@]}" --tx-port 1 --stats 1 --summary-json "$WORK/$run-gw.json" \
		>"$WORK/$run-gw.out" 2>"$WORK/$run-gw.err" &
	local gw=$!
	GW_PIDS+=("$gw")
	watchdog "$gw" 120
	local t=0
	until grep -q 'worker.*UDP port' "$WORK/$run-gw.err" 2>/dev/null; do
		kill -0 "$gw" 2>/dev/null || fail "$run: the gateway exited: $(tail -3 "$WORK/$run-gw.err")"
		[ $((t += 1)) -lt 300 ] || fail "$run: the gateway did not start"
		sleep 0.1
	done
	# The generator keeps its end of the link until the gateway has stopped (--until-down):
	# DPDK 22.11's memif unmaps a link's memory when the peer goes, whatever the side that still
	# polls is doing (pace.c), and a gateway polling at full load crashed once that way here.
	# shellcheck disable=SC2046
	timeout 60 "$BUILD/cwkbase" pace $(eal_args "pace-gen-$run" 0) \
		--vdev "net_memif0,role=client,socket=$sock" -- --in "$W/requests.pcap" \
		--rate 50000000 --seconds 1 --wait 20 --until-down 30 --json "$WORK/$run-pace.json" "$@" \
		>"$WORK/$run-pace.out" 2>&1 &
	local pace=$!
	t=0
	until [ -s "$WORK/$run-pace.json" ]; do # written whole, then renamed into place
		kill -0 "$pace" 2>/dev/null || fail "$run: pace exited without a report: $(tail -3 "$WORK/$run-pace.out")"
		[ $((t += 1)) -lt 600 ] || fail "$run: no pace report"
		sleep 0.1
	done
	kill -INT "$gw"
	wait "$gw" || fail "$run: the gateway exited with $?"
	wait "$pace" || fail "$run: pace exited with $?: $(tail -3 "$WORK/$run-pace.out")"
	check_accounting "$WORK/$run-gw.json"
}

# check RUN HOLD: the pace report of RUN against its gateway's summary
check() {
	python3 - "$WORK/$1-pace.json" "$WORK/$1-gw.json" "$2" <<'PY' || fail "$1: $(cat "$WORK/$1-pace.json")"
import json, sys
p, g, hold = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3] == "1"
for k in ["rate", "seconds", "frames", "messages", "refused_frames", "refused_messages", "passes",
          "rx_frames", "hold", "deferred_frames", "msgs_per_s", "late_ms_per_s", "refused_per_s"]:
    assert k in p, f"missing {k}"
assert p["hold"] == hold
assert p["frames"] > 0 and p["messages"] >= p["frames"]
# every frame the port took reached the gateway, and each was answered
assert g["rx_packets"] == p["frames"], (g["rx_packets"], p["frames"])
assert g["answered_datagrams"] == p["frames"]
if hold:
    assert p["refused_frames"] == 0 and p["refused_messages"] == 0
    assert p["deferred_frames"] > 0, "nothing deferred: the gateway kept up with 50 M msgs/s?"
else:
    assert p["deferred_frames"] == 0
    assert p["refused_frames"] > 0 and p["refused_messages"] >= p["refused_frames"]
assert sum(p["refused_per_s"]) == (p["deferred_frames"] if hold else p["refused_frames"])
print(f"ok   {'--hold' if hold else 'no hold'}: {p['frames']} frames sent and answered, "
      f"{p['refused_frames']} refused, {p['deferred_frames']} deferred")
PY
}

one drop
check drop 0
one hold --hold
check hold 1

# The gateway's progress lines (--stats 1) under that load: a second with traffic reports how
# many packets its RX bursts brought, between 1 and the burst size (32), and more than one a
# burst when it cannot keep up with what it is offered.
python3 - "$WORK/hold-gw.err" <<'PY' || fail "progress lines: $(grep 'clearway: pkts' "$WORK/hold-gw.err" | tail -3)"
import re, sys
v = [(int(m.group(1)), float(m.group(2))) for m in re.finditer(
    r"clearway: pkts \d+ msgs \d+ \((\d+) msgs/s\).* cycles/msg \d+ pkts/burst ([\d.]+)$",
    open(sys.argv[1]).read(), re.M)]
busy = [b for r, b in v if r > 0]
assert busy, "no progress line with traffic"
assert all(1 <= b <= 32 for b in busy), busy
assert max(busy) > 1, busy
print(f"ok   progress lines: {len(busy)} with traffic, packets per burst {min(busy)}-{max(busy)}")
PY
