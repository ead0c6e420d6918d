// End-to-end tests of the web UI on one site: a real comptoir node and
// headless chromium. Run through tests/browser/run.mjs (see its header).

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before } from 'node:test';

import { apiSession, cleanup, login, logout, startSite, uiTest, until, waitLive, writePost } from './lib.mjs';

const PW = 'correct-horse-battery-1';
let site;

before(async () => {
	site = await startSite('paris', [
		{ handle: 'alice', password: PW, admin: true, name: 'Alice Martin' },
		{ handle: 'bob', password: PW, name: 'Bob Dupont' },
		{ handle: 'chloe', password: PW, name: 'Chloé Bernard' },
	]);
	const bob = await apiSession(site, 'bob', PW);
	await bob.call('PUT', '/api/profile', { title: 'Plant manager', department: 'Logistics', site: 'Lyon plant', skills: ['forklifts'] });
});
after(cleanup);

const postCard = (page, text) => page.locator('article.post', { hasText: text });

uiTest('log in, post, comment, react, edit the profile, find a colleague, log out', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Feed' }).and(page.locator('[aria-current="page"]')).waitFor();

	// Post.
	const card = await writePost(page, 'Canteen closed on Friday');
	assert.equal(await page.locator('article.post').first().innerText().then(t => t.includes('Canteen closed on Friday')), true, 'the new post is on top');

	// Comment.
	await card.getByRole('button', { name: 'Comment', exact: true }).click();
	const box = card.getByRole('textbox', { name: 'Write a comment' });
	await box.fill('See you on Monday then');
	await card.getByRole('button', { name: 'Reply' }).click();
	await card.locator('.comment', { hasText: 'See you on Monday then' }).waitFor();
	await card.getByRole('button', { name: /1 comment/ }).waitFor();

	// React: like, then another reaction from the picker, then unlike.
	const like = card.getByRole('button', { name: /Like$/ }).first();
	await like.click();
	await card.locator('.action.like[aria-pressed="true"]').waitFor();
	await card.getByRole('button', { name: /^Like: 1 person/ }).waitFor();
	await card.getByRole('button', { name: 'Add a reaction' }).click();
	await card.getByRole('button', { name: 'React with Celebrate' }).click();
	await card.getByRole('button', { name: /^Celebrate: 1 person/ }).waitFor();
	await like.click();
	await card.locator('.action.like[aria-pressed="false"]').waitFor();
	await until(async () => (await card.getByRole('button', { name: /^Like:/ }).count()) === 0, 'the 👍 count to go');

	// Edit the profile.
	await page.locator('#account').click();
	await page.getByRole('link', { name: 'Edit my profile' }).click();
	await page.getByLabel('Job title').fill('Head of IT');
	await page.getByLabel('Department').fill('Information systems');
	await page.getByLabel('Phone').fill('+33 1 23 45 67 89');
	await page.getByLabel('Skills').fill('networks, Linux');
	await page.getByLabel('About me').fill('I look after the servers.');
	await page.getByRole('button', { name: 'Save profile' }).click();
	await page.getByText('Profile saved.', { exact: true }).first().waitFor();
	await page.getByRole('link', { name: 'See my profile' }).click();
	await page.getByRole('heading', { name: 'Alice Martin', level: 1 }).waitFor();
	await page.getByText('Head of IT · Information systems').waitFor();
	await page.locator('.chip', { hasText: 'Linux' }).waitFor();
	await page.getByRole('link', { name: '+33 1 23 45 67 89' }).waitFor();
	await postCard(page, 'Canteen closed on Friday').waitFor();

	// Find a colleague by department, then open their page.
	await page.getByRole('link', { name: 'People' }).click();
	await page.getByLabel('Search colleagues').fill('logist');
	await page.locator('.person-card').first().waitFor();
	await until(async () => (await page.locator('.person-card').count()) === 1, 'one match');
	await page.getByText('1 person', { exact: true }).waitFor();
	await page.getByRole('link', { name: 'Bob Dupont' }).click();
	await page.getByRole('heading', { name: 'Bob Dupont', level: 1 }).waitFor();
	await page.getByText('Plant manager · Logistics').waitFor();
	assert.match(page.url(), /#\/people\/bob$/);

	// Log out: back to the login page, and a reload stays logged out.
	await logout(page);
	await page.getByText('You are signed out.').waitFor();
	await page.reload();
	await page.getByRole('button', { name: 'Sign in' }).waitFor();
	assert.equal(await page.locator('#account').count(), 0);
});

