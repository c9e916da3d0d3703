#!/usr/bin/env bash
# cwgen: the workload generator's contract (docs/workload.md).
#  - the same seed gives the same bytes, another seed other bytes;
#  - with --bad 0 every frame is a CWP/1 request and every message passes the codec
#    (`cwctl decode`), and the mix is the realistic one (DESIGN §8);
#  - with --bad 0.2 frames, datagrams and messages are broken in many different ways;
#  - rules.cw compiles (`cwctl check`) and uses every construct of DESIGN §5;
#  - registry.csv and senders.csv have the documented headers and shapes;
#  - without the corpus it falls back to built-in distributions and says so.
set -u
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
CWGEN=$B/cwgen
CWCTL=$B/cwctl
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # description command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else fail "$d"; fi
}

[ -x "$CWGEN" ] || { echo "FAIL $CWGEN not built"; exit 1; }
files="requests.pcap registry.csv senders.csv rules.cw"

# ---- options ----
check "--help exits 0" "$CWGEN" --help >/dev/null
"$CWGEN" --seed 1 --out "$T/x" 2>/dev/null
check "missing --messages is a usage error (2)" test $? -eq 2
"$CWGEN" --seed 1 --messages 10 --out "$T/x" --bad 1.5 2>/dev/null
check "--bad out of range is a usage error (2)" test $? -eq 2

# ---- determinism ----
gen() { # dir args...
	local d=$1
	shift
	"$CWGEN" --out "$d" "$@" 2>"$d.err"
}
gen "$T/a1" --seed 41 --messages 20000
check "cwgen seed 41 runs" test $? -eq 0
gen "$T/a2" --seed 41 --messages 20000
gen "$T/b1" --seed 42 --messages 20000
same=1
for f in $files; do cmp -s "$T/a1/$f" "$T/a2/$f" || { same=0; echo "  $f differs between runs"; }; done
check "same seed, same bytes" test $same -eq 1
differ=1
for f in requests.pcap registry.csv rules.cw; do
	cmp -s "$T/a1/$f" "$T/b1/$f" && { differ=0; echo "  $f equal across seeds"; }
done
check "another seed, other bytes" test $differ -eq 1
gen "$T/c1" --seed 43 --messages 6000 --bad 0.2
gen "$T/c2" --seed 43 --messages 6000 --bad 0.2
same=1
for f in $files; do cmp -s "$T/c1/$f" "$T/c2/$f" || same=0; done
check "same seed with --bad, same bytes" test $same -eq 1

# ---- the corpus is used when present, the fallback says so ----
if [ -d "${CW_CORPUS:-../shared/corpus}" ]; then
	check "corpus read (no fallback notice)" bash -c "! grep -q fallback '$T/a1.err'"
fi
gen "$T/f" --seed 5 --messages 2000 --corpus "$T/no-such-corpus"
check "runs without the corpus" test $? -eq 0
check "fallback announced on stderr" grep -q "built-in fallback" "$T/f.err"

# ---- registry and senders ----
check "registry header" test "$(head -1 "$T/a1/registry.csv")" = "uscc,class"
check "registry has 10000 enterprises" test "$(($(wc -l <"$T/a1/registry.csv") - 1))" -eq 10000
check "registry rows: 18 code characters, a class" \
	bash -c "tail -n +2 '$T/a1/registry.csv' | grep -Evc '^[0-9A-Z]{18},(aeo|good|warning|dishonest|serious)$' | grep -qx 0"
check "registry USCCs unique" \
	bash -c "test \$(cut -d, -f1 '$T/a1/registry.csv' | sort | uniq -d | wc -l) -eq 0"
check "registry classes: all five present" \
	bash -c "test \$(tail -n +2 '$T/a1/registry.csv' | cut -d, -f2 | sort -u | wc -l) -eq 5"
check "senders header" test "$(head -1 "$T/a1/senders.csv")" = "id,prefixes,name"
check "4 senders by default" test "$(($(wc -l <"$T/a1/senders.csv") - 1))" -eq 4
check "senders rows: id, CIDR prefixes, name" \
	bash -c "tail -n +2 '$T/a1/senders.csv' | grep -Evc '^[1-9][0-9]*,[0-9a-f.:/ ]+/[0-9]+,[^,]+$' | grep -qx 0"
check "some sender has an IPv6 prefix" grep -q '::/' "$T/a1/senders.csv"

