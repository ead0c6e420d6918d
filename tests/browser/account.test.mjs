// Browser tests of a person's own account on one site: changing one's
// password from the profile page (wrong current password, two new ones that
// differ, success), the person's other browser signed out by it, and the new
// password the only one that opens; the form in French at phone width.
// Run through tests/browser/run.mjs.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { cleanup, login, logout, startSite, uiTest } from './lib.mjs';

const PW = 'first-password-of-dana';
const NEW = 'dana-chose-a-new-one';
let site;

before(async () => {
	site = await startSite('paris', [
		{ handle: 'dana', password: PW, name: 'Dana Petit' },
		{ handle: 'eliot', password: PW, name: 'Éliot Roux' },
	]);
});
after(cleanup);

async function openPasswordForm(page) {
	await page.locator('#account').click();
	await page.getByRole('link', { name: /^(Edit my profile|Modifier mon profil)$/ }).click();
	await page.getByRole('heading', { name: /^(Change my password|Changer mon mot de passe)$/ }).waitFor();
}

uiTest('a person changes their password; their other browser is signed out', async ({ newPage }) => {
	const page = await newPage(site);
	await login(page, 'dana', PW);
	const other = await newPage(site);
	await login(other, 'dana', PW);

	await openPasswordForm(page);
	const form = page.locator('form.password-form');
	const change = form.getByRole('button', { name: 'Change password' });

	await form.getByLabel('Current password').fill('not-my-password');
	await form.getByLabel('New password', { exact: true }).fill(NEW);
	await form.getByLabel('New password again').fill(NEW);
	await change.click();
	await form.getByRole('alert').filter({ hasText: 'The current password is wrong.' }).waitFor();

	await form.getByLabel('Current password').fill(PW);
	await form.getByLabel('New password again').fill(NEW + 'x');
	await change.click();
	await form.getByRole('alert').filter({ hasText: 'The two new passwords differ.' }).waitFor();

	await form.getByLabel('New password again').fill(NEW);
	await change.click();
	await form.getByRole('status').filter({ hasText: 'Password changed. Your other sessions are closed.' }).waitFor();
	assert.equal(await form.getByLabel('Current password').inputValue(), '', 'the form is emptied');

	// This browser goes on; the other one is signed out at its next call.
	await page.getByRole('link', { name: 'Feed' }).click();
	await page.getByRole('textbox', { name: 'Write a post' }).waitFor();
	await other.reload();
	await other.getByRole('button', { name: 'Sign in' }).waitFor();

	// Only the new password opens now.
	await logout(page);
	await page.getByLabel('User name').fill('dana');
	await page.getByLabel('Password').fill(PW);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.getByRole('alert').filter({ hasText: /wrong|incorrect/i }).waitFor();
	await login(page, 'dana', NEW);
});

uiTest('the password form in French, on a phone', async ({ newPage }) => {
	const page = await newPage(site, { lang: 'fr', width: 390, height: 844 });
	await login(page, 'eliot', PW);
	await openPasswordForm(page);
	const form = page.locator('form.password-form');
	await form.getByLabel('Mot de passe actuel').fill(PW);
	await form.getByLabel('Nouveau mot de passe', { exact: true }).fill('court');
	await form.getByLabel('Nouveau mot de passe, à nouveau').fill('court');
	// The browser's own check (minlength) stops it first; the server says
	// the same when asked directly.
	await form.getByRole('button', { name: 'Changer le mot de passe' }).click();
	assert.equal(await form.getByLabel('Nouveau mot de passe', { exact: true }).evaluate(e => e.validity.tooShort), true);
	const box = await form.boundingBox();
	assert.ok(box && box.width <= 390, `the form fits the phone (${box && box.width} px)`);
	await form.getByLabel('Nouveau mot de passe', { exact: true }).fill('un-nouveau-mot');
	await form.getByLabel('Nouveau mot de passe, à nouveau').fill('un-nouveau-mot');
	await form.getByRole('button', { name: 'Changer le mot de passe' }).click();
	await form.getByRole('status').filter({ hasText: 'Mot de passe changé. Vos autres sessions sont fermées.' }).waitFor();
});