uiTest('a wrong password shows an error', async ({ newPage }) => {
	const page = await newPage(site);
	await page.getByLabel('User name').fill('alice');
	await page.getByLabel('Password').fill('not-the-password');
	await page.getByRole('button', { name: 'Sign in' }).click();
	const alert = page.getByRole('alert').filter({ hasText: 'Wrong user name or password.' });
	await alert.waitFor();
	assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password field is cleared');
	assert.equal(await page.locator('#account').count(), 0, 'not logged in');
});

uiTest('a post with markup shows as text and runs nothing', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	const evil = '<script>alert(1)</script><img src=x onerror="window.__pwned=1">';
	await writePost(page, evil);
	// Also one written elsewhere, arriving through the feed after a reload.
	const bob = await apiSession(site, 'bob', PW);
	await bob.call('POST', '/api/posts', { text: '<b onmouseover="window.__pwned=2">bold?</b> <script>window.__pwned=3</script>' });
	await page.reload();
	await page.locator('article.post').first().waitFor();
	const text = page.locator('.post-text', { hasText: '<script>alert(1)</script>' });
	await text.waitFor();
	assert.equal(await text.first().innerText(), evil, 'the text is shown exactly as written');
	await page.locator('.post-text', { hasText: '<script>window.__pwned=3</script>' }).waitFor();
	assert.equal(await page.locator('.post-text script, .post-text img, .post-text b').count(), 0, 'no element was made from the text');
	await page.locator('.post-text', { hasText: 'bold?' }).hover();
	assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
	// uiTest fails the test on any dialog (alert) or page error.
});

uiTest('a post made in another browser appears live behind a "new posts" bar', async ({ newPage }) => {
	const alice = await newPage(site);
	await login(alice, 'alice', PW);
	await alice.locator('article.post').first().waitFor();
	await waitLive(alice);
	const bar = alice.locator('.newbar');
	assert.equal(await bar.isVisible(), false, 'no bar at first');

	const bob = await newPage(site);
	await login(bob, 'bob', PW);
	await writePost(bob, 'Forklift training moved to Thursday');

	await bar.waitFor();
	assert.match(await bar.innerText(), /Show 1 new post/);
	assert.equal(await postCard(alice, 'Forklift training moved to Thursday').count(), 0, 'the feed did not jump');
	await writePost(bob, 'And bring your safety shoes');
	await until(async () => /Show 2 new posts/.test(await bar.innerText()), 'the bar to count 2');
	assert.match(await alice.title(), /^\(2\)/, 'the tab title counts them too');

	await bar.click();
	await postCard(alice, 'Forklift training moved to Thursday').waitFor();
	assert.match(await alice.locator('article.post').first().innerText(), /safety shoes/, 'newest first');
	assert.equal(await bar.isVisible(), false, 'the bar is gone');
	assert.equal(await alice.evaluate(() => document.activeElement.matches('article.post')), true, 'focus moved to the new posts');

	// Comments and reactions on a post on screen update in place.
	// (by id: the text changes below)
	const id = await postCard(bob, 'Forklift training moved to Thursday').getAttribute('data-post-id');
	const card = bob.locator(`article[data-post-id="${id}"]`);
	await card.getByRole('button', { name: /Like$/ }).click();
	await card.getByRole('button', { name: 'Comment', exact: true }).click();
	await card.getByRole('textbox', { name: 'Write a comment' }).fill('Noted');
	await card.getByRole('button', { name: 'Reply' }).click();
	const seen = postCard(alice, 'Forklift training moved to Thursday');
	await seen.getByRole('button', { name: /^Like: 1 person/ }).waitFor();
	await seen.getByRole('button', { name: /1 comment/ }).waitFor();

	// An edit and a deletion too.
	await card.getByRole('button', { name: 'Edit', exact: true }).click();
	await card.getByRole('textbox', { name: 'Text of the post' }).fill('Forklift training moved to Friday');
	await card.getByRole('button', { name: 'Save' }).click();
	await postCard(alice, 'Forklift training moved to Friday').locator('.edited').getByText('edited').waitFor();
	const other = postCard(bob, 'And bring your safety shoes');
	await other.getByRole('button', { name: 'Delete' }).click();
	await other.getByRole('button', { name: 'Delete' }).last().click();
	await until(async () => (await postCard(bob, 'safety shoes').count()) === 0, 'the deleted post to leave bob\'s feed');
	await until(async () => (await postCard(alice, 'safety shoes').count()) === 0, 'the deleted post to leave alice\'s feed');
});

