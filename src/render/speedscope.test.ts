import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { speedscopeViolations } from '../../test/helpers/speedscope-rules.js';
import { readTrace } from '../model/io.js';
import { emptyTrace, type Run } from '../model/trace.js';
import { importChrome } from '../sources/chrome.js';
import { exportSpeedscope, type SpeedscopeFile, type SpeedscopeProfile } from './speedscope.js';
import { fixtureTraces } from '../../test/helpers/fixtures.js';

function syntheticRun(label: string): Run {
  const trace = emptyTrace({ source: 'synthetic-export', clock: 'monotonic' });
  trace.lanes.push({ id: 'q', kind: 'process', name: 'qemu' }, { id: 'v', kind: 'thread', name: 'vcpu0' }, { id: 'idle', kind: 'thread', name: 'idle' });
  trace.spans.push(
    { lane: 'q', name: 'init', start: 0, end: 100 },
    { lane: 'q', name: 'kvm_create_vm', start: 10, end: 100 }, // ends with its parent
    { lane: 'q', name: 'tap', start: 50, end: 150 }, // partial overlap → "qemu (2)"
    { lane: 'v', name: 'kernel', start: 100, end: 300 },
    { lane: 'v', name: 'mark', start: 200, end: 200 }, // zero length
  );
  trace.instants.push({ lane: 'v', name: 'end', at: 400 });
  return { label, trace };
}

/** Intervals [frame name, open at, close at] of a profile, rebuilt from its events. */
function intervals(file: SpeedscopeFile, profile: SpeedscopeProfile): [string, number, number][] {
  const open: { frame: number; at: number }[] = [];
  const out: [string, number, number][] = [];
  for (const e of profile.events) {
    if (e.type === 'O') open.push({ frame: e.frame, at: e.at });
    else {
      const o = open.pop()!;
      out.push([file.shared.frames[o.frame].name, o.at, e.at]);
    }
  }
  return out.sort((a, b) => a[1] - b[1] || b[2] - a[2]);
}

describe('exportSpeedscope', () => {
  const file = exportSpeedscope([syntheticRun('r1'), syntheticRun('r2')]);

  it('follows the speedscope format rules (independent checker)', () => {
    expect(speedscopeViolations(file)).toEqual([]);
  });

  it('makes one evented profile per lane track per run, spanning the whole run, in ns', () => {
    expect(file.profiles.map((p) => p.name)).toEqual(['r1 / qemu', 'r1 / qemu (2)', 'r1 / vcpu0', 'r2 / qemu', 'r2 / qemu (2)', 'r2 / vcpu0']);
    for (const p of file.profiles) expect([p.type, p.unit, p.startValue, p.endValue]).toEqual(['evented', 'nanoseconds', 0, 400]);
    // Frames are shared between runs.
    expect(file.shared.frames.map((f) => f.name)).toEqual(['init', 'kvm_create_vm', 'tap', 'kernel', 'mark']);
  });

  it('keeps every span with its times', () => {
    expect(intervals(file, file.profiles[0])).toEqual([
      ['init', 0, 100],
      ['kvm_create_vm', 10, 100],
    ]);
    expect(intervals(file, file.profiles[1])).toEqual([['tap', 50, 150]]);
    expect(intervals(file, file.profiles[2])).toEqual([
      ['kernel', 100, 300],
      ['mark', 200, 200],
    ]);
  });

  it('gives a run without spans a blank profile so the file still opens', () => {
    const empty = exportSpeedscope([{ label: 'nothing', trace: emptyTrace({ source: 'synthetic-empty', clock: 'monotonic' }) }]);
    expect(speedscopeViolations(empty)).toEqual([]);
    expect(empty.profiles.map((p) => [p.name, p.events.length])).toEqual([['nothing', 0]]);
  });

  it.each(['fixtures/chrome/node-20-startup.json', 'fixtures/chrome/tsc-5.9-generate-trace.json'])(
    'exports a real imported Chrome trace (%s) validly',
    (path) => {
      const trace = importChrome(readFileSync(path, 'utf8'), path);
      const out = exportSpeedscope([{ label: 'real', trace }]);
      expect(speedscopeViolations(out)).toEqual([]);
      expect(out.profiles.reduce((n, p) => n + p.events.length, 0)).toBe(2 * trace.spans.length);
    },
  );
});

// The real QEMU recordings (fixtures/qemu-tcg-*/run.hvtrace.json) must be there: a missing one fails.
const fixtures = fixtureTraces();
describe('exportSpeedscope on recorded fixtures', () => {
  it('finds the recorded QEMU fixtures', () => expect(fixtures.filter((f) => f.includes('qemu-tcg-')).length).toBeGreaterThanOrEqual(2));
  it.each(fixtures)('%s exports to a valid speedscope file with every span', (path) => {
    const trace = readTrace(path);
    const out = exportSpeedscope([{ label: path, trace }]);
    expect(speedscopeViolations(out)).toEqual([]);
    expect(out.profiles.reduce((n, p) => n + p.events.length, 0)).toBe(2 * trace.spans.length);
  });
});
