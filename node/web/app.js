// The staff web UI of a Comptoir node: one page, routes in the URL hash
// (#/, #/post/ID, #/spaces, #/space/ID, #/people, #/people/HANDLE, #/profile,
// #/status, #/admin),
// built from the JSON API of docs/API.md with DOM calls only. Text that users
// wrote is always inserted as text nodes, never parsed as HTML, so a post can
// never run a script; the page also runs under a CSP with no inline code.

import { has, lang, otherLang, setLang, t } from './i18n.js';
import * as notify from './notify.js';
import { adoptionChart, csvText, exchangeHeat, seesFigures, workbookForm } from './reports.js';
import * as apps from './apps.js';
import { makeSpaces } from './spaces.js';
import { searchBox, viewSearch } from './search.js';
import { makeFiles } from './files.js';

const FEED_PAGE = 20;          // posts fetched per page of the feed
const PEOPLE_MAX = 100;        // directory answers hold at most this many (the API's cap)
const STATUS_EVERY_MS = 5000;  // how often connectivity is polled
const OWN_POST_GRACE_MS = 1500; // an own post seen live first waits for its POST reply
const REACTIONS = ['👍', '❤️', '🎉', '😄', '🤔', '👀'];
const PROFILE_FIELDS = ['name', 'title', 'department', 'site', 'phone', 'location'];

/* Everything the page knows; reset on logout. */
const state = {
	me: null,            // {handle, csrf_token, admin, person} from /api/login or /api/session
	csrf: '',            // the X-CSRF-Token of the session
	limits: null,        // {text, field, bio}: sizes the server accepts (GET /api/session)
	people: new Map(),   // handle → person, to show names instead of handles
	authors: new Map(),  // handle → {name, site} as posts and comments name their authors
	status: null,        // last /api/status answer
	serverDown: false,   // the last status poll failed
	pollTimer: 0,        // next status poll
	polling: false,      // a poll is in flight
	stream: null,        // the EventSource of /api/stream
	streamRetry: 0,      // timer restarting a closed stream
	view: '',            // name of the page shown
	viewSeq: 0,          // bumped on every render: late answers of an old page are dropped
	cards: new Map(),    // post id → card controller, for the posts on screen
	feed: null,          // the feed page's state while it is shown
	feedView: 'all',     // the feed's tab: "all" or "foryou" (notify.js)
	flash: '',           // message for the login page (session ended, signed out)
};

/* Spaces' pages, picker and labels (spaces.js), given the helpers below. */
const spaces = makeSpaces({
	h, api, postCard, composer, personLink, userText, errorText, announce, state,
	enc: s => encodeURIComponent(s),
	coverButton: (id, onDone) => files.coverButton(id, onDone),
});

/* Attachments, the composer's uploads, the profile photo (files.js). */
const files = makeFiles({
	h, t, api, userText, showError, announce, lang, csrf: () => state.csrf,
});

/* ------------------------------------------------------------------ DOM */

/* Creates an element. props: "class", "text", on<event> handlers (functions
 * only), a few DOM properties (value, checked, disabled, hidden, htmlFor),
 * anything else as an attribute. Children are nodes or strings; strings
 * become text nodes. There is no way to pass markup. */
function h(tag, props, ...kids) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(props || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k === 'class')
			el.className = v;
		else if (k === 'text')
			el.textContent = v;
		else if (k.startsWith('on') && typeof v === 'function')
			el.addEventListener(k.slice(2), v);
		else if (k.startsWith('on') || k === 'style' || k === 'srcdoc')
			throw new Error(`h(): ${k} is never set from a string`); // safe by construction
		else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'htmlFor')
			el[k] = v;
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const kid of kids.flat(Infinity))
		if (kid !== null && kid !== undefined && kid !== false)
			el.append(kid instanceof Node ? kid : String(kid));
	return el;
}

/* ------------------------------------------------------------ user text */

/* The bidi overrides LRO and RLO reverse what follows them: "invoice" RLO
 * "gnp.exe" reads "invoiceexe.png". Text people wrote is shown with them
 * made visible (a marker instead), and always inside an element that
 * isolates it (dir="auto", or <bdi>), so that embeddings and isolates,
 * which right-to-left text needs, cannot reach the page around it. */
const BIDI_OVERRIDE = /[\u202d\u202e]/;

/* A string someone wrote, as a string (the common case) or a fragment with
 * each override shown as a small "U+202E" marker. */
function userText(s) {
	s = String(s ?? '');
	if (!BIDI_OVERRIDE.test(s))
		return s;
	const frag = document.createDocumentFragment();
	for (const part of s.split(/([\u202d\u202e])/)) {
		if (part === '\u202d' || part === '\u202e')
			frag.append(h('span', { class: 'bidi-mark', title: t('bidi.override') }, `U+${part.codePointAt(0).toString(16).toUpperCase()}`));
		else if (part)
			frag.append(part);
	}
	return frag;
}

/* An inline element holding a string someone wrote, isolated. */
function uspan(s, props = {}) {
	return h('bdi', props, userText(s));
}

let uidCounter = 0;
function uid(prefix) {
	uidCounter += 1;
	return `${prefix}-${uidCounter}`;
}

/* A label and its control, with an optional hint tied by aria-describedby. */
function field(label, control, hint) {
	const id = control.id || (control.id = uid('f'));
	const kids = [h('label', { for: id }, label), control];
	if (hint) {
		const hid = uid('hint');
		control.setAttribute('aria-describedby', hid);
		kids.push(h('p', { class: 'hint', id: hid }, hint));
	}
	return h('div', { class: 'field' }, kids);
}

/* Says msg to screen readers without moving focus. */
function announce(msg) {
	const el = document.getElementById('announcer');
	el.textContent = '';
	setTimeout(() => { el.textContent = msg; }, 50);
}

/* An error the user should see (an error of the API, or words already in
 * the UI's language): a dismissable message, read out at once. */
function showError(err) {
	const msg = typeof err === 'string' ? err : errorText(err);
	const box = document.getElementById('alerts');
	const toast = h('div', { class: 'toast' },
		h('span', {}, msg),
		h('button', { type: 'button', class: 'link', onclick: () => toast.remove() }, t('err.dismiss')));
	box.append(toast);
	setTimeout(() => toast.remove(), 10000);
}

/* What went wrong, in the UI's language. The API gives every error a stable
 * "code" (docs/API.md), translated here with the field and limits it names;
 * a code the tables do not know shows the server's English message. */
function errorText(err) {
	if (!(err instanceof ApiError))
		return t('err.generic', { msg: String(err && err.message || err) });
	if (err.status === 0)
		return t('err.network');
	const d = err.data && typeof err.data === 'object' ? err.data : {};
	if (typeof d.code === 'string' && has(`apierr.${d.code}`))
		return t(`apierr.${d.code}`, {
			field: fieldName(d.field), handle: d.handle ?? '', min: num(d.min), max: num(d.max),
		});
	if (err.status === 403)
		return err.message && !/csrf/i.test(err.message) ? err.message : t('err.forbidden');
	if (err.status === 413)
		return t('err.too_long');
	return err.message ? err.message : t('err.generic', { msg: err.status });
}

/* A field of a request as a phrase of the UI ("the text", "le nom"). */
function fieldName(f) {
	if (typeof f !== 'string' || !f)
		return t('fieldname.this');
	return has(`fieldname.${f}`) ? t(`fieldname.${f}`) : `"${f}"`;
}

/* A message shown in a page, with its own role=alert when it is an error. */
function notice(text, kind = 'info') {
	return h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : null }, text);
}

/* ------------------------------------------------------------------ API */

class ApiError extends Error {
	constructor(status, message, data, headers) {
		super(message);
		this.status = status;   // HTTP status, 0 when the server could not be reached
		this.data = data;       // the JSON body, if any
		this.headers = headers; // the response headers, if any
	}
}

/* Calls the JSON API. Every state-changing call carries the CSRF token and a
 * JSON body. A 401 on a call that needs a session sends the user to login. */
async function api(method, path, body, { quiet401 = false } = {}) {
	const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
	if (method !== 'GET') {
		opts.headers['Content-Type'] = 'application/json';
		if (state.csrf)
			opts.headers['X-CSRF-Token'] = state.csrf;
		opts.body = JSON.stringify(body || {});
	}
	let res;
	try {
		res = await fetch(path, opts);
	} catch {
		throw new ApiError(0, t('err.network'));
	}
	const text = await res.text().catch(() => '');
	let data = null;
	try {
		data = text ? JSON.parse(text) : null;
	} catch {
		data = null;
	}
	if (!res.ok) {
		const err = new ApiError(res.status, data && typeof data.error === 'string' ? data.error : '', data, res.headers);
		if (res.status === 401 && !quiet401 && state.me)
			sessionEnded(t('login.expired'));
		throw err;
	}
	return data;
}

const enc = encodeURIComponent;

/* ------------------------------------------------------------ formatting */

/* A peer's field, under its documented name or the name with "_ms". */
function peerTime(p, name) {
	return toMs(p[`${name}_ms`] ?? p[name]);
}

function toMs(v) {
	if (v === null || v === undefined || v === '')
		return null;
	if (typeof v === 'string' && !/^\d+$/.test(v)) {
		const p = Date.parse(v);
		return Number.isNaN(p) ? null : p;
	}
	const n = Number(v);
	return n < 1e11 ? n * 1000 : n; // seconds or milliseconds
}

function fullDate(ms) {
	return new Intl.DateTimeFormat(lang(), { dateStyle: 'full', timeStyle: 'short' }).format(new Date(ms));
}

/* "3 min ago", "yesterday", or a date for older things. */
function relTime(ms) {
	const diff = (ms - Date.now()) / 1000;
	const abs = Math.abs(diff);
	const rtf = new Intl.RelativeTimeFormat(lang(), { numeric: 'auto', style: 'short' });
	if (abs < 45)
		return t('time.now');
	if (abs < 3600)
		return rtf.format(Math.round(diff / 60), 'minute');
	if (abs < 86400)
		return rtf.format(Math.round(diff / 3600), 'hour');
	if (abs < 7 * 86400)
		return rtf.format(Math.round(diff / 86400), 'day');
	const d = new Date(ms);
	const sameYear = d.getFullYear() === new Date().getFullYear();
	return new Intl.DateTimeFormat(lang(), { day: 'numeric', month: 'short', year: sameYear ? undefined : 'numeric' }).format(d);
}

/* A moment as a clock time: "10:32" today, else "12 Nov, 10:32". */
function clockTime(ms) {
	const d = new Date(ms);
	const today = d.toDateString() === new Date().toDateString();
	const opts = today ? { timeStyle: 'short' } : { dateStyle: 'medium', timeStyle: 'short' };
	return new Intl.DateTimeFormat(lang(), opts).format(d);
}

/* A <time> that keeps its relative text fresh (see the minute timer). */
function timeEl(ms) {
	if (!ms)
		return h('span', {}, '—');
	return h('time', { datetime: new Date(ms).toISOString(), title: fullDate(ms), 'data-ts': ms }, relTime(ms));
}

function num(n) {
	return new Intl.NumberFormat(lang()).format(Number(n) || 0);
}

function duration(s) {
	s = Math.max(0, Math.floor(Number(s) || 0));
	const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
	if (d)
		return `${t('duration.d', { n: d })} ${t('duration.h', { n: hh })}`;
	if (hh)
		return `${t('duration.h', { n: hh })} ${t('duration.m', { n: m })}`;
	if (m)
		return t('duration.m', { n: m });
	return t('duration.s', { n: s });
}

/* ---------------------------------------------------------------- people */

function rememberPerson(p) {
	if (p && p.handle)
		state.people.set(p.handle, p);
}

/* The name shown for a handle: from the directory, else as posts and
 * comments named their author, else the handle itself. */
function nameOf(handle) {
	const p = state.people.get(handle);
	const name = p && p.profile && typeof p.profile.name === 'string' ? p.profile.name.trim() : '';
	const a = state.authors.get(handle);
	return name || (a && a.name) || handle;
}

/* Remembers the author a post or comment names ("author_name",
 * "author_site"), so that cards show names from their first paint. */
function noteAuthor(x) {
	if (!x || typeof x.author !== 'string' || !x.author)
		return;
	const name = typeof x.author_name === 'string' ? x.author_name.trim() : '';
	const site = typeof x.author_site === 'string' ? x.author_site : '';
	const old = state.authors.get(x.author);
	const photo = typeof x.author_photo === 'string' ? x.author_photo : '';
	state.authors.set(x.author, { name, site: site || (old && old.site) || '', photo });
	if (old && (old.name !== name || (old.photo || '') !== photo))
		refreshNames();
}

/* The home site of a handle, when known. */
function siteOf(handle) {
	const p = state.people.get(handle);
	const a = state.authors.get(handle);
	return (p && p.home_site) || (a && a.site) || '';
}

/* Refreshes the names shown for authors once the directory is known. */
function refreshNames() {
	for (const el of document.querySelectorAll('[data-name-of]'))
		el.replaceChildren(userText(nameOf(el.dataset.nameOf)));
	for (const el of document.querySelectorAll('[data-initials-of]'))
		paintAvatar(el, el.dataset.initialsOf);
	for (const c of state.cards.values())
		paintTools(c); // an admin's delete needs the authors' home sites
}

let peopleTimer = 0;
function loadPeopleSoon() {
	clearTimeout(peopleTimer);
	peopleTimer = setTimeout(async () => {
		try {
			const res = await api('GET', `/api/people?limit=${PEOPLE_MAX}`);
			for (const p of res && res.items || [])
				rememberPerson(p);
			refreshNames();
		} catch {
			/* names stay handles: nothing is lost */
		}
	}, 300);
}

function initials(handle) {
	const name = nameOf(handle);
	const parts = name.replace(/[^\p{L}\p{N} ]/gu, ' ').trim().split(/\s+/).filter(Boolean);
	const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || handle || '?').slice(0, 2);
	return s.toUpperCase();
}

/* A hue class from the handle: each colleague keeps one colour. */
function hueOf(handle) {
	let x = 0x811c9dc5; // FNV-1a
	for (const ch of String(handle))
		x = Math.imul(x ^ ch.codePointAt(0), 0x01000193) >>> 0;
	return x % 8;
}

/* The profile photo of a handle (its small thumbnail), when known: from
 * the directory, else as posts and comments showed their author. */
function photoOf(handle) {
	const p = state.people.get(handle);
	if (p && typeof p.photo_url === 'string' && p.photo_url)
		return p.photo_url;
	const a = state.authors.get(handle);
	return (a && a.photo) || '';
}

