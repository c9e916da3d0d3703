#!/usr/bin/env bash
# The rte_acl tables against the plain rule-by-rule evaluation (`cwctl simulate --linear`) on
# cwgen workloads of several seeds and sizes: the answers must be the same bytes. The seeds
# include rule sets whose mix of amount ranges once made one rte_acl context grow past 20 GB;
# the address space is capped so a regression fails here instead of swapping the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CW_CORPUS=${CW_CORPUS:-../shared/corpus}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
one() { # name, cwgen arguments...
	local name=$1; shift
	build/cwgen "$@" --out "$T/$name" >/dev/null 2>&1
	local w=$T/$name
	for mode in acl linear; do
		local flag=; [ $mode = linear ] && flag=--linear
		if ! (ulimit -v 6000000; build/cwctl simulate --rules "$w/rules.cw" \
			--registry "$w/registry.csv" --senders "$w/senders.csv" \
			--in "$w/requests.pcap" --out "$w/$mode.pcap" $flag >"$w/$mode.txt" 2>&1); then
			echo "FAIL $name: simulate ($mode)"; tail -3 "$w/$mode.txt"; fail=1; return
		fi
	done
	if build/tests/tools/pcapcmp seq "$w/acl.pcap" "$w/linear.pcap" >"$w/cmp.txt" 2>&1; then
		echo "ok   $name: $(cat "$w/cmp.txt")"
	else
		echo "FAIL $name: ACL and linear answers differ"; head -5 "$w/cmp.txt"; fail=1
	fi
}
for seed in 1 3 7 11; do
	one "seed$seed" --seed "$seed" --messages 6000 --senders 6
done
one rules2k --seed 13 --messages 4000 --rules 2000 --profiles 1000 --bad 0.1
exit $fail
