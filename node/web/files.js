// Files and pictures in the web UI (docs/API.md "Files"): what a post or a
// comment carries (pictures inline, a gallery for several; other files as
// an icon, a name, a size and a download link), the composer's attach,
// drop and paste with a progress bar per file, and the upload of a profile
// photo. app.js hands in its helpers (ui); the words are in i18n.js under
// "files.".

/* A size as people read it: 830 KB, 2.4 MB. */
function sizeText(ui, n) {
	const u = ['B', 'KB', 'MB', 'GB'];
	let i = 0;
	let v = Number(n) || 0;
	while (v >= 1000 && i < u.length - 1) {
		v /= 1000;
		i += 1;
	}
	return `${new Intl.NumberFormat(ui.lang(), { maximumFractionDigits: v < 10 && i ? 1 : 0 }).format(v)} ${u[i]}`;
}

/* The icon of a file type: a short word, never a picture from elsewhere. */
function kindOf(type) {
	if (type === 'application/pdf')
		return 'PDF';
	if (/spreadsheet|sheet/.test(type) || type === 'text/csv')
		return 'XLS';
	if (/presentation/.test(type))
		return 'PPT';
	if (/wordprocessing|opendocument\.text/.test(type))
		return 'DOC';
	if (type === 'text/plain')
		return 'TXT';
	return 'FILE';
}

/* Uploads one File with its progress (fetch has none for uploads):
 * resolves with the file event, rejects with {status, message}. A file for
 * a space names it: in a private one the node seals it as it arrives. */
function upload(ui, file, onProgress, space = '') {
	return new Promise((resolve, reject) => {
		const x = new XMLHttpRequest();
		const sp = space ? `&space=${encodeURIComponent(space)}` : '';
		x.open('POST', `/api/files?name=${encodeURIComponent(file.name || 'file')}${sp}`);
		x.setRequestHeader('X-CSRF-Token', ui.csrf());
		x.setRequestHeader('Content-Type', 'application/octet-stream');
		x.upload.onprogress = ev => {
			if (ev.lengthComputable)
				onProgress(ev.loaded / ev.total);
		};
		x.onload = () => {
			let data = null;
			try {
				data = JSON.parse(x.responseText);
			} catch {
				data = null;
			}
			if (x.status === 201 && data)
				resolve(data);
			else
				reject({ status: x.status, message: (data && data.error) || ui.t('files.failed') });
		};
		x.onerror = () => reject({ status: 0, message: ui.t('err.network') });
		x.send(file);
	});
}

