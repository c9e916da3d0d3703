#!/usr/bin/env bash
# cwkbase stalls (bench/kbase/stalls.c): the probe bench (4) runs before its latency points to
# measure how often the machine takes the worker's CPU away. Checked here: it runs pinned for
# the time asked, writes the documented JSON twice (stdout and --json) with figures that hang
# together (nested counts, shares between 0 and 100, the wait beyond 5 us within the stalled
# time), and refuses bad arguments. What it measures is the machine's, so no value is expected.
set -u
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL $*"; exit 1; }

[ -x "$B/cwkbase" ] || fail "$B/cwkbase is not built"
"$B/cwkbase" stalls --core 0 --seconds 0.3 --json "$T/s.json" >"$T/out.json" ||
	fail "cwkbase stalls exited with $?"
cmp -s "$T/s.json" "$T/out.json" || fail "--json and stdout differ"
python3 - "$T/s.json" <<'PY' || fail "stalls JSON does not hang together: $(cat "$T/s.json")"
import json, sys
d = json.load(open(sys.argv[1]))
keys = ["core", "seconds", "tsc_hz", "stalls_over_2us_per_s", "stalls_over_10us_per_s",
        "stalls_over_50us_per_s", "stalls_over_100us_per_s", "stalled_pct",
        "wait_over_5us_pct", "max_us"]
missing = [k for k in keys if k not in d]
assert not missing, f"missing {missing}"
assert d["core"] == 0
assert 0.29 <= d["seconds"] <= 0.6, d["seconds"]
assert d["tsc_hz"] > 1e8
c = [d[k] for k in keys[3:7]]
assert all(x >= 0 for x in c) and c == sorted(c, reverse=True), c
assert 0 <= d["wait_over_5us_pct"] <= d["stalled_pct"] <= 100
assert d["max_us"] >= 0 and (d["max_us"] > 2 or c[0] == 0)
PY
echo "ok   stalls: $(cat "$T/s.json")"

"$B/cwkbase" stalls --seconds 0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--seconds 0 was not refused with exit 2"
"$B/cwkbase" stalls --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown option was not refused with exit 2"
echo "ok   bad arguments refused"
