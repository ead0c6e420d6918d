// End-to-end tests of notifications in the web UI (notify.js): a real node
// and headless chromium. The bell counts up live over the event stream,
// opening it marks read, the "For you" feed shows a followed colleague's
// post and not the others', an announcement is pinned until read, the
// settings page saves, and the bell shows a space invitation that leads to
// the space. Run through tests/browser/run.mjs.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { apiSession, cleanup, login, startSite, uiTest, until, waitLive } from './lib.mjs';

const PW = 'correct-horse-battery-18';
let site;

before(async () => {
	site = await startSite('paris', [
		{ handle: 'alice', password: PW, admin: true, name: 'Alice Martin' },
		{ handle: 'bob', password: PW, name: 'Bob Dupont' },
		{ handle: 'chloe', password: PW, name: 'Chloé Bernard' },
	]);
});
after(cleanup);

uiTest('the bell counts up live, opening it marks read', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const page = await newPage(site);
	await login(page, 'bob', PW);
	await waitLive(page);
	await page.locator('#bell[data-unread="0"]').waitFor();
	const p = await alice.call('POST', '/api/posts', { text: 'Lunch at noon, @bob?' });
	await page.locator('#bell[data-unread="1"]').waitFor();
	await alice.call('POST', '/api/posts', { text: 'And coffee after, @bob' });
	await page.locator('#bell[data-unread="2"]').waitFor();
	assert.equal(await page.locator('#bell .bell-count').innerText(), '2');
	// Opening it: the list shows both, and they are read.
	await page.locator('#bell').click();
	await page.getByRole('heading', { name: 'Notifications' }).waitFor();
	await page.locator('.notif', { hasText: 'Alice Martin mentioned you' }).first().waitFor();
	assert.equal(await page.locator('.notif').count(), 2);
	await page.locator('#bell[data-unread="0"]').waitFor();
	const bob = await apiSession(site, 'bob', PW);
	await until(async () => (await bob.call('GET', '/api/notifications/count')).unread === 0, 'the server to say 0');
	// A click on one goes to its post.
	await page.locator('.notif', { hasText: 'Lunch at noon' }).locator('.notif-link').click();
	await page.locator('article.post', { hasText: 'Lunch at noon' }).waitFor();
	assert.ok(page.url().endsWith(`#/post/${p.id}`));
});

uiTest('in French, the verb of several people agrees: "… et 1 autre ont réagi"', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const p = await bob.call('POST', '/api/posts', { text: 'Le nouveau quai ouvre lundi' });
	for (const h of ['alice', 'chloe'])
		await (await apiSession(site, h, PW)).call('POST', `/api/posts/${p.id}/reactions`, { reaction: '👍' });
	const page = await newPage(site, { lang: 'fr' });
	await login(page, 'bob', PW);
	await page.goto(`${site.url}/#/notifications`);
	const item = page.locator('.notif', { hasText: 'Le nouveau quai' });
	await item.waitFor();
	assert.match(await item.locator('.notif-link').innerText(), /et 1 autre ont réagi à votre publication/);
});

uiTest('For you shows a followed colleague\'s post, not the others\'', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'bob', PW);
	await page.goto(site.url + '/#/people/chloe');
	const follow = page.locator('#follow');
	await follow.waitFor();
	await page.locator('#follow[aria-pressed="false"]').waitFor();
	await follow.click();
	await page.locator('#follow[aria-pressed="true"]').waitFor();
	assert.equal(await follow.innerText(), 'Following');
	const chloe = await apiSession(site, 'chloe', PW);
	const alice = await apiSession(site, 'alice', PW);
	await chloe.call('POST', '/api/posts', { text: 'Chloé: the quarterly report is out' });
	await alice.call('POST', '/api/posts', { text: 'Alice: not followed by bob' });
	await page.goto(site.url + '/#/');
	await page.locator('article.post', { hasText: 'Alice: not followed by bob' }).waitFor();
	await page.getByRole('tab', { name: 'For you' }).click();
	await page.locator('#tab-foryou[aria-selected="true"]').waitFor();
	await page.locator('article.post', { hasText: 'the quarterly report is out' }).waitFor();
	assert.equal(await page.locator('article.post', { hasText: 'Alice: not followed by bob' }).count(), 0);
	await page.getByRole('tab', { name: 'All' }).click();
	await page.locator('article.post', { hasText: 'Alice: not followed by bob' }).waitFor();
});

uiTest('following a space from its page notifies its next post', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const sp = await alice.call('POST', '/api/spaces', { name: 'Choir', visibility: 'open', join: 'open' });
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	await page.goto(site.url + `/#/space/${sp.id}`);
	const follow = page.locator('#follow');
	await page.locator('#follow[aria-pressed="false"]').waitFor();
	await follow.click();
	await page.locator('#follow[aria-pressed="true"]').waitFor();
	const chloe = await apiSession(site, 'chloe', PW);
	assert.deepEqual((await chloe.call('GET', '/api/follows')).spaces, [sp.id]);
	await alice.call('POST', '/api/posts', { text: 'Rehearsal moved to Friday', space: sp.id });
	await page.goto(site.url + '/#/notifications');
	await page.locator('.notif', { hasText: 'Alice Martin posted in a space you follow' }).waitFor();
});

uiTest('an announcement is pinned until read; settings save, in French too', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const a = await alice.call('POST', '/api/posts', { text: 'Fire drill on Thursday at 10' });
	await alice.call('POST', `/api/posts/${a.id}/announce`, { scope: 'site' });
	const page = await newPage(site, { lang: 'fr' });
	await login(page, 'chloe', PW);
	const pinned = page.locator('.pinned-item', { hasText: 'Fire drill' });
	await pinned.waitFor();
	await pinned.getByRole('button', { name: 'Marquer comme lue' }).click();
	await until(async () => (await page.locator('.pinned-item').count()) === 0, 'the announcement to go');
	const list = await alice.call('GET', '/api/announcements');
	assert.equal(list.items.find(x => x.id === a.id).announcement.read_by, 1);
	await page.goto(site.url + '/#/settings');
	await page.getByRole('heading', { name: 'Réglages des notifications' }).waitFor();
	await page.getByLabel('Fréquence').selectOption('weekly');
	await page.getByLabel('Adresse e-mail').fill('chloe@example.com');
	await page.getByRole('button', { name: 'Enregistrer' }).click();
	await page.getByText('Enregistré.').waitFor();
	const chloe = await apiSession(site, 'chloe', PW);
	const prefs = await chloe.call('GET', '/api/notifications/prefs');
	assert.equal(prefs.digest, 'weekly');
	assert.equal(prefs.email, 'chloe@example.com');
});

uiTest('the bell shows a space invitation, and it leads to the space', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	await waitLive(page);
	const before = Number(await page.locator('#bell').getAttribute('data-unread'));
	const s = await alice.call('POST', '/api/spaces', { name: 'Budget 2026', visibility: 'private', join: 'invite' });
	await alice.call('POST', `/api/spaces/${s.id}/invite`, { user: 'chloe' });
	await page.locator(`#bell[data-unread="${before + 1}"]`).waitFor();
	await page.locator('#bell').click();
	const n = page.locator('.notif', { hasText: 'Alice Martin invited you to a space' });
	await n.waitFor();
	await n.locator('.notif-link').click();
	await until(async () => page.url().endsWith(`#/space/${s.id}`), 'the link to the space');
	await page.getByText('Budget 2026').first().waitFor();
});
