#!/bin/sh
# Single-site benchmarks of Comptoir (`make bench`). Each figure is measured
# RUNS times (default 3) and printed with its median next to its target.
# Everything runs on loopback in a temporary directory removed at the end;
# the only processes stopped are the nodes this script started.
#
#   BUILD=build ./tests/bench/run.sh
#
# Knobs (environment): RUNS (3), DURATION seconds per load run (10),
# FEED_POSTS (100000), FEED_CONNS (16), POST_CLIENTS ("1 8 32"),
# MEMORY=0 skips tests/bench/memory.sh (slow: it fills a 1M-event store),
# BENCH_OUT file the summary is copied to (default $BUILD/bench-results.txt).
# The figures, how they were taken and what they mean: docs/BENCHMARKS.md.
set -u
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
FEED_POSTS=${FEED_POSTS:-100000}
FEED_CONNS=${FEED_CONNS:-16}
POST_CLIENTS=${POST_CLIENTS:-"1 8 32"}
MEMORY=${MEMORY:-1}
BENCH_OUT=${BENCH_OUT:-$BUILD/bench-results.txt}
BIN=$PWD/$BUILD/comptoir
B=$PWD/$BUILD/tests/bench
PW=bench-password
export COMPTOIR_ALLOW_ROOT=1 # `comptoir run` refuses root otherwise (bench machines often are)

for f in "$BIN" "$B/fill" "$B/feed_read" "$B/api_post"; do
	if [ ! -x "$f" ]; then
		echo "bench: $f is missing: run make bench" >&2
		exit 1
	fi
done
command -v python3 >/dev/null || { echo "bench: python3 is needed (free ports, status)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/comptoir-bench.XXXXXX")
# Run copies: a `make` elsewhere in the tree during the run must not swap
# the binaries between two measurements.
mkdir -p "$T/bin"
cp "$BIN" "$B/fill" "$B/feed_read" "$B/api_post" "$T/bin/" || exit 1
BIN=$T/bin/comptoir
B=$T/bin
NODE_PID=""
stop_node() {
	[ -n "$NODE_PID" ] || return 0
	kill -TERM "$NODE_PID" 2>/dev/null
	i=0
	while kill -0 "$NODE_PID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$NODE_PID" 2>/dev/null
	wait "$NODE_PID" 2>/dev/null
	NODE_PID=""
}
cleanup() {
	stop_node
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# init DIR PORT: a fresh node answering HTTP on PORT.
init_node() {
	"$BIN" init --dir "$1" --site bench --http "127.0.0.1:$2" \
		--listen "tcp://127.0.0.1:$(free_port)" >/dev/null || exit 1
}

# start DIR PORT: runs the node, waits (at most 30 s) for /api/status.
start_node() {
	"$BIN" run --dir "$1" >>"$1/node.log" 2>&1 &
	NODE_PID=$!
	i=0
	while [ $i -lt 300 ]; do
		if ! kill -0 "$NODE_PID" 2>/dev/null; then
			echo "bench: the node exited:" >&2
			tail -n 20 "$1/node.log" >&2
			exit 1
		fi
		python3 - "$2" <<-'EOF' 2>/dev/null && return 0
		import sys, urllib.request
		urllib.request.urlopen("http://127.0.0.1:%s/api/status" % sys.argv[1], timeout=1).read()
		EOF
		sleep 0.1
		i=$((i + 1))
	done
	echo "bench: the node did not answer within 30 s" >&2
	exit 1
}

# kv LINE KEY: the value of KEY=value in LINE.
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# median of the arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
load() { cut -d' ' -f1 /proc/loadavg; }
T0=$(date +%s)
elapsed() { echo "  ($(($(date +%s) - T0)) s elapsed)"; }

SUMMARY=$T/summary.txt
FAILED=0 # tools that failed (errors, no answers): the exit status says so
row() { # figure target median ratio runs
	printf '%-44s | %-14s | %-10s | %-8s | %s\n' "$1" "$2" "$3" "$4" "$5" | tee -a "$SUMMARY"
}

echo "Comptoir benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "runs per figure: $RUNS, $DURATION s each (after a 2 s warm-up); load average now $(load)"
echo "binary: $(sha256sum "$BIN" | cut -c1-16) ($(git log -1 --format=%h 2>/dev/null || echo "no git")$(git status --porcelain 2>/dev/null | grep -q . && echo ", uncommitted changes"))"
echo

# ------------------------------------------------------------------ fill

echo "== fill: events/s through node_submit (batches of 1000, durable commits)"
rates=""
for r in $(seq 1 "$RUNS"); do
	d=$T/fill$r
	init_node "$d" "$(free_port)"
	out=$("$B/fill" --dir "$d" --posts 20000 --comments 2000 --reactions 2000 --users 10 \
		--password "$PW" 2>/dev/null | tail -n 1)
	rate=$(kv "$out" events_per_s)
	case "$out" in *refused=0*) ;; *) FAILED=$((FAILED + 1)) ;; esac
	echo "  run $r: $out (load $(load))"
	rates="$rates ${rate:-0}"
	rm -rf "$d"
done
FILL_RATE=$(median $rates)

# ------------------------------------------------------------ feed reads

