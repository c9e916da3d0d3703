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
GW_PIDS=()

cleanup() {
	for p in "${GW_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
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

# simulate IN OUT [extra cwctl args]: the offline reference on the same inputs.
simulate() {
	local in=$1 out=$2
	shift 2
	"$CWCTL" simulate --in "$in" --out "$out" "$@" >"$WORK/simulate.log" 2>&1 ||
		{ cat "$WORK/simulate.log" >&2; fail "cwctl simulate failed"; }
}
