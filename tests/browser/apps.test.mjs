// End-to-end tests of the apps page (apps.js): a real node and headless
// chromium. A token is made with its scopes and expiry, shown once with a
// copy button, works against the API, is listed with its last use and
// revoked from the list; a bot's owner makes its token there and the bot's
// post is shown as a bot's; a webhook is registered (a real receiver on
// loopback), tested with the button, and its log shows the delivery; the
// page works in French on a phone. Run through tests/browser/run.mjs.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before } from 'node:test';

import { PHONE, apiSession, cleanup, cli, login, startSite, uiTest, until } from './lib.mjs';

const PW = 'correct-horse-battery-22';
let site;
let rx;
const got = [];

before(async () => {
	site = await startSite('paris', [
		{ handle: 'alice', password: PW, admin: true, name: 'Alice Martin' },
		{ handle: 'bob', password: PW, name: 'Bob Dupont' },
	]);
	rx = http.createServer((req, res) => {
		let body = '';
		req.on('data', d => { body += d; });
		req.on('end', () => {
			got.push({ headers: req.headers, body });
			res.writeHead(200);
			res.end('ok');
		});
	});
	await new Promise(r => rx.listen(0, '127.0.0.1', r));
});
after(async () => {
	rx.close();
	await cleanup();
});

async function bearer(tok, method, path, body) {
	const res = await fetch(site.url + path, {
		method, headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
		body: body ? JSON.stringify(body) : undefined,
	});
	return res.status;
}

uiTest('a token: made with scopes, shown once, copied, used, listed, revoked', async ({ newPage }) => {
	const page = await newPage(site);
	await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: site.url });
	await login(page, 'bob', PW);
	await page.locator('#account').click();
	await page.locator('#menu-apps').click();
	await page.getByRole('heading', { name: 'Apps and API tokens' }).waitFor();
	await page.locator('#tok-none').waitFor();
	assert.equal(await page.locator('#tok-scope-admin').count(), 0, 'no admin scope for a member');
	await page.getByLabel('Name', { exact: true }).first().fill('canteen script');
	await page.locator('#tok-scope-write').check();
	await page.locator('#tok-expiry').selectOption('30');
	await page.locator('#tok-create').click();
	const secret = await page.locator('#tok-secret').innerText();
	assert.match(secret, /^cpt_[A-Za-z0-9_-]{43}$/);
	await page.locator('#tok-secret-copy').click();
	await page.getByText('Copied.').waitFor();
	assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'the copy button copies the token');
	const row = page.locator('#tok-list tr', { hasText: 'canteen script' });
	await row.waitFor();
	assert.match(await row.innerText(), /Read, Write/);
	assert.match(await row.innerText(), /Never used/);
	assert.equal(await bearer(secret, 'POST', '/api/posts', { text: 'posted by the script' }), 201);
	// Shown once: after a reload the secret is nowhere on the page.
	await page.reload();
	await row.waitFor();
	assert.ok(!(await page.content()).includes(secret), 'the token is not shown again');
	assert.doesNotMatch(await row.innerText(), /Never used/, 'its last use is shown');
	await row.getByRole('button', { name: 'Revoke the token canteen script' }).click();
	await page.locator('#tok-none').waitFor();
	assert.equal(await bearer(secret, 'GET', '/api/feed'), 401, 'revoked at once');
});

uiTest('a bot\'s owner makes its token; its post is shown as a bot\'s', async ({ newPage }) => {
	cli('bot', 'add', 'menu-bot', '--owner', 'alice', '--name', 'Menu de la cantine', '--dir', site.nodeDir);
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.goto(site.url + '/#/apps');
	const card = page.locator('.card.bot[data-bot="menu-bot"]');
	await card.waitFor();
	await card.locator('#bot-menu-bot-name').fill('daily menu');
	await card.locator('#bot-menu-bot-scope-write').check();
	await card.locator('#bot-menu-bot-create').click();
	const secret = await card.locator('#bot-menu-bot-secret').innerText();
	assert.equal(await bearer(secret, 'POST', '/api/posts', { text: 'Aujourd\'hui : lasagnes' }), 201);
	await page.goto(site.url + '/#/');
	const post = page.locator('article.post', { hasText: 'lasagnes' });
	await post.waitFor();
	await post.locator('.bot-badge').waitFor();
	assert.equal(await page.locator('article.post', { hasText: 'posted by the script' }).locator('.bot-badge').count(), 0, 'a person\'s post has no bot badge');
});

uiTest('a webhook: registered, secret shown once, tested, its log', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.goto(site.url + '/#/settings');
	await page.locator('#settings-apps').click();
	await page.locator('#hook-none').waitFor();
	await page.locator('#hook-url').fill('not a url');
	await page.locator('#hook-ev-post').check();
	await page.locator('#hook-create').click(); // the browser's own check stops it
	assert.equal(await page.locator('#hook-secret').count(), 0);
	await page.locator('#hook-url').fill(`ftp://127.0.0.1:${rx.address().port}/x`);
	await page.locator('#hook-create').click();
	await page.getByText('"url" must start with http:// or https://').waitFor();
	await page.locator('#hook-url').fill(`http://127.0.0.1:${rx.address().port}/hook`);
	await page.locator('#hook-name').fill('tableau de bord');
	await page.locator('#hook-create').click();
	const secret = await page.locator('#hook-secret').innerText();
	assert.match(secret, /^whsec_[0-9a-f]{64}$/);
	const card = page.locator('.card.hook', { hasText: 'tableau de bord' });
	await card.waitFor();
	await card.getByRole('button', { name: 'Send a test' }).click();
	await until(async () => got.some(g => JSON.parse(g.body).event === 'ping'), 'the ping');
	await card.getByRole('button', { name: 'Deliveries' }).click();
	await card.locator('.hook-log li.ok', { hasText: 'Test' }).waitFor();
	const bob = await apiSession(site, 'bob', PW);
	await bob.call('POST', '/api/posts', { text: 'for the dashboard' });
	await until(async () => got.some(g => JSON.parse(g.body).event === 'post'), 'the post delivered');
	await card.getByRole('button', { name: 'Disable' }).click();
	await page.locator('.card.hook.hook-off', { hasText: 'disabled by hand' }).waitFor();
	await page.locator('.card.hook.hook-off').getByRole('button', { name: 'Enable' }).click();
	await page.locator('.card.hook:not(.hook-off)', { hasText: 'tableau de bord' }).waitFor();
});

uiTest('the apps page in French on a phone', async ({ newPage }) => {
	const page = await newPage(site, { ...PHONE, lang: 'fr' });
	await login(page, 'alice', PW);
	await page.goto(site.url + '/#/apps');
	await page.getByRole('heading', { name: 'Applications et jetons d’API' }).waitFor();
	await page.locator('#tok-name').fill('tableau');
	await page.locator('#tok-create').click();
	await page.getByText('Copiez-le maintenant : il ne sera plus affiché.').waitFor();
	const width = await page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(width <= PHONE.width, `no sideways scroll on a phone (${width}px)`);
	await page.locator('.card.hook').first().waitFor();
	assert.ok(await page.getByRole('button', { name: 'Envoyer un test' }).first().isVisible());
});
