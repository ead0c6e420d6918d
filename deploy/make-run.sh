#!/bin/sh
# `make run`: on first run creates ./var with embedded defaults and an admin
# account whose password is printed once, then starts the node in the foreground.
# COMPTOIR_DIR (var), COMPTOIR_SITE (comptoir), COMPTOIR_TITLE (none),
# COMPTOIR_HTTP (127.0.0.1:8080) and COMPTOIR_LISTEN (tcp://127.0.0.1:7400,
# where other sites connect) change the defaults; COMPTOIR_HTTP also changes
# the address of a node made earlier, the others only a new one.
set -eu
BIN=$1
DIR=${COMPTOIR_DIR:-var}
SITE=${COMPTOIR_SITE:-comptoir}
HTTP=${COMPTOIR_HTTP:-127.0.0.1:8080}
LISTEN=${COMPTOIR_LISTEN:-tcp://127.0.0.1:7400}
CONF=$DIR/comptoir.yaml

if [ ! -f "$CONF" ]; then
	echo "make run: first run: creating a node in $DIR"
	set -- init --dir "$DIR" --site "$SITE" --http "$HTTP" --listen "$LISTEN"
	[ -z "${COMPTOIR_TITLE:-}" ] || set -- "$@" --title "$COMPTOIR_TITLE"
	out=$("$BIN" "$@")
	# Its "next:" hint says to add an admin and run the node: done below.
	printf '%s\n' "$out" | sed '/^next:/,$d'
	echo
	echo "make run: an administrator account, shown once:"
	"$BIN" user add admin --admin --name "Administrator" --dir "$DIR" | sed 's/^/    /'
	echo "    (lost it? $BIN user passwd admin --dir $DIR prints a new one)"
	echo
else
	# A node exists: say what the variables change, rather than ignore them.
	cur=$(sed -n 's/^http: *//p' "$CONF")
	if [ -n "${COMPTOIR_HTTP:-}" ] && [ "$COMPTOIR_HTTP" != "$cur" ]; then
		sed -i "s|^http: .*|http: $COMPTOIR_HTTP|" "$CONF"
		echo "make run: COMPTOIR_HTTP: http: in $CONF is now $COMPTOIR_HTTP (was $cur)"
	fi
	name=$(sed -n 's/^name: *//p' "$CONF")
	for v in COMPTOIR_SITE COMPTOIR_TITLE COMPTOIR_LISTEN; do
		eval "val=\${$v:-}"
		[ -z "$val" ] || [ "$v=$val" = "COMPTOIR_SITE=$name" ] ||
			echo "make run: $v=$val is not applied: $DIR holds site \"$name\" already" \
				"(set COMPTOIR_DIR to make another node, or remove $DIR)"
	done
fi
echo "make run: open http://$(sed -n 's/^http: *//p' "$CONF")/ in a browser (Ctrl-C stops the node)"
if [ "$(id -u)" -eq 0 ]; then
	echo "make run: running as root for this trial run (a real install uses a dedicated user)"
	exec "$BIN" run --dir "$DIR" --allow-root
fi
exec "$BIN" run --dir "$DIR"
