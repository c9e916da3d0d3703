#!/usr/bin/env bash
# `make demo`: the gateway deciding a realistic day's sample of traffic, and what it decided.
#
# 1. cwgen writes a workload: registry of enterprises, senders, a rule set, request capture.
# 2. clearway runs on net_pcap (requests in, answers out) with one worker core, on hugepages
#    when they are there or can be reserved (root), else with --no-huge.
# 3. The answers are checked against `cwctl simulate` (the same engine, offline) and a summary
#    a person can read is printed: release modes, reasons, rules, rejects, speed, latency.
# Everything lands in demo-out/. Knobs: DEMO_MESSAGES (default 500000), DEMO_SEED (42),
# CW_DEMO_HUGE=0 to never touch hugepages.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
messages=${DEMO_MESSAGES:-500000}
seed=${DEMO_SEED:-42}
export CW_CORPUS=${CW_CORPUS:-$(cd .. && pwd)/shared/corpus}
mkdir -p "$out"
rm -f "$out"/responses.pcap "$out"/summary.json

for b in build/cwgen build/clearway build/cwctl; do
	[ -x "$b" ] || { echo "demo: $b is not built (make all)" >&2; exit 1; }
done

echo "== 1. workload: cwgen --seed $seed --messages $messages"
build/cwgen --seed "$seed" --messages "$messages" --enterprises 100000 --senders 8 \
	--out "$out" 2>&1 | sed 's/^/   /'

# Hugepages: use what is reserved, or reserve 1 GB for the run and give it back afterwards.
huge_args=(--no-huge -m 1536)
mode="no hugepages (--no-huge: 4 KB pages, first touches fault)"
restore_huge=""
huge_dir=""
cleanup() {
	if [ -n "$huge_dir" ]; then umount "$huge_dir" 2>/dev/null || true; rmdir "$huge_dir" 2>/dev/null || true; fi
	if [ -n "$restore_huge" ]; then echo "$restore_huge" >/proc/sys/vm/nr_hugepages 2>/dev/null || true; fi
}
trap cleanup EXIT
want_pages=768 # 1.5 GB of 2 MB pages
free_pages=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "${CW_DEMO_HUGE:-1}" != 0 ]; then
	mnt=$(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)
	if [ "$free_pages" -lt "$want_pages" ] && [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/nr_hugepages ]; then
		before=$(cat /proc/sys/vm/nr_hugepages)
		echo $((before + want_pages)) >/proc/sys/vm/nr_hugepages 2>/dev/null || true
		free_pages=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
		restore_huge=$before
	fi
	if [ "$free_pages" -ge "$want_pages" ] && [ -z "$mnt" ] && [ "$(id -u)" = 0 ]; then
		huge_dir=$(mktemp -d /tmp/cw-demo-huge.XXXXXX)
		mount -t hugetlbfs -o pagesize=2M nodev "$huge_dir" 2>/dev/null && mnt=$huge_dir || { rmdir "$huge_dir"; huge_dir=""; }
	fi
	if [ "$free_pages" -ge "$want_pages" ] && [ -n "$mnt" ]; then
		huge_args=(--huge-dir "$mnt" -m 1536)
		mode="hugepages (2 MB pages)"
	fi
fi

echo
echo "== 2. clearway on net_pcap, one worker core, $mode"
build/clearway -l 0-1 "${huge_args[@]}" --no-pci --no-shconf --file-prefix "cw-demo-$$" \
	--log-level='lib.*:notice' \
	--vdev "net_pcap0,rx_pcap=$out/requests.pcap,tx_pcap=$out/responses.pcap" \
	-- --rules "$out/rules.cw" --registry "$out/registry.csv" --senders "$out/senders.csv" \
	--idle-exit 500 --stats 1 --summary-json "$out/summary.json" \
	>"$out/clearway.txt" 2>"$out/clearway.log" || {
	tail -20 "$out/clearway.log" >&2
	echo "demo: clearway failed" >&2
	exit 1
}
grep -E "clearway: (pkts|rule set|[0-9]+ (enterprises|senders))" "$out/clearway.log" | sed 's/^/   /' || true
cleanup
trap - EXIT

