import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateTrace } from '../model/io.js';
import { RANK } from '../model/markers.js';
import { PHASE_LANE_ID } from '../model/trace.js';
import { cleanConsoleText } from '../model/console-text.js';
import { importSerial } from './serial.js';
import { phaseLaneSpans as phases, userErrorOf as errorOf } from '../../test/helpers/fixtures.js';

const PC_SERIAL = 'fixtures/qemu-tcg-pc-linux/serial.txt';

describe('importSerial on the recorded pc boot (fixtures/qemu-tcg-pc-linux)', () => {
  const text = readFileSync(PC_SERIAL, 'utf8');
  const trace = importSerial(text, PC_SERIAL);
  const marker = (boundary: string) => trace.markers.find((m) => m.boundary === boundary && m.name !== 'first guest output');

  it('takes t0 from the exec_us of the header and is a valid trace', () => {
    validateTrace(JSON.parse(JSON.stringify(trace)), PC_SERIAL);
    const exec = /exec_us=(\d+)/.exec(text.split('\n')[0])!;
    expect(trace.meta.t0ClockUs).toBe(Number(exec[1]));
  });

  it('has one console instant per non-empty line, with escape sequences removed', () => {
    const records = text.split('\n').filter((l) => /^\d+\.\d+ /.test(l) && cleanConsoleText(l.replace(/^\S+ /, '')).trim() !== '');
    expect(trace.instants).toHaveLength(records.length);
    expect(trace.lanes.map((l) => l.id)).toEqual([PHASE_LANE_ID, 'guest-console']);
    expect(trace.instants[0].name).toBe('SeaBIOS (version 1.16.2-debian-1.16.2-1)');
    expect(trace.instants.every((i) => !i.name.includes('\x1b'))).toBe(true);
  });

  it('finds firmware, kernel, user and ready lines and builds toolstack → firmware → kernel → user (vCPU start bounded by the banner)', () => {
    expect(marker('toolstack-start')).toMatchObject({ name: 'QEMU spawned (recorder)', at: 0 });
    expect(marker('firmware-start')?.detail).toMatch(/^SeaBIOS/);
    expect(marker('kernel-start')?.detail).toMatch(/^Probing EDD/);
    expect(marker('user-start')?.detail).toMatch(/Run \/init as init process/);
    expect(marker('ready')?.detail).toBe('hvscope-marker ready');
    // lines are stamped when they reached the host
    expect(trace.markers.filter((m) => m.lane === 'guest-console').every((m) => m.source === 'serial' && m.rank >= RANK.arrival)).toBe(true);
    const p = phases(trace);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    expect(p[1].start).toBe(marker('firmware-start')!.at);
    expect(p[1].args).toMatchObject({ start_rank: '5 bound' });
    expect(p[3].end).toBe(marker('ready')!.at);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    // The Debian kernel under TCG takes seconds; the busybox /init well under one.
    expect((p[2].end - p[2].start) / 1e6).toBeGreaterThan(500);
    expect((p[3].end - p[3].start) / 1e6).toBeLessThan(5000);
  });
});

describe('importSerial on a capture with a lost newline (fixtures/serial-lost-newline)', () => {
  it('splits a record at a bare \\r into two console lines with the same time', () => {
    const file = 'fixtures/serial-lost-newline/serial.txt';
    const trace = importSerial(readFileSync(file, 'utf8'), file);
    const shpchp = trace.instants.find((i) => i.name.includes('shpchp: Standard Hot Plug PCI Controller Driver'));
    const serial = trace.instants.find((i) => i.name.includes('Serial: 8250/16550 driver, 4 ports'));
    expect(shpchp).toBeDefined();
    expect(serial?.at).toBe(shpchp?.at);
    expect(shpchp?.name).not.toContain('Serial:');
    expect(trace.spans.filter((s) => s.lane === 'phases').map((s) => s.name)).toEqual(['toolstack', 'kernel', 'user']);
  });
});