/* A photo where there is one, the initials otherwise (and when the photo
 * cannot be loaded: it may not have reached this site yet). */
function paintAvatar(el, handle) {
	const url = photoOf(handle);
	const img = el.querySelector('img');
	if (url && (!img || img.getAttribute('src') !== url)) {
		const im = h('img', { src: url, alt: '', loading: 'lazy', decoding: 'async' });
		im.addEventListener('error', () => { el.classList.remove('has-photo'); el.textContent = initials(handle); }, { once: true });
		el.replaceChildren(im);
		el.classList.add('has-photo');
	} else if (!url) {
		el.classList.remove('has-photo');
		el.textContent = initials(handle);
	}
}

function avatar(handle, size = '') {
	const el = h('span', { class: `avatar hue-${hueOf(handle)} ${size}`, 'aria-hidden': 'true', 'data-initials-of': handle },
		initials(handle));
	paintAvatar(el, handle);
	return el;
}

function personLink(handle, cls = 'author') {
	return h('a', { class: cls, href: `#/people/${enc(handle)}`, 'data-name-of': handle, dir: 'auto' }, userText(nameOf(handle)));
}

/* ---------------------------------------------------------------- drafts */

/* What someone was writing and has not sent (the composer, a comment) is
 * kept in localStorage under their handle: a reload, a node restart or an
 * ended session loses nothing. A draft goes once sent, and all of them at
 * an explicit sign-out (a shared computer keeps nothing of its last user). */
const DRAFT_PREFIX = 'comptoir.draft.';

function draftKey(where) {
	return state.me ? `${DRAFT_PREFIX}${state.me.handle}.${where}` : '';
}

function draftGet(where) {
	try {
		const k = draftKey(where);
		return (k && localStorage.getItem(k)) || '';
	} catch {
		return ''; /* storage disabled: no drafts */
	}
}

function draftSet(where, text) {
	try {
		const k = draftKey(where);
		if (k && text.trim())
			localStorage.setItem(k, text);
		else if (k)
			localStorage.removeItem(k);
	} catch {
		/* full or disabled: the text is still in the box */
	}
}

function draftsClear(handle) {
	try {
		const prefix = `${DRAFT_PREFIX}${handle}.`;
		for (const k of Object.keys(localStorage))
			if (k.startsWith(prefix))
				localStorage.removeItem(k);
	} catch {
		/* nothing kept */
	}
}

/* ------------------------------------------------------------ rich text */

const RICH_RE = /(@[a-z0-9][a-z0-9._-]{0,31})|(https?:\/\/[^\s<>"]+)/gi;

/* The text of a post or comment as nodes: plain text, @mentions as links to
 * people and http(s) addresses as links. Nothing in it is ever markup. */
function richText(text, mentions) {
	const frag = document.createDocumentFragment();
	const known = Array.isArray(mentions) ? new Set(mentions) : null;
	text = String(text ?? '');
	let last = 0;
	for (const m of text.matchAll(RICH_RE)) {
		let tok = m[0];
		const at = m.index;
		if (m[1]) {
			// A mention starts a word (not an e-mail address); a dot ending
			// the sentence is not part of the handle.
			if (at > 0 && /[\p{L}\p{N}_.@-]/u.test(text[at - 1]))
				continue;
			tok = tok.replace(/[._-]+$/, '');
			const handle = tok.slice(1).toLowerCase();
			if (known && !known.has(handle))
				continue;
			frag.append(userText(text.slice(last, at)), h('a', { class: 'mention', href: `#/people/${enc(handle)}` }, tok));
		} else {
			tok = tok.replace(/[.,;:!?)\]}'’]+$/, '');
			frag.append(userText(text.slice(last, at)), h('a', { href: tok, rel: 'noopener noreferrer', target: '_blank', dir: 'auto' }, userText(tok)));
		}
		last = at + tok.length;
	}
	frag.append(userText(text.slice(last)));
	return frag;
}

/* ------------------------------------------------------------- mentions */

/* Completes @mentions in a textarea from the directory: type @ and part of a
 * name; arrows choose, Enter or Tab insert, Escape closes. */
function attachMentions(ta) {
	const list = h('ul', { class: 'mention-list', role: 'listbox', id: uid('ml'), hidden: true, 'aria-label': t('mention.list') });
	let items = [], active = -1, start = -1, timer = 0, seq = 0;

	ta.setAttribute('aria-autocomplete', 'list');
	ta.setAttribute('aria-controls', list.id);

	function close() {
		list.hidden = true;
		items = [];
		active = -1;
		start = -1;
		ta.removeAttribute('aria-activedescendant');
	}
	function paint() {
		list.replaceChildren(...items.map((p, i) => {
			const prof = p.profile || {};
			const li = h('li', { role: 'option', id: `${list.id}-${i}`, 'aria-selected': i === active ? 'true' : 'false', class: i === active ? 'active' : '' },
				avatar(p.handle, 'small'),
				h('span', { class: 'ml-name', dir: 'auto' }, userText(prof.name || p.handle)),
				h('span', { class: 'ml-meta' }, `@${p.handle}`, p.home_site ? [' · ', siteEl(p.home_site)] : ''));
			li.addEventListener('mousedown', ev => { ev.preventDefault(); pick(i); });
			return li;
		}));
		list.hidden = items.length === 0;
		if (active >= 0)
			ta.setAttribute('aria-activedescendant', `${list.id}-${active}`);
		else
			ta.removeAttribute('aria-activedescendant');
	}
	function pick(i) {
		const p = items[i];
		if (!p)
			return;
		const end = ta.selectionStart;
		const insert = `@${p.handle} `;
		ta.value = ta.value.slice(0, start) + insert + ta.value.slice(end);
		const caret = start + insert.length;
		ta.setSelectionRange(caret, caret);
		close();
		ta.focus();
		ta.dispatchEvent(new Event('input', { bubbles: true }));
	}
	async function search(q, mySeq) {
		try {
			const res = await api('GET', `/api/people?q=${enc(q)}&limit=8`);
			if (mySeq !== seq)
				return;
			items = (res && res.items || []).filter(p => !p.disabled).slice(0, 6);
			items.forEach(rememberPerson);
			active = items.length ? 0 : -1;
			paint();
		} catch {
			close();
		}
	}
	ta.addEventListener('input', () => {
		const pos = ta.selectionStart;
		const m = /(^|[^\p{L}\p{N}_.@-])@([\p{L}\p{N}._-]{0,32})$/u.exec(ta.value.slice(0, pos));
		clearTimeout(timer);
		if (!m) {
			seq += 1;
			close();
			return;
		}
		start = pos - m[2].length - 1;
		const mySeq = ++seq;
		timer = setTimeout(() => search(m[2], mySeq), 150);
	});
	ta.addEventListener('keydown', ev => {
		if (list.hidden || !items.length)
			return;
		if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
			ev.preventDefault();
			active = (active + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
			paint();
		} else if ((ev.key === 'Enter' || ev.key === 'Tab') && !ev.ctrlKey && !ev.metaKey && active >= 0) {
			ev.preventDefault();
			pick(active);
		} else if (ev.key === 'Escape') {
			ev.preventDefault();
			ev.stopPropagation();
			close();
		}
	});
	ta.addEventListener('blur', () => setTimeout(close, 150));
	return list;
}

/* A textarea that grows with its text, completes mentions and sends on
 * Ctrl+Enter. Returns {wrap, ta}. */
function textBox({ label, placeholder = '', value = '', rows = 3, onSubmit, className = '' }) {
	const ta = h('textarea', { id: uid('ta'), rows, placeholder, class: className, value, dir: 'auto' });
	ta.value = value;
	const list = attachMentions(ta);
	const grow = () => {
		ta.rows = rows;
		while (ta.scrollHeight > ta.clientHeight && ta.rows < 16)
			ta.rows += 1;
	};
	ta.addEventListener('input', grow);
	ta.addEventListener('keydown', ev => {
		if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && onSubmit) {
			ev.preventDefault();
			onSubmit();
		}
	});
	const wrap = h('div', { class: 'textbox' }, h('label', { for: ta.id, class: 'visually-hidden' }, label), ta, list);
	requestAnimationFrame(grow);
	return { wrap, ta };
}

/* A counter of the text in a box against the limit of the server (bytes of
 * UTF-8 of the trimmed text, as the server counts them; GET /api/session
 * gives the limit): shown while the box holds text (always), else from 80%
 * of the limit. Returns {el, over()}. */
function lengthCounter(ta, always) {
	const el = h('span', { class: 'counter small', id: uid('count') });
	const size = () => new TextEncoder().encode(ta.value.trim()).length;
	const max = () => (state.limits && Number(state.limits.text)) || 0;
	const paint = () => {
		const n = size(), m = max();
		el.hidden = !m || !(always ? n > 0 : n >= 0.8 * m);
		el.textContent = m ? t('compose.count', { n: num(n), max: num(m) }) : '';
		el.classList.toggle('over', m > 0 && n > m);
	};
	ta.setAttribute('aria-describedby', el.id);
	ta.addEventListener('input', paint);
	paint();
	return { el, over: () => max() > 0 && size() > max(), max };
}

/* --------------------------------------------------------------- posts */

/* A post on screen, with its reactions, comments, and for its author, edit
 * and delete. Returns a controller that live updates call with a fresh view. */
function postCard(post, { open = false } = {}) {
	noteAuthor(post);
	const c = {
		post,
		el: null,
		my: myReactionsOf(post), // my reactions, when known
		comments: null,  // the comments loaded, oldest first (the newest page, then earlier ones)
		commentsBefore: null, // cursor of earlier comments not loaded yet
		open: false,     // the comments are shown
		editing: false,  // the edit form replaces the text
	};
	const id = post.id;
	const authorId = uid('pa');

	const timeLink = h('a', { class: 'when', href: `#/post/${id}`, title: t('post.permalink') });
	const edited = h('span', { class: 'edited' });
	const body = h('div', { class: 'post-body' });
	const reactions = h('div', { class: 'reactions', role: 'group', 'aria-label': t('react.picker') });
	const likeBtn = h('button', { type: 'button', class: 'action like', onclick: () => toggleReaction(c, '👍') });
	const commentBtn = h('button', { type: 'button', class: 'action', 'aria-expanded': 'false', onclick: () => (c.open ? closeComments(c) : openComments(c, true)) });
	const pickerBtn = h('button', { type: 'button', class: 'action', 'aria-expanded': 'false', 'aria-label': t('react.add'), title: t('react.add') }, h('span', { 'aria-hidden': 'true' }, '☺︎+'));
	const picker = h('div', { class: 'picker', role: 'group', 'aria-label': t('react.picker'), hidden: true },
		REACTIONS.map(r => h('button', {
			type: 'button', class: 'emoji', title: t(`react.${r}`), 'aria-label': t('react.with', { name: t(`react.${r}`) }),
			onclick: () => { togglePicker(false); pickerBtn.focus(); toggleReaction(c, r); },
		}, r)));
	const confirm = h('div', { class: 'confirm', hidden: true });
	const commentsEl = h('section', { class: 'comments', hidden: true, 'aria-label': t('comments.list') });

	function togglePicker(show) {
		picker.hidden = !show;
		pickerBtn.setAttribute('aria-expanded', String(show));
		if (show)
			picker.querySelector('button').focus();
	}
	pickerBtn.addEventListener('click', () => togglePicker(picker.hidden));
	picker.addEventListener('keydown', ev => {
		if (ev.key === 'Escape') {
			togglePicker(false);
			pickerBtn.focus();
		}
	});

	const tools = h('div', { class: 'post-tools', role: 'group', 'aria-label': t('post.actions') });

	c.el = h('article', { class: 'card post', 'data-post-id': id, tabindex: '-1', 'aria-labelledby': authorId },
		h('header', { class: 'post-head' },
			h('a', { href: `#/people/${enc(post.author)}`, tabindex: '-1', 'aria-hidden': 'true', class: 'avatar-link' }, avatar(post.author)),
			h('div', { class: 'post-meta' },
				h('span', { id: authorId, class: 'author-line' }, personLink(post.author || post.author_key.slice(0, 12)),
					post.author_bot ? [' ', h('span', { class: 'badge bot-badge', title: t('post.bot_title') }, t('post.bot'))] : null),
				h('span', { class: 'muted small' }, h('bdi', {}, `@${post.author}`),
					post.author_site ? [' · ', siteEl(post.author_site, { class: 'site-label', title: t('post.site') })] : null,
					' · ', timeLink, edited),
				spaces.label(post)),
			tools),
		confirm,
		body,
		reactions,
		h('div', { class: 'post-actions' }, likeBtn, commentBtn, pickerBtn),
		picker,
		commentsEl);
	c.parts = { timeLink, edited, body, reactions, likeBtn, commentBtn, commentsEl, confirm, tools };

	c.update = p => {
		if (p && p.id === id) {
			noteAuthor(p);
			c.post = Object.assign({}, c.post, p);
		}
		if (p && Array.isArray(p.my_reactions))
			c.my = new Set(p.my_reactions);
		setComments(c, p);
		paintCard(c);
	};
	setComments(c, post);
	paintCard(c);
	state.cards.set(id, c);
	// A reply left unsent (a reload, a restart) opens its thread again.
	if (open || draftGet(`comment.${id}`))
		openComments(c, false);
	else if (!c.my)
		myReactionsWatch.observe(c.el);
	return c;
}

/* May I delete this author's posts and comments? An admin may, for the
 * users of their own site (the server checks again): site is the author's
 * home site as the post or comment names it. */
function mayModerate(author, site) {
	if (!state.me || !state.me.admin)
		return false;
	const mySite = state.me.person && state.me.person.home_site;
	const theirs = site || siteOf(author);
	return Boolean(mySite && theirs && theirs === mySite);
}

/* My reactions on a post: listed in post answers; known empty when the post
 * has none at all; else unknown (feed items do not carry them). */
function myReactionsOf(post) {
	if (Array.isArray(post.my_reactions))
		return new Set(post.my_reactions);
	const counts = post.reactions && typeof post.reactions === 'object' ? Object.values(post.reactions) : [];
	return counts.some(n => n > 0) ? null : new Set();
}

/* Fetches my reactions for the posts that come into view without them, so
 * that "Like" shows pressed when I liked it; a couple at a time. */
const myReactionsQueue = [];
let myReactionsBusy = 0;
const myReactionsWatch = new IntersectionObserver(entries => {
	for (const e of entries) {
		if (!e.isIntersecting)
			continue;
		myReactionsWatch.unobserve(e.target);
		myReactionsQueue.push(e.target.dataset.postId);
	}
	pumpMyReactions();
});

