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
	const sp = await chloe.call('POST', '/api/spaces', { name: 'Randonnée du dimanche', description: 'Sorties en montagne', visibility: 'open', join: 'open' });
	await chloe.call('POST', '/api/posts', { text: 'Départ de la randonnée à huit heures', space: sp.id });
	// For the results' filters: one word, three posts, two authors, one in a space.
	const alice = await apiSession(site, 'alice', PW);
	await alice.call('POST', '/api/posts', { text: 'Palettes livrées à l’entrepôt nord' });
	await chloe.call('POST', '/api/posts', { text: 'Une palette cassée à l’atelier' });
	await chloe.call('POST', '/api/posts', { text: 'Palette de couleurs pour l’affiche', space: sp.id });
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
	// A space by its name, and a post of it labelled with it; open the space.
	await box.fill('randonnee');
	await box.press('Enter');
	const spaceHit = page.locator('.search-group', { hasText: 'Spaces' }).locator('.search-space');
	await spaceHit.locator('mark', { hasText: 'Randonnée' }).waitFor();
	await page.locator('.search-hit', { hasText: 'huit heures' }).locator('.space-label', { hasText: 'Randonnée du dimanche' }).waitFor();
	await spaceHit.locator('.search-open').click();
	await page.waitForURL(/#\/space\/[0-9a-f]{64}$/);
});

uiTest('search and its filters on a phone, in French', async ({ newPage }) => {
	const page = await newPage(site, { lang: 'fr', width: 390, height: 844 });
	await login(page, 'alice', PW);
	const box = page.getByRole('searchbox', { name: 'Rechercher dans les messages, commentaires et personnes' });
	await box.fill('cantine');
	await box.press('Enter');
	await page.getByRole('heading', { name: 'Recherche : cantine', level: 1 }).waitFor();
	await page.locator('.search-hit mark', { hasText: 'cantine' }).waitFor();
	await page.getByText('1 résultat', { exact: true }).waitFor();
	// The results' filters, from the address (one page and login serve both).
	await page.goto(site.url + '/#/search?q=palette&author=alice');
	await page.getByText('1 résultat', { exact: true }).waitFor();
	assert.equal(await page.getByLabel('Auteur', { exact: true }).inputValue(), 'alice');
	for (const label of ['Type', 'Site', 'Espace', 'Du', 'Au'])
		await page.getByLabel(label, { exact: true }).waitFor();
	await page.getByRole('button', { name: 'Effacer les filtres' }).waitFor();
	const w = await page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(w <= 390, `nothing wider than the phone (${w} px)`);
});

/* ----------------------------------------------------- the results' filters */

uiTest('the results narrowed by author, space, kind and dates, kept in the address', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.goto(site.url + '/#/search?q=palette');
	const hits = page.locator('.search-group .search-hit');
	await page.getByText('3 results', { exact: true }).waitFor();
	// An author: chloe's two posts.
	await page.getByLabel('Author', { exact: true }).fill('chloe');
	await page.getByText('2 results', { exact: true }).waitFor();
	assert.equal(await hits.filter({ hasText: 'entrepôt' }).count(), 0, 'alice\'s post is gone');
	assert.match(page.url(), /[?&]author=chloe(&|$)/, 'the author is in the address');
	// A space: the one post of chloe's in it.
	await page.getByLabel('Space', { exact: true }).selectOption({ label: 'Randonnée du dimanche' });
	await page.getByText('1 result', { exact: true }).waitFor();
	assert.deepEqual(await hits.locator('mark').allInnerTexts(), ['Palette']);
	assert.match(page.url(), /[?&]space=[0-9a-f]{64}(&|$)/, 'the space is in the address');
	// Reload: the filters come back from the address.
	await page.reload();
	await page.getByText('1 result', { exact: true }).waitFor();
	assert.equal(await page.getByLabel('Author', { exact: true }).inputValue(), 'chloe');
	// Cleared: the three posts again; then people only: none of them.
	await page.getByRole('button', { name: 'Clear the filters' }).click();
	await page.getByText('3 results', { exact: true }).waitFor();
	// The authors' site: this one, where all three were written.
	await page.getByLabel('Site', { exact: true }).selectOption('paris');
	await page.waitForFunction(() => /[?&]site=paris(&|$)/.test(location.hash));
	await page.getByText('3 results', { exact: true }).waitFor();
	await page.getByLabel('Site', { exact: true }).selectOption('');
	await page.getByLabel('Kind', { exact: true }).selectOption('people');
	await page.getByText('Nothing matches “palette” with these filters.', { exact: true }).waitFor();
	assert.equal(await hits.count(), 0);
	// A date range that ends before the posts were written: none; today: all.
	await page.getByLabel('Kind', { exact: true }).selectOption('all');
	await page.getByLabel('To', { exact: true }).fill('2001-01-31');
	await page.getByText('Nothing matches “palette” with these filters.', { exact: true }).waitFor();
	const today = await page.evaluate(() => new Date().toLocaleDateString('sv'));
	await page.getByLabel('To', { exact: true }).fill(today);
	await page.getByLabel('From', { exact: true }).fill(today);
	await page.getByText('3 results', { exact: true }).waitFor();
	assert.match(page.url(), new RegExp(`after=${today}&before=${today}`), 'the days are in the address');
});