echo
echo "== 3. the same traffic through cwctl simulate (the engine offline), compared"
build/cwctl simulate --rules "$out/rules.cw" --registry "$out/registry.csv" \
	--senders "$out/senders.csv" --in "$out/requests.pcap" --out "$out/simulated.pcap" \
	>"$out/simulate.txt" 2>&1
if build/tests/tools/pcapcmp seq "$out/responses.pcap" "$out/simulated.pcap" >"$out/compare.txt" 2>&1; then
	same="identical to cwctl simulate's, datagram by datagram"
else
	same="DIFFERENT from cwctl simulate's (see $out/compare.txt)"
fi

echo
python3 - "$out/summary.json" "$out/rules.cw" "$mode" "$same" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
mode, same = sys.argv[3], sys.argv[4]
n = lambda x: f"{x:,}"
decided = sum(s["by_mode"].values())
print("== 4. what the gateway decided")
print(f"   {n(s['rx_packets'])} frames in, {n(s['messages'])} messages "
      f"({', '.join(f'{k} {n(v)}' for k, v in s['by_type'].items() if v)})")
st = s["by_status"]
print(f"   verdicts: {n(st['DECIDED'])} decided, {n(st['ACCEPTED'])} accepted (stored), "
      f"{n(st['REJECTED'])} rejected")
print(f"\n   release modes of the {n(decided)} decided declarations and lists:")
for m, v in s["by_mode"].items():
    share = v / decided if decided else 0
    print(f"     {m:<10} {100 * share:5.1f}%  {'#' * round(40 * share)}")
print(f"     green channel (third-party certificate): {n(s['green'])}")
top = sorted(((v, k) for k, v in s["reasons"].items() if v), reverse=True)
print("\n   top reasons: " + ", ".join(f"{k} {n(v)}" for v, k in top[:6]))
print("   top rules:")
for r in s["top_rules"][:6]:
    print(f"     rule {r['id']:<6} {n(r['hits']):>9} hits  {r['reason']}")
rej = sorted(((v, k) for k, v in s["rejects"].items() if v), reverse=True)
print("   rejects: " + (", ".join(f"{k} {n(v)}" for v, k in rej) if rej else "none"))
d = s["drops"]
dropped = d["header"] + d["unknown_sender"] + d["source"] + d["fragment"] + d["checksum"] + d["l2l4"]
print(f"   dropped without answer: {n(dropped)}; TX drops {n(d['tx'])}")
lat = s["latency_ns"]
print("\n== 5. speed")
print(f"   {n(round(s['msgs_per_s']))} messages/s on one worker core, {mode}")
print(f"   ({n(s['messages'])} messages in {s['active_s']:.2f} s, read from a capture file by"
      f" net_pcap: the file reading is part of the cost)")
print(f"   latency RX burst -> TX of the answer: p50 {lat['p50']/1e3:.1f} us, p99 "
      f"{lat['p99']/1e3:.1f} us, p99.9 {lat['p999']/1e3:.1f} us, max {lat['max']/1e3:.1f} us")
print("   (a capture replays at full speed, so every burst is full: 32 datagrams, about 190")
print("    messages, are decided before the first answer of the burst leaves)")
print(f"\n   accounting: {s['accounting']}")
print(f"   answers: {same}")
PY
echo
echo "== 6. the first answers on the wire (cwctl decode)"
build/cwctl decode --in "$out/responses.pcap" 2>/dev/null | head -12 | sed 's/^/   /' || true
echo
echo "files: $out/{requests,responses,simulated}.pcap, summary.json, clearway.txt (the gateway's own summary), clearway.log"
