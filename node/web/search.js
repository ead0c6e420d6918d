// Search in the web UI: the box in the header and the results page
// (#/search?q=WORDS&type=posts|people&order=newest), grouped as posts and
// comments, people and spaces, with the matched words highlighted and a
// "more" button per group. app.js hands in its helpers (ui) and routes
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
			ui.h('a', { class: 'when muted small', href }, ui.timeEl(it.created))),
		ui.h('a', { class: 'search-open', href }, snippetEl(ui, it.snippet)));
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

/* The results page. */
export async function viewSearch(ui, main, seq, query) {
	const q = (query.get('q') || '').trim();
	const order = query.get('order') === 'newest' ? 'newest' : 'best';
	const box = document.getElementById('search-q');
	if (box && box.value !== q)
		box.value = q;
	document.title = `${q} – ${ui.t('app.name')}`;
	const orderLink = (o, label) => ui.h('a', {
		class: 'seg', href: `#/search?q=${encodeURIComponent(q)}&order=${o}`, 'aria-current': o === order ? 'true' : null,
	}, label);
	main.append(ui.h('div', { class: 'page-head' },
		ui.h('h1', { tabindex: '-1' }, ui.t('search.title', { q })),
		ui.h('nav', { class: 'segs', 'aria-label': ui.t('search.order') },
			orderLink('best', ui.t('search.best')), orderLink('newest', ui.t('search.newest')))));
	const status = ui.h('p', { class: 'muted small', role: 'status' }, ui.t('search.loading'));
	main.append(status);
	if (!q) {
		status.textContent = ui.t('search.empty');
		return;
	}
	const groups = [
		['posts', ui.t('search.posts'), postHit],
		['people', ui.t('search.people'), personHit],
		['spaces', ui.t('search.spaces'), null],
	];
	let res;
	try {
		res = await ui.api('GET', `/api/search?q=${encodeURIComponent(q)}&order=${order}&limit=${PAGE}`);
	} catch (err) {
		status.textContent = '';
		if (err.status !== 401)
			ui.showError(err);
		return;
	}
	if (seq !== ui.viewSeq())
		return;
	let total = 0;
	for (const [name, label, draw] of groups) {
		const g = res[name];
		if (!g || !draw || !g.items.length)
			continue;
		total += g.items.length;
		const list = ui.h('ul', { class: 'search-list' }, g.items.map(it => draw(ui, it)));
		const section = ui.h('section', { class: 'search-group', 'aria-label': label },
			ui.h('h2', {}, label), list);
		let next = g.next;
		if (next !== null && next !== undefined) {
			const more = ui.h('button', { type: 'button', class: 'btn btn-quiet' }, ui.t('search.more'));
			more.addEventListener('click', async () => {
				more.disabled = true;
				try {
					const r = await ui.api('GET', `/api/search?q=${encodeURIComponent(q)}&type=${name}&order=${order}&limit=${PAGE}&offset=${next}`);
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
		main.append(section);
	}
	status.textContent = total ? ui.t('search.count', { n: total }) : ui.t('search.none', { q });
}
