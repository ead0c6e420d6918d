#!/bin/sh
# `make run`: on first run creates ./var with embedded defaults and an admin
# account whose password is printed once, then starts the node in the foreground.
# COMPTOIR_DIR, COMPTOIR_SITE and COMPTOIR_HTTP change the defaults.
set -eu
BIN=$1
DIR=${COMPTOIR_DIR:-var}
SITE=${COMPTOIR_SITE:-comptoir}
HTTP=${COMPTOIR_HTTP:-127.0.0.1:8080}

if [ ! -f "$DIR/comptoir.yaml" ]; then
	echo "make run: first run: creating a node in $DIR"
	"$BIN" init --dir "$DIR" --site "$SITE" --http "$HTTP"
	echo
	echo "make run: an administrator account, shown once:"
	"$BIN" user add admin --admin --name "Administrator" --dir "$DIR" | sed 's/^/    /'
	echo
fi
echo "make run: open http://$(sed -n 's/^http: *//p' "$DIR/comptoir.yaml")/ in a browser (Ctrl-C stops the node)"
if [ "$(id -u)" -eq 0 ]; then
	echo "make run: running as root for this trial run (a real install uses a dedicated user)"
	exec "$BIN" run --dir "$DIR" --allow-root
fi
exec "$BIN" run --dir "$DIR"
