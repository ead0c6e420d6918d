// Search in the web UI: the box in the header and the results page
// (#/search?q=WORDS&order=newest&type=&site=&space=&author=&after=&before=),
// grouped as posts and comments, people and spaces, with the matched words
// highlighted, filters kept in the address, and a "more" button per group. app.js hands in its helpers (ui) and routes
// #/search here; the words are in i18n.js under "search.".

const PAGE = 10; // results of a group per page

/* The snippet of the API, ["plain", "match", "plain", ...], as text nodes
 * and <mark>s: never HTML. */
function snippetEl(ui, parts) {
	const el = ui.h('p', { class: 'search-snippet', dir: 'auto' });
	(parts || []).forEach((s, i) => {
		if (!s)
			return;
		el.append(i % 2 ? ui.h('mark', {}, ui.userText(s)) : ui.userText(s));
	});
	return el;
}

/* The box in the header: Enter (or the button) opens the results page. */
export function searchBox(ui, current = '') {
	const input = ui.h('input', {
		type: 'search', id: 'search-q', name: 'q', value: current, autocomplete: 'off', spellcheck: 'false',
		placeholder: ui.t('search.placeholder'), 'aria-label': ui.t('search.label'),
	});
	const form = ui.h('form', { class: 'top-search', role: 'search', onsubmit: ev => {
		ev.preventDefault();
		const q = input.value.trim();
		if (q)
			location.hash = `#/search?q=${encodeURIComponent(q)}`;
	} }, input, ui.h('button', { type: 'submit', class: 'top-search-go', 'aria-label': ui.t('search.go'), title: ui.t('search.go') }, '⌕'));
	return form;
}

function postHit(ui, it) {
	const id = it.type === 'comment' ? it.post : it.id;
	const href = `#/post/${id}`;
	return ui.h('li', { class: 'search-hit' },
		ui.h('div', { class: 'search-hit-head' },
			ui.personLink(it.author),
			ui.h('span', { class: 'muted small' }, it.type === 'comment' ? ui.t('search.comment') : ui.t('search.post')),
			it.space_name ? ui.h('span', { class: 'space-label small', dir: 'auto' }, ui.userText(it.space_name)) : null,
			ui.h('a', { class: 'when muted small', href }, ui.timeEl(it.created))),
		ui.h('a', { class: 'search-open', href }, snippetEl(ui, it.snippet)));
}

function spaceHit(ui, sp) {
	const bits = [ui.t(sp.visibility === 'private' ? 'space.private' : 'space.open'),
		ui.t('space.members_n', { n: sp.member_count || 0 })].join(' · ');
	return ui.h('li', { class: 'search-hit search-space' },
		ui.h('a', { href: `#/space/${encodeURIComponent(sp.id)}`, class: 'search-open' },
			ui.h('strong', { dir: 'auto' }, ui.userText(sp.name || '')), ' ',
			ui.h('span', { class: 'muted small' }, bits)),
		snippetEl(ui, sp.snippet && sp.snippet.length > 1 ? sp.snippet : [sp.description || '']));
}

function personHit(ui, p) {
	const prof = p.profile || {};
	const bits = [prof.title, prof.department, prof.site].filter(Boolean).join(' · ');
	return ui.h('li', { class: 'search-hit search-person' },
		ui.h('a', { href: `#/people/${encodeURIComponent(p.handle)}`, class: 'search-open' },
			ui.avatar(p.handle, 'small'),
			ui.h('span', {}, ui.h('strong', { dir: 'auto' }, ui.userText(prof.name || p.handle)), ' ',
				ui.h('span', { class: 'muted small' }, `@${p.handle}`)),
			bits ? ui.h('span', { class: 'muted small', dir: 'auto' }, ui.userText(bits)) : null),
		p.typo ? null : snippetEl(ui, p.snippet));
}

/* The filters of the results page, in the address with the words (as the
 * directory's), so that Back and reload return to them: the kind (the
 * API's type), the author's site, a space, an author, and a date range
 * (days, from and to included). */
const FILTERS = ['type', 'site', 'space', 'author', 'after', 'before'];
const POST_ONLY = ['space', 'author', 'after', 'before']; // filters of posts and comments only
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/* Local midnight of a YYYY-MM-DD day, in ms (NaN when not a day). */
function dayMs(day, plus = 0) {
	if (!DAY.test(day || ''))
		return NaN;
	const [y, m, d] = day.split('-').map(Number);
	return new Date(y, m - 1, d + plus).getTime();
}

