#!/bin/sh
# The management workbook's cost (issue 21): fills a fresh node with a
# year of events (fill: posts, comments, reactions spread over 365 days),
# then times `comptoir report --xlsx` (the figures' walk over the year and
# over the year before, then the workbook) and `comptoir figures --days 365`
# for comparison, with their CPU time and peak resident memory (which counts
# the pages of the store's memory map that the walk touched: the store's
# size is printed beside it).
#
#   sh tests/bench/report.sh [POSTS COMMENTS REACTIONS]   (default 30000 40000 30000)
#
# 1,000,000 events: sh tests/bench/report.sh 300000 400000 300000 (a fill of
# several minutes at ~1,700 events/s: not on a shared machine's busy hour).
set -eu
B=${COMPTOIR_BUILD:-build}
P=${1:-30000} C=${2:-40000} R=${3:-30000}
D=$(mktemp -d "${TMPDIR:-/tmp}/comptoir-bench-report-XXXXXX")
trap 'rm -rf "$D"' EXIT
"$B/comptoir" init --dir "$D/n" --site paris >/dev/null
"$B/tests/bench/fill" --dir "$D/n" --posts "$P" --users 50 --comments "$C" --reactions "$R" --days 365 | tail -1
to=$(date -u +%Y-%m-%d)
from=$(date -u -d "$to - 364 days" +%Y-%m-%d)
for i in 1 2 3; do
	/usr/bin/time -f "report %e s wall, %U s user, %S s sys, %M KB peak RSS" "$B/comptoir" report --dir "$D/n" --xlsx "$D/r.xlsx" --from "$from" --to "$to" >/dev/null
	/usr/bin/time -f "figures %e s wall, %U s user, %S s sys, %M KB peak RSS" "$B/comptoir" figures --dir "$D/n" --days 365 >/dev/null
done
ls -l "$D/r.xlsx" | awk '{print "workbook", $5, "bytes"}'
du -k "$D/n/store/data.mdb" 2>/dev/null | awk '{print "store", $1, "KB"}' || true
uptime
