import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { serializeTrace } from '../../model/io.js';
import { MS, syntheticRun } from '../../../test/helpers/synthetic-figure-runs.js';
import { renderFigureSpec } from './index.js';
import { loadFigureSpec } from './spec.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-figure-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Two synthetic run directories beside the spec, as a lab would leave them.
mkdirSync(join(dir, 'runs/stock'), { recursive: true });
mkdirSync(join(dir, 'runs/tuned'), { recursive: true });
for (const [i, ms] of [300, 320, 280].entries())
  writeFileSync(join(dir, `runs/stock/create-${i}.hvtrace.json`), serializeTrace(syntheticRun(`stock-${i}`, { toolstack: 50, devices: ms }, { args: { running_domains: i } }).trace));
for (const [i, ms] of [30, 40].entries())
  writeFileSync(join(dir, `runs/tuned/create-${i}.hvtrace.json`), serializeTrace(syntheticRun(`tuned-${i}`, { toolstack: 20, devices: ms }, { args: { running_domains: i } }).trace));

let n = 0;
function spec(text: string): string {
  const file = join(dir, `spec-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}
function errorOf(file: string): string {
  try {
    loadFigureSpec(file);
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('expected the spec to be rejected');
}

const GOOD = `title: synthetic stock vs tuned
size: 3.5in
figures:
  - kind: stacked-bars
    output: phases.svg
    groups:
      - { label: stock, traces: [runs/stock] }
      - { label: tuned, traces: [runs/tuned/create-0.hvtrace.json, runs/tuned/create-1.hvtrace.json] }
  - kind: cdf
    output: sub/cdf.svg
    title: ""
    value: devices
    size: 7.16in
    font: 9
    groups:
      - { label: stock, traces: [runs/stock] }
  - kind: scaling
    output: scaling.svg
    x: { from: arg, key: running_domains }
    y-scale: log
    time-label: creation time
    groups:
      - { label: stock, traces: [runs/stock] }
`;

describe('loadFigureSpec', () => {
  it('reads a good spec: defaults, inherited size and title, paths resolved against the spec', () => {
    const s = loadFigureSpec(spec(GOOD));
    expect(s.figures.map((f) => f.kind)).toEqual(['stacked-bars', 'cdf', 'scaling']);
    const [bars, cdf, scaling] = s.figures;
    expect(bars).toMatchObject({ output: 'phases.svg', title: 'synthetic stock vs tuned', size: '3.5in', fontPt: 8, whiskers: 'min-max', values: true, specLine: 4 });
    expect(bars.groups[0].traces).toEqual([join(dir, 'runs/stock')]);
    expect(cdf).toMatchObject({ output: join('sub', 'cdf.svg'), size: '7.16in', fontPt: 9, value: 'devices', fromZero: true });
    expect(cdf.title).toBeUndefined();
    expect(scaling).toMatchObject({ x: { from: 'arg', key: 'running_domains' }, xLabel: 'running domains', value: 'total', line: true, logY: true, timeLabel: 'creation time' });
  });

  it('renders: bars in spec order with medians of each group, scaling points from the arg', () => {
    const [bars, cdf, scaling] = renderFigureSpec(loadFigureSpec(spec(GOOD)));
    if (bars.data.kind !== 'stacked-bars' || cdf.data.kind !== 'cdf' || scaling.data.kind !== 'scaling') throw new Error('kinds out of order');
    expect(bars.data.bars.map((b) => b.label)).toEqual(['stock', 'tuned']);
    expect(bars.data.bars[0].segments.find((x) => x.phase === 'devices')!.median_ns).toBe(300 * MS);
    expect(bars.data.bars[1].segments.find((x) => x.phase === 'devices')!.median_ns).toBe(35 * MS);
    expect(cdf.data.series[0].points.map((p) => p.ns)).toEqual([280, 300, 320].map((v) => v * MS));
    expect(scaling.data.series[0].points.map((p) => [p.x, p.y_ns])).toEqual([[0, 350 * MS], [1, 370 * MS], [2, 330 * MS]]);
    expect(scaling.svg).toContain('creation time (log scale)');
  });

  it('unknown kind: names file and line, suggests the nearest kind', () => {
    const f = spec('figures:\n  - kind: stacked-bar\n    output: a.svg\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(f)).toBe(`${f}:2: figures.0.kind: unknown kind "stacked-bar" (did you mean "stacked-bars"?)`);
  });

  it('missing trace path: names the line of that path', () => {
    const f = spec('figures:\n  - kind: cdf\n    output: a.svg\n    groups:\n      - label: a\n        traces:\n          - runs/stock\n          - runs/nope\n');
    expect(errorOf(f)).toMatch(new RegExp(`^${f}:8: figures\\.0\\.groups\\.0\\.traces\\.1: no such file or directory: runs/nope`));
  });

  it('wrong types and values name the key and its line', () => {
    const font = spec('figures:\n  - kind: cdf\n    output: a.svg\n    font: big\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(font)).toBe(`${font}:4: figures.0.font: must be number, got "big"`);
    const small = spec('font: 6\nfigures:\n  - kind: cdf\n    output: a.svg\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(small)).toBe(`${small}:1: font: must be >= 8, got 6`);
    const traces = spec('figures:\n  - kind: cdf\n    output: a.svg\n    groups:\n      - { label: a, traces: runs/stock }\n');
    expect(errorOf(traces)).toBe(`${traces}:5: figures.0.groups.0.traces: must be array, got "runs/stock"`);
    const whisk = spec('figures:\n  - kind: stacked-bars\n    output: a.svg\n    whiskers: min-mx\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(whisk)).toMatch(new RegExp(`^${whisk}:4: figures\\.0\\.whiskers: must be one of min-max, p10-p90, none, got "min-mx" \\(did you mean "min-max"\\?\\)$`));
  });

  it('unknown keys suggest the nearest one', () => {
    const f = spec('figures:\n  - kind: cdf\n    output: a.svg\n    vaule: total\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(f)).toBe(`${f}:4: figures.0.vaule: unknown key (did you mean "value"?)`);
    const top = spec('titel: x\nfigures: []\n');
    expect(errorOf(top)).toBe(`${top}:1: titel: unknown key (did you mean "title"?)`);
  });

  it('missing required keys, bad sizes, outputs outside the directory or twice, scaling without a key', () => {
    const noGroups = spec('figures:\n  - kind: cdf\n    output: a.svg\n');
    expect(errorOf(noGroups)).toBe(`${noGroups}:2: figures.0: missing required key "groups"`);
    const size = spec('size: 3.5cm\nfigures:\n  - kind: cdf\n    output: a.svg\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(size)).toMatch(new RegExp(`^${size}:1: size: width "3.5cm"`));
    const height = spec('figures:\n  - kind: cdf\n    output: a.svg\n    height: 0.3in\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(height)).toMatch(new RegExp(`^${height}:4: figures\\.0\\.height: .*too small`));
    const escape = spec('figures:\n  - kind: cdf\n    output: ../a.svg\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(escape)).toMatch(new RegExp(`^${escape}:3: figures\\.0\\.output: "\\.\\./a\\.svg": a relative path ending in \\.svg`));
    const twice = spec('figures:\n  - { kind: cdf, output: a.svg, groups: [{ label: a, traces: [runs/stock] }] }\n  - { kind: cdf, output: ./a.svg, groups: [{ label: a, traces: [runs/stock] }] }\n');
    expect(errorOf(twice)).toBe(`${twice}:3: figures.1.output: "./a.svg" is also the output of figures.0`);
    const noKey = spec('figures:\n  - kind: scaling\n    output: a.svg\n    x: { from: arg }\n    groups: [{ label: a, traces: [runs/stock] }]\n');
    expect(errorOf(noKey)).toMatch(new RegExp(`^${noKey}:4: figures\\.0\\.x: missing required key "key"`));
    const sameLabel = spec('figures:\n  - kind: cdf\n    output: a.svg\n    groups:\n      - { label: a, traces: [runs/stock] }\n      - { label: a, traces: [runs/tuned] }\n');
    expect(errorOf(sameLabel)).toMatch(new RegExp(`^${sameLabel}:6: figures\\.0\\.groups\\.1\\.label: label "a" is used by two groups`));
  });

  it('YAML syntax errors and unreadable files name the file (and line)', () => {
    const bad = spec('figures:\n  - kind: cdf\n    output: [a.svg\n');
    expect(errorOf(bad)).toMatch(new RegExp(`^${bad}:\\d+: not valid YAML`));
    expect(errorOf(join(dir, 'absent.yaml'))).toBe(`${join(dir, 'absent.yaml')}: cannot read figure spec: no such file`);
    const list = spec('- kind: cdf\n');
    expect(errorOf(list)).toMatch(/a figure spec is a YAML mapping/);
  });

  it('a data problem at render time names the spec line of the figure', () => {
    const f = spec('figures:\n  - kind: cdf\n    output: a.svg\n    groups: [{ label: a, traces: [runs/stock] }]\n  - kind: scaling\n    output: b.svg\n    x: { from: meta, key: running_domains }\n    groups: [{ label: stock, traces: [runs/stock] }]\n');
    expect(() => renderFigureSpec(loadFigureSpec(f))).toThrow(new RegExp(`^${f}:5: figures\\.1 \\(b\\.svg\\): group "stock", run "create-0": meta\\.running_domains is missing`));
  });
});
