#!/usr/bin/env bash
# The shared conformance vectors (DESIGN §3-§5): `cwctl simulate` must answer requests.pcap with
# exactly the datagrams of responses.pcap (payloads, addresses, ports; valid checksums).
set -euo pipefail
cd "$(dirname "$0")/../.."
V=${CW_VECTORS:-../shared/vectors}
if [ ! -f "$V/requests.pcap" ]; then
	echo "conformance: no vectors at $V (skipped)"; exit 0
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
build/cwctl simulate --rules "$V/rules.cw" --registry "$V/registry.csv" \
	--senders "$V/senders.csv" --in "$V/requests.pcap" --out "$out/got.pcap" >"$out/summary.txt"
build/tests/tools/pcapcmp seq "$out/got.pcap" "$V/responses.pcap"
