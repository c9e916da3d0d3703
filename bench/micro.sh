#!/usr/bin/env bash
# bench/micro.sh - instructions per message of the decision engine, counted by callgrind.
#
# Why this file exists: wall-clock figures on a shared 2-core machine move by 2x from one minute
# to the next; instruction counts under `valgrind --tool=callgrind` do not (the same binary,
# input and environment give the same count). This counts the instructions `cwctl simulate`
# spends deciding traffic (only `run_traffic` and what it calls: framing, decode, decide, encode; not the rule
# build or the file reading) against the number of targeting rules and the registry size, on
# cwgen's realistic mix. It is the micro-benchmark of the engine; bench/run.sh measures time.
#
# usage: bench/micro.sh [OUT.csv]      knobs: MESSAGES (default 20000), SEED (default 1)
# Output: CSV `experiment,parameter,value,instructions,messages,instructions_per_msg`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/dev/stdout}
MESSAGES=${MESSAGES:-20000}
SEED=${SEED:-1}
export CW_CORPUS=${CW_CORPUS:-$ROOT/../shared/corpus}
W=$(mktemp -d /tmp/cwmicro.XXXXXX)
trap 'rm -rf "$W"' EXIT
command -v valgrind >/dev/null || { echo "micro: valgrind is not installed" >&2; exit 2; }

# count NAME PARAM VALUE cwgen-args...: one line of the CSV
count() {
	local name=$1 param=$2 value=$3
	shift 3
	local d=$W/$name-$value
	"$ROOT/build/cwgen" --seed "$SEED" --messages "$MESSAGES" "$@" --out "$d" >/dev/null 2>&1
	valgrind --tool=callgrind '--toggle-collect=run_traffic*' --callgrind-out-file="$d/cg.out" \
		"$ROOT/build/cwctl" simulate --rules "$d/rules.cw" --registry "$d/registry.csv" \
		--senders "$d/senders.csv" --in "$d/requests.pcap" --out "$d/out.pcap" \
		>"$d/sim.txt" 2>"$d/vg.txt"
	local ir
	ir=$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$d/vg.txt" | tail -1)
	[ -n "$ir" ] || ir=$(awk '/^summary:/ {print $2}' "$d/cg.out")
	echo "$name,$param,$value,$ir,$MESSAGES,$(awk -v i="$ir" -v m="$MESSAGES" 'BEGIN{printf "%.0f", i/m}')"
}

{
	echo "experiment,parameter,value,instructions,messages,instructions_per_msg"
	for r in 100 1000 10000; do
		count rules rules "$r" --rules "$r" --profiles 5000 --enterprises 100000
	done
	for e in 1000 100000 1000000; do
		count enterprises enterprises "$e" --rules 1000 --profiles 5000 --enterprises "$e"
	done
} >"$OUT"
