#!/usr/bin/env bash
# `make test`: unit tests (plain build and ASan+UBSan build), then the integration tests.
# Ends with one line "tests: N passed, N failed" counting test binaries and scripts.
set -u
cd "$(dirname "$0")/.."
pass=0; fail=0; failed=()

record() { # name rc
	if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$1"); fi
}

export CW_VECTORS=${CW_VECTORS:-$(cd .. && pwd)/shared/vectors}
export CW_CORPUS=${CW_CORPUS:-$(cd .. && pwd)/shared/corpus}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for build in build build-asan; do
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		name="$build/$(basename "$t")"
		out=$(CK_FORK=no timeout 900 "$t" 2>&1); rc=$?
		echo "$out" | grep -E '^[0-9]+%: Checks' | sed "s|^|$name: |"
		[ $rc -eq 0 ] || echo "$out" | tail -60
		record "$name" $rc
	done
done

for s in tests/integration/*.sh; do
	[ -f "$s" ] || continue
	name="integration/$(basename "$s" .sh)"
	start=$(date +%s)
	out=$(timeout 900 bash "$s" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then
		echo "$name: ok ($(( $(date +%s) - start ))s)"
	else
		echo "$name: FAILED (rc $rc)"; echo "$out" | tail -60
	fi
	record "$name" $rc
done

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
