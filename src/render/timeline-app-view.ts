// The interactive timeline's drawing (see timeline-app.ts; embedded by source text, so
// it uses nothing but its argument and browser globals): the header with controls,
// legend and time axis kept at the top of the window, lanes as the process tree, items
// placed for the current time window, the range selection.
import type { App } from './timeline-app.js';

export function appView(T: App): void {
  const { svg, D, L, fs, margin, rowH, lanePad, laneGap, el, clear, r1, r2 } = T;

  const fallback = svg.querySelector('#hv-fallback');
  if (fallback && fallback.parentNode) fallback.parentNode.removeChild(fallback);
  const gridG = el('g', { id: 'hv-grid' }, svg);
  const lanesG = el('g', { id: 'hv-lanes' }, svg);
  const selRect = el('rect', { id: 'hv-sel', display: 'none' }, svg);
  const cursorLine = el('line', { id: 'hv-cursor', display: 'none' }, svg);
  const head = el('g', { id: 'hv-head' }, svg);
  const headBg = el('rect', { class: 'head-bg', x: 0, y: 0 }, head);
  let y = margin;
  if (T.C.title) {
    y += fs * 1.3;
    el('text', { class: 'title', x: margin, y: r2(y) }, head, T.C.title);
    y += fs * 0.4;
  }
  y += fs * 1.4;
  const controlsY = y;
  let cx = margin;
  const button = (id: string, text: string) => {
    const b = el('text', { id, class: 'btn', x: r2(cx), y: r2(y) }, head, text);
    cx += L.estimateTextWidth(text, fs) + fs;
    return b;
  };
  const resetBtn = button('hv-reset', 'Reset zoom');
  const panelBtn = button('hv-panel-toggle', 'Hide panel');
  const hint = el('text', { class: 'hint', x: r2(cx), y: r2(y) }, head, 'wheel: zoom \u00b7 drag: pan \u00b7 drag the axis: measure \u00b7 click: zoom to a span \u00b7 Esc: reset');
  const hintEnd = cx + L.estimateTextWidth(hint.textContent!, fs);
  const selLabel = el('text', { id: 'hv-sel-label', class: 'sel-label', y: r2(y), 'text-anchor': 'end', display: 'none' }, head);
  const legendG = el('g', { id: 'hv-legend' }, head);
  const axisG = el('g', { id: 'hv-axis' }, head);
  const axisBand = el('rect', { id: 'hv-axis-band', class: 'axis-band' }, axisG);
  const axisLine = el('line', { class: 'axis-line' }, axisG);
  const ticksG = el('g', { id: 'hv-ticks' }, axisG);
  const axisTitle = el('text', { id: 'hv-axis-title', 'text-anchor': 'end' }, axisG);
  const runLabels = D.runs.map((r) => el('text', { class: 'run-label', x: margin }, lanesG, r[0]));
  const set = (e: Element, attrs: Record<string, number | string>) => {
    for (const k in attrs) e.setAttribute(k, String(typeof attrs[k] === 'number' ? r2(attrs[k] as number) : attrs[k]));
  };

  /** Legend entries for what the data holds; returns the y of its last row. */
  function legend(): number {
    clear(legendG);
    const seen: Record<string, boolean> = {};
    const hlSeen: boolean[] = [];
    for (let i = 0; i < T.nItems; i++) {
      seen[D.ip[i] >= 0 ? 'p-' + D.phases[D.ip[i]] : 'p-none'] = true;
      if (D.ic[i] > 1) seen.b = true;
      if (D.if[i] & 1) seen.unres = true;
      for (let k = 0; k < D.hl.length; k++) if (D.if[i] & (2 << k)) hlSeen[k] = true;
    }
    const entries: [string, string, number][] = [];
    for (const p of D.phases) if (seen['p-' + p]) entries.push(['p-' + p, p, -1]);
    if (seen['p-none']) entries.push(['p-none', 'no phase', -1]);
    if (seen.b) entries.push(['b p-none', 'N spans merged (< 1 px)', -1]);
    if (seen.unres) entries.push(['unres', 'unresolved: no evidence', -1]);
    for (let k = 0; k < D.hl.length; k++) if (hlSeen[k]) entries.push(['p-none hl-' + D.hl[k][0], D.hl[k][1] + ' (click: focus)', k]);
    let lx = margin;
    let ly = controlsY + fs * 1.6;
    for (const e of entries) {
      const w = fs * 1.5 + L.estimateTextWidth(e[1], fs);
      if (lx + w > T.W - margin && lx > margin) {
        lx = margin;
        ly += fs * 1.4;
      }
      const key = el('g', { class: e[2] >= 0 ? 'key hl-key' : 'key' }, legendG);
      if (e[2] >= 0) key.setAttribute('data-hl', String(e[2]));
      el('rect', { class: e[0], x: r2(lx), y: r2(ly - fs * 0.85), width: fs, height: fs }, key);
      el('text', { class: 'key-label', x: r2(lx + fs * 1.3), y: r2(ly) }, key, e[1]);
      lx += w + fs;
    }
    return ly;
  }

  /** Horizontal geometry and the header; on load, on resize, when the panel opens or closes. */
  T.frame = () => {
    const win = T.win;
    if (T.C.fixedWidth === null) T.W = Math.max(400, win.innerWidth > 0 ? win.innerWidth : T.C.initialWidth);
    const panelW = T.panelOpen ? Math.min(fs * 34, T.W * 0.4) : 0;
    T.plotLeft = margin + T.C.gutter;
    T.plotWidth = Math.max(fs * 4, T.W - T.plotLeft - (T.panelOpen ? panelW + margin * 2 : fs * 2));
    const axisY = legend() + fs * 2.4;
    T.headH = axisY + fs * 0.6;
    set(headBg, { width: T.W, height: T.headH });
    set(axisBand, { x: T.plotLeft, y: axisY - fs * 1.5, width: T.plotWidth, height: fs * 2.1 });
    set(axisLine, { x1: T.plotLeft, x2: T.plotLeft + T.plotWidth, y1: axisY, y2: axisY });
    set(axisTitle, { x: T.plotLeft - fs * 1.6, y: axisY - fs * 0.4 });
    set(selLabel, { x: T.plotLeft + T.plotWidth });
    panelBtn.textContent = T.panelOpen ? 'Hide panel' : 'Panel';
    set(T.panelFo, { display: T.panelOpen ? 'inline' : 'none', x: T.W - panelW - margin, width: panelW });
    T.layoutRows();
  };

  // ---- lanes ----
  interface LaneEls {
    g: SVGElement;
    band: SVGElement;
    label: SVGElement;
    toggle: SVGElement | null;
    busy: SVGElement | null;
  }
  const laneEls: (LaneEls | null)[] = D.lanes.map(() => null);
  const labelOf: (SVGElement | null)[] = T.rectOf.map(() => null);

  const visible = (i: number) => {
    for (let p = D.lanes[i][3]; p >= 0; p = D.lanes[p][3]) if (T.collapsed[p]) return false;
    return true;
  };
  const busyRow = (i: number) => T.hasChildren[i] && T.collapsed[i];

  T.itemClass = (k: number) => {
    let cls = D.ip[k] >= 0 ? 'p-' + D.phases[D.ip[k]] : 'p-none';
    if (D.ic[k] > 1) cls += ' b';
    if (D.if[k] & 1) cls += ' unres';
    return cls;
  };
  T.itemName = (i: number) => (D.ic[i] > 1 ? D.ic[i] + ' spans' : D.str[D.in[i]]);

  function buildLane(i: number): LaneEls {
    const lane = D.lanes[i];
    const parent = T.hasChildren[i];
    const g = el('g', { class: lane[1] === 'phases' ? 'lane phases' : 'lane', 'data-lane': i }, lanesG);
    const band = el('rect', { class: 'band', x: margin, y: 0 }, g);
    const lx = margin + fs * 0.3 + lane[2] * T.C.indent;
    const label = el('text', { class: 'lane-label', x: r2(lx + (parent ? fs * 1.1 : 0)), y: r2(lanePad + rowH * 0.7), 'data-lane': i }, g);
    const room = T.C.gutter - fs * 0.5 - lane[2] * T.C.indent - (parent ? fs * 1.1 : 0);
    const shown = L.estimateTextWidth(lane[0], fs) <= room ? lane[0] : L.fitLabel(lane[0], '', room, fs);
    label.textContent = shown;
    if (shown !== lane[0]) el('title', {}, label, lane[0]);
    const toggle = parent ? el('text', { class: 'toggle', x: r2(lx), y: r2(lanePad + rowH * 0.7), 'data-lane': i }, g) : null;
    const items = el('g', { class: 'items' }, g);
    for (const k of T.itemsOfLane[i]) {
      let cls = 's ' + T.itemClass(k);
      for (let h = 0; h < D.hl.length; h++) if (D.if[k] & (2 << h)) cls += ' hl-' + D.hl[h][0];
      T.rectOf[k] = el('rect', { class: cls, y: r1(lanePad + D.ir[k] * rowH), height: T.rectH, 'data-i': k }, items);
    }
    let busy: SVGElement | null = null;
    if (parent) {
      busy = el('g', { class: 'busy-row' }, g);
      const b = lane[5];
      for (let j = 0; j < b.length; j += 2) el('rect', { class: 'busy', height: T.rectH, 'data-lane': i, 'data-s': b[j], 'data-e': b[j + 1] }, busy);
    }
    if (T.instantsOfLane[i].length > 0) {
      const marks = el('g', { class: 'instants' }, g);
      const size = fs * 0.45;
      for (const k of T.instantsOfLane[i]) {
        const m = el('g', { class: D.tc[k] > 1 ? 'i many' : 'i', 'data-k': k }, marks);
        el('path', { d: `M0,${r2(size)}L${r2(-size / 2)},0H${r2(size / 2)}Z` }, m);
        el('line', { x1: 0, x2: 0, y1: r2(size) }, m);
        T.instantOf[k] = m;
      }
    }
    return { g, band, label, toggle, busy };
  }

  /** Vertical layout: which lanes show, where, and how tall. */
  T.layoutRows = () => {
    let yy = T.headH + fs * 0.4;
    let band = 0;
    for (let r = 0; r < D.runs.length; r++) {
      yy += fs * 1.4;
      runLabels[r].setAttribute('y', String(r2(yy)));
      yy += fs * 0.4;
      for (const i of D.runs[r][1]) {
        let e = laneEls[i];
        if (!visible(i)) {
          if (e) e.g.setAttribute('display', 'none');
          continue;
        }
        if (!e) e = laneEls[i] = buildLane(i);
        e.g.removeAttribute('display');
        const h = Math.max(1, D.lanes[i][4] + (busyRow(i) ? 1 : 0)) * rowH + 2 * lanePad;
        e.g.setAttribute('transform', `translate(0,${r2(yy)})`);
        set(e.band, { class: band++ % 2 === 0 ? 'band' : 'band alt', width: T.W - 2 * margin, height: h });
        if (e.toggle) e.toggle.textContent = T.collapsed[i] ? '\u25b8' : '\u25be';
        e.label.setAttribute('class', T.collapsed[i] ? 'lane-label collapsed' : 'lane-label');
        if (e.busy) set(e.busy, { display: busyRow(i) ? 'inline' : 'none', transform: `translate(0,${r2(lanePad + D.lanes[i][4] * rowH)})` });
        for (const k of T.instantsOfLane[i]) T.instantOf[k]!.lastElementChild!.setAttribute('y2', String(r2(h)));
        yy += h + laneGap;
      }
    }
    // At least the window's height, so that the panel reaches the bottom of the window.
    const content = yy + fs;
    T.H = Math.max(content, T.win.innerHeight > 0 ? T.win.innerHeight : 0);
    set(svg, { width: T.W, height: T.H, viewBox: `0 0 ${T.W} ${r2(T.H)}` });
    T.redraw();
    T.stick();
  };

  T.toggle = (i: number) => {
    if (!T.hasChildren[i]) return;
    T.collapsed[i] = !T.collapsed[i];
    T.layoutRows();
    T.applySearch();
  };
  /** Expands the ancestors of a lane so that it shows. */
  T.showLane = (i: number) => {
    let changed = false;
    for (let p = D.lanes[i][3]; p >= 0; p = D.lanes[p][3])
      if (T.collapsed[p]) {
        T.collapsed[p] = false;
        changed = true;
      }
    if (changed) {
      T.layoutRows();
      T.applySearch();
    }
  };

  // ---- the time window ----
  const xOf = (t: number) => T.plotLeft + ((t - T.z0) / (T.z1 - T.z0)) * T.plotWidth;

  /** Positions a rect for [s, e] clipped to the view; false when outside it. */
  function place(rect: Element, s: number, e: number, k: number): boolean {
    if (e < T.z0 || s > T.z1) {
      rect.setAttribute('display', 'none');
      return false;
    }
    rect.removeAttribute('display');
    const a = Math.max(s, T.z0);
    const b = Math.min(e, T.z1);
    rect.setAttribute('x', String(r1(T.plotLeft + (a - T.z0) * k)));
    rect.setAttribute('width', String(r1(Math.max((b - a) * k, 1))));
    return true;
  }

  function drawItem(i: number, k: number): void {
    const rect = T.rectOf[i]!;
    let label = '';
    if (place(rect, D.is[i], D.ie[i], k)) {
      const w = +rect.getAttribute('width')!;
      const dur = D.ic[i] > 1 ? '' : D.if[i] & 1 ? 'unresolved' : L.formatDuration(D.ie[i] - D.is[i]);
      if (w > fs * 1.8) label = L.fitLabel(T.itemName(i), dur, w - fs * 0.6, fs);
    }
    let text = labelOf[i];
    if (label && !text) {
      text = labelOf[i] = el('text', { class: 'l ' + T.itemClass(i), y: r1(lanePad + D.ir[i] * rowH + rowH * 0.68) });
      rect.parentNode!.insertBefore(text, rect.nextSibling);
    }
    if (!text) return;
    if (!label) return void text.setAttribute('display', 'none');
    text.removeAttribute('display');
    text.setAttribute('x', String(r1(+rect.getAttribute('x')! + fs * 0.3)));
    if (text.textContent !== label) text.textContent = label;
  }

  T.redraw = () => {
    const k = T.plotWidth / (T.z1 - T.z0);
    for (let i = 0; i < T.nLanes; i++) {
      const e = laneEls[i];
      if (!e || !visible(i)) continue;
      for (const j of T.itemsOfLane[i]) drawItem(j, k);
      if (e.busy && busyRow(i)) {
        const rects = e.busy.children;
        for (let r = 0; r < rects.length; r++) place(rects[r], +rects[r].getAttribute('data-s')!, +rects[r].getAttribute('data-e')!, k);
      }
      for (const j of T.instantsOfLane[i]) {
        const m = T.instantOf[j]!;
        if (D.tt[j] < T.z0 || D.tt[j] > T.z1) m.setAttribute('display', 'none');
        else {
          m.removeAttribute('display');
          m.setAttribute('transform', `translate(${r2(xOf(D.tt[j]))},0)`);
        }
      }
    }
    drawAxis();
    T.drawSelection();
    resetBtn.setAttribute('class', T.z0 === 0 && T.z1 === D.end ? 'btn off' : 'btn');
  };

  function drawAxis(): void {
    clear(ticksG);
    clear(gridG);
    const axis = L.timeAxis(T.z0, T.z1, T.plotLeft, T.plotWidth, fs);
    const ay = +axisLine.getAttribute('y1')!;
    for (const t of axis.ticks) {
      const x = r2(t.x);
      el('line', { x1: x, x2: x, y1: ay, y2: r2(ay + fs * 0.4) }, ticksG);
      el('text', { x, y: r2(ay - fs * 0.4), 'text-anchor': 'middle' }, ticksG, t.label);
      el('line', { x1: x, x2: x, y1: r2(T.headH), y2: r2(T.H) }, gridG);
    }
    axisTitle.textContent = axis.title;
  }

  T.drawSelection = () => {
    const s = T.selection;
    if (!s) {
      selRect.setAttribute('display', 'none');
      selLabel.setAttribute('display', 'none');
      hint.removeAttribute('display');
    } else {
      const a = Math.min(s[0], s[1]);
      const b = Math.max(s[0], s[1]);
      const xa = Math.max(T.plotLeft, xOf(a));
      const xb = Math.min(T.plotLeft + T.plotWidth, xOf(b));
      set(selRect, { display: 'inline', x: xa, width: Math.max(1, xb - xa), y: T.headH, height: Math.max(0, T.H - T.headH) });
      selLabel.removeAttribute('display');
      selLabel.textContent = `selected ${L.formatDuration(b - a)} (${L.formatDuration(a)} \u2192 ${L.formatDuration(b)}) \u00b7 click to zoom`;
      const labelStart = T.plotLeft + T.plotWidth - L.estimateTextWidth(selLabel.textContent, fs);
      if (labelStart < hintEnd) hint.setAttribute('display', 'none');
    }
    const c = T.cursorAt;
    if (c === null || c < T.z0 || c > T.z1) cursorLine.setAttribute('display', 'none');
    else set(cursorLine, { display: 'inline', x1: xOf(c), x2: xOf(c), y1: T.headH, y2: T.H });
  };

  let pending = false;
  /** Changes the time window (clamped to the run, at least 100 ns); redraws now or at the next frame. */
  T.setView = (a: number, b: number, now?: boolean) => {
    let span = Math.min(Math.max(b - a, 100), D.end);
    if (!(span > 0)) span = D.end;
    T.z0 = Math.min(Math.max(0, a), D.end - span);
    T.z1 = T.z0 + span;
    if (now || typeof T.win.requestAnimationFrame !== 'function') return T.redraw();
    if (pending) return;
    pending = true;
    T.win.requestAnimationFrame(() => {
      pending = false;
      T.redraw();
    });
  };

  // ---- window coordinates ----
  /** Event → svg user units. */
  T.pointer = (ev: MouseEvent) => {
    const r = svg.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * (r.width > 0 ? T.W / r.width : 1), y: (ev.clientY - r.top) * (r.height > 0 ? T.H / r.height : 1) };
  };
  /** The part of the svg inside the window, in user units. */
  T.viewport = () => {
    const r = svg.getBoundingClientRect();
    const sy = r.height > 0 ? T.H / r.height : 1;
    const top = Math.max(0, -r.top) * sy;
    const left = Math.max(0, -r.left);
    return { left, right: Math.min(T.W, left + (T.win.innerWidth || T.W)), top, bottom: Math.min(T.H, top + (T.win.innerHeight > 0 ? T.win.innerHeight : T.H) * sy) };
  };
  /** Keeps the header and the panel at the top of the window as the page scrolls. */
  T.stick = () => {
    const v = T.viewport();
    const off = Math.min(v.top, Math.max(0, T.H - T.headH));
    head.setAttribute('transform', `translate(0,${r2(off)})`);
    set(T.panelFo, { y: off + T.headH, height: Math.max(fs * 10, v.bottom - v.top - T.headH) });
  };
}
