// End-to-end test of files in the web UI (issue 20): drop a picture into the
// composer, see its thumbnail while it is sent, post it, see it in the feed
// and open the full picture; a PDF shows as a download; set a profile photo
// and see it where the initials were; a picture not here yet says so, and
// shows once it arrives. A real comptoir node and headless
// chromium, at desk and phone widths. Run through tests/browser/run.mjs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';

import { PHONE, apiSession, cleanup, login, makePng, startSite, uiTest } from './lib.mjs';

const PW = 'correct-horse-battery-1';
let site;

before(async () => {
	site = await startSite('paris', [
		{ handle: 'alice', password: PW, name: 'Alice Martin' },
		{ handle: 'bob', password: PW, name: 'Bob Dupont' },
	]);
});
after(cleanup);

/* Drops files on an element as a person dragging them from their desktop. */
async function dropFiles(page, selector, files) {
	const dt = await page.evaluateHandle(list => {
		const d = new DataTransfer();
		for (const f of list)
			d.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
		return d;
	}, files.map(f => ({ name: f.name, type: f.type, bytes: [...f.bytes] })));
	await page.dispatchEvent(selector, 'dragover', { dataTransfer: dt });
	await page.dispatchEvent(selector, 'drop', { dataTransfer: dt });
}

for (const [wname, size] of [['desk', { width: 1200, height: 900 }], ['phone', PHONE]]) {
	uiTest(`drop a picture and a PDF, post them, open the picture (${wname})`, async ({ newPage }) => {
		const page = await newPage(site, size);
		await login(page, 'alice', PW);
		const composer = page.locator('form.composer');
		await composer.waitFor();
		const text = `Le quai ${wname}`;
		await dropFiles(page, 'form.composer', [
			{ name: `quai-${wname}.png`, type: 'image/png', bytes: makePng(1400, 900) },
			{ name: 'consignes.pdf', type: 'application/pdf', bytes: Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(5000, 32)]) },
		]);
		// Each file has its line; the picture's shows its thumbnail once sent.
		await composer.locator('.upload.ready img.upload-thumb').waitFor();
		await composer.locator('.upload.ready', { hasText: 'consignes.pdf' }).waitFor();
		await composer.getByRole('textbox').fill(text);
		await composer.getByRole('button', { name: 'Post' }).click();
		const card = page.locator('article.post', { hasText: text });
		const img = card.locator('.gallery img');
		await img.waitFor();
		// The thumbnail loaded (a real picture, not a broken one).
		await page.waitForFunction(el => el.complete && el.naturalWidth > 0, await img.elementHandle());
		assert.equal(await img.evaluate(el => el.naturalWidth), 320, 'the small thumbnail is shown');
		assert.equal(await card.locator('.doc', { hasText: 'consignes.pdf' }).count(), 1, 'the PDF is a line with its name');
		assert.equal(await card.locator('.doc a[download]').count(), 1, 'with a download link');
		// Open the full picture: the link opens it in a new tab.
		const [tab] = await Promise.all([page.context().waitForEvent('page'), card.locator('.gallery a.pic').click()]);
		await tab.waitForLoadState();
		const shown = await tab.evaluate(() => document.images.length ? document.images[0].naturalWidth : 0);
		assert.equal(shown, 1280, 'the large version opens');
		await tab.close();
	});
}

uiTest('a profile photo replaces the initials, in the feed too', async ({ newPage }) => {
	const bob = await apiSession(site, 'bob', PW);
	await bob.call('POST', '/api/posts', { text: 'Bonjour de Bob' });
	const page = await newPage(site);
	await login(page, 'bob', PW);
	await page.goto(`${site.url}/#/people/bob`);
	const input = page.locator('.photo-tools input[type=file]');
	await input.waitFor({ state: 'attached' });
	await input.setInputFiles({ name: 'bob.png', mimeType: 'image/png', buffer: makePng(800, 800, [200, 100, 60]) });
	const big = page.locator('.profile-top .avatar.has-photo img');
	await big.waitFor();
	await page.waitForFunction(el => el.complete && el.naturalWidth > 0, await big.elementHandle());
	// Another person sees it on bob's post.
	const other = await newPage(site);
	await login(other, 'alice', PW);
	const card = other.locator('article.post', { hasText: 'Bonjour de Bob' });
	const av = card.locator('.post-head .avatar.has-photo img');
	await av.waitFor();
	await other.waitForFunction(el => el.complete && el.naturalWidth > 0, await av.elementHandle());
	assert.equal(await card.locator('.post-head .avatar').innerText(), '', 'no initials where the photo is');
});

