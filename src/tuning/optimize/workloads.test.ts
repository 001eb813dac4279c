import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkObjective, objectiveValue, parseWorkload } from './workloads.js';

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
    expect(() => checkObjective('fast')).toThrow(/--objective fast: expected ready, p90 or a phase/);
  });
});
