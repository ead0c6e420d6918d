// Takes screenshots of every page of the web UI, at desktop and phone widths
// and in both languages, on a node filled with a little demo data: for
// looking at the UI, not a test. Usage (from the repository root):
//   node tests/browser/screenshots.mjs [OUTDIR]   (default /tmp/comptoir-shots)

import fs from 'node:fs';
import path from 'node:path';

import { addUser, apiSession, makePng, browser, cleanup, cli, hasFederation, login, makeFederation, sleep, startNode, startSite, stopNode, until } from './lib.mjs';

const out = process.argv[2] || '/tmp/comptoir-shots';
fs.mkdirSync(out, { recursive: true });
const PW = 'correct-horse-battery';

const site = await startSite('paris', [
	{ handle: 'alice', password: PW, admin: true, name: 'Alice Martin' },
	{ handle: 'bob', password: PW, name: 'Bob Dupont' },
	{ handle: 'chloe', password: PW, name: 'Chloé Bernard' },
]);
try {
	const alice = await apiSession(site, 'alice', PW);
	const bob = await apiSession(site, 'bob', PW);
	const chloe = await apiSession(site, 'chloe', PW);
	await alice.call('PUT', '/api/profile', { title: 'Head of IT', department: 'Information systems', site: 'Paris HQ', phone: '+33 1 23 45 67 89', location: 'Building A, 3rd floor', skills: ['networks', 'Linux', 'coffee'], bio: 'I look after the servers of the Paris office.\nAsk me about the intranet.' });
	await bob.call('PUT', '/api/profile', { title: 'Plant manager', department: 'Logistics', site: 'Lyon plant', skills: ['lean', 'forklifts'] });
	await chloe.call('PUT', '/api/profile', { title: 'Accountant', department: 'Finance', site: 'Paris HQ' });
	const p1 = await bob.call('POST', '/api/posts', { text: 'The new loading dock in Lyon opens on Monday 🎉\nThanks to everyone who helped, especially @alice for the network.' });
	await chloe.call('POST', '/api/posts', { text: 'Reminder: expense reports for October are due Friday. Template: https://intranet.example/expenses' });
	const p3 = await alice.call('POST', '/api/posts', { text: 'The intranet now shows whether every site is reachable: look at the dot at the top right.' });
	await chloe.call('POST', `/api/posts/${p1.id}/comments`, { text: 'Congratulations to the Lyon team!' });
	await alice.call('POST', `/api/posts/${p1.id}/reactions`, { reaction: '👍' });
	await chloe.call('POST', `/api/posts/${p1.id}/reactions`, { reaction: '🎉' });
	await bob.call('POST', `/api/posts/${p3.id}/reactions`, { reaction: '👍' });
	// Files (issue 20): a gallery of pictures and a PDF, profile photos.
	const pics = [await bob.upload('quai-1.png', makePng(1600, 1000)), await bob.upload('quai-2.png', makePng(900, 1200, [150, 90, 40])),
		await bob.upload('quai-3.png', makePng(1200, 800, [60, 140, 70]))];
	const pdf = await bob.upload('consignes-quai.pdf', Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(240000, 32)]));
	await bob.call('POST', '/api/posts', { text: 'Photos of the new dock, and the safety rules.', files: [...pics.map(p => p.id), pdf.id] });
	const face = await alice.upload('alice.png', makePng(600, 600, [200, 120, 90]));
	await alice.call('PUT', '/api/profile', { photo: face.id });
	const single = await chloe.upload('canteen.png', makePng(1280, 720, [90, 90, 170]));
	await chloe.call('POST', '/api/posts', { text: 'The new canteen menu board.', files: [single.id] });
	await chloe.call('POST', '/api/posts', { text: '<script>alert(1)</script> is shown as text, not run.' });
	await bob.call('POST', '/api/posts', { text: 'The file invoice\u202egnp.exe came by mail: do not open it.' });
	// Notifications (issue 18): alice is mentioned, commented and reacted to;
	// she follows chloe; chloe's post is an announcement to the site.
	await chloe.call('POST', `/api/posts/${p3.id}/comments`, { text: 'Very useful, thanks @alice' });
	const p6 = await chloe.call('POST', '/api/posts', { text: 'The canteen is closed on Friday: the caterer moves in on Monday.' });
	await alice.call('POST', '/api/follows', { what: 'person', target: 'chloe', on: true });
	await alice.call('POST', `/api/posts/${p6.id}/announce`, { scope: 'site' });
	// Spaces: an open one, a private one, one joined on request (with a request waiting).
	const hike = await alice.call('POST', '/api/spaces', { name: 'Randonnée du dimanche', description: 'Sunday walks around Paris and Lyon. Boots recommended.', visibility: 'open', join: 'open' });
	await bob.call('POST', `/api/spaces/${hike.id}/join`);
	await bob.call('POST', '/api/posts', { text: 'Sunday: Forêt de Fontainebleau, 9:00 at the station.', space: hike.id });
	const budget = await alice.call('POST', '/api/spaces', { name: 'Budget 2025', description: 'Figures before they are final. Members only.', visibility: 'private', join: 'invite' });
	await alice.call('POST', `/api/spaces/${budget.id}/invite`, { user: 'chloe' });
	await chloe.call('POST', `/api/spaces/${budget.id}/join`);
	await chloe.call('POST', '/api/posts', { text: 'Draft budget: +4 % for the IT team, the rest flat.', space: budget.id });
	// A private space's pictures: a cover and a post, sealed in the space.
	const cover = await alice.upload('budget-cover.png', makePng(1400, 420, [30, 90, 70]), budget.id);
	await alice.call('PATCH', `/api/spaces/${budget.id}`, { cover: cover.id });
	const chart = await alice.upload('budget-chart.png', makePng(1200, 800, [150, 60, 40]), budget.id);
	await alice.call('POST', '/api/posts', { text: 'The chart for Thursday.', space: budget.id, files: [chart.id] });
	const ce = await alice.call('POST', '/api/spaces', { name: 'Comité social', visibility: 'open', join: 'request' });
	await bob.call('POST', `/api/spaces/${ce.id}/request`);

	// Apps (issue 22): a token, a bot with its token, a webhook.
	await alice.call('POST', '/api/tokens', { name: 'Dashboard of the IT team', scopes: ['read'], expires_days: 90 });
	cli('bot', 'add', 'canteen', '--owner', 'alice', '--name', 'Menu de la cantine', '--dir', site.nodeDir);
	const bt = await alice.call('POST', '/api/bots/canteen/tokens', { name: 'daily menu', scopes: ['write'] });
	await fetch(site.url + '/api/posts', { method: 'POST', headers: { Authorization: `Bearer ${bt.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'Menu du jour : blanquette de veau, tarte aux pommes.' }) });
	await alice.call('POST', '/api/hooks', { url: 'http://127.0.0.1:9/comptoir', events: ['post', 'comment'], name: 'Wall screen in the hall' });

	const b = await browser();
	for (const lang of ['en', 'fr']) {
		for (const [wname, width] of [['desktop', 1280], ['phone', 375]]) {
			const ctx = await b.newContext({ viewport: { width, height: width > 500 ? 900 : 780 }, locale: lang === 'fr' ? 'fr-FR' : 'en-GB', deviceScaleFactor: width > 500 ? 1 : 2 });
			const page = await ctx.newPage();
			page.on('console', m => { if (m.type() === 'error') console.log(`console: ${m.text()}`); });
			page.on('pageerror', e => console.log(`page error: ${e.message}`));
			const shot = async name => {
				await sleep(400);
				const file = path.join(out, `${name}-${wname}-${lang}.png`);
				await page.screenshot({ path: file });
				console.log(file);
			};
			await page.goto(site.url + '/');
			await shot('login');
			await login(page, 'alice', PW);
			await page.locator('article.post').first().waitFor();
			await shot('feed');
			// Files: a gallery of three pictures and a PDF, one big picture.
			await page.locator('article.post', { hasText: 'new dock' }).scrollIntoViewIfNeeded();
			await page.locator('article.post', { hasText: 'new dock' }).evaluate(el => el.scrollIntoView({ block: 'start' }));
			await shot('files');
			await page.locator('article.post', { hasText: 'canteen menu' }).evaluate(el => el.scrollIntoView({ block: 'start' }));
			await shot('files-one');
			await page.evaluate(() => window.scrollTo(0, 0));
			await page.locator('article.post', { hasText: 'loading dock' }).getByRole('button', { name: /comment/i }).click();
			await page.locator('.comment').first().waitFor();
			await page.locator('article.post', { hasText: 'loading dock' }).scrollIntoViewIfNeeded();
			await shot('comments');
			// Alice's own comment, being edited.
			const dock = page.locator('article.post', { hasText: 'loading dock' });
			await dock.getByRole('textbox', { name: /comment|commentaire/i }).fill('Well done, and thanks for the coffee');
			await dock.getByRole('button', { name: /^(Reply|Répondre)$/ }).click();
			await dock.locator('.comment', { hasText: 'thanks for the coffee' }).last().waitFor();
			await dock.locator('.comment', { hasText: 'thanks for the coffee' }).last().getByRole('button', { name: /Edit this|Modifier ce/ }).click();
			await dock.locator('.comment-edit').scrollIntoViewIfNeeded();
			await shot('comment-edit');
			await page.keyboard.press('Escape');
			await page.locator('article.post', { hasText: 'invoice' }).scrollIntoViewIfNeeded();
			await shot('bidi');
			await page.getByRole('textbox', { name: /post|publication/i }).first().fill('Hello @b');
			await page.locator('.mention-list li').first().waitFor();
			await page.evaluate(() => window.scrollTo(0, 0));
			await shot('mention');
			await page.getByRole('textbox', { name: /post|publication/i }).first().fill('A long text. '.repeat(700));
			await page.evaluate(() => window.scrollTo(0, 0));
			await shot('counter');
			await page.getByRole('textbox', { name: /post|publication/i }).first().fill('');
			await bob.call('POST', '/api/posts', { text: 'A live post from Bob' });
			await page.locator('.newbar:not([hidden])').waitFor();
			await shot('newbar');
			await page.goto(site.url + '/#/spaces');
			await page.locator('.space-item').first().waitFor();
			await shot('spaces');
			await page.goto(site.url + `/#/space/${budget.id}`);
			await page.locator('.space-feed article.post').first().waitFor();
			await shot('space-private');
			await page.goto(site.url + `/#/space/${ce.id}`);
			await page.locator('.space-pending').waitFor();
			await shot('space-requests');
			await page.goto(site.url + '/#/');
			await page.locator('article.post .space-label').first().waitFor();
			await page.locator('.space-picker option').nth(2).waitFor({ state: 'attached' });
			await shot('feed-spaces');
			await page.goto(site.url + '/#/people');
			await page.locator('.person-card').first().waitFor();
			await shot('people');
			await page.goto(site.url + '/#/people?skill=lean');
			await page.locator('.person-card').first().waitFor();
			await page.locator('.people-filters select option').nth(1).waitFor({ state: 'attached' });
			await shot('people-filtered');
			await page.goto(site.url + '/#/search?q=lyon');
			await page.locator('.search-space').first().waitFor();
			await shot('search-spaces');
			await page.goto(site.url + '/#/people/alice');
			await page.locator('.profile').waitFor();
			await shot('person');
			await page.goto(site.url + '/#/people/chloe');
			await page.locator('#follow[aria-pressed="true"]').waitFor();
			await shot('follow');
			await page.goto(site.url + '/#/notifications');
			await page.locator('.notif').first().waitFor();
			await shot('notifications');
			await page.goto(site.url + '/#/settings');
			await page.locator('form.settings').waitFor();
			await shot('settings');
			await page.goto(site.url + '/#/apps');
			await page.locator('#tok-list').waitFor();
			await page.locator('.card.hook').waitFor();
			await shot('apps');
			await page.locator('#tok-name').fill('Export script');
			await page.locator('#tok-create').click();
			await page.locator('#tok-secret').waitFor();
			await page.locator('#tok-secret').scrollIntoViewIfNeeded();
			await shot('apps-token-once');
			await page.locator('.card.hook').scrollIntoViewIfNeeded();
			await page.locator('.card.hook .hook-log-btn').click();
			await page.locator('.hook-log:not([hidden])').waitFor();
			await shot('apps-hooks');
			await page.goto(site.url + '/#/');
			await page.getByRole('tab', { name: /^(For you|Pour vous)$/ }).click();
			await page.locator('#tab-foryou[aria-selected="true"]').waitFor();
			await shot('foryou');
			await page.getByRole('tab', { name: /^(All|Tout)$/ }).click();
			await page.goto(site.url + `/#/post/${p6.id}`);
			await page.locator('.announce-form').waitFor();
			await page.locator('.announce-form').scrollIntoViewIfNeeded();
			await shot('announce');
			await page.goto(site.url + '/#/profile');
			await page.locator('.profile-form').waitFor();
			await shot('profile-edit');
			await page.goto(site.url + '/#/status');
			await page.locator('.site-self').waitFor();
			await shot('status');
			await page.goto(site.url + '/#/figures');
			await page.locator('table.figures').first().waitFor();
			await shot('figures');
			await page.goto(site.url + '/#/figures?days=365');
			await page.locator('table.figures').nth(1).locator('tbody tr').nth(50).waitFor();
			await page.locator('table.figures').nth(1).scrollIntoViewIfNeeded();
			await shot('figures-year');
			await page.goto(site.url + '/#/admin');
			await sleep(300);
			await shot('admin');
			const bobRow = page.locator('tr[data-handle="bob"]');
			await bobRow.getByRole('button', { name: /^(Reset password|Nouveau mot de passe)$/ }).click();
			await shot('admin-confirm');
			await page.keyboard.press('Escape');
			await bobRow.getByRole('button', { name: /^(Edit|Modifier)$/ }).click();
			await shot('admin-edit');
			await page.keyboard.press('Escape');
			await ctx.close();
		}
	}

	// Two sites: the sites page with a peer, then during an outage.
	if (hasFederation()) {
		const [hq, plant] = await makeFederation(['paris-hq', 'lyon-plant']);
		addUser(hq, 'alice', PW, { name: 'Alice Martin', management: true }); // reads the figures
		addUser(plant, 'bob', PW, { name: 'Bob Dupont' });
		await startNode(hq);
		await startNode(plant);
		await until(async () => (await (await fetch(`${hq.url}/api/status`)).json()).peers.some(p => p.connected), 'the sites to connect', 30000);
		const bob = await apiSession(plant, 'bob', PW);
		const hello = await bob.call('POST', '/api/posts', { text: 'Hello from the plant' });
		const alice = await apiSession(hq, 'alice', PW);
		await until(async () => alice.call('GET', `/api/posts/${hello.id}`).then(() => true, () => false), 'the post at the hq', 30000);
		await alice.call('POST', `/api/posts/${hello.id}/comments`, { text: 'Hello from the HQ' });
		await until(async () => ((await alice.call('GET', '/api/figures?days=30')).exchange || []).length > 0, 'an exchange', 30000);
		const pages = [];
		for (const lang of ['en', 'fr']) {
			for (const [wname, width] of [['desktop', 1280], ['phone', 375]]) {
				const ctx = await b.newContext({ viewport: { width, height: width > 500 ? 900 : 780 }, locale: lang === 'fr' ? 'fr-FR' : 'en-GB', deviceScaleFactor: width > 500 ? 1 : 2 });
				const page = await ctx.newPage();
				await page.goto(hq.url + '/#/status');
				await login(page, 'alice', PW);
				await page.locator('.site[data-site]').first().waitFor();
				await sleep(500);
				await page.screenshot({ path: path.join(out, `sites-ok-${wname}-${lang}.png`) });
				await page.goto(hq.url + '/#/figures');
				await page.locator('table.figures').nth(1).scrollIntoViewIfNeeded();
				await sleep(300);
				await page.screenshot({ path: path.join(out, `figures-exchange-${wname}-${lang}.png`) });
				await page.goto(hq.url + '/#/');
				await page.locator('article.post .site-label').first().waitFor();
				await sleep(300);
				await page.screenshot({ path: path.join(out, `feed-sites-${wname}-${lang}.png`) });
				await page.goto(hq.url + '/#/status');
				await page.locator('.site[data-site]').first().waitFor();
				pages.push([page, wname, lang]);
			}
		}
		await stopNode(plant);
		await sleep(8000);
		for (const [page, wname, lang] of pages) {
			await page.screenshot({ path: path.join(out, `sites-down-${wname}-${lang}.png`) });
			await page.goto(hq.url + '/#/');
			await page.locator('article.post').first().waitFor();
			await sleep(500);
			await page.screenshot({ path: path.join(out, `feed-outage-${wname}-${lang}.png`) });
		}
		console.log(`${out}/sites-*.png, feed-outage-*.png`);
	}
} finally {
	await cleanup();
}
