// The web UI over native HTTPS (issue 13, item 10): a certificate signed by a
// CA made here with openssl, a node serving it, and Chromium loading the UI.
// Chromium is told to accept that one key (--ignore-certificate-errors-spki-list),
// not every certificate: a browser without the flag refuses the page, which
// shows the handshake is real. Then: sign in, the live stream, a post, a
// Secure session cookie, HSTS, and the plain port redirecting to https.

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';

import { chromium } from 'playwright-core';

import { CHROMIUM, cleanup, freePort, login, makeSite, startNode, waitLive, writePost } from './lib.mjs';

// startNode polls the node with fetch, which knows nothing of the test CA.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const PW = 'alice-password-1';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

function openssl(...args) {
	const r = spawnSync('openssl', args, { encoding: 'utf8' });
	if (r.status !== 0)
		throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/* A CA, and a certificate it signs for localhost and 127.0.0.1. */
function makeCerts(dir) {
	const f = name => path.join(dir, name);
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
		'-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=Test Corp CA',
		'-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
	openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
		'-keyout', f('site.key'), '-out', f('site.csr'), '-subj', '/CN=localhost',
		'-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
	openssl('x509', '-req', '-in', f('site.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
		'-CAcreateserial', '-days', '2', '-copy_extensions', 'copy', '-out', f('site.crt'));
	fs.chmodSync(f('site.key'), 0o600);
	// What Chromium pins: base64 of the SHA-256 of the certificate's public key.
	const spki = new crypto.X509Certificate(fs.readFileSync(f('site.crt'))).publicKey
		.export({ type: 'spki', format: 'der' });
	return { cert: f('site.crt'), key: f('site.key'), spki: crypto.createHash('sha256').update(spki).digest('base64') };
}

after(cleanup);

test('the UI over HTTPS: sign in, live stream, post, Secure cookie, HSTS, redirect', { timeout: 120000 }, async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'comptoir-tls-'));
	const browsers = [];
	try {
		const certs = makeCerts(dir);
		const site = await makeSite('paris');
		const plain = await freePort();
		fs.appendFileSync(path.join(site.nodeDir, 'comptoir.yaml'),
			`\ntls:\n  cert: ${certs.cert}\n  key: ${certs.key}\n  redirect_http: 127.0.0.1:${plain}\n`);
		site.addUser('alice', PW, { name: 'Alice Martin' });
		site.url = `https://127.0.0.1:${site.httpPort}`;
		await startNode(site);

		// Without being told about the key, Chromium refuses the page.
		const strict = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
		browsers.push(strict);
		const refused = await strict.newPage();
		await assert.rejects(refused.goto(site.url + '/'), /ERR_CERT/, 'an unknown CA is refused');

		const b = await chromium.launch({
			executablePath: CHROMIUM, headless: true,
			args: [...ARGS, `--ignore-certificate-errors-spki-list=${certs.spki}`],
		});
		browsers.push(b);
		const ctx = await b.newContext({ viewport: { width: 1200, height: 900 }, locale: 'en-GB' });
		ctx.setDefaultTimeout(10000);
		const page = await ctx.newPage();
		const problems = [];
		page.on('pageerror', err => problems.push(err.message));
		const resp = await page.goto(site.url + '/');
		assert.equal(resp.status(), 200);
		assert.equal(resp.headers()['strict-transport-security'], 'max-age=31536000', 'HSTS on the page');
		assert.equal(await page.evaluate(() => `${location.protocol} ${window.isSecureContext}`), 'https: true');

		await login(page, 'alice', PW);
		await waitLive(page); // the event stream, over TLS
		await writePost(page, 'Hello over HTTPS');
		const cookie = (await ctx.cookies()).find(c => c.name === 'comptoir_session');
		assert.ok(cookie, 'a session cookie');
		assert.equal(cookie.secure, true, 'Secure');
		assert.equal(cookie.httpOnly, true, 'HttpOnly');
		assert.equal(cookie.sameSite, 'Strict', 'SameSite=Strict');

		// The plain port sends the browser to the HTTPS page.
		const other = await ctx.newPage();
		await other.goto(`http://127.0.0.1:${plain}/`);
		assert.equal(other.url(), `${site.url}/`, 'redirected to https');
		await other.locator('article.post', { hasText: 'Hello over HTTPS' }).waitFor();
		assert.deepEqual(problems, []);
	} finally {
		for (const b of browsers)
			await b.close().catch(() => {});
		fs.rmSync(dir, { recursive: true, force: true });
	}
});
