// Helpers for the browser tests: real `comptoir` nodes on loopback, Debian's
// headless chromium driven by playwright-core, and a uiTest() wrapper that
// saves a screenshot of every open page when a test fails.
//
//   after(cleanup);
//   const site = await startSite('paris', [{ handle: 'alice', password: PW }]);
//   uiTest('alice posts', async ({ newPage }) => {
//     const page = await newPage(site);   // a fresh browser context
//     await login(page, 'alice', PW);
//   });
//
// The binary is $COMPTOIR_BIN (default build/comptoir from the repository
// root), the browser $CHROMIUM (default /usr/bin/chromium). Screenshots go to
// $COMPTOIR_ARTIFACTS (default a comptoir-browser-artifacts folder in the
// temp dir). COMPTOIR_KEEP=1 keeps the nodes' folders.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BIN = path.resolve(ROOT, process.env.COMPTOIR_BIN || 'build/comptoir');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.COMPTOIR_ARTIFACTS || path.join(os.tmpdir(), 'comptoir-browser-artifacts');
const KEEP = process.env.COMPTOIR_KEEP === '1';

// The arguments the brief asks for; playwright adds --headless and a fresh
// --user-data-dir of its own for each launch (it refuses one in args).
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const sleep = ms => new Promise(r => setTimeout(r, ms));

/* A phone's viewport, for newPage(site, { ...PHONE }): the size bugs that
 * only show on a phone are tested at. */
export const PHONE = { width: 390, height: 844 };

/* ----------------------------------------------------------------- nodes */

const usedPorts = new Set();

/* A TCP port free on 127.0.0.1 now, never the same one twice in a run. */
export async function freePort() {
	for (;;) {
		const port = await new Promise((resolve, reject) => {
			const srv = net.createServer();
			srv.on('error', reject);
			srv.listen(0, '127.0.0.1', () => {
				const p = srv.address().port;
				srv.close(() => resolve(p));
			});
		});
		if (!usedPorts.has(port)) {
			usedPorts.add(port);
			return port;
		}
	}
}

/* Runs `comptoir ARGS...` to completion; throws with its output on failure. */
export function cli(...args) {
	const r = spawnSync(BIN, args.map(String), { encoding: 'utf8', timeout: 60000 });
	if (r.status !== 0)
		throw new Error(`comptoir ${args.join(' ')}: ${r.error ? r.error.message : `exit ${r.status}`}\n${r.stdout || ''}${r.stderr || ''}`);
	return r.stdout;
}

let helpCache = null;
function helpText() {
	if (helpCache === null) {
		const r = spawnSync(BIN, ['help'], { encoding: 'utf8' });
		helpCache = `${r.stdout || ''}${r.stderr || ''}`;
	}
	return helpCache;
}

/* Does this comptoir know about peers (the federation feature)? */
export function hasFederation() {
	return helpText().includes('peer add');
}

const sites = [];

/* A node, not started yet: init in a fresh temporary folder, with a login
 * rate limit high enough for the many logins of a test run. */
export async function makeSite(name, { join = false } = {}) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), `comptoir-ui-${name}-`));
	const httpPort = await freePort();
	const zmqPort = await freePort();
	const nodeDir = path.join(dir, 'node');
	const args = ['init', '--dir', nodeDir, '--site', name, '--http', `127.0.0.1:${httpPort}`, '--listen', `tcp://127.0.0.1:${zmqPort}`];
	if (join)
		args.push('--join');
	cli(...args);
	const cfg = path.join(nodeDir, 'comptoir.yaml');
	let text = fs.readFileSync(cfg, 'utf8');
	// Every browser of a test comes from 127.0.0.1: several open at once (the
	// screenshots keep four per site) are several people, not one address
	// holding too many connections (limits.max_connections_per_address).
	if (!/^limits:/m.test(text))
		text += '\nlimits:\n  login_per_minute: 600\n  max_connections_per_address: 64\n';
	fs.writeFileSync(cfg, text);
	const site = {
		name, dir, nodeDir, httpPort, zmqPort,
		url: `http://127.0.0.1:${httpPort}`,
		endpoint: `tcp://127.0.0.1:${zmqPort}`,
		proc: null,
		log: path.join(dir, 'node.log'),
		addUser: (handle, password, opts) => addUser(site, handle, password, opts),
		start: () => startNode(site),
		stop: () => stopNode(site),
	};
	sites.push(site);
	return site;
}

export function addUser(site, handle, password, { admin = false, management = false, name = '' } = {}) {
	const pwFile = path.join(site.dir, `${handle}.pw`);
	fs.writeFileSync(pwFile, password, { mode: 0o600 });
	const args = ['user', 'add', handle, '--password-file', pwFile, '--dir', site.nodeDir];
	if (admin)
		args.push('--admin');
	if (management)
		args.push('--management');
	if (name)
		args.push('--name', name);
	cli(...args);
}