function pumpMyReactions() {
	while (myReactionsBusy < 2 && myReactionsQueue.length) {
		const c = state.cards.get(myReactionsQueue.shift());
		if (!c || c.my)
			continue;
		myReactionsBusy += 1;
		loadDetail(c).catch(() => {}).finally(() => {
			myReactionsBusy -= 1;
			pumpMyReactions();
		});
	}
}

/* Edit for the author; delete for the author and their site's admins. */
function paintTools(c) {
	const mine = state.me && c.post.author === state.me.handle;
	const tools = c.parts.tools;
	if (tools.childElementCount)
		return; // drawn once: who may do what does not change
	if (mine)
		tools.append(h('button', { type: 'button', class: 'link', onclick: () => startEdit(c) }, t('post.edit')));
	if (mine || mayModerate(c.post.author, c.post.author_site))
		tools.append(h('button', { type: 'button', class: 'link danger', onclick: () => askDelete(c) }, t('post.delete')));
	tools.hidden = !tools.childElementCount;
}

/* Draws the parts of a card that change: text, time, reactions, counts. */
function paintCard(c) {
	const p = c.post, parts = c.parts;
	paintTools(c);
	parts.timeLink.replaceChildren(timeEl(p.created));
	if (p.edited) {
		parts.edited.replaceChildren(' · ', h('span', { title: t('post.edited_at', { when: fullDate(p.edited) }) }, t('post.edited')));
	} else {
		parts.edited.replaceChildren();
	}
	if (!c.editing)
		parts.body.replaceChildren(...[h('p', { class: 'post-text', dir: 'auto' }, richText(p.text, p.mentions)),
			files.attachments(p.files)].filter(Boolean));

	const counts = p.reactions && typeof p.reactions === 'object' ? p.reactions : {};
	const shown = Object.keys(counts).filter(r => counts[r] > 0);
	shown.sort((a, b) => counts[b] - counts[a] || REACTIONS.indexOf(a) - REACTIONS.indexOf(b));
	parts.reactions.replaceChildren(...shown.map(r => {
		const name = t(`react.${r}`) !== `react.${r}` ? t(`react.${r}`) : r;
		const pressed = c.my ? String(c.my.has(r)) : 'false';
		return h('button', { type: 'button', class: 'pill', 'aria-pressed': pressed, 'aria-label': t('react.count', { name, n: counts[r] }), onclick: () => toggleReaction(c, r) },
			h('span', { 'aria-hidden': 'true' }, r), h('span', { class: 'count', 'aria-hidden': 'true' }, num(counts[r])));
	}));
	parts.reactions.hidden = shown.length === 0;

	const liked = c.my ? c.my.has('👍') : false;
	parts.likeBtn.setAttribute('aria-pressed', String(liked));
	parts.likeBtn.replaceChildren(h('span', { 'aria-hidden': 'true' }, '👍'), ` ${t('react.like')}`);

	const n = Number(p.comments) || 0;
	parts.commentBtn.replaceChildren(h('span', { 'aria-hidden': 'true' }, '💬'), ` ${n ? t('comments.show', { n }) : t('comments.none')}`);
	parts.commentBtn.setAttribute('aria-expanded', String(c.open));
}

/* Takes the newest comments of a post answer. Earlier comments the reader
 * already opened stay above them, unless the page no longer joins them. */
function setComments(c, p) {
	if (!p || !Array.isArray(p.comment_list))
		return;
	const page = p.comment_list;
	const at = c.comments && page.length ? c.comments.findIndex(x => x.id === page[0].id) : -1;
	if (at > 0) {
		c.comments = c.comments.slice(0, at).concat(page);
		return;
	}
	c.comments = page;
	c.commentsBefore = p.comments_before || null;
}

/* Earlier comments, a page at a time, above those shown. */
async function loadEarlier(c) {
	const before = c.commentsBefore;
	if (!before)
		return;
	const d = await api('GET', `/api/posts/${c.post.id}/comments?before=${before}&limit=50`);
	if (c.commentsBefore !== before)
		return; // reloaded meanwhile
	const have = new Set((c.comments || []).map(x => x.id));
	c.comments = (Array.isArray(d.items) ? d.items : []).filter(x => !have.has(x.id)).concat(c.comments || []);
	c.commentsBefore = d.next || null;
	paintComments(c);
}

/* Fetches the post with its comments and my reactions. */
async function loadDetail(c) {
	const d = await api('GET', `/api/posts/${c.post.id}`);
	c.my = new Set(Array.isArray(d.my_reactions) ? d.my_reactions : []);
	c.update(d);
	if (c.open)
		paintComments(c);
}

async function toggleReaction(c, r) {
	try {
		if (!c.my)
			await loadDetail(c);
		const on = !c.my.has(r);
		const p = await api('POST', `/api/posts/${c.post.id}/reactions`, { reaction: r, on });
		if (on)
			c.my.add(r);
		else
			c.my.delete(r);
		c.update(p && p.id ? p : null);
	} catch (err) {
		if (err.status !== 401)
			showError(err);
	}
}

async function openComments(c, focus) {
	c.open = true;
	c.parts.commentsEl.hidden = false;
	c.parts.commentBtn.setAttribute('aria-expanded', 'true');
	paintComments(c);
	if (focus)
		c.parts.commentsEl.querySelector('textarea').focus();
	if (!c.comments || (!c.commentsBefore && Number(c.post.comments) !== c.comments.length)) {
		try {
			await loadDetail(c);
		} catch (err) {
			if (err.status !== 401)
				showError(err);
		}
	}
}

function closeComments(c) {
	c.open = false;
	c.parts.commentsEl.hidden = true;
	c.parts.commentBtn.setAttribute('aria-expanded', 'false');
	c.parts.commentBtn.focus();
}

/* Draws the comments of an open card and its reply box, keeping a draft. */
function paintComments(c) {
	const sec = c.parts.commentsEl;
	const old = sec.querySelector('textarea.reply');
	const draftWhere = `comment.${c.post.id}`;
	const draft = old ? old.value : draftGet(draftWhere);
	const hadFocus = old && document.activeElement === old;
	const hidden = Math.max(0, (Number(c.post.comments) || 0) - (c.comments ? c.comments.length : 0));
	const earlier = c.comments !== null && c.commentsBefore
		? h('button', {
			type: 'button', class: 'btn btn-small btn-quiet comments-earlier', onclick: async ev => {
				ev.currentTarget.disabled = true;
				try {
					await loadEarlier(c);
					// Keyboard users stay where they were: on the button, or
					// on the list once everything is shown.
					const next = c.parts.commentsEl.querySelector('.comments-earlier') || c.parts.commentsEl.querySelector('.comment-list');
					if (next)
						next.focus();
				} catch (err) {
					if (err.status !== 401)
						showError(err);
					paintComments(c);
				}
			},
		}, hidden ? t('comments.earlier_n', { n: hidden }) : t('comments.earlier'))
		: null;
	const list = c.comments === null
		? h('p', { class: 'muted small' }, t('comments.loading'))
		: h('ul', { class: 'comment-list', tabindex: '-1' }, c.comments.map(cm => commentItem(c, cm)));
	const send = h('button', { type: 'submit', class: 'btn btn-small' }, t('comments.submit'));
	const form = h('form', { class: 'comment-form' });
	const box = textBox({ label: t('comments.label'), placeholder: t('comments.placeholder'), rows: 1, value: draft, className: 'reply', onSubmit: () => form.requestSubmit() });
	box.ta.addEventListener('input', () => draftSet(draftWhere, box.ta.value));
	const count = lengthCounter(box.ta, false);
	form.append(avatar(state.me.handle, 'small'), h('div', { class: 'reply-main' }, box.wrap, count.el), send);
	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		const text = box.ta.value.trim();
		if (!text)
			return;
		if (count.over()) {
			showError(t('compose.too_long', { max: num(count.max()) }));
			return;
		}
		send.disabled = true;
		try {
			await api('POST', `/api/posts/${c.post.id}/comments`, { text });
			box.ta.value = '';
			draftSet(draftWhere, '');
			await loadDetail(c);
			c.parts.commentsEl.querySelector('textarea.reply').focus();
		} catch (err) {
			if (err.status !== 401)
				showError(err);
		} finally {
			send.disabled = false;
		}
	});
	sec.replaceChildren(...(earlier ? [earlier] : []), list, form);
	if (hadFocus)
		box.ta.focus();
}

/* Focuses a control of a comment after its thread was drawn again. */
function focusComment(c, id, selector) {
	const li = [...c.parts.commentsEl.querySelectorAll('li.comment')].find(el => el.dataset.commentId === id);
	const el = li && li.querySelector(selector);
	if (el)
		el.focus();
}

/* One comment: who, from which site, when, the text; its author may edit or
 * delete it, and an admin of the author's site delete it. */
function commentItem(c, cm) {
	noteAuthor(cm);
	const mine = state.me && cm.author === state.me.handle;
	const tools = [];
	if (mine)
		tools.push(h('button', {
			type: 'button', class: 'link edit', 'aria-label': t('comment.edit_named'), onclick: () => {
				c.commentEdit = { id: cm.id, text: cm.text };
				c.commentConfirm = null;
				paintComments(c);
				focusComment(c, cm.id, 'textarea');
			},
		}, t('post.edit')));
	if (mine || mayModerate(cm.author, cm.author_site))
		tools.push(h('button', {
			type: 'button', class: 'link danger', 'aria-label': t('comment.delete_named'), onclick: () => {
				c.commentConfirm = cm.id;
				c.commentEdit = null;
				paintComments(c);
				focusComment(c, cm.id, '.confirm .btn-danger');
			},
		}, t('post.delete')));
	const editing = c.commentEdit && c.commentEdit.id === cm.id;
	return h('li', { class: 'comment', 'data-comment-id': cm.id },
		avatar(cm.author, 'small'),
		h('div', { class: 'comment-body' },
			h('div', { class: 'comment-head' },
				h('span', {}, personLink(cm.author), cm.author_bot ? [' ', h('span', { class: 'badge bot-badge', title: t('post.bot_title') }, t('post.bot'))] : null, ' ',
					h('span', { class: 'muted small' },
						cm.author_site ? [siteEl(cm.author_site, { class: 'site-label', title: t('post.site') }), ' · '] : null,
						timeEl(cm.created),
						cm.edited ? [' · ', h('span', { class: 'edited', title: t('post.edited_at', { when: fullDate(cm.edited) }) }, t('post.edited'))] : null)),
				tools.length ? h('span', { class: 'comment-tools', role: 'group', 'aria-label': t('comment.actions') }, tools) : null),
			editing ? commentEditForm(c, cm) : h('p', { class: 'comment-text', dir: 'auto' }, richText(cm.text)),
			editing ? null : files.attachments(cm.files),
			c.commentConfirm === cm.id ? commentConfirm(c, cm) : null));
}

function commentEditForm(c, cm) {
	const save = h('button', { type: 'submit', class: 'btn btn-small' }, t('post.save'));
	const form = h('form', { class: 'edit-form comment-edit' });
	const box = textBox({ label: t('comment.edit_label'), value: c.commentEdit.text, rows: 1, onSubmit: () => form.requestSubmit() });
	box.ta.addEventListener('input', () => {
		if (c.commentEdit && c.commentEdit.id === cm.id)
			c.commentEdit.text = box.ta.value;
	});
	const count = lengthCounter(box.ta, false);
	const stop = () => {
		c.commentEdit = null;
		paintComments(c);
		focusComment(c, cm.id, 'button.edit');
	};
	form.append(box.wrap, h('div', { class: 'form-row' }, save,
		h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: stop }, t('post.cancel')), count.el));
	form.addEventListener('keydown', ev => { if (ev.key === 'Escape') stop(); });
	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		const text = box.ta.value.trim();
		if (!text || text === cm.text) {
			stop();
			return;
		}
		if (count.over()) {
			showError(t('compose.too_long', { max: num(count.max()) }));
			return;
		}
		save.disabled = true;
		try {
			const x = await api('PATCH', `/api/comments/${cm.id}`, { text });
			c.comments = (c.comments || []).map(y => (y.id === cm.id ? Object.assign({}, y, x && x.id ? x : { text }) : y));
			c.commentEdit = null;
			paintComments(c);
			focusComment(c, cm.id, 'button.edit');
			announce(t('comment.saved'));
		} catch (err) {
			save.disabled = false;
			if (err.status !== 401)
				showError(err);
		}
	});
	return form;
}

function commentConfirm(c, cm) {
	const back = () => {
		c.commentConfirm = null;
		paintComments(c);
		focusComment(c, cm.id, 'button.danger');
	};
	const no = h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: back }, t('post.cancel'));
	const yes = h('button', {
		type: 'button', class: 'btn btn-small btn-danger', onclick: async () => {
			yes.disabled = true;
			try {
				await api('DELETE', `/api/comments/${cm.id}`);
				c.comments = (c.comments || []).filter(y => y.id !== cm.id);
				c.post = Object.assign({}, c.post, { comments: Math.max(0, (Number(c.post.comments) || 0) - 1) });
				c.commentConfirm = null;
				paintCard(c);
				paintComments(c);
				c.parts.commentsEl.querySelector('.comment-list').focus();
				announce(t('comment.deleted'));
			} catch (err) {
				yes.disabled = false;
				if (err.status !== 401)
					showError(err);
			}
		},
	}, t('post.delete_yes'));
	const box = h('div', { class: 'confirm', role: 'group', 'aria-label': t('comment.delete_confirm') },
		h('p', {}, t('comment.delete_confirm')), h('div', { class: 'form-row' }, yes, no));
	box.addEventListener('keydown', ev => { if (ev.key === 'Escape') back(); });
	return box;
}

function startEdit(c) {
	if (c.editing)
		return;
	c.editing = true;
	const save = h('button', { type: 'submit', class: 'btn btn-small' }, t('post.save'));
	const form = h('form', { class: 'edit-form' });
	const box = textBox({ label: t('post.edit_label'), value: c.post.text, rows: 3, onSubmit: () => form.requestSubmit() });
	const stop = () => {
		c.editing = false;
		paintCard(c);
		c.el.querySelector('.post-tools button').focus();
	};
	form.append(box.wrap, h('div', { class: 'form-row' }, save,
		h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: stop }, t('post.cancel'))));
	form.addEventListener('keydown', ev => { if (ev.key === 'Escape') stop(); });
	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		const text = box.ta.value.trim();
		if (!text || text === c.post.text) {
			stop();
			return;
		}
		save.disabled = true;
		try {
			const p = await api('PATCH', `/api/posts/${c.post.id}`, { text });
			c.editing = false;
			if (p && p.id)
				c.update(p);
			else
				await loadDetail(c);
			announce(t('post.saved'));
			c.el.focus();
		} catch (err) {
			save.disabled = false;
			if (err.status !== 401)
				showError(err);
		}
	});
	c.parts.body.replaceChildren(form);
	box.ta.focus();
	box.ta.setSelectionRange(box.ta.value.length, box.ta.value.length);
}