describe('importSerial on other captures (synthetic)', () => {
  it('accepts `ts "%.s"` output without a header (t0 = first line)', () => {
    const text = ['1700000000.250000 Linux version 6.1.0', '1700000001.500000 Run /init as init process', '1700000001.600000 hvscope-marker ready', ''].join('\n');
    const trace = importSerial(text, 'synthetic-ts.txt');
    expect(trace.meta.t0ClockUs).toBe(1_700_000_000_250_000);
    expect(phases(trace).map((s) => [s.name, s.start, s.end])).toEqual([
      ['kernel', 0, 1_250_000_000],
      ['user', 1_250_000_000, 1_350_000_000],
    ]);
  });

  it('takes extra ready / user-start patterns for guests without the hvscope markers', () => {
    const text = ['10.000000 Linux version 6.1.0', '12.000000 Starting app', '12.500000 app: listening on :80', ''].join('\n');
    // Without them nothing ends the kernel phase: the capture just stops.
    const plain = importSerial(text, 'synthetic-app.txt');
    expect(phases(plain)).toEqual([]);
    expect(plain.unresolvedPhases).toEqual([
      // the first output (which bounds the vCPU start) is the kernel's banner: nothing separates firmware from kernel
      { phase: 'firmware', start: 0, reason: expect.stringMatching(/^its start \(first guest output .*\) and its end \(Linux banner .*\) fall at the same time/) },
      { phase: 'kernel', start: 0, reason: "its end is unknown: no ready marker, and the VM's end was not seen before the trace ended at 2.50 s" },
    ]);
    const trace = importSerial(text, 'synthetic-app.txt', { userStartPattern: /^Starting app/, readyPattern: /listening on/ });
    expect(phases(trace).map((s) => [s.name, s.start, s.end])).toEqual([
      ['kernel', 0, 2_000_000_000],
      ['user', 2_000_000_000, 2_500_000_000],
    ]);
  });

  it('keeps sub-microsecond fractions (t0 is whole µs) and skips comment and blank lines', () => {
    const trace = importSerial('# from some tool\n\n5.000000001 a\n5.0000005 b\n', 'synthetic-ns.txt');
    expect(trace.instants.map((i) => [i.name, i.at])).toEqual([
      ['a', 1],
      ['b', 500],
    ]);
  });

  it('truncates very long lines in the name and keeps the text in args', () => {
    const long = 'x'.repeat(500);
    const trace = importSerial(`1.0 ${long}\n`, 'synthetic-long.txt');
    expect(trace.instants[0].name.length).toBe(160);
    expect(trace.instants[0].args?.text).toBe(long);
  });
});

describe('importSerial errors name the file and line', () => {
  it('rejects an untimed line', () => {
    expect(errorOf(() => importSerial('1.5 ok\nno time here\n', 'bad.txt')).message).toBe(
      'bad.txt:2: expected "<seconds>.<fraction> <text>" (a timestamped console line)',
    );
  });

  it('rejects a header that is not on line 1, or of another version', () => {
    expect(errorOf(() => importSerial('1.5 ok\n# hvscope-serial 1 exec_us=1\n', 'late.txt')).message).toMatch(/^late\.txt:2: .*first line/);
    expect(errorOf(() => importSerial('# hvscope-serial 2 exec_us=1\n1.5 ok\n', 'v2.txt')).message).toMatch(/^v2\.txt:1: .*version 2/);
    expect(errorOf(() => importSerial('# hvscope-serial 1 exec_us=soon\n1.5 ok\n', 'exec.txt')).message).toMatch(/^exec\.txt:1: exec_us/);
  });

  it('rejects a line stamped before the exec time', () => {
    expect(errorOf(() => importSerial('# hvscope-serial 1 clock=realtime exec_us=2000000\n2.5 a\n1.0 b\n', 'early.txt')).message).toMatch(
      /^early\.txt:3: line is stamped 1000000 µs before exec_us/,
    );
  });

  it('rejects a capture without lines', () => {
    expect(errorOf(() => importSerial('# hvscope-serial 1 exec_us=5\n', 'none.txt')).message).toBe('none.txt: no timestamped console lines');
  });
});
