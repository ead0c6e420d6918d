#!/bin/sh
# `make run`: on first run creates ./var with embedded defaults and an admin
# account whose password is printed once, then starts the node in the foreground.
# COMPTOIR_DIR, COMPTOIR_SITE and COMPTOIR_HTTP change the defaults; an
# address off loopback gets HTTPS with a self-signed certificate (openssl).
set -eu
BIN=$1
DIR=${COMPTOIR_DIR:-var}
SITE=${COMPTOIR_SITE:-comptoir}
HTTP=${COMPTOIR_HTTP:-127.0.0.1:8080}

# Plain HTTP is for loopback only (passwords would cross the LAN in clear).
# Off loopback, this trial run makes a self-signed certificate; a real site
# uses one of the company's CA (docs/OPERATIONS.md, HTTPS).
case "$HTTP" in
127.*:* | localhost:* | "[::1]":*) TLS= ;;
*) TLS=1 ;;
esac

if [ ! -f "$DIR/comptoir.yaml" ]; then
	echo "make run: first run: creating a node in $DIR"
	set --
	if [ -n "$TLS" ]; then
		host=$(hostname)
		san="DNS:$host,DNS:localhost,IP:127.0.0.1"
		fqdn=$(hostname -f 2>/dev/null || true)
		[ -z "$fqdn" ] || [ "$fqdn" = "$host" ] || san="$san,DNS:$fqdn"
		case "${HTTP%:*}" in
		0.0.0.0 | "[::]") ;;
		*[!0-9.]*) san="$san,DNS:${HTTP%:*}" ;;
		*) san="$san,IP:${HTTP%:*}" ;;
		esac
		mkdir -p "$DIR/tls"
		(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-days 365 -subj "/CN=$host" -addext "subjectAltName=$san" \
			-keyout "$DIR/tls/site.key" -out "$DIR/tls/site.crt" 2>/dev/null) ||
			{ echo "make run: openssl could not make a certificate" >&2; exit 1; }
		echo "make run: $HTTP is not loopback: serving HTTPS with a self-signed certificate"
		echo "    for $san (browsers will warn: for a trial only)"
		set -- --tls-cert "$DIR/tls/site.crt" --tls-key "$DIR/tls/site.key"
	fi
	"$BIN" init --dir "$DIR" --site "$SITE" --http "$HTTP" "$@"
	echo
	echo "make run: an administrator account, shown once:"
	"$BIN" user add admin --admin --name "Administrator" --dir "$DIR" | sed 's/^/    /'
	echo
fi
scheme=http
grep -q '^tls:' "$DIR/comptoir.yaml" && scheme=https
echo "make run: open $scheme://$(sed -n 's/^http: *//p' "$DIR/comptoir.yaml")/ in a browser (Ctrl-C stops the node)"
if [ "$(id -u)" -eq 0 ]; then
	echo "make run: running as root for this trial run (a real install uses a dedicated user)"
	exec "$BIN" run --dir "$DIR" --allow-root
fi
exec "$BIN" run --dir "$DIR"
