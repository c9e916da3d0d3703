#!/usr/bin/env bash
# A live delta is folded into a full build of its text on a thread of its own (control/fold.h),
# so a change that comes while that build runs is not held up by it (DESIGN §8: a few rules live
# within 20 ms, even with 100 000 rules loaded; a full build takes seconds there), and the build
# gives up as soon as a new rule set comes. File mode, 20 000 rules: a first small change (v2)
# goes live as a delta and its fold starts; the second (v3) is signalled as soon as v2 is live,
# so v2's fold is given up ("not folded: a new rule set came ..."; dropped without a word if it
# had not started), never published, and v3 goes live as a delta and is folded in turn. A
# gateway that folds where it activates logs "version v2 folded" first. Then v4, and right after
# it a broken rule file: the SIGHUP fails and cancels v4's fold, which is asked for again, so v4
# is still folded.
source "$(dirname "$0")/../tools/gw-common.sh"
build_tools

W=$WORK/w
workload --seed 3 --messages 100 --rules 20000 --out "$W"
v1=$(awk '$1 == "version" {print $2; exit}' "$W/rules.cw")
cp "$W/rules.cw" "$WORK/live.cw"
# shellcheck disable=SC2046
( # capped as in capped(), but a plain subshell so that $! is the gateway itself
	case "$GW" in *build-asan*) ;; *) ulimit -v 8388608 ;; esac
	exec "$GW" $(eal_args fold) --vdev net_null0 -- --rules "$WORK/live.cw" \
		--registry "$W/registry.csv" --senders "$W/senders.csv" >"$WORK/out.txt" 2>&1
) &
gw=$!
GW_PIDS+=("$gw")
wait_log() { # wait_log PATTERN: up to 60 s for a line of the gateway's log
	local t
	for ((t = 0; t < 3000; t++)); do
		grep -q -- "$1" "$WORK/out.txt" 2>/dev/null && return 0
		kill -0 "$gw" 2>/dev/null || fail "clearway exited: $(tail -5 "$WORK/out.txt")"
		sleep 0.02
	done
	fail "no '$1' in the log: $(tail -5 "$WORK/out.txt")"
}
wait_log "worker.*UDP port"

# change VERSION: a version-only edit of the live file, and SIGHUP
change() {
	sed "s/^version .*/version $1/" "$W/rules.cw" >"$WORK/live.new" && mv "$WORK/live.new" "$WORK/live.cw"
	kill -HUP "$gw"
}
v2=$((v1 + 1)) v3=$((v1 + 2)) v4=$((v1 + 3))
change "$v2"
wait_log "SIGHUP: rule set version $v2 live after .*(delta on the last full build)"
change "$v3"
wait_log "SIGHUP: rule set version $v3 live after .*(delta on the last full build)"
wait_log "rule set version $v3 folded into a full build (.* ms, in the background)"
! grep -q "rule set version $v2 folded" "$WORK/out.txt" || fail "version $v2's fold was published after version $v3 went live"
if grep -q "rule set version $v2 not folded: a new rule set came while its full build ran (given up after" "$WORK/out.txt"; then
	echo "ok   version $v3 went live as a delta; version $v2's fold was given up, $v3's published"
else
	! grep -q "rule set version $v2 .*fold" "$WORK/out.txt" ||
		fail "version $v2's fold: $(grep "rule set version $v2 .*fold" "$WORK/out.txt")"
	echo "ok   version $v3 went live as a delta; version $v2's fold was dropped before it started, $v3's published"
fi

change "$v4"
wait_log "SIGHUP: rule set version $v4 live after .*(delta on the last full build)"
printf 'version %s\nrule 1 mode nonsense\n' $((v1 + 4)) >"$WORK/live.new" && mv "$WORK/live.new" "$WORK/live.cw"
kill -HUP "$gw"
wait_log "SIGHUP: .*; keeping version $v4"
wait_log "rule set version $v4 folded into a full build"
echo "ok   version $v4 folded, though a broken rule file's SIGHUP came while its fold ran"
kill -TERM "$gw"
wait "$gw" || fail "clearway exited with an error: $(tail -5 "$WORK/out.txt")"
GW_PIDS=()