uiTest('mentions are completed from the directory', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'alice', PW);
	const box = page.getByRole('textbox', { name: 'Write a post' });
	await box.click();
	await box.pressSequentially('Thanks @Dup');
	const option = page.getByRole('option', { name: /Bob Dupont/ });
	await option.waitFor();
	await box.press('Enter');
	assert.equal(await box.inputValue(), 'Thanks @bob ');
	await box.pressSequentially('for the help');
	await page.getByRole('button', { name: 'Post' }).click();
	const card = postCard(page, 'for the help');
	await card.getByRole('link', { name: '@bob' }).click();
	await page.getByRole('heading', { name: 'Bob Dupont', level: 1 }).waitFor();
});

uiTest('the language switch changes the UI text and is remembered', async ({ newPage }) => {
	const page = await newPage(site, { lang: 'en' });
	await page.getByRole('button', { name: 'Sign in' }).waitFor();
	await page.getByRole('button', { name: 'Afficher en français' }).click();
	await page.getByRole('button', { name: 'Se connecter' }).waitFor();
	assert.equal(await page.getAttribute('html', 'lang'), 'fr');
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Fil' }).waitFor();
	await page.getByRole('link', { name: 'Annuaire' }).click();
	await page.getByRole('heading', { name: 'Annuaire' }).waitFor();
	await page.reload();
	await page.getByRole('heading', { name: 'Annuaire' }).waitFor();
	await page.getByRole('button', { name: 'Show in English' }).click();
	await page.getByRole('heading', { name: 'People' }).waitFor();
	await page.getByRole('link', { name: 'Feed' }).waitFor();
});

uiTest('a French browser gets French first', async ({ newPage }) => {
	const page = await newPage(site, { lang: 'fr' });
	await page.getByRole('button', { name: 'Se connecter' }).waitFor();
	await page.getByLabel('Identifiant').fill('bob');
	await page.getByLabel('Mot de passe').fill('faux');
	await page.getByRole('button', { name: 'Se connecter' }).click();
	await page.getByRole('alert').filter({ hasText: 'Identifiant ou mot de passe incorrect.' }).waitFor();
});

uiTest('a lone site says so, and the sites page lists it', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'bob', PW);
	const conn = page.locator('#conn');
	await until(async () => (await conn.getAttribute('data-state')) === 'lone', 'the indicator to settle');
	assert.equal((await conn.innerText()).trim(), 'Single site');
	await conn.click();
	await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
	await page.getByRole('heading', { name: 'paris' }).waitFor();
	await page.getByText(/has no peer sites yet/).waitFor();
	assert.equal(await page.locator('#outage').isVisible(), false, 'no outage banner');
});

uiTest('the feed scrolls endlessly by cursor', async ({ newPage }) => {
	const chloe = await apiSession(site, 'chloe', PW);
	for (let i = 1; i <= 45; i++)
		await chloe.call('POST', '/api/posts', { text: `Scroll test post number ${i}.` });
	const page = await newPage(site, { height: 700 });
	await login(page, 'bob', PW);
	await postCard(page, 'Scroll test post number 45.').waitFor();
	for (let i = 0; i < 20 && (await postCard(page, 'Scroll test post number 1.').count()) === 0; i++) {
		await page.mouse.wheel(0, 4000);
		await page.waitForTimeout(200);
	}
	await postCard(page, 'Scroll test post number 1.').waitFor();
	const ids = await page.locator('article.post').evaluateAll(els => els.map(e => e.dataset.postId));
	assert.equal(new Set(ids).size, ids.length, 'no post twice');
	const nums = await page.locator('.post-text', { hasText: 'Scroll test post number' }).allInnerTexts();
	assert.equal(nums.length, 45);
	assert.deepEqual(nums.map(s => Number(s.match(/\d+/)[0])), Array.from({ length: 45 }, (_, i) => 45 - i), 'newest first');
	await page.getByText('You have seen every post.').waitFor();
});

