// Browser tests of what a new member of staff and a new site admin meet in
// their first hour (issue 14), and of user text that tries to reorder the
// page around it (issue 13, right-to-left overrides). One real node; the
// bugs seen on a phone are tested at a phone's width. Run through
// tests/browser/run.mjs (see README.md).

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { PHONE, apiSession, cleanup, login, logout, startSite, uiTest, until } from './lib.mjs';

const PW = 'correct-horse-battery-3';
// Enough people that the last rows of the users page are below the fold of
// a phone (where an error used to appear out of sight).
const FILLERS = ['frank', 'gina', 'hugo', 'ines', 'jules', 'karim', 'lea', 'marc', 'nina', 'oscar', 'paul', 'walter'];
let site;

before(async () => {
	site = await startSite('paris', [
		{ handle: 'alice', password: PW, admin: true, name: 'Alice Martin' },
		{ handle: 'bob', password: PW, name: 'Bob Dupont' },
		{ handle: 'chloe', password: PW, name: 'Chloé Bernard' },
		{ handle: 'erin', password: PW, name: 'Élodie Lefèvre' },
		...FILLERS.map(handle => ({ handle, password: PW })),
	]);
	const bob = await apiSession(site, 'bob', PW);
	await bob.call('PUT', '/api/profile', { title: 'Plant manager', site: 'Lyon plant' });
	await bob.call('POST', '/api/posts', { text: 'Welcome to the intranet of the Paris office' });
});
after(cleanup);

const composerBox = page => page.getByRole('textbox', { name: /^(Write a post|Écrire une publication)$/ });
const postCard = (page, id) => page.locator(`article[data-post-id="${id}"]`);

/* Is the element's box wholly inside the page's viewport? */
const inViewport = locator => locator.evaluate(el => {
	const r = el.getBoundingClientRect();
	const inside = r.height > 0 && r.top >= -1 && r.left >= -1 && r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1;
	return inside || `${Math.round(r.top)}..${Math.round(r.bottom)} of ${innerHeight}`;
});

/* The left edge of each character of sub, as it is drawn inside the
 * element: increasing when sub reads left to right as written. */
const charLefts = (locator, sub) => locator.evaluate((el, s) => {
	const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
	const nodes = [];
	let all = '';
	for (let n = walker.nextNode(); n; n = walker.nextNode()) {
		nodes.push([n, all.length]);
		all += n.data;
	}
	const at = all.indexOf(s);
	if (at < 0)
		return null;
	const xs = [];
	for (let i = at; i < at + s.length; i++) {
		const [n, off] = nodes.filter(([, o]) => o <= i).pop();
		const r = document.createRange();
		r.setStart(n, i - off);
		r.setEnd(n, i - off + 1);
		xs.push(r.getBoundingClientRect().left);
	}
	return xs;
}, sub);

const increasing = xs => xs.every((x, i) => i === 0 || x > xs[i - 1]);

/* ------------------------------------------------------------- header */

uiTest('the site\'s name is in the header right after login (bug 3)', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	// Before: drawn only when the header was painted again (a language switch).
	await page.locator('.brand .brand-site', { hasText: 'paris' }).waitFor({ state: 'visible' });
});

/* ------------------------------------------------------------- drafts */

