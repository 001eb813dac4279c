// Unit tests of `hvscope lab xen run`'s host-side checks: profiles resolved before
// anything boots, and the one-sentence failure of an experiment (synthetic results).
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { parseXenExperimentText } from '../lab/xen/experiment-result.js';
import type { XenLabResult } from '../lab/xen/run.js';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { experimentFailure, guestKind, hvscopeForDom0, labReadyRule, labXenRun, resolveLabProfiles, type LabOptions } from './lab.js';

const lab = { outDir: '/out', exitCode: 0, experimentLog: '/out/experiment.log' } as XenLabResult;
const ok = 'run p=0 r=1 domain=a running=0 create_exit=0 create_ns=1000 marker_ns=2000 gone_ns=3000';

describe('resolveLabProfiles', () => {
  it('knows which shipped profiles rewrite the domain config', () => {
    const [stock, tuned] = resolveLabProfiles(['xen-stock', 'xen-unikernel']);
    expect(stock).toMatchObject({ name: 'xen-stock', dir: 'xen-stock', domainSection: false });
    expect(tuned).toMatchObject({ name: 'xen-unikernel', dir: 'xen-unikernel', domainSection: true });
  });

  it('an unknown or repeated profile is a UserError', () => {
    expect(() => resolveLabProfiles(['xen-stokc'])).toThrow(UserError);
    expect(() => resolveLabProfiles(['xen-stock', 'xen-stock'])).toThrow(/given twice/);
  });
});

describe('experimentFailure', () => {
  const parse = (lines: string[]) => parseXenExperimentText(lines.join('\n'), 'synthetic.txt');

  it('undefined when everything worked', () => {
    expect(experimentFailure(lab, parse(['profile p=0 dir=s', 'tune_apply p=0 exit=0 ns=1', ok, 'tune_rollback p=0 exit=0', 'done fail=0']), ['s'], false)).toBeUndefined();
  });

  it('names the failing step and where to look', () => {
    expect(experimentFailure(lab, parse(['profile p=0 dir=s', 'tune_apply p=0 exit=1 ns=1', 'done fail=1']), ['s'], false)).toBe(
      'hvscope tune apply s failed in dom0 with status 1 (see /out/s/tune-apply.log)',
    );
    expect(experimentFailure(lab, parse(['profile p=0 dir=s', ok.replace('create_exit=0', 'create_exit=3'), 'done fail=1']), ['s'], false)).toBe(
      's run 1: xl create failed with status 3 (see /out/s/run-1.xl.log)',
    );
    expect(experimentFailure(lab, parse(['profile p=0 dir=s', ok.replace('marker_ns=2000', 'marker_ns=-1'), 'done fail=1']), ['s'], false)).toMatch(
      /^s run 1: the guest never printed its marker/,
    );
    // Scaling runs keep their domains: not being gone is expected there.
    const kept = parse(['profile p=0 dir=s', ok.replace('gone_ns=3000', 'gone_ns=-1'), 'done fail=0']);
    expect(experimentFailure(lab, kept, ['s'], true)).toBeUndefined();
    expect(experimentFailure(lab, kept, ['s'], false)).toMatch(/still there/);
    expect(experimentFailure(lab, parse(['profile p=0 dir=s', ok]), ['s'], false)).toMatch(/^the experiment stopped before its end/);
  });
});

describe('experimentFailure for a --guest PATH', () => {
  const parse = (lines: string[]) => parseXenExperimentText(lines.join('\n'), 'synthetic.txt');
  const pathRun = 'run p=0 r=1 domain=a running=0 create_exit=0 create_ns=1000 marker_ns=-1 gone_ns=3000 ready_ns=1500 destroyed=1';

  it('without a marker, ready (running after xl create) and destroyed is success; not running names the console log', () => {
    expect(experimentFailure(lab, parse(['profile p=0 dir=untuned', pathRun, 'done fail=0']), ['untuned'], false, true)).toBeUndefined();
    expect(experimentFailure(lab, parse(['profile p=0 dir=untuned', pathRun.replace('ready_ns=1500', 'ready_ns=-1'), 'done fail=1']), ['untuned'], false, true)).toBe(
      'untuned run 1: the domain was not running once xl create returned (it crashed or shut down at once; see /out/untuned/run-1.console.log and /out/dom0-logs)',
    );
    expect(experimentFailure(lab, parse(['profile p=0 dir=untuned', pathRun.replace('gone_ns=3000', 'gone_ns=-1'), 'done fail=1']), ['untuned'], false, true)).toBe(
      'untuned run 1: the domain was still there after xl destroy',
    );
  });
});

