// Notifications in the web UI: the bell in the top bar (its count comes over
// the event stream), the notifications page (#/notifications, opening it
// marks what it shows read), the settings page (#/settings: per kind, in the
// app and by e-mail, the digest, its language and address), the "All" and
// "For you" tabs of the feed, announcements pinned above it, and the follow
// button of a person's page. app.js hands over its helpers with init(); this
// file adds no global and builds everything with DOM calls, text as text.

import { lang, t } from './i18n.js';

let ctx = null; // app.js's helpers: h, api, state, postCard, enc, relTime, toMs, nameOf, avatar, personLink, userText, showError, notice, announce, errorText

const TYPES = ['mention', 'comment', 'reply', 'reaction', 'space_post', 'space_request', 'space_invite'];
const LIST_PAGE = 30;

const bell = { count: 0, el: null, badge: null };

export function init(helpers) {
	ctx = helpers;
}

/* ---------------------------------------------------------------- bell */

/* The bell of the top bar: a link to the notifications page with the
 * number of unread groups (data-unread carries it, for styling and tests). */
export function bellEl() {
	const { h } = ctx;
	bell.badge = h('span', { class: 'bell-count', 'aria-hidden': 'true', hidden: true });
	bell.el = h('a', { id: 'bell', class: 'bell', href: '#/notifications', 'data-unread': '0', 'data-nav': 'notifications' },
		h('span', { class: 'bell-icon', 'aria-hidden': 'true' }, '🔔'),
		bell.badge);
	paintBell();
	refreshBell();
	return bell.el;
}

function paintBell() {
	if (!bell.el)
		return;
	const n = bell.count;
	bell.el.dataset.unread = String(n);
	bell.el.setAttribute('aria-label', n ? t('notif.bell_n', { n }) : t('notif.bell'));
	bell.el.title = bell.el.getAttribute('aria-label');
	bell.badge.hidden = !n;
	bell.badge.textContent = n > 99 ? '99+' : String(n);
}

export async function refreshBell() {
	try {
		const r = await ctx.api('GET', '/api/notifications/count');
		setBell(r && typeof r.unread === 'number' ? r.unread : 0);
	} catch {
		/* the stream will say */
	}
}

function setBell(n) {
	const up = n > bell.count;
	bell.count = n;
	paintBell();
	if (up)
		ctx.announce(t('notif.bell_n', { n }));
}

/* The stream's "bell" event: {"unread": n}. */
export function onBell(d) {
	if (typeof d.unread === 'number')
		setBell(d.unread);
	if (ctx.state.view === 'notifications' && d.unread > 0)
		reloadList();
}

/* ---------------------------------------------------- the notifications */

let page = null; // the notifications page while it is shown

/* "Claire", "Claire and 1 other", "Claire and 4 others". */
function who(type, names) {
	const h0 = (type.by || [])[0] || '?';
	const first = (names && names[h0]) || ctx.nameOf(h0);
	const others = (type.actors || 1) - 1;
	return others > 0 ? t('notif.and_others', { name: first, n: others }) : first;
}

function itemEl(g) {
	const { h } = ctx;
	const types = TYPES.filter(k => g.types && g.types[k]);
	const first = types.length ? (g.types[types[0]].by || [])[0] : null;
	// Several people: the verb agrees ("Claire et 4 autres ont réagi").
	const key = k => (g.types[k].actors || 1) > 1 ? `notif.${k}_many` : `notif.${k}`;
	const lines = types.map(k => h('span', { class: 'notif-line' }, t(key(k), { who: who(g.types[k], g.names), n: g.types[k].n })));
	const text = g.post && typeof g.post.text === 'string' ? g.post.text : '';
	// A space's group (requests, invitations) goes to the space's page.
	const href = g.post ? `#/post/${g.group}` : (g.types.space_request || g.types.space_invite) ? `#/space/${g.group}` : '#/notifications';
	const mute = h('button', { type: 'button', class: 'link notif-mute', onclick: async ev => {
		ev.preventDefault();
		try {
			const r = await ctx.api('POST', '/api/notifications/mute', { group: g.group, muted: true });
			li.remove();
			setBell(r.unread);
			ctx.announce(t('notif.muted'));
		} catch (err) {
			ctx.showError(err);
		}
	} }, t('notif.mute'));
	const li = h('li', { class: `notif${g.unread ? ' unread' : ''}`, 'data-group': g.group },
		first ? ctx.avatar(first, 'small') : null,
		h('div', { class: 'notif-body' },
			h('a', { class: 'notif-link', href, onclick: () => markRead([g]) }, lines.length ? lines : t('notif.something')),
			text ? h('p', { class: 'notif-text muted', dir: 'auto' }, ctx.userText(text)) : null,
			h('p', { class: 'notif-meta muted small' }, ctx.timeEl(g.at), ' · ', mute)));
	return li;
}

