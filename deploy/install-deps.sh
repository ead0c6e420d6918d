#!/bin/sh
# Installs the Debian packages Comptoir needs to build and test.
# Called by the Makefile when pkg-config cannot find a library; safe to run by hand.
set -eu

PKGS="build-essential pkg-config clang clang-format libclang-rt-14-dev \
libzmq3-dev liblmdb-dev lmdb-utils libsodium-dev libyaml-dev libmicrohttpd-dev libgnutls28-dev \
libjansson-dev libcmocka-dev libcurl4-gnutls-dev libsqlite3-dev libvips-dev python3 python3-aiosmtpd iproute2 openssl"

# Browser tests (issue 6) want chromium and node; installed only when asked.
if [ "${COMPTOIR_WITH_BROWSER:-0}" = 1 ]; then
	PKGS="$PKGS chromium nodejs npm"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: every package is already installed"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: not root and no sudo; install them and run make again" >&2
	exit 1
fi

echo "install-deps: installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
echo "install-deps: done"