uiTest('what was being written survives a reload and a node restart, and goes once sent (bug 5)', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const post = await bob.call('POST', '/api/posts', { text: 'Where do we meet for the audit?' });
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	const card = postCard(page, post.id);
	const reply = card.getByRole('textbox', { name: 'Write a comment' });
	await composerBox(page).fill('Half-written news about the canteen');
	await card.getByRole('button', { name: 'Comment', exact: true }).click();
	await reply.fill('In room 4, I think');

	await page.reload();
	await composerBox(page).waitFor();
	assert.equal(await composerBox(page).inputValue(), 'Half-written news about the canteen', 'the composer after a reload');
	await reply.waitFor(); // the thread with a reply being written opens again
	assert.equal(await reply.inputValue(), 'In room 4, I think', 'the reply after a reload');

	// A restart of the node: the drafts are in the browser, not the node.
	await site.stop();
	await site.start();
	await page.reload();
	await page.locator('#account').or(page.getByRole('button', { name: 'Sign in' })).first().waitFor();
	if (await page.locator('#account').count() === 0)
		await login(page, 'chloe', PW);
	await composerBox(page).waitFor();
	assert.equal(await composerBox(page).inputValue(), 'Half-written news about the canteen', 'the composer after a restart');
	await reply.waitFor();
	assert.equal(await reply.inputValue(), 'In room 4, I think', 'the reply after a restart');

	// Sent: gone, from the box and from storage.
	await page.getByRole('button', { name: 'Post', exact: true }).click();
	await page.locator('.post-text', { hasText: 'Half-written news about the canteen' }).waitFor();
	await card.getByRole('button', { name: 'Reply' }).click();
	await card.locator('.comment-text', { hasText: 'In room 4, I think' }).waitFor();
	await page.reload();
	await page.locator('.post-text', { hasText: 'Half-written news about the canteen' }).waitFor();
	assert.equal(await composerBox(page).inputValue(), '', 'no draft once posted');
	assert.equal(await reply.count(), 0, 'no thread reopened once the reply is sent');
	assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter(k => k.includes('draft'))), [], 'nothing left in storage');

	// Signing out (a shared computer) forgets them.
	await composerBox(page).fill('Chloé\'s secret plan');
	await logout(page);
	await login(page, 'chloe', PW);
	assert.equal(await composerBox(page).inputValue(), '', 'signing out forgets the drafts');
});

/* ------------------------------------------------------------ figures */

/* Words of the elements matching sel drawn across two lines ("Publicat/ions"). */
const brokenWords = (page, sel) => page.evaluate(s => {
	const broken = [];
	for (const th of document.querySelectorAll(s)) {
		const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
		for (let n = walker.nextNode(); n; n = walker.nextNode()) {
			for (const m of n.data.matchAll(/\S+/g)) {
				const r = document.createRange();
				r.setStart(n, m.index);
				r.setEnd(n, m.index + m[0].length);
				const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
				if (lines.size > 1)
					broken.push(m[0]);
			}
		}
	}
	return broken;
}, sel);
const brokenHeaderWords = page => brokenWords(page, 'table.figures thead th');

for (const lang of ['en', 'fr']) {
	uiTest(`figures on a phone (${lang}): headers break between words, a year of weeks says which year (bug 6)`, async ({ newPage }) => {
		const page = await newPage(site, { ...PHONE, lang });
		await login(page, 'alice', PW);
		await page.goto(`${site.url}/#/figures`);
		await page.locator('table.figures').nth(1).waitFor();
		assert.deepEqual(await brokenHeaderWords(page), [], 'no header word is cut across lines');

		await page.goto(`${site.url}/#/figures?days=365`);
		const weeks = page.locator('table.figures').nth(1).locator('tbody th');
		await until(async () => (await weeks.count()) >= 52, 'a year of weeks');
		const labels = await weeks.allInnerTexts();
		const undated = labels.filter(x => !/\b20\d\d\b/.test(x));
		assert.deepEqual(undated, [], 'every week of a year-long period names its year');
		assert.deepEqual(await brokenHeaderWords(page), [], 'no header word is cut across lines (365 days)');
	});
}

/* -------------------------------------------------------------- admin */