/* The API's arguments for the words q, the order and the filters f. */
function apiArgs(q, order, f) {
	const a = new URLSearchParams({ q, order, limit: String(PAGE) });
	let type = f.type || 'all';
	// Posts' filters narrow posts and comments: people and spaces would
	// ignore them, so the kind "everything" asks for posts then.
	if (type === 'all' && POST_ONLY.some(k => f[k]))
		type = 'posts';
	if (type !== 'all')
		a.set('type', type);
	for (const k of ['site', 'space', 'author'])
		if (f[k])
			a.set(k, f[k]);
	if (!Number.isNaN(dayMs(f.after)))
		a.set('after', String(dayMs(f.after)));
	if (!Number.isNaN(dayMs(f.before)))
		a.set('before', String(dayMs(f.before, 1)));
	return a;
}

/* The page's address for the words, the order and the filters. */
function pageHash(q, order, f) {
	const a = new URLSearchParams({ q });
	if (order === 'newest')
		a.set('order', order);
	for (const k of FILTERS)
		if (f[k] && !(k === 'type' && f[k] === 'all'))
			a.set(k, f[k]);
	return `#/search?${a}`;
}

/* The results page. */
export async function viewSearch(ui, main, seq, query) {
	const q = (query.get('q') || '').trim();
	let order = query.get('order') === 'newest' ? 'newest' : 'best';
	const box = document.getElementById('search-q');
	if (box && box.value !== q)
		box.value = q;
	document.title = `${q} – ${ui.t('app.name')}`;
	const h = ui.h;
	// The controls, filled from the address.
	const kind = h('select', { id: 'search-type' },
		['all', 'posts', 'people', 'spaces'].map(k => h('option', { value: k }, ui.t(`search.kind_${k}`))));
	kind.value = ['posts', 'people', 'spaces'].includes(query.get('type')) ? query.get('type') : 'all';
	const siteSel = h('select', { id: 'search-site' }, h('option', { value: '' }, ui.t('search.any_site')));
	const spaceSel = h('select', { id: 'search-space' }, h('option', { value: '' }, ui.t('search.any_space')));
	const author = h('input', { type: 'text', id: 'search-author', value: query.get('author') || '', autocomplete: 'off', spellcheck: 'false', placeholder: ui.t('search.author_ph') });
	const after = h('input', { type: 'date', id: 'search-after', value: DAY.test(query.get('after') || '') ? query.get('after') : '' });
	const before = h('input', { type: 'date', id: 'search-before', value: DAY.test(query.get('before') || '') ? query.get('before') : '' });
	const clear = h('button', { type: 'button', class: 'btn btn-quiet' }, ui.t('search.clear'));
	const controls = { type: kind, site: siteSel, space: spaceSel, author, after, before };
	const wanted = { site: query.get('site') || '', space: query.get('space') || '' };
	const filters = () => Object.fromEntries(FILTERS.map(k => [k, controls[k].value.trim()]));
	function fillSites() {
		const st = ui.status() || {};
		const ids = new Set([st.site, ...(Array.isArray(st.sites) ? st.sites.map(x => x.site) : [])].filter(Boolean));
		const want = siteSel.value || wanted.site;
		if (want)
			ids.add(want);
		const opts = [...ids].map(id => ({ id, name: ui.siteName(id) })).sort((a, b) => a.name.localeCompare(b.name));
		siteSel.replaceChildren(h('option', { value: '' }, ui.t('search.any_site')), ...opts.map(o => h('option', { value: o.id, dir: 'auto' }, o.name)));
		siteSel.value = want;
	}
	function fillSpaces(items) {
		const want = spaceSel.value || wanted.space;
		const opts = items.filter(sp => sp && sp.id).map(sp => h('option', { value: sp.id, dir: 'auto' }, ui.userText(sp.name || sp.id)));
		if (want && !items.some(sp => sp && sp.id === want))
			opts.push(h('option', { value: want }, want.slice(0, 12)));
		spaceSel.replaceChildren(h('option', { value: '' }, ui.t('search.any_space')), ...opts);
		spaceSel.value = want;
	}
	fillSites();
	fillSpaces([]);
	const orderLink = (o, label) => h('a', { class: 'seg', href: pageHash(q, o, filters()), 'aria-current': o === order ? 'true' : null }, label);
	const segs = h('nav', { class: 'segs', 'aria-label': ui.t('search.order') });
	const paintOrder = () => segs.replaceChildren(orderLink('best', ui.t('search.best')), orderLink('newest', ui.t('search.newest')));
	paintOrder();
	main.append(h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, ui.t('search.title', { q })), segs),
		h('form', { class: 'search-filters-form', role: 'search', 'aria-label': ui.t('search.filters'), onsubmit: ev => { ev.preventDefault(); run(); } },
			h('fieldset', { class: 'search-filters' },
				h('legend', { class: 'visually-hidden' }, ui.t('search.filters')),
				ui.field(ui.t('search.kind'), kind),
				ui.field(ui.t('search.site'), siteSel),
				ui.field(ui.t('search.space'), spaceSel),
				ui.field(ui.t('search.author'), author),
				ui.field(ui.t('search.after'), after),
				ui.field(ui.t('search.before'), before),
				h('div', { class: 'field search-clear' }, clear))));
	const status = h('p', { class: 'muted small', role: 'status' }, ui.t('search.loading'));
	// While the site catches up with the others, their changes are indexed
	// after it: the API says how many the answer lacks ("behind").
	const behind = h('p', { class: 'notice notice-warn small search-behind', role: 'status', hidden: true });
	const out = h('div', { class: 'search-results' });
	main.append(status, behind, out);
	if (!q) {
		status.textContent = ui.t('search.empty');
		return;
	}
	const groups = [
		['posts', ui.t('search.posts'), postHit],
		['people', ui.t('search.people'), personHit],
		['spaces', ui.t('search.spaces'), spaceHit],
	];
	let runSeq = 0, timer = 0;
	async function run() {
		const mine = ++runSeq, f = filters();
		const filtered = FILTERS.some(k => f[k] && !(k === 'type' && f[k] === 'all'));
		clear.hidden = !filtered;
		const want = pageHash(q, order, f);
		if (location.hash !== want)
			history.replaceState(null, '', want);
		paintOrder();
		status.textContent = ui.t('search.loading');
		const args = apiArgs(q, order, f);
		let res;
		try {
			res = await ui.api('GET', `/api/search?${args}`);
		} catch (err) {
			if (mine === runSeq) {
				status.textContent = '';
				if (err.status !== 401)
					ui.showError(err);
			}
			return;
		}
		if (seq !== ui.viewSeq() || mine !== runSeq)
			return;
		let total = 0;
		const sections = [];
		for (const [name, label, draw] of groups) {
			const g = res[name];
			if (!g || !draw || !g.items.length)
				continue;
			total += g.items.length;
			const list = h('ul', { class: 'search-list' }, g.items.map(it => draw(ui, it)));
			const section = h('section', { class: 'search-group', 'aria-label': label }, h('h2', {}, label), list);
			let next = g.next;
			if (next !== null && next !== undefined) {
				const more = h('button', { type: 'button', class: 'btn btn-quiet' }, ui.t('search.more'));
				more.addEventListener('click', async () => {
					more.disabled = true;
					try {
						const a = new URLSearchParams(args);
						a.set('type', name);
						a.set('offset', String(next));
						const r = await ui.api('GET', `/api/search?${a}`);
						const gg = r[name];
						list.append(...gg.items.map(it => draw(ui, it)));
						next = gg.next;
						if (next === null || next === undefined)
							more.remove();
					} catch (err) {
						ui.showError(err);
					}
					more.disabled = false;
				});
				section.append(more);
			}
			sections.push(section);
		}
		out.replaceChildren(...sections);
		// While the index is brought up to this site's store (after a
		// restart), the count is not how much is missing ("mending").
		behind.hidden = !(res.behind > 0 || res.mending);
		behind.textContent = res.mending ? ui.t('search.mending')
			: res.behind > 0 ? ui.t('search.behind', { n: res.behind }) : '';
		status.textContent = total ? ui.t('search.count', { n: total })
			: filtered ? ui.t('search.none_filtered', { q }) : ui.t('search.none', { q });
	}
	function later() {
		clearTimeout(timer);
		timer = setTimeout(run, 300);
	}
	for (const c of [kind, siteSel, spaceSel, after, before])
		c.addEventListener('change', run);
	author.addEventListener('input', later);
	clear.addEventListener('click', () => {
		kind.value = 'all';
		for (const c of [siteSel, spaceSel, author, after, before])
			c.value = '';
		wanted.site = wanted.space = '';
		run();
		kind.focus();
	});
	// The spaces this person may read, and the sites, may come after the page.
	ui.api('GET', '/api/spaces').then(r => {
		if (seq === ui.viewSeq())
			fillSpaces(Array.isArray(r && r.items) ? r.items : []);
	}).catch(() => {});
	if (!ui.status())
		ui.api('GET', '/api/status', null, { quiet401: true }).then(st => {
			if (st && seq === ui.viewSeq()) {
				ui.setStatus(st);
				fillSites();
			}
		}).catch(() => {});
	await run();
}
