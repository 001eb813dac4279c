// `hvscope tune optimize --workload libvirt:tiny` end to end: a short search (one qemu.conf
// knob, one domain-XML knob, three alternating pairs each) from libvirt-stock, every run a
// real traced `virsh create` of the tiny guest through hvscope's private libvirtd. Checks:
// the found profile loads and boots through libvirt; every run is kept as a trace; libvirtd
// was started once per distinct qemu.conf, not per run (the domain-XML candidate ran on its
// base's daemon); nothing of ours (daemons, guests, bpftrace) is left afterwards.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/tuning/profile.js';
import { allTargets } from '../../src/tuning/targets/index.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { hvscope, processesMatching, scratchDir } from './trace-cli.js';

const missing = requireOrSkip(
  isRoot && hasCommand('bpftrace') && hasCommand('qemu-system-x86_64') && hasCommand('gcc') && hasCommand('virsh') && existsSync('/usr/sbin/libvirtd') && existsSync('/usr/sbin/virtlogd'),
  'root, bpftrace, QEMU, gcc and libvirt (libvirt-daemon-system, libvirt-clients)',
);
const work = scratchDir('hvscope-tune-optimize-libvirt-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Everything of ours that could be left: private daemons, guests, bpftrace with the libvirt set. */
const leftovers = () => [...processesMatching('hvscope-libvirt-'), ...processesMatching('guest=hvscope-'), ...processesMatching('probe set: libvirt')];

type Row = { change: string; knob: string; value: unknown; verdict: string; kept: boolean };
type Report = { kept: Row[]; worse: Row[]; noDifference: Row[]; broken: Row[]; invalid: Row[]; stopped: string; log: string };

describe.skipIf(missing)('tune optimize through libvirt (tiny guest, private libvirtd)', () => {
  it('a short search: decisions from traced creations, one libvirtd per qemu.conf, a profile that boots via libvirt, nothing left', async () => {
    const out = join(work, 'found.yaml');
    const args = ['tune', 'optimize', '--workload', 'libvirt:tiny', '--from', 'libvirt-stock', '--budget', '4m', '--knobs', 'seccomp_sandbox,memballoon', '--runs-per-candidate', '3', '-o', out, '--json'];
    const r = await hvscope(args, { timeoutMs: 420_000 });
    const stderr = String(r.stderr);
    expect(r.exitCode, stderr).toBe(0);
    expect(leftovers()).toEqual([]);
    const report = JSON.parse(String(r.stdout)) as Report;
    const decided = [...report.kept, ...report.worse, ...report.noDifference, ...report.broken, ...report.invalid];
    expect(decided.map((d) => d.change)[0]).toBe('libvirt-qemu-conf/seccomp_sandbox=0'); // --knobs order
    expect(decided.length).toBeGreaterThanOrEqual(1);
    expect(report.broken).toEqual([]); // both are harmless for tiny

    const log = readFileSync(report.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { t: string; ok?: boolean; files?: string[] });
    const runs = log.filter((l) => l.t === 'run');
    expect(runs.length).toBeGreaterThanOrEqual(6);
    expect(runs.every((l) => l.ok)).toBe(true);
    for (const run of runs) expect(run.files!.every((f) => f.endsWith('.hvtrace.json') && existsSync(f))).toBe(true);
    // The base's daemon (stock qemu.conf) and the seccomp candidate's: two starts for ≥ 12 runs.
    expect((stderr.match(/starting a private libvirtd/g) ?? []).length).toBe(2);

    // The found profile loads, includes the start and boots through libvirt.
    expect(readFileSync(out, 'utf8')).toMatch(/^include:\n {2}- libvirt-stock$/m);
    expect(loadProfile(out, allTargets).sections['libvirt-domain']).toBeDefined();
    const boot = await hvscope(['boot', '--via', 'libvirt', '--guest', 'tiny', '--profile', out, '--runs', '1', '-o', join(work, 'boot-found')], { timeoutMs: 180_000 });
    expect(boot.exitCode, String(boot.stderr)).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 600_000);
});