/* Starts `comptoir run` and waits until its API answers. */
export async function startNode(site) {
	const out = fs.openSync(site.log, 'a');
	// The tests run as root (CI does); a node refuses that unless told.
	const args = ['run', '--dir', site.nodeDir];
	if (process.getuid && process.getuid() === 0 && helpText().includes('--allow-root'))
		args.push('--allow-root');
	site.proc = spawn(BIN, args, { stdio: ['ignore', out, out] });
	fs.closeSync(out);
	let exited = null;
	site.proc.on('exit', code => { exited = code; });
	const deadline = Date.now() + 15000;
	while (Date.now() < deadline) {
		if (exited !== null)
			throw new Error(`comptoir run exited with ${exited}:\n${tail(site.log)}`);
		try {
			const r = await fetch(`${site.url}/api/status`);
			if (r.ok)
				return site;
		} catch {
			/* not listening yet */
		}
		await sleep(100);
	}
	throw new Error(`comptoir did not answer on ${site.url}:\n${tail(site.log)}`);
}

/* SIGTERM, then SIGKILL if it lingers. */
export async function stopNode(site) {
	const p = site.proc;
	if (!p || p.exitCode !== null || p.signalCode !== null)
		return;
	const gone = new Promise(r => p.once('exit', r));
	p.kill('SIGTERM');
	const timer = setTimeout(() => p.kill('SIGKILL'), 10000);
	await gone;
	clearTimeout(timer);
	site.proc = null;
}

function tail(file, n = 30) {
	try {
		return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
	} catch {
		return '(no log)';
	}
}

/* A started node with users [{handle, password, admin, name}]. */
export async function startSite(name, users = []) {
	const site = await makeSite(name);
	for (const u of users)
		addUser(site, u.handle, u.password, u);
	await startNode(site);
	return site;
}

/* Two or more sites of one federation, not started: the first is a lone
 * site whose root key certifies the others, and each other site links to
 * the first (`peer add`; one side is enough). */
export async function makeFederation(names) {
	const [first, ...rest] = names;
	const hub = await makeSite(first);
	const rootKey = path.join(hub.nodeDir, 'keys', 'root.key');
	const certOf = site => {
		const req = path.join(site.dir, `${site.name}.req`);
		const cert = path.join(site.dir, `${site.name}.cert`);
		fs.writeFileSync(req, cli('site', 'request', '--dir', site.nodeDir));
		const args = ['root', 'certify', '--key', rootKey];
		if (site !== hub)
			args.push('--dir', hub.nodeDir);
		fs.writeFileSync(cert, cli(...args, req));
		return cert;
	};
	const hubCert = certOf(hub);
	const others = [];
	for (const name of rest) {
		const site = await makeSite(name, { join: true });
		cli('site', 'install', '--dir', site.nodeDir, certOf(site));
		cli('peer', 'add', '--dir', site.nodeDir, hubCert);
		others.push(site);
	}
	return [hub, ...others];
}

/* Waits until fn() is true (polling), or throws with what. */
export async function until(fn, what, ms = 15000) {
	const deadline = Date.now() + ms;
	while (Date.now() < deadline) {
		if (await fn())
			return;
		await sleep(100);
	}
	throw new Error(`timed out waiting for ${what}`);
}

