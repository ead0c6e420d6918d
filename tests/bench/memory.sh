#!/bin/sh
# Memory of a node serving feed reads, with 100k and with 1M events stored
# (called by tests/bench/run.sh; runs alone too):
#
#   BUILD=build ./tests/bench/memory.sh
#
# (COMPTOIR_BIN and BENCH_BIN, when set, name the binary and the folder of
# fill and feed_read instead of $BUILD/comptoir and $BUILD/tests/bench.)
#
# For each size a node is filled with tests/bench/fill (80% posts, 10%
# comments, 10% reactions, 50 users). Then, for each reading mode of
# MEM_PAGES (default "1 2000"), RUNS times (default 3): the node starts,
# feed_read asks GET /api/feed?limit=20 on 16 connections for MEM_SECONDS
# (default 20), either always the top of the feed (1) or following "next"
# up to 2000 pages deep (40,000 posts) and then from the top again, and
# /proc/PID/status is sampled every 0.5 s. Reported, median over the runs:
#   RssAnon  anonymous memory (heap, stacks, sessions): what must stay flat;
#   RssFile  file-backed pages, i.e. LMDB's map pages read so far (the kernel
#            page cache, shared and reclaimable);
#   VmRSS    their sum (plus shared memory), the peak while serving;
#   VmHWM    the peak RSS of the whole life of the process, which includes
#            the login at the start (argon2id takes 64 MiB for ~70 ms).
# The steady-state figures skip the first 3 s (the login).
# Output: progress lines, then "result|figure|target|median|ratio|runs" lines.
# MEM_SIZES (default "100000 1000000") sets the event counts. Deep paging
# maps many LMDB pages: RssFile grows with what was read (and with the
# kernel's fault-around, 64 KiB per fault when the file is in the page
# cache), never RssAnon.
set -u
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
MEM_SECONDS=${MEM_SECONDS:-20}
MEM_SIZES=${MEM_SIZES:-"100000 1000000"}
MEM_PAGES=${MEM_PAGES:-"1 2000"}
BIN=${COMPTOIR_BIN:-$PWD/$BUILD/comptoir}
B=${BENCH_BIN:-$PWD/$BUILD/tests/bench}
PW=bench-password
export COMPTOIR_ALLOW_ROOT=1

for f in "$BIN" "$B/fill" "$B/feed_read"; do
	if [ ! -x "$f" ]; then
		echo "memory: $f is missing: run make bench" >&2
		exit 1
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/comptoir-mem.XXXXXX")
# Run copies: a `make` elsewhere during the run must not swap the binaries.
mkdir -p "$T/bin"
cp "$BIN" "$B/fill" "$B/feed_read" "$T/bin/" || exit 1
BIN=$T/bin/comptoir
B=$T/bin
NODE_PID=""
LOAD_PID=""
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
	[ -z "$LOAD_PID" ] || kill "$LOAD_PID" 2>/dev/null
	stop_node
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_node() { # DIR PORT
	"$BIN" run --dir "$1" >>"$1/node.log" 2>&1 &
	NODE_PID=$!
	i=0
	while [ $i -lt 300 ]; do
		if ! kill -0 "$NODE_PID" 2>/dev/null; then
			echo "memory: the node exited:" >&2
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
	echo "memory: the node did not answer within 30 s" >&2
	exit 1
}

kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
# status PID: "rss hwm anon file" in KiB.
status() {
	awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
	     END { print r + 0, h + 0, a + 0, f + 0 }' "/proc/$1/status" 2>/dev/null
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "memory: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), binary $(sha256sum "$BIN" | cut -c1-16)"
run=0
for size in $MEM_SIZES; do
	d=$T/n$size
	port=$(free_port)
	"$BIN" init --dir "$d" --site bench --http "127.0.0.1:$port" \
		--listen "tcp://127.0.0.1:$(free_port)" >/dev/null || exit 1
	posts=$((size * 8 / 10))
	echo "size $size: filling $posts posts, $((size / 10)) comments, $((size / 10)) reactions"
	"$B/fill" --dir "$d" --posts "$posts" --comments $((size / 10)) --reactions $((size / 10)) \
		--users 50 --password "$PW" 2>/dev/null | sed 's/^/  /'
	[ -f "$d/store/data.mdb" ] || exit 1
	echo "  store: $(du -m "$d/store/data.mdb" | cut -f1) MiB on disk"
	for pages in $MEM_PAGES; do
		echo "  reads: $([ "$pages" -eq 1 ] && echo "the top of the feed" || echo "paging $pages pages deep")"
		anon="" file="" rss="" hwm=""
		for r in $(seq 1 "$RUNS"); do
			run=$((run + 1))
			start_node "$d" "$port"
			sleep 1
			set -- $(status "$NODE_PID")
			idle_anon=$3
			idle_file=$4
			"$B/feed_read" --port "$port" --handle u0001 --password "$PW" --conns 16 \
				--duration "$MEM_SECONDS" --warmup 1 --limit 20 --pages "$pages" \
				--src "127.0.4.$run" >"$T/load.txt" 2>&1 &
			LOAD_PID=$!
			max_rss=0 max_anon=0 max_file=0 hwm_now=0 t=0
			# Sample until the load ends (bounded: its duration plus 60 s).
			while kill -0 "$LOAD_PID" 2>/dev/null && [ $t -lt $((2 * MEM_SECONDS + 120)) ]; do
				set -- $(status "$NODE_PID")
				[ $# -eq 4 ] || break
				hwm_now=$2
				if [ $t -ge 6 ]; then
					[ "$1" -gt $max_rss ] && max_rss=$1
					[ "$3" -gt $max_anon ] && max_anon=$3
					[ "$4" -gt $max_file ] && max_file=$4
				fi
				sleep 0.5
				t=$((t + 1))
			done
			wait "$LOAD_PID"
			lrc=$?
			LOAD_PID=""
			out=$(tail -n 1 "$T/load.txt")
			stop_node
			if [ $lrc -ne 0 ]; then
				echo "  run $r: feed_read failed:"
				sed 's/^/    /' "$T/load.txt" | tail -n 5
				exit 1
			fi
			echo "    run $r: idle RssAnon $(mib "$idle_anon"), RssFile $(mib "$idle_file") MiB; serving: VmRSS $(mib $max_rss)," \
				"RssAnon $(mib $max_anon), RssFile $(mib $max_file), VmHWM $(mib "$hwm_now") MiB;" \
				"$(kv "$out" reads_per_s) reads/s"
			anon="$anon $(mib $max_anon)"
			file="$file $(mib $max_file)"
			rss="$rss $(mib $max_rss)"
			hwm="$hwm $(mib "$hwm_now")"
		done
		k=${size}_$pages
		eval "ANON_$k=\$(median $anon); FILE_$k=\$(median $file); RSS_$k=\$(median $rss)"
		eval "HWM_$k=\$(median $hwm); ANON_RUNS_$k=\"$anon\"; FILE_RUNS_$k=\"$file\""
	done
	rm -rf "$d"
done

# Results: RssAnon of each size, the later sizes against the first; the
# file-backed and peak figures of all sizes on one line each.
first=${MEM_SIZES%% *}
label() { awk -v n="$1" 'BEGIN { if (n >= 1000000 && n % 1000000 == 0) print n / 1000000 "M";
	else if (n >= 1000 && n % 1000 == 0) print n / 1000 "k"; else print n }'; }
for pages in $MEM_PAGES; do
	if [ "$pages" -eq 1 ]; then how="top reads"; else how="$pages-page reads"; fi
	eval "a0=\$ANON_${first}_$pages"
	files="" hwms="" sizes=""
	for size in $MEM_SIZES; do
		k=${size}_$pages
		eval "a=\$ANON_$k ar=\$ANON_RUNS_$k f=\$FILE_$k h=\$HWM_$k"
		l=$(label "$size")
		if [ "$size" = "$first" ]; then
			echo "result|memory: RssAnon MiB, $l events, $how|baseline|$a|-|$ar"
		else
			echo "result|memory: RssAnon MiB, $l events, $how|<= 1.10x $(label "$first")|$a|$(awk -v a="$a" -v b="$a0" 'BEGIN { printf "%.2f", a / b }')|$ar"
		fi
		sizes="$sizes${sizes:+ / }$l"
		files="$files${files:+ / }$f"
		hwms="$hwms${hwms:+ / }$h"
	done
	echo "result|memory: RssFile MiB (LMDB map), $how, $sizes|-|$files|-|"
	echo "result|memory: VmHWM MiB, $how, $sizes|-|$hwms|-|"
done
