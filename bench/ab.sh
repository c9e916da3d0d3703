#!/usr/bin/env bash
# bench/ab.sh - two ways of running `cwctl simulate` on the same workload, compared in one run.
#
# Why this file exists: on a shared machine a single timing moves by 2x from one minute to the
# next, so a change is judged by running the old and the new way alternately, several times,
# and comparing the best (the run least disturbed by neighbours) and the median of each.
# Use it to check one change (two binaries, or one binary with and without a flag); use
# `make bench` for the figures the project quotes.
#
# usage: bench/ab.sh [-n RUNS] DIR "CMD_A" "CMD_B"
#   DIR    a cwgen output directory (rules.cw, registry.csv, senders.csv, requests.pcap)
#   CMD_x  a simulate command without its inputs, e.g. "build/cwctl simulate --no-huge"
#   RUNS   alternations (default 5); each command runs pinned to CPU ${WORKER:-1}
# Output: per command every run's msgs/s, the best and the median; then B/A for both.
set -euo pipefail
runs=5
if [ "${1:-}" = -n ]; then
	runs=$2
	shift 2
fi
[ $# -eq 3 ] || { sed -n '11,15p' "$0" >&2; exit 2; }
dir=$1 a=$2 b=$3
for f in rules.cw registry.csv senders.csv requests.pcap; do
	[ -s "$dir/$f" ] || { echo "ab: $dir/$f missing" >&2; exit 2; }
done

one() { # one CMD: msgs/s of one run
	# shellcheck disable=SC2086 # CMD is a command line on purpose
	taskset -c "${WORKER:-1}" $1 --rules "$dir/rules.cw" --registry "$dir/registry.csv" \
		--senders "$dir/senders.csv" --in "$dir/requests.pcap" --out /dev/null --json |
		sed -n 's/.*"msgs_per_s":\([0-9.e+]*\).*/\1/p'
}

for i in $(seq "$runs"); do
	echo "A $(one "$a")"
	echo "B $(one "$b")"
done | python3 -c '
import statistics, sys
runs = {"A": [], "B": []}
for line in sys.stdin:
    k, v = line.split()
    runs[k].append(float(v))
for k, cmd in (("A", sys.argv[1]), ("B", sys.argv[2])):
    v = runs[k]
    print(f"{k}: {cmd}\n   runs {[round(x) for x in v]}\n   best {max(v):.0f} median {statistics.median(v):.0f} msgs/s")
a, b = runs["A"], runs["B"]
print(f"B/A: best {max(b) / max(a):.3f}, median {statistics.median(b) / statistics.median(a):.3f}")
' "$a" "$b"
