/*
 * The Figures page's charts and downloads (issue 21): adoption over time and
 * the exchange between sites as a heat map, drawn as plain SVG by the page
 * (no library, no CDN); the workbook for a chosen period; the CSV with ";"
 * that a French Excel opens in columns. app.js calls these from viewFigures.
 */
import { lang, t } from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';

/* An SVG element with its attributes and children (strings become text). */
function svg(tag, attrs = {}, ...kids) {
	const el = document.createElementNS(NS, tag);
	for (const [k, v] of Object.entries(attrs))
		if (v !== null && v !== undefined)
			el.setAttribute(k, String(v));
	for (const k of kids.flat())
		if (k !== null && k !== undefined)
			el.append(typeof k === 'string' || typeof k === 'number' ? document.createTextNode(String(k)) : k);
	return el;
}

const fmt = n => Number(n || 0).toLocaleString(lang());

/* Active staff per week as a line over an area: f.weeks, oldest first. */
export function adoptionChart(f) {
	const weeks = Array.isArray(f.weeks) ? f.weeks : [];
	const W = 600, H = 180, L = 36, B = 24, T = 10, R = 10;
	const most = Math.max(1, ...weeks.map(w => Number(w.active) || 0));
	const x = i => L + (weeks.length > 1 ? i * (W - L - R) / (weeks.length - 1) : (W - L - R) / 2);
	const y = v => T + (H - T - B) * (1 - (Number(v) || 0) / most);
	const pts = weeks.map((w, i) => `${x(i).toFixed(1)},${y(w.active).toFixed(1)}`);
	const day = ms => new Date(ms).toLocaleDateString(lang(), { day: 'numeric', month: 'short' });
	const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart chart-adoption', role: 'img', 'aria-label': t('figures.chart_adoption') },
		svg('title', {}, t('figures.chart_adoption')),
		svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }),
		svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }),
		svg('text', { x: L - 4, y: T + 4, class: 'tick', 'text-anchor': 'end' }, fmt(most)),
		svg('text', { x: L - 4, y: H - B, class: 'tick', 'text-anchor': 'end' }, '0'),
		weeks.length ? svg('text', { x: L, y: H - 6, class: 'tick' }, day(weeks[0].start)) : null,
		weeks.length > 1 ? svg('text', { x: W - R, y: H - 6, class: 'tick', 'text-anchor': 'end' }, day(weeks[weeks.length - 1].start)) : null,
		pts.length > 1 ? svg('polygon', { points: `${x(0)},${H - B} ${pts.join(' ')} ${x(weeks.length - 1)},${H - B}`, class: 'area' }) : null,
		pts.length > 1 ? svg('polyline', { points: pts.join(' '), class: 'line' }) : null,
		weeks.map((w, i) => svg('circle', { cx: x(i), cy: y(w.active), r: 3, class: 'dot' },
			svg('title', {}, `${day(w.start)}: ${fmt(w.active)}`))));
	return chart;
}

/* The exchange between sites as a heat map: a row per giving site, a column
 * per site whose posts got the comments and reactions; darker is more. */
export function exchangeHeat(f) {
	const sites = (Array.isArray(f.sites) ? f.sites : []).map(s => s.site);
	const pairs = Array.isArray(f.exchange) ? f.exchange : [];
	for (const p of pairs)
		for (const s of [p.from, p.to])
			if (!sites.includes(s))
				sites.push(s);
	const n = sites.length;
	if (n < 2) {
		// One site: there is no "between" to draw.
		const p = document.createElement('p');
		p.className = 'muted';
		p.textContent = t('figures.heat_one_site');
		return p;
	}
	const v = (a, b) => pairs.filter(p => p.from === a && p.to === b).reduce((s, p) => s + (Number(p.comments) || 0) + (Number(p.reactions) || 0), 0);
	const most = Math.max(1, ...sites.flatMap(a => sites.map(b => v(a, b))));
	const C = 56, L = 110, T = 70;
	const cells = [];
	sites.forEach((a, i) => sites.forEach((b, j) => {
		const val = a === b ? null : v(a, b);
		cells.push(svg('rect', { x: L + j * C, y: T + i * C, width: C - 2, height: C - 2, class: val === null ? 'cell self' : 'cell', 'fill-opacity': val ? (0.15 + 0.85 * val / most).toFixed(2) : null },
			svg('title', {}, val === null ? a : `${a} → ${b}: ${fmt(val)}`)));
		if (val !== null)
			cells.push(svg('text', { x: L + j * C + (C - 2) / 2, y: T + i * C + C / 2 + 4, 'text-anchor': 'middle', class: val > most / 2 ? 'val dark' : 'val' }, fmt(val)));
	}));
	// Its own size at most (width, height): a small matrix is not blown up.
	return svg('svg', { viewBox: `0 0 ${L + n * C + 4} ${T + n * C + 4}`, width: L + n * C + 4, height: T + n * C + 4, class: 'chart chart-heat', role: 'img', 'aria-label': t('figures.heat') },
		svg('title', {}, t('figures.heat')),
		sites.map((s, i) => svg('text', { x: L - 6, y: T + i * C + C / 2 + 4, 'text-anchor': 'end', class: 'tick' }, s)),
		sites.map((s, j) => svg('text', { x: L + j * C + C / 2, y: T - 8, 'text-anchor': 'start', class: 'tick', transform: `rotate(-35 ${L + j * C + C / 2} ${T - 8})` }, s)),
		cells);
}

/* The rows of a CSV as text: sep "," (the standard) or ";" (a French
 * Excel, where "," is the decimal mark). */
export function csvText(rows, sep) {
	const quote = v => new RegExp(`["${sep}\\n]`).test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);
	return rows.map(r => r.map(quote).join(sep)).join('\r\n');
}

/* The workbook's form: a period (first and last day) and the download. */
export function workbookForm(h, f) {
	const day = ms => new Date(ms).toISOString().slice(0, 10);
	const from = h('input', { type: 'date', name: 'from', value: day(f.from), 'aria-label': t('figures.wb_from') });
	const to = h('input', { type: 'date', name: 'to', value: day(f.to), 'aria-label': t('figures.wb_to') });
	const link = h('a', { class: 'btn btn-small', href: '#', download: '' }, t('figures.workbook'));
	const sync = () => link.setAttribute('href', `/api/reports/workbook.xlsx?from=${encodeURIComponent(from.value)}&to=${encodeURIComponent(to.value)}`);
	from.addEventListener('change', sync);
	to.addEventListener('change', sync);
	sync();
	return h('div', { class: 'workbook-form' },
		h('label', {}, t('figures.wb_from'), ' ', from), h('label', {}, t('figures.wb_to'), ' ', to), link);
}

/* Does the signed-in person see the figures? The role management or admin
 * (the server checks it again at each call: this only hides the link). */
export function seesFigures(me) {
	const role = me && me.person && me.person.role;
	return !!me && (me.admin || role === 'admin' || role === 'management');
}