describe('labXenRun option checks (before anything boots)', () => {
  const output = join(tmpdir(), `hvscope-lab-unit-never-created-${process.pid}`);
  const fails = async (opts: Partial<LabOptions>): Promise<string> => {
    const err = await labXenRun({ guest: 'tiny-pv', output, ...opts }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect(existsSync(output)).toBe(false);
    return (err as Error).message;
  };

  it('guestKind: tiny-pv and linux are built in, anything else is a PATH', () => {
    expect([guestKind('tiny-pv'), guestKind('linux'), guestKind('./tiny-pv'), guestKind('/boot/vmlinux')]).toEqual(['tiny-pv', 'linux', 'path', 'path']);
  });

  it('--ramdisk/--memory/--cmdline/--marker only with --guest PATH; --accel tcg or kvm; --domains only tiny-pv', async () => {
    expect(await fails({ marker: 'up' })).toBe('--marker: only with --guest PATH (your own kernel); tiny-pv brings its own');
    expect(await fails({ guest: 'linux', ramdisk: '/x' })).toBe('--ramdisk: only with --guest PATH (your own kernel); linux brings its own');
    expect(await fails({ memory: 64 })).toMatch(/^--memory: only with --guest PATH/);
    expect(await fails({ accel: 'hvf' })).toBe("--accel must be tcg or kvm, got 'hvf'");
    expect(await fails({ guest: process.execPath, domains: 2 })).toBe('--domains: only the tiny-pv guest stays up after its marker; use --guest tiny-pv');
    expect(await fails({ guest: process.execPath, memory: '2' })).toBe("--memory must be a whole number from 4 to 448, got '2'");
    expect(await fails({ guest: process.execPath, marker: ['a', 'b'] as unknown as string })).toBe('--marker: give it once, with a value (quote it as one argument)');
  });

  it('the user\'s kernel is checked on the host: missing, or an ELF without Xen notes, one line naming it', async () => {
    expect(await fails({ guest: '/nonexistent/dir/vmlinux' })).toBe('--guest /nonexistent/dir/vmlinux: no such file');
    expect(await fails({ guest: process.execPath })).toBe(`${process.execPath}: an ELF without Xen PV notes (not a Xen PV kernel; a Linux kernel needs CONFIG_XEN_PV)`);
  });
});

describe('hvscopeForDom0', () => {
  it('is this checkout\'s bin/hvscope run by this node (dom0 sees the host\'s paths)', () => {
    let argv: string[];
    try {
      argv = hvscopeForDom0();
    } catch (err) {
      // Not built yet: the message says what to do.
      expect((err as Error).message).toMatch(/npm run build/);
      return;
    }
    expect(argv[0]).toBe(process.execPath);
    expect(argv[1]).toMatch(/\/bin\/hvscope$/);
  });
});

describe('lab xen run --ready (option wiring; the lab itself is the e2e test\'s)', () => {
  it('console:REGEX becomes the marker the lab waits for', () => {
    const rule = labReadyRule('console:^svc (up|ready)$', undefined);
    expect(rule?.kind === 'console' && rule.pattern.source).toBe('^svc (up|ready)$');
    expect(labReadyRule(undefined, undefined)).toBeUndefined();
  });
  it('exit, pio and tcp are for trace and boot; --marker and --ready exclude each other; a bad rule is a usage error', () => {
    for (const r of ['exit', 'pio:0xf4', 'tcp:127.0.0.1:80']) expect(() => labReadyRule(r, undefined)).toThrow(/lab xen run takes console:REGEX only/);
    expect(() => labReadyRule('console:x', 'x')).toThrow(/give one/);
    expect(() => labReadyRule('console:(', undefined)).toThrow(/invalid regular expression/);
    let code: number | undefined;
    try {
      labReadyRule('nope', undefined);
    } catch (err) {
      code = (err as UserError).exitCode;
    }
    expect(code).toBe(2);
  });
  it('only with --guest PATH: a built-in guest brings its own marker (checked before anything boots)', async () => {
    await expect(labXenRun({ guest: 'tiny-pv', output: '/nonexistent', ready: 'console:x' } as LabOptions)).rejects.toThrow(/--ready: only with --guest PATH/);
  });
});
