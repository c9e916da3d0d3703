#!/usr/bin/env bash
# `cwctl simulate --diff` (the backtest, docs/rules.md): a cwgen workload replayed under its rule
# set R and under R2 = R plus one supervise alert. The report's transition matrix, its counts
# and its examples must be what the two plain runs' answers say, message by message (decoded
# from their response captures with `cwctl decode --json`, paired in order); the new rule has
# no hits under R and some under R2; and a replay a megabyte at a time (--part-mb 1, the
# capture bigger than one part) gives the same report and the same answers as in one part, also
# without --senders (every sender of the capture accepted, before its first part).
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools

W=$WORK/w
workload --seed 11 --messages 20000 --out "$W"
cp "$W/rules.cw" "$WORK/r2.cw"
printf 'rule 990001 mode supervise reason "backtest alert" when hs 84\n' >>"$WORK/r2.cw"
base=(--registry "$W/registry.csv" --senders "$W/senders.csv" --in "$W/requests.pcap")
[ "$(stat -c %s "$W/requests.pcap")" -gt $((2 << 20)) ] || fail "the capture fits in one part"

sim() { capped "$CWCTL" simulate "${base[@]}" "$@" 2>>"$WORK/sim.err" || fail "simulate $*"; }
sim --rules "$W/rules.cw" --out "$WORK/a.pcap" --json >/dev/null
sim --rules "$WORK/r2.cw" --out "$WORK/b.pcap" --json >/dev/null
sim --rules "$W/rules.cw" --diff "$WORK/r2.cw" --out "$WORK/d.pcap" --json >"$WORK/d.json"
sim --rules "$W/rules.cw" --diff "$WORK/r2.cw" --out "$WORK/d1.pcap" --json --part-mb 1 >"$WORK/d1.json"
sim --rules "$W/rules.cw" --diff "$WORK/r2.cw" --out /dev/null >"$WORK/d.txt"
"$CWCTL" decode --in "$WORK/a.pcap" --json >"$WORK/a.jsonl" || fail "decode a"
"$CWCTL" decode --in "$WORK/b.pcap" --json >"$WORK/b.jsonl" || fail "decode b"

# without --senders every sender in the capture is accepted: all of them, before the first part
capped "$CWCTL" simulate --registry "$W/registry.csv" --in "$W/requests.pcap" --part-mb 1 \
	--rules "$W/rules.cw" --out "$WORK/n.pcap" >/dev/null 2>>"$WORK/sim.err" || fail "no --senders"
cmp -s "$WORK/a.pcap" "$WORK/n.pcap" || fail "without --senders: other answers"

cmp -s "$WORK/a.pcap" "$WORK/d.pcap" || fail "--diff: the answers written are not R's"
cmp -s "$WORK/d.pcap" "$WORK/d1.pcap" || fail "--part-mb 1: other answers"
cmp -s "$WORK/d.json" "$WORK/d1.json" || fail "--part-mb 1: another report"
echo "ok   --part-mb 1: the same answers and report"

python3 - "$WORK/a.jsonl" "$WORK/b.jsonl" "$WORK/d.json" <<'PY' || fail "the report is not what the answers say"
import collections, json, sys

def outcomes(path):
    out = []
    for line in open(path):
        f = json.loads(line)
        for v in f.get("verdicts", []):
            c = (v["mode"] if v["status"] == "DECIDED" else
                 "ACCEPTED" if v["status"] == "ACCEPTED" else "REJ:" + v["reject"])
            out.append(((f["datagram"]["sender"], v["msg_seq"]), c))
    return out

a, b = outcomes(sys.argv[1]), outcomes(sys.argv[2])
assert [k for k, _ in a] == [k for k, _ in b], "the two runs answered other messages"
matrix, firsts = collections.Counter(), collections.defaultdict(list)
for (key, x), (_, y) in zip(a, b):
    matrix[x, y] += 1
    if x != y and len(firsts[x, y]) < 3:
        firsts[x, y].append(key)
d = json.load(open(sys.argv[3]))["diff"]
assert d["messages"] == len(a), (d["messages"], len(a))
changed = sum(n for (x, y), n in matrix.items() if x != y)
assert d["changed"] == changed > 0, (d["changed"], changed)
got = {(t["from"], t["to"]): t for t in d["transitions"]}
assert set(got) == set(matrix), set(got) ^ set(matrix)
for (x, y), n in matrix.items():
    t = got[x, y]
    assert t["count"] == n, (x, y, t["count"], n)
    assert [(e["sender"], e["seq"]) for e in t["examples"]] == firsts[x, y], (x, y)
# an added supervise rule only moves messages up to supervise
assert all(y == "supervise" for (x, y) in matrix if x != y), [k for k in matrix if k[0] != k[1]]
print(f"ok   transitions: {len(a)} messages, {changed} changed, "
      + ", ".join(f"{x}->{y} {n}" for (x, y), n in sorted(matrix.items()) if x != y))
PY

hits=$(awk '/^rule hits/ {on = 1; next} on && $1 == "#990001" {print $2, $3}' "$WORK/d.txt")
read -r under_r under_r2 <<<"$hits"
[ "${under_r:-}" = 0 ] && [ "${under_r2:-0}" -gt 0 ] || fail "rule 990001 hits: '$hits'"
echo "ok   rule 990001: 0 hits under R, $under_r2 under R2"