uiTest('a picture not here yet says so, then shows once it arrives', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const f = await alice.upload('arrive.png', makePng(900, 600, [30, 120, 200]));
	const small = f.thumbs[0].blob;
	await alice.call('POST', '/api/posts', { text: 'Arrive bientot', files: [f.id] });
	// Its thumbnail leaves the disk, as if it were still on its way.
	const file = path.join(site.nodeDir, 'blobs', small.slice(0, 2), small);
	fs.renameSync(file, `${file}.aside`);
	const page = await newPage(site);
	await login(page, 'alice', PW);
	const card = page.locator('article.post', { hasText: 'Arrive bientot' });
	await card.locator('.file-wait').waitFor();
	assert.equal(await card.locator('.gallery img').count(), 0, 'no broken image meanwhile');
	// It arrives: the page asks again and shows it, with no reload.
	fs.renameSync(`${file}.aside`, file);
	const img = card.locator('.gallery img');
	await img.waitFor({ timeout: 30000 });
	await page.waitForFunction(el => el.complete && el.naturalWidth > 0, await img.elementHandle());
	assert.equal(await card.locator('.file-wait').count(), 0, 'the note is gone');
});

uiTest('a picture in a private space: sealed, shown to members in the space and the feed', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const bob = await apiSession(site, 'bob', PW);
	const space = await alice.call('POST', '/api/spaces', { name: 'Chantier nord', visibility: 'private', join: 'invite' });
	const page = await newPage(site, { width: 1200, height: 900 });
	await login(page, 'alice', PW);
	await page.goto(`${site.url}/#/space/${space.id}`);
	const composer = page.locator('form.composer');
	await composer.waitFor();
	// The upload names the space: the node seals the file as it arrives.
	const sent = page.waitForRequest(r => r.url().includes('/api/files?') && r.method() === 'POST');
	await dropFiles(page, 'form.composer', [{ name: 'fondations.png', type: 'image/png', bytes: makePng(1400, 900, [40, 90, 160]) }]);
	assert.ok((await sent).url().includes(`space=${space.id}`), 'the upload is for the space');
	await composer.locator('.upload.ready img.upload-thumb').waitFor();
	await composer.getByRole('textbox').fill('Les fondations');
	await composer.getByRole('button', { name: 'Post' }).click();
	const img = page.locator('article.post', { hasText: 'Les fondations' }).locator('.gallery img');
	await img.waitFor();
	await page.waitForFunction(el => el.complete && el.naturalWidth > 0, await img.elementHandle());
	assert.equal(await img.evaluate(el => el.naturalWidth), 320, 'the thumbnail shows in the space');
	// In alice's main feed too, labelled with its space.
	await page.goto(`${site.url}/#/`);
	const inFeed = page.locator('article.post', { hasText: 'Les fondations' }).locator('.gallery img');
	await inFeed.waitFor();
	await page.waitForFunction(el => el.complete && el.naturalWidth > 0, await inFeed.elementHandle());
	// Bob, no member, is refused the picture and its thumbnail.
	const src = await inFeed.getAttribute('src');
	const r = await fetch(`${site.url}${src}`, { headers: { Cookie: bob.cookie } });
	assert.equal(r.status, 403, 'a non-member gets 403');
});

uiTest('a space admin sets a cover: it shows on the space page and in the list', async ({ newPage }) => {
	const alice = await apiSession(site, 'alice', PW);
	const space = await alice.call('POST', '/api/spaces', { name: 'Atelier', visibility: 'private', join: 'invite' });
	const page = await newPage(site, { width: 1200, height: 900 });
	await login(page, 'alice', PW);
	await page.goto(`${site.url}/#/space/${space.id}`);
	await page.locator('.space-settings summary').click();
	const input = page.locator('.space-cover-tools input[type=file]');
	await input.waitFor({ state: 'attached' });
	await input.setInputFiles({ name: 'atelier.png', mimeType: 'image/png', buffer: makePng(1400, 500, [90, 60, 140]) });
	const cover = page.locator('.space-head img.space-cover');
	await cover.waitFor();
	await page.waitForFunction(el => el.complete && el.naturalWidth > 0, await cover.elementHandle());
	assert.equal(await cover.evaluate(el => el.naturalWidth), 1280, 'the large thumbnail is the cover');
	await page.goto(`${site.url}/#/spaces`);
	const thumb = page.locator('.space-item', { hasText: 'Atelier' }).locator('img.space-cover-thumb');
	await thumb.waitFor();
	await page.waitForFunction(el => el.complete && el.naturalWidth > 0, await thumb.elementHandle());
	const s = await alice.call('GET', `/api/spaces/${space.id}`);
	assert.ok(s.cover && s.cover.thumb, 'the API gives the cover');
});