# ---- the wire: decode every frame ----
summary() { # pcap -> the decoder's JSON summary line
	"$CWCTL" decode --in "$1" --json | tail -1
}
if "$CWCTL" decode --in "$T/a1/requests.pcap" --json >"$T/a1.json" 2>"$T/dec.err"; then
	python3 - "$T/a1.json" "$T/a1/senders.csv" <<'EOF'
import csv, ipaddress, json, sys
lines = open(sys.argv[1]).read().splitlines()
senders = {int(r["id"]): [ipaddress.ip_network(p) for p in r["prefixes"].split()]
           for r in csv.DictReader(open(sys.argv[2]))}
s = json.loads(lines[-1])["summary"]
fails = []
def need(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)
need(not s["frame_drops"] and not s["datagram_drops"], "--bad 0: no frame or datagram dropped")
need(s["framing_broken"] == 0, "--bad 0: no broken framing")
need(list(s["results"].keys()) == ["OK"], "--bad 0: every message passes the codec: %s" % s["results"])
need(s["results"].get("OK") == 20000, "--bad 0: all 20000 messages present")
m = s["messages"]
n = sum(m.values())
decl, man = m.get("DECL", 0) / n, m.get("MANIFEST", 0) / n
ecom = sum(m.get(k, 0) for k in ("ORDER", "PAYMENT", "WAYBILL", "LIST")) / n
need(0.57 < decl < 0.63 and 0.08 < man < 0.12 and 0.27 < ecom < 0.33,
     "mix 60/10/30: DECL %.3f MANIFEST %.3f e-commerce %.3f" % (decl, man, ecom))
# per-frame facts: IPv6 and VLAN shares, batching, jumbo frames, items per DECL
v6 = vlan = jumbo = dgrams = msgs = items = decls = 0
known = gw = True
seqs = {}
for l in lines[:-1]:
    f = json.loads(l)
    dgrams += 1
    v6 += f["ip"]["version"] == 6
    vlan += "vlan" in f["eth"]
    jumbo += f["len"] > 1514 + (4 if "vlan" in f["eth"] else 0)
    d = f["datagram"]
    msgs += d["count"]
    src = ipaddress.ip_address(f["ip"]["src"])
    known &= d["sender"] in senders and any(src in n for n in senders.get(d["sender"], []))
    gw &= f["ip"]["dst"] in ("10.0.0.1", "fd00::1") and f["udp"]["dst_port"] == 7350
    seqs.setdefault(d["sender"], []).append((d["seq"], d["count"]))
    for x in f["messages"]:
        if x["type_name"] == "DECL":
            decls += 1
            items += x["fields"]["item_count"]
need(known, "every datagram from a registered sender, inside its prefixes")
need(gw, "every datagram to 10.0.0.1 / fd00::1, port 7350")
need(0.05 < v6 / dgrams < 0.15, "about 10%% of datagrams over IPv6: %.3f" % (v6 / dgrams))
need(0.05 < vlan / dgrams < 0.15, "about 10%% of datagrams VLAN-tagged: %.3f" % (vlan / dgrams))
need(jumbo > 0, "some long declarations travel in jumbo frames (%d)" % jumbo)
need(3 < msgs / dgrams <= 8, "several messages per datagram: %.2f" % (msgs / dgrams))
need(2.5 < items / decls < 3.5, "about 3 items per DECL: %.2f" % (items / decls))
# coherence: imports refer to manifests sent earlier; LISTs come after their three parts
manifests, parts, buyers = {}, {}, {}
imports = linked = later = owner_ok = hs_ok = with_consignee = 0
lists = complete = consistent = 0
for i, l in enumerate(lines[:-1]):
    for x in json.loads(l)["messages"]:
        t, fl = x["type_name"], x.get("fields", {})
        if t == "MANIFEST":
            manifests.setdefault(fl["transport_doc"], (i, fl["consignee"], {it["hs4"] for it in x["items"]}))
        elif t in ("ORDER", "PAYMENT", "WAYBILL"):
            parts.setdefault(fl["order_no"], {})[t] = fl
        elif t == "DECL" and fl["direction"] == 1 and fl["transport_doc"].strip():
            imports += 1
            m = manifests.get(fl["transport_doc"])
            if m is None:
                continue
            linked += 1
            later += m[0] > i
            if m[1].strip():
                with_consignee += 1
                owner_ok += m[1] == fl["owner"]
            hs_ok += all(it["hs"][:4] in m[2] for it in x["items"])
        elif t == "LIST":
            lists += 1
            p = parts.get(fl["order_no"], {})
            complete += len(p) == 3
            buyers[fl["buyer"]] = buyers.get(fl["buyer"], 0) + 1
            if len(p) == 3:
                consistent += (p["ORDER"]["buyer"] == p["PAYMENT"]["buyer"] == fl["buyer"] and
                               p["ORDER"]["amount"] == p["PAYMENT"]["amount"] == fl["total_value"] and
                               p["WAYBILL"]["waybill_no"] == fl["waybill_no"])