function askDelete(c) {
	const box = c.parts.confirm;
	const no = h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: () => { box.hidden = true; c.el.querySelector('.post-tools button.danger').focus(); } }, t('post.cancel'));
	const yes = h('button', {
		type: 'button', class: 'btn btn-small btn-danger', onclick: async () => {
			yes.disabled = true;
			try {
				await api('DELETE', `/api/posts/${c.post.id}`);
				removeCard(c.post.id);
				announce(t('post.deleted'));
				if (state.view === 'post')
					location.hash = '#/';
			} catch (err) {
				yes.disabled = false;
				if (err.status !== 401)
					showError(err);
			}
		},
	}, t('post.delete_yes'));
	box.replaceChildren(h('p', {}, t('post.delete_confirm')), h('div', { class: 'form-row' }, yes, no));
	box.setAttribute('role', 'group');
	box.hidden = false;
	box.addEventListener('keydown', ev => { if (ev.key === 'Escape') no.click(); });
	yes.focus();
}

function removeCard(id) {
	const c = state.cards.get(id);
	if (c) {
		const next = c.el.nextElementSibling;
		const hadFocus = c.el.contains(document.activeElement);
		c.el.remove();
		state.cards.delete(id);
		if (hadFocus && next && next.matches('.post'))
			next.focus({ preventScroll: true });
	}
	if (state.feed && state.feed.pending.delete(id))
		paintNewBar();
	paintFeedEnd();
}

/* -------------------------------------------------------------- composer */

function composer(onPosted, { space = null } = {}) {
	const send = h('button', { type: 'submit', class: 'btn' }, t('compose.submit'));
	// Where the post goes: a space's page posts there; the feed picks.
	const pick = space ? null : spaces.picker();
	const form = h('form', { class: 'card composer', 'aria-label': t('compose.label') });
	const box = textBox({ label: t('compose.label'), placeholder: t('compose.placeholder'), rows: 3, value: draftGet('post'), onSubmit: () => form.requestSubmit() });
	box.ta.addEventListener('input', () => draftSet('post', box.ta.value));
	const count = lengthCounter(box.ta, true);
	const err = h('p', { class: 'form-error', role: 'alert' });
	const att = files.composerFiles(form, box.ta, () => (space ? space.id : pick.value) || '');
	form.append(
		h('div', { class: 'composer-main' }, avatar(state.me.handle), box.wrap),
		att.list,
		err,
		h('div', { class: 'composer-foot' }, att.button, att.input, pick, h('span', { class: 'muted small hint-keys' }, t('compose.hint')), count.el, send));
	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		err.textContent = '';
		const ids = att.ids();
		// A post of pictures alone still needs words: their names say enough.
		const text = box.ta.value.trim() || (ids.length ? '📎' : '');
		if (att.busy()) {
			err.textContent = t('files.wait_upload');
			return;
		}
		if (att.mismatch(space ? space.id : pick.value)) {
			err.textContent = t('files.other_space');
			return;
		}
		if (!text) {
			err.textContent = t('compose.empty');
			box.ta.focus();
			return;
		}
		if (count.over()) {
			err.textContent = t('compose.too_long', { max: num(count.max()) });
			box.ta.focus();
			return;
		}
		send.disabled = true;
		send.textContent = t('compose.busy');
		try {
			const where = space ? space.id : pick.value;
			const body = where ? { text, space: where } : { text };
			if (ids.length)
				body.files = ids;
			const post = await api('POST', '/api/posts', body);
			att.clear();
			box.ta.value = '';
			draftSet('post', '');
			box.ta.dispatchEvent(new Event('input'));
			onPosted(post);
			announce(t('compose.done'));
		} catch (e) {
			if (e.status !== 401)
				err.textContent = errorText(e);
		} finally {
			send.disabled = false;
			send.textContent = t('compose.submit');
		}
	});
	return form;
}

/* ------------------------------------------------------------------ feed */

async function viewFeed(main, seq) {
	const list = h('div', { class: 'feed-list' });
	const more = h('button', { type: 'button', class: 'btn btn-quiet more', onclick: () => loadFeedPage() }, t('feed.more'));
	const end = h('p', { class: 'muted center feed-end', role: 'status' });
	const bar = h('button', { type: 'button', class: 'newbar', hidden: true, onclick: () => showPending() });
	const pinned = h('div', { class: 'pinned-wrap' });
	const feed = state.feed = { seq, list, more, end, bar, pinned, view: state.feedView, next: null, done: false, loading: false, pending: new Map() };

	main.append(
		h('h1', { class: 'visually-hidden', tabindex: '-1' }, t('feed.title')),
		notify.feedTabs(feed.view, v => { state.feedView = v; render(false); }),
		pinned,
		composer(post => {
			feed.pending.delete(post.id);
			paintNewBar();
			if (!state.cards.has(post.id)) {
				const c = postCard(post);
				list.prepend(c.el);
				c.el.classList.add('fresh');
			}
			paintFeedEnd();
		}),
		h('div', { class: 'newbar-wrap', 'aria-live': 'polite' }, bar),
		list,
		h('div', { class: 'feed-foot' }, more, end));

	// Endless scrolling: the "older posts" button loads itself when it
	// comes into view; keyboard users can press it.
	const io = new IntersectionObserver(entries => {
		if (entries.some(e => e.isIntersecting))
			loadFeedPage();
	}, { rootMargin: '600px 0px' });
	io.observe(more);
	feed.observer = io;
	await loadFeedPage();
}

async function loadFeedPage() {
	const feed = state.feed;
	if (!feed || feed.loading || feed.done)
		return;
	feed.loading = true;
	feed.more.disabled = true;
	feed.end.textContent = t('feed.loading');
	feed.list.setAttribute('aria-busy', 'true');
	try {
		const q = new URLSearchParams({ limit: String(FEED_PAGE) });
		if (feed.next)
			q.set('before', feed.next);
		if (feed.view !== 'all')
			q.set('view', feed.view);
		const res = await api('GET', `/api/feed?${q}`);
		if (state.feed !== feed)
			return;
		if (!feed.next && res && Array.isArray(res.pinned) && res.pinned.length)
			feed.pinned.replaceChildren(notify.pinnedEl(res.pinned));
		for (const p of res && res.items || [])
			if (!state.cards.has(p.id))
				feed.list.append(postCard(p).el);
		feed.next = res && res.next ? res.next : null;
		feed.done = !feed.next;
	} catch (err) {
		feed.end.textContent = '';
		if (err.status !== 401)
			showError(err);
	} finally {
		feed.loading = false;
		feed.more.disabled = false;
		feed.more.hidden = feed.done;
		feed.list.removeAttribute('aria-busy');
		if (state.feed === feed)
			paintFeedEnd();
	}
	// A short page leaves the button in view: the observer will not fire
	// again, so keep loading while it is visible.
	if (!feed.done && state.feed === feed) {
		const r = feed.more.getBoundingClientRect();
		if (r.top < window.innerHeight + 600)
			setTimeout(loadFeedPage, 0);
	}
}

/* The line under the feed once every post is shown: the end, or that there
 * is nothing yet. A post written or shown from the bar changes which. */
function paintFeedEnd() {
	const feed = state.feed;
	if (feed && !feed.loading)
		feed.end.textContent = feed.done ? (state.cards.size ? t('feed.end') : t('feed.empty')) : '';
}

function paintNewBar() {
	const feed = state.feed;
	if (!feed)
		return;
	const n = feed.pending.size;
	feed.bar.hidden = n === 0;
	feed.bar.replaceChildren(h('span', { 'aria-hidden': 'true', class: 'arrow' }, '↑'), ` ${t('feed.new', { n })}`);
	document.title = n ? `(${n}) ${t('app.name')}` : t('app.name');
}

/* Puts the waiting posts at the top, newest first, and moves there. */
function showPending() {
	const feed = state.feed;
	const posts = [...feed.pending.values()].sort((a, b) => (b.ts || b.created) - (a.ts || a.created));
	feed.pending.clear();
	let first = null;
	for (const p of posts.reverse()) {
		if (state.cards.has(p.id))
			continue;
		const c = postCard(p);
		c.el.classList.add('fresh');
		feed.list.prepend(c.el);
		first = c.el;
	}
	paintNewBar();
	paintFeedEnd();
	window.scrollTo({ top: 0, behavior: 'smooth' });
	if (first)
		first.focus({ preventScroll: true });
}

/* A post seen live: the feed never jumps; it waits behind the bar. */
function livePost(view) {
	const feed = state.feed;
	if (!feed || state.cards.has(view.id) || feed.pending.has(view.id) || !spaces.inMainFeed(view))
		return;
	feed.pending.set(view.id, view);
	paintNewBar();
}

/* ------------------------------------------------------------- post page */

async function viewPost(main, seq, id) {
	main.append(h('p', { class: 'back' }, h('a', { href: '#/' }, `← ${t('post.back')}`)));
	const h1 = h('h1', { class: 'visually-hidden', tabindex: '-1' }, t('post.permalink'));
	main.append(h1);
	if (!/^[0-9a-f]{64}$/.test(id)) {
		main.append(notice(t('post.gone'), 'error'));
		return;
	}
	try {
		const p = await api('GET', `/api/posts/${id}`);
		if (seq !== state.viewSeq)
			return;
		h1.textContent = t('post.by', { name: nameOf(p.author) });
		main.append(postCard(p, { open: true }).el, notify.announceTool(p) || '');
	} catch (err) {
		if (seq !== state.viewSeq || err.status === 401)
			return;
		main.append(notice(err.status === 404 ? t('post.gone') : errorText(err), 'error'));
	}
}

/* ---------------------------------------------------------------- people */

/* Strings someone wrote, each isolated, joined by " · ". */
function joinUser(parts) {
	const out = [];
	for (const x of parts.filter(Boolean)) {
		if (out.length)
			out.push(' · ');
		out.push(uspan(x));
	}
	return out;
}

/* Text folded for matching: case and accents do not count. */
function fold(s) {
	return String(s ?? '').normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/* Where a person works: the site their profile names, else their home
 * site; the home site in brackets when the profile names another place.
 * Without withHome (a card that shows the home site already), only the
 * profile's words. */
function siteText(p, withHome = true) {
	const prof = p.profile || {};
	const home = p.home_site && withHome ? siteName(p.home_site) : '';
	const own = typeof prof.site === 'string' ? prof.site.trim() : '';
	if (!own)
		return home ? [siteEl(p.home_site)] : [];
	return [uspan(own), home && !fold(own).includes(fold(home)) ? h('span', { class: 'muted' }, ' (', siteEl(p.home_site), ')') : null];
}

function personCard(p) {
	const prof = p.profile || {};
	const meta = joinUser([prof.title, prof.department]);
	const where = siteText(p, false);
	if (prof.location)
		where.push(where.length ? ' · ' : '', uspan(prof.location));
	return h('li', { class: 'card person-card' },
		avatar(p.handle, 'large'),
		h('div', { class: 'person-card-body' },
			h('a', { class: 'person-name', href: `#/people/${enc(p.handle)}`, dir: 'auto' }, userText(prof.name || p.handle)),
			h('span', { class: 'muted small' }, `@${p.handle}`,
				p.home_site ? siteEl(p.home_site, { class: 'site-badge', title: t('person.home_site') }) : null),
			meta.length ? h('span', { class: 'person-title' }, meta) : null,
			where.length ? h('span', { class: 'muted small' }, where) : null,
			Array.isArray(prof.skills) && prof.skills.length
				? h('ul', { class: 'chips', 'aria-label': t('person.skills') }, prof.skills.slice(0, 5).map(s => h('li', { class: 'chip', dir: 'auto' }, userText(s))))
				: null));
}

/* The directory's filters (site, department, skill), in the address with
 * the words, so that Back and reload return to them. */
const PEOPLE_FILTERS = ['site', 'department', 'skill'];

async function viewPeople(main, seq, query) {
	const q0 = query.get('q') || '';
	const input = h('input', { type: 'search', id: 'people-q', value: q0, placeholder: t('people.placeholder'), autocomplete: 'off', spellcheck: 'false' });
	const count = h('p', { class: 'muted small', role: 'status' });
	const results = h('ul', { class: 'people-grid' });
	// Sites from the status (every site this one knows, by name); the
	// departments and skills suggested from the people listed so far.
	const siteSel = h('select', { id: 'people-site' }, h('option', { value: '' }, t('people.any_site')));
	const deptList = h('datalist', { id: uid('dept') }), skillList = h('datalist', { id: uid('skill') });
	const dept = h('input', { type: 'text', id: 'people-dept', list: deptList.id, autocomplete: 'off', value: query.get('department') || '' });
	const skill = h('input', { type: 'text', id: 'people-skill', list: skillList.id, autocomplete: 'off', value: query.get('skill') || '' });
	const clear = h('button', { type: 'button', class: 'btn btn-quiet', hidden: true }, t('people.clear'));
	const controls = { site: siteSel, department: dept, skill };
	const seenDept = new Map(), seenSkill = new Map();
	function fillSites() {
		const s = state.status || {};
		const ids = new Set([s.site, ...(Array.isArray(s.sites) ? s.sites.map(x => x.site) : [])].filter(Boolean));
		const want = siteSel.value || query.get('site') || '';
		if (want)
			ids.add(want);
		const opts = [...ids].map(id => ({ id, name: siteName(id) })).sort((a, b) => a.name.localeCompare(b.name, lang()));
		siteSel.replaceChildren(h('option', { value: '' }, t('people.any_site')), ...opts.map(o => h('option', { value: o.id, dir: 'auto' }, o.name)));
		siteSel.value = want;
	}
	function suggest(items) {
		for (const p of items) {
			const prof = p.profile || {};
			if (typeof prof.department === 'string' && prof.department.trim())
				seenDept.set(fold(prof.department.trim()), prof.department.trim());
			for (const k of Array.isArray(prof.skills) ? prof.skills : [])
				if (typeof k === 'string' && k.trim())
					seenSkill.set(fold(k.trim()), k.trim());
		}
		const opts = m => [...m.values()].sort((a, b) => a.localeCompare(b, lang())).slice(0, 200).map(v => h('option', { value: v }));
		deptList.replaceChildren(...opts(seenDept));
		skillList.replaceChildren(...opts(seenSkill));
	}
	fillSites();
	main.append(
		h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, t('people.title'))),
		h('form', { class: 'search', role: 'search', onsubmit: ev => { ev.preventDefault(); run(); } },
			field(t('people.search'), input, t('people.all_sites')),
			h('fieldset', { class: 'people-filters' },
				h('legend', { class: 'visually-hidden' }, t('people.filters')),
				field(t('people.site'), siteSel),
				field(t('people.department'), dept),
				field(t('people.skill'), skill),
				h('div', { class: 'field people-clear' }, clear)),
			deptList, skillList),
		count,
		results);

	let timer = 0, runSeq = 0;
	async function run() {
		const q = input.value.trim();
		const mine = ++runSeq;
		const args = new URLSearchParams();
		if (q)
			args.set('q', q);
		for (const k of PEOPLE_FILTERS) {
			const v = controls[k].value.trim();
			if (v)
				args.set(k, v);
		}
		const filtered = PEOPLE_FILTERS.some(k => args.has(k));
		clear.hidden = !filtered;
		// Keep the search in the address so Back and reload return to it.
		const want = args.toString() ? `#/people?${args}` : '#/people';
		if (location.hash !== want)
			history.replaceState(null, '', want);
		count.textContent = t('people.loading');
		try {
			args.set('limit', PEOPLE_MAX);
			const res = await api('GET', `/api/people?${args}`);
			if (mine !== runSeq || seq !== state.viewSeq)
				return;
			const items = (res && res.items || []).filter(p => !p.disabled);
			items.forEach(rememberPerson);
			suggest(items);
			items.sort((a, b) => nameOf(a.handle).localeCompare(nameOf(b.handle), lang()));
			results.replaceChildren(...items.map(personCard));
			count.textContent = items.length ? t('people.count', { n: items.length })
				: q ? t('people.none', { q }) : filtered ? t('people.none_filtered') : t('people.count', { n: 0 });
			if (res && res.items && res.items.length >= PEOPLE_MAX)
				count.textContent += ` ${t('people.more')}`;
		} catch (err) {
			if (mine === runSeq && err.status !== 401) {
				count.textContent = '';
				showError(err);
			}
		}
	}
	function later() {
		clearTimeout(timer);
		timer = setTimeout(run, 250);
	}
	input.addEventListener('input', later);
	dept.addEventListener('input', later);
	skill.addEventListener('input', later);
	siteSel.addEventListener('change', run);
	clear.addEventListener('click', () => {
		siteSel.value = '';
		dept.value = '';
		skill.value = '';
		run();
		input.focus();
	});
	// The status may come after the page: its sites then fill the list.
	if (!state.status)
		api('GET', '/api/status', null, { quiet401: true }).then(s => {
			if (s && seq === state.viewSeq) {
				state.status = s;
				fillSites();
			}
		}).catch(() => {});
	await run();
}

