#!/usr/bin/env bash
# cwgen workloads through the gateway (net_pcap, one worker, no hugepages) against `cwctl
# simulate` on the same inputs: a clean one and one with --bad (broken messages, dropped
# datagrams, stale and retransmitted ones). The response captures must be equal datagram by
# datagram (payloads, addresses, ports, valid checksums) and the counters equal simulate's.
# A third run uses big datagrams and a small MTU, so that answers span several datagrams (the
# first built in the request's mbuf, the others in fresh ones); a fourth, stores of 16 entries
# on both sides (`--*-capacity`), so that answers are STORE_FULL rejects alike. A last run
# replays the clean workload from memory (net_pcap infinite_rx, as bench/run.sh measures it) and
# stops after one pass with --max-packets: exactly simulate's answers again, nothing from a
# second pass, in full RX bursts but the last (rx_bursts, rx_full_bursts), with the worker's
# busy cycles counted.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools

# gateway NAME DIR RX-VDEV-ARGS ARGS...: clearway on DIR's files, answers to DIR/got.pcap.
gateway() {
	local name=$1 w=$2 rx=$3
	shift 3
	# shellcheck disable=SC2046
	capped timeout 120 "$GW" $(eal_args "$name") \
		--vdev "net_pcap0,rx_pcap=$w/requests.pcap,tx_pcap=$w/got.pcap$rx" \
		-- "$@" --summary-json "$w/sum.json" >"$w/out.txt" 2>&1 ||
		{ tail -30 "$w/out.txt"; fail "$name: clearway exited with $?"; }
	check_accounting "$w/sum.json"
}

run_one() { # name "options of both clearway and simulate" cwgen-args...
	local name=$1 opts=$2
	shift 2
	local w=$WORK/$name
	workload --out "$w" "$@"
	local files=(--rules "$w/rules.cw" --registry "$w/registry.csv" --senders "$w/senders.csv")
	# shellcheck disable=SC2206
	files+=($opts)
	simulate "$w/requests.pcap" "$w/sim.pcap" "${files[@]}"
	gateway "$name" "$w" "" "${files[@]}" --idle-exit 400
	"$TOOLS/pcapcmp" seq "$w/got.pcap" "$w/sim.pcap" || fail "$name: answers differ from simulate"
	compare_counters "$w/sim.pcap.json" "$w/sum.json" || fail "$name: counters differ"
	echo "$name: $(json_get "$w/sum.json" accounting)"
}

run_one clean "" --seed 42 --messages 60000
run_one bad "" --seed 5 --messages 60000 --bad 0.2 --senders 5
run_one mtu "--mtu 576" --seed 42 --messages 20000 --batch 40
[ "$(json_get "$WORK/mtu/sum.json" tx.fresh)" -gt 0 ] || fail "mtu: no answer spanned datagrams"
# stores as small as both allow: the STORE_FULL answers must be the same too
run_one stores "--manifest-capacity 16 --ecom-capacity 16 --buyer-capacity 16" --seed 7 --messages 5000
[ "$(json_get "$WORK/stores/sim.pcap.json" rejects.STORE_FULL)" -gt 0 ] || fail "stores: none full"

# One pass of the clean workload from memory.
w=$WORK/clean
frames=$("$TOOLS/pcapcmp" count "$w/requests.pcap" | awk '{print $1 + $3}')
gateway memory "$w" ",infinite_rx=1" --rules "$w/rules.cw" --registry "$w/registry.csv" \
	--senders "$w/senders.csv" --max-packets "$frames" --mbufs $((frames + 16384))
"$TOOLS/pcapcmp" seq "$w/got.pcap" "$w/sim.pcap" || fail "memory: answers differ from simulate"
compare_counters "$w/sim.pcap.json" "$w/sum.json" || fail "memory: counters differ"
# infinite_rx always fills a burst, and --max-packets trims only the last one
bursts=$(json_get "$w/sum.json" rx_bursts) full=$(json_get "$w/sum.json" rx_full_bursts)
[ "$bursts" = $(((frames + 31) / 32)) ] && [ "$full" = $((frames / 32)) ] ||
	fail "memory: $bursts bursts, $full of them full, for $frames frames"
# the worker's busy cycles (bursts that brought packets, RX to answers): some, and no more than
# the TSC can have counted in the active time (at most 10 GHz)
busy=$(json_get "$w/sum.json" busy_cycles) active=$(json_get "$w/sum.json" active_s)
python3 -c "import sys; b, a = int(sys.argv[1]), float(sys.argv[2]); sys.exit(not 0 < b <= a * 1e10)" \
	"$busy" "$active" || fail "memory: busy_cycles $busy in $active s"
echo "memory: $(json_get "$w/sum.json" accounting)"