need(later == 0 and 0.8 < linked / imports < 0.97,
     "imports with a bill: %.3f on a manifest sent earlier, %d on one sent later" % (linked / imports, later))
need(0.95 < owner_ok / with_consignee < 1, "owner = consignee mostly, not always: %.3f" % (owner_ok / with_consignee))
need(0.95 < hs_ok / linked < 1, "declared hs4 on the manifest mostly, not always: %.3f" % (hs_ok / linked))
need(0.94 < complete / lists < 1, "LISTs after their ORDER, PAYMENT, WAYBILL: %.3f" % (complete / lists))
need(0.9 < consistent / complete < 1, "e-commerce groups consistent mostly, not always: %.3f" % (consistent / complete))
need(max(buyers.values()) >= 10 and len(buyers) < lists, "repeat buyers (most active: %d lists)" % max(buyers.values()))
contiguous = all(all(a[0] + a[1] == b[0] for a, b in zip(v, v[1:])) for v in seqs.values())
need(contiguous, "per sender, seq advances by the datagram's count")
need(all(v[0][0] > 1 << 20 for v in seqs.values()), "sequences start at a large value")
sys.exit(1 if fails else 0)
EOF
	[ $? -eq 0 ] || fails=$((fails + 1))

	"$CWCTL" decode --in "$T/c1/requests.pcap" --json >"$T/c1.json"
	python3 - "$T/c1.json" "$T/c1/senders.csv" <<'EOF'
import csv, ipaddress, json, sys
lines = open(sys.argv[1]).read().splitlines()
s = json.loads(lines[-1])["summary"]
senders = {int(r["id"]): [ipaddress.ip_network(p) for p in r["prefixes"].split()]
           for r in csv.DictReader(open(sys.argv[2]))}
stranger = spoofed = 0
last = {}
dup = stale = 0
for l in lines[:-1]:
    f = json.loads(l)
    d = f.get("datagram")
    if not d or "drop" in d or "ip" not in f:
        continue
    if d["sender"] not in senders:
        stranger += 1
        continue
    if not any(ipaddress.ip_address(f["ip"]["src"]) in n for n in senders[d["sender"]]):
        spoofed += 1
        continue
    hi = last.get(d["sender"], 0)
    if d["seq"] + 4096 <= hi:
        stale += 1
    elif d["seq"] <= hi:
        dup += 1
    last[d["sender"]] = max(hi, d["seq"] + d["count"] - 1)
fails = []
def need(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)
fd, dd, res = s["frame_drops"], s["datagram_drops"], s["results"]
need(len(fd) >= 7, "--bad 0.2: frames dropped for %d reasons: %s" % (len(fd), sorted(fd)))
need(set(dd) == {"SHORT", "MAGIC", "COUNT", "FLAGS", "SENDER", "SEQ"},
     "--bad 0.2: datagrams dropped for every header reason: %s" % sorted(dd))
need({"MALFORMED", "UNSUPPORTED", "BAD_FIELD"} <= set(res), "--bad 0.2: rejects %s" % res)
need(s["framing_broken"] > 0, "--bad 0.2: broken framing (%d)" % s["framing_broken"])
need(res.get("OK", 0) > 0.5 * sum(res.values()), "--bad 0.2: most messages still valid")
unknown = [k for k in s["messages"] if k.startswith("0x") or k == "VERDICT"]
need(len(unknown) >= 4, "--bad 0.2: several unknown message types: %s" % unknown)
need(stranger > 0 and spoofed > 0,
     "--bad 0.2: unregistered senders (%d) and spoofed sources (%d)" % (stranger, spoofed))
need(dup > 0 and stale > 0, "--bad 0.2: retransmitted (%d) and stale (%d) datagrams" % (dup, stale))
sys.exit(1 if fails else 0)
EOF
	[ $? -eq 0 ] || fails=$((fails + 1))
	check "--bad 0.2: every message fault kind" \
		bash -c "test \$(grep -o 'broken messages.*' '$T/c1.err' | tr ';' '\n' | grep -c ' [1-9][0-9]*\$') -eq 16"
