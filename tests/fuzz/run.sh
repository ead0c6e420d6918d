#!/bin/sh
# `make fuzz`: runs every libFuzzer target of BUILD for SECONDS on a copy of
# its corpus (new inputs land in the copy; add the interesting ones to
# tests/fuzz/corpus/NAME by hand). Usage: run.sh BUILD SECONDS
set -eu
BUILD=$1
SECONDS_EACH=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for f in "$BUILD"/tests/fuzz/fuzz_*; do
	case "$f" in *.o|*.d) continue ;; esac
	[ -x "$f" ] || continue
	name=${f##*/fuzz_}
	mkdir -p "$work/$name"
	cp tests/fuzz/corpus/"$name"/* "$work/$name"/ 2>/dev/null || true
	echo "fuzz: $name for $SECONDS_EACH s"
	if ! "$f" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "$work/$name" \
		>"$work/$name.log" 2>&1; then
		echo "fuzz: $name FAILED; crash input and log:"
		tail -n 40 "$work/$name.log"
		ls "$PWD"/crash-* "$PWD"/leak-* 2>/dev/null || true
		status=1
	else
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$name.log" | sed 's/^/  /'
	fi
done
exit $status