async function markRead(groups) {
	const unread = groups.filter(g => g.unread);
	if (!unread.length)
		return;
	try {
		const r = await ctx.api('POST', '/api/notifications/read', { groups: unread.map(g => ({ group: g.group, mark: g.mark })) });
		setBell(r.unread);
	} catch (err) {
		if (err.status !== 401)
			ctx.showError(err);
	}
}

async function loadList(more) {
	if (!page || page.loading)
		return;
	page.loading = true;
	try {
		const q = new URLSearchParams({ limit: String(LIST_PAGE) });
		if (more && page.next)
			q.set('before', page.next);
		const r = await ctx.api('GET', `/api/notifications?${q}`);
		if (!page || ctx.state.viewSeq !== page.seq)
			return;
		if (!more)
			page.list.replaceChildren();
		for (const g of r.items || [])
			page.list.append(itemEl(g));
		page.next = r.next;
		page.more.hidden = !r.next;
		page.empty.hidden = page.list.children.length > 0;
		// Opening the list marks what it shows read (they stay highlighted
		// on this page); the bell goes back to zero.
		await markRead(r.items || []);
	} catch (err) {
		if (err.status !== 401)
			ctx.showError(err);
	} finally {
		if (page)
			page.loading = false;
	}
}

function reloadList() {
	if (page)
		loadList(false);
}

export async function viewNotifications(main, seq) {
	const { h } = ctx;
	const list = h('ul', { class: 'notif-list', 'aria-live': 'polite' });
	const more = h('button', { type: 'button', class: 'btn btn-quiet more', hidden: true, onclick: () => loadList(true) }, t('notif.more'));
	const empty = h('p', { class: 'muted center', hidden: true }, t('notif.empty'));
	const all = h('button', { type: 'button', class: 'btn btn-quiet', id: 'mark-all', onclick: async () => {
		try {
			const r = await ctx.api('POST', '/api/notifications/read', { all: true });
			setBell(r.unread);
			for (const li of list.querySelectorAll('.unread'))
				li.classList.remove('unread');
			ctx.announce(t('notif.all_read'));
		} catch (err) {
			ctx.showError(err);
		}
	} }, t('notif.mark_all'));
	page = { seq, list, more, empty, next: null, loading: false };
	main.append(
		h('div', { class: 'page-head' },
			h('h1', { tabindex: '-1' }, t('notif.title')),
			h('div', { class: 'page-tools' }, all, h('a', { class: 'btn btn-quiet', href: '#/settings' }, t('notif.settings')))),
		list, empty, h('div', { class: 'feed-foot' }, more));
	await loadList(false);
}

/* ------------------------------------------------------------ settings */

