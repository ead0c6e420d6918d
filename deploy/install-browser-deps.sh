#!/bin/sh
# Installs what the browser tests (tests/browser) need: Debian's chromium and
# node/npm, then playwright-core from npm into tests/browser/node_modules.
# No browser is downloaded: the tests drive /usr/bin/chromium. Safe to rerun.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
PKGS="chromium nodejs npm fonts-dejavu-core fonts-noto-color-emoji"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# node may come from elsewhere than Debian (nvm, a tarball): then it is enough.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
fi

if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		SUDO=""
	elif command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-browser-deps: missing packages:$missing" >&2
		echo "install-browser-deps: not root and no sudo; install them and run again" >&2
		exit 1
	fi
	echo "install-browser-deps: installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $missing
else
	echo "install-browser-deps: chromium, node and npm are already installed"
fi

# playwright-core is only the driver; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD keeps
# any install hook from fetching a browser of its own.
cd "$root/tests/browser"
if [ -f node_modules/playwright-core/package.json ]; then
	echo "install-browser-deps: playwright-core is already in tests/browser/node_modules"
else
	echo "install-browser-deps: running npm install in tests/browser"
	export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
	if [ -f package-lock.json ]; then
		npm ci --no-audit --no-fund
	else
		npm install --no-audit --no-fund
	fi
fi
echo "install-browser-deps: done"
