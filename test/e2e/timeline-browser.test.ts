// End-to-end: the interactive SVG timeline in a real browser (Debian's chromium, headless,
// through the DevTools protocol). `hvscope render` draws two real recordings, a Xen
// domain creation (fixtures/xen-lab-tiny-pv) and a Linux boot under QEMU
// (fixtures/qemu-tcg-pc-linux); the test zooms with the wheel, pans, selects a range
// and reads its duration, searches a console line, collapses and expands a process, and
// checks what is on screen after each step. Screenshots go to the directory it prints
// (test-artifacts/timeline-browser/, not committed).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, noChromium, type Chromium } from '../helpers/browser.js';
import { hvscope, repo } from './trace-cli.js';

const ARTIFACTS = join(repo, 'test-artifacts/timeline-browser');
const XEN = join(repo, 'fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json');
const LINUX = join(repo, 'fixtures/qemu-tcg-pc-linux/run.hvtrace.json');

interface Screen {
  width: string | null;
  ticks: string[];
  axisTitle: string;
  view: [number, number];
  plot: { left: number; width: number; headH: number };
  selection: string | null;
  matched: string;
  list: string[];
  lanes: string[];
  collapsed: string[];
  busyShown: number;
  cursorShown: boolean;
}

/** What is on screen: read from the rendered page (shown: no ancestor with computed display none). */
async function screen(page: Page): Promise<Screen> {
  return page.evaluate(() => {
    const svg = document.documentElement as unknown as SVGSVGElement & { hvscope: { view(): [number, number]; plot(): Screen['plot'] } };
    const shown = (e: Element) => {
      for (let x: Element | null = e; x; x = x.parentElement) if (getComputedStyle(x).display === 'none') return false;
      return true;
    };
    const texts = (sel: string) => [...document.querySelectorAll(sel)].filter(shown).map((e) => e.textContent ?? '');
    const sel = document.querySelector('#hv-sel-label');
    return {
      width: svg.getAttribute('width'),
      ticks: texts('#hv-ticks text'),
      axisTitle: document.querySelector('#hv-axis-title')?.textContent ?? '',
      view: svg.hvscope.view(),
      plot: svg.hvscope.plot(),
      selection: sel && shown(sel) ? sel.textContent : null,
      matched: document.querySelector('#hv-matched')?.textContent ?? '',
      list: texts('#hv-list .entry'),
      lanes: [...document.querySelectorAll('text.lane-label')]
        .filter(shown)
        .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
        .map((e) => e.firstChild?.textContent ?? ''),
      collapsed: [...document.querySelectorAll('text.lane-label.collapsed')].filter(shown).map((e) => e.firstChild?.textContent ?? ''),
      busyShown: [...document.querySelectorAll('rect.busy')].filter(shown).length,
      cursorShown: shown(document.querySelector('#hv-cursor')!),
    };
  });
}

const frame = (page: Page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null)))));

/** Centre of the first visible element matching a selector whose text starts with `text`, in page pixels. */
async function centreOf(page: Page, selector: string, text?: string): Promise<{ x: number; y: number }> {
  const c = await page.evaluate(
    (s, t) => {
      const shown = (e: Element) => {
        for (let x: Element | null = e; x; x = x.parentElement) if (getComputedStyle(x).display === 'none') return false;
        return true;
      };
      const e = [...document.querySelectorAll(s)].find((x) => shown(x) && (t === null || (x.textContent ?? '').startsWith(t)));
      if (!e) return null;
      const r = e.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    },
    selector,
    text ?? null,
  );
  if (!c) throw new Error(`nothing on screen matches ${selector} ${text ?? ''}`);
  return c;
}

/** Seconds or milliseconds as printed by formatDuration → ns. */
function ns(text: string): number {
  const m = /^([\d.]+) (ns|µs|ms|s|min)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * { ns: 1, µs: 1e3, ms: 1e6, s: 1e9, min: 60e9 }[m[2] as 'ns']!;
}