export async function viewSettings(main, seq) {
	const { h } = ctx;
	main.append(h('h1', { tabindex: '-1' }, t('settings.title')));
	let p;
	try {
		p = await ctx.api('GET', '/api/notifications/prefs');
	} catch (err) {
		if (err.status !== 401)
			main.append(ctx.notice(ctx.errorText(err), 'error'));
		return;
	}
	if (seq !== ctx.state.viewSeq)
		return;
	const digest = h('select', { id: 'pref-digest' },
		['off', 'immediate', 'daily', 'weekly'].map(v => h('option', { value: v }, t(`settings.digest_${v}`))));
	digest.value = p.digest;
	const mlang = h('select', { id: 'pref-lang' }, h('option', { value: 'en' }, 'English'), h('option', { value: 'fr' }, 'Français'));
	mlang.value = p.lang;
	const email = h('input', { type: 'email', id: 'pref-email', value: p.email || '', autocomplete: 'email' });
	const boxes = {};
	const rows = TYPES.map(k => {
		const a = h('input', { type: 'checkbox', id: `inapp-${k}`, checked: !!p.inapp[k], 'aria-label': `${t(`settings.type_${k}`)} — ${t('settings.inapp')}` });
		const m = h('input', { type: 'checkbox', id: `mail-${k}`, checked: !!p.mail[k], 'aria-label': `${t(`settings.type_${k}`)} — ${t('settings.mail')}` });
		boxes[k] = [a, m];
		return h('tr', {}, h('th', { scope: 'row' }, t(`settings.type_${k}`)), h('td', { 'data-label': t('settings.inapp') }, a), h('td', { 'data-label': t('settings.mail') }, m));
	});
	const spaces = Object.entries(p.spaces || {});
	const status = h('p', { class: 'muted', role: 'status' });
	const save = h('button', { type: 'submit', class: 'btn' }, t('settings.save'));
	const form = h('form', { class: 'card settings', onsubmit: async ev => {
		ev.preventDefault();
		const body = { digest: digest.value, lang: mlang.value, email: email.value.trim() };
		for (const k of TYPES) {
			body[`inapp.${k}`] = boxes[k][0].checked;
			body[`mail.${k}`] = boxes[k][1].checked;
		}
		save.disabled = true;
		try {
			await ctx.api('PUT', '/api/notifications/prefs', body);
			status.textContent = t('settings.saved');
			refreshBell();
		} catch (err) {
			ctx.showError(err);
		} finally {
			save.disabled = false;
		}
	} },
		h('h2', {}, t('settings.kinds')),
		h('div', { class: 'table-wrap' }, h('table', { class: 'prefs' },
			h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('settings.kind')), h('th', { scope: 'col' }, t('settings.inapp')), h('th', { scope: 'col' }, t('settings.mail')))),
			h('tbody', {}, rows))),
		h('h2', {}, t('settings.email_title')),
		ctx.field(t('settings.digest'), digest),
		ctx.field(t('settings.lang'), mlang),
		ctx.field(t('settings.email'), email, t('settings.email_hint')),
		h('h2', {}, t('settings.spaces')),
		spaces.length ? h('ul', {}, spaces.map(([id, v]) => h('li', {}, `${id.slice(0, 8)}… ${v}`))) : h('p', { class: 'muted' }, t('settings.spaces_none')),
		h('div', { class: 'form-row' }, save), status);
	if (p.known === false)
		main.append(ctx.notice(t('settings.relogin'), 'warn'));
	main.append(form, h('p', {}, h('a', { class: 'btn btn-quiet', href: '#/apps', id: 'settings-apps' }, t('nav.apps'))));
}

/* --------------------------------------------------------- feed: tabs */

/* The tabs above the feed: All, For you. view: the current one. */
export function feedTabs(view, onSwitch) {
	const { h } = ctx;
	const tab = (name, label) => h('button', {
		type: 'button', role: 'tab', class: 'tab', id: `tab-${name}`, 'aria-selected': String(view === name),
		onclick: () => { if (view !== name) onSwitch(name); },
	}, label);
	return h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('feed.views') },
		tab('all', t('feed.all')), tab('foryou', t('feed.foryou')));
}

/* The announcements pinned above the feed: each with "Mark as read", and
 * "read by N of M" for its author. */
