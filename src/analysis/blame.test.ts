import { describe, expect, it } from 'vitest';
import { readTrace } from '../model/io.js';
import { emptyTrace, type Run } from '../model/trace.js';
import { userErrorOf } from '../../test/helpers/fixtures.js';
import { blame, blameFilter, formatBlameText } from './blame.js';

const MS = 1e6;

/** Synthetic: a phases strip, a process with a thread, another process. */
function syntheticRun(label: string): Run {
  const trace = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
  trace.lanes.push(
    { id: 'phases', kind: 'phases', name: 'phases' },
    { id: 'p1', kind: 'process', name: 'xl [100]', pid: 100 },
    { id: 't1', kind: 'thread', name: 'worker', pid: 100, tid: 101, parent: 'p1' },
    { id: 'p2', kind: 'process', name: 'hotplug [200]', pid: 200 },
  );
  trace.spans.push(
    { lane: 'phases', name: 'devices', phase: 'devices', start: 0, end: 500 * MS },
    { lane: 'p1', name: 'xs_write', phase: 'toolstack', start: 0, end: 3 * MS, args: { path: '/local/domain/1' } },
    { lane: 't1', name: 'xs_read', phase: 'devices', start: 10 * MS, end: 30 * MS },
    { lane: 'p2', name: 'hotplug', phase: 'devices', start: 5 * MS, end: 105 * MS },
    { lane: 'p2', name: 'brctl', start: 50 * MS, end: 51 * MS },
  );
  return { label, trace };
}

describe('blame', () => {
  it('lists every span but the phases strip, longest first', () => {
    const rows = blame([syntheticRun('synthetic')]);
    expect(rows.map((r) => [r.name, r.durationNs])).toEqual([
      ['hotplug', 100 * MS],
      ['xs_read', 20 * MS],
      ['xs_write', 3 * MS],
      ['brctl', 1 * MS],
    ]);
    expect(rows[1]).toMatchObject({ run: 'synthetic', lane: 'worker', pid: 100, tid: 101, phase: 'devices', startNs: 10 * MS, endNs: 30 * MS });
    expect(rows[2].args).toEqual({ path: '/local/domain/1' });
  });

  it('filters by pid (process and its threads), name, phase (or none) and minimum duration', () => {
    const runs = [syntheticRun('synthetic')];
    const names = (f: Parameters<typeof blameFilter>[0]) => blame(runs, blameFilter(f)).map((r) => r.name);
    expect(names({ pid: '100' })).toEqual(['xs_read', 'xs_write']);
    expect(names({ name: '^XS_' })).toEqual(['xs_read', 'xs_write']); // case-insensitive
    expect(names({ phase: 'devices' })).toEqual(['hotplug', 'xs_read']);
    expect(names({ phase: 'none' })).toEqual(['brctl']);
    expect(names({ minNs: 20 * MS })).toEqual(['hotplug', 'xs_read']);
    expect(names({ pid: 100, name: 'read', minNs: 1 })).toEqual(['xs_read']);
  });

  it('says which option is wrong', () => {
    expect(userErrorOf(() => blameFilter({ name: '(' })).message).toBe('--name "(": not a valid regular expression: Unterminated group');
    expect(userErrorOf(() => blameFilter({ pid: 'abc' })).message).toBe('--pid "abc": expected a process id (a whole number)');
    expect(userErrorOf(() => blameFilter({ phase: 'boot' })).message).toMatch(/^--phase "boot": unknown; one of orchestrate, .*, none$/);
  });

  it('prints aligned columns, with the run when there are several', () => {
    const one = formatBlameText(blame([syntheticRun('a')]), ['a']).split('\n');
    expect(one[0]).toMatch(/^duration\s+start\s+phase\s+lane\s+span$/);
    expect(one[1]).toMatch(/^ *100 ms\s+5\.00 ms\s+devices\s+hotplug \[200\]\s+hotplug$/);
    const two = formatBlameText(blame([syntheticRun('a'), syntheticRun('b')]), ['a', 'b']);
    expect(two.split('\n')[0]).toMatch(/\brun\b/);
    expect(formatBlameText([], ['a'])).toBe('no spans match\n');
  });

  it('on a real Xen domain creation: the hotplug script outlasts every XenStore write', () => {
    const run = { label: 'xl-create', trace: readTrace('fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json') };
    const rows = blame([run]);
    expect(rows).toHaveLength(run.trace.spans.filter((s) => s.lane !== 'phases').length);
    const writes = blame([run], blameFilter({ name: '^xs_write$' }));
    expect(writes.length).toBe(90);
    expect(blame([run], blameFilter({ pid: 525 }))[0].durationNs).toBeGreaterThan(writes[0].durationNs);
  });
});