uiTest('users page: a confirmation does not squeeze the table (bug 7)', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Users' }).click();
	const row = page.getByRole('row', { name: /Bob Dupont/ });
	await row.waitFor();
	const widths = () => page.locator('table.users thead th').evaluateAll(ths => ths.map(th => Math.round(th.getBoundingClientRect().width)));
	const before = await widths();
	await row.getByRole('button', { name: 'Reset password' }).click();
	await page.getByRole('button', { name: 'Confirm' }).waitFor();
	assert.deepEqual(await widths(), before, 'the columns keep their widths');
	const tagLines = await row.locator('.tag').evaluate(el => {
		const r = document.createRange();
		r.selectNodeContents(el);
		return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size;
	});
	assert.equal(tagLines, 1, '"Active" stays on one line');
	await page.getByRole('button', { name: 'Cancel' }).click();
	assert.equal(await page.getByRole('button', { name: 'Confirm' }).count(), 0, 'cancelled');
});

uiTest('users page on a phone, in French: an error shows where the admin looks, translated (bugs 7, 8)', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const page = await newPage(site, { ...PHONE, lang: 'fr' });
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Utilisateurs' }).click();
	const row = page.getByRole('row', { name: /walter/ });
	await row.waitFor();
	// Another admin disables walter meanwhile: this page still offers it.
	await alice.call('POST', '/api/admin/users/walter/disable');
	await row.getByRole('button', { name: 'Désactiver' }).click();
	await page.getByRole('button', { name: 'Confirmer' }).click();
	const alert = page.getByRole('alert').filter({ hasText: 'walter est déjà désactivé.' });
	await alert.waitFor();
	assert.equal(await inViewport(alert), true, 'the error is on screen');

	// A server refusal in the add form, in French, on screen too.
	await page.getByLabel('Identifiant', { exact: true }).fill('bob');
	await page.getByRole('button', { name: 'Créer l’utilisateur' }).click();
	const taken = page.getByRole('alert').filter({ hasText: 'L’identifiant bob est déjà pris, sur ce site ou un autre.' });
	await taken.waitFor();
	assert.equal(await inViewport(taken), true, 'the add form\'s error is on screen');
});