/** The ▸/▾ before a lane's label. */
async function toggleOf(page: Page, lane: string) {
  const handle = await page.evaluateHandle((name) => {
    const label = [...document.querySelectorAll('text.lane-label')].find((e) => e.firstChild?.textContent === name);
    return label?.parentElement?.querySelector('text.toggle') ?? null;
  }, lane);
  const el = handle.asElement();
  if (!el) throw new Error(`lane ${lane} has no toggle on screen`);
  return el as import('puppeteer-core').ElementHandle<Element>;
}

async function drag(page: Page, from: { x: number; y: number }, to: { x: number; y: number }): Promise<void> {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 3 });
  await page.mouse.move(to.x, to.y, { steps: 3 });
  await page.mouse.up();
  await frame(page);
}

let chromium: Chromium | undefined;
const pageErrors: string[] = [];

async function open(file: string, width: number, height: number): Promise<Page> {
  const page = await chromium!.browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.setViewport({ width, height });
  await page.goto(`file://${file}`);
  await frame(page);
  return page;
}

describe.skipIf(noChromium)('interactive timeline in Chromium', () => {
  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    console.log(`timeline browser test: screenshots in ${ARTIFACTS}`);
    for (const [trace, out] of [
      [XEN, 'xen.svg'],
      [LINUX, 'linux.svg'],
    ]) {
      const r = await hvscope(['render', trace, '-o', join(ARTIFACTS, out)]);
      expect(r.exitCode, String(r.stderr)).toBe(0);
    }
    chromium = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await chromium?.close();
  });

  it('Xen creation: fits the window, wheel zoom, pan, range selection, search, collapse, axis on top when scrolled', { timeout: 60_000 }, async () => {
    const page = await open(join(ARTIFACTS, 'xen.svg'), 1400, 900);
    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `xen-${name}.png`) });
    const first = await screen(page);
    await shot('1-open');
    expect(first.width).toBe('1400');
    expect(first.ticks[0]).toBe('0.0');
    expect(first.axisTitle).toBe('time (s)');
    expect(first.lanes).toEqual(expect.arrayContaining(['phases', 'xl [506]', 'vif-bridge [525]']));
    // 46 lanes: the hotplug script's children start folded under it.
    expect(first.collapsed).toContain('vif-bridge [525]');
    expect(first.lanes).not.toContain('dirname [526]');
    expect(first.busyShown).toBeGreaterThan(0);
    const [, end] = first.view;

    // Wheel over the plot: zooms in around the pointer; the time under it stays put.
    const at = await centreOf(page, 'text.l', 'libxl_domain_create_new');
    const tUnder = (s: Screen, x: number) => s.view[0] + ((x - s.plot.left) / s.plot.width) * (s.view[1] - s.view[0]);
    await page.mouse.move(at.x, at.y);
    await page.mouse.wheel({ deltaY: -600 });
    await frame(page);
    const zoomed = await screen(page);
    await shot('2-wheel-zoom');
    expect(zoomed.view[1] - zoomed.view[0]).toBeLessThan(end * 0.5);
    expect(Math.abs(tUnder(zoomed, at.x) - tUnder(first, at.x))).toBeLessThan(end * 0.002);
    expect(zoomed.ticks).not.toEqual(first.ticks);

    // Drag on a lane: pans the window by the distance dragged.
    await drag(page, { x: at.x, y: at.y + 60 }, { x: at.x - 300, y: at.y + 60 });
    const panned = await screen(page);
    await shot('3-pan');
    const expectedShift = (300 / zoomed.plot.width) * (zoomed.view[1] - zoomed.view[0]);
    expect(panned.view[0] - zoomed.view[0]).toBeCloseTo(expectedShift, -6);
    expect(panned.view[1] - panned.view[0]).toBeCloseTo(zoomed.view[1] - zoomed.view[0], -3);

    // Drag on the time axis: selects a range; its label reads the duration.
    const axis = await centreOf(page, '#hv-axis-band');
    const x1 = panned.plot.left + 100;
    const x2 = panned.plot.left + 400;
    await drag(page, { x: x1, y: axis.y }, { x: x2, y: axis.y });
    const selected = await screen(page);
    await shot('4-select');
    expect(selected.view).toEqual(panned.view); // selecting does not move the view
    const m = /^selected (.+) \((.+) → (.+)\) · click to zoom$/.exec(selected.selection ?? '');
    expect(m, String(selected.selection)).not.toBeNull();
    const span = panned.view[1] - panned.view[0];
    expect(ns(m![1]) / ((300 / panned.plot.width) * span)).toBeCloseTo(1, 1);
    expect(ns(m![2]) / tUnder(panned, x1)).toBeCloseTo(1, 1);
    // Its label zooms to it.
    await page.mouse.click(...(Object.values(await centreOf(page, '#hv-sel-label')) as [number, number]));
    await frame(page);
    const toSelection = await screen(page);
    expect((toSelection.view[1] - toSelection.view[0]) / ns(m![1])).toBeCloseTo(1, 1);

    // Esc: back to the whole run, no selection.
    await page.keyboard.press('Escape');
    await frame(page);
    const reset = await screen(page);
    expect(reset.view).toEqual([0, end]);
    expect(reset.selection).toBeNull();
    expect(reset.ticks).toEqual(first.ticks);

    // Search a console line: listed in the panel, other spans dimmed; its entry shows it.
    await page.click('#hv-q');
    await page.keyboard.type('hello');
    await frame(page);
    const found = await screen(page);
    await shot('5-search');
    expect(found.matched).toMatch(/· 1 of 5 lines$/);
    expect(found.list).toHaveLength(1);
    expect(found.list[0]).toMatch(/^4\.08 s.*guest console.*tiny-pv: hello from a Xen PV guest$/);
    const opacity = await page.evaluate(() => getComputedStyle(document.querySelector('rect.s')!).opacity);
    expect(Number(opacity)).toBeLessThan(0.5);
    await page.click('#hv-list .entry');
    await frame(page);
    const shownLine = await screen(page);
    await shot('6-search-entry');
    expect(shownLine.cursorShown).toBe(true);
    expect(shownLine.view[0]).toBeLessThan(4.08e9);
    expect(shownLine.view[1]).toBeGreaterThan(4.08e9);
    expect(shownLine.view[1] - shownLine.view[0]).toBeLessThan(end / 10);
    await page.keyboard.press('Escape');
    await frame(page);
    const cleared = await screen(page);
    expect(cleared.matched).toMatch(/^312 spans · 5 instants and lines$/);
    expect(cleared.list).toHaveLength(5);
    expect(cleared.view).toEqual([0, end]);

    // Expand the hotplug script, then fold it again: its children come and go, with the busy row.
    const vif = await toggleOf(page, 'vif-bridge [525]');
    await vif.click();
    await frame(page);
    const expanded = await screen(page);
    await shot('7-expanded');
    expect(expanded.collapsed).not.toContain('vif-bridge [525]');
    expect(expanded.lanes).toEqual(expect.arrayContaining(['dirname [526]', 'vif-bridge [529]']));
    expect(expanded.collapsed).toContain('vif-bridge [529]'); // its own children stay folded
    expect(expanded.lanes).not.toContain('grep [531]');
    // Now taller than the window: scrolled, the header with the time axis stays on top.
    await page.setViewport({ width: 1400, height: 500 });
    await page.evaluate(() => window.scrollTo(0, 300));
    await frame(page);
    const scrolled = await page.evaluate(() => ({
      y: window.scrollY,
      axis: document.querySelector('#hv-axis .axis-line')!.getBoundingClientRect().top,
      lane: [...document.querySelectorAll('text.lane-label')].find((e) => e.textContent === 'xl [506]')!.getBoundingClientRect().top,
    }));
    await shot('8-scrolled');
    expect(scrolled.y).toBe(300);
    expect(scrolled.axis).toBeGreaterThan(0);
    expect(scrolled.axis).toBeLessThan(expanded.plot.headH);
    expect(scrolled.lane).toBeLessThan(0); // the lanes went up under it
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.setViewport({ width: 1400, height: 900 });
    await vif.click();
    await frame(page);
    const folded = await screen(page);
    expect(folded.collapsed).toContain('vif-bridge [525]');
    expect(folded.lanes).not.toContain('dirname [526]');
    expect(folded.busyShown).toBeGreaterThan(0);

    // Tooltips show a span's args.
    await page.mouse.move(at.x, at.y);
    const tipText = await page.evaluate(() => document.querySelector('#hv-tip text')?.textContent ?? '');
    expect(tipText).toContain('libxl_domain_create_new');
    expect(tipText).toContain('ret: 0');
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('Linux boot: console search, wheel zoom, collapse the QEMU process, width follows the window', { timeout: 60_000 }, async () => {
    const page = await open(join(ARTIFACTS, 'linux.svg'), 1280, 800);
    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `linux-${name}.png`) });
    const first = await screen(page);
    await shot('1-open');
    expect(first.width).toBe('1280');
    expect(first.lanes).toEqual(['phases', 'qemu (pid 2373)', 'VM run state', 'vCPU thread 2382', 'guest console (serial)']);
    expect(first.matched).toBe('6 spans · 401 instants and lines');

    await page.click('#hv-q');
    await page.keyboard.type('Run /init');
    await frame(page);
    const found = await screen(page);
    expect(found.matched).toMatch(/· 1 of 401 lines$/);
    expect(found.list).toEqual([expect.stringMatching(/^8\.83 s.*guest console \(serial\).*Run \/init as init process$/)]);
    await page.click('#hv-list .entry');
    await frame(page);
    const shown = await screen(page);
    await shot('2-console-line');
    expect(shown.view[0]).toBeLessThan(8.828e9);
    expect(shown.view[1]).toBeGreaterThan(8.828e9);
    expect(shown.axisTitle).toBe('time (ms)');

    // Wheel out again over the kernel phase: the window grows, clamped to the run.
    const kernel = await centreOf(page, 'text.l', 'kernel');
    await page.mouse.move(kernel.x, kernel.y);
    for (let i = 0; i < 6; i++) await page.mouse.wheel({ deltaY: 400 });
    await frame(page);
    const out = await screen(page);
    expect(out.view[1] - out.view[0]).toBeGreaterThan(shown.view[1] - shown.view[0]);
    expect(out.view[0]).toBeGreaterThanOrEqual(0);
    expect(out.view[1]).toBeLessThanOrEqual(first.view[1]);

    // Collapse the QEMU process: its VM run state and vCPU thread fold into its busy row.
    await page.keyboard.press('Escape');
    await page.click('text.toggle');
    await frame(page);
    const folded = await screen(page);
    await shot('3-qemu-collapsed');
    expect(folded.lanes).toEqual(['phases', 'qemu (pid 2373)', 'guest console (serial)']);
    expect(folded.collapsed).toEqual(['qemu (pid 2373)']);
    expect(folded.busyShown).toBe(1); // VM run state and the vCPU thread: one busy stretch
    await page.click('text.toggle');
    await frame(page);
    expect((await screen(page)).lanes).toHaveLength(5);

    // The svg follows the window's width.
    await page.setViewport({ width: 900, height: 600 });
    await frame(page);
    const narrow = await screen(page);
    await shot('4-narrow');
    expect(narrow.width).toBe('900');
    expect(narrow.plot.left + narrow.plot.width).toBeLessThan(900);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