else
	if grep -q "not built" "$T/dec.err"; then echo "skip cwctl decode (not built yet)"; else fail "cwctl decode"; fi
fi

# ---- rules.cw ----
R=$T/a1/rules.cw
out=$("$CWCTL" check "$R" 2>&1)
rc=$?
if [ $rc -eq 3 ] && echo "$out" | grep -q "not built"; then
	echo "skip cwctl check (not built yet)"
else
	check "rules.cw compiles: $out" test $rc -eq 0
	"$CWCTL" check "$T/f/rules.cw" >/dev/null 2>&1
	check "fallback rules.cw compiles" test $? -eq 0
fi
check "200 rules, 300 profiles" test "$(grep -c '^rule ' "$R"):$(grep -c '^profile ' "$R")" = "200:300"
for c in aeo good warning dishonest serious unknown; do
	check "class $c" grep -Eq "^class $c +mode " "$R"
done
for re in '^version [0-9]' '^salt [0-9a-f]{32}' '^limit single ' '^limit annual ' '^limit tolerance ' \
	'^profile [0-9]{2} ' '^profile [0-9]{4} ' '^profile [0-9]{6} ' '^profile [0-9]{8,10} ' \
	' docs [A-Z_]+,[A-Z_]+' ' strict' '^rule [0-9]+ priority [0-9]+ mode' ' reason "' '^    when ' \
	'^ +and ' ' in \(' 'hs [0-9]+\.\.[0-9]+' 'origin [A-Z]{2}\b' 'country [A-Z]{2}\b' 'class in \(' \
	'declarant [0-9A-Z]{18}' 'owner ' 'trade_mode ' 'port ' 'transport ' 'direction import' \
	'direction export' 'msg decl' 'msg list' ' doc [A-Z]' 'nodoc ' 'value ' 'total_value ' \
	'unit_value ' 'quantity ' ' < ' ' <= ' ' > ' ' >= ' ' = ' 'hs in \(' 'origin in \(' \
	'country in \(' 'declarant in \(' 'owner in \(' 'trade_mode in \(' 'port in \(' \
	'transport in \(' 'class (aeo|good|warning|dishonest|serious|unknown)( |$)' 'trade_mode [0-9]' \
	'port [0-9]' 'transport [0-9]' 'owner [0-9A-Z]{18}' 'hs [0-9]{10}( |$)' '^#'; do
	grep -Eq "$re" "$R" || { fail "rules.cw uses /$re/"; missing=1; }
done
[ -z "${missing:-}" ] && ok "rules.cw uses every construct"
check "rule ids unique" bash -c "test -z \"\$(grep -o '^rule [0-9]*' '$R' | sort | uniq -d)\""
check "profile prefixes unique" bash -c "test -z \"\$(grep -o '^profile [0-9]*' '$R' | sort | uniq -d)\""
reg_ok=1
for u in $(grep -Eo '(declarant|owner) (in \()?[0-9A-Z]{18}' "$R" | grep -Eo '[0-9A-Z]{18}' | sort -u); do
	grep -q "^$u," "$T/a1/registry.csv" || reg_ok=0
done
check "declarants and owners named by rules are in the registry" test $reg_ok -eq 1

# ---- sizes for the benchmarks (linear work; no timing asserted) ----
gen "$T/big" --seed 9 --messages 1000 --enterprises 200000 --rules 20000 --profiles 5000
check "large registry and rule set generated" test $? -eq 0
check "large registry has 200000 rows" test "$(($(wc -l <"$T/big/registry.csv") - 1))" -eq 200000
if [ $rc -ne 3 ]; then
	"$CWCTL" check "$T/big/rules.cw" >/dev/null 2>&1
	check "20000 rules and 5000 profiles compile" test $? -eq 0
fi

# ---- the ASan build, when there is one ----
if [ -x "build-asan/cwgen" ] && [ "$B" = build ]; then
	build-asan/cwgen --seed 3 --messages 3000 --bad 0.3 --senders 50 --ipv6 0.5 --vlan 0.5 \
		--out "$T/asan" 2>"$T/asan.err"
	check "ASan+UBSan build runs clean with --bad 0.3" test $? -eq 0
fi

echo
[ $fails -eq 0 ] && echo "cwgen: all checks passed" || echo "cwgen: $fails failed"
[ $fails -eq 0 ]
