// The interactive timeline, as it runs in the browser. Nothing here runs in Node:
// timeline-script.ts embeds these functions' source text (Function.prototype.toString)
// in the SVG, so each must use nothing from outside its own body but its arguments and
// the browser's globals (types are fine: they vanish). The app is one shared state
// object `T`; each part adds its operations to it:
// - timeline-app-view.ts: the elements, lanes as the process tree (collapsible; a
//   collapsed parent shows its descendants' busy time), the zoomed drawing, the time
//   axis and header kept at the top of the window, the width fitted to the window;
// - timeline-app-panel.ts: the side panel (instants and console lines, search over
//   them and span names, non-matches dimmed), highlights in focus;
// - timeline-app-input.ts: wheel zoom, drag to pan, drag on the axis to measure a
//   range, click to zoom or collapse, tooltips, Esc and Ctrl-F.
import type { TimeAxis } from './axis.js';
import type { TimelineData } from './timeline-data.js';

export interface TimelineAppConfig {
  fontSize: number;
  /** Lane label gutter, user units (indentation included). */
  gutter: number;
  /** Indentation per tree level. */
  indent: number;
  title: string;
  /** A width the user asked for (px); null: fit the window. */
  fixedWidth: number | null;
  /** Width of the fallback drawing, used until the window is known. */
  initialWidth: number;
}

type Block = [number, number, number[], number];

/** The app's state and operations, shared by its parts. */
export interface App {
  svg: SVGSVGElement;
  doc: Document;
  win: Window;
  C: TimelineAppConfig;
  D: TimelineData;
  L: TimelineAppLib;
  fs: number;
  margin: number;
  rowH: number;
  rectH: number;
  lanePad: number;
  laneGap: number;
  nLanes: number;
  nItems: number;
  nInstants: number;
  hasChildren: boolean[];
  collapsed: boolean[];
  itemsOfLane: number[][];
  instantsOfLane: number[][];
  blockOf: Record<number, Block>;
  laneRun: number[];
  /** Current view: svg size, time window, panel, search, highlight in focus, selection, marked time. */
  W: number;
  H: number;
  z0: number;
  z1: number;
  panelOpen: boolean;
  query: RegExp | null;
  hlFocus: number;
  selection: [number, number] | null;
  cursorAt: number | null;
  headH: number;
  plotLeft: number;
  plotWidth: number;
  rectOf: (SVGElement | null)[];
  instantOf: (SVGElement | null)[];
  el(name: string, attrs: Record<string, string | number>, parent?: Element | null, text?: string): SVGElement;
  html(name: string, cls: string, parent: Element | null, text?: string): HTMLElement;
  clear(e: Element): void;
  r1(v: number): number;
  r2(v: number): number;
  // view
  frame(): void;
  layoutRows(): void;
  redraw(): void;
  drawSelection(): void;
  setView(a: number, b: number, now?: boolean): void;
  stick(): void;
  pointer(ev: MouseEvent): { x: number; y: number };
  viewport(): { left: number; right: number; top: number; bottom: number };
  itemName(i: number): string;
  itemClass(i: number): string;
  toggle(i: number): void;
  showLane(i: number): void;
  // panel
  applySearch(): void;
  search(text: string): void;
  clearAll(): void;
  reveal(t: number, s?: number, e?: number): void;
  queryBox: HTMLInputElement;
  panelFo: SVGElement;
}

export interface TimelineAppLib {
  timeAxis(startNs: number, endNs: number, plotLeft: number, plotWidth: number, fontSize: number): TimeAxis;
  formatDuration(ns: number): string;
  fitLabel(name: string, duration: string, available: number, fontSize: number): string;
  estimateTextWidth(text: string, fontSize: number): number;
  timingLine(start: number, end: number, phase: string, unresolved: boolean, fmt: (ns: number) => string): string;
  mergedLine(count: number, totalNs: number, start: number, end: number, phase: string, fmt: (ns: number) => string): string;
  appView(T: App): void;
  appPanel(T: App): void;
  appInput(T: App): void;
}

