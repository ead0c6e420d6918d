#!/bin/sh
# The layering check (make check runs it as a suite): reads the #include
# lines of every .c and .h under crypto/, config/, sync/ and node/ and fails
# when a file includes
#   - the header of a module above its own, or of a module at its own level
#     (modules of one level do not know each other),
#   - a header of another module other than its public one (named after its
#     folder: node/store/store.h), a *_internal.h above all,
#   - <lmdb.h>, anywhere but node/store/,
# or when a file outside node/store/ names an LMDB symbol (mdb_*, MDB_*,
# ->dbi). The order is written here and in docs/ARCHITECTURE.md, "Modules".
#
#   sh tests/layering.sh [ROOT]      (ROOT: the source tree, default .)
#
# Ends with "layering: N passed, N failed" (files checked).
set -u
ROOT=${1:-.}
cd "$ROOT" || exit 2

# Bottom to top: a module may include the modules of the levels below its
# own. Modules on one line are one level.
LEVELS='crypto
config
sync
node/store node/space node/blob
node/index
node/event node/query
node/core
node/auth node/fed node/mail node/search
node/http
node/daemon
node/cli
node'

# The level of module m, or nothing.
level_of() {
	printf '%s\n' "$LEVELS" | awk -v m="$1" '{ for (i = 1; i <= NF; i++) if ($i == m) print NR }'
}

# The module a file belongs to: its folder (node/main.c: "node").
module_of() {
	dirname "$1"
}

pass=0
fail=0
files=$(find crypto config sync node -name '*.[ch]' | sort)
for f in $files; do
	m=$(module_of "$f")
	lm=$(level_of "$m")
	bad=""
	if [ -z "$lm" ]; then
		bad="$bad
$f: module $m is not in the order of tests/layering.sh (add it there and to docs/ARCHITECTURE.md)"
	fi
	# <lmdb.h>: the store's alone.
	if grep -q '^[[:space:]]*#[[:space:]]*include[[:space:]]*<lmdb\.h>' "$f" && [ "$m" != node/store ]; then
		bad="$bad
$f: includes <lmdb.h>: only node/store/ talks to LMDB (node/store/store.h)"
	fi
	# LMDB's names outside the store.
	if [ "$m" != node/store ]; then
		hits=$(grep -nE '\bmdb_[a-z_]+\(|\bMDB_[A-Z_]+\b|->dbi\b' "$f" | head -3)
		if [ -n "$hits" ]; then
			bad="$bad
$f: names LMDB outside node/store/:
$hits"
		fi
	fi
	# Quoted includes of the tree.
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		im=$(dirname "$inc")
		[ "$im" = "$m" ] && continue # its own module: any of its headers
		li=$(level_of "$im")
		if [ -z "$li" ]; then
			case "$inc" in
			build/*) continue ;; # generated files
			esac
			bad="$bad
$f: includes \"$inc\", which is in no module of the order"
			continue
		fi
		case "$inc" in
		*_internal.h)
			bad="$bad
$f: includes \"$inc\", private to $im/"
			continue
			;;
		esac
		if [ "$inc" != "$im/$(basename "$im").h" ]; then
			bad="$bad
$f: includes \"$inc\": other modules include $im/$(basename "$im").h only"
			continue
		fi
		if [ -n "$lm" ] && [ "$li" -ge "$lm" ]; then
			if [ "$li" -eq "$lm" ]; then
				why="is on the same level ($im and $m do not know each other)"
			else
				why="is above it"
			fi
			bad="$bad
$f: includes \"$inc\": $im $why; the order is, bottom to top: $(printf '%s' "$LEVELS" | tr '\n' '<' | sed 's/</ < /g')"
		fi
	done
	if [ -n "$bad" ]; then
		printf 'FAIL%s\n' "$bad"
		fail=$((fail + 1))
	else
		pass=$((pass + 1))
	fi
done
echo "layering: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
