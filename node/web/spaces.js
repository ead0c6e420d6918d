// Spaces in the web UI (docs/API.md, "Spaces"): the Spaces page (mine, the
// open ones, search by name, a form to make one), a space's page (its feed
// with a composer, about, members, invitations and requests for its admins,
// settings), the space picker of the main composer and the label a post of a
// space carries in the feeds. app.js hands over its helpers (makeSpaces) and
// calls these from its routes, composer and post cards; text people wrote is
// inserted as text nodes only, as everywhere in the UI.

import { t } from './i18n.js';
import { followButton } from './notify.js';

export function makeSpaces(ui) {
	const { h, api, enc, postCard, composer, personLink, userText, errorText, announce, state, coverButton } = ui;

	/* The spaces I write in, for the picker: fetched once per page. */
	let mineCache = null;

	let mineIds = new Set(); // ids of mineCache once it came: what the main feed shows live

	async function mySpaces() {
		if (!mineCache)
			mineCache = api('GET', '/api/spaces?mine=1').then(r => r.items.filter(s => s.my_role)).catch(() => []).then(list => {
				mineIds = new Set(list.map(s => s.id));
				return list.filter(s => !s.archived);
			});
		return mineCache;
	}

	/* Does a post seen live belong in my main feed? Company-wide posts and
	 * those of my spaces do; an open space I am not in does not. */
	function inMainFeed(view) {
		return !view || !view.space || mineIds.has(view.space);
	}

	function forget() {
		mineCache = null;
	}

	function spaceName(s) {
		return s.name || (s.join === 'site' ? s.site : t('space.unnamed'));
	}

	/* The label of a post of a space, in the feeds: a link to the space. */
	function label(post) {
		if (!post || !post.space)
			return null;
		return h('a', { class: 'space-label', href: `#/space/${post.space}`, title: t('space.label_title') },
			h('span', { 'aria-hidden': 'true' }, '▸ '), userText(post.space_name || t('space.unnamed')));
	}

	/* The picker of the composer: company-wide, or one of my spaces. */
	function picker() {
		const sel = h('select', { class: 'space-picker', 'aria-label': t('space.picker') },
			h('option', { value: '' }, t('space.company')));
		mySpaces().then(list => {
			for (const s of list)
				sel.append(h('option', { value: s.id }, `${spaceName(s)}${s.visibility === 'private' ? ' 🔒' : ''}`));
		});
		return sel;
	}

	function badges(s) {
		return h('span', { class: 'space-badges' },
			h('span', { class: `badge ${s.visibility}` }, s.visibility === 'private' ? `🔒 ${t('space.private')}` : t('space.open')),
			s.join === 'site' ? h('span', { class: 'badge' }, t('space.site_space')) : h('span', { class: 'badge' }, t(`space.join_${s.join}`)),
			s.archived ? h('span', { class: 'badge archived' }, t('space.archived')) : null);
	}

	async function act(id, action, body) {
		const r = await api('POST', `/api/spaces/${id}/${action}`, body || {});
		forget();
		return r;
	}

	/* ------------------------------------------------------ the list */

	function spaceItem(s, onChange) {
		const btns = [];
		if (!s.my_role && s.my_pending === 'invited')
			btns.push(h('button', { type: 'button', class: 'btn', onclick: async () => { await act(s.id, 'join'); onChange(); } }, t('space.accept')));
		else if (!s.my_role && !s.my_pending && !s.archived && s.join === 'open')
			btns.push(h('button', { type: 'button', class: 'btn btn-quiet', onclick: async () => { await act(s.id, 'join'); onChange(); } }, t('space.join')));
		else if (!s.my_role && !s.my_pending && !s.archived && s.join === 'request')
			btns.push(h('button', { type: 'button', class: 'btn btn-quiet', onclick: async () => { await act(s.id, 'request'); onChange(); } }, t('space.request')));
		else if (s.my_pending === 'requested')
			btns.push(h('span', { class: 'muted small' }, t('space.requested')));
		return h('li', { class: 'card space-item' },
			s.cover ? h('img', { class: 'space-cover-thumb', src: s.cover.thumb, alt: '', loading: 'lazy' }) : null,
			h('div', { class: 'space-item-main' },
				h('a', { class: 'space-name', href: `#/space/${s.id}`, dir: 'auto' }, userText(spaceName(s))),
				badges(s),
				s.description ? h('p', { class: 'muted small space-desc', dir: 'auto' }, userText(s.description)) : null,
				h('span', { class: 'muted small' }, s.join === 'site' ? t('space.site_members') : t('space.members_n', { n: s.member_count || 0 }))),
			h('div', { class: 'space-item-tools' }, btns));
	}

	function createForm(onMade) {
		const name = h('input', { type: 'text', maxlength: '100', required: true, id: 'space-new-name' });
		const desc = h('textarea', { rows: '2', maxlength: '2000', id: 'space-new-desc' });
		const vis = h('select', { id: 'space-new-vis' },
			h('option', { value: 'open' }, t('space.open_long')),
			h('option', { value: 'private' }, t('space.private_long')));
		const join = h('select', { id: 'space-new-join' },
			h('option', { value: 'open' }, t('space.join_open')),
			h('option', { value: 'request' }, t('space.join_request')),
			h('option', { value: 'invite' }, t('space.join_invite')));
		const err = h('p', { class: 'form-error', role: 'alert' });
		const send = h('button', { type: 'submit', class: 'btn' }, t('space.create'));
		const form = h('form', { class: 'card space-form', 'aria-label': t('space.new') },
			h('h2', {}, t('space.new')),
			h('label', { htmlFor: 'space-new-name' }, t('space.name')), name,
			h('label', { htmlFor: 'space-new-desc' }, t('space.description')), desc,
			h('div', { class: 'form-row' },
				h('label', {}, t('space.visibility'), ' ', vis),
				h('label', {}, t('space.join_policy'), ' ', join)),
			err, h('div', { class: 'form-row' }, send));
		vis.addEventListener('change', () => {
			if (vis.value === 'private' && join.value === 'open')
				join.value = 'invite';
		});
		form.addEventListener('submit', async ev => {
			ev.preventDefault();
			err.textContent = '';
			if (!name.value.trim()) {
				err.textContent = t('space.name_needed');
				name.focus();
				return;
			}
			send.disabled = true;
			try {
				const body = { name: name.value.trim(), visibility: vis.value, join: join.value };
				if (desc.value.trim())
					body.description = desc.value.trim();
				const s = await api('POST', '/api/spaces', body);
				forget();
				announce(t('space.made'));
				onMade(s);
			} catch (e) {
				if (e.status !== 401)
					err.textContent = errorText(e);
			} finally {
				send.disabled = false;
			}
		});
		return form;
	}

	async function viewSpaces(main, seq, query) {
		const q = query.get('q') || '';
		const search = h('input', { type: 'search', value: q, placeholder: t('space.search'), 'aria-label': t('space.search'), id: 'space-search' });
		const mine = h('ul', { class: 'space-list', 'aria-label': t('space.mine') });
		const others = h('ul', { class: 'space-list', 'aria-label': t('space.all_open') });
		const newBtn = h('button', { type: 'button', class: 'btn', 'aria-expanded': 'false' }, t('space.new'));
		const formSlot = h('div');
		newBtn.addEventListener('click', () => {
			if (formSlot.firstChild) {
				formSlot.replaceChildren();
				newBtn.setAttribute('aria-expanded', 'false');
				return;
			}
			newBtn.setAttribute('aria-expanded', 'true');
			formSlot.append(createForm(s => { location.hash = `#/space/${s.id}`; }));
			formSlot.querySelector('input').focus();
		});
		main.append(
			h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, t('space.title')), newBtn),
			formSlot,
			h('form', { class: 'search-row', role: 'search', onsubmit: ev => { ev.preventDefault(); location.hash = search.value.trim() ? `#/spaces?q=${enc(search.value.trim())}` : '#/spaces'; } }, search),
			h('h2', {}, t('space.mine')), mine,
			h('h2', {}, t('space.all_open')), others);
		async function load() {
			const r = await api('GET', `/api/spaces${q ? `?q=${enc(q)}` : ''}`);
			if (seq !== state.viewSeq)
				return;
			const reload = () => load();
			const a = r.items.filter(s => s.my_role || s.my_pending);
			const b = r.items.filter(s => !s.my_role && !s.my_pending);
			mine.replaceChildren(...(a.length ? a.map(s => spaceItem(s, reload)) : [h('li', { class: 'muted' }, t('space.none_mine'))]));
			others.replaceChildren(...(b.length ? b.map(s => spaceItem(s, reload)) : [h('li', { class: 'muted' }, t('space.none_open'))]));
		}
		await load();
	}

	/* ----------------------------------------------------- one space */

	function memberRow(s, m, reload) {
		const admin = s.my_role === 'owner' || s.my_role === 'admin';
		const tools = [];
		if (admin && m.handle !== state.me.handle && (s.my_role === 'owner' || m.role === 'member')) {
			if (m.role === 'member')
				tools.push(h('button', { type: 'button', class: 'btn btn-quiet small', onclick: async () => { await act(s.id, 'promote', { user: m.handle, role: 'admin' }); reload(); } }, t('space.promote')));
			tools.push(h('button', { type: 'button', class: 'btn btn-quiet small danger', onclick: async () => { await act(s.id, 'remove', { user: m.handle }); reload(); } }, t('space.remove')));
		}
		return h('li', { class: 'member-row' }, personLink(m.handle), ' ',
			h('span', { class: 'muted small' }, t(`space.role_${m.role}`), m.site ? ` · ${m.site}` : ''), h('span', { class: 'member-tools' }, tools));
	}

	function pendingRow(s, p, reload) {
		const admin = s.my_role === 'owner' || s.my_role === 'admin';
		return h('li', { class: 'member-row' }, personLink(p.handle), ' ',
			h('span', { class: 'muted small' }, p.invited ? t('space.invited_by', { by: p.by || '' }) : t('space.asks')),
			admin && !p.invited ? h('span', { class: 'member-tools' },
				h('button', { type: 'button', class: 'btn small', onclick: async () => { await act(s.id, 'approve', { user: p.handle }); reload(); } }, t('space.approve')),
				h('button', { type: 'button', class: 'btn btn-quiet small', onclick: async () => { await act(s.id, 'decline', { user: p.handle }); reload(); } }, t('space.decline'))) : null);
	}

	function inviteForm(s, reload) {
		const who = h('input', { type: 'text', placeholder: t('space.invite_who'), 'aria-label': t('space.invite_who'), id: 'space-invite' });
		const err = h('p', { class: 'form-error', role: 'alert' });
		const form = h('form', { class: 'form-row invite-form' }, who, h('button', { type: 'submit', class: 'btn' }, t('space.invite')), err);
		form.addEventListener('submit', async ev => {
			ev.preventDefault();
			err.textContent = '';
			const user = who.value.trim().replace(/^@/, '');
			if (!user)
				return;
			try {
				await act(s.id, 'invite', { user });
				announce(t('space.invited', { user }));
				reload();
			} catch (e) {
				if (e.status !== 401)
					err.textContent = errorText(e);
			}
		});
		return form;
	}

	function settingsForm(s, reload) {
		const name = h('input', { type: 'text', value: s.name || '', maxlength: '100', id: 'space-edit-name' });
		const desc = h('textarea', { rows: '2', maxlength: '2000', id: 'space-edit-desc' });
		desc.value = s.description || '';
		const join = h('select', { id: 'space-edit-join' }, ['open', 'request', 'invite'].map(j =>
			h('option', { value: j, selected: j === s.join ? 'selected' : null }, t(`space.join_${j}`))));
		const err = h('p', { class: 'form-error', role: 'alert' });
		/* The cover: a picture sent for the space (sealed in a private one). */
		const cover = h('div', { class: 'form-row space-cover-tools' },
			h('span', {}, t('space.cover')),
			coverButton(s.id, reload),
			s.cover ? h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: async () => {
				try {
					await api('PATCH', `/api/spaces/${s.id}`, { cover: null });
					reload();
				} catch (e) {
					if (e.status !== 401)
						err.textContent = errorText(e);
				}
			} }, t('files.cover_remove')) : null);
		const form = h('form', { class: 'space-form' },
			cover,
			h('label', { htmlFor: 'space-edit-name' }, t('space.name')), name,
			h('label', { htmlFor: 'space-edit-desc' }, t('space.description')), desc,
			h('label', {}, t('space.join_policy'), ' ', join),
			err,
			h('div', { class: 'form-row' },
				h('button', { type: 'submit', class: 'btn' }, t('space.save')),
				h('button', { type: 'button', class: 'btn btn-quiet danger', onclick: async () => { await act(s.id, 'archive', { archived: !s.archived }); reload(); } }, s.archived ? t('space.unarchive') : t('space.archive'))));
		form.addEventListener('submit', async ev => {
			ev.preventDefault();
			err.textContent = '';
			const body = { name: name.value.trim(), description: desc.value.trim(), join: join.value };
			try {
				await api('PATCH', `/api/spaces/${s.id}`, body);
				forget();
				announce(t('space.saved'));
				reload();
			} catch (e) {
				if (e.status !== 401)
					err.textContent = errorText(e);
			}
		});
		return form;
	}

	async function viewSpace(main, seq, id) {
		let s;
		main.append(h('p', { class: 'back' }, h('a', { href: '#/spaces' }, `← ${t('space.back')}`)));
		try {
			s = await api('GET', `/api/spaces/${enc(id)}`);
		} catch (e) {
			if (seq === state.viewSeq && e.status === 404)
				main.append(h('h1', { tabindex: '-1' }, t('space.not_found')));
			else if (e.status !== 401)
				main.append(h('p', { class: 'form-error' }, errorText(e)));
			return;
		}
		if (seq !== state.viewSeq)
			return;
		const reload = () => { if (seq === state.viewSeq) { main.replaceChildren(); viewSpace(main, seq, id); } };
		const admin = s.my_role === 'owner' || s.my_role === 'admin';
		const head = [];
		if (!s.my_role && s.my_pending === 'invited')
			head.push(h('button', { type: 'button', class: 'btn', onclick: async () => { await act(id, 'join'); reload(); } }, t('space.accept')));
		else if (!s.my_role && !s.my_pending && s.join === 'open' && !s.archived)
			head.push(h('button', { type: 'button', class: 'btn', onclick: async () => { await act(id, 'join'); reload(); } }, t('space.join')));
		else if (!s.my_role && !s.my_pending && s.join === 'request' && !s.archived)
			head.push(h('button', { type: 'button', class: 'btn', onclick: async () => { await act(id, 'request'); reload(); } }, t('space.request')));
		else if (s.my_role && s.join !== 'site')
			head.push(h('button', { type: 'button', class: 'btn btn-quiet', onclick: async () => { try { await act(id, 'leave'); } catch (e) { announce(errorText(e)); } location.hash = '#/spaces'; } }, t('space.leave')));
		/* Follow: its new posts notify (space_post), for whoever reads it. */
		if ((s.my_role || s.visibility === 'open') && !s.archived)
			head.push(followButton(id, 'space', spaceName(s)));
		document.title = `${spaceName(s)} · ${t('app.name')}`;
		main.append(h('header', { class: `card space-head${s.cover ? ' has-cover' : ''}` },
			s.cover ? h('img', { class: 'space-cover', src: s.cover.url, alt: '' }) : null,
			h('h1', { tabindex: '-1', dir: 'auto' }, userText(spaceName(s))),
			badges(s),
			s.my_role ? h('span', { class: 'muted small' }, t('space.you_are', { role: t(`space.role_${s.my_role}`) })) : null,
			h('div', { class: 'form-row' }, head)));

		const feedSec = h('section', { class: 'space-feed', 'aria-label': t('space.feed') });
		const about = h('section', { class: 'card space-about', 'aria-label': t('space.about') },
			h('h2', {}, t('space.about')),
			s.description ? h('p', { dir: 'auto' }, userText(s.description)) : h('p', { class: 'muted' }, t('space.no_description')),
			s.creator ? h('p', { class: 'muted small' }, t('space.made_by'), ' ', personLink(s.creator)) : null,
			s.sites && s.sites.length ? h('p', { class: 'muted small' }, t('space.sites', { sites: s.sites.join(', ') })) : null);
		if (s.my_role && s.visibility !== 'open') {
			/* A member who fears a leak asks for a new key period (PROTOCOL.md 16.8). */
			const msg = h('p', { class: 'small', role: 'status' });
			const det = h('details', { class: 'space-rotate' });
			const rotate = async () => {
				try {
					await act(s.id, 'rotate');
					det.open = false;
					msg.textContent = t('space.rotated');
				} catch (e) {
					msg.textContent = errorText(e);
				}
			};
			det.append(h('summary', {}, t('space.rotate')),
				h('p', { class: 'muted small' }, t('space.rotate_why')),
				h('button', { type: 'button', class: 'btn btn-quiet', onclick: rotate }, t('space.rotate_confirm')));
			about.append(det, msg);
		}
		const side = h('aside', { class: 'space-side' }, about);
		if (s.join !== 'site' && s.readable) {
			side.append(h('section', { class: 'card space-members', 'aria-label': t('space.members') },
				h('h2', {}, t('space.members_n', { n: s.member_count })),
				h('ul', { class: 'member-list' }, s.members.map(m => memberRow(s, m, reload))),
				admin && !s.archived ? inviteForm(s, reload) : null));
		}
		if (s.pending && s.pending.length)
			side.append(h('section', { class: 'card space-pending', 'aria-label': t('space.requests') },
				h('h2', {}, t('space.requests')),
				h('ul', { class: 'member-list' }, s.pending.map(p => pendingRow(s, p, reload)))));
		if (admin && s.join !== 'site') {
			const det = h('details', { class: 'card space-settings' }, h('summary', {}, t('space.settings')), settingsForm(s, reload));
			side.append(det);
		}
		main.append(h('div', { class: 'space-layout' }, feedSec, side));
		if (!s.readable) {
			feedSec.append(h('p', { class: 'card muted' }, t('space.invited_only')));
			return;
		}
		const list = h('div', { class: 'feed-list' });
		const more = h('button', { type: 'button', class: 'btn btn-quiet more', hidden: true }, t('feed.more'));
		if (s.my_role && !s.archived)
			feedSec.append(composer(post => {
				const c = postCard(post);
				list.prepend(c.el);
				c.el.classList.add('fresh');
			}, { space: s }));
		feedSec.append(list, more);
		let next = null;
		async function page() {
			more.disabled = true;
			const r = await api('GET', `/api/spaces/${enc(id)}/feed?limit=20${next ? `&before=${next}` : ''}`);
			if (seq !== state.viewSeq)
				return;
			for (const p of r.items)
				if (!state.cards.has(p.id))
					list.append(postCard(p).el);
			next = r.next;
			more.hidden = !next;
			more.disabled = false;
			if (!r.items.length && !list.firstChild)
				list.append(h('p', { class: 'muted center' }, t('space.empty')));
		}
		more.addEventListener('click', page);
		await page();
	}

	/* A person's spaces on their page: the open ones, and the private ones
	 * the reader shares (the API leaves the others out). */
	function ofPerson(p) {
		const list = Array.isArray(p.spaces) ? p.spaces : [];
		if (!list.length)
			return null;
		return h('div', { class: 'profile-block' }, h('h2', {}, t('space.title')),
			h('ul', { class: 'chips' }, list.map(s => h('li', { class: 'chip' },
				h('a', { href: `#/space/${s.id}`, dir: 'auto' }, userText(s.name || t('space.unnamed')))))));
	}

	return { viewSpaces, viewSpace, picker, label, forget, ofPerson, inMainFeed };
}