uiTest('users page: find, rename, change the role, disable and enable again (bug 7)', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const page = await newPage(site);
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Users' }).click();
	await page.getByRole('row', { name: /Bob Dupont/ }).waitFor();
	const rows = page.locator('table.users tbody tr:not(.row-panel)');

	// Find: by name without its accents, or by user name.
	const search = page.getByLabel('Find a user');
	await search.fill('lefevre');
	await until(async () => (await rows.count()) === 1, 'one user found');
	assert.match(await rows.first().innerText(), /erin[\s\S]*Élodie Lefèvre/);
	await page.getByText(/^1 of \d+ users shown$/).waitFor();
	await search.fill('HUGO');
	await until(async () => (await rows.count()) === 1 && /hugo/.test(await rows.first().innerText()), 'hugo found');
	await search.fill('');
	await until(async () => (await rows.count()) > 10, 'everyone again');

	// Rename and make admin.
	const hugo = page.getByRole('row', { name: /hugo/ });
	await hugo.getByRole('button', { name: 'Edit' }).click();
	const form = page.getByRole('form', { name: 'Name and role of hugo' });
	await form.getByLabel('Full name').fill('Hugo Lambert');
	await form.getByLabel(/Site admin/).check();
	await form.getByRole('button', { name: 'Save' }).click();
	await page.getByText('hugo is updated.').waitFor();
	await page.getByRole('row', { name: /Hugo Lambert/ }).getByRole('cell', { name: 'Admin', exact: true }).waitFor();
	const listed = (await alice.call('GET', '/api/admin/users')).items.find(u => u.handle === 'hugo');
	assert.deepEqual([listed.name, listed.role], ['Hugo Lambert', 'admin'], 'the server has the new name and role');
	assert.equal((await alice.call('GET', '/api/people/hugo')).profile.name, 'Hugo Lambert', 'the directory too');

	// Disable, then enable again with a new password.
	const gina = page.getByRole('row', { name: /gina/ });
	await gina.getByRole('button', { name: 'Disable' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	await page.getByText('gina is disabled.').waitFor();
	await gina.getByText('Disabled', { exact: true }).waitFor();
	await gina.getByRole('button', { name: 'Enable' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	await page.getByText('gina can sign in again with this password', { exact: false }).waitFor();
	const password = await page.locator('.secret').inputValue();
	assert.ok(password.length >= 8, 'a new password is shown');
	await gina.getByText('Active', { exact: true }).waitFor();
	const ginaPage = await newPage(site);
	await login(ginaPage, 'gina', password);
});

/* ------------------------------------------------- errors and lengths */

uiTest('the composer counts bytes against the server\'s limit and refuses more (bug 8)', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	const limit = (await (await page.request.get(`${site.url}/api/session`)).json()).limits.text;
	assert.equal(limit, 10000);
	const counter = page.locator('.composer .counter');
	await composerBox(page).fill('Café');
	await counter.getByText('5 / 10,000', { exact: true }).waitFor(); // é is two bytes
	let posts = 0;
	page.on('request', r => { if (r.method() === 'POST' && r.url().endsWith('/api/posts')) posts++; });
	await composerBox(page).fill('é'.repeat(5001));
	await counter.getByText('10,002 / 10,000', { exact: true }).waitFor();
	assert.match(await counter.getAttribute('class'), /\bover\b/);
	await page.getByRole('button', { name: 'Post', exact: true }).click();
	await page.getByRole('alert').filter({ hasText: 'Too long: a post or a comment takes at most 10,000 bytes.' }).waitFor();
	assert.equal(posts, 0, 'nothing was sent');
	await composerBox(page).fill('');
});

uiTest('an error code the UI does not know shows the server\'s English message (bug 8)', async ({ newPage }) => {
	const page = await newPage(site, { lang: 'fr' });
	await login(page, 'chloe', PW);
	// A newer server's refusal, which this UI has no words for.
	await page.route(/\/api\/posts$/, route => route.fulfill({
		status: 400, contentType: 'application/json',
		body: JSON.stringify({ error: 'posting is paused for maintenance', code: 'paused' }),
	}));
	await composerBox(page).fill('Bonjour');
	await page.getByRole('button', { name: 'Publier', exact: true }).click();
	await page.getByRole('alert').filter({ hasText: 'posting is paused for maintenance' }).waitFor();
});

/* ------------------------------------------------------------- people */

uiTest('the directory finds "Lefèvre" from "lefevre" (bug 9)', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'bob', PW);
	await page.getByRole('link', { name: 'People' }).click();
	const search = page.getByLabel('Search colleagues');
	const cards = page.locator('.person-card');
	for (const q of ['lefevre', 'ELODIE']) {
		// Through a search that finds nobody: the answer shown is this one's.
		await search.fill('nobody-by-that-name');
		await page.getByText('Nobody matches “nobody-by-that-name”.').waitFor();
		await search.fill(q);
		await page.getByText('1 person', { exact: true }).waitFor();
		assert.equal((await cards.locator('.person-name').allInnerTexts()).join('|'), 'Élodie Lefèvre', `"${q}" finds her`);
	}
});

uiTest('the person page names the site once (bug 13)', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'chloe', PW);
	await page.goto(`${site.url}/#/people/bob`);
	await page.getByRole('heading', { name: 'Bob Dupont', level: 1 }).waitFor();
	const labels = await page.locator('.profile-facts dt').allInnerTexts();
	assert.deepEqual(labels.filter(x => /site/i.test(x)), ['Site'], 'one label for the site');
	const site_ = await page.locator('.profile-facts dt', { hasText: 'Site' }).locator('xpath=following-sibling::dd[1]').innerText();
	assert.equal(site_.trim(), 'Lyon plant (paris)', 'the profile\'s words, then the home site');
});

