// The apps page of the web UI (#/apps): my API tokens (made with scopes and
// an expiry, shown once with a copy button, listed with their last use,
// revoked), the tokens of the bots I own, and my webhooks (registered with
// their events, the secret shown once, a test button, enable or disable, the
// delivery log). app.js hands over its helpers with init(); text as text.

import { t } from './i18n.js';

let ctx = null; // app.js's helpers: h, api, state, timeEl, showError, notice, announce, field

export function init(helpers) {
	ctx = helpers;
}

const SCOPES = ['read', 'write', 'spaces', 'admin'];
const EVENTS = ['post', 'comment', 'mention', 'reply'];
const EXPIRY = [30, 90, 365, 0];

/* A secret shown once: the text, selectable, and a copy button. */
function secretBox(id, label, value) {
	const { h } = ctx;
	const code = h('code', { id, class: 'secret-text' }, value);
	const done = h('span', { class: 'muted small', role: 'status' });
	const copy = h('button', { type: 'button', class: 'btn', id: `${id}-copy`, onclick: async () => {
		try {
			await navigator.clipboard.writeText(value);
		} catch {
			// No clipboard (plain HTTP off localhost): select the text instead.
			const r = document.createRange();
			r.selectNodeContents(code);
			getSelection().removeAllRanges();
			getSelection().addRange(r);
		}
		done.textContent = t('apps.copied');
	} }, t('apps.copy'));
	return h('div', { class: 'secret-once notice notice-warn' },
		h('p', {}, h('strong', {}, label)), h('p', {}, t('apps.once')),
		h('div', { class: 'secret-row' }, code, copy), done);
}

/* A table of tokens with a revoke button each; reload() after a change. */
function tokenTable(items, reload, idPrefix) {
	const { h } = ctx;
	if (!items.length)
		return h('p', { class: 'muted', id: `${idPrefix}-none` }, t('apps.tokens_none'));
	const rows = items.map(k => h('tr', { 'data-token': k.id },
		h('th', { scope: 'row', dir: 'auto' }, k.name),
		h('td', { 'data-label': t('apps.scopes') }, (k.scopes || []).map(s => t(`apps.scope_${s}`)).join(', ')),
		h('td', { 'data-label': t('apps.created') }, ctx.timeEl(k.created)),
		h('td', { 'data-label': t('apps.expires') }, k.expires ? ctx.timeEl(k.expires) : t('apps.never')),
		h('td', { 'data-label': t('apps.last_used') }, k.last_used ? ctx.timeEl(k.last_used) : t('apps.unused')),
		h('td', {}, h('button', { type: 'button', class: 'btn btn-quiet tok-revoke', 'aria-label': t('apps.revoke_named', { name: k.name }), onclick: async ev => {
			ev.target.disabled = true;
			try {
				await ctx.api('DELETE', `/api/tokens/${k.id}`);
				ctx.announce(t('apps.revoked'));
				await reload();
			} catch (err) {
				ev.target.disabled = false;
				ctx.showError(err);
			}
		} }, t('apps.revoke')))));
	return h('div', { class: 'table-wrap' }, h('table', { class: 'tokens', id: `${idPrefix}-list` },
		h('thead', {}, h('tr', {}, [t('apps.name'), t('apps.scopes'), t('apps.created'), t('apps.expires'), t('apps.last_used'), ''].map(x => h('th', { scope: 'col' }, x)))),
		h('tbody', {}, rows)));
}

/* The form that makes a token: POSTs to path; the answer's token is shown
 * once in slot. admin: the admin scope may be chosen. */
function tokenForm(path, idPrefix, admin, slot, reload) {
	const { h } = ctx;
	const name = h('input', { type: 'text', id: `${idPrefix}-name`, maxlength: '100', required: true, autocomplete: 'off' });
	const boxes = SCOPES.filter(s => s !== 'admin' || admin).map(s =>
		h('label', { class: 'check' }, h('input', { type: 'checkbox', id: `${idPrefix}-scope-${s}`, value: s, checked: s === 'read' }), ' ', t(`apps.scope_${s}`)));
	const expiry = h('select', { id: `${idPrefix}-expiry` }, EXPIRY.map(d => h('option', { value: String(d) }, d ? t('apps.days', { n: d }) : t('apps.never'))));
	const btn = h('button', { type: 'submit', class: 'btn', id: `${idPrefix}-create` }, t('apps.create'));
	return h('form', { class: 'token-form', onsubmit: async ev => {
		ev.preventDefault();
		const scopes = boxes.map(b => b.querySelector('input')).filter(i => i.checked).map(i => i.value);
		const body = { name: name.value.trim(), scopes };
		if (expiry.value !== '0')
			body.expires_days = Number(expiry.value);
		btn.disabled = true;
		try {
			const r = await ctx.api('POST', path, body);
			slot.replaceChildren(secretBox(`${idPrefix}-secret`, t('apps.token_made', { name: r.name }), r.token));
			name.value = '';
			await reload();
		} catch (err) {
			ctx.showError(err);
		} finally {
			btn.disabled = false;
		}
	} },
		ctx.field(t('apps.name'), name, t('apps.name_hint')),
		h('fieldset', { class: 'scopes' }, h('legend', {}, t('apps.scopes')), boxes, h('p', { class: 'hint' }, t('apps.scopes_hint'))),
		ctx.field(t('apps.expires'), expiry),
		h('div', { class: 'form-row' }, btn));
}

