#!/usr/bin/env bash
# Hostile input: floods of truncated frames, wrong magic, every header error, unknown senders,
# spoofed sources, IPv4/IPv6 fragments, bad checksums, other ports and protocols, broken and
# unknown messages; then random bytes and randomly damaged datagrams. The gateway must never
# crash, must count every frame under its exact cause (known floods) and its counters must add
# up (random input). Runs the ASan+UBSan build too when it exists.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools

printf 'id,prefixes,name\n1,10.1.0.0/16,s1\n2,10.1.0.0/16,s2\n3,10.1.0.0/16,s3\n' >"$WORK/senders.csv"
"$TOOLS/hostile" known "$WORK/known.pcap" "$WORK/expect.json" --seed 11 --each 1500 2>/dev/null
"$TOOLS/hostile" random "$WORK/random.pcap" --seed 12 --count 30000 2>/dev/null

run() { # binary name input
	local bin=$1 name=$2 in=$3
	# shellcheck disable=SC2046
	timeout 120 "$bin" $(eal_args "$name") \
		--vdev "net_pcap0,rx_pcap=$in,tx_pcap=$WORK/$name.out.pcap" \
		-- --senders "$WORK/senders.csv" --idle-exit 400 \
		--summary-json "$WORK/$name.json" >"$WORK/$name.txt" 2>&1 ||
		{ tail -30 "$WORK/$name.txt"; fail "$name: clearway exited with $?"; }
	check_accounting "$WORK/$name.json"
}

# The expected counters, key by key, against the summary.
compare_expected() {
	python3 - "$WORK/expect.json" "$1" <<'PY'
import json, sys
want, got = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bad = []
def walk(w, g, path):
    for k, v in w.items():
        if isinstance(v, dict):
            walk(v, g.get(k, {}), path + k + ".")
        elif g.get(k) != v:
            bad.append(f"{path}{k}: got {g.get(k)}, want {v}")
walk(want, got, "")
print("\n".join(bad) if bad else f"all {sum(1 for _ in want)} groups of counters as expected")
sys.exit(1 if bad else 0)
PY
}

bins=("$GW")
[ -x "$ROOT/build-asan/clearway" ] && bins+=("$ROOT/build-asan/clearway")
for bin in "${bins[@]}"; do
	tag=$(basename "$(dirname "$bin")")
	run "$bin" "known-$tag" "$WORK/known.pcap"
	compare_expected "$WORK/known-$tag.json" || fail "$tag: counters differ from expectations"
	[ "$(json_get "$WORK/known-$tag.json" tx.sent)" = \
		"$(json_get "$WORK/expect.json" answered_datagrams)" ] || fail "$tag: answers sent"
	run "$bin" "random-$tag" "$WORK/random.pcap"
	[ "$(json_get "$WORK/random-$tag.json" rx_packets)" = 30000 ] || fail "$tag: not all frames seen"
	echo "$tag: known $(json_get "$WORK/known-$tag.json" accounting)"
	echo "$tag: random $(json_get "$WORK/random-$tag.json" accounting)"
done
