// Browser tests of the Figures page for management (issue 21): the charts
// are drawn (SVG, no library), the workbook and the ";" CSV are offered, a
// phone shows the tables within its width, and a member of staff without
// the management role can open neither the page's figures nor the API.
// Run through tests/browser/run.mjs (see README.md).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before } from 'node:test';

import { PHONE, apiSession, cleanup, login, startSite, uiTest } from './lib.mjs';

const PW = 'correct-horse-battery-3';
let site;

before(async () => {
	site = await startSite('paris', [
		{ handle: 'maud', password: PW, management: true, name: 'Maud Perrin' },
		{ handle: 'bob', password: PW, name: 'Bob Dupont' },
		{ handle: 'ada', password: PW, admin: true, name: 'Ada Roux' },
		{ handle: 'zoe', password: PW, name: 'Zoé Marin' },
	]);
	const bob = await apiSession(site, 'bob', PW);
	await bob.call('POST', '/api/posts', { text: 'Who has the key of room 3?', question: true });
});
after(cleanup);

for (const lang of ['en', 'fr']) {
	uiTest(`figures for management (${lang}): the charts are drawn, the workbook offered`, async ({ newPage }) => {
		const page = await newPage(site, { lang });
		await login(page, 'maud', PW);
		await page.goto(`${site.url}/#/figures`);
		const adoption = page.locator('svg.chart-adoption');
		await adoption.waitFor();
		assert.ok(await adoption.locator('circle').count() >= 1, 'a point per week');
		const box = await adoption.boundingBox();
		assert.ok(box && box.width > 200 && box.height > 50, `the adoption chart has a size (${JSON.stringify(box)})`);
		// One site: nothing between sites to map (two sites: federation.test.mjs).
		const heatCard = page.locator('section', { has: page.locator('#fig-heat') });
		await heatCard.getByText(lang === 'en' ? 'One site only: there is nothing between sites to map yet.' : 'Un seul site : rien à cartographier entre sites pour l’instant.').waitFor();
		const wb = page.getByRole('link', { name: lang === 'en' ? /workbook \(XLSX\)/ : /classeur \(XLSX\)/ });
		const href = await wb.getAttribute('href');
		assert.match(href, /^\/api\/reports\/workbook\.xlsx\?from=\d{4}-\d\d-\d\d&to=\d{4}-\d\d-\d\d$/);
		const resp = await page.request.get(`${site.url}${href}`);
		assert.equal(resp.status(), 200, 'the workbook link downloads');
		assert.equal((await resp.body()).subarray(0, 2).toString(), 'PK', 'a zip (XLSX) file');
		const semi = page.getByRole('link', { name: lang === 'en' ? /French Excel/ : /Excel en français/ });
		const [download] = await Promise.all([page.waitForEvent('download'), semi.click()]);
		const text = fs.readFileSync(await download.path(), 'utf8');
		assert.match(text, /;/, 'the French CSV is separated by ";"');
		assert.doesNotMatch(text.split('\r\n')[0], /,/, 'and not by ","');
	});
}

for (const lang of ['en', 'fr']) {
	uiTest(`figures on a phone (${lang}): the charts and the tables fit the width`, async ({ newPage }) => {
		const page = await newPage(site, { ...PHONE, lang });
		await login(page, 'maud', PW);
		await page.goto(`${site.url}/#/figures`);
		await page.locator('svg.chart-adoption').waitFor();
		const over = await page.evaluate(() => [...document.querySelectorAll('svg.chart')].filter(s => s.getBoundingClientRect().right > innerWidth + 1).length);
		assert.equal(over, 0, 'no chart runs past the phone\'s width');
		const scrolls = await page.evaluate(() => document.documentElement.scrollWidth > innerWidth + 1);
		assert.equal(scrolls, false, 'the page does not scroll sideways');
		// No table is cut or scrolls inside its card ("Publications" was cut
		// at 390 px): every cell is within the card and the viewport.
		const cut = await page.evaluate(() => [...document.querySelectorAll('table.figures')].flatMap(tb => {
			const wrap = tb.closest('.table-wrap') || tb.parentElement;
			const box = wrap.getBoundingClientRect();
			const out = [];
			if (wrap.scrollWidth > wrap.clientWidth + 1)
				out.push(`${tb.querySelector('caption')?.textContent}: scrolls (${wrap.scrollWidth} > ${wrap.clientWidth})`);
			for (const c of tb.querySelectorAll('th, td')) {
				const r = c.getBoundingClientRect();
				if (r.width > 0 && (r.right > Math.min(box.right, innerWidth) + 1 || r.left < box.left - 1))
					out.push(`${c.textContent} at ${Math.round(r.left)}..${Math.round(r.right)}`);
				else if (c.scrollWidth > c.clientWidth + 1) // its label or number spills out
					out.push(`${c.dataset.label || ''} ${c.textContent}: ${c.scrollWidth} > ${c.clientWidth}`);
			}
			return out;
		}));
		assert.deepEqual(cut, [], 'every table of figures fits the phone\'s width');
		// The numbers keep their names: a cell says what it counts.
		const labelled = await page.evaluate(() => [...document.querySelectorAll('table.figures tbody td')].every(td => td.dataset.label));
		assert.ok(labelled, 'every number is labelled');
	});
}

uiTest('a member of staff without the role cannot open the figures, nor the API', async ({ newPage }) => {
	const page = await newPage(site, {});
	await login(page, 'bob', PW);
	await page.getByRole('link', { name: 'Feed', exact: true }).waitFor();
	assert.equal(await page.getByRole('link', { name: 'Figures', exact: true }).count(), 0, 'no Figures link in the menu');
	await page.goto(`${site.url}/#/figures`);
	await page.getByText('The figures are for management').waitFor();
	assert.equal(await page.locator('svg.chart').count(), 0, 'no chart drawn');
	assert.equal(await page.locator('table.figures').count(), 0, 'no table shown');
	const status = await page.evaluate(async () => [(await fetch('/api/figures')).status, (await fetch('/api/reports/workbook.xlsx')).status]);
	assert.deepEqual(status, [403, 403], 'the API refuses the figures and the workbook');
});

uiTest('a site admin gives the management role on the users page, and the figures open', async ({ newPage }) => {
	const page = await newPage(site, {});
	await login(page, 'ada', PW);
	await page.goto(`${site.url}/#/admin`);
	const row = page.getByRole('row', { name: /zoe/ });
	await row.getByRole('button', { name: 'Edit' }).click();
	const form = page.getByRole('form', { name: 'Name and role of zoe' });
	await form.getByLabel(/^Management/).check();
	await form.getByRole('button', { name: 'Save' }).click();
	await page.getByText('zoe is updated.').waitFor();
	await page.getByRole('row', { name: /zoe/ }).getByRole('cell', { name: 'Management', exact: true }).waitFor();
	const zoe = await newPage(site, {});
	await login(zoe, 'zoe', PW);
	await zoe.getByRole('link', { name: 'Figures', exact: true }).click();
	await zoe.locator('svg.chart-adoption').waitFor();
});
