#!/bin/sh
# Sets a Comptoir node up as a Debian service, after `make install`: the
# comptoir user (sysusers), /var/lib/comptoir (tmpfiles), the node created by
# `comptoir init` run as that user, and the systemd unit enabled and started.
#
#   sudo deploy/install.sh --site NAME [--http ADDR:PORT] [--listen ENDPOINT] [--join]
#
# The options are those of `comptoir init`. On a machine that already has a
# node in /var/lib/comptoir it keeps it and only (re)enables the unit.
# PREFIX (default /usr/local) must match the one given to make install.
set -eu

PREFIX=${PREFIX:-/usr/local}
BIN=$PREFIX/bin/comptoir
DIR=/var/lib/comptoir
HERE=$(cd "$(dirname "$0")" && pwd)

die() {
	echo "install: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run it as root (sudo deploy/install.sh ...)"
[ -x "$BIN" ] || die "$BIN not found: run make install first (PREFIX=$PREFIX)"
[ -f "$DIR/comptoir.yaml" ] || [ $# -gt 0 ] ||
	die "usage: deploy/install.sh --site NAME [--http ADDR:PORT] [--listen ENDPOINT] [--join]"
grep -q "^ExecStart=$BIN " /lib/systemd/system/comptoir.service 2>/dev/null ||
	echo "install: note: /lib/systemd/system/comptoir.service does not run $BIN; fix it with systemctl edit comptoir" >&2

install -D -m 0644 "$HERE/systemd/comptoir.sysusers" /usr/lib/sysusers.d/comptoir.conf
install -D -m 0644 "$HERE/systemd/comptoir.tmpfiles" /usr/lib/tmpfiles.d/comptoir.conf
systemd-sysusers comptoir.conf
systemd-tmpfiles --create comptoir.conf

if [ -f "$DIR/comptoir.yaml" ]; then
	echo "install: $DIR holds a node already: keeping it"
else
	runuser -u comptoir -- "$BIN" init --dir "$DIR" "$@"
fi
runuser -u comptoir -- "$BIN" run --check --dir "$DIR"

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable --now comptoir
	systemctl --no-pager --lines=5 status comptoir || true
else
	echo "install: systemd is not running here; once it is: systemctl enable --now comptoir"
fi
echo "install: run every comptoir command as the comptoir user, for instance"
echo "  runuser -u comptoir -- $BIN user add alice --admin --name \"Alice Martin\" --dir $DIR"