export function timelineApp(svg: SVGSVGElement, C: TimelineAppConfig, D: TimelineData, L: TimelineAppLib): void {
  const doc = svg.ownerDocument;
  // A document from DOMParser (tests) has no window of its own: use the global one.
  const win = (doc.defaultView ?? window) as Window;
  const fs = C.fontSize;
  const nLanes = D.lanes.length;
  const T = {
    svg,
    doc,
    win,
    C,
    D,
    L,
    fs,
    margin: fs * 0.5,
    rowH: fs * 1.5,
    rectH: Math.round((fs * 1.5 - Math.max(1, fs * 0.12)) * 10) / 10,
    lanePad: fs * 0.25,
    laneGap: fs * 0.2,
    nLanes,
    nItems: D.il.length,
    nInstants: D.tl.length,
    hasChildren: [] as boolean[],
    collapsed: [] as boolean[],
    itemsOfLane: [] as number[][],
    instantsOfLane: [] as number[][],
    blockOf: {} as Record<number, Block>,
    laneRun: [] as number[],
    W: C.fixedWidth ?? (win.innerWidth > 0 ? win.innerWidth : C.initialWidth),
    H: 0,
    z0: 0,
    z1: D.end,
    panelOpen: false,
    query: null,
    hlFocus: -1,
    selection: null,
    cursorAt: null,
    headH: 0,
    plotLeft: 0,
    plotWidth: 1,
    rectOf: [] as (SVGElement | null)[],
    instantOf: [] as (SVGElement | null)[],
    el(name: string, attrs: Record<string, string | number>, parent?: Element | null, text?: string): SVGElement {
      const e = doc.createElementNS('http://www.w3.org/2000/svg', name) as SVGElement;
      for (const k in attrs) e.setAttribute(k, String(attrs[k]));
      if (text !== undefined) e.textContent = text;
      if (parent) parent.appendChild(e);
      return e;
    },
    html(name: string, cls: string, parent: Element | null, text?: string): HTMLElement {
      const e = doc.createElementNS('http://www.w3.org/1999/xhtml', name) as HTMLElement;
      if (cls) e.setAttribute('class', cls);
      if (text !== undefined) e.textContent = text;
      if (parent) parent.appendChild(e);
      return e;
    },
    clear(e: Element): void {
      while (e.firstChild) e.removeChild(e.firstChild);
    },
    r1: (v: number) => Math.round(v * 10) / 10,
    r2: (v: number) => Math.round(v * 100) / 100,
  } as unknown as App;
  T.panelOpen = T.W >= 900;
  for (let i = 0; i < nLanes; i++) {
    T.hasChildren.push(false);
    T.itemsOfLane.push([]);
    T.instantsOfLane.push([]);
    T.laneRun.push(0);
  }
  for (let i = 0; i < nLanes; i++) if (D.lanes[i][3] >= 0) T.hasChildren[D.lanes[i][3]] = true;
  // Long process trees start folded below the first level.
  for (let i = 0; i < nLanes; i++) T.collapsed.push(nLanes > 20 && T.hasChildren[i] && D.lanes[i][2] >= 1);
  for (let i = 0; i < T.nItems; i++) {
    T.itemsOfLane[D.il[i]].push(i);
    T.rectOf.push(null);
  }
  for (let k = 0; k < T.nInstants; k++) {
    T.instantsOfLane[D.tl[k]].push(k);
    T.instantOf.push(null);
  }
  for (const b of D.blocks) T.blockOf[b[0]] = b;
  D.runs.forEach((r, ri) => {
    for (const i of r[1]) T.laneRun[i] = ri;
  });

  L.appView(T);
  L.appPanel(T);
  L.appInput(T);
  T.frame();
  T.applySearch();

  // For tests and the browser console: the same operations without the mouse.
  (svg as unknown as { hvscope: unknown }).hvscope = {
    view: () => [T.z0, T.z1],
    zoom: (a: number, b: number) => T.setView(a, b, true),
    reset: () => T.setView(0, D.end, true),
    search: T.search,
    clear: T.clearAll,
    toggle: T.toggle,
    collapsed: (i: number) => T.collapsed[i],
    select: (a: number, b: number) => {
      T.selection = [a, b];
      T.drawSelection();
    },
    selection: () => (T.selection ? [Math.min(T.selection[0], T.selection[1]), Math.max(T.selection[0], T.selection[1])] : null),
    plot: () => ({ left: T.plotLeft, width: T.plotWidth, headH: T.headH }),
  };
}