/* --------------------------------------------------- the directory's filters */

uiTest('the directory filtered by site, department and skill', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const chloe = await apiSession(site, 'chloe', PW);
	await alice.call('PUT', '/api/profile', { department: 'Logistique', skills: ['Excel', 'Caristes'] });
	await chloe.call('PUT', '/api/profile', { department: 'Qualité', skills: ['Audit', 'Excel'] });
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.goto(site.url + '/#/people');
	const cards = page.locator('.person-card .person-name');
	await page.getByText('2 people', { exact: true }).waitFor();
	// A department, typed without its accent: Chloé only.
	await page.getByLabel('Department', { exact: true }).fill('qualite');
	await page.getByText('1 person', { exact: true }).waitFor();
	assert.deepEqual(await cards.allInnerTexts(), ['Chloé Lefèvre']);
	assert.match(page.url(), /#\/people\?department=qualite$/, 'the filter is in the address');
	// A skill both have, with the department cleared: both; then a skill one has.
	await page.getByRole('button', { name: 'Clear the filters' }).click();
	await page.getByLabel('Skill', { exact: true }).fill('excel');
	await page.getByText('2 people', { exact: true }).waitFor();
	await page.getByLabel('Skill', { exact: true }).fill('caristes');
	await page.getByText('1 person', { exact: true }).waitFor();
	assert.deepEqual(await cards.allInnerTexts(), ['Alice Martin']);
	// Skill and words together; then a site: this one holds both, none other.
	await page.getByLabel('Skill', { exact: true }).fill('');
	const sites = await page.getByLabel('Site', { exact: true }).locator('option').allInnerTexts();
	assert.ok(sites.length >= 2 && sites[0] === 'Every site', `the sites are offered (${sites})`);
	await page.getByLabel('Site', { exact: true }).selectOption({ index: 1 });
	await page.getByText('2 people', { exact: true }).waitFor();
	// Reload: the filters come back from the address.
	await page.getByLabel('Department', { exact: true }).fill('logistique');
	await page.getByText('1 person', { exact: true }).waitFor();
	await page.reload();
	await page.getByText('1 person', { exact: true }).waitFor();
	assert.equal(await page.getByLabel('Department', { exact: true }).inputValue(), 'logistique');
	await page.getByLabel('Department', { exact: true }).fill('nulle part');
	await page.getByText('Nobody matches these filters.', { exact: true }).waitFor();
});

uiTest('the directory\'s filters on a phone, in French', async ({ newPage }) => {
	const page = await newPage(site, { lang: 'fr', width: 390, height: 844 });
	await login(page, 'alice', PW);
	await page.goto(site.url + '/#/people?skill=audit');
	await page.getByText('1 personne', { exact: true }).waitFor();
	assert.equal(await page.getByLabel('Compétence', { exact: true }).inputValue(), 'audit');
	await page.getByRole('button', { name: 'Effacer les filtres' }).waitFor();
	await page.getByLabel('Service', { exact: true }).waitFor();
	await page.getByLabel('Site', { exact: true }).waitFor();
	const w = await page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(w <= 390, `nothing wider than the phone (${w} px)`);
});