/* Logs in through the API (no browser), for setting up data. */
export async function apiSession(site, handle, password) {
	const r = await fetch(`${site.url}/api/login`, {
		method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ handle, password }),
	});
	if (!r.ok)
		throw new Error(`login ${handle}: ${r.status} ${await r.text()}`);
	const me = await r.json();
	// A login sets two cookies (comptoir_device, then the session): take ours.
	const cookie = r.headers.getSetCookie().map(c => c.split(';')[0]).find(c => c.startsWith('comptoir_session='));
	const call = async (method, p, body) => {
		const res = await fetch(`${site.url}${p}`, {
			method,
			headers: { Cookie: cookie, 'X-CSRF-Token': me.csrf_token, 'Content-Type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await res.text();
		if (!res.ok)
			throw new Error(`${method} ${p}: ${res.status} ${text}`);
		return text ? JSON.parse(text) : null;
	};
	// POST /api/files: the bytes as the body, the name in ?name=, for a space
	// when given (sealed in a private one).
	const upload = async (name, bytes, space) => {
		const sp = space ? `&space=${encodeURIComponent(space)}` : '';
		const res = await fetch(`${site.url}/api/files?name=${encodeURIComponent(name)}${sp}`, {
			method: 'POST',
			headers: { Cookie: cookie, 'X-CSRF-Token': me.csrf_token, 'Content-Type': 'application/octet-stream' },
			body: bytes,
		});
		const text = await res.text();
		if (res.status !== 201)
			throw new Error(`upload ${name}: ${res.status} ${text}`);
		return JSON.parse(text);
	};
	return { me, cookie, call, upload };
}

/* A real PNG of w x h pixels: a diagonal gradient of hue (r, g, b base),
 * made with node's zlib (tests upload pictures without a file on disk). */
export function makePng(w, h, [r0, g0, b0] = [40, 110, 160]) {
	const crcTable = Array.from({ length: 256 }, (_, n) => {
		let c = n;
		for (let k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		return c >>> 0;
	});
	const crc = buf => {
		let c = 0xffffffff;
		for (const b of buf)
			c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
		return (c ^ 0xffffffff) >>> 0;
	};
	const chunk = (tag, body) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(body.length);
		const tb = Buffer.concat([Buffer.from(tag, 'latin1'), body]);
		const c = Buffer.alloc(4);
		c.writeUInt32BE(crc(tb));
		return Buffer.concat([len, tb, c]);
	};
	const raw = Buffer.alloc((w * 3 + 1) * h);
	for (let y = 0; y < h; y++) {
		raw[y * (w * 3 + 1)] = 0;
		for (let x = 0; x < w; x++) {
			const o = y * (w * 3 + 1) + 1 + x * 3, f = (x + y) / (w + h);
			raw[o] = Math.min(255, r0 + 120 * f);
			raw[o + 1] = Math.min(255, g0 + 80 * (1 - f));
			raw[o + 2] = Math.min(255, b0 + 60 * f);
		}
	}
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr[8] = 8;
	ihdr[9] = 2;
	return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
		chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/* --------------------------------------------------------------- browser */

let browserPromise = null;

export function browser() {
	if (!browserPromise)
		browserPromise = chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
	return browserPromise;
}

/* Closes the browser, stops every node and removes their folders; a test
 * file calls after(cleanup). */
export async function cleanup() {
	if (browserPromise)
		await (await browserPromise).close().catch(() => {});
	for (const s of sites) {
		await stopNode(s).catch(() => {});
		if (!KEEP)
			fs.rmSync(s.dir, { recursive: true, force: true });
		else
			console.log(`# kept ${s.dir}`);
	}
	sites.length = 0;
	browserPromise = null;
}

/* A test with fresh browser contexts. fn gets newPage(site, {lang, width,
 * height}): each call is a new context (own cookies, as another person's
 * browser), on the site's first page unless site is null. A
 * page error or a CSP violation fails the test; on failure every page is
 * saved as a PNG and the path printed. */
export function uiTest(name, fn, opts = {}) {
	return test(name, { timeout: 120000, ...opts }, async t => {
		const b = await browser();
		const contexts = [];
		const pages = [];
		const problems = [];
		const newPage = async (site, { lang = 'en', width = 1200, height = 900 } = {}) => {
			const ctx = await b.newContext({ viewport: { width, height }, locale: lang === 'fr' ? 'fr-FR' : 'en-GB' });
			ctx.setDefaultTimeout(10000);
			contexts.push(ctx);
			const page = await ctx.newPage();
			pages.push(page);
			page.on('pageerror', err => problems.push(`page error: ${err.message}`));
			page.on('console', msg => {
				if (/Content Security Policy|Refused to/i.test(msg.text()))
					problems.push(`console: ${msg.text()}`);
			});
			page.on('dialog', d => {
				problems.push(`unexpected dialog: ${d.type()} ${d.message()}`);
				d.dismiss().catch(() => {});
			});
			if (site)
				await page.goto(site.url + '/');
			return page;
		};
		try {
			await fn({ newPage, t });
			if (problems.length)
				throw new Error(problems.join('\n'));
		} catch (err) {
			fs.mkdirSync(ARTIFACTS, { recursive: true });
			const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60);
			for (let i = 0; i < pages.length; i++) {
				const file = path.join(ARTIFACTS, `${slug}-${i + 1}.png`);
				try {
					await pages[i].screenshot({ path: file, fullPage: true });
					console.log(`# screenshot of the failure: ${file}`);
				} catch {
					/* the page is gone */
				}
			}
			if (problems.length && !String(err.message).includes(problems[0]))
				err.message += `\n${problems.join('\n')}`;
			throw err;
		} finally {
			for (const ctx of contexts)
				await ctx.close().catch(() => {});
		}
	});
}

/* ------------------------------------------------------------ UI actions */

export async function login(page, handle, password) {
	await page.getByLabel(/^(User name|Identifiant)$/).fill(handle);
	await page.getByLabel(/^(Password|Mot de passe)$/).fill(password);
	await page.getByRole('button', { name: /^(Sign in|Se connecter)$/ }).click();
	await page.locator('#account').waitFor();
}

export async function logout(page) {
	await page.locator('#account').click();
	await page.locator('#logout').click();
	await page.getByRole('button', { name: /^(Sign in|Se connecter)$/ }).waitFor();
}

/* Waits until the page's live stream is open. */
export async function waitLive(page) {
	await page.waitForFunction(() => document.documentElement.dataset.live === 'on', null, { timeout: 10000 });
}

export async function writePost(page, text) {
	const box = page.getByRole('textbox', { name: /^(Write a post|Écrire une publication)$/ });
	await box.fill(text);
	await page.getByRole('button', { name: /^(Post|Publier)$/ }).click();
	const card = page.locator('article.post', { hasText: text.slice(0, 40) }).first();
	await card.waitFor();
	await box.and(page.locator(':placeholder-shown')).waitFor();
	return card;
}
