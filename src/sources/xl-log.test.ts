// The xl-log importer on a real `xl -vvv create` of tiny-pv recorded in the Xen
// lab (fixtures/xen-lab-tiny-pv, see its README), and on small synthetic inputs
// for the error paths and the xl -T stamp format.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateTrace } from '../model/io.js';
import { PHASE_LANE_ID, type Trace } from '../model/trace.js';
import { importXlLog } from './xl-log.js';
import { userErrorOf as errorOf } from '../../test/helpers/fixtures.js';

const LOG = 'fixtures/xen-lab-tiny-pv/xl-vvv-create.log';

const phases = (trace: Trace) => trace.spans.filter((s) => s.lane === PHASE_LANE_ID);

describe('importXlLog on a real xl -vvv create (Xen 4.17, tiny-pv with a vif, lab)', () => {
  const text = readFileSync(LOG, 'utf8');
  const trace = importXlLog(text, LOG);
  const stamped = text.split('\n').filter((l) => /^\d+\.\d{9} \S/.test(l));

  it('is a valid trace on the monotonic clock with one instant per line, t0 at the first', () => {
    validateTrace(JSON.parse(JSON.stringify(trace)), LOG);
    expect(trace.meta.clock).toBe('monotonic');
    expect(trace.instants).toHaveLength(stamped.length);
    expect(trace.instants[0].at).toBe(0);
    expect(trace.instants[0].name).toMatch(/^Parsing config from \S+\.cfg$/);
    // times exact to the nanosecond: the stamps are CLOCK_MONOTONIC seconds with 9 digits
    const ns = (l: string) => Number(l.split(' ')[0].split('.')[0]) * 1e9 + Number(l.split(' ')[0].split('.')[1]);
    expect(trace.instants.at(-1)!.at).toBe(ns(stamped.at(-1)!) - ns(stamped[0]));
  });

  it('splits toolstack and devices in order: backend watch starts devices, the unpause starts the guest, whose end xl does not see', () => {
    const p = phases(trace);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'devices']);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    const devicesStart = trace.instants.find((i) => i.at === p[1].start && i.args?.function === 'libxl__ev_xswatch_register');
    expect(devicesStart?.name).toMatch(/wpath=\/local\/domain\/0\/backend\/vif\//);
    expect(trace.instants.find((i) => i.at === p[1].end)?.args?.function).toBe('libxl_domain_unpause');
    // The guest's kernel starts at the unpause; xl's log never says when it is up: unresolved, not "up to xl's last line".
    expect(trace.unresolvedPhases).toEqual([{ phase: 'kernel', start: p[1].end, reason: expect.stringMatching(/^its end is unknown: no ready marker/) }]);
    expect(p[0].args).toMatchObject({ start_by: "xl's first log line", start_source: 'xl-log', end_by: 'xl -vvv: first device line' });
  });

  it('derives config parse, domain create, the PV build, the backend wait and the vif-bridge hotplug script', () => {
    const named = (re: RegExp) => trace.spans.filter((s) => s.lane !== PHASE_LANE_ID && re.test(s.name));
    const [parse] = named(/^config parse$/);
    const [create] = named(/^do_domain_create$/);
    const [build] = named(/^PV build/);
    const [wait] = named(/^wait backend vif\/\d+\/0 → state 2$/);
    const [hotplug] = named(/^hotplug \/etc\/xen\/scripts\/vif-bridge online$/);
    expect(parse.start).toBe(0);
    expect(parse.end).toBe(create.start);
    expect(create.args?.rc).toBe(0);
    expect(build.start).toBeGreaterThan(create.start);
    expect(build.end).toBeLessThan(create.end);
    expect(build.phase).toBe('toolstack');
    expect(wait.phase).toBe('devices');
    expect(hotplug.phase).toBe('devices');
    // the script is most of the device phase (~6 fork/execs per 100 ms under TCG)
    expect(hotplug.end - hotplug.start).toBeGreaterThan((phases(trace)[1].end - phases(trace)[1].start) / 2);
    expect(named(/^libxl_domain_unpause$/)[0].phase).toBe('kernel');
  });

  it('keeps libxl\'s source location, function and domain id on each line', () => {
    const hotplugLine = trace.instants.find((i) => i.name.startsWith('device_hotplug: calling hotplug script'));
    expect(hotplugLine?.args).toMatchObject({ level: 'debug', function: 'device_hotplug' });
    expect(String(hotplugLine?.args?.source)).toMatch(/^libxl_device\.c:\d+$/);
    expect(typeof hotplugLine?.args?.domid).toBe('number');
    expect(trace.lanes.map((l) => l.name)).toEqual(expect.arrayContaining(['xl', 'libxl', 'domainbuilder (libxenguest)', 'xc']));
  });
});

describe('importXlLog input checks (synthetic)', () => {
  it('refuses an unstamped xl log, naming the line and how to stamp it', () => {
    const err = errorOf(() => importXlLog('# hvscope-xl-log 1 clock=monotonic\nParsing config from a.cfg\n', 'plain.log'));
    expect(err.message).toMatch(/^plain\.log:2: no timestamp: .*ts %\.s/);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it('refuses an unknown header version', () => {
    expect(errorOf(() => importXlLog('# hvscope-xl-log 2\n', 'v2.log')).message).toMatch(/^v2\.log:1: hvscope-xl-log version 2 is not supported/);
  });

  it('accepts xl -T stamps (1 s resolution, said in meta.recorded)', () => {
    const trace = importXlLog(
      [
        '2026-11-26 22:00:01 UTC [42] Parsing config from a.cfg',
        '2026-11-26 22:00:01 UTC [42] libxl: debug: libxl_create.c:2081:do_domain_create: ao 0x1: create: how=(nil)',
        '2026-11-26 22:00:03 UTC [42] libxl: debug: libxl_event.c:2067:libxl__ao_complete: ao 0x1: complete, rc=0',
      ].join('\n'),
      'synthetic-t.log',
    );
    expect(trace.meta.recorded).toMatch(/1 s resolution/);
    expect(trace.spans.find((s) => s.name === 'do_domain_create')).toMatchObject({ start: 0, end: 2e9, args: { rc: 0 } });
  });

  it('an empty log is an empty trace', () => {
    expect(importXlLog('# just a comment\n\n', 'empty.log').spans).toEqual([]);
  });
});

describe('importXlLog with realtime stamps (ts %.s, synthetic)', () => {
  it('keeps nanosecond differences on seconds since 1970 (beyond 2^53 ns)', () => {
    const trace = importXlLog('1764194400.000000001 Parsing config from a.cfg\n1764194400.250000003 libxl: debug: libxl_create.c:1:do_domain_create: ao 0x2: create: x\n', 'synthetic-ts.log');
    expect(trace.instants.map((i) => i.at)).toEqual([0, 250_000_002]);
    expect(trace.spans.find((s) => s.name === 'config parse')).toMatchObject({ start: 0, end: 250_000_002 });
  });
});
