#!/bin/sh
# `make run`: on first run creates ./var with embedded defaults and an admin
# account whose password is printed once, then starts the node in the foreground.
# COMPTOIR_DIR (var), COMPTOIR_SITE (comptoir), COMPTOIR_TITLE (none),
# COMPTOIR_HTTP (127.0.0.1:8080) and COMPTOIR_LISTEN (tcp://127.0.0.1:7400,
# where other sites connect) change the defaults; COMPTOIR_HTTP also changes
# the address of a node made earlier, the others only a new one. An address
# off loopback gets HTTPS with a self-signed certificate (openssl).
set -eu
BIN=$1
DIR=${COMPTOIR_DIR:-var}
SITE=${COMPTOIR_SITE:-comptoir}
HTTP=${COMPTOIR_HTTP:-127.0.0.1:8080}
LISTEN=${COMPTOIR_LISTEN:-tcp://127.0.0.1:7400}
CONF=$DIR/comptoir.yaml

# Plain HTTP is for loopback only (passwords would cross the LAN in clear).
# Off loopback, this trial run makes a self-signed certificate; a real site
# uses one of the company's CA (docs/OPERATIONS.md, HTTPS).
off_loopback() { # ADDR:PORT
	case "$1" in
	127.*:* | localhost:* | "[::1]":*) return 1 ;;
	*) return 0 ;;
	esac
}

# Makes $DIR/tls/site.crt and site.key for the address $1.
make_cert() {
	host=$(hostname)
	san="DNS:$host,DNS:localhost,IP:127.0.0.1"
	fqdn=$(hostname -f 2>/dev/null || true)
	[ -z "$fqdn" ] || [ "$fqdn" = "$host" ] || san="$san,DNS:$fqdn"
	case "${1%:*}" in
	0.0.0.0 | "[::]") ;;
	*[!0-9.]*) san="$san,DNS:${1%:*}" ;;
	*) san="$san,IP:${1%:*}" ;;
	esac
	mkdir -p "$DIR/tls"
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 365 -subj "/CN=$host" -addext "subjectAltName=$san" \
		-keyout "$DIR/tls/site.key" -out "$DIR/tls/site.crt" 2>/dev/null) ||
		{ echo "make run: openssl could not make a certificate" >&2; exit 1; }
	echo "make run: $1 is not loopback: serving HTTPS with a self-signed certificate"
	echo "    for $san (browsers will warn: for a trial only)"
}

if [ ! -f "$CONF" ]; then
	echo "make run: first run: creating a node in $DIR"
	set -- init --dir "$DIR" --site "$SITE" --http "$HTTP" --listen "$LISTEN"
	[ -z "${COMPTOIR_TITLE:-}" ] || set -- "$@" --title "$COMPTOIR_TITLE"
	if off_loopback "$HTTP"; then
		make_cert "$HTTP"
		set -- "$@" --tls-cert "$DIR/tls/site.crt" --tls-key "$DIR/tls/site.key"
	fi
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
		if off_loopback "$COMPTOIR_HTTP" && ! grep -q '^tls:' "$CONF"; then
			make_cert "$COMPTOIR_HTTP"
			printf '\n# made by make run for a trial off loopback\ntls:\n  cert: tls/site.crt\n  key: tls/site.key\n' >>"$CONF"
		fi
	fi
	name=$(sed -n 's/^name: *//p' "$CONF")
	for v in COMPTOIR_SITE COMPTOIR_TITLE COMPTOIR_LISTEN; do
		eval "val=\${$v:-}"
		[ -z "$val" ] || [ "$v=$val" = "COMPTOIR_SITE=$name" ] ||
			echo "make run: $v=$val is not applied: $DIR holds site \"$name\" already" \
				"(set COMPTOIR_DIR to make another node, or remove $DIR)"
	done
fi
scheme=http
grep -q '^tls:' "$CONF" && scheme=https
echo "make run: open $scheme://$(sed -n 's/^http: *//p' "$CONF")/ in a browser (Ctrl-C stops the node)"
if [ "$(id -u)" -eq 0 ]; then
	echo "make run: running as root for this trial run (a real install uses a dedicated user)"
	exec "$BIN" run --dir "$DIR" --allow-root
fi
exec "$BIN" run --dir "$DIR"
