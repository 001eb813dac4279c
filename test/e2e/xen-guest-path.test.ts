// `hvscope lab xen run --guest PATH` end to end on real Xen 4.17 nested under QEMU
// TCG: the user's own PV kernel (here the tiny-pv build, copied under /tmp to a
// name with a space, quotes and `$()`, reached in dom0 through the bound host
// root) with --marker as an anchored regex; and without --marker (ready = running, no kernel phase). Plus the
// bad-input paths that must fail before anything boots, among them --accel kvm on
// a host whose KVM cannot run guests (real where that is so, as on the dev host).
// One lab at a time: waits for another lab's lock, as xen-compare.test.ts does.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hvscopeBin, repo } from '../helpers/cli.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { phaseBreakdown } from '../../src/analysis/phases.js';
import { defaultCacheDir } from '../../src/lab/linux-guest.js';
import { TINY_PV_MARKER, buildTinyPvGuest } from '../../src/lab/tiny-pv-guest.js';
import { readTrace } from '../../src/model/io.js';
import { accelWorks } from '../../src/tracer/accel-probe.js';
import { waitForLabLock } from '../helpers/lab.js';

const missing =
  requireOrSkip(isRoot, 'root') ||
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(hasCommand('apt-get'), 'apt-get (Debian)') ||
  requireOrSkip(existsSync('/usr/lib/xen-4.17/bin/xl'), 'xen-utils-4.17 (apt-get install xen-utils-4.17)') ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld');

let scratch: string;
/** The tiny-pv kernel at a hostile host path under /tmp. */
let userKernel: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-xen-guest-path-e2e-'));
  if (missing) return;
  const dir = join(scratch, 'my guests');
  await mkdir(dir);
  userKernel = join(dir, `tiny pv "kernel" it's $(touch PWNED).elf`);
  await copyFile((await buildTinyPvGuest()).kernel, userKernel);
}, 120_000);

afterAll(async () => {
  if (process.env.HVSCOPE_E2E_KEEP === '1') console.warn(`kept ${scratch}`);
  else await rm(scratch, { recursive: true, force: true });
});


async function labRun(args: string[]) {
  await waitForLabLock(900_000);
  return execa(process.execPath, [hvscopeBin, 'lab', 'xen', 'run', ...args, '--json'], { reject: false, cwd: scratch, stdin: 'ignore' });
}

