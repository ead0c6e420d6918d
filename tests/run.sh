#!/bin/sh
# Runs every test of `make check`: the layering check, cmocka unit tests,
# fuzz corpus replays and integration tests with real processes. Ends with
# "N passed, N failed".
# TESTS=pattern runs only the suites whose path contains the pattern.
set -u
BUILD=${BUILD:-build}
export CMOCKA_MESSAGE_OUTPUT=stdout
export COMPTOIR_BIN="$PWD/$BUILD/comptoir"
export COMPTOIR_BUILD="$PWD/$BUILD"
# CI runs as root; the node refuses root unless told (tests only).
export COMPTOIR_ALLOW_ROOT=1
pass=0
fail=0
failed_suites=""
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# Adds the counts a suite printed; a suite that failed without counts counts one.
account() { # name rc outfile seconds
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$3" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$3" | tail -n 1)
	if [ -z "$p$f" ]; then
		line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$3" | tail -n 1)
		p=$(echo "$line" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p')
		f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
	fi
	p=${p:-0}
	f=${f:-0}
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$2" -ne 0 ]; then
		failed_suites="$failed_suites $1"
		echo "FAIL $1 (exit $2, $4 s)"
		sed 's/^/    /' "$3" | tail -n 60
	else
		echo "ok   $1 ($p passed, $4 s)"
	fi
}

run_suite() { # name command...
	name=$1
	shift
	case "$name" in *"${TESTS:-}"*) ;; *) return 0 ;; esac
	out="$log/out"
	t0=$(date +%s)
	"$@" >"$out" 2>&1
	rc=$?
	account "$name" $rc "$out" $(($(date +%s) - t0))
}

# The modules' arrows point one way (docs/ARCHITECTURE.md, "Modules").
run_suite "layering" sh tests/layering.sh
for t in "$BUILD"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d|*.o) continue ;; esac
	run_suite "unit/$(basename "$t")" "$t"
done
for r in "$BUILD"/tests/fuzz/replay_*; do
	[ -x "$r" ] || continue
	case "$r" in *.d|*.o) continue ;; esac
	n=${r##*/replay_}
	run_suite "fuzz-replay/$n" "$r" "tests/fuzz/corpus/$n"
done
for t in tests/integration/test_*.py; do
	[ -f "$t" ] || continue
	run_suite "integration/$(basename "$t" .py)" python3 "$t"
done
for t in tests/integration/test_*.sh; do
	[ -f "$t" ] || continue
	run_suite "integration/$(basename "$t" .sh)" sh "$t"
done

[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
