// One real Xen lab cycle: Debian's Xen 4.17 and a PV dom0 booted under QEMU TCG,
// a real `xl create` of the tiny-pv guest with a vif on xenbr0 (xenstored,
// xenconsoled and the vif-bridge hotplug script are the host's xen-utils-4.17,
// run inside dom0), the guest's marker seen in xenconsoled's log, the domain gone,
// the lab powered off. Plus the failure paths: boot timeout, a marker that never
// comes, not root. Each lab needs ~1.3 GB and a core for about a minute.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { TINY_PV_MARKER, buildTinyPvGuest } from '../../src/lab/tiny-pv-guest.js';
import { runInXenLab } from '../../src/lab/xen/run.js';
import { XL_CREATE_LOG, TINY_PV_GUEST_LOG, TINY_PV_RESULT, parseTinyPvResult, renderTinyPvExperiment } from '../../src/lab/xen/tiny-pv-experiment.js';

const missing =
  requireOrSkip(isRoot, 'root') ||
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(hasCommand('apt-get'), 'apt-get (Debian)') ||
  requireOrSkip(existsSync('/usr/lib/xen-4.17/bin/xl'), 'xen-utils-4.17 (apt-get install xen-utils-4.17)') ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-xen-lab-e2e-'));
});
afterAll(async () => {
  // HVSCOPE_E2E_KEEP=1 keeps the lab's logs for a look after a failure.
  if (process.env.HVSCOPE_E2E_KEEP === '1') console.warn(`kept ${scratch}`);
  else await rm(scratch, { recursive: true, force: true });
});

/** QEMU processes whose command line names this directory (none may outlive a lab). */
function qemusUsing(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `qemu-system-x86_64.*${dir}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe.skipIf(missing)('Xen lab', () => {
  it('boots Xen, creates tiny-pv with a vif, sees its marker, sees it gone, powers off', { timeout: 600_000 }, async () => {
    const guest = await buildTinyPvGuest();
    const outDir = join(scratch, 'ok');
    const progress: string[] = [];
    const result = await runInXenLab({
      script: renderTinyPvExperiment({ kernel: guest.kernel }),
      outDir,
      timeoutMs: 480_000,
      onProgress: (m) => progress.push(m),
    });
    const console = await readFile(result.consoleLog, 'utf8');
    expect(result.exitCode, await readFile(result.experimentLog, 'utf8').catch(() => 'no experiment log')).toBe(0);
    const tiny = await parseTinyPvResult(outDir);
    expect(tiny.xlCreateExit).toBe(0);
    expect(tiny.markerSeen).toBe(true);
    expect(tiny.domainGone).toBe(true);
    // Timings are captured and plausible: xl create takes seconds under TCG, not nothing.
    expect(tiny.xlCreateMs).toBeGreaterThan(100);
    expect(tiny.xlCreateMs).toBeLessThan(120_000);
    expect(tiny.markerMs!).toBeGreaterThanOrEqual(tiny.xlCreateMs * 0.5);
    expect(result.timings.bootMs).toBeGreaterThan(1000);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.bootMs + result.timings.experimentMs);
    expect(await readFile(join(outDir, TINY_PV_GUEST_LOG), 'utf8')).toContain(TINY_PV_MARKER);
    expect(console).toMatch(/\(XEN\) Xen version 4\.17/);
    expect(result.stages.map((s) => s.name)).toEqual(expect.arrayContaining(['stage xenstored', 'ready', 'experiment exit 0']));
    expect(progress.length).toBeGreaterThan(3);
    expect(qemusUsing(outDir)).toEqual([]);
    expect((await readdir(outDir)).sort()).toEqual(
      ['dom0-logs', 'experiment.log', 'guest-console.log', TINY_PV_RESULT, XL_CREATE_LOG, 'xen-console.log', 'xen-lab-qemu.args.json'].sort(),
    );
  });
});