function profileRow(label, value) {
	if (!value)
		return null;
	return h('div', { class: 'dl-row' }, h('dt', {}, label), h('dd', {}, value));
}

async function viewPerson(main, seq, handle) {
	let p;
	try {
		p = await api('GET', `/api/people/${enc(handle)}`);
	} catch (err) {
		if (seq !== state.viewSeq || err.status === 401)
			return;
		main.append(h('h1', { tabindex: '-1' }, handle),
			notice(err.status === 404 ? t('person.not_found', { handle }) : errorText(err), 'error'));
		return;
	}
	if (seq !== state.viewSeq)
		return;
	rememberPerson(p);
	const prof = p.profile || {};
	const mine = state.me.handle === p.handle;
	const phone = typeof prof.phone === 'string' && prof.phone.trim()
		? h('a', { href: `tel:${prof.phone.replace(/[^\d+]/g, '')}`, dir: 'auto' }, userText(prof.phone)) : null;
	const skills = Array.isArray(prof.skills) ? prof.skills.filter(s => typeof s === 'string' && s) : [];

	main.append(h('section', { class: 'card profile' },
		h('div', { class: 'profile-top' },
			avatar(p.handle, 'huge'),
			h('div', { class: 'profile-id' },
				h('h1', { tabindex: '-1', dir: 'auto' }, userText(prof.name || p.handle)),
				[prof.title, prof.department].some(Boolean) ? h('p', { class: 'person-title' }, joinUser([prof.title, prof.department])) : null,
				h('p', { class: 'muted' }, `@${p.handle}`,
					p.role === 'admin' ? h('span', { class: 'badge' }, t('person.admin')) : null)),
			mine ? h('div', { class: 'profile-actions' }, h('a', { class: 'btn btn-quiet', href: '#/profile' }, t('person.edit')),
				files.photoButton(person => { rememberPerson(person); refreshNames(); }))
				: notify.followButton(p.handle)),
		p.disabled ? notice(t('person.disabled'), 'warn') : null,
		h('dl', { class: 'profile-facts' },
			// One row for where they work: the profile's words, with the
			// home site when it names another place.
			profileRow(t('field.site'), siteText(p).length ? siteText(p) : null),
			profileRow(t('field.location'), prof.location ? uspan(prof.location) : null),
			profileRow(t('field.phone'), phone)),
		skills.length ? h('div', { class: 'profile-block' }, h('h2', {}, t('person.skills')),
			h('ul', { class: 'chips' }, skills.map(s => h('li', { class: 'chip', dir: 'auto' }, userText(s))))) : null,
		prof.bio ? h('div', { class: 'profile-block' }, h('h2', {}, t('person.about')), h('p', { class: 'bio', dir: 'auto' }, richText(prof.bio))) : null,
		spaces.ofPerson(p),
		p.updated ? h('p', { class: 'muted small' }, t('person.updated', { when: relTime(toMs(p.updated)) })) : null));

	const posts = Array.isArray(p.posts) ? p.posts : [];
	main.append(h('h2', { class: 'section-title' }, t('person.posts')));
	if (!posts.length)
		main.append(h('p', { class: 'muted' }, t('person.no_posts')));
	const list = h('div', { class: 'feed-list' });
	for (const post of posts)
		list.append(postCard(post).el);
	main.append(list);
}

/* --------------------------------------------------------- profile edit */

async function viewProfileEdit(main, seq) {
	main.append(h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, t('profile.title'))));
	let p;
	try {
		p = await api('GET', `/api/people/${enc(state.me.handle)}`);
	} catch (err) {
		if (seq === state.viewSeq && err.status !== 401)
			main.append(notice(errorText(err), 'error'));
		return;
	}
	if (seq !== state.viewSeq)
		return;
	const prof = p.profile || {};
	const inputs = {};
	const auto = { name: 'name', title: 'organization-title', phone: 'tel', department: 'off', site: 'off', location: 'off' };
	for (const f of PROFILE_FIELDS)
		inputs[f] = h('input', { type: f === 'phone' ? 'tel' : 'text', name: f, value: typeof prof[f] === 'string' ? prof[f] : '', autocomplete: auto[f], maxlength: 200 });
	inputs.skills = h('input', { type: 'text', name: 'skills', value: Array.isArray(prof.skills) ? prof.skills.join(', ') : '', maxlength: 1000 });
	inputs.bio = h('textarea', { name: 'bio', rows: 5, maxlength: 2000 });
	inputs.bio.value = typeof prof.bio === 'string' ? prof.bio : '';

	const save = h('button', { type: 'submit', class: 'btn' }, t('profile.save'));
	const msg = h('p', { class: 'form-msg', role: 'status' });
	const form = h('form', { class: 'card form profile-form' },
		h('div', { class: 'grid-2' },
			PROFILE_FIELDS.map(f => field(t(`field.${f}`), inputs[f]))),
		field(t('field.skills'), inputs.skills, t('field.skills_hint')),
		field(t('field.bio'), inputs.bio, t('field.bio_hint')),
		h('div', { class: 'form-row' }, save, h('a', { href: `#/people/${enc(state.me.handle)}`, class: 'btn btn-quiet' }, t('profile.view'))),
		msg);
	main.append(form, passwordCard());

	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		msg.textContent = '';
		const change = {};
		for (const f of PROFILE_FIELDS.concat('bio')) {
			const v = inputs[f].value.trim();
			if (v !== (typeof prof[f] === 'string' ? prof[f] : ''))
				change[f] = v;
		}
		const skills = inputs.skills.value.split(',').map(s => s.trim()).filter(Boolean);
		if (skills.join('\n') !== (Array.isArray(prof.skills) ? prof.skills.join('\n') : ''))
			change.skills = skills;
		if (!Object.keys(change).length) {
			msg.textContent = t('profile.unchanged');
			return;
		}
		save.disabled = true;
		save.textContent = t('profile.busy');
		try {
			const np = await api('PUT', '/api/profile', change);
			if (np && np.handle) {
				rememberPerson(np);
				Object.assign(prof, np.profile || {});
			} else {
				Object.assign(prof, change);
			}
			refreshNames();
			msg.textContent = t('profile.saved');
			announce(t('profile.saved'));
		} catch (err) {
			if (err.status !== 401) {
				msg.textContent = errorText(err);
				msg.setAttribute('role', 'alert');
			}
		} finally {
			save.disabled = false;
			save.textContent = t('profile.save');
		}
	});
}

/* A person changes their own password (POST /api/me/password): the same
 * key sealed under the new one, so nothing they wrote changes. */
function passwordCard() {
	const input = (name, auto) => h('input', { type: 'password', name, autocomplete: auto, required: true, maxlength: 1024 });
	const old = input('current-password', 'current-password');
	const pw = input('new-password', 'new-password');
	const again = input('new-password-again', 'new-password');
	pw.minLength = 8;
	const save = h('button', { type: 'submit', class: 'btn' }, t('password.save'));
	const msg = h('p', { class: 'form-msg', role: 'status' });
	const form = h('form', { class: 'card form password-form' },
		h('h2', {}, t('password.title')),
		// For password managers: whose password this is.
		h('input', { type: 'text', name: 'username', autocomplete: 'username', value: state.me.handle, hidden: true }),
		field(t('password.current'), old),
		field(t('password.new'), pw, t('password.new_hint')),
		field(t('password.confirm'), again),
		h('div', { class: 'form-row' }, save),
		msg);
	const say = (text, error) => {
		msg.textContent = text;
		msg.setAttribute('role', error ? 'alert' : 'status');
	};
	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		say('', false);
		if (pw.value !== again.value) {
			say(t('password.mismatch'), true);
			again.focus();
			return;
		}
		save.disabled = true;
		save.textContent = t('password.busy');
		try {
			await api('POST', '/api/me/password', { old: old.value, new: pw.value });
			form.reset();
			say(t('password.done'), false);
			announce(t('password.done'));
		} catch (err) {
			const bad = err.data && err.data.field;
			if (err.status === 403 && bad === 'old') {
				say(t('password.wrong'), true);
				old.focus();
			} else if (err.status === 400 && bad === 'new') {
				say(t('password.short'), true);
				pw.focus();
			} else if (err.status === 429) {
				say(t('password.wait', { s: (err.data && err.data.retry_after) || 60 }), true);
			} else if (err.status !== 401) {
				say(errorText(err), true);
			}
		} finally {
			save.disabled = false;
			save.textContent = t('password.save');
		}
	});
	return form;
}

/* -------------------------------------------------------- connectivity */

/* The name staff read for a site id: its certificate's title, from the
 * last /api/status (the id until it comes, or when there is none). */
function siteName(id) {
	const s = state.status;
	const x = s && Array.isArray(s.sites) ? s.sites.find(y => y.site === id) : null;
	return (x && x.title) || id || '';
}

/* An element showing a site's name, renamed when the status arrives. A
 * title is words site IT typed: isolated, its overrides shown, as any text
 * someone wrote (userText). */
function siteEl(id, attrs = {}) {
	const name = siteName(id);
	return h('bdi', { ...attrs, 'data-site-of': id, 'data-site-name': name }, userText(name));
}

function paintSiteNames() {
	for (const el of document.querySelectorAll('[data-site-of]')) {
		const name = siteName(el.dataset.siteOf);
		if (el.dataset.siteName !== name) {
			el.dataset.siteName = name;
			el.replaceChildren(userText(name));
		}
	}
}

/* A peer whose certificate is revoked (or expired): nothing will reach it
 * again, which is no outage. */
function peerRevoked(p) {
	return p.state === 'revoked' || p.state === 'expired';
}

/* The peers that count for connectivity: not the revoked ones. */
function livePeers(s) {
	return (s && Array.isArray(s.peers) ? s.peers : []).filter(p => !peerRevoked(p));
}

/* What the header indicator says, from the last /api/status. */
function connSummary() {
	const s = state.status;
	if (state.serverDown)
		return { cls: 'offline', short: t('conn.offline'), long: t('conn.offline_long') };
	if (!s)
		return { cls: 'checking', short: t('conn.checking'), long: t('conn.checking') };
	if (s.revoked)
		return { cls: 'revoked', short: t('conn.self_revoked'), long: t('conn.self_revoked_long') };
	const peers = livePeers(s);
	if (!peers.length)
		return { cls: 'lone', short: t('conn.lone'), long: t('conn.lone_long') };
	const down = peers.filter(p => !p.connected);
	if (down.length)
		return { cls: 'down', short: t('conn.down', { n: down.length }), long: t('conn.down_long', { sites: down.map(p => siteName(p.site)).join(', ') }) };
	const backlog = peers.reduce((a, p) => a + (Number(p.to_send) || 0) + (Number(p.to_receive) || 0), 0);
	if (backlog > 0)
		return { cls: 'sync', short: t('conn.syncing'), long: t('conn.syncing_long', { n: backlog }) };
	return { cls: 'ok', short: t('conn.ok'), narrow: t('conn.ok_narrow'), long: t('conn.ok_long', { n: peers.length }) };
}

/* The indicator, and the site's name beside the brand: both follow the
 * status polls (the first answer comes after the header is drawn). */
