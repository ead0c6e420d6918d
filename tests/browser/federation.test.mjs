// Browser tests across two sites of one federation: a post written at one
// site appears live at the other, and the connectivity indicator, banner and
// sites page follow a peer that stops and comes back. Skipped when this
// comptoir has no federation (`comptoir help` does not mention "peer add").

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { PHONE, addUser, apiSession, cleanup, hasFederation, login, makeFederation, startNode, stopNode, uiTest, until, waitLive, writePost } from './lib.mjs';

const PW = 'correct-horse-battery-2';
const skip = hasFederation() ? false : 'comptoir has no federation yet (`comptoir help` does not mention "peer add")';
let paris, lyon;

before(async () => {
	if (skip)
	return;
	[paris, lyon] = await makeFederation(['paris', 'lyon']);
	addUser(paris, 'alice', PW, { name: 'Alice Martin', management: true }); // reads the figures
	addUser(lyon, 'bob', PW, { name: 'Bob Dupont' });
	await startNode(paris);
	await startNode(lyon);
	// Linked when each sees the other connected.
	await until(async () => {
		const [a, b] = await Promise.all([paris, lyon].map(s => fetch(`${s.url}/api/status`).then(r => r.json())));
		return a.peers.some(p => p.connected) && b.peers.some(p => p.connected);
	}, 'paris and lyon to connect', 30000);
});
after(cleanup);

uiTest('a post written at one site appears live at the other', async ({ newPage }) => {
	const alice = await newPage(paris);
	await login(alice, 'alice', PW);
	await waitLive(alice);
	await until(async () => (await alice.locator('#conn').getAttribute('data-state')) === 'ok', 'the indicator to say all sites are reachable');
	assert.equal((await alice.locator('#conn').innerText()).trim(), 'All sites reachable');

	const bob = await newPage(lyon);
	await login(bob, 'bob', PW);
	await writePost(bob, 'Greetings from the Lyon plant');

	const bar = alice.locator('.newbar');
	await bar.waitFor({ timeout: 15000 });
	assert.match(await bar.innerText(), /Show 1 new post/);
	await bar.click();
	const card = alice.locator('article.post', { hasText: 'Greetings from the Lyon plant' });
	await card.waitFor();
	assert.match(await card.innerText(), /@bob/);

	// A comment made at paris comes back to lyon's page in place.
	await card.getByRole('button', { name: 'Comment', exact: true }).click();
	await card.getByRole('textbox', { name: 'Write a comment' }).fill('Hello from Paris');
	await card.getByRole('button', { name: 'Reply' }).click();
	await bob.locator('article.post', { hasText: 'Greetings from the Lyon plant' }).getByRole('button', { name: /1 comment/ }).waitFor({ timeout: 15000 });
}, { skip });

uiTest('the indicator and the sites page follow a peer that stops and comes back', async ({ newPage }) => {
	const page = await newPage(paris);
	await login(page, 'alice', PW);
	const conn = page.locator('#conn');
	await until(async () => (await conn.getAttribute('data-state')) === 'ok', 'all sites reachable');
	await page.getByRole('link', { name: 'Sites', exact: true }).click();
	const lyonCard = page.locator('.site[data-site="lyon"]');
	await lyonCard.getByText(/^Reachable/).waitFor();

	await stopNode(lyon);
	await until(async () => (await conn.getAttribute('data-state')) === 'down', 'the indicator to see lyon gone', 30000);
	assert.equal((await conn.innerText()).trim(), '1 site unreachable');
	await lyonCard.getByText(/^(Unreachable|Never reached)/).waitFor({ timeout: 10000 });
	const banner = page.locator('#outage');
	await banner.waitFor();
	assert.match(await banner.innerText(), /lyon has been unreachable since/);
	assert.match(await banner.innerText(), /Everything here keeps working/);

	// Local work goes on during the outage.
	await page.getByRole('link', { name: 'Feed', exact: true }).click();
	await writePost(page, 'Written while Lyon was away');

	await startNode(lyon);
	await until(async () => (await conn.getAttribute('data-state')) !== 'down', 'lyon to be reachable again', 30000);
	await until(async () => !(await banner.isVisible()), 'the banner to go');
	const bob = await apiSession(lyon, 'bob', PW);
	await until(async () => (await bob.call('GET', '/api/feed')).items.some(p => p.text === 'Written while Lyon was away'),
		'the post written during the outage to reach lyon', 30000);
}, { skip });

