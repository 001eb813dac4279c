import { describe, expect, it } from 'vitest';
import { readTrace } from '../model/io.js';
import { emptyTrace, type Span, type Trace } from '../model/trace.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';
import { criticalPath, criticalPathJson, criticalPathRows, criticalPathSpans, formatCriticalPathText } from './critical-path.js';

/** A synthetic trace: a phases strip and process/thread lanes, times in ms for readability. */
function syntheticTrace(phases: { phase: 'toolstack' | 'devices' | 'kernel'; at: number }[], end: number, spans: Span[]): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'synthetic (critical-path.test.ts)' });
  const pids = new Set(spans.map((s) => Number(s.lane.slice(4))));
  for (const pid of pids) t.lanes.push({ id: `pid:${pid}`, kind: 'process', name: `p${pid}`, pid });
  t.spans = spans.map((s) => ({ ...s, start: s.start * 1e6, end: s.end * 1e6 }));
  return setSyntheticPhases(t, phases.map((p) => ({ phase: p.phase, at: p.at * 1e6 })), end * 1e6);
}
const proc = (pid: number, name: string, start: number, end: number, ppid?: number): Span => ({ lane: `pid:${pid}`, name, start, end, args: { pid, ...(ppid !== undefined ? { ppid } : {}) } });
const call = (pid: number, name: string, start: number, end: number): Span => ({ lane: `pid:${pid}`, name, start, end });

describe('critical path (synthetic traces)', () => {
  it('follows nesting, child processes and the span that ended right before the next started', () => {
    const trace = syntheticTrace([{ phase: 'toolstack', at: 0 }, { phase: 'devices', at: 50 }], 100, [
      proc(1, 'xl', 0, 100),
      call(1, 'parse', 0, 20),
      call(1, 'create', 22, 100),
      call(1, 'lex', 1, 3), // nested in parse: on the path inside it
      proc(2, 'hotplug', 40, 95, 1), // forked inside create, waited for by it
      proc(3, 'ip', 45, 60, 2),
      proc(4, 'daemon', 90, 400, 1), // outlives xl: not waited on
    ]);
    const path = criticalPath(trace);
    const names = path.links.map((l) => `${'  '.repeat(l.depth)}${l.span.name}`);
    expect(names).toEqual(['xl', '  parse', '    lex', '  create', '    hotplug', '      ip']);
    const parse = path.links.find((l) => l.span.name === 'parse')!;
    expect(parse.gapAfter).toBe(2e6);
    expect(path.ready).toBe(100e6);
    expect(path.gaps).toEqual([]);
    expect(path.links.find((l) => l.span.name === 'hotplug')!.phase).toBe('toolstack');
  });

  it('cuts a span still running at ready and reports untraced time as gaps with their phases', () => {
    const trace = syntheticTrace([{ phase: 'toolstack', at: 0 }, { phase: 'kernel', at: 30 }], 80, [proc(7, 'qemu', 10, 500)]);
    const path = criticalPath(trace);
    expect(path.links).toHaveLength(1);
    expect(path.links[0]).toMatchObject({ start: 10e6, end: 80e6 });
    expect(path.gaps).toEqual([{ start: 0, end: 10e6, phases: ['toolstack'] }]);
    const json = criticalPathJson('synthetic', path);
    expect(json.links[0]).toMatchObject({ name: 'qemu', pid: 7, cut_at_ready: true, duration_ns: 70e6 });
  });

  it('lists short consecutive steps as one row and returns the trace\'s own spans for highlighting', () => {
    const spans = [proc(1, 'xl', 0, 1000)];
    for (let i = 0; i < 50; i++) spans.push(call(1, i % 2 ? 'xs_write' : 'xs_read', 10 + i * 2, 11 + i * 2));
    spans.push(call(1, 'build', 200, 900));
    const trace = syntheticTrace([{ phase: 'toolstack', at: 0 }], 1000, spans);
    const rows = criticalPathRows(criticalPath(trace));
    expect(rows.map((r) => r.name)).toEqual(['xl [1]', '50 short steps: xs_read ×25, xs_write ×25', 'build']);
    const highlighted = criticalPathSpans(trace);
    expect(highlighted.size).toBe(52);
    for (const s of highlighted) expect(trace.spans).toContain(s);
  });

  it('says so when there is nothing to build a path from', () => {
    const trace = syntheticTrace([{ phase: 'toolstack', at: 0 }], 10, []);
    expect(criticalPath(trace).links).toEqual([]);
    expect(formatCriticalPathText('empty', criticalPath(trace))).toMatch(/no spans/);
  });
});

describe('critical path of real recordings', () => {
  it('a traced `xl create` (fixtures/xen-lab-tiny-pv): xl, libxl_domain_create_new, the vif-bridge hotplug script, the unpause', () => {
    const trace = readTrace('fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json');
    const path = criticalPath(trace);
    const top = path.links.filter((l) => l.depth === 0);
    expect(top.map((l) => l.span.name)).toEqual(['xl']);
    const byName = (name: string) => path.links.find((l) => l.span.name === name);
    expect(byName('libxl_domain_create_new')?.depth).toBe(1);
    // The hotplug script ran while libxl waited for it: on the path inside libxl_domain_create_new.
    const script = byName('vif-bridge')!;
    expect(script.depth).toBe(2);
    expect(script.phase).toBe('devices');
    expect(script.end - script.start).toBeGreaterThan(2e9);
    expect(path.links.at(-2)?.span.name).toBe('libxl_domain_unpause');
    // Links of one level never overlap and come in time order.
    for (let d = 0; d < 6; d++) {
      const level = path.links.filter((l) => l.depth === d);
      for (let i = 1; i < level.length; i++) if (level[i].start < level[i - 1].end) {
        // siblings only: a deeper link may belong to another parent
        const parentOf = (x: typeof level[number]) => path.links.slice(0, path.links.indexOf(x)).reverse().find((l) => l.depth === d - 1);
        expect(parentOf(level[i])).not.toBe(parentOf(level[i - 1]));
      }
    }
    const text = formatCriticalPathText('xl-create', path, { maxDepth: 2 });
    expect(text).toMatch(/ready at 4\.08 s/);
    expect(text).toMatch(/vif-bridge \[525\]/);
  });

  it('a QEMU boot traced from its log and console: the untraced start is a gap', () => {
    const path = criticalPath(readTrace('fixtures/qemu-tcg-pc-linux/run.hvtrace.json'));
    expect(path.gaps[0]?.phases).toEqual(['toolstack']);
    const covered = path.links.filter((l) => l.depth === 0).reduce((s, l) => s + l.end - l.start, 0) + path.gaps.reduce((s, g) => s + g.end - g.start, 0);
    expect(covered).toBe(path.ready - path.start);
  });
});
