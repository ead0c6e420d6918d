// Runs the browser tests (tests/browser/*.test.mjs, or the files given) one
// file at a time with node's test runner, shows the spec report, and ends
// with "N passed, M failed, K skipped"; exits 1 when a test failed.
//
//   node tests/browser/run.mjs [FILE...]      (from anywhere)
//
// Environment: COMPTOIR_BIN (default build/comptoir), CHROMIUM (default
// /usr/bin/chromium), COMPTOIR_ARTIFACTS (screenshots of failures),
// COMPTOIR_KEEP=1 (keep the nodes' folders).

import fs from 'node:fs';
import path from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const files = process.argv.length > 2
	? process.argv.slice(2).map(f => path.resolve(f))
	: fs.readdirSync(here).filter(f => f.endsWith('.test.mjs')).sort().map(f => path.join(here, f));

let passed = 0, failed = 0, skipped = 0;
const stream = run({ files, concurrency: 1, timeout: 10 * 60 * 1000 });
// Only top-level tests count: subtests are steps of their test.
stream.on('test:pass', d => {
	if (d.nesting !== 0)
		return;
	if (d.skip || d.todo)
		skipped += 1;
	else
		passed += 1;
});
stream.on('test:fail', d => {
	if (d.nesting === 0)
		failed += 1;
});
// The count is printed after the whole report, as its last line.
const report = stream.compose(spec);
report.on('data', chunk => process.stdout.write(chunk));
report.on('end', () => {
	console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
	process.exitCode = failed ? 1 : 0;
});
