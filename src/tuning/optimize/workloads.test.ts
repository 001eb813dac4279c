import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkObjective, labOutcome, objectiveValue, parseWorkload } from './workloads.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-workloads-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tune optimize workloads', () => {
  it('the table: boot, lab-xen, cmd; anything else is a usage error naming the forms', () => {
    expect(parseWorkload('boot:tiny').measurable).toEqual(['qemu']);
    expect(parseWorkload('lab-xen:tiny-pv').measurable).toContain('xen-xl-conf');
    expect(() => parseWorkload('lab-xen:linux')).toThrow(/only lab-xen:tiny-pv/);
    expect(() => parseWorkload('vm:tiny')).toThrow(/expected boot:tiny, boot:linux, boot:PATH, lab-xen:tiny-pv, libvirt:tiny, libvirt:linux, libvirt:PATH or 'cmd:COMMAND \{profile\}'/);
    expect(parseWorkload('lab-xen:tiny-pv').runTimeoutMs).toBe(600_000); // a lab run boots Xen first: its limit is no multiple of its objective
    expect(parseWorkload('cmd:true').measurable).toEqual(expect.arrayContaining(['libvirt-domain', 'libvirt-qemu-conf']));
    expect(() => parseWorkload('boot:')).toThrow(/--workload boot:/);
  });

  it('cmd: runs the command without a shell, {profile} replaced; exit 0 is a run, anything else breaks it', async () => {
    const ok = await parseWorkload('cmd:test -n {profile}').run({ profile: '/some/profile.yaml', dir: join(dir, 'ok'), timeoutMs: 10_000 });
    expect(ok.ok).toBe(true);
    const record = JSON.parse(readFileSync(join(dir, 'ok', 'run.json'), 'utf8')) as { command: string[] };
    expect(record.command).toEqual(['test', '-n', '/some/profile.yaml']);
    const bad = await parseWorkload('cmd:false').run({ profile: 'p.yaml', dir: join(dir, 'bad'), timeoutMs: 10_000 });
    expect(bad).toMatchObject({ ok: false, why: 'exit 1' });
    // a shell metacharacter is an argument, not a shell command
    const literal = await parseWorkload('cmd:test ; = ;').run({ profile: 'p.yaml', dir: join(dir, 'lit'), timeoutMs: 10_000 });
    expect(literal.ok).toBe(true);
    expect(existsSync(join(dir, 'lit', 'output.txt'))).toBe(true);
    const slow = await parseWorkload('cmd:sleep 5').run({ profile: 'p.yaml', dir: join(dir, 'slow'), timeoutMs: 300 });
    expect(slow).toMatchObject({ ok: false, why: 'did not exit within 0.3 s' });
  });

  it('objectives: ready, p90 (of ready), or a phase the run has', () => {
    const run = { ok: true as const, readyNs: 9, phasesNs: { kernel: 4 }, files: [] };
    expect(objectiveValue(run, 'ready')).toBe(9);
    expect(objectiveValue(run, 'p90')).toBe(9);
    expect(objectiveValue(run, 'kernel')).toBe(4);
    expect(objectiveValue(run, 'firmware')).toBe('no firmware phase in this run');
    expect(() => checkObjective('fast')).toThrow(/--objective fast: expected ready, p90, cpu or a phase/);
  });

  it('the cpu objective: a run\'s CPU time where its workload measures it, else why not', async () => {
    checkObjective('cpu');
    expect(objectiveValue({ ok: true, readyNs: 9, phasesNs: {}, cpuNs: 3e6, files: [] }, 'cpu')).toBe(3e6);
    expect(objectiveValue({ ok: true, readyNs: 9, phasesNs: {}, files: [] }, 'cpu')).toMatch(/no CPU time/);
    expect(parseWorkload('boot:tiny').measuresCpu).toBe(true);
    expect(parseWorkload('lab-xen:tiny-pv').measuresCpu).toBeFalsy();
    // a command that burns CPU reading 200 MB of /dev/urandom: its CPU time is measured (10 ms ticks), a sleep's is not
    const busy = await parseWorkload('cmd:dd if=/dev/urandom of=/dev/null bs=1M count=200 status=none').run({ profile: 'p.yaml', dir: join(dir, 'busy'), timeoutMs: 20_000 });
    const idle = await parseWorkload('cmd:sleep 0.3').run({ profile: 'p.yaml', dir: join(dir, 'idle'), timeoutMs: 20_000 });
    if (!busy.ok || !idle.ok) throw new Error(`cmd runs failed: ${JSON.stringify([busy, idle])}`);
    expect(busy.cpuNs).toBeGreaterThanOrEqual(0.5 * busy.readyNs); // dd is CPU-bound: most of its wall time is CPU
    expect(busy.cpuNs).toBeGreaterThan(100e6);
    expect(idle.cpuNs).toBeLessThan(100e6);
  });

  it('lab-xen pairs: one lab run for both profiles, each profile\'s outcome from its own apply and creation', () => {
    expect(parseWorkload('lab-xen:tiny-pv').runPair).toBeTypeOf('function');
    const run = (profile: number, markerNs?: number) => ({ profile, createExit: 0, createNs: 9e8, ...(markerNs ? { markerNs } : {}) });
    const both = { json: { experiment: { profiles: [{ index: 0, tuneApply: { exit: 0 } }, { index: 1, tuneApply: { exit: 0 } }], runs: [run(0, 4e9), run(1, 1.7e9)] } } };
    expect(labOutcome(both, 0, '/d')).toEqual({ ok: true, readyNs: 4e9, phasesNs: { toolstack: 9e8 }, files: ['/d'] });
    expect(labOutcome(both, 1, '/d')).toMatchObject({ ok: true, readyNs: 1.7e9 });
    // the second profile's apply failed in dom0: it alone is broken
    const applyFailed = { failure: 'lab xen run: tune apply failed', json: { experiment: { profiles: [{ index: 0, tuneApply: { exit: 0 } }, { index: 1, tuneApply: { exit: 3 } }], runs: [run(0, 4e9)] } } };
    expect(labOutcome(applyFailed, 0, '/d').ok).toBe(true);
    expect(labOutcome(applyFailed, 1, '/d')).toMatchObject({ ok: false, why: 'tune apply in dom0 exited 3' });
    expect(labOutcome({ json: { experiment: { runs: [run(0)] } } }, 0, '/d')).toMatchObject({ ok: false, why: 'guest marker not seen' });
    // no JSON at all (the lab did not boot): both arms fail with the lab's last line
    expect(labOutcome({ failure: 'Xen lab: dom0 did not come up' }, 1, '/d')).toMatchObject({ ok: false, why: 'Xen lab: dom0 did not come up' });
  });
});