/* My tokens: the form, the secret slot, the list. */
async function tokensSection(sec) {
	const { h } = ctx;
	const slot = h('div', { class: 'secret-slot' });
	const list = h('div', {});
	const reload = async () => {
		const r = await ctx.api('GET', '/api/tokens');
		list.replaceChildren(tokenTable(r.items || [], reload, 'tok'));
	};
	sec.append(h('h2', { id: 'tokens-title' }, t('apps.tokens')), h('p', { class: 'muted' }, t('apps.tokens_intro')),
		tokenForm('/api/tokens', 'tok', !!(ctx.state.me && ctx.state.me.admin), slot, reload), slot,
		h('h3', {}, t('apps.tokens_mine')), list);
	await reload();
}

/* The bots I own, each with its tokens. */
async function botsSection(sec) {
	const { h } = ctx;
	let bots;
	const slots = {}; // a bot's secret slot, kept when the list is drawn again
	const draw = async () => {
		bots = (await ctx.api('GET', '/api/bots')).items || [];
		const mine = bots.filter(b => b.owner === ctx.state.me.handle);
		sec.replaceChildren();
		if (!mine.length)
			return;
		sec.append(h('h2', {}, t('apps.bots')), h('p', { class: 'muted' }, t('apps.bots_intro')));
		for (const b of mine) {
			const slot = slots[b.handle] || (slots[b.handle] = h('div', { class: 'secret-slot' }));
			sec.append(h('div', { class: 'card bot', 'data-bot': b.handle },
				h('h3', {}, h('bdi', {}, b.name || b.handle), ' ', h('span', { class: 'badge bot-badge' }, t('post.bot')), ' ', h('span', { class: 'muted small' }, `@${b.handle}`)),
				tokenForm(`/api/bots/${encodeURIComponent(b.handle)}/tokens`, `bot-${b.handle}`, false, slot, draw), slot,
				tokenTable(b.tokens || [], draw, `bot-${b.handle}`)));
		}
	};
	await draw();
}

/* One webhook's card: its state, its buttons, its log on demand. */
function hookCard(w, reload) {
	const { h } = ctx;
	const logBox = h('div', { class: 'hook-log', hidden: true });
	const act = (label, cls, fn) => h('button', { type: 'button', class: `btn btn-quiet ${cls}`, onclick: async ev => {
		ev.target.disabled = true;
		try {
			await fn();
		} catch (err) {
			ctx.showError(err);
		} finally {
			ev.target.disabled = false;
		}
	} }, label);
	const showLog = async () => {
		const v = await ctx.api('GET', `/api/hooks/${w.id}`);
		logBox.hidden = false;
		logBox.replaceChildren(v.log && v.log.length
			? h('ul', { class: 'log' }, v.log.map(e => h('li', { class: e.ok ? 'ok' : 'failed' },
				ctx.timeEl(e.at), ' ', t(`apps.ev_${e.event}`), ' — ',
				e.ok ? t('apps.delivered_ok', { status: e.status, ms: e.ms }) : h('span', { dir: 'auto' }, e.error || `HTTP ${e.status}`))))
			: h('p', { class: 'muted' }, t('apps.log_none')),
			v.waiting ? h('p', { class: 'muted small' }, t('apps.waiting', { n: v.waiting })) : null);
	};
	return h('div', { class: `card hook${w.enabled ? '' : ' hook-off'}`, 'data-hook': w.id },
		h('p', { class: 'hook-url' }, h('strong', { dir: 'auto' }, w.name || w.url), w.name ? h('span', { class: 'muted small' }, ' ', w.url) : null),
		h('p', { class: 'small' }, (w.events || []).map(e => t(`apps.ev_${e}`)).join(', '),
			w.space ? h('span', { class: 'muted' }, ` · ${t('apps.space')} ${w.space.slice(0, 8)}…`) : null),
		w.enabled
			? h('p', { class: `small hook-state${w.failures ? ' hook-failing' : ''}` }, t('apps.hook_on', { n: w.delivered || 0 }), w.last_delivery ? [' · ', ctx.timeEl(w.last_delivery)] : null,
				w.failures ? [' · ', t('apps.failing', { n: w.failures })] : null)
			: h('p', { class: 'notice notice-error small hook-state', role: 'status' }, t('apps.hook_off'), ' ', h('span', { dir: 'auto', class: 'hook-reason' }, w.disabled_reason || '')),
		h('div', { class: 'form-row' },
			act(t('apps.test'), 'hook-test', async () => {
				await ctx.api('POST', `/api/hooks/${w.id}/test`);
				ctx.announce(t('apps.test_sent'));
				setTimeout(() => showLog().catch(() => {}), 1500);
			}),
			act(w.enabled ? t('apps.disable') : t('apps.enable'), 'hook-toggle', async () => {
				await ctx.api('PATCH', `/api/hooks/${w.id}`, { enabled: !w.enabled });
				await reload();
			}),
			act(t('apps.log'), 'hook-log-btn', showLog),
			act(t('apps.delete'), 'hook-delete', async () => {
				await ctx.api('DELETE', `/api/hooks/${w.id}`);
				ctx.announce(t('apps.deleted'));
				await reload();
			})),
		logBox);
}

