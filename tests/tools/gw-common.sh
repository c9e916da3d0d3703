# gw-common.sh - sourced by the dataplane integration tests (tests/integration/dataplane_*.sh).
#
# Why this file exists: every end-to-end test of `clearway` needs the same plumbing: EAL options
# that work without hugepages and never collide with another run (unique --file-prefix), the
# small test tools built once, a scratch directory that is removed, and a way to read the
# gateway's JSON summary. It lives in tests/tools so that tests/run-all.sh does not run it.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${CW_BUILD:-$ROOT/build}
VECTORS=${CW_VECTORS:-$ROOT/../shared/vectors}
TOOLS=$BUILD/tests/tools
GW=$BUILD/clearway
CWCTL=$BUILD/cwctl
WORK=$(mktemp -d /tmp/cw-dp-test.XXXXXX)
GW_PIDS=()    # gateways still running
WATCH_PIDS=() # watchdogs

cleanup() {
	local p
	for p in "${GW_PIDS[@]:-}" "${WATCH_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}

# watchdog PID... SECONDS: sends SIGTERM to the PIDs after SECONDS unless the test ends first.
watchdog() {
	local secs=${*: -1} pids=("${@:1:$#-1}")
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		s=$!
		wait "$s"
		echo "watchdog: ${secs}s passed, stopping ${pids[*]}" >&2
		kill -TERM "${pids[@]}" 2>/dev/null
	) &
	WATCH_PIDS+=("$!")
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The tools (tests/tools/*.c) and the gateway are built by `make`.
build_tools() {
	local t
	for t in "$GW" "$CWCTL" "$TOOLS/pcapcmp" "$TOOLS/hostile"; do
		[ -x "$t" ] || fail "$t is not built (run make first)"
	done
}

# workload CWGEN-ARGS...: a cwgen workload (--out DIR among the arguments); the test fails when
# cwgen is not built or cannot make it.
workload() {
	[ -x "$BUILD/cwgen" ] || fail "$BUILD/cwgen is not built"
	"$BUILD/cwgen" "$@" >/dev/null 2>&1 || fail "cwgen $*"
}

# EAL options: no hugepages, no shared files, a prefix nobody else uses. $1 names the run,
# $2 the lcore map (default: main lcore + one worker).
eal_args() {
	local name=$1 lcores=${2:-0-1}
	echo "--no-huge --no-shconf --no-pci -m 1024 --file-prefix cwit-$name-$$ --log-level=lib.*:notice --lcores $lcores"
}

# Reads a value from a JSON file by a dotted path: json_get FILE drops.header
json_get() {
	python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"
}

# Checks that the gateway's JSON summary says the counters add up.
check_accounting() {
	[ "$(json_get "$1" accounting_ok)" = true ] || fail "accounting: $(json_get "$1" accounting)"
}

# Runs a command with its address space capped (8 GB), so that a run-away table build fails the
# test instead of pushing the machine into the OOM killer. Not for ASan builds (ASan reserves
# terabytes of address space).
capped() {
	(
		case "$*" in *build-asan*) ;; *) ulimit -v 8388608 ;; esac
		exec "$@"
	)
}

# simulate IN OUT [extra cwctl args]: the offline reference on the same inputs; its counters
# go to OUT.json.
simulate() {
	local in=$1 out=$2
	shift 2
	capped "$CWCTL" simulate --in "$in" --out "$out" --json "$@" >"$out.json" 2>"$WORK/simulate.log" ||
		{ cat "$WORK/simulate.log" >&2; fail "cwctl simulate failed"; }
}

# The gateway's counters (summary JSON) against `cwctl simulate --json` on the same input.
# compare_counters SIM.json GW.json [--extra-l2]: the gateway's counters equal simulate's. With
# --extra-l2 the gateway may also have received non-IP frames (ARP of a live link's kernel), each
# counted once in rx frames and once in frame_drops.L2, and nothing else may differ.
compare_counters() { # SIM.json GW.json [--extra-l2]
	python3 - "$@" <<'PY'
import json, sys
sim, gw = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
if len(sys.argv) > 3 and sys.argv[3] == "--extra-l2":
    extra = gw["frame_drops"].get("L2", 0) - sim["frame_drops"].get("L2", 0)
    if extra > 0 and gw["rx_packets"] - sim["frames"] == extra:
        print(f"{extra} non-IP frames of the link besides the requests, counted as L2 drops")
        gw["rx_packets"] -= extra
        gw["frame_drops"]["L2"] -= extra
pairs = [("frames", gw["rx_packets"]), ("datagrams", gw["datagrams"]),
         ("answered_datagrams", gw["answered_datagrams"]),
         ("response_datagrams", gw["tx"]["sent"]), ("messages", gw["messages"]),
         ("duplicates", gw["duplicates"]), ("green", gw["green"])]
bad = [f"{k}: gateway {v}, simulate {sim[k]}" for k, v in pairs if sim[k] != v]
for skey, gkey in (("status", "by_status"), ("modes", "by_mode"), ("rejects", "rejects"),
                   ("frame_drops", "frame_drops"), ("datagram_drops", "drops")):
    for k, v in sim[skey].items():
        if gw[gkey].get(k) != v:
            bad.append(f"{gkey}.{k}: gateway {gw[gkey].get(k)}, simulate {v}")
hits = {r["rule"]: r["hits"] for r in sim["top_rules"]}
for r in gw["top_rules"]:
    if r["id"] in hits and hits[r["id"]] != r["hits"]:
        bad.append(f"rule {r['id']}: gateway {r['hits']} hits, simulate {hits[r['id']]}")
print("\n".join(bad) if bad else "counters equal to cwctl simulate's")
sys.exit(1 if bad else 0)
PY
}
