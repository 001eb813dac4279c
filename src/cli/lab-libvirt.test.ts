// Unit tests of `lab xen run --via libvirt`'s host-side checks (before anything
// boots) and of its one-sentence failure (synthetic results).
import { describe, expect, it } from 'vitest';
import { parseXenExperimentText } from '../lab/xen/experiment-result.js';
import type { XenLabResult } from '../lab/xen/run.js';
import { renderTinyPvDomainXml, xenLibvirtProfile } from '../lab/xen/libvirt-xml.js';
import { labVia, type LabOptions } from './lab.js';
import { libvirtFailure, libvirtGroups, requireHostLibvirtXen } from './lab-libvirt.js';

const base: LabOptions = { guest: 'tiny-pv', output: 'out' };

describe('--via', () => {
  it('xl by default and on request; libvirt with tiny-pv under TCG', () => {
    expect(labVia(base)).toBe('xl');
    expect(labVia({ ...base, via: 'xl' })).toBe('xl');
    expect(labVia({ ...base, via: 'libvirt', runs: '2', profile: ['libvirt-unikernel'] })).toBe('libvirt');
  });

  it('refuses other values and what only the xl path does, in one line', () => {
    expect(() => labVia({ ...base, via: 'nova' })).toThrow(/^--via must be xl or libvirt, got 'nova'$/);
    expect(() => labVia({ ...base, via: ['libvirt', 'xl'] })).toThrow(/^--via must be xl or libvirt/);
    expect(() => labVia({ ...base, via: 'libvirt', guest: 'linux' })).toThrow(/^--via libvirt: only --guest tiny-pv/);
    expect(() => labVia({ ...base, via: 'libvirt', domains: '3' })).toThrow(/^--via libvirt: --domains is for xl create/);
    expect(() => labVia({ ...base, via: 'libvirt', accel: 'kvm' })).toThrow(/^--via libvirt: only --accel tcg/);
  });

  it('names the missing libvirt pieces dom0 needs from the host', () => {
    expect(() => requireHostLibvirtXen((p) => !p.endsWith('libvirt_driver_libxl.so'))).toThrow(
      /libvirt_driver_libxl\.so missing; dom0 runs the host's libvirt: apt-get install .*libvirt-daemon-driver-xen$/,
    );
    expect(() => requireHostLibvirtXen(() => true)).not.toThrow();
  });
});

describe('groups', () => {
  const stock = renderTinyPvDomainXml({ kernel: '/k', memoryMb: 8 });
  it('the stock XML first (the baseline), then each profile; a profile named stock or given twice is refused', () => {
    const uni = xenLibvirtProfile('libvirt-unikernel', stock);
    expect(libvirtGroups(stock, [uni]).map((g) => [g.label, g.dir])).toEqual([['stock', 'stock'], ['libvirt-unikernel', 'libvirt-unikernel']]);
    expect(() => libvirtGroups(stock, [uni, uni])).toThrow(/--profile libvirt-unikernel: given twice/);
    expect(() => libvirtGroups(stock, [{ ...uni, name: 'stock' }])).toThrow(/stock is the name of the stock XML/);
  });
});

describe('libvirtFailure', () => {
  const lab = { outDir: '/out', exitCode: 0, experimentLog: '/out/experiment.log' } as XenLabResult;
  const parse = (lines: string[]) => parseXenExperimentText(lines.join('\n'), 'synthetic.txt');
  const ready = { uprobes: true, probes: {}, daemonReady: true };
  const ok = 'run p=0 r=1 domain=a running=0 create_exit=0 create_ns=1000 marker_ns=2000 gone_ns=3000';
  it('none when every creation worked', () => {
    expect(libvirtFailure(lab, parse(['profile p=0 dir=stock', ok, 'done fail=0']), ready, ['stock'])).toBeUndefined();
  });
  it('the daemon, a failed virsh create, a missing marker, in one sentence naming the log', () => {
    expect(libvirtFailure(lab, parse(['done fail=1']), { ...ready, daemonReady: false }, [])).toMatch(/libxl driver in dom0 did not answer virsh \(see \/out\/virsh-version\.txt/);
    expect(libvirtFailure(lab, parse(['profile p=0 dir=stock', ok.replace('create_exit=0', 'create_exit=1'), 'done fail=1']), ready, ['stock'])).toBe(
      'stock run 1: virsh create failed with status 1 (see /out/stock/run-1.virsh.log)',
    );
    expect(libvirtFailure(lab, parse(['profile p=0 dir=stock', ok.replace('marker_ns=2000', 'marker_ns=-1'), 'done fail=1']), ready, ['stock'])).toMatch(/never printed its marker/);
  });
});