function paintConn() {
	const el = document.getElementById('conn');
	const site = document.getElementById('brand-site');
	if (site) {
		const name = state.status && state.status.site ? siteName(state.status.site) : '';
		site.replaceChildren(userText(name));
		site.hidden = !name;
	}
	if (!el)
		return;
	const c = connSummary();
	el.className = `conn conn-${c.cls}`;
	el.title = c.long;
	// The accessible name starts with the visible words (WCAG "label in name").
	el.setAttribute('aria-label', t('conn.details', { short: c.short, state: c.long }));
	el.dataset.state = c.cls;
	// A phone shows the narrow words when there are any (style.css): the
	// long ones were cut ("Tous les sites joignabl…").
	el.replaceChildren(h('span', { class: 'dot', 'aria-hidden': 'true' }),
		h('span', { class: c.narrow ? 'conn-text conn-wide' : 'conn-text' }, c.short),
		...(c.narrow ? [h('span', { class: 'conn-text conn-narrow', 'aria-hidden': 'true' }, c.narrow)] : []));
	paintOutage();
}

/* The plain-words banner shown on every page during an outage. */
function paintOutage() {
	const el = document.getElementById('outage');
	if (!el || !state.me)
		return;
	const s = state.status;
	const down = livePeers(s).filter(p => !p.connected);
	let text = '';
	if (state.serverDown) {
		text = t('outage.server');
	} else if (s && s.revoked) {
		text = t('outage.self_revoked');
	} else if (down.length === 1) {
		const since = peerTime(down[0], 'since');
		const name = siteName(down[0].site);
		text = `${since ? t('outage.one', { sites: name, when: clockTime(since) }) : t('outage.many', { sites: name })} ${t('outage.keep')}`;
	} else if (down.length > 1) {
		text = `${t('outage.many', { sites: down.map(p => siteName(p.site)).join(', ') })} ${t('outage.keep')}`;
	}
	if (el.textContent !== text)
		el.textContent = text;
	el.hidden = !text;
	el.classList.toggle('outage-server', state.serverDown || Boolean(s && s.revoked));
}

async function pollStatus() {
	clearTimeout(state.pollTimer);
	if (state.polling)
		return;
	state.polling = true;
	try {
		state.status = await api('GET', '/api/status', null, { quiet401: true });
		state.serverDown = false;
	} catch (err) {
		state.serverDown = err.status === 0 || err.status >= 500;
	} finally {
		state.polling = false;
	}
	paintConn();
	paintSiteNames();
	if (state.view === 'status')
		paintStatus();
	if (state.me)
		state.pollTimer = setTimeout(pollStatus, STATUS_EVERY_MS);
}

/* --------------------------------------------------------- status page */

function viewStatus(main) {
	main.append(h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, t('status.title')),
		h('p', { class: 'muted small' }, t('status.updated'))),
	h('div', { id: 'status-body' }));
	paintStatus();
	pollStatus();
}

function statRow(label, value) {
	return h('div', { class: 'dl-row' }, h('dt', {}, label), h('dd', {}, value));
}

function peerState(p) {
	const since = peerTime(p, 'since');
	if (peerRevoked(p))
		return { cls: 'revoked', text: t(p.state === 'expired' ? 'status.expired' : 'status.revoked') };
	if (p.connected)
		return { cls: 'ok', text: since ? t('status.connected_since', { when: clockTime(since) }) : t('status.connected') };
	if (p.state === 'refused')
		return { cls: 'down', text: t('status.refused') };
	if (!since && !peerTime(p, 'last_exchange'))
		return { cls: 'down', text: t('status.never') };
	return { cls: 'down', text: since ? t('status.disconnected_since', { when: clockTime(since) }) : t('status.disconnected') };
}

/* A site's heading: its name, and its id beside it when they differ. */
function siteHeading(tag, id, attrs) {
	const name = siteName(id);
	return h(tag, attrs, name, name !== id ? h('span', { class: 'site-id muted small' }, id) : null);
}

/* Draws the sites page: this site first, then each peer, like a device list. */
function paintStatus() {
	const body = document.getElementById('status-body');
	if (!body)
		return;
	const s = state.status;
	if (state.serverDown) {
		body.replaceChildren(notice(t('status.unreachable'), 'error'));
		return;
	}
	if (!s) {
		body.replaceChildren(h('p', { class: 'muted' }, t('app.loading')));
		return;
	}
	const peers = Array.isArray(s.peers) ? s.peers : [];
	const live = livePeers(s);
	const down = live.filter(p => !p.connected);
	const revoked = peers.length - live.length;
	const backlog = live.reduce((a, p) => a + (Number(p.to_send) || 0) + (Number(p.to_receive) || 0), 0);
	let summary;
	if (s.revoked)
		summary = notice(t('status.self_revoked'), 'error');
	else if (!live.length)
		summary = notice(t('status.lone'));
	else if (down.length)
		summary = h('div', { class: 'notice notice-warn' }, h('p', {}, t('status.some_down', { n: down.length })), h('p', {}, t('status.keeps_working')));
	else
		summary = notice(`${t('status.all_ok', { n: live.length })}${backlog ? ` ${t('status.draining', { n: backlog })}` : ''}`, 'ok');
	const revokedNote = revoked && !s.revoked ? notice(t('status.some_revoked', { n: revoked })) : null;

	const self = h('section', { class: `card site site-self${s.revoked ? ' site-revoked' : ''}`, 'aria-labelledby': 'site-self-name' },
		h('header', { class: 'site-head' },
			h('span', { class: `dot ${s.revoked ? 'dot-revoked' : 'dot-self'}`, 'aria-hidden': 'true' }),
			s.site ? siteHeading('h2', s.site, { id: 'site-self-name' }) : h('h2', { id: 'site-self-name' }, '—'),
			h('span', { class: `site-state ${s.revoked ? 'state-revoked' : 'state-self'}` }, s.revoked ? t('status.revoked') : t('status.local'))),
		h('dl', { class: 'site-facts' },
			statRow(t('status.version'), s.version || '—'),
			statRow(t('status.uptime'), duration(s.uptime_s)),
			statRow(t('status.events'), num(s.events)),
			statRow(t('status.posts'), num(s.posts)),
			statRow(t('status.users'), num(s.users)),
			statRow(t('status.pending'), num(s.pending)),
			statRow(t('status.sessions'), num(s.sessions))));

	// Outages first, then the sites reachable, the revoked ones last.
	const rank = p => peerRevoked(p) ? 2 : p.connected ? 1 : 0;
	const peerCards = peers.slice().sort((a, b) => rank(a) - rank(b) || siteName(a.site).localeCompare(siteName(b.site)))
		.map(p => {
			const st = peerState(p);
			const nameId = uid('site');
			const last = peerTime(p, 'last_exchange');
			return h('section', { class: `card site site-${st.cls}`, 'aria-labelledby': nameId, 'data-site': p.site },
				h('header', { class: 'site-head' },
					h('span', { class: `dot dot-${st.cls}`, 'aria-hidden': 'true' }),
					siteHeading('h3', p.site, { id: nameId }),
					h('span', { class: `site-state state-${st.cls}` }, st.text)),
				h('dl', { class: 'site-facts' },
					statRow(t('status.last'), last ? timeEl(last) : t('status.never_exchanged')),
					statRow(t('status.to_send'), num(p.to_send)),
					statRow(t('status.to_receive'), num(p.to_receive)),
					statRow(t('status.sent'), num(p.sent)),
					statRow(t('status.received'), num(p.received))));
		});

	body.replaceChildren(summary, ...(revokedNote ? [revokedNote] : []), self);
	if (peers.length)
		body.append(h('h2', { class: 'section-title' }, t('status.peers')), ...peerCards);
}

/* --------------------------------------------------------------- figures */

const FIGURE_PERIODS = [7, 30, 90, 365];

/* A table of figures: head labels, then rows of cells; the first column
 * names the row, the next labels - 1 columns are words too (left-aligned,
 * as "On posts of" is a site), the others numbers (right-aligned). On a
 * phone each row is shown as a block of labelled numbers. */
function figureTable(caption, head, rows, foot, labels = 1) {
	// data-label: on a phone each row is a block whose cells name themselves (style.css).
	const cell = (v, i) => i === 0 ? h('th', { scope: 'row' }, v) : h('td', { class: i < labels ? 'w' : 'n', 'data-label': head[i] }, v);
	return h('div', { class: 'table-wrap' }, h('table', { class: 'figures' },
		h('caption', { class: 'visually-hidden' }, caption),
		h('thead', {}, h('tr', {}, head.map((x, i) => h('th', i >= labels ? { scope: 'col', class: 'n' } : { scope: 'col' }, x)))),
		h('tbody', {}, rows.map(r => h('tr', {}, r.map(cell)))),
		foot ? h('tfoot', {}, h('tr', {}, foot.map(cell))) : null));
}

/* A bar as long as share (0..1) of its cell; width through the CSSOM (the
 * page's CSP allows no inline style attribute). */
function bar(share) {
	const el = h('span', { class: 'bar', 'aria-hidden': 'true' });
	el.style.width = `${Math.round(100 * Math.min(1, Math.max(0, share)))}%`;
	el.hidden = !(share > 0);
	return el;
}

/* Adoption and exchange between sites, for management: GET /api/figures. */
async function viewFigures(main, seq, query) {
	let days = Number(query.get('days'));
	if (!FIGURE_PERIODS.includes(days))
		days = 30;
	const body = h('div', { class: 'figures-body', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('app.loading')));
	const periods = h('div', { class: 'segmented', role: 'group', 'aria-label': t('figures.period') },
		FIGURE_PERIODS.map(d => h('a', { class: 'seg', href: `#/figures?days=${d}`, 'aria-current': d === days ? 'true' : null }, t('figures.days', { n: d }))));
	main.append(h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, t('figures.title')),
		h('p', { class: 'muted small' }, t('figures.intro'))), periods, body);
	let f;
	try {
		f = await api('GET', `/api/figures?days=${days}`);
	} catch (err) {
		if (seq === state.viewSeq && err.status !== 401)
			body.replaceChildren(notice(errorText(err), 'error'));
		return;
	}
	if (seq !== state.viewSeq)
		return;
	const sites = Array.isArray(f.sites) ? f.sites : [];
	const share = (a, s) => s > 0 ? `${Math.round(100 * a / s)} %` : '—';
	const sum = k => sites.reduce((a, x) => a + (Number(x[k]) || 0), 0);
	const adoption = figureTable(t('figures.adoption'),
		[t('figures.site'), t('figures.staff'), t('figures.active'), t('figures.share'), t('figures.posts'), t('figures.comments'), t('figures.reactions')],
		sites.map(x => [siteEl(x.site), num(x.staff), num(x.active), share(x.active, x.staff), num(x.posts), num(x.comments), num(x.reactions)]),
		sites.length > 1 ? [t('figures.total'), num(sum('staff')), num(sum('active')), share(sum('active'), sum('staff')), num(sum('posts')), num(sum('comments')), num(sum('reactions'))] : null);
	const pairs = Array.isArray(f.exchange) ? f.exchange : [];
	const exchange = pairs.length
		? figureTable(t('figures.exchange'), [t('figures.from'), t('figures.to'), t('figures.comments'), t('figures.reactions')],
			pairs.map(x => [siteEl(x.from), siteEl(x.to), num(x.comments), num(x.reactions)]), null, 2)
		: h('p', { class: 'muted' }, t('figures.no_exchange'));
	const weeks = Array.isArray(f.weeks) ? f.weeks : [];
	const most = Math.max(1, ...weeks.map(w => Number(w.active) || 0));
	const weekEnd = i => i + 1 < weeks.length ? weeks[i + 1].start - 1 : f.to;
	// A period across the new year (a year of weeks always is), or in
	// another year, dates every week with its year: "12 Nov" alone did not
	// say which November.
	const years = new Set(weeks.map((w, i) => new Date(weekEnd(i)).getFullYear()));
	const withYear = years.size > 1 || !years.has(new Date().getFullYear());
	const weekFmt = { day: 'numeric', month: 'short', year: withYear ? 'numeric' : undefined };
	const byWeek = figureTable(t('figures.by_week'),
		[t('figures.week_to'), t('figures.active'), t('figures.posts'), t('figures.comments'), t('figures.reactions')],
		weeks.map((w, i) => [new Date(weekEnd(i)).toLocaleDateString(lang(), weekFmt),
			h('span', { class: 'bar-cell' }, bar((Number(w.active) || 0) / most), num(w.active)),
			num(w.posts), num(w.comments), num(w.reactions)]));
	// Per space: a private space the reader does not share is counted, not named.
	const spaces = Array.isArray(f.spaces) ? f.spaces : [];
	const spaceName = x => x.site ? t('figures.site_space', { site: x.site })
		: x.hidden || x.name == null ? t('figures.space_hidden') : x.name;
	const spaceCell = x => x.hidden ? h('span', { class: 'muted' }, spaceName(x))
		: h('a', { href: `#/space/${x.id}`, dir: 'auto' }, spaceName(x));
	const bySpace = figureTable(t('figures.spaces'),
		[t('figures.space'), t('figures.members'), t('figures.posts'), t('figures.posts_period'), t('figures.comments'), t('figures.active')],
		spaces.map(x => [spaceCell(x), x.members == null ? '—' : num(x.members), num(x.posts), num(x.posts_recent), x.comments == null ? '—' : num(x.comments), num(x.active_members)]));
	// The same tables as one CSV file, for a spreadsheet.
	const rows = [
		[t('figures.site'), t('figures.staff'), t('figures.active'), t('figures.posts'), t('figures.comments'), t('figures.reactions')],
		...sites.map(x => [x.site, x.staff, x.active, x.posts, x.comments, x.reactions]),
		[],
		[t('figures.from'), t('figures.to'), t('figures.comments'), t('figures.reactions')],
		...pairs.map(x => [x.from, x.to, x.comments, x.reactions]),
		[],
		[t('figures.week_to'), t('figures.active'), t('figures.posts'), t('figures.comments'), t('figures.reactions')],
		...weeks.map((w, i) => [new Date(weekEnd(i)).toISOString().slice(0, 10), w.active, w.posts, w.comments, w.reactions]),
		[],
		[t('figures.space'), t('figures.members'), t('figures.posts'), t('figures.posts_period'), t('figures.comments'), t('figures.active')],
		...spaces.map(x => [spaceName(x), x.members == null ? '' : x.members, x.posts, x.posts_recent, x.comments == null ? '' : x.comments, x.active_members]),
	];
	const csv = csvText(rows, ',');
	const file = `comptoir-figures-${days}d-${new Date(f.to).toISOString().slice(0, 10)}.csv`;
	for (const u of state.figuresUrls || [])
		URL.revokeObjectURL(u); // the previous page's files
	const csvUrl = text => URL.createObjectURL(new Blob(['\ufeff', text, '\r\n'], { type: 'text/csv' }));
	state.figuresUrls = [csvUrl(csv), csvUrl(csvText(rows, ';'))];
	const download = h('a', { class: 'btn btn-small btn-quiet', download: file, href: state.figuresUrls[0] }, t('figures.csv'));
	const downloadFr = h('a', { class: 'btn btn-small btn-quiet', download: file.replace('.csv', '-fr.csv'), href: state.figuresUrls[1] }, t('figures.csv_semicolon'));
	periods.append(download, downloadFr);
	body.replaceChildren(
		h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-adoption' }, h('h2', { id: 'fig-adoption' }, t('figures.adoption')),
			h('p', { class: 'muted small' }, t('figures.adoption_hint')), sites.length ? adoption : h('p', { class: 'muted' }, t('figures.none'))),
		h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-exchange' }, h('h2', { id: 'fig-exchange' }, t('figures.exchange')),
			h('p', { class: 'muted small' }, t('figures.exchange_hint')), exchange),
		h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-weeks' }, h('h2', { id: 'fig-weeks' }, t('figures.by_week')), byWeek),
		h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-spaces' }, h('h2', { id: 'fig-spaces' }, t('figures.spaces')),
			h('p', { class: 'muted small' }, t('figures.spaces_hint')), spaces.length ? bySpace : h('p', { class: 'muted' }, t('figures.no_spaces'))),
		// Charts and the workbook (reports.js).
		h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-chart-adoption' }, h('h2', { id: 'fig-chart-adoption' }, t('figures.chart_adoption')), adoptionChart(f)),
		h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-heat' }, h('h2', { id: 'fig-heat' }, t('figures.heat')),
			h('p', { class: 'muted small' }, t('figures.exchange_hint')), exchangeHeat(f)),
		h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-workbook' }, h('h2', { id: 'fig-workbook' }, t('figures.workbook_title')),
			h('p', { class: 'muted small' }, t('figures.workbook_hint')), workbookForm(h, f)));
}

