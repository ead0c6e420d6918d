// Browser tests of a revoked site (issue 14, bug 1) and of sites' display
// names (bug 13): staff at the revoking site are not told that a revoked
// site is a temporary outage, and staff at the revoked site are told it is
// revoked; sites show by the title of their certificate, not their id.
// Skipped when this comptoir has no federation.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';

import { addUser, cleanup, cli, hasFederation, login, makeSite, startNode, uiTest, until } from './lib.mjs';

const PW = 'correct-horse-battery-3';
const skip = hasFederation() ? false : 'comptoir has no federation yet';
let paris, lyon;

/* paris (the first site, "Paris HQ") certifies lyon ("Lyon warehouse"),
 * which dials it. */
async function federation() {
	const hub = await makeSite('paris');
	const other = await makeSite('lyon', { join: true });
	const rootKey = path.join(hub.nodeDir, 'keys', 'root.key');
	const certOf = (site, title, publish) => {
		const req = path.join(site.dir, `${site.name}.req`);
		const cert = path.join(site.dir, `${site.name}.cert`);
		fs.writeFileSync(req, cli('site', 'request', '--dir', site.nodeDir, '--title', title));
		fs.writeFileSync(cert, cli('root', 'certify', '--key', rootKey, ...(publish ? ['--dir', hub.nodeDir] : []), req));
		return cert;
	};
	const hubCert = certOf(hub, 'Paris HQ', true);
	cli('site', 'install', '--dir', other.nodeDir, certOf(other, 'Lyon warehouse', true));
	cli('peer', 'add', '--dir', other.nodeDir, hubCert);
	return [hub, other];
}

const status = site => fetch(`${site.url}/api/status`).then(r => r.json());

before(async () => {
	if (skip)
		return;
	[paris, lyon] = await federation();
	addUser(paris, 'alice', PW, { name: 'Alice Martin' });
	addUser(lyon, 'bob', PW, { name: 'Bob Dupont' });
	await startNode(paris);
	await startNode(lyon);
	await until(async () => {
		const [a, b] = await Promise.all([paris, lyon].map(status));
		return a.peers.some(p => p.connected) && b.peers.some(p => p.connected);
	}, 'paris and lyon to connect', 30000);
});
after(cleanup);

uiTest('sites show by their title, with the id beside it', async ({ newPage }) => {
	const page = await newPage(paris);
	await login(page, 'alice', PW);
	await page.getByRole('link', { name: 'Sites', exact: true }).click();
	const card = page.locator('.site[data-site="lyon"]');
	await card.getByText(/^Reachable/).waitFor();
	assert.match(await card.locator('h3').innerText(), /^Lyon warehouse\s*lyon$/);
	assert.match(await page.locator('#site-self-name').innerText(), /^Paris HQ\s*paris$/);
	// A person's home site by its title, on their page.
	await page.goto(`${paris.url}/#/people/alice`);
	await page.locator('.profile-facts').getByText('Paris HQ').waitFor();
}, { skip });

uiTest('a revoked site is shown as revoked, never as an outage', async ({ newPage }) => {
	const page = await newPage(paris);
	await login(page, 'alice', PW);
	const conn = page.locator('#conn');
	await until(async () => (await conn.getAttribute('data-state')) === 'ok', 'all sites reachable');
	await page.getByRole('link', { name: 'Sites', exact: true }).click();
	const card = page.locator('.site[data-site="lyon"]');
	await card.getByText(/^Reachable/).waitFor();

	const bobPage = await newPage(lyon);
	await login(bobPage, 'bob', PW);

	cli('root', 'revoke', '--key', path.join(paris.nodeDir, 'keys', 'root.key'), '--dir', paris.nodeDir, 'lyon');

	// At paris: the card says revoked; the indicator and the banner, drawn
	// from the same answer, do not call it an outage.
	await card.locator('.site-state', { hasText: /^Revoked$/ }).waitFor({ timeout: 20000 });
	assert.notEqual(await conn.getAttribute('data-state'), 'down');
	assert.doesNotMatch(await conn.innerText(), /unreachable/);
	const banner = page.locator('#outage');
	assert.equal(await banner.isVisible(), false);
	assert.match(await page.locator('#status-body').innerText(), /1 site has been revoked/);
	assert.doesNotMatch(await page.locator('#status-body').innerText(), /unreachable|as soon as the link is back/);

	// At lyon: told that it is revoked, not that paris is away for a while.
	const bobConn = bobPage.locator('#conn');
	await until(async () => (await bobConn.getAttribute('data-state')) === 'revoked', 'lyon\'s indicator to say it is revoked', 20000);
	assert.equal((await bobConn.innerText()).trim(), 'Site revoked');
	const bobBanner = bobPage.locator('#outage');
	await bobBanner.waitFor();
	assert.match(await bobBanner.innerText(), /certificate has been revoked/);
	assert.doesNotMatch(await bobBanner.innerText(), /when the link is back/);
	await bobPage.getByRole('link', { name: 'Sites', exact: true }).click();
	await bobPage.locator('#status-body').getByText(/has revoked this site’s certificate/).waitFor();
	await bobPage.locator('.site[data-site="paris"]').getByText('Does not admit this site').waitFor({ timeout: 20000 });
}, { skip });
