#!/usr/bin/env bash
# Runs unit test binaries one after another; prints each one's Check summary and a total.
# usage: run-unit.sh BUILD_DIR TEST...
set -u
build=$1; shift
pass=0; fail=0; failed=()
for t in "$@"; do
	name=$(basename "$t")
	if out=$(CK_FORK=no timeout 600 "$t" 2>&1); then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); failed+=("$name")
		echo "$out" | tail -40
	fi
	echo "$out" | grep -E '^[0-9]+%: Checks' | sed "s|^|  $build/$name: |"
done
echo "unit ($build): $pass passed, $fail failed${failed:+ (${failed[*]})}"
[ "$fail" -eq 0 ]