uiTest('one\'s own person page on a phone keeps the name\'s words whole', async ({ newPage }) => {
	const page = await newPage(site, { ...PHONE });
	await login(page, 'chloe', PW);
	await page.goto(`${site.url}/#/people/chloe`);
	await page.getByRole('heading', { name: 'Chloé Bernard', level: 1 }).waitFor();
	await page.getByRole('link', { name: 'Edit my profile' }).waitFor();
	// The button beside the name squeezed it to two letters a line.
	assert.deepEqual(await brokenWords(page, '.profile-id h1'), [], 'no word of the name is cut');
});

/* --------------------------------------------------------------- feed */

uiTest('"You have seen every post." stays after posting (bug 13)', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'erin', PW);
	const end = page.getByText('You have seen every post.');
	await end.waitFor();
	await composerBox(page).fill('A short note from Élodie');
	await page.getByRole('button', { name: 'Post', exact: true }).click();
	await page.locator('.post-text', { hasText: 'A short note from Élodie' }).waitFor();
	assert.equal(await end.isVisible(), true, 'the end of the feed is still said');
});

uiTest('the feed shows names, not handles, before the directory answers (bug 11)', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const post = await bob.call('POST', '/api/posts', { text: 'Names come with the post' });
	const page = await newPage(site);
	// The directory never answers: names can only come from the feed.
	await page.route(/\/api\/people(\?.*)?$/, () => {});
	await login(page, 'alice', PW);
	const card = postCard(page, post.id);
	await card.waitFor();
	assert.equal((await card.locator('.author-line').innerText()).trim(), 'Bob Dupont');
	assert.equal((await card.locator('.avatar').innerText()).trim(), 'BD');
});

uiTest('a fresh page logs no error, and staff opening #/admin land on the feed (bug 12)', async ({ newPage }) => {
	for (const start of ['/', '/#/admin']) {
		const page = await newPage(null);
		const bad = [];
		page.on('response', r => { if (r.status() >= 400) bad.push(`${r.status()} ${r.url()}`); });
		page.on('console', m => { if (m.type() === 'error') bad.push(`console: ${m.text()}`); });
		await page.goto(site.url + start);
		await page.getByRole('button', { name: 'Sign in' }).waitFor();
		assert.deepEqual(bad, [], `${start}: a signed-out page logs no failed request`);
		await login(page, 'bob', PW);
		if (start === '/')
			await page.goto(`${site.url}/#/admin`);
		await until(async () => new URL(page.url()).hash === '#/', `${start}: the feed instead of the users page`);
		await composerBox(page).waitFor();
		assert.equal(await page.getByText('Only site admins can manage users.').count(), 0, 'no refusal shown');
		assert.deepEqual(bad, [], `${start}: no failed request and no console error`);
	}
});

/* ------------------------------------------------ comments and sites */

