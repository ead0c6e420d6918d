// Spaces in the browser across two sites (issue 17): alice at paris makes a
// private space in the UI, invites bob of lyon, posts in it; bob accepts at
// lyon and reads the post there, labelled with the space; dave at lyon, who
// is not a member, sees neither the space nor the post. Skipped when this
// comptoir has no federation.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { PHONE, addUser, cleanup, hasFederation, login, makeFederation, startNode, uiTest, until } from './lib.mjs';

const PW = 'correct-horse-battery-3';
const skip = hasFederation() ? false : 'comptoir has no federation yet';
let paris, lyon;

before(async () => {
	if (skip)
		return;
	[paris, lyon] = await makeFederation(['paris', 'lyon']);
	addUser(paris, 'alice', PW, { name: 'Alice Martin' });
	addUser(lyon, 'bob', PW, { name: 'Bob Dupont' });
	addUser(lyon, 'dave', PW, { name: 'Dave Petit' });
	await startNode(paris);
	await startNode(lyon);
	await until(async () => {
		const [a, b] = await Promise.all([paris, lyon].map(s => fetch(`${s.url}/api/status`).then(r => r.json())));
		return a.peers.some(p => p.connected) && b.peers.some(p => p.connected);
	}, 'paris and lyon to connect', 30000);
});
after(cleanup);

uiTest('a private space across sites: invited, read there, absent for others', async ({ newPage }) => {
	const alice = await newPage(paris);
	await login(alice, 'alice', PW);
	await alice.getByRole('link', { name: 'Spaces' }).click();
	await alice.getByRole('button', { name: 'New space' }).click();
	await alice.getByRole('textbox', { name: 'Name', exact: true }).fill('Projet Zephyr');
	await alice.getByRole('textbox', { name: 'Description', exact: true }).fill('Only for the project team');
	await alice.locator('#space-new-vis').selectOption('private');
	await alice.locator('#space-new-join').selectOption('invite');
	await alice.getByRole('button', { name: 'Create the space' }).click();
	await alice.getByRole('heading', { name: 'Projet Zephyr', level: 1 }).waitFor();
	const spaceUrl = alice.url();
	const spaceId = spaceUrl.split('#/space/')[1];
	assert.match(spaceId, /^[0-9a-f]{64}$/);

	// A colleague of the other site, invited by handle.
	await alice.getByRole('textbox', { name: 'User name to invite' }).fill('bob');
	await alice.getByRole('button', { name: 'Invite', exact: true }).click();
	await alice.locator('.space-pending', { hasText: 'Bob' }).waitFor({ timeout: 15000 }).catch(async () => {
		// bob's name comes with the directory: the handle is enough.
		await alice.locator('.space-pending', { hasText: 'bob' }).waitFor();
	});

	// bob at lyon: the invitation, then the space once accepted.
	const bob = await newPage(lyon, { width: PHONE.width, height: PHONE.height });
	await login(bob, 'bob', PW);
	await bob.goto(`${lyon.url}/#/spaces`);
	await until(async () => {
		await bob.reload();
		await bob.locator('.space-list li').first().waitFor();
		return (await bob.getByRole('button', { name: 'Accept the invitation' }).count()) > 0;
	}, 'the invitation to reach lyon', 30000);
	await bob.getByRole('button', { name: 'Accept the invitation' }).first().click();
	await bob.getByRole('button', { name: 'Accept the invitation' }).waitFor({ state: 'detached' });

	// alice writes in the space, from its page: at desk width, the feed and
	// its side by side (a brace missing in style.css had put every rule of
	// spaces inside the phone's media query).
	await alice.goto(spaceUrl);
	assert.equal(await alice.locator('.space-layout').evaluate(e => getComputedStyle(e).display), 'grid');
	assert.equal(await alice.locator('.member-list').first().evaluate(e => getComputedStyle(e).listStyleType), 'none');
	const box = alice.getByRole('textbox', { name: 'Write a post' });
	await box.fill('Kick-off on Thursday, room Zephyr');
	await alice.getByRole('button', { name: 'Post', exact: true }).click();
	await alice.locator('article.post', { hasText: 'Kick-off on Thursday' }).waitFor();

	// bob reads it at lyon, in his main feed, labelled with the space (the
	// key reaches lyon sealed to it once his membership reaches paris).
	await bob.goto(`${lyon.url}/#/`);
	await until(async () => {
		await bob.reload();
		await bob.locator('.feed-foot').waitFor();
		await bob.waitForTimeout(300);
		return (await bob.locator('article.post', { hasText: 'Kick-off on Thursday' }).count()) > 0;
	}, 'the post to be readable at lyon', 40000);
	const card = bob.locator('article.post', { hasText: 'Kick-off on Thursday' });
	assert.equal((await card.locator('.space-label').innerText()).replace(/^▸\s*/, ''), 'Projet Zephyr');
	await card.locator('.space-label').click();
	await bob.getByRole('heading', { name: 'Projet Zephyr', level: 1 }).waitFor();
	await bob.locator('.space-feed article.post', { hasText: 'Kick-off on Thursday' }).waitFor();

	// bob fears a leak: he asks for a new key period from the space's page;
	// what alice writes next still reaches him at lyon.
	await bob.getByText('Ask for a new key').click();
	await bob.getByRole('button', { name: 'Start a new key period' }).click();
	await bob.getByText('A new key period has started.').waitFor();
	await alice.goto(spaceUrl);
	await alice.getByRole('textbox', { name: 'Write a post' }).fill('Minutes under the new key');
	await alice.getByRole('button', { name: 'Post', exact: true }).click();
	await alice.locator('article.post', { hasText: 'Minutes under the new key' }).waitFor();
	await until(async () => {
		await bob.reload();
		await bob.locator('.space-feed').waitFor();
		await bob.waitForTimeout(300);
		return (await bob.locator('article.post', { hasText: 'Minutes under the new key' }).count()) > 0;
	}, 'the post under the new key to be readable at lyon', 40000);

	// dave at lyon is no member: no space, no post.
	const dave = await newPage(lyon);
	await login(dave, 'dave', PW);
	await dave.locator('main').waitFor();
	await dave.waitForTimeout(500);
	assert.equal(await dave.locator('article.post', { hasText: 'Kick-off on Thursday' }).count(), 0);
	await dave.goto(`${lyon.url}/#/space/${spaceId}`);
	await dave.getByRole('heading', { name: 'No such space' }).waitFor();
	await dave.goto(`${lyon.url}/#/spaces`);
	await dave.locator('.space-list').first().waitFor();
	assert.equal(await dave.locator('.space-item', { hasText: 'Zephyr' }).count(), 0);
	assert.equal(await dave.locator('.space-item', { hasText: 'Private space' }).count(), 0);

	// The Figures page counts the space for everyone, names it only to its members.
	await dave.goto(`${lyon.url}/#/figures`);
	const daveSpaces = dave.locator('section', { has: dave.getByRole('heading', { name: 'Spaces' }) });
	await daveSpaces.locator('table.figures').waitFor();
	assert.equal(await daveSpaces.getByText('Zephyr').count(), 0);
	assert.ok(await daveSpaces.getByText('Private space').count() >= 1);
	await bob.goto(`${lyon.url}/#/figures`);
	const bobSpaces = bob.locator('section', { has: bob.getByRole('heading', { name: 'Spaces' }) });
	await bobSpaces.getByRole('link', { name: 'Projet Zephyr' }).waitFor();
}, { skip });
