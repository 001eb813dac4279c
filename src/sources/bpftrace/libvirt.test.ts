// The libvirt set's handler on its real recording (probes/libvirt_example.txt:
// a private libvirtd creating tiny, the qom-get storm cut as its header says),
// and on synthetic lines for the chunk rules (named so).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PHASE_LANE_ID } from '../../model/trace.js';
import { importBpftrace, QMP_COUNTER } from './index.js';
import { chunkText, qmpCommandName, qmpCounts, qmpEventName } from './libvirt.js';

const text = readFileSync(new URL('../../../probes/libvirt_example.txt', import.meta.url), 'utf8');
const json = text.split('\n').filter((l) => l.startsWith('{')).join('\n') + '\n';

describe('libvirt handler on the real recording', () => {
  const trace = importBpftrace(json, 'libvirt_example.txt');
  const daemon = trace.spans.filter((s) => s.args?.side === 'libvirtd');

  it('the daemon-side call starts orchestrate, and its driver steps nest inside it in order', () => {
    expect(trace.markers.some((m) => m.boundary === 'orchestrate-start' && m.source === 'bpftrace libvirt')).toBe(true);
    const create = daemon.find((s) => s.name === 'virDomainCreateXML')!;
    const start = daemon.find((s) => s.name === 'qemuProcessStart')!;
    expect(create).toBeDefined();
    expect(start.start).toBeGreaterThanOrEqual(create.start);
    expect(start.end).toBeLessThanOrEqual(create.end);
    const steps = ['qemuProcessInit', 'qemuProcessPrepareDomain', 'qemuProcessPrepareHost', 'qemuProcessLaunch', 'qemuProcessFinishStartup', 'qemuProcessStartCPUs'].map(
      (n) => trace.spans.find((s) => s.name === n)!,
    );
    for (const s of steps) {
      expect(s).toBeDefined();
      expect(s.start).toBeGreaterThanOrEqual(start.start);
      expect(s.end).toBeLessThanOrEqual(start.end);
    }
    for (let i = 1; i < steps.length; i++) expect(steps[i].start).toBeGreaterThanOrEqual(steps[i - 1].start);
    // the mount namespace is set up in the forked child, counted as the daemon's
    expect(daemon.some((s) => s.name === 'qemuDomainUnshareNamespace')).toBe(true);
  });

  it('counts every QMP command the recording holds, by name', () => {
    const sends = json.split('\n').filter((l) => l.includes('qmp_send\\t') && l.includes('\\toff=0\\t'));
    const traffic = trace.spans.find((s) => s.name === 'QMP traffic')!;
    expect(traffic.args!.commands).toBe(sends.length);
    expect(traffic.args!['count qom-get']).toBe(sends.filter((l) => l.includes('qom-get')).length);
    expect(traffic.args!['count cont']).toBe(1);
    const counter = trace.counters.filter((c) => c.lane === PHASE_LANE_ID && c.name === QMP_COUNTER);
    expect(counter.at(-1)!.value).toBe(sends.length);
    // a long command is joined from its two chunks
    const caps = trace.spans.find((s) => s.name === 'migrate-set-capabilities')!;
    expect(String(caps.args!.text)).toContain('"capability":"events"');
    expect(trace.instants.some((i) => i.name === 'QMP event RESUME')).toBe(true);
  });

  it('the answer to cont is the vCPU start', () => {
    const m = trace.markers.find((x) => x.boundary === 'firmware-start' && x.source === 'bpftrace libvirt')!;
    const cont = trace.spans.find((s) => s.name === 'cont')!;
    expect(m.at).toBe(cont.end);
  });
});

describe('QMP text helpers (synthetic strings)', () => {
  it('names commands and events, and stops a chunk at its NUL', () => {
    expect(qmpCommandName('{"execute":"qom-get","arguments":{')).toBe('qom-get');
    expect(qmpEventName('{"timestamp": {"seconds": 1}, "event": "SHUTDOWN"}')).toBe('SHUTDOWN');
    expect(chunkText('abc\\x00\\x7fjunk')).toEqual({ text: 'abc', ended: true });
    expect(qmpCounts([{ name: 'b' }, { name: 'a' }, { name: 'b' }])).toEqual({ b: 2, a: 1 });
  });
});
