#!/usr/bin/env bash
# The gateway on the conformance vectors (net_pcap, one worker, no hugepages): its response
# capture must carry the same UDP payloads to the same addresses and ports as
# vectors/responses.pcap and as `cwctl simulate`, in order, with valid checksums, and its
# counters must add up and agree with the vectors' own counts.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools
V=$VECTORS
[ -f "$V/requests.pcap" ] || fail "no conformance vectors at $V"

files=(--rules "$V/rules.cw" --registry "$V/registry.csv" --senders "$V/senders.csv")
# shellcheck disable=SC2046
timeout 60 "$GW" $(eal_args vectors) \
	--vdev "net_pcap0,rx_pcap=$V/requests.pcap,tx_pcap=$WORK/got.pcap" \
	-- "${files[@]}" --idle-exit 300 --summary-json "$WORK/sum.json" >"$WORK/out.txt" 2>&1 ||
	{ cat "$WORK/out.txt"; fail "clearway exited with $?"; }
check_accounting "$WORK/sum.json"

"$TOOLS/pcapcmp" seq "$WORK/got.pcap" "$V/responses.pcap" || fail "differs from responses.pcap"
simulate "$V/requests.pcap" "$WORK/sim.pcap" "${files[@]}"
"$TOOLS/pcapcmp" seq "$WORK/got.pcap" "$WORK/sim.pcap" || fail "differs from cwctl simulate"

# Every request frame is either answered or dropped under a cause.
frames=$("$TOOLS/pcapcmp" count "$V/requests.pcap" | awk '{print $1 + $3}')
[ "$(json_get "$WORK/sum.json" rx_packets)" = "$frames" ] || fail "rx_packets != $frames frames"
# One response datagram per answered request at most 19 verdicts: 379 datagrams in the vectors.
want=$("$TOOLS/pcapcmp" count "$V/responses.pcap" | awk '{print $1, $2}')
got="$(json_get "$WORK/sum.json" tx.sent) $(json_get "$WORK/sum.json" messages)"
[ "$got" = "$want" ] || fail "sent/messages '$got', vectors have '$want'"
echo "vectors: $(json_get "$WORK/sum.json" accounting)"
