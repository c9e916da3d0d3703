#!/usr/bin/env bash
# A small change is decided through a delta (the base's tables, an overlay, and for the items whose
# best base rule is gone, the contexts that lost nothing asked again and the kept rules of the
# others tried best first) until the gateway folds it into a full build. `cwctl simulate
# --delta-from R` decides through exactly that snapshot: on a cwgen workload, every change here
# must give the same answers, byte for byte, as a full build of the same text. The changes hit
# the rules that win the most items (those items then need the fallback): the hottest rule
# removed, its mode changed, the three hottest removed at once, and three alerts added; a change
# of more than 1024 rules is built in full, and simulate says so.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools

W=$WORK/w
workload --seed 7 --messages 20000 --rules 2000 --profiles 500 --enterprises 20000 \
	--out "$W"
R=$W/rules.cw
base=(--registry "$W/registry.csv" --senders "$W/senders.csv" --in "$W/requests.pcap")
sim() { capped "$CWCTL" simulate "${base[@]}" "$@" 2>>"$WORK/sim.err" || fail "simulate $*"; }

sim --rules "$R" --out "$WORK/r.pcap" >"$WORK/r.txt"
read -r -a top <<<"$(sed -n 's/^top rules: //p' "$WORK/r.txt" | tr -d '#')"
# "#id hits #id hits ...": the three hottest rules and how many items each won
[ "${#top[@]}" -ge 6 ] && [ "${top[1]}" -gt 100 ] || fail "no hot rules: ${top[*]}"
hot=${top[0]}
echo "ok   hottest rules: #${top[0]} (${top[1]} hits), #${top[2]}, #${top[4]}"

# without rule statements whose id is in the list (a statement runs to the next one)
drop() { awk -v ids=" $1 " '/^rule / {skip = index(ids, " " $2 " ") > 0} /^(version|profile)/ {skip = 0} !skip' "$R"; }
drop "$hot" >"$WORK/rm1.cw"
drop "${top[0]} ${top[2]} ${top[4]}" >"$WORK/rm3.cw"
# the hottest rule's mode changed (it stays where it is, with other answers)
awk -v id="$hot" '$1 == "rule" && $2 == id {
	for (i = 3; i < NF; i++) if ($i == "mode") { $(i + 1) = ($(i + 1) == "supervise") ? "sample" : "supervise"; break }
} 1' "$R" >"$WORK/mode.cw"
cp "$R" "$WORK/add.cw"
cat >>"$WORK/add.cw" <<'EOF'
rule 990001 mode verify reason "test delta: alert 1" when hs 8471 and origin in (KR, JP)
rule 990002 mode sample reason "test delta: alert 2" when hs 0306 and total_value >= 100000.00
rule 990003 mode supervise reason "test delta: alert 3" when msg decl and hs 9305
EOF
[ "$(grep -c '^rule ' "$WORK/rm1.cw")" = $(($(grep -c '^rule ' "$R") - 1)) ] || fail "rm1.cw"
[ "$(grep -c '^rule ' "$WORK/rm3.cw")" = $(($(grep -c '^rule ' "$R") - 3)) ] || fail "rm3.cw"
! cmp -s "$R" "$WORK/mode.cw" || fail "mode.cw is unchanged"

for v in rm1 rm3 mode add; do
	sim --rules "$WORK/$v.cw" --out "$WORK/$v-full.pcap" >"$WORK/$v-full.txt"
	sim --rules "$WORK/$v.cw" --delta-from "$R" --out "$WORK/$v-delta.pcap" >"$WORK/$v-delta.txt"
	grep -q "a delta on --delta-from's full build" "$WORK/$v-delta.txt" ||
		fail "$v: not decided through a delta: $(grep '^rule tables' "$WORK/$v-delta.txt")"
	cmp -s "$WORK/$v-full.pcap" "$WORK/$v-delta.pcap" || fail "$v: the delta answers otherwise"
	# the change matters: the answers differ from the rules before it
	cmp -s "$WORK/r.pcap" "$WORK/$v-full.pcap" && fail "$v: the change changed no answer"
	echo "ok   $v: the delta answers as the full build, byte for byte"
done

# more than 1024 rules apart (another seed's 2000 rules): a full build, said on stderr
workload --seed 8 --messages 10 --rules 2000 --out "$WORK/other"
: >"$WORK/sim.err"
sim --rules "$WORK/other/rules.cw" --delta-from "$R" --out "$WORK/o.pcap" >"$WORK/o.txt"
grep -q "by more than 1024 rules: a full build" "$WORK/sim.err" || fail "no full-build notice: $(cat "$WORK/sim.err")"
grep -q "a delta on" "$WORK/o.txt" && fail "a change of 2000 rules was run as a delta"
echo "ok   2000 rules apart: a full build, and simulate says so"
