// The event layouts are declared once, in each probe set's handler; this test
// keeps the three other places that state them from drifting: the printf lines
// of probes/*.bt, the "Output:" header of each .bt, and the event table of
// probes/README.md. It also checks the registry: one handler per .bt, with its
// example output.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONSOLE_PAUSE_NS } from '../../model/console-text.js';
import { EVENT_LAYOUTS, HANDLERS } from './index.js';
import { PRELUDE_LAYOUTS, type EventLayout } from './parse.js';

const PROBES = new URL('../../../probes/', import.meta.url).pathname;
const SETS = readdirSync(PROBES)
  .filter((f) => f.endsWith('.bt'))
  .map((f) => f.replace(/\.bt$/, ''))
  .sort();
const text = (file: string) => readFileSync(`${PROBES}${file}`, 'utf8');
/** A layout as one list: fixed keys, then the free-text key. */
const fields = (l: EventLayout) => [...l.keys, ...(l.text ? [l.text] : [])];

/** event → field keys, from the program's printf format strings (`printf("EVENT\t%llu\t%d\t%d\tkey=...`). */
function printedEvents(bt: string): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const m of bt.matchAll(/printf\("([^"]*)"/g)) {
    const parts = m[1].replace(/\\n$/, '').split('\\t');
    if (parts.length < 4 || parts[1] !== '%llu') continue;
    const keys = parts.slice(4).map((p) => p.slice(0, p.indexOf('=')));
    out.set(parts[0], [...(out.get(parts[0]) ?? []), keys]);
  }
  return out;
}

/** event → keys, from the header's "Output:" lines (` *\tEVENT  key=V key=V  (comment)`). */
function headerEvents(bt: string): Map<string, string[]> {
  const header = bt.slice(0, bt.indexOf('*/'));
  const output = header.slice(header.indexOf('Output:'));
  const out = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const m = /^ \*\t([a-z_]+)\s+((?:[a-z_]+=\S+\s*)*)/.exec(line);
    if (!m || m[1] === 'EVENT') continue;
    out.set(m[1], m[2].trim() === '' ? [] : m[2].trim().split(/\s+/).map((kv) => kv.slice(0, kv.indexOf('='))));
  }
  return out;
}

/** event → { keys, text, sets } from probes/README.md's event table (backticked lower-case words are keys). */
function readmeEvents(): Map<string, { fields: string[]; sets: string[] }> {
  const out = new Map<string, { fields: string[]; sets: string[] }>();
  for (const line of text('README.md').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const event = /^`([a-z_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!event || cells.length < 6 || !(event in EVENT_LAYOUTS)) continue;
    // keys are the backticked names outside parentheses (which describe them)
    const keys = (cell: string) => [...cell.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((k) => k[1]);
    const sets = cells[4].split(',').map((s) => /^[a-z]+/.exec(s.trim())?.[0] ?? '');
    out.set(event, { fields: [...keys(cells[2]), ...keys(cells[3])], sets });
  }
  return out;
}

describe('probe sets and their handlers', () => {
  it('one handler per probes/*.bt, each with a real example output', () => {
    expect(HANDLERS.map((h) => h.set).sort()).toEqual(SETS);
    for (const set of SETS) expect(existsSync(`${PROBES}${set}_example.txt`), `${set}_example.txt`).toBe(true);
  });

  it('every event the programs print has a layout, and its printf has exactly those fields', () => {
    for (const set of SETS) {
      for (const [event, variants] of printedEvents(text(`${set}.bt`))) {
        expect(EVENT_LAYOUTS[event], `${set}.bt prints ${event}, which no handler declares`).toBeDefined();
        for (const keys of variants) expect(keys, `${set}.bt: printf of ${event}`).toEqual(fields(EVENT_LAYOUTS[event]));
      }
    }
  });

  it('the END block hvscope generates prints hv_end in its layout', () => {
    const assembler = readFileSync(new URL('../../tracer/probes.ts', import.meta.url), 'utf8').replace(/\\\\/g, '\\');
    expect(printedEvents(assembler).get('hv_end')).toEqual([fields(PRELUDE_LAYOUTS.hv_end)]);
  });

  it('each handler declares the events its own .bt prints (the prelude\'s and the exec set\'s shared ones aside)', () => {
    const shared = new Set([...Object.keys(PRELUDE_LAYOUTS), ...Object.keys(HANDLERS.find((h) => h.set === 'exec')!.events)]);
    for (const h of HANDLERS) {
      const printed = [...printedEvents(text(`${h.set}.bt`)).keys()].filter((e) => !shared.has(e) || h.set === 'exec');
      expect(Object.keys(h.events).sort(), h.set).toEqual(printed.filter((e) => !(e in PRELUDE_LAYOUTS)).sort());
    }
  });

  it('each .bt header lists what the program prints, with the same fields', () => {
    for (const set of SETS) {
      const bt = text(`${set}.bt`);
      const header = headerEvents(bt);
      const printed = [...printedEvents(bt).keys()].filter((e) => !(e in PRELUDE_LAYOUTS));
      expect([...header.keys()].sort(), `${set}.bt header`).toEqual(printed.sort());
      for (const [event, keys] of header) expect(keys, `${set}.bt header: ${event}`).toEqual(fields(EVENT_LAYOUTS[event]));
    }
  });

  it('probes/README.md\'s event table has every event, its fields and the sets that print it', () => {
    const readme = readmeEvents();
    expect([...readme.keys()].sort()).toEqual(Object.keys(EVENT_LAYOUTS).sort());
    for (const [event, row] of readme) {
      expect(row.fields, `README: ${event}`).toEqual(fields(EVENT_LAYOUTS[event]));
      if (event in PRELUDE_LAYOUTS) {
        // the shared prelude (and hvscope's generated END block) print these for every set
        expect(row.sets, `README: ${event}`).toEqual(['all']);
        continue;
      }
      const printers = SETS.filter((set) => printedEvents(text(`${set}.bt`)).has(event));
      expect(row.sets.sort(), `README: sets printing ${event}`).toEqual(printers);
    }
  });

  it('qemu.bt cuts console segments at the model\'s console pause (CONSOLE_PAUSE_NS), and its comments say the same', () => {
    const bt = text('qemu.bt');
    const literals = [...bt.matchAll(/\$now - @hv_con_last\[pid\] > (\d+)/g)].map((m) => Number(m[1]));
    expect(literals).toEqual([CONSOLE_PAUSE_NS]);
    const ms = CONSOLE_PAUSE_NS / 1e6;
    expect(bt).toContain(`${ms} ms`);
    expect(text('README.md')).toContain(`pause of more than ${ms} ms`);
  });
});

describe('event names', () => {
  it('are valid printf event names (parse.ts skips the name pattern for declared events)', () => {
    for (const event of Object.keys(EVENT_LAYOUTS)) expect(event).toMatch(/^[a-z_][a-z0-9_]*$/);
  });
});