uiTest('posts and comments from another site say which site they come from', async ({ newPage }) => {
	const bob = await apiSession(lyon, 'bob', PW);
	const post = await bob.call('POST', '/api/posts', { text: 'The Lyon canteen reopens' });
	const page = await newPage(paris);
	await login(page, 'alice', PW);
	const card = page.locator(`article[data-post-id="${post.id}"]`);
	await until(async () => {
		if (await card.count())
			return true;
		await page.reload();
		await page.locator('#account').waitFor();
		return false;
	}, 'the lyon post at paris', 30000);
	assert.equal((await card.locator('.post-meta .site-label').innerText()).trim(), 'lyon');
	await card.getByRole('button', { name: 'Comment', exact: true }).click();
	await card.getByRole('textbox', { name: 'Write a comment' }).fill('Good news from Paris');
	await card.getByRole('button', { name: 'Reply' }).click();
	const comment = card.locator('li.comment', { hasText: 'Good news from Paris' });
	assert.equal((await comment.locator('.site-label').innerText()).trim(), 'paris');
}, { skip });

uiTest('the French indicator fits on a phone (bug 10)', async ({ newPage }) => {
	const page = await newPage(paris, { ...PHONE, lang: 'fr' });
	await login(page, 'alice', PW);
	const conn = page.locator('#conn');
	await until(async () => (await conn.getAttribute('data-state')) === 'ok', 'all sites reachable');
	const cut = await conn.evaluate(el => [el, ...el.querySelectorAll('.conn-text')]
		.filter(x => x.offsetParent !== null && x.scrollWidth > x.clientWidth + 1)
		.map(x => `${x.className}: ${x.scrollWidth} > ${x.clientWidth}`));
	assert.deepEqual(cut, [], 'no word is cut');
	assert.equal((await conn.innerText()).trim(), 'Tous joignables');
	const box = await conn.boundingBox();
	assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, 'the indicator is on screen');
	// The whole sentence stays in its accessible name.
	assert.match(await conn.getAttribute('aria-label'), /^Tous les sites joignables/);
}, { skip });

uiTest('figures on a phone: the sites of "On posts of" align as words, not numbers (bug 6)', async ({ newPage }) => {
	const alice = await apiSession(paris, 'alice', PW);
	const bob = await apiSession(lyon, 'bob', PW);
	const post = await alice.call('POST', '/api/posts', { text: 'Who wants to visit the Paris office?' });
	await until(async () => bob.call('GET', `/api/posts/${post.id}`).then(() => true, () => false), 'the post at lyon', 30000);
	await bob.call('POST', `/api/posts/${post.id}/comments`, { text: 'Me!' });
	await until(async () => ((await alice.call('GET', '/api/figures?days=30')).exchange || []).length > 0,
		'the exchange at paris', 30000);

	const page = await newPage(paris, { ...PHONE });
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Figures', exact: true }).click();
	await page.getByRole('heading', { name: 'Exchange between sites' }).waitFor();
	const table = page.locator('table.figures').nth(1);
	await table.locator('tbody tr').first().waitFor();
	// The heat map (issue 21): a cell per pair of the two sites, the
	// exchange between them drawn, within the phone's width.
	const heat = page.locator('svg.chart-heat');
	assert.equal(await heat.locator('rect').count(), 4, 'two sites: a 2 by 2 map');
	const titles = await heat.locator('rect title').allTextContents();
	// (Which way: the exchange waited for above may be an earlier test's.)
	assert.ok(titles.some(x => /^(lyon → paris|paris → lyon): [1-9]/.test(x)), `the exchange between the sites is drawn: ${JSON.stringify(titles)}`);
	const hb = await heat.boundingBox();
	assert.ok(hb && hb.x >= 0 && hb.x + hb.width <= PHONE.width + 1, `the map fits the phone (${JSON.stringify(hb)})`);
	const align = await table.evaluate(t => [...t.rows].map(r => [...r.cells].map(c => getComputedStyle(c).textAlign)));
	for (const row of align) {
		assert.deepEqual(row.slice(0, 2).map(a => (a === 'start' ? 'left' : a)), ['left', 'left'], 'From and On posts of are words');
		assert.deepEqual(row.slice(2), ['right', 'right'], 'the counts are numbers');
	}
}, { skip });

uiTest('figures on a desk, in French: the tables of two sites fit without scrolling', async ({ newPage }) => {
	const page = await newPage(paris, { lang: 'fr' });
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Chiffres', exact: true }).click();
	await page.locator('table.figures tfoot').first().waitFor(); // "Tous les sites": two sites
	const scrolled = await page.locator('.table-wrap').evaluateAll(els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length);
	assert.equal(scrolled, 0, 'no table scrolls sideways ("Réactions" was out of view)');
}, { skip });
