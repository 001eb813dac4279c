// The interactive timeline's side panel (see timeline-app.ts; embedded by source text,
// so it uses nothing but its argument and browser globals): a search box (a regular
// expression, case-insensitive; an invalid one is taken literally) over span names,
// instants and console lines; the list of instants and lines (the matches while
// searching, then the matching spans, longest first); a click on an entry shows it.
// Non-matches are dimmed; a highlight's legend entry puts its spans in focus the same way.
import type { App } from './timeline-app.js';

export function appPanel(T: App): void {
  const { D, L, html, clear } = T;
  const LIST_CAP = 500;

  T.panelFo = T.el('foreignObject', { id: 'hv-panel' }, T.svg);
  const panel = html('div', 'panel', T.panelFo);
  const box = html('input', '', panel) as HTMLInputElement;
  box.setAttribute('id', 'hv-q');
  box.setAttribute('type', 'search');
  box.setAttribute('placeholder', 'search spans and lines (regex)');
  T.queryBox = box;
  const matched = html('div', 'matched', panel);
  matched.setAttribute('id', 'hv-matched');
  const list = html('div', 'list', panel);
  list.setAttribute('id', 'hv-list');

  function compile(text: string): RegExp | null {
    if (!text) return null;
    try {
      return new RegExp(text, 'i');
    } catch {
      return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    }
  }
  function itemHit(i: number): boolean {
    if (T.hlFocus >= 0 && !(D.if[i] & (2 << T.hlFocus))) return false;
    const q = T.query;
    if (!q) return true;
    if (D.ic[i] === 1) return q.test(D.str[D.in[i]]);
    const names = T.blockOf[i][2];
    for (let j = 0; j < names.length; j += 2) if (q.test(D.str[names[j]])) return true;
    return false;
  }
  /** Spans a hit stands for: 1, or those of a merged block whose names match. */
  function hitCount(i: number): number {
    const q = T.query;
    if (D.ic[i] === 1 || !q) return D.ic[i];
    const names = T.blockOf[i][2];
    let n = 0;
    for (let j = 0; j < names.length; j += 2) if (q.test(D.str[names[j]])) n += names[j + 1];
    return n;
  }
  function instantHit(k: number): boolean {
    const q = T.query;
    if (T.hlFocus >= 0) return false;
    return !q || q.test(D.str[D.tn[k]]) || (D.ta[k] >= 0 && q.test(D.str[D.ta[k]]));
  }

  T.applySearch = () => {
    const active = T.query !== null || T.hlFocus >= 0;
    T.svg.setAttribute('class', active ? 'hvscope-timeline searching' : 'hvscope-timeline');
    let spans = 0;
    let exact = true;
    const hitItems: number[] = [];
    for (let i = 0; i < T.nItems; i++) {
      const hit = active && itemHit(i);
      if (hit) {
        spans += hitCount(i);
        // A block lists its top names only: with more names, the count is a lower bound.
        if (D.ic[i] > 1 && T.blockOf[i][3] > 0) exact = false;
        hitItems.push(i);
      }
      const r = T.rectOf[i];
      if (r) r.classList.toggle('hit', hit);
    }
    let lines = 0;
    for (let k = 0; k < T.nInstants; k++) {
      const hit = active && instantHit(k);
      if (hit) lines++;
      const m = T.instantOf[k];
      if (m) m.classList.toggle('hit', hit);
    }
    if (!active) matched.textContent = `${D.total} spans \u00b7 ${T.nInstants} instants and lines`;
    else {
      const pct = D.total > 0 ? ((100 * spans) / D.total).toFixed(1) : '0.0';
      matched.textContent = `Matched: ${exact ? '' : '\u2265'}${spans} of ${D.total} spans (${pct}%) \u00b7 ${lines} of ${T.nInstants} lines`;
    }
    fillList(active, hitItems);
  };

  function entry(cls: string, attr: string, index: number, at: string, lane: number, text: string): void {
    const row = html('div', cls, list);
    row.setAttribute(attr, String(index));
    html('span', 'at', row, at);
    html('span', 'lane', row, (D.runs.length > 1 ? D.runs[T.laneRun[lane]][0] + ' \u00b7 ' : '') + D.lanes[lane][0]);
    html('span', 'text', row, text);
  }

  function fillList(active: boolean, hitItems: number[]): void {
    clear(list);
    let shown = 0;
    let more = 0;
    for (let k = 0; k < T.nInstants; k++) {
      if (active && !instantHit(k)) continue;
      if (shown++ >= LIST_CAP) more++;
      else entry('entry line', 'data-k', k, L.formatDuration(D.tt[k]), D.tl[k], D.str[D.tn[k]]);
    }
    if (active && hitItems.length > 0) {
      html('div', 'heading', list, 'spans, longest first');
      const byLength = hitItems.slice().sort((a, b) => D.ie[b] - D.is[b] - (D.ie[a] - D.is[a]) || a - b);
      for (const i of byLength.slice(0, LIST_CAP)) entry('entry span', 'data-i', i, D.if[i] & 1 ? 'unresolved' : L.formatDuration(D.ie[i] - D.is[i]), D.il[i], T.itemName(i));
      more += Math.max(0, byLength.length - LIST_CAP);
    }
    if (more > 0) html('div', 'more', list, `\u2026 ${more} more; narrow the search`);
  }

  T.search = (text: string) => {
    T.query = compile(text);
    if (box.value !== text) box.value = text;
    T.applySearch();
  };
  /** Esc: no search, no focus, no selection, no mark, the whole run. */
  T.clearAll = () => {
    T.query = null;
    T.hlFocus = -1;
    box.value = '';
    T.selection = null;
    T.cursorAt = null;
    T.applySearch();
    T.setView(0, D.end, true);
  };
  /** Shows [s, e] with a margin, or time t at the current zoom width (a twentieth of the run when not zoomed), and marks t. */
  T.reveal = (t: number, s?: number, e?: number) => {
    if (s !== undefined && e !== undefined && e > s) T.setView(s - (e - s) * 0.1, e + (e - s) * 0.1, true);
    else {
      const width = T.z1 - T.z0 < D.end ? T.z1 - T.z0 : D.end / 20;
      T.setView(t - width / 2, t + width / 2, true);
    }
    T.cursorAt = t;
    T.drawSelection();
  };

  box.addEventListener('input', () => T.search(box.value));
  list.addEventListener('click', (ev: Event) => {
    const target = ev.target as Element | null;
    const row = target && target.closest ? target.closest('.entry') : null;
    if (!row) return;
    if (row.getAttribute('data-k') !== null) {
      const k = +row.getAttribute('data-k')!;
      T.showLane(D.tl[k]);
      return T.reveal(D.tt[k]);
    }
    const i = +row.getAttribute('data-i')!;
    T.showLane(D.il[i]);
    T.reveal(D.is[i], D.is[i], D.ie[i]);
  });
}