uiTest('the keyboard alone can post and react', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	await page.locator('article.post').first().waitFor();
	// Focus is on the page heading after login; the composer comes next.
	for (let i = 0; i < 20; i++) {
		await page.keyboard.press('Tab');
		if (await page.evaluate(() => document.activeElement.matches('.composer textarea')))
			break;
	}
	assert.equal(await page.evaluate(() => document.activeElement.matches('.composer textarea')), true, 'the composer is reachable with Tab');
	await page.keyboard.type('Typed with the keyboard only');
	await page.keyboard.press('Control+Enter');
	const card = postCard(page, 'Typed with the keyboard only');
	await card.waitFor();
	await card.getByRole('button', { name: 'Add a reaction' }).focus();
	await page.keyboard.press('Enter');
	assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'React with Like');
	await page.keyboard.press('Tab');
	await page.keyboard.press('Enter');
	await card.getByRole('button', { name: /^Love: 1 person/ }).waitFor();
});

uiTest('the admin page manages users, or says plainly it cannot yet', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Users' }).click();
	await page.getByRole('heading', { name: 'Users of this site' }).waitFor();
	const probe = await fetch(`${site.url}/api/admin/users`, { headers: { Cookie: 'x=y' } });
	if (probe.status === 404) {
		await page.getByText(/User management from the web is not available on this node yet/).waitFor();
		return;
	}
	await page.getByLabel('User name', { exact: true }).fill('dave');
	await page.getByLabel('Full name').fill('Dave Leroy');
	await page.getByRole('button', { name: 'Create user' }).click();
	const secret = page.locator('.secret');
	await secret.waitFor();
	const password = await secret.inputValue();
	assert.ok(password.length >= 8, 'a password is shown');
	await page.getByRole('cell', { name: 'dave', exact: true }).waitFor();
	const dave = await newPage(site);
	await login(dave, 'dave', password);
	// A member sees no admin page.
	assert.equal(await dave.getByRole('link', { name: 'Users' }).count(), 0);
});

uiTest('a member gets no admin link', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'bob', PW);
	assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);
});

uiTest('both languages have every text the UI uses', async ({ newPage }) => {
	const page = await newPage(site);
	const { en, fr } = await page.evaluate(async () => {
		const m = await import('/i18n.js');
		return { en: Object.keys(m.tables.en), fr: Object.keys(m.tables.fr) };
	});
	assert.deepEqual([...fr].sort(), [...en].sort(), 'French and English have the same keys');
	const source = await (await fetch(`${site.url}/app.js`)).text();
	const used = new Set([...source.matchAll(/\bt\('([a-z_]+\.[a-z_]+)'/g)].map(m => m[1]));
	const missing = [...used].filter(k => !en.includes(k));
	assert.deepEqual(missing, [], 'every key used by app.js is in the tables');
});

uiTest('my reactions show after a reload', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const post = await bob.call('POST', '/api/posts', { text: 'Who likes the new coffee machine?' });
	const chloe = await apiSession(site, 'chloe', PW);
	await chloe.call('POST', `/api/posts/${post.id}/reactions`, { reaction: '👍' });
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	const card = page.locator(`article[data-post-id="${post.id}"]`);
	await card.locator('.action.like[aria-pressed="true"]').waitFor();
	await card.locator('.pill[aria-pressed="true"]').waitFor();
});

uiTest('a long thread shows its newest comments, and earlier ones on demand', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const chloe = await apiSession(site, 'chloe', PW);
	const post = await bob.call('POST', '/api/posts', { text: 'Ideas for the summer party?' });
	for (let i = 1; i <= 53; i++)
		await (i % 2 ? bob : chloe).call('POST', `/api/posts/${post.id}/comments`, { text: `idea number ${i}` });
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	const card = page.locator(`article[data-post-id="${post.id}"]`);
	await card.getByRole('button', { name: /53 comments/ }).click();
	const texts = () => card.locator('.comment-text').allInnerTexts();
	await until(async () => (await texts()).length === 50, 'the newest 50 comments');
	let shown = await texts();
	assert.equal(shown[0], 'idea number 4', 'oldest shown first');
	assert.equal(shown[49], 'idea number 53', 'newest last');
	const earlier = card.getByRole('button', { name: 'Show 3 earlier comments' });
	await earlier.click();
	await until(async () => (await texts()).length === 53, 'all 53 comments');
	shown = await texts();
	assert.deepEqual(shown, Array.from({ length: 53 }, (_, i) => `idea number ${i + 1}`), 'the whole thread, in order');
	assert.equal(await card.locator('.comments-earlier').count(), 0, 'no button once all are shown');

	// A reply keeps the earlier comments open.
	await card.getByRole('textbox', { name: 'Write a comment' }).fill('A barbecue by the river');
	await card.getByRole('button', { name: 'Reply' }).click();
	await until(async () => (await texts()).length === 54, 'the reply under the thread');
	shown = await texts();
	assert.equal(shown[0], 'idea number 1', 'earlier comments still shown');
	assert.equal(shown[53], 'A barbecue by the river', 'the reply last');
});