describe.skipIf(missing)('hvscope lab xen run --guest PATH', () => {
  it('--marker REGEX: the user\'s kernel from a hostile /tmp path boots, its marker line is matched, the domain is gone', { timeout: 900_000 }, async () => {
    const out = join(scratch, 'with-marker');
    const marker = `^${TINY_PV_MARKER.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    const r = await labRun(['--guest', userKernel, '--marker', marker, '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`hvscope: guest ${userKernel}, 32 MiB; destroyed once ready`);
    expect(r.stderr).not.toContain('no --marker');
    expect(r.stderr).toMatch(/^hvscope: guest: xl create [\d.]+ (?:ms|s) \(exit 0\), marker seen at [\d.]+ (?:ms|s), domain (gone|destroyed)$/m);
    // Nothing in the file name ran anywhere.
    expect(existsSync(join(scratch, 'my guests', 'PWNED')) || existsSync(join(scratch, 'PWNED'))).toBe(false);
    const cfg = readFileSync(join(out, 'untuned/domain.cfg'), 'utf8');
    expect(cfg).toMatch(/^kernel = "\/run\/hvscope-lab\/experiment\/guest-kernel"$/m);
    expect(cfg).toMatch(/^memory = 32$/m);
    expect(readFileSync(join(out, 'untuned/run-1.console.log'), 'utf8')).toContain(TINY_PV_MARKER);
    const json = JSON.parse(r.stdout) as { experiment: { runs: { createExit: number; markerNs?: number; readyNs?: number; goneNs?: number }[] } };
    expect(json.experiment.runs).toHaveLength(1);
    const run = json.experiment.runs[0];
    expect(run.markerNs).toBeGreaterThan(0);
    expect(run.readyNs).toBe(run.markerNs);
    expect(run.goneNs).toBeGreaterThanOrEqual(run.markerNs!);
    const trace = readTrace(join(out, 'untuned/run-1.hvtrace.json'));
    expect(trace.meta.hypervisor).toBe('xen 4.17 (PV dom0, nested in QEMU TCG)');
    expect(phaseBreakdown(trace).map((p) => p.phase)).toEqual(expect.arrayContaining(['toolstack', 'kernel']));
    expect(trace.instants.find((i) => i.name === 'marker seen (console log polled)')?.args?.line).toBe(marker);
  });

  it('without --marker: said once on stderr, ready = running after xl create, no kernel phase, the domain destroyed', { timeout: 900_000 }, async () => {
    const out = join(scratch, 'no-marker');
    const r = await labRun(['--guest', userKernel, '--memory', '16', '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr.match(/no --marker: ready = the domain is running once xl create returned; the guest's boot \(kernel phase\) is not measured/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/^hvscope: guest: xl create [\d.]+ (?:ms|s) \(exit 0\), running at [\d.]+ (?:ms|s), domain (gone|destroyed)$/m);
    expect(readFileSync(join(out, 'untuned/domain.cfg'), 'utf8')).toMatch(/^memory = 16$/m);
    const trace = readTrace(join(out, 'untuned/run-1.hvtrace.json'));
    const phases = phaseBreakdown(trace).map((p) => p.phase);
    expect(phases).toContain('toolstack');
    expect(phases).not.toContain('kernel');
    expect(trace.instants.map((i) => i.name)).toContain('domain running after xl create (no marker)');
  });
});

describe.skipIf(missing)('hvscope lab xen run --guest PATH / --accel kvm: bad input, before anything boots', () => {
  it('a bzImage, a file without Xen notes, a missing ramdisk, a bad regex: one line each, nothing created', { timeout: 120_000 }, async () => {
    const bz = join(scratch, 'synthetic-bzImage');
    const image = Buffer.alloc(0x1000);
    image.write('HdrS', 0x202, 'latin1');
    await writeFile(bz, image);
    const cases: [string[], RegExp][] = [
      [['--guest', bz], /^hvscope: .*synthetic-bzImage: a compressed bzImage, not a PV kernel ELF: give --guest the uncompressed vmlinux/],
      [['--guest', process.execPath], /: an ELF without Xen PV notes/],
      [['--guest', 'no such kernel.elf'], new RegExp(`^hvscope: --guest ${scratch}/no such kernel\\.elf: no such file$`)],
      [['--guest', userKernel, '--ramdisk', '/nonexistent/initrd'], /^hvscope: --ramdisk \/nonexistent\/initrd: no such file$/],
      [['--guest', userKernel, '--marker', 'up ('], /^hvscope: --marker: not a valid extended regular expression \(grep -E: .+\)$/],
      [['--guest', userKernel, '--cmdline', 'root="/dev/xvda"'], /^hvscope: --cmdline: must be printable ASCII without double quotes or backslashes/],
      [['--guest', userKernel, '--domains', '2'], /^hvscope: --domains: only the tiny-pv guest stays up/],
      [['--marker', 'up'], /^hvscope: --marker: only with --guest PATH/],
    ];
    for (const [args, message] of cases) {
      const out = join(scratch, 'bad');
      const r = await execa(process.execPath, [hvscopeBin, 'lab', 'xen', 'run', ...args, '-o', out], { reject: false, cwd: scratch });
      expect(r.exitCode, r.stderr).not.toBe(0);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('--accel kvm where KVM cannot run guests: one line, no lab booted (skipped where KVM works)', { timeout: 120_000 }, async (ctx) => {
    const probe = await accelWorks('kvm');
    if (probe.ok) ctx.skip();
    const out = join(scratch, 'kvm');
    const labTemps = () => readdirSync(tmpdir()).filter((n) => n.startsWith('hvscope-xen-lab-') && !n.startsWith('hvscope-xen-lab-e2e-'));
    const before = labTemps();
    const r = await execa(process.execPath, [hvscopeBin, 'lab', 'xen', 'run', '--accel', 'kvm', '-o', out], { reject: false, cwd: repo });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^hvscope: --accel kvm: KVM does not run guests on this host \(.+\); use --accel tcg$/);
    expect(existsSync(out)).toBe(false);
    expect(labTemps()).toEqual(before);
    console.warn(`lab xen run --accel kvm here: ${r.stderr.trim()}`);
  });
});
