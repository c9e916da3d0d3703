#!/usr/bin/env bash
# cwctl against a private redis-server (loopback, free port, temporary directory): every Redis
# subcommand, what it writes (DESIGN §6: the key and the event in one MULTI/EXEC), what it
# refuses, its exit codes, and that its --json output parses. The gateway side of the same keys
# is tested in tests/unit/test_sync.c.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CW_BUILD:-$ROOT/build}
CWCTL=$BUILD/cwctl
[ -x "$CWCTL" ] || { echo "FAIL: $CWCTL is not built"; exit 1; }
WORK=$(mktemp -d /tmp/cw-ctl-test.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$WORK/redis.sock" --dir "$WORK" \
	--save '' --appendonly no --daemonize yes --pidfile "$WORK/redis.pid" \
	--logfile "$WORK/redis.log" >/dev/null
cleanup() { # redis-server writes its log and removes its files as it exits: wait for it
	local pid
	pid=$(cat "$WORK/redis.pid" 2>/dev/null) && kill "$pid" 2>/dev/null &&
		for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.05; done
export CW_REDIS=127.0.0.1:$port

fail() { echo "FAIL: $*" >&2; exit 1; }
R() { redis-cli -p "$port" --raw "$@"; }
# rc WANT CMD...: runs CMD (output in $WORK/out, $WORK/err) and checks its exit code
rc() {
	local want=$1; shift
	set +e
	"$@" >"$WORK/out" 2>"$WORK/err"
	local got=$?
	set -e
	[ "$got" = "$want" ] || { cat "$WORK/out" "$WORK/err"; fail "'$*' exited $got, want $want"; }
}
has() { grep -qF -- "$2" "$WORK/$1" || { cat "$WORK/$1"; fail "no '$2' in $1"; }; }
json() { python3 -c "import json,sys; d=json.load(open('$WORK/out')); $1"; }
last_event() { R XREVRANGE cw:events + - COUNT 1 | tail -n +2 | paste -sd' '; }
events() { R XLEN cw:events; }

HDR='salt 00112233445566778899aabbccddeeff
class good mode declare'
printf 'version 1\n%s\nrule 1 mode verify when hs 0101\n' "$HDR" >"$WORK/v1.cw"
printf 'version 2\n%s\nrule 1 mode verify when hs 0101\nrule 2 mode supervise when hs 0201\n' "$HDR" >"$WORK/v2.cw"
printf 'version 2\n%s\nrule 1 mode sample when hs 0101\n' "$HDR" >"$WORK/v2b.cw"
printf 'version 3\n%s\nrule 3 mode often when hs 01\n' "$HDR" >"$WORK/bad.cw"

# ---- push, activate, rollback, diff
rc 1 "$CWCTL" push "$WORK/bad.cw"
has err "$WORK/bad.cw:4:"
[ "$(R EXISTS cw:ruleset:3)" = 0 ] || fail "a broken rule set was stored"
rc 0 "$CWCTL" push "$WORK/v1.cw"
[ "$(R GET cw:ruleset:1)" = "$(cat "$WORK/v1.cw")" ] || fail "stored text differs"
[ "$(R EXISTS cw:ruleset:active)" = 0 ] || fail "push activated"
rc 0 "$CWCTL" push "$WORK/v1.cw"
has out "already stored"
rc 0 "$CWCTL" activate 1
[ "$(R GET cw:ruleset:active)" = 1 ] || fail "activate 1"
[ "$(last_event)" = "kind ruleset version 1" ] || fail "event: $(last_event)"
rc 0 "$CWCTL" push "$WORK/v2.cw" --activate
[ "$(R GET cw:ruleset:active)" = 2 ] && [ "$(R LRANGE cw:ruleset:history 0 -1)" = 1 ] ||
	fail "push --activate / history"
rc 1 "$CWCTL" push "$WORK/v2b.cw" # same version, another text: versions are immutable
has err "immutable"
rc 1 "$CWCTL" activate 99
R SET cw:ruleset:3 "$(cat "$WORK/bad.cw")" >/dev/null # written around cwctl
rc 1 "$CWCTL" activate 3
has err "cw:ruleset:3:4:"
[ "$(R GET cw:ruleset:active)" = 2 ] || fail "a broken version was activated"
rc 0 "$CWCTL" diff 1 2
has out "--- cw:ruleset:1"
has out "-version 1"
has out "+version 2"
has out "+rule 2 mode supervise when hs 0201"
has out "@@ -1,4 +1,5 @@"
rc 0 "$CWCTL" diff 1 2 --json
json 'assert d["removed"] == 1 and d["added"] == 2, d'
rc 1 "$CWCTL" diff 1 42
rc 0 "$CWCTL" rollback
[ "$(R GET cw:ruleset:active)" = 1 ] || fail "rollback to 1"
[ "$(last_event)" = "kind ruleset version 1" ] || fail "rollback event"
rc 1 "$CWCTL" rollback # nothing older recorded
# a plain writer sets the active version by hand: rollback still goes to the recorded one
rc 0 "$CWCTL" activate 2
R SET cw:ruleset:active 3 >/dev/null
rc 0 "$CWCTL" rollback
[ "$(R GET cw:ruleset:active)" = 1 ] || fail "rollback after a plain writer"

# ---- ent
U1=91120116MA05JXXX0A
U2=91310000MA1FL0000X
rc 0 "$CWCTL" ent set $U1 warning
[ "$(R HGET cw:ent $U1)" = warning ] || fail "ent set"
[ "$(last_event)" = "kind ent op set uscc $U1 class warning" ] || fail "ent event: $(last_event)"
rc 0 "$CWCTL" ent get $U1 --json
json 'assert d == {"uscc": "'$U1'", "registered": True, "class": "warning"}, d'
rc 1 "$CWCTL" ent set $U1 gold
rc 1 "$CWCTL" ent set $U1 unknown
rc 1 "$CWCTL" ent set 9112 good
rc 0 "$CWCTL" ent del $U1
[ "$(last_event)" = "kind ent op del uscc $U1" ] || fail "ent del event"
rc 1 "$CWCTL" ent get $U1
has out "not registered"
printf 'uscc,class\n%s,good\n%s,serious\n%s,dishonest\n' $U1 $U2 $U1 >"$WORK/ent.csv"
n0=$(events)
rc 0 "$CWCTL" ent import "$WORK/ent.csv"
[ "$(R HGET cw:ent $U1)" = dishonest ] || fail "import: the later row wins"
[ "$(R HGET cw:ent $U2)" = serious ] || fail "import"
[ $(($(events) - n0)) = 2 ] || fail "import: one event per change"
rc 0 "$CWCTL" ent import "$WORK/ent.csv"
has out "nothing to change"
printf 'uscc,class\n%s,good\nSHORT,good\n%s,platinum\n' $U1 $U2 >"$WORK/bad.csv"
rc 1 "$CWCTL" ent import "$WORK/bad.csv"
has err "bad.csv:3:"
has err "bad.csv:4:"
[ "$(R HGET cw:ent $U1)" = dishonest ] || fail "a refused file wrote something"
python3 -c "
import sys
print('uscc,class')
for i in range(12000): print('9131000%011d,%s' % (i, 'good' if i % 2 else 'warning'))" >"$WORK/big.csv"
n0=$(events)
rc 0 "$CWCTL" ent import "$WORK/big.csv"
[ $(($(events) - n0)) = 1 ] && [ "$(last_event)" = "kind resync" ] || fail "bulk import: one resync"
[ "$(R HLEN cw:ent)" = 12002 ] || fail "bulk import count $(R HLEN cw:ent)"
rc 0 "$CWCTL" ent import "$WORK/ent.csv" --replace
[ "$(R HLEN cw:ent)" = 2 ] && [ "$(last_event)" = "kind resync" ] || fail "import --replace"

# ---- ent classify (the boundaries are covered by tests/unit/test_classify.c)
cat >"$WORK/facts.csv" <<EOF
uscc,name,warning_penalties,other_penalties,fines_yuan,abnormal_list,serious_list,bad_performance,suspended_or_revoked,criminal_accident,aeo
91000000000000000A,clean,0,0,0,0,0,0,0,0,0
91000000000000000B,aeo,0,0,0,0,0,0,0,0,1
91000000000000000C,warned,2,0,0,0,0,0,0,0,0
91000000000000000D,five penalties,0,5,500000,0,0,0,0,0,0
91000000000000000E,six penalties,0,6,0,0,0,0,0,0,0
91000000000000000F,one fen over,0,1,500000.01,0,0,0,0,0,0
EOF
rc 0 "$CWCTL" ent classify "$WORK/facts.csv"
for x in "A good" "B aeo" "C warning" "D dishonest" "E serious" "F serious"; do
	set -- $x
	grep -q "^91000000000000000$1 $2 " "$WORK/out" || { cat "$WORK/out"; fail "classify $1 -> $2"; }
done
[ "$(R HEXISTS cw:ent 91000000000000000A)" = 0 ] || fail "classify without --apply wrote"
rc 0 "$CWCTL" ent classify "$WORK/facts.csv" --json
json 'assert d["counts"] == {"aeo":1,"good":1,"warning":1,"dishonest":1,"serious":2}, d["counts"]
assert d["rows"][3]["class"] == "dishonest" and "at most 5" in d["rows"][3]["reason"], d["rows"][3]'
n0=$(events)
rc 0 "$CWCTL" ent classify "$WORK/facts.csv" --apply
[ "$(R HGET cw:ent 91000000000000000D)" = dishonest ] && [ $(($(events) - n0)) = 6 ] ||
	fail "classify --apply"
echo "91000000000000000G,fined,0,0,10,0,0,0,0,0,0" >>"$WORK/facts.csv"
rc 1 "$CWCTL" ent classify "$WORK/facts.csv" --apply
has err "facts.csv:8:"

# ---- sender
rc 0 "$CWCTL" sender set 7 "10.1.0.0/16, 2001:db8::/32" "Port of Tianjin"
[ "$(R HGET cw:senders 7)" = "10.1.0.0/16 2001:db8::/32|Port of Tianjin" ] || fail "sender set"
[ "$(last_event)" = "kind sender op set id 7 prefixes 10.1.0.0/16 2001:db8::/32 name Port of Tianjin" ] ||
	fail "sender event: $(last_event)"
rc 1 "$CWCTL" sender set 8 "10.1.0.0/33" x
rc 1 "$CWCTL" sender set 8 "10.1.0.1" x
rc 1 "$CWCTL" sender set 0 "10.1.0.0/16" x
rc 0 "$CWCTL" sender set 8 "192.0.2.0/24" "Fujian"
rc 0 "$CWCTL" sender list --json
json 'assert [s["id"] for s in d] == [7, 8] and d[0]["prefixes"] == ["10.1.0.0/16", "2001:db8::/32"], d'
rc 0 "$CWCTL" sender del 7
[ "$(R HEXISTS cw:senders 7)" = 0 ] && [ "$(last_event)" = "kind sender op del id 7" ] ||
	fail "sender del"

# ---- journal
for i in 1 2 3 4; do
	mode=$([ $i -le 2 ] && echo supervise || echo verify)
	R XADD cw:journal '*' node n$((i % 2)) ts 1700000000000 sender 9 seq $i type DECL \
		ref D$i status DECIDED mode $mode reject '' reasons 'TARGET:5@0' version 2 flags '' >/dev/null
done
R XADD cw:journal '*' node n1 ts 1700000000000 sender 9 seq 5 type LIST ref L5 \
	status REJECTED mode - reject QUOTA_ANNUAL reasons '' version 2 flags '' >/dev/null
rc 0 "$CWCTL" journal --mode supervise
[ "$(grep -c DECL "$WORK/out")" = 2 ] || fail "journal --mode supervise"
rc 0 "$CWCTL" journal --mode rejected --json
json 'assert d["reject"] == "QUOTA_ANNUAL" and d["seq"] == "5", d'
rc 0 "$CWCTL" journal --node n0 --count 10
[ "$(wc -l <"$WORK/out")" = 2 ] || fail "journal --node"
rc 2 "$CWCTL" journal --mode sometimes
(sleep 0.5; R XADD cw:journal '*' node n9 seq 77 type DECL ref D77 status DECIDED mode sample >/dev/null) &
set +e
timeout 2 "$CWCTL" journal --follow --count 0 >"$WORK/out" 2>&1
set -e
has out "D77"

# ---- stats and status
now=$(($(date +%s%3N)))
R HSET cw:stats:n1 updated_ms $now version 1 messages 1000 mode_supervise 10 rule:5 42 >/dev/null
rc 0 "$CWCTL" stats --json
json 'n = d["nodes"]["n1"]; assert n["counters"]["messages"] == 1000 and n["top_rules"] == [{"id": 5, "hits": 42}], n'
rc 0 "$CWCTL" stats --node n1
has out "messages"
R HSET cw:node:n1 version 1 status ok error '' state running updated_ms $now \
	last_event "$(R XREVRANGE cw:events + - COUNT 1 | head -1)" ent_count 2 sender_count 1 >/dev/null
rc 0 "$CWCTL" status --json
json 'n = d["nodes"][0]; assert d["active"] == 1 and n["current"] and n["event_lag"] == 0, d'
rc 0 "$CWCTL" ent set $U2 good # one event the node has not seen
rc 1 "$CWCTL" status
has out "n1"
rc 1 "$CWCTL" status --json
json 'assert d["nodes"][0]["event_lag"] == 1, d'
R HSET cw:node:n2 version 1 status error error 'v9: 3:1: bad' state running updated_ms 1 >/dev/null
rc 1 "$CWCTL" status --json
json 'n = d["nodes"][1]; assert n["node"] == "n2" and n["stale"] and n["error"] == "v9: 3:1: bad", n'

# ---- addresses
rc 1 "$CWCTL" status --redis "unix:$WORK/redis.sock"
has out "n2"
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rc 3 "$CWCTL" status --redis 127.0.0.1:$dead
rc 2 "$CWCTL" status --redis 127.0.0.1:notaport
echo "control_cli: ok"
