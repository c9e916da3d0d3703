#!/usr/bin/env bash
# Runs every libFuzzer target in build-fuzz/ for SECONDS each, from a seed corpus, and says how
# many inputs it tried and whether it found a crash. Exit 1 when any target crashed (the crashing
# input is kept under build-fuzz/artifacts/NAME/), 2 on usage or a missing build.
#
# usage: tests/fuzz/run.sh SECONDS
#
# Seeds (each target writes its own with `TARGET --seeds IN.pcap... DIR`): the conformance
# vectors (requests.pcap, responses.pcap from $CW_VECTORS, ../shared/vectors or
# /work/shared/vectors) and any capture made by the tools under build/ and demo-out/ (cwgen
# output). The corpus grows across runs in build-fuzz/corpus/NAME.
set -u
secs=${1:-}
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
	echo "usage: $0 SECONDS" >&2
	exit 2
fi
cd "$(dirname "$0")/../.." || exit 2
shopt -s nullglob
bins=(build-fuzz/fuzz_*)
if [ ${#bins[@]} -eq 0 ]; then
	echo "no targets in build-fuzz/ (make fuzz-build)" >&2
	exit 2
fi

pcaps=()
for d in "${CW_VECTORS:-}" ../shared/vectors /work/shared/vectors; do
	if [ -n "$d" ] && [ -f "$d/requests.pcap" ]; then
		pcaps+=("$d/requests.pcap")
		[ -f "$d/responses.pcap" ] && pcaps+=("$d/responses.pcap")
		break
	fi
done
for f in build/*.pcap build/*/*.pcap demo-out/*.pcap; do
	pcaps+=("$f")
done

crashed=0
for bin in "${bins[@]}"; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	corpus=build-fuzz/corpus/$name
	art=build-fuzz/artifacts/$name/
	log=build-fuzz/$name.log
	mkdir -p "$corpus" "$art"
	if [ ${#pcaps[@]} -gt 0 ]; then
		"$bin" --seeds "${pcaps[@]}" "$corpus" >/dev/null || echo "$name: seeding failed" >&2
	fi
	before=$(find "$art" -type f | wc -l)
	"$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art" \
		-close_fd_mask=1 "$corpus" >"$log" 2>&1
	rc=$?
	after=$(find "$art" -type f | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	files=$(find "$corpus" -type f | wc -l)
	if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
		crashed=1
		echo "$name: CRASH after ${execs:-?} executions (exit $rc); input in $art, log $log"
		grep -m5 -E 'ERROR|SUMMARY|runtime error' "$log"
	else
		echo "$name: ${execs:-?} executions in ${secs}s, no crash (${cov:-cov ?}, corpus $files)"
	fi
done
exit $crashed
