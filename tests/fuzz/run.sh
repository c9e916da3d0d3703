#!/usr/bin/env bash
# Runs every libFuzzer target in build-fuzz/ for SECONDS each, from a seed corpus, and says how
# many inputs it tried and whether it found a crash. Exit 1 when any target crashed (the crashing
# input is kept under build-fuzz/artifacts/NAME/), 2 on usage or a missing build.
#
# usage: tests/fuzz/run.sh SECONDS
#
# Seeds: the packet targets write their own with `TARGET --seeds IN.pcap... DIR` from the
# conformance vectors (requests.pcap, responses.pcap from $CW_VECTORS, ../shared/vectors or
# /work/shared/vectors), a cwgen workload made here with broken messages, IPv6 and VLAN frames
# (build-fuzz/cwgen-seeds/), and any capture under build/ and demo-out/. fuzz_rules starts from
# the vectors' rules.cw and cwgen's rules.cw cut into pieces of 30 statements (libFuzzer keeps
# inputs short), with tests/fuzz/fuzz_rules.dict. The corpus grows across runs in
# build-fuzz/corpus/NAME.
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
vectors_rules=
for d in "${CW_VECTORS:-}" ../shared/vectors /work/shared/vectors; do
	if [ -n "$d" ] && [ -f "$d/rules.cw" ]; then vectors_rules=$d/rules.cw; break; fi
done
gen=build-fuzz/cwgen-seeds
if [ -x build/cwgen ] && [ ! -f "$gen/requests.pcap" ]; then
	build/cwgen --seed 7 --messages 3000 --bad 0.3 --senders 8 --ipv6 0.3 --vlan 0.3 \
		--out "$gen" >/dev/null 2>&1 || echo "cwgen seeds: cwgen failed (no corpus?)" >&2
fi
for f in build/*.pcap build/*/*.pcap demo-out/*.pcap "$gen"/*.pcap; do
	pcaps+=("$f")
done

# Rule files cut into short inputs: the header (version, salt, limits) and 30 statements each.
seed_rules() { # corpus dir, rule files...
	local dir=$1; shift
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		awk -v dir="$dir" -v base="$(basename "$(dirname "$f")")" '
			/^(version|salt|limits)/ { head = head $0 "\n"; next }
			/^(class|profile|rule) / { if (++n % 30 == 1) part++ }
			{ body[part] = body[part] $0 "\n" }
			END { for (p in body) printf "%s%s", head, body[p] > (dir "/seed-" base "-" p ".cw") }
		' "$f"
	done
}

crashed=0
for bin in "${bins[@]}"; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	corpus=build-fuzz/corpus/$name
	art=build-fuzz/artifacts/$name/
	log=build-fuzz/$name.log
	mkdir -p "$corpus" "$art"
	extra=()
	if [ "$name" = fuzz_rules ]; then
		seed_rules "$corpus" "$vectors_rules" "$gen/rules.cw"
		extra=(-dict=tests/fuzz/fuzz_rules.dict)
	elif [ ${#pcaps[@]} -gt 0 ]; then
		"$bin" --seeds "${pcaps[@]}" "$corpus" >/dev/null || echo "$name: seeding failed" >&2
	fi
	before=$(find "$art" -type f | wc -l)
	"$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art" \
		-close_fd_mask=1 "${extra[@]}" "$corpus" >"$log" 2>&1
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
