#!/usr/bin/env bash
# --tx-port: the gateway receives on port 0 and answers through port 1 (the benchmark set-up:
# requests from a capture, answers into net_null). With a capture on port 1 the answers must be
# exactly `cwctl simulate`'s, and port 0 must send nothing; with net_null on port 1 the counters
# must still add up and every answer be counted as sent.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools
export CW_CORPUS=${CW_CORPUS:-$ROOT/../shared/corpus}
W=$WORK/w
workload --seed 21 --messages 20000 --senders 5 --out "$W"
files=(--rules "$W/rules.cw" --registry "$W/registry.csv" --senders "$W/senders.csv")
simulate "$W/requests.pcap" "$WORK/sim.pcap" "${files[@]}"

# 1. answers into a capture on port 1
# shellcheck disable=SC2046
capped timeout 120 "$GW" $(eal_args txpcap) \
	--vdev "net_pcap0,rx_pcap=$W/requests.pcap,tx_pcap=$WORK/port0.pcap" \
	--vdev "net_pcap1,tx_pcap=$WORK/port1.pcap" \
	-- "${files[@]}" --tx-port 1 --idle-exit 300 --summary-json "$WORK/a.json" \
	>"$WORK/a.txt" 2>&1 || { cat "$WORK/a.txt"; fail "clearway (pcap tx port) exited with $?"; }
check_accounting "$WORK/a.json"
compare_counters "$WORK/sim.pcap.json" "$WORK/a.json" || fail "counters differ from simulate"
"$TOOLS/pcapcmp" seq "$WORK/port1.pcap" "$WORK/sim.pcap" || fail "port 1 differs from simulate"
n0=$("$TOOLS/pcapcmp" count "$WORK/port0.pcap" | awk '{print $1 + $3}')
[ "$n0" = 0 ] || fail "port 0 sent $n0 frames, want 0"

# 2. answers into net_null
# shellcheck disable=SC2046
capped timeout 120 "$GW" $(eal_args txnull) \
	--vdev "net_pcap0,rx_pcap=$W/requests.pcap,tx_pcap=$WORK/port0b.pcap" --vdev net_null0 \
	-- "${files[@]}" --tx-port 1 --idle-exit 300 --summary-json "$WORK/b.json" \
	>"$WORK/b.txt" 2>&1 || { cat "$WORK/b.txt"; fail "clearway (null tx port) exited with $?"; }
check_accounting "$WORK/b.json"
compare_counters "$WORK/sim.pcap.json" "$WORK/b.json" || fail "counters differ from simulate (null)"
echo "tx-port: pcap $(json_get "$WORK/a.json" accounting); null $(json_get "$WORK/b.json" accounting)"