uiTest('posts and comments say their author\'s site; one\'s own comments can be edited and deleted', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const post = await alice.call('POST', '/api/posts', { text: 'Fire drill at 11:00' });
	const bob = await newPage(site);
	await login(bob, 'bob', PW);
	const card = postCard(bob, post.id);
	assert.equal((await card.locator('.post-meta .site-label').innerText()).trim(), 'paris', 'the post names the site');
	await card.getByRole('button', { name: 'Comment', exact: true }).click();
	await card.getByRole('textbox', { name: 'Write a comment' }).fill('Noted, I will tell the plant');
	await card.getByRole('button', { name: 'Reply' }).click();
	await card.locator('li.comment', { hasText: 'Noted, I will tell the plant' }).waitFor();
	const cid = await card.locator('li.comment', { hasText: 'Noted, I will tell the plant' }).getAttribute('data-comment-id');
	const comment = card.locator(`li.comment[data-comment-id="${cid}"]`);
	assert.equal((await comment.locator('.site-label').innerText()).trim(), 'paris', 'the comment names the site');

	// Alice watches the thread; chloé, a member, may do nothing to it.
	const alicePage = await newPage(site);
	await login(alicePage, 'alice', PW);
	const seen = postCard(alicePage, post.id);
	await seen.getByRole('button', { name: /1 comment/ }).click();
	const seenComment = seen.locator('li.comment').first();
	await seenComment.getByText('Noted, I will tell the plant').waitFor();
	assert.equal(await seenComment.getByRole('button', { name: 'Edit this comment' }).count(), 0, 'an admin does not edit others\' words');
	await seenComment.getByRole('button', { name: 'Delete this comment' }).waitFor(); // an admin of bob's site may delete
	const chloe = await newPage(site);
	await login(chloe, 'chloe', PW);
	await postCard(chloe, post.id).getByRole('button', { name: /1 comment/ }).click();
	await postCard(chloe, post.id).locator('li.comment').first().waitFor();
	assert.equal(await postCard(chloe, post.id).locator('.comment-tools').count(), 0, 'a member gets no tools on others\' comments');

	// Bob edits: the thread at alice's updates live.
	await comment.getByRole('button', { name: 'Edit this comment' }).click();
	await comment.getByRole('textbox', { name: 'Text of the comment' }).fill('Noted, I will tell the whole plant');
	await comment.getByRole('button', { name: 'Save' }).click();
	await comment.getByText('Noted, I will tell the whole plant').waitFor();
	await comment.locator('.edited').waitFor();
	const edited = comment;
	await seen.locator('li.comment', { hasText: 'Noted, I will tell the whole plant' }).waitFor();

	// Bob deletes: gone here and there, the count follows.
	await edited.getByRole('button', { name: 'Delete this comment' }).click();
	await edited.getByRole('group', { name: 'Delete this comment for everyone, at every site?' }).getByRole('button', { name: 'Delete' }).click();
	await edited.waitFor({ state: 'detached' });
	await card.getByRole('button', { name: 'Comment', exact: true }).waitFor();
	await seen.locator('li.comment').first().waitFor({ state: 'detached' });
	assert.deepEqual((await alice.call('GET', `/api/posts/${post.id}`)).comment_list, [], 'deleted at the server');
});

/* ------------------------------------------------------------ bidi */

uiTest('right-to-left overrides and right-to-left text cannot reorder what is around them (issue 13 item 13)', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	const post = await bob.call('POST', '/api/posts', { text: 'See invoice\u202egnp.exe attached' });
	const erin = await apiSession(site, 'erin', PW);
	await erin.call('PUT', '/api/profile', { title: 'מנהלת חשבונות', department: '42' });
	const page = await newPage(site);
	await login(page, 'alice', PW);

	// The override is shown, not obeyed: the file name reads as typed.
	const text = postCard(page, post.id).locator('.post-text');
	await text.waitFor();
	assert.ok(increasing(await charLefts(text, 'gnp.exe attached')), 'the text after the override reads left to right');
	assert.equal((await text.locator('.bidi-mark').innerText()).trim(), 'U+202E', 'a marker stands for the override');

	// Hebrew followed by a number, in two fields side by side: each keeps its
	// place (without isolation the number jumped to the left of the title).
	await page.goto(`${site.url}/#/people/erin`);
	const titleLine = page.locator('.profile .person-title');
	await titleLine.waitFor();
	const [titleX] = await charLefts(titleLine, 'מ');
	const [deptX] = await charLefts(titleLine, '42');
	assert.ok(titleX < deptX, `the title stays before the department (${titleX} < ${deptX})`);

	// Every string someone wrote sits in an isolating element.
	await page.goto(`${site.url}/#/`);
	await postCard(page, post.id).waitFor();
	const loose = await page.evaluate(() => {
		const isolating = el => ['isolate', 'isolate-override', 'plaintext'].includes(getComputedStyle(el).unicodeBidi);
		const sel = '[data-name-of], .post-text, .comment-text, .site-label, .brand-site';
		return [...document.querySelectorAll(sel)].filter(el => !isolating(el)).map(el => el.className || el.tagName);
	});
	assert.deepEqual(loose, [], 'names, texts and site names are isolated');
});
