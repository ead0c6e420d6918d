// End-to-end test of search in the web UI: type in the header's box, see the
// results grouped with the matched words highlighted, open one. A real
// comptoir node and headless chromium, at desk and phone widths. Run through
// tests/browser/run.mjs (see its header).

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { apiSession, cleanup, login, startSite, uiTest } from './lib.mjs';

const PW = 'correct-horse-battery-1';
let site;

before(async () => {
	site = await startSite('paris', [
		{ handle: 'alice', password: PW, admin: true, name: 'Alice Martin' },
		{ handle: 'chloe', password: PW, name: 'Chloé Lefèvre' },
	]);
	const chloe = await apiSession(site, 'chloe', PW);
	await chloe.call('POST', '/api/posts', { text: 'Les réunions de sécurité reprennent jeudi au quai B' });
	await chloe.call('POST', '/api/posts', { text: 'Menu de la cantine: gratin' });
});
after(cleanup);

uiTest('search from the header: grouped, highlighted, opened', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'alice', PW);
	const box = page.getByRole('searchbox', { name: 'Search posts, comments and people' });
	// Accents and plural do not count: "reunion" finds "réunions".
	await box.fill('reunion securite');
	await box.press('Enter');
	await page.getByRole('heading', { name: 'Search: reunion securite', level: 1 }).waitFor();
	const hit = page.locator('.search-group', { hasText: 'Posts and comments' }).locator('.search-hit');
	await hit.first().waitFor();
	assert.equal(await hit.count(), 1, 'one post matches');
	const marks = await hit.first().locator('mark').allInnerTexts();
	assert.deepEqual(marks, ['réunions', 'sécurité'], 'the matched words are highlighted');
	assert.equal(await page.locator('.search-hit', { hasText: 'cantine' }).count(), 0, 'the other post is not listed');
	// A person, by a name typed without its accent.
	await box.fill('lefevre');
	await box.press('Enter');
	await page.locator('.search-group', { hasText: 'People' }).locator('.search-snippet mark', { hasText: 'Lefèvre' }).waitFor();
	await page.locator('.search-person strong', { hasText: 'Chloé Lefèvre' }).waitFor();
	// Back to the post, and open it.
	await box.fill('quai');
	await box.press('Enter');
	await page.locator('.search-hit mark', { hasText: 'quai' }).waitFor();
	await page.locator('.search-hit .search-open').first().click();
	await page.locator('article.post', { hasText: 'Les réunions de sécurité reprennent jeudi' }).waitFor();
	assert.match(page.url(), /#\/post\/[0-9a-f]{64}$/, 'the post has its own page');
});

uiTest('search on a phone, in French', async ({ newPage }) => {
	const page = await newPage(site, { lang: 'fr', width: 390, height: 844 });
	await login(page, 'alice', PW);
	const box = page.getByRole('searchbox', { name: 'Rechercher dans les messages, commentaires et personnes' });
	await box.fill('cantine');
	await box.press('Enter');
	await page.getByRole('heading', { name: 'Recherche : cantine', level: 1 }).waitFor();
	await page.locator('.search-hit mark', { hasText: 'cantine' }).waitFor();
	await page.getByText('1 résultat', { exact: true }).waitFor();
	const w = await page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(w <= 390, `nothing wider than the phone (${w} px)`);
});
