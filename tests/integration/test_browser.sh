#!/bin/sh
# Runs the web UI's end-to-end tests (tests/browser) in Debian's headless
# chromium. Skips, printing "0 passed, 0 failed", when node, chromium or
# playwright-core are missing: deploy/install-browser-deps.sh installs them.
# Run from the repository root (make check does).
set -u

skip() {
	echo "browser tests skipped: $1"
	echo "  (deploy/install-browser-deps.sh installs what they need)"
	echo "0 passed, 0 failed"
	exit 0
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || skip "no chromium at $chromium"
export CHROMIUM="$chromium"
bin=${COMPTOIR_BIN:-build/comptoir}
[ -x "$bin" ] || { echo "test_browser: $bin is not built"; echo "0 passed, 1 failed"; exit 1; }

if [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
	# npm ci takes the pinned version from package-lock.json; no browser is
	# downloaded (playwright-core has none, and the variable makes sure).
	if command -v npm >/dev/null 2>&1; then
		echo "test_browser: installing playwright-core in tests/browser (npm ci)"
		(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null 2>&1) ||
			skip "npm ci in tests/browser failed (no registry?)"
	else
		skip "playwright-core is not installed and there is no npm"
	fi
fi

export COMPTOIR_ARTIFACTS="${COMPTOIR_ARTIFACTS:-${TMPDIR:-/tmp}/comptoir-browser-artifacts}"
exec node tests/browser/run.mjs