export function pinnedEl(items) {
	const { h } = ctx;
	const box = h('section', { class: 'pinned', 'aria-label': t('ann.pinned') });
	for (const p of items || []) {
		const a = p.announcement || {};
		const card = ctx.postCard(p);
		const read = h('button', { type: 'button', class: 'btn btn-quiet', onclick: async () => {
			try {
				await ctx.api('POST', `/api/posts/${p.id}/ack`, {});
				wrap.remove();
				ctx.announce(t('ann.read_done'));
			} catch (err) {
				ctx.showError(err);
			}
		} }, t('ann.mark_read'));
		const wrap = h('div', { class: 'pinned-item', 'data-post': p.id },
			h('p', { class: 'pinned-label' }, h('span', { class: 'badge' }, a.scope === 'all' ? t('ann.all') : t('ann.site')),
				typeof a.read_by === 'number' ? h('span', { class: 'muted small' }, ' ', t('ann.read_by', { n: a.read_by, m: a.of })) : null),
			card.el, h('div', { class: 'form-row' }, read));
		box.append(wrap);
	}
	return box;
}

/* An admin's tool on a post's page: pin it as an announcement. */
export function announceTool(post) {
	const { h } = ctx;
	if (!ctx.state.me || !ctx.state.me.admin)
		return null;
	const scope = h('select', { id: 'ann-scope' }, h('option', { value: 'site' }, t('ann.site')), h('option', { value: 'all' }, t('ann.all')));
	const until = h('input', { type: 'date', id: 'ann-until' });
	const status = h('p', { class: 'muted', role: 'status' });
	return h('form', { class: 'card announce-form', onsubmit: async ev => {
		ev.preventDefault();
		const body = { scope: scope.value, until: until.value ? Date.parse(`${until.value}T23:59:59Z`) : 0 };
		try {
			await ctx.api('POST', `/api/posts/${post.id}/announce`, body);
			status.textContent = t('ann.done');
		} catch (err) {
			ctx.showError(err);
		}
	} },
		h('h2', {}, t('ann.title')),
		ctx.field(t('ann.scope'), scope),
		ctx.field(t('ann.until'), until, t('ann.until_hint')),
		h('div', { class: 'form-row' }, h('button', { type: 'submit', class: 'btn' }, t('ann.submit'))), status);
}

/* --------------------------------------------------------- following */

let follows = null; // {people: [...], spaces: [...]}, loaded once per page

/* Follow / Following on a person's page, or on a space's (what: 'space',
 * target its id, name its name): a space followed notifies its new posts
 * (space_post). */
export function followButton(handle, what = 'person', name = null) {
	const { h } = ctx;
	if (!ctx.state.me || (what === 'person' && handle === ctx.state.me.handle))
		return null;
	const list = f => (what === 'person' ? f.people : f.spaces);
	const label = () => (what === 'person' ? ctx.nameOf(handle) : name);
	const btn = h('button', { type: 'button', class: 'btn btn-quiet follow', id: 'follow', 'aria-pressed': 'false' }, t('follow.follow'));
	const paint = on => {
		btn.setAttribute('aria-pressed', String(on));
		btn.textContent = on ? t('follow.following') : t('follow.follow');
	};
	(async () => {
		try {
			follows = await ctx.api('GET', '/api/follows');
			paint(list(follows).includes(handle));
		} catch {
			/* the button stays "Follow" */
		}
	})();
	btn.addEventListener('click', async () => {
		const on = btn.getAttribute('aria-pressed') !== 'true';
		btn.disabled = true;
		try {
			follows = await ctx.api('POST', '/api/follows', { what, target: handle, on });
			paint(list(follows).includes(handle));
			ctx.announce(on ? t(what === 'person' ? 'follow.now' : 'follow.space_now', { name: label() })
				: t('follow.stopped', { name: label() }));
		} catch (err) {
			ctx.showError(err);
		} finally {
			btn.disabled = false;
		}
	});
	return btn;
}

/* For tests and the language switch: the UI's language now. */
export function uiLang() {
	return lang();
}