/* My webhooks: the form, the secret slot, the list. */
async function hooksSection(sec) {
	const { h } = ctx;
	const slot = h('div', { class: 'secret-slot' });
	const list = h('div', { id: 'hook-list' });
	const reload = async () => {
		const r = await ctx.api('GET', '/api/hooks');
		const items = r.items || [];
		list.replaceChildren(...(items.length ? items.map(w => hookCard(w, reload)) : [h('p', { class: 'muted', id: 'hook-none' }, t('apps.hooks_none'))]));
	};
	const url = h('input', { type: 'url', id: 'hook-url', required: true, placeholder: 'http://intranet-tools.lan/hook', maxlength: '512' });
	const name = h('input', { type: 'text', id: 'hook-name', maxlength: '100' });
	const evs = EVENTS.map(e => h('label', { class: 'check' }, h('input', { type: 'checkbox', id: `hook-ev-${e}`, value: e }), ' ', t(`apps.ev_${e}`)));
	const space = h('select', { id: 'hook-space' }, h('option', { value: '' }, ctx.state.me.admin ? t('apps.space_all') : t('apps.space_none')));
	try {
		const sp = await ctx.api('GET', '/api/spaces?mine=1');
		for (const s of sp.items || [])
			if (s.my_role && s.my_role !== 'member')
				space.append(h('option', { value: s.id }, s.name));
	} catch {
		// No spaces listed: the site-wide or personal webhooks remain.
	}
	const btn = h('button', { type: 'submit', class: 'btn', id: 'hook-create' }, t('apps.hook_add'));
	const form = h('form', { class: 'hook-form', onsubmit: async ev => {
		ev.preventDefault();
		const body = { url: url.value.trim(), events: evs.map(l => l.querySelector('input')).filter(i => i.checked).map(i => i.value) };
		if (name.value.trim())
			body.name = name.value.trim();
		if (space.value)
			body.space = space.value;
		btn.disabled = true;
		try {
			const r = await ctx.api('POST', '/api/hooks', body);
			slot.replaceChildren(secretBox('hook-secret', t('apps.hook_made'), r.secret));
			url.value = '';
			name.value = '';
			await reload();
		} catch (err) {
			ctx.showError(err);
		} finally {
			btn.disabled = false;
		}
	} },
		ctx.field(t('apps.url'), url, t('apps.url_hint')),
		ctx.field(t('apps.name'), name),
		h('fieldset', { class: 'scopes' }, h('legend', {}, t('apps.events')), evs, h('p', { class: 'hint' }, t('apps.events_hint'))),
		ctx.field(t('apps.space'), space),
		h('div', { class: 'form-row' }, btn));
	sec.append(h('h2', { id: 'hooks-title' }, t('apps.hooks')), h('p', { class: 'muted' }, t('apps.hooks_intro')), form, slot, h('h3', {}, t('apps.hooks_mine')), list);
	await reload();
}

export async function viewApps(main, seq) {
	const { h } = ctx;
	main.append(h('h1', { tabindex: '-1' }, t('apps.title')));
	const tokens = h('section', { class: 'card apps', id: 'tokens' });
	const bots = h('section', { class: 'apps-bots', id: 'bots' });
	const hooks = h('section', { class: 'card apps', id: 'hooks' });
	main.append(tokens, bots, hooks);
	try {
		await tokensSection(tokens);
		if (seq !== ctx.state.viewSeq)
			return;
		await botsSection(bots);
		if (seq !== ctx.state.viewSeq)
			return;
		await hooksSection(hooks);
	} catch (err) {
		if (err.status !== 401)
			main.append(ctx.notice(ctx.errorText(err), 'error'));
	}
}