elapsed
echo "== feed: GET /api/feed?limit=20, $FEED_CONNS keep-alive connections, $FEED_POSTS posts stored"
FEED=$T/feed
PORT=$(free_port)
init_node "$FEED" "$PORT"
echo "  filling: $FEED_POSTS posts, $((FEED_POSTS / 10)) comments, $((FEED_POSTS / 10)) reactions by 50 users"
"$B/fill" --dir "$FEED" --posts "$FEED_POSTS" --comments $((FEED_POSTS / 10)) \
	--reactions $((FEED_POSTS / 10)) --users 50 --password "$PW" 2>/dev/null | sed 's/^/  /'
start_node "$FEED" "$PORT"
rps="" p50="" p99="" fcpu=""
for r in $(seq 1 "$RUNS"); do
	out=$("$B/feed_read" --port "$PORT" --handle u0001 --password "$PW" --conns "$FEED_CONNS" \
		--duration "$DURATION" --warmup 2 --limit 20 --src "127.0.3.$r" --node-pid "$NODE_PID") ||
		FAILED=$((FAILED + 1))
	echo "  run $r: $out (load $(load))"
	rps="$rps $(kv "$out" reads_per_s)"
	p50="$p50 $(kv "$out" p50_ms)"
	p99="$p99 $(kv "$out" p99_ms)"
	fcpu="$fcpu $(kv "$out" node_cpu_us_per_read)"
done
FEED_RPS=$(median $rps)
FEED_P50=$(median $p50)
FEED_P99=$(median $p99)
FEED_RPS_RUNS=$rps
FEED_P99_RUNS=$p99

# ----------------------------------------------------------------- posts

elapsed
echo "== posts: POST /api/posts, K logged-in keep-alive clients (each a different user)"
POSTS_ROWS=""
net=10
for k in $POST_CLIENTS; do
	pps="" p50s="" p99s="" pcpu=""
	for r in $(seq 1 "$RUNS"); do
		net=$((net + 1))
		out=$("$B/api_post" --port "$PORT" --clients "$k" --users 50 --password "$PW" \
			--duration "$DURATION" --warmup 2 --src-net "127.0.$net" --node-pid "$NODE_PID") ||
			FAILED=$((FAILED + 1))
		echo "  K=$k run $r: $out (load $(load))"
		pps="$pps $(kv "$out" posts_per_s)"
		p50s="$p50s $(kv "$out" p50_ms)"
		p99s="$p99s $(kv "$out" p99_ms)"
		pcpu="$pcpu $(kv "$out" node_cpu_us_per_post)"
	done
	POSTS_ROWS="$POSTS_ROWS$k $(median $pps) $(median $p50s) $(median $p99s) $(median $pcpu) $pps
"
done
stop_node

# ---------------------------------------------------------------- memory

MEM_LINES=""
elapsed
if [ "$MEMORY" != 0 ]; then
	echo "== memory: tests/bench/memory.sh (fills 100k and 1M events; several minutes)"
	COMPTOIR_BIN=$BIN BENCH_BIN=$B RUNS=$RUNS "$(dirname "$0")/memory.sh" >"$T/memory.txt"
	rc=$?
	sed 's/^/  /' "$T/memory.txt"
	[ $rc -eq 0 ] || { echo "  memory.sh failed (exit $rc)"; FAILED=$((FAILED + 1)); }
	MEM_LINES=$(grep '^result|' "$T/memory.txt")
fi

# --------------------------------------------------------------- summary

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
elapsed
echo
echo "== summary (median of $RUNS runs; ratio = measured / target, >= 1 is good for rates, <= 1 for latencies and memory)"
: >"$SUMMARY"
row "figure" "target" "median" "ratio" "runs"
row "fill: events/s (node_submit, 1000/txn)" "-" "$FILL_RATE" "-" "$rates"
row "feed: reads/s, limit=20, $FEED_CONNS conns" ">= 5000" "$FEED_RPS" "$(ratio "$FEED_RPS" 5000)" "$FEED_RPS_RUNS"
row "feed: p50 latency ms" "-" "$FEED_P50" "-" "$p50"
row "feed: p99 latency ms" "<= 20" "$FEED_P99" "$(ratio "$FEED_P99" 20)" "$FEED_P99_RUNS"
row "feed: node CPU us per read" "-" "$(median $fcpu)" "-" "$fcpu"
printf '%s' "$POSTS_ROWS" | while read -r k pps p50s p99s pcpu runs; do
	[ -n "$k" ] || continue
	row "posts: posts/s, K=$k clients" "-" "$pps" "-" "$runs"
	row "posts: p50 / p99 latency ms, K=$k" "-" "$p50s / $p99s" "-" ""
	row "posts: node CPU us per post, K=$k" "-" "$pcpu" "-" ""
done
if [ -n "$MEM_LINES" ]; then
	printf '%s\n' "$MEM_LINES" | while IFS='|' read -r _ name target med rat runs; do
		row "$name" "$target" "$med" "$rat" "$runs"
	done
fi
mkdir -p "$(dirname "$BENCH_OUT")"
{
	echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
	cat "$SUMMARY"
} >"$BENCH_OUT"
echo "(summary copied to $BENCH_OUT)"
if [ $FAILED -ne 0 ]; then
	echo "bench: $FAILED measurement(s) failed (errors or refused events): see above" >&2
	exit 1
fi