export function makeFiles(ui) {
	const { h, t } = ui;

	/* A picture not here yet says where it comes from, never a broken image.
	 * Asking for it makes the node fetch it first (PROTOCOL.md 18.6, on
	 * demand): it is asked again every 5 s for a few minutes, and shown once
	 * it is here. */
	function notHere(img, f, round = 0) {
		const box = h('span', { class: 'file-wait', role: 'note' }, t('files.wait'));
		const src = img.getAttribute('src') || f.thumb || f.url;
		let tries = 0;
		img.replaceWith(box);
		if (round > 2)
			return; /* here, yet it would not show: no loop of requests */
		const ask = () => fetch(src, { credentials: 'same-origin', headers: { Range: 'bytes=0-0' } }).then(async r => {
			if (r.ok) {
				if (!box.isConnected)
					return;
				const again = h('img', { src, alt: img.alt || '', decoding: 'async' });
				again.addEventListener('error', () => notHere(again, f, round + 1), { once: true });
				box.replaceWith(again);
				return;
			}
			if (r.status !== 404)
				return;
			const j = await r.json().catch(() => null);
			if (j && j.code === 'not_here_yet') {
				if (j.from)
					box.textContent = t('files.wait_from', { site: j.from });
				if (++tries < 36 && box.isConnected)
					setTimeout(ask, 5000);
			} else if (j && j.code === 'no_such_file')
				box.textContent = t('files.gone');
		}).catch(() => {});
		ask();
	}

	/* What a post or a comment carries: pictures first, as a gallery. */
	function attachments(files) {
		if (!Array.isArray(files) || files.length === 0)
			return null;
		const pics = files.filter(f => f.thumb);
		const docs = files.filter(f => !f.thumb);
		const wrap = h('div', { class: 'files' });
		if (pics.length) {
			const g = h('div', { class: `gallery n${Math.min(pics.length, 4)}` });
			for (const f of pics) {
				const big = (f.thumbs || []).find(x => x.w > 320);
				const img = h('img', { src: f.thumb, alt: f.name || '', loading: 'lazy', decoding: 'async' });
				img.addEventListener('error', () => notHere(img, f), { once: true });
				g.append(h('a', { href: big ? `/api/files/${big.blob}` : f.url, target: '_blank', rel: 'noopener', class: 'pic', title: f.name,
					'aria-label': t('files.open', { name: f.name }) }, img));
			}
			wrap.append(g);
		}
		for (const f of docs) {
			wrap.append(h('div', { class: 'doc' },
				h('span', { class: 'doc-icon', 'aria-hidden': 'true' }, kindOf(f.type)),
				h('span', { class: 'doc-name', dir: 'auto' }, ui.userText(f.name || '')),
				h('span', { class: 'muted small doc-size' }, sizeText(ui, f.size)),
				h('a', { class: 'btn btn-small btn-quiet', href: f.url, download: f.name || '' }, t('files.download'))));
		}
		return wrap;
	}

	/* The composer's files: a button, drop and paste, each upload with its
	 * bar; ids() gives the files ready, busy() whether some still upload. */
	/* where() says the space the post goes to ('' company-wide): each file
	 * is sent for it, and remembers it (mismatch). */
	function composerFiles(form, textarea, where = () => '') {
		const list = h('ul', { class: 'uploads', 'aria-live': 'polite' });
		const input = h('input', { type: 'file', multiple: true, class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true' });
		const button = h('button', { type: 'button', class: 'btn btn-small btn-quiet attach', title: t('files.attach') },
			h('span', { 'aria-hidden': 'true' }, '📎 '), t('files.attach'));
		const items = [];
		button.addEventListener('click', () => input.click());
		input.addEventListener('change', () => {
			add([...input.files]);
			input.value = '';
		});

		function add(files) {
			for (const file of files) {
				if (items.length >= 10) {
					ui.showError({ message: t('files.max10') });
					break;
				}
				const bar = h('progress', { max: '1', value: '0', 'aria-label': t('files.uploading', { name: file.name }) });
				const status = h('span', { class: 'muted small' }, sizeText(ui, file.size));
				const remove = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': t('files.remove', { name: file.name }) }, '×');
				const li = h('li', { class: 'upload' }, h('span', { class: 'doc-name', dir: 'auto' }, ui.userText(file.name || '')), bar, status, remove);
				const it = { li, done: null, failed: false, space: where() || '' };
				items.push(it);
				remove.addEventListener('click', () => {
					items.splice(items.indexOf(it), 1);
					li.remove();
				});
				list.append(li);
				it.promise = upload(ui, file, p => { bar.value = String(p); }, it.space).then(ev => {
					it.done = ev;
					bar.value = '1';
					status.textContent = t('files.ready');
					li.classList.add('ready');
					if (ev.thumbs && ev.thumbs.length)
						li.prepend(h('img', { class: 'upload-thumb', src: `/api/files/${ev.thumbs[0].blob}`, alt: '' }));
					else if (/^image\//.test(ev.type))
						li.prepend(h('img', { class: 'upload-thumb', src: ev.url, alt: '' }));
				}, err => {
					it.failed = true;
					bar.remove();
					status.textContent = err.message;
					status.classList.add('form-error');
				});
			}
		}
		form.addEventListener('dragover', ev => {
			if (ev.dataTransfer && [...ev.dataTransfer.types].includes('Files')) {
				ev.preventDefault();
				form.classList.add('dropping');
			}
		});
		form.addEventListener('dragleave', () => form.classList.remove('dropping'));
		form.addEventListener('drop', ev => {
			form.classList.remove('dropping');
			if (ev.dataTransfer && ev.dataTransfer.files.length) {
				ev.preventDefault();
				add([...ev.dataTransfer.files]);
			}
		});
		textarea.addEventListener('paste', ev => {
			const files = ev.clipboardData ? [...ev.clipboardData.files] : [];
			if (files.length) {
				ev.preventDefault();
				add(files);
			}
		});
		return {
			button, input, list,
			busy: () => items.some(it => !it.done && !it.failed),
			ids: () => items.filter(it => it.done).map(it => it.done.id),
			// Files sent for another place than space: a file sent in clear
			// must not go into a private space's post, nor a private one's
			// into another (its readers could not open it).
			mismatch: space => items.some(it => it.done && it.space !== (space || '')),
			clear: () => {
				items.length = 0;
				list.replaceChildren();
			},
		};
	}

	/* A button that uploads a picture and makes it the profile photo. */
	function photoButton(onDone) {
		const input = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true' });
		const bar = h('progress', { max: '1', value: '0', hidden: true });
		const btn = h('button', { type: 'button', class: 'btn btn-small btn-quiet photo-set' }, t('files.photo_set'));
		btn.addEventListener('click', () => input.click());
		input.addEventListener('change', async () => {
			const file = input.files[0];
			input.value = '';
			if (!file)
				return;
			btn.disabled = true;
			bar.hidden = false;
			try {
				const ev = await upload(ui, file, p => { bar.value = String(p); });
				const person = await ui.api('PUT', '/api/profile', { photo: ev.id });
				onDone(person);
				ui.announce(t('files.photo_done'));
			} catch (err) {
				ui.showError(err);
			} finally {
				btn.disabled = false;
				bar.hidden = true;
			}
		});
		return h('span', { class: 'photo-tools' }, btn, bar, input);
	}

	/* A space admin's button that uploads a picture for the space (sealed
	 * in a private one) and makes it the space's cover. */
	function coverButton(spaceId, onDone) {
		const input = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true' });
		const bar = h('progress', { max: '1', value: '0', hidden: true });
		const btn = h('button', { type: 'button', class: 'btn btn-small btn-quiet cover-set' }, t('files.cover_set'));
		btn.addEventListener('click', () => input.click());
		input.addEventListener('change', async () => {
			const file = input.files[0];
			input.value = '';
			if (!file)
				return;
			btn.disabled = true;
			bar.hidden = false;
			try {
				const ev = await upload(ui, file, p => { bar.value = String(p); }, spaceId);
				await ui.api('PATCH', `/api/spaces/${encodeURIComponent(spaceId)}`, { cover: ev.id });
				ui.announce(t('files.cover_done'));
				onDone();
			} catch (err) {
				ui.showError(err);
			} finally {
				btn.disabled = false;
				bar.hidden = true;
			}
		});
		return h('span', { class: 'photo-tools' }, btn, bar, input);
	}

	return { attachments, composerFiles, photoButton, coverButton };
}
