#!/usr/bin/env bash
# Two workers: one net_pcap port with two RX/TX queue pairs (one capture each), so each worker
# polls its own queue and answers on its own TX queue, concurrently, against shared tables.
# The traffic is two independent cwgen workloads (the second one's sender ids moved by 100), so
# that the answers do not depend on how the workers interleave: the multiset of all answers must
# equal `cwctl simulate`'s on the concatenation, and each worker's answers those of its input.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools
split=$ROOT/tests/tools/pcapsplit.py

workload --seed 42 --messages 40000 --out "$WORK/a"
workload --seed 2 --messages 40000 --out "$WORK/b"
python3 "$split" remap "$WORK/b/requests.pcap" "$WORK/b2.pcap" 100
{
	cat "$WORK/a/senders.csv"
	tail -n +2 "$WORK/b/senders.csv" | awk -F, -v OFS=, '{ $1 += 100; print }'
} >"$WORK/senders.csv"
{
	cat "$WORK/a/registry.csv"
	tail -n +2 "$WORK/b/registry.csv"
} | awk -F, '!seen[$1]++' >"$WORK/registry.csv"
files=(--rules "$WORK/a/rules.cw" --registry "$WORK/registry.csv" --senders "$WORK/senders.csv")

simulate "$WORK/a/requests.pcap" "$WORK/sim-a.pcap" "${files[@]}"
simulate "$WORK/b2.pcap" "$WORK/sim-b.pcap" "${files[@]}"
python3 "$split" cat "$WORK/all.pcap" "$WORK/a/requests.pcap" "$WORK/b2.pcap"
simulate "$WORK/all.pcap" "$WORK/sim-all.pcap" "${files[@]}"
python3 "$split" cat "$WORK/sim-ab.pcap" "$WORK/sim-a.pcap" "$WORK/sim-b.pcap"
# the premise: the two workloads do not interact
"$TOOLS/pcapcmp" multiset "$WORK/sim-ab.pcap" "$WORK/sim-all.pcap" >/dev/null ||
	fail "the two workloads interact; the test needs independent ones"

# main lcore 0 and worker 1 share CPU 0 (the main lcore sleeps), worker 2 has CPU 1
vdev="net_pcap0,rx_pcap=$WORK/a/requests.pcap,rx_pcap=$WORK/b2.pcap"
vdev+=",tx_pcap=$WORK/got-a.pcap,tx_pcap=$WORK/got-b.pcap"
# shellcheck disable=SC2046
capped timeout 120 "$GW" $(eal_args workers "0@0,1@0,2@1") --vdev "$vdev" \
	-- "${files[@]}" --idle-exit 500 --summary-json "$WORK/sum.json" >"$WORK/out.txt" 2>&1 ||
	{ tail -30 "$WORK/out.txt"; fail "clearway exited with $?"; }
check_accounting "$WORK/sum.json"
[ "$(json_get "$WORK/sum.json" workers)" = 2 ] || fail "not two workers"
grep -q "polling the driver's 2 RX queues" "$WORK/out.txt" || fail "port not set up with 2 queues"

"$TOOLS/pcapcmp" seq "$WORK/got-a.pcap" "$WORK/sim-a.pcap" || fail "worker 0 answers"
"$TOOLS/pcapcmp" seq "$WORK/got-b.pcap" "$WORK/sim-b.pcap" || fail "worker 1 answers"
python3 "$split" cat "$WORK/got.pcap" "$WORK/got-a.pcap" "$WORK/got-b.pcap"
"$TOOLS/pcapcmp" multiset "$WORK/got.pcap" "$WORK/sim-all.pcap" || fail "all answers"
echo "workers: $(json_get "$WORK/sum.json" accounting)"