uiTest('the figures page shows adoption per site and follows the period', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const admin = await apiSession(site, 'alice', PW);
	await bob.call('POST', '/api/posts', { text: 'Figures for the board meeting' });
	const page = await newPage(site);
	await login(page, 'alice', PW); // the figures are for management and admins
	await page.getByRole('link', { name: 'Figures', exact: true }).click();
	await page.getByRole('heading', { name: 'Adoption by site' }).waitFor();
	const row = page.locator('table.figures').first().locator('tbody tr', { hasText: 'paris' });
	const cells = async () => (await row.locator('td').allInnerTexts()).map(x => x.trim());
	// The page shows what the API computes, for 30 days by default.
	let f = (await admin.call('GET', '/api/figures?days=30')).sites.find(x => x.site === 'paris');
	await until(async () => (await cells()).join('|') === [f.staff, f.active, `${Math.round(100 * f.active / f.staff)} %`, f.posts, f.comments, f.reactions].join('|'),
		'the paris row to match the API');
	assert.ok(f.posts >= 1 && f.active >= 1, 'the site has activity to show');
	await page.getByText('No exchange between sites in this period.').waitFor();
	assert.equal(await page.locator('table.figures').nth(1).locator('tbody tr').count(), 5, '30 days: five weeks');

	await page.getByRole('link', { name: 'Last 7 days' }).click();
	await until(async () => page.url().endsWith('#/figures?days=7'), 'the period in the address');
	await until(async () => (await page.locator('table.figures').nth(1).locator('tbody tr').count()) === 1, 'one week for 7 days');
	assert.equal(await page.getByRole('link', { name: 'Last 7 days' }).getAttribute('aria-current'), 'true');
	f = (await admin.call('GET', '/api/figures?days=7')).sites.find(x => x.site === 'paris');
	assert.equal((await cells())[3], String(f.posts), 'posts of the last 7 days');

	// The tables as a CSV file for a spreadsheet.
	const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download (CSV)' }).click()]);
	assert.match(download.suggestedFilename(), /^comptoir-figures-7d-\d{4}-\d{2}-\d{2}\.csv$/);
	const text = (await fs.readFile(await download.path(), 'utf8')).replace(/^\ufeff/, '');
	const lines = text.split('\r\n');
	assert.equal(lines[0], 'Site,Staff,Active,Posts,Comments,Reactions');
	assert.equal(lines[1], ['paris', f.staff, f.active, f.posts, f.comments, f.reactions].join(','));
	assert.ok(lines.includes('Week to,Active,Posts,Comments,Reactions'), 'the weeks block');
});

uiTest('a site admin may delete a colleague\'s post, not edit it', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const post = await bob.call('POST', '/api/posts', { text: 'An off-topic advert for a used car' });
	const page = await newPage(site);
	await login(page, 'alice', PW);
	const card = page.locator(`article[data-post-id="${post.id}"]`);
	await card.getByRole('button', { name: 'Delete' }).click();
	assert.equal(await card.getByRole('button', { name: 'Edit' }).count(), 0);
	await card.getByRole('button', { name: 'Delete' }).last().click();
	await card.waitFor({ state: 'detached' });
	const gone = await fetch(`${site.url}/api/posts/${post.id}`, { headers: { Cookie: 'none=1' } });
	assert.ok(gone.status === 404 || gone.status === 401);
	await assert.rejects(bob.call('GET', `/api/posts/${post.id}`), /404/);

	// A member sees neither on someone else's post.
	const member = await newPage(site);
	await login(member, 'chloe', PW);
	const other = await bob.call('POST', '/api/posts', { text: 'Bob writes again' });
	await member.reload();
	const c2 = member.locator(`article[data-post-id="${other.id}"]`);
	await c2.waitFor();
	await member.waitForTimeout(500);
	assert.equal(await c2.locator('.post-tools button').count(), 0);
});