/* ----------------------------------------------------------------- admin */

/* A one-time password, selectable and copyable. */
function secretBox(label, password) {
	const out = h('input', { type: 'text', readonly: true, value: password, class: 'secret', 'aria-label': label, spellcheck: 'false' });
	const copied = h('span', { class: 'muted small', role: 'status' });
	const copy = h('button', {
		type: 'button', class: 'btn btn-small btn-quiet', onclick: async () => {
			out.select();
			try {
				await navigator.clipboard.writeText(password);
			} catch {
				document.execCommand('copy'); // plain http on a LAN has no clipboard API
			}
			copied.textContent = t('admin.copied');
		},
	}, t('admin.copy'));
	const box = h('div', { class: 'notice notice-ok secret-box', role: 'alert' }, h('p', {}, label), h('div', { class: 'form-row' }, out, copy, copied));
	setTimeout(() => out.select(), 0);
	return box;
}

/* The users of this site: find, add, rename, make admin or member, reset a
 * password, disable and enable. What an action asks or answers (a
 * confirmation, a new password, an error) opens in a row right under the
 * user's row, where the admin is looking, on a phone too. */
async function viewAdmin(main, seq) {
	main.append(h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, t('admin.title'))));
	const search = h('input', { type: 'search', id: 'admin-q', autocomplete: 'off', spellcheck: 'false', placeholder: t('admin.search_placeholder') });
	const count = h('p', { class: 'muted small', role: 'status' });
	const table = h('div', { class: 'admin-users' });
	let users = [];
	let after = null; // {handle, node}: shown under a row once the list is drawn again

	async function load() {
		let res;
		try {
			res = await api('GET', '/api/admin/users');
		} catch (err) {
			if (seq !== state.viewSeq || err.status === 401)
				return false;
			table.replaceChildren(notice(err.status === 404 || err.status === 405 ? t('admin.missing') : err.status === 403 ? t('admin.forbidden') : errorText(err), err.status === 404 ? 'warn' : 'error'));
			return false;
		}
		if (seq !== state.viewSeq)
			return false;
		users = res && Array.isArray(res.items) ? res.items : [];
		paint();
		return true;
	}

	function paint() {
		const q = fold(search.value.trim());
		const shown = users.filter(u => !q || fold(u.handle).includes(q) || fold(u.name).includes(q));
		count.textContent = q ? t('admin.shown', { n: shown.length, total: users.length }) : '';
		if (!users.length) {
			table.replaceChildren(h('p', { class: 'muted' }, t('admin.none')));
			return;
		}
		const rows = shown.map(userRows);
		table.replaceChildren(h('table', { class: 'users' },
			h('thead', {}, h('tr', {},
				h('th', { scope: 'col' }, t('admin.handle')), h('th', { scope: 'col' }, t('admin.name')),
				h('th', { scope: 'col' }, t('admin.role')), h('th', { scope: 'col' }, t('admin.state')),
				h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, t('admin.actions'))))),
			h('tbody', {}, rows.flat())));
		if (after) {
			const row = rows.find(([r]) => r.dataset.handle === after.handle);
			if (row)
				openPanel(row[0], after.node);
			after = null;
		}
	}
	search.addEventListener('input', paint);

	/* A user's row and the row under it for what an action asks or answers. */
	function userRows(u) {
		const me = u.handle === state.me.handle;
		// The buttons in a box of their own: a flex td is no table cell, and
		// its border did not line up with the row's.
		const actions = h('div', { class: 'row-actions' });
		const panel = h('tr', { class: 'row-panel', hidden: true }, h('td', { colspan: 5 }));
		const row = h('tr', { class: u.disabled ? 'is-disabled' : '', 'data-handle': u.handle },
			h('td', { 'data-label': t('admin.handle') }, h('a', { href: `#/people/${enc(u.handle)}` }, u.handle)),
			h('td', { 'data-label': t('admin.name'), dir: 'auto' }, userText(u.name || '')),
			h('td', { 'data-label': t('admin.role') }, u.role === 'admin' ? t('admin.role_admin') : u.role === 'management' ? t('admin.role_management') : t('admin.role_member')),
			h('td', { 'data-label': t('admin.state') }, h('span', { class: u.disabled ? 'tag tag-off' : 'tag tag-on' }, u.disabled ? t('admin.disabled') : t('admin.active'))),
			h('td', { class: 'actions', 'data-label': t('admin.actions') }, actions));
		row.panel = panel;
		const button = (label, cls, fn) => h('button', { type: 'button', class: `btn btn-small ${cls}`, onclick: ev => fn(ev.currentTarget) }, label);
		if (u.disabled) {
			actions.append(button(t('admin.enable'), 'btn-quiet', b => confirmThen(row, b, t('admin.enable_confirm', { handle: u.handle }), async () => {
				const r = await api('POST', `/api/admin/users/${enc(u.handle)}/enable`);
				after = { handle: u.handle, node: secretBox(t('admin.enable_done', { handle: u.handle }), r && r.password || '') };
				await load();
			})));
		} else {
			actions.append(
				button(t('admin.edit'), 'btn-quiet', b => editUser(row, b, u)),
				button(t('admin.reset'), 'btn-quiet', b => confirmThen(row, b, t('admin.reset_confirm', { handle: u.handle }), async () => {
					const r = await api('POST', `/api/admin/users/${enc(u.handle)}/password`);
					openPanel(row, secretBox(t('admin.reset_done', { handle: u.handle }), r && r.password || ''));
				})));
			if (!me)
				actions.append(button(t('admin.disable'), 'btn-danger-quiet', b => confirmThen(row, b, t('admin.disable_confirm', { handle: u.handle }), async () => {
					await api('POST', `/api/admin/users/${enc(u.handle)}/disable`);
					after = { handle: u.handle, node: notice(t('admin.disabled_done', { handle: u.handle }), 'ok') };
					await load();
				})));
		}
		return [row, panel];
	}

	function openPanel(row, ...kids) {
		row.panel.firstChild.replaceChildren(...kids);
		row.panel.hidden = false;
		row.panel.scrollIntoView({ block: 'nearest' });
	}

	function closePanel(row, back) {
		row.panel.hidden = true;
		row.panel.firstChild.replaceChildren();
		if (back)
			back.focus();
	}

	/* Asks under the row, then runs act; an error stays there, in view. */
	function confirmThen(row, from, question, act) {
		const err = h('p', { class: 'form-error', role: 'alert' });
		const no = h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: () => closePanel(row, from) }, t('post.cancel'));
		const yes = h('button', {
			type: 'button', class: 'btn btn-small btn-danger', onclick: async () => {
				yes.disabled = true;
				err.textContent = '';
				try {
					await act();
				} catch (e) {
					yes.disabled = false;
					if (e.status !== 401) {
						err.textContent = e.status === 404 && !(e.data && e.data.code) ? t('admin.missing') : errorText(e);
						err.scrollIntoView({ block: 'nearest' });
					}
				}
			},
		}, t('admin.confirm'));
		const box = h('div', { class: 'row-ask', role: 'group', 'aria-label': question }, h('p', {}, question), h('div', { class: 'form-row' }, yes, no), err);
		box.addEventListener('keydown', ev => { if (ev.key === 'Escape') closePanel(row, from); });
		openPanel(row, box);
		yes.focus();
	}

	/* The name and the role, in a form under the row. */
	function editUser(row, from, u) {
		const me = u.handle === state.me.handle;
		const name = h('input', { type: 'text', value: u.name || '', autocomplete: 'off', maxlength: 200, dir: 'auto' });
		const admin = h('input', { type: 'checkbox', id: uid('adm'), checked: u.role === 'admin', disabled: me });
		const mgmt = h('input', { type: 'checkbox', id: uid('mgt'), checked: u.role === 'management', disabled: me });
		const err = h('p', { class: 'form-error', role: 'alert' });
		const save = h('button', { type: 'submit', class: 'btn btn-small' }, t('admin.save'));
		const form = h('form', { class: 'row-edit', 'aria-label': t('admin.edit_label', { handle: u.handle }) },
			field(t('admin.name'), name),
			h('div', { class: 'check' }, admin, h('label', { for: admin.id }, t('admin.is_admin'))),
			h('div', { class: 'check' }, mgmt, h('label', { for: mgmt.id }, t('admin.is_management'))),
			me ? h('p', { class: 'hint' }, t('admin.own_role')) : null,
			h('div', { class: 'form-row' }, save, h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: () => closePanel(row, from) }, t('post.cancel'))),
			err);
		form.addEventListener('keydown', ev => { if (ev.key === 'Escape') closePanel(row, from); });
		form.addEventListener('submit', async ev => {
			ev.preventDefault();
			const change = {};
			if (name.value.trim() !== (u.name || ''))
				change.name = name.value.trim();
			// One role: admin (who sees the figures too), management, member.
			const role = admin.checked ? 'admin' : mgmt.checked ? 'management' : 'member';
			if (!me && role !== (u.role || 'member'))
				change.role = role;
			if (!Object.keys(change).length) {
				closePanel(row, from);
				return;
			}
			save.disabled = true;
			err.textContent = '';
			try {
				await api('PATCH', `/api/admin/users/${enc(u.handle)}`, change);
				after = { handle: u.handle, node: notice(t('admin.saved', { handle: u.handle }), 'ok') };
				await load();
			} catch (e) {
				save.disabled = false;
				if (e.status !== 401) {
					err.textContent = errorText(e);
					err.scrollIntoView({ block: 'nearest' });
				}
			}
		});
		openPanel(row, form);
		name.focus();
	}

	const handle = h('input', { type: 'text', name: 'handle', required: true, pattern: '[a-z0-9][a-z0-9._\\-]{0,31}', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: 32 });
	const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', maxlength: 200, dir: 'auto' });
	const isAdmin = h('input', { type: 'checkbox', name: 'admin', id: uid('adm') });
	const create = h('button', { type: 'submit', class: 'btn' }, t('admin.create'));
	const result = h('div', { class: 'admin-result' });
	const form = h('form', { class: 'card form add-user' },
		h('h2', {}, t('admin.add')),
		h('div', { class: 'grid-2' }, field(t('admin.handle'), handle, t('admin.handle_hint')), field(t('admin.name'), name)),
		h('div', { class: 'check' }, isAdmin, h('label', { for: isAdmin.id }, t('admin.is_admin'))),
		h('div', { class: 'form-row' }, create),
		result);
	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		create.disabled = true;
		try {
			const r = await api('POST', '/api/admin/users', { handle: handle.value.trim(), admin: isAdmin.checked, name: name.value.trim() });
			const made = r && r.handle || handle.value.trim();
			form.reset(); // before the password is shown: a reset would clear it too
			result.replaceChildren(secretBox(t('admin.created', { handle: made }), r && r.password || ''));
			await load();
		} catch (err) {
			if (err.status !== 401)
				result.replaceChildren(notice(err.status === 404 && !(err.data && err.data.code) ? t('admin.missing') : errorText(err), 'error'));
		} finally {
			create.disabled = false;
			result.scrollIntoView({ block: 'nearest' });
		}
	});

	main.append(h('form', { class: 'search admin-search', role: 'search', onsubmit: ev => ev.preventDefault() },
		field(t('admin.search'), search)), count, table);
	if (await load())
		main.append(form);
}

/* ----------------------------------------------------------------- login */

