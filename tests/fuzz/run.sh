#!/bin/sh
# `make fuzz`: runs every libFuzzer target of BUILD (every tests/fuzz/fuzz_*.c,
# built as BUILD/tests/fuzz/fuzz_*) for SECONDS on a copy of its corpus
# (new inputs land in the copy; add the interesting ones to
# tests/fuzz/corpus/NAME by hand), one process each, one after the other.
# FUZZ_ONLY="a b" runs only those targets. Prints the executions of each and
# fails when a target is missing or finds a crash.
# Usage: run.sh BUILD SECONDS
set -eu
BUILD=$1
SECONDS_EACH=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for src in tests/fuzz/fuzz_*.c; do
	name=${src##*/fuzz_}
	name=${name%.c}
	case " ${FUZZ_ONLY:-$name} " in *" $name "*) ;; *) continue ;; esac
	f="$BUILD/tests/fuzz/fuzz_$name"
	if [ ! -x "$f" ]; then
		echo "fuzz: $name: $f was not built"
		status=1
		continue
	fi
	mkdir -p "$work/$name"
	cp tests/fuzz/corpus/"$name"/* "$work/$name"/ 2>/dev/null || true
	echo "fuzz: $name for $SECONDS_EACH s"
	if ! "$f" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "$work/$name" \
		>"$work/$name.log" 2>&1; then
		echo "fuzz: $name FAILED; crash input and log:"
		tail -n 40 "$work/$name.log"
		ls "$PWD"/crash-* "$PWD"/leak-* "$PWD"/timeout-* "$PWD"/oom-* 2>/dev/null || true
		status=1
	else
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$name.log" | sed 's/^/  /'
		echo "  corpus: $(ls "$work/$name" | wc -l) inputs"
	fi
done
exit $status
