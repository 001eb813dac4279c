// The interactive timeline's input (see timeline-app.ts; embedded by source text, so it
// uses nothing but its argument and browser globals): wheel over the plot zooms around
// the pointer (Shift+wheel pans), drag pans the time window and scrolls the page, a
// click on a span zooms to it, drag on the time axis selects a range (its label zooms
// to it), ▸/▾ or a parent's name collapses it, hovering shows a tooltip; Esc resets,
// Ctrl-F goes to the search box.
import type { App } from './timeline-app.js';

export function appInput(T: App): void {
  const { svg, win, doc, D, L, fs, el, clear, r2 } = T;
  const tip = el('g', { id: 'hv-tip', display: 'none' }, svg);
  const tipBg = el('rect', { class: 'tip-bg', rx: 3 }, tip);
  const tipText = el('text', { class: 'tip-text' }, tip);

  const tOf = (x: number) => T.z0 + ((x - T.plotLeft) / T.plotWidth) * (T.z1 - T.z0);
  const inPlot = (x: number) => x >= T.plotLeft && x <= T.plotLeft + T.plotWidth;
  const within = (target: EventTarget | null, selector: string): Element | null => {
    const e = target as Element | null;
    return e && e.closest ? e.closest(selector) : null;
  };

  function tipLines(target: Element): string[] | null {
    const i = target.getAttribute('data-i');
    if (i !== null && target.nodeName === 'rect') {
      const k = +i;
      const phase = D.ip[k] >= 0 ? D.phases[D.ip[k]] : 'none';
      if (D.ic[k] > 1) {
        const b = T.blockOf[k];
        const lines = [L.mergedLine(D.ic[k], b[1], D.is[k], D.ie[k], phase, L.formatDuration)];
        for (let j = 0; j < b[2].length; j += 2) lines.push(`${D.str[b[2][j]]} \u00d7${b[2][j + 1]}`);
        if (b[3] > 0) lines.push(`\u2026 ${b[3]} more names`);
        return lines;
      }
      const lines = [D.str[D.in[k]], L.timingLine(D.is[k], D.ie[k], phase, (D.if[k] & 1) === 1, L.formatDuration)];
      for (let h = 0; h < D.hl.length; h++) if (D.if[k] & (2 << h)) lines.push(`\u25c6 ${D.hl[h][1]}`);
      if (D.ia[k] >= 0) for (const l of D.str[D.ia[k]].split('\n')) lines.push(l);
      return lines;
    }
    const kk = target.getAttribute('data-k');
    if (kk !== null) {
      const k = +kk;
      const lines = [D.str[D.tn[k]], `at ${L.formatDuration(D.tt[k])}` + (D.tp[k] >= 0 ? ` \u00b7 phase ${D.phases[D.tp[k]]}` : '')];
      if (D.ta[k] >= 0) for (const l of D.str[D.ta[k]].split('\n')) lines.push(l);
      return lines;
    }
    if (target.getAttribute('class') === 'busy') {
      const lane = D.lanes[+target.getAttribute('data-lane')!];
      return [`${lane[0]}: children busy ${L.formatDuration(lane[6])}`, `${lane[7]} lane${lane[7] === 1 ? '' : 's'} below, collapsed (\u25b8 expands)`];
    }
    return null;
  }

  function showTip(lines: string[], x: number, y: number): void {
    clear(tipText);
    const shownLines = lines.slice(0, 24).map((l) => (l.length > 140 ? l.slice(0, 140) + '\u2026' : l));
    let widest = 0;
    shownLines.forEach((line, n) => {
      el('tspan', { x: 0, dy: n === 0 ? fs : fs * 1.25, class: n === 0 ? 'tip-name' : '' }, tipText, line);
      widest = Math.max(widest, L.estimateTextWidth(line, fs));
    });
    const h = fs * 1.25 * shownLines.length + fs * 0.6;
    const w = widest + fs;
    const v = T.viewport();
    let tx = x + fs;
    let ty = y + fs;
    if (tx + w > v.right) tx = Math.max(v.left, x - fs - w);
    if (ty + h > v.bottom) ty = Math.max(v.top, y - fs - h);
    for (const [k, val] of [['x', -fs * 0.5], ['y', -fs * 0.2], ['width', w], ['height', h]] as [string, number][]) tipBg.setAttribute(k, String(r2(val)));
    tip.setAttribute('transform', `translate(${r2(tx)},${r2(ty)})`);
    tip.removeAttribute('display');
  }
  const hideTip = () => tip.setAttribute('display', 'none');

  svg.addEventListener(
    'wheel',
    (ev: WheelEvent) => {
      const p = T.pointer(ev);
      if (!inPlot(p.x) || within(ev.target, '#hv-panel') || (within(ev.target, '#hv-head') && !within(ev.target, '#hv-axis'))) return;
      ev.preventDefault();
      const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
      const span = T.z1 - T.z0;
      if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        const d = ((ev.shiftKey ? ev.deltaY : ev.deltaX) * unit * span) / T.plotWidth;
        return T.setView(T.z0 + d, T.z1 + d);
      }
      const f = (p.x - T.plotLeft) / T.plotWidth;
      const next = span * Math.exp(ev.deltaY * unit * 0.002);
      const t = tOf(p.x);
      T.setView(t - f * next, t - f * next + next);
    },
    { passive: false },
  );

  let drag: { select: boolean; x: number; y: number; z0: number; z1: number; moved: boolean; target: EventTarget | null } | null = null;
  svg.addEventListener('mousedown', (ev: MouseEvent) => {
    if (ev.button !== 0) return;
    const p = T.pointer(ev);
    if (within(ev.target, '#hv-axis') && inPlot(p.x)) {
      drag = { select: true, x: p.x, y: p.y, z0: T.z0, z1: T.z1, moved: false, target: ev.target };
      T.selection = [tOf(p.x), tOf(p.x)];
    } else if (!within(ev.target, '#hv-head') && !within(ev.target, '#hv-panel') && inPlot(p.x))
      drag = { select: false, x: ev.clientX, y: ev.clientY, z0: T.z0, z1: T.z1, moved: false, target: ev.target };
    else return;
    ev.preventDefault();
  });
  win.addEventListener('mousemove', (ev: MouseEvent) => {
    if (!drag) {
      const target = within(ev.target, 'rect.s, g.i, rect.busy');
      const lines = target ? tipLines(target) : null;
      if (!lines) return hideTip();
      const p = T.pointer(ev);
      return showTip(lines, p.x, p.y);
    }
    hideTip();
    if (drag.select) {
      const x = Math.min(Math.max(T.pointer(ev).x, T.plotLeft), T.plotLeft + T.plotWidth);
      if (Math.abs(x - drag.x) > 2) drag.moved = true;
      T.selection = [T.selection ? T.selection[0] : tOf(drag.x), tOf(x)];
      return T.drawSelection();
    }
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    const r = svg.getBoundingClientRect();
    const shift = (((dx * (r.width > 0 ? T.W / r.width : 1)) / T.plotWidth) * (drag.z1 - drag.z0));
    T.setView(drag.z0 - shift, drag.z1 - shift);
    if (dy !== 0) {
      win.scrollBy(0, -dy);
      drag.y = ev.clientY;
    }
  });
  win.addEventListener('mouseup', () => {
    const d = drag;
    drag = null;
    if (!d) return;
    if (d.select) {
      if (!d.moved) T.selection = null;
      return T.drawSelection();
    }
    const rect = d.moved ? null : within(d.target, 'rect.s');
    if (rect) {
      const i = +rect.getAttribute('data-i')!;
      T.setView(D.is[i], D.ie[i], true);
    }
  });

  svg.addEventListener('click', (ev: MouseEvent) => {
    const t = ev.target;
    if (within(t, '#hv-reset')) return T.setView(0, D.end, true);
    if (within(t, '#hv-panel-toggle')) {
      T.panelOpen = !T.panelOpen;
      return T.frame();
    }
    if (within(t, '#hv-sel-label') && T.selection) return T.setView(Math.min(...T.selection), Math.max(...T.selection), true);
    const key = within(t, '.hl-key');
    if (key) {
      const k = +key.getAttribute('data-hl')!;
      T.hlFocus = T.hlFocus === k ? -1 : k;
      return T.applySearch();
    }
    const lane = within(t, '.toggle, .lane-label');
    if (lane && lane.getAttribute('data-lane') !== null) T.toggle(+lane.getAttribute('data-lane')!);
  });

  doc.addEventListener('keydown', (ev: KeyboardEvent) => {
    if ((ev.ctrlKey || ev.metaKey) && (ev.key === 'f' || ev.key === 'F')) {
      // A second Ctrl-F, from the box, is the browser's own find.
      if (doc.activeElement === T.queryBox) return;
      ev.preventDefault();
      if (!T.panelOpen) {
        T.panelOpen = true;
        T.frame();
      }
      T.queryBox.focus();
    } else if (ev.key === 'Escape') {
      T.clearAll();
      if (doc.activeElement === T.queryBox) T.queryBox.blur();
    }
  });
  win.addEventListener('scroll', () => T.stick());
  win.addEventListener('resize', () => (T.C.fixedWidth === null ? T.frame() : T.stick()));
}