function viewLogin(main) {
	const handle = h('input', { type: 'text', name: 'username', id: 'login-handle', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
	const pass = h('input', { type: 'password', name: 'password', id: 'login-password', autocomplete: 'current-password', required: true });
	const err = h('p', { class: 'form-error', role: 'alert', id: 'login-error' });
	const submit = h('button', { type: 'submit', class: 'btn btn-wide' }, t('login.submit'));
	const site = h('p', { class: 'muted center' });
	const form = h('form', { class: 'card login', 'aria-labelledby': 'login-title' },
		h('div', { class: 'login-brand' }, h('img', { src: '/logo.svg', alt: '', width: 56, height: 56 }),
			h('h1', { id: 'login-title', tabindex: '-1' }, t('app.name'))),
		h('p', { class: 'center login-tag' }, t('app.tagline')),
		site,
		state.flash ? notice(state.flash) : null,
		field(t('login.handle'), handle),
		field(t('login.password'), pass),
		err,
		submit,
		h('p', { class: 'muted small center' }, t('login.help')));
	state.flash = '';
	main.append(h('div', { class: 'login-wrap' }, form));

	api('GET', '/api/status', null, { quiet401: true }).then(s => {
		if (s && s.site)
			site.textContent = t('login.site', { site: s.title || s.site });
	}).catch(() => {});

	form.addEventListener('submit', async ev => {
		ev.preventDefault();
		err.textContent = '';
		submit.disabled = true;
		submit.textContent = t('login.busy');
		try {
			const me = await api('POST', '/api/login', { handle: handle.value.trim().toLowerCase(), password: pass.value }, { quiet401: true });
			pass.value = '';
			signedIn(me);
		} catch (e) {
			pass.value = '';
			if (e.status === 401 || e.status === 400) {
				err.textContent = t('login.wrong');
			} else if (e.status === 403) {
				err.textContent = t('login.disabled');
			} else if (e.status === 429) {
				const retry = Number(e.headers && e.headers.get('Retry-After')) || Number(e.data && e.data.retry_after);
				err.textContent = retry ? t('login.limited', { s: retry }) : t('login.limited_later');
			} else {
				err.textContent = errorText(e);
			}
			pass.focus();
		} finally {
			submit.disabled = false;
			submit.textContent = t('login.submit');
		}
	});
	setTimeout(() => handle.focus(), 0);
}

/* ----------------------------------------------------------------- shell */

/* The header: brand, navigation, connectivity, language and account. */
function paintShell() {
	const top = document.getElementById('topbar');
	document.getElementById('skip').textContent = t('app.skip');
	const langBtn = h('button', { type: 'button', class: 'lang', lang: otherLang(), id: 'lang-switch', title: t('lang.switch'), 'aria-label': t('lang.switch'), onclick: switchLang },
		otherLang().toUpperCase());
	if (!state.me) {
		top.hidden = false;
		top.replaceChildren(h('div', { class: 'topbar-inner topbar-login' }, h('span'), langBtn));
		return;
	}
	const nav = [['feed', '#/', t('nav.feed')], ['spaces', '#/spaces', t('nav.spaces')], ['people', '#/people', t('nav.people')], ['status', '#/status', t('nav.status')],
		...seesFigures(state.me) ? [['figures', '#/figures', t('nav.figures')]] : []];
	if (state.me.admin)
		nav.push(['admin', '#/admin', t('nav.admin')]);
	const navEl = h('nav', { class: 'nav', 'aria-label': t('nav.main') }, h('ul', {}, nav.map(([name, href, label]) =>
		h('li', {}, h('a', { href, 'data-nav': name }, label)))));
	top.hidden = false;
	top.replaceChildren(h('div', { class: 'topbar-inner' },
		h('a', { class: 'brand', href: '#/' },
			h('img', { src: '/logo.svg', alt: '', width: 28, height: 28 }),
			h('span', { class: 'brand-name' }, t('app.name')),
			h('bdi', { class: 'brand-site', id: 'brand-site', hidden: true })),
		navEl,
		searchBox(searchUi()),
		h('div', { class: 'top-tools' },
			notify.bellEl(),
			h('a', { id: 'conn', href: '#/status', class: 'conn' }),
			langBtn,
			accountMenu())));
	paintConn();
	markNav();
}

/* The avatar button and its small menu: my profile, edit it, log out. A
 * click elsewhere closes it (see start()). */
function accountMenu() {
	const handle = state.me.handle;
	const btn = h('button', { type: 'button', class: 'me-btn', id: 'account', 'aria-expanded': 'false', 'aria-controls': 'account-menu', title: t('nav.account', { handle }) },
		avatar(handle, 'small'),
		h('span', { class: 'visually-hidden' }, t('nav.account', { handle })),
		h('span', { class: 'caret', 'aria-hidden': 'true' }, '▾'));
	const menu = h('div', { class: 'menu', id: 'account-menu', hidden: true },
		h('p', { class: 'menu-head' }, h('strong', { 'data-name-of': handle, dir: 'auto' }, userText(nameOf(handle))), h('span', { class: 'muted small' }, `@${handle}`)),
		h('a', { class: 'menu-item', href: `#/people/${enc(handle)}` }, t('nav.me')),
		h('a', { class: 'menu-item', href: '#/profile' }, t('person.edit')),
		h('a', { class: 'menu-item', href: '#/apps', id: 'menu-apps' }, t('nav.apps')),
		h('button', { type: 'button', class: 'menu-item', id: 'logout', onclick: logout }, t('nav.logout')));
	const wrap = h('div', { class: 'account' }, btn, menu);
	wrap.show = open => {
		menu.hidden = !open;
		btn.setAttribute('aria-expanded', String(open));
		if (open)
			menu.querySelector('a').focus();
	};
	btn.addEventListener('click', () => wrap.show(menu.hidden));
	menu.addEventListener('click', ev => { if (ev.target.closest('a')) wrap.show(false); });
	wrap.addEventListener('keydown', ev => {
		if (ev.key === 'Escape' && !menu.hidden) {
			wrap.show(false);
			btn.focus();
		}
	});
	wrap.addEventListener('focusout', ev => {
		if (ev.relatedTarget && !wrap.contains(ev.relatedTarget))
			wrap.show(false);
	});
	return wrap;
}

/* What search.js borrows from here. */
function searchUi() {
	return {
		h, t, api, userText, personLink, avatar, timeEl, showError, field, siteName,
		viewSeq: () => state.viewSeq, status: () => state.status, setStatus: s => { state.status = s; },
	};
}

function markNav() {
	for (const a of document.querySelectorAll('[data-nav]')) {
		if (a.dataset.nav === state.view || (a.dataset.nav === 'people' && state.view === 'person') ||
		    (a.dataset.nav === 'spaces' && state.view === 'space'))
			a.setAttribute('aria-current', 'page');
		else
			a.removeAttribute('aria-current');
	}
}

function switchLang() {
	setLang(otherLang());
	paintShell();
	render(false);
	document.getElementById('lang-switch').focus();
}

/* ---------------------------------------------------------------- router */

function parseRoute() {
	const raw = location.hash.replace(/^#/, '') || '/';
	const [path, query = ''] = raw.split('?');
	let parts;
	try {
		parts = path.split('/').filter(Boolean).map(decodeURIComponent);
	} catch {
		parts = [];
	}
	return { parts, query: new URLSearchParams(query) };
}

/* Draws the page of the current route. focus: move focus to its heading
 * (after a navigation, so screen readers hear the new page). */
async function render(focus = true) {
	const main = document.getElementById('main');
	const seq = ++state.viewSeq;
	if (state.feed && state.feed.observer)
		state.feed.observer.disconnect();
	state.feed = null;
	state.cards = new Map();
	myReactionsWatch.disconnect();
	myReactionsQueue.length = 0;
	document.title = t('app.name');
	main.replaceChildren();
	if (!state.me) {
		state.view = 'login';
		paintOutage();
		document.getElementById('outage').hidden = true;
		viewLogin(main);
		return;
	}
	const { parts, query } = parseRoute();
	const [first, second] = parts;
	let task;
	if (!first || first === 'feed') {
		state.view = 'feed';
		task = viewFeed(main, seq);
	} else if (first === 'post' && second) {
		state.view = 'post';
		task = viewPost(main, seq, second);
	} else if (first === 'spaces') {
		state.view = 'spaces';
		task = spaces.viewSpaces(main, seq, query);
	} else if (first === 'space' && second) {
		state.view = 'space';
		task = spaces.viewSpace(main, seq, second);
	} else if (first === 'people' && second) {
		state.view = 'person';
		task = viewPerson(main, seq, second);
	} else if (first === 'people') {
		state.view = 'people';
		task = viewPeople(main, seq, query);
	} else if (first === 'search') {
		state.view = 'search';
		task = viewSearch(searchUi(), main, seq, query);
	} else if (first === 'profile') {
		state.view = 'profile';
		task = viewProfileEdit(main, seq);
	} else if (first === 'status') {
		state.view = 'status';
		task = viewStatus(main, seq);
	} else if (first === 'figures') {
		state.view = 'figures';
		task = viewFigures(main, seq, query);
	} else if (first === 'notifications') {
		state.view = 'notifications';
		task = notify.viewNotifications(main, seq);
	} else if (first === 'settings') {
		state.view = 'settings';
		task = notify.viewSettings(main, seq);
	} else if (first === 'apps') {
		state.view = 'apps';
		task = apps.viewApps(main, seq);
	} else if (first === 'admin' && state.me.admin) {
		state.view = 'admin';
		task = viewAdmin(main, seq);
	} else {
		// Unknown pages, and the users page for staff who are not admins
		// (a link shared by an admin): the feed, not an error.
		location.replace('#/');
		return;
	}
	markNav();
	if (focus) {
		const head = main.querySelector('h1');
		if (head)
			head.focus({ preventScroll: true });
		window.scrollTo(0, 0);
	}
	await task;
	if (focus && seq === state.viewSeq && document.activeElement === document.body) {
		const head = main.querySelector('h1');
		if (head)
			head.focus({ preventScroll: true });
	}
}

/* ------------------------------------------------------------------ live */

function startStream() {
	stopStream();
	const es = new EventSource('/api/stream');
	state.stream = es;
	const on = (kind, fn) => es.addEventListener(kind, ev => {
		let d = null;
		try {
			d = JSON.parse(ev.data);
		} catch {
			return;
		}
		fn(d || {}, kind);
	});
	for (const kind of ['post', 'comment', 'reaction', 'edit', 'redaction'])
		on(kind, liveChange);
	for (const kind of ['profile', 'enrol', 'revoke'])
		on(kind, loadPeopleSoon);
	on('resync', liveResync);
	on('bell', notify.onBell);
	// data-live tells whether live updates flow (styling, and the tests).
	es.addEventListener('open', () => { document.documentElement.dataset.live = 'on'; });
	es.addEventListener('error', () => {
		document.documentElement.dataset.live = 'off';
		pollStatus();
		if (es.readyState === EventSource.CLOSED && state.stream === es) {
			// Closed for good (the server said no, or restarted and forgot
			// the session): find out whether we are still signed in.
			clearTimeout(state.streamRetry);
			state.streamRetry = setTimeout(async () => {
				try {
					const s = await api('GET', '/api/session');
					if (s && !s.logged_in && state.me)
						sessionEnded(t('login.expired'));
					else if (state.me && state.stream === es)
						startStream();
				} catch (err) {
					if (err.status === 0 && state.stream === es)
						startStream(); // still down: keep trying
				}
			}, 3000);
		}
	});
}

function stopStream() {
	clearTimeout(state.streamRetry);
	if (state.stream)
		state.stream.close();
	state.stream = null;
}

/* A post, comment, reaction, edit or redaction somewhere in the federation. */
function liveChange(d, kind) {
	const view = d.view && d.view.id ? d.view : null;
	const id = d.post || (view && view.id);
	if (!id)
		return;
	const c = state.cards.get(id);
	const feed = state.feed;
	if (!view) {
		if (kind === 'redaction')
			removeCard(id);
		// An edit or a deletion of a comment names the comment: the thread
		// that shows it is read again.
		for (const x of state.cards.values())
			if (x.open && x.comments && x.comments.some(cm => cm.id === id))
				loadDetail(x).catch(() => {});
		return;
	}
	if (c) {
		c.update(view);
		if (c.open && (kind === 'comment' || kind === 'redaction'))
			loadDetail(c).catch(() => {});
		return;
	}
	if (feed && feed.pending.has(id)) {
		feed.pending.set(id, view);
		return;
	}
	if (kind === 'post') {
		// Our own post usually comes back as the POST's answer first; give
		// it a moment so the bar does not flash for it.
		if (state.me && view.author === state.me.handle)
			setTimeout(() => { if (!state.cards.has(id)) livePost(view); }, OWN_POST_GRACE_MS);
		else
			livePost(view);
	}
}

/* The stream lost events: refresh what is on screen from the API. */
async function liveResync() {
	const feed = state.feed;
	try {
		if (feed) {
			const res = await api('GET', `/api/feed?limit=${FEED_PAGE}`);
			if (state.feed !== feed)
				return;
			for (const p of res && res.items || []) {
				const c = state.cards.get(p.id);
				if (c)
					c.update(p);
				else
					livePost(p);
			}
		}
		for (const c of [...state.cards.values()].slice(0, 50)) {
			const p = await api('GET', `/api/posts/${c.post.id}`).catch(err => (err.status === 404 ? 'gone' : null));
			if (p === 'gone')
				removeCard(c.post.id);
			else if (p)
				c.update(p);
		}
		loadPeopleSoon();
	} catch {
		/* the next resync or reload catches up */
	}
}

/* --------------------------------------------------------------- session */

function signedIn(me) {
	state.me = me;
	state.csrf = me.csrf_token || '';
	if (me.person)
		rememberPerson(me.person);
	paintShell();
	render(true);
	startStream();
	pollStatus();
	loadPeopleSoon();
}

function sessionEnded(message) {
	stopStream();
	clearTimeout(state.pollTimer);
	state.me = null;
	state.csrf = '';
	state.people = new Map();
	state.authors = new Map();
	state.flash = message || '';
	paintShell();
	render(false);
}

async function logout() {
	try {
		await api('POST', '/api/logout', {}, { quiet401: true });
	} catch {
		/* signed out here whatever the server said */
	}
	if (state.me)
		draftsClear(state.me.handle);
	sessionEnded(t('login.out'));
}

/* ----------------------------------------------------------------- start */

async function start() {
	notify.init({ h, api, state, postCard, relTime, toMs, timeEl, nameOf, avatar, personLink, userText, showError, notice, announce, errorText, field });
	apps.init({ h, api, state, timeEl, showError, notice, announce, errorText, field });
	document.documentElement.lang = lang();
	document.getElementById('skip').addEventListener('click', ev => {
		ev.preventDefault();
		const head = document.querySelector('#main h1') || document.getElementById('main');
		head.focus();
	});
	window.addEventListener('hashchange', () => render(true));
	document.addEventListener('click', ev => {
		const menu = document.querySelector('.account');
		if (menu && !menu.contains(ev.target))
			menu.show(false);
	});
	// Relative times ("3 min ago") stay true while the page is open.
	setInterval(() => {
		for (const el of document.querySelectorAll('time[data-ts]'))
			el.textContent = relTime(Number(el.dataset.ts));
		paintOutage();
	}, 30000);
	// GET /api/session answers 200 signed in or not: a page opened before
	// signing in logs no error. It also gives the limits the UI checks.
	try {
		const me = await api('GET', '/api/session', null, { quiet401: true });
		state.limits = me && me.limits || null;
		if (!me || !me.logged_in)
			throw new ApiError(401, '');
		signedIn(me);
	} catch (err) {
		if (err.status !== 401 && err.status !== 0 && err.status !== 404)
			state.flash = errorText(err);
		else if (err.status === 0)
			state.flash = t('err.network');
		paintShell();
		render(false);
	}
	document.body.removeAttribute('aria-busy');
}

start();
