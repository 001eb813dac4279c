// Unit tests of `hvscope lab xen run`'s host-side checks: profiles resolved before
// anything boots, and the one-sentence failure of an experiment (synthetic results).
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { parseXenExperimentText } from '../lab/xen/experiment.js';
import type { XenLabResult } from '../lab/xen/run.js';
import { experimentFailure, hvscopeForDom0, resolveLabProfiles } from './lab.js';

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
