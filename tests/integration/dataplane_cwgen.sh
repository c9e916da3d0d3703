#!/usr/bin/env bash
# cwgen workloads through the gateway (net_pcap, one worker, no hugepages) against `cwctl
# simulate` on the same inputs: a clean one and one with --bad (broken messages, dropped
# datagrams, stale and retransmitted ones). The response captures must be equal datagram by
# datagram (payloads, addresses, ports, valid checksums) and the counters equal simulate's.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools
[ -x "$BUILD/cwgen" ] || fail "build/cwgen is not built"

run_one() { # name cwgen-args...
	local name=$1
	shift
	local w=$WORK/$name
	"$BUILD/cwgen" --out "$w" "$@" >/dev/null 2>&1 || fail "cwgen $*"
	local files=(--rules "$w/rules.cw" --registry "$w/registry.csv" --senders "$w/senders.csv")
	simulate "$w/requests.pcap" "$w/sim.pcap" "${files[@]}"
	# shellcheck disable=SC2046
	timeout 120 "$GW" $(eal_args "$name") \
		--vdev "net_pcap0,rx_pcap=$w/requests.pcap,tx_pcap=$w/got.pcap" \
		-- "${files[@]}" --idle-exit 400 --summary-json "$w/sum.json" >"$w/out.txt" 2>&1 ||
		{ tail -30 "$w/out.txt"; fail "$name: clearway exited with $?"; }
	check_accounting "$w/sum.json"
	"$TOOLS/pcapcmp" seq "$w/got.pcap" "$w/sim.pcap" || fail "$name: answers differ from simulate"
	compare_counters "$w/sim.pcap.json" "$w/sum.json" || fail "$name: counters differ"
	echo "$name: $(json_get "$w/sum.json" accounting)"
}

run_one clean --seed 42 --messages 60000
run_one bad --seed 3 --messages 60000 --bad 0.2 --senders 5
