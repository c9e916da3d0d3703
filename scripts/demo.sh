#!/usr/bin/env bash
# `make demo`: decide a workload and show what was decided.
# Uses cwgen's realistic workload when build/cwgen exists, else the shared conformance traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
mkdir -p "$out"
if [ -x build/cwgen ]; then
	build/cwgen --seed 42 --messages 200000 --out "$out" >/dev/null
	rules=$out/rules.cw registry=$out/registry.csv senders=$out/senders.csv req=$out/requests.pcap
else
	V=${CW_VECTORS:-../shared/vectors}
	rules=$V/rules.cw registry=$V/registry.csv senders=$V/senders.csv req=$V/requests.pcap
	echo "demo: build/cwgen not built yet: deciding the shared conformance traffic ($V)"
fi
echo "== rule set"
build/cwctl check "$rules"
echo
echo "== decisions (cwctl simulate: the gateway's engine, offline)"
build/cwctl simulate --rules "$rules" --registry "$registry" --senders "$senders" \
	--in "$req" --out "$out/responses.pcap"
echo
echo "== the first answers on the wire (cwctl decode)"
build/cwctl decode --in "$out/responses.pcap" >"$out/responses.txt"
head -25 "$out/responses.txt"
echo
echo "responses written to $out/responses.pcap"
