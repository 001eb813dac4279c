import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TargetDefinition } from '../knob.js';
import { loadProfile } from '../profile.js';
import { allTargets } from '../targets/index.js';
import { candidateChanges, changeKey, checkSelection, settingAt, type CandidateQuery } from './candidates.js';
import { decide } from './decide.js';
import { profileYaml } from './output.js';

const qemu = allTargets.filter((t) => t.name === 'qemu');
const query = (over: Partial<CandidateQuery>): CandidateQuery => ({ targets: qemu, sections: { qemu: { machine: 'pc' } }, measurable: ['qemu'], facts: {}, decided: new Set(), ...over });
const keys = (q: CandidateQuery) => candidateChanges(q).map(changeKey);

describe('tune optimize candidates', () => {
  it('skips the value in force (set, or the declared default when absent)', () => {
    const k = keys(query({}));
    expect(k).toContain('qemu/machine=microvm+tcg-tsc-khz=host'); // brings along what it needs
    expect(k).not.toContain('qemu/machine=pc'); // set
    expect(k).not.toContain('qemu/nodefaults=off'); // QEMU's default
    expect(k).toContain('qemu/nodefaults=on');
    expect(k).not.toContain('qemu/kernel-params/quiet=false'); // a flag's default: absent
    expect(k).toContain('qemu/kernel-params/quiet=true');
  });

  it('requires: microvm-only settings only once the machine is microvm', () => {
    expect(keys(query({}))).not.toContain('qemu/x-option-roms=off');
    expect(keys(query({ sections: { qemu: { machine: { value: 'microvm', why: 'x' } } } }))).toContain('qemu/x-option-roms=off');
  });

  it('valueRequires: conflicts as data (pit off needs tcg-tsc-khz; qboot only on microvm)', () => {
    const pc = keys(query({}));
    expect(pc).not.toContain('qemu/pit=off');
    expect(pc).not.toContain('qemu/bios=qboot.rom');
    const withTsc = keys(query({ sections: { qemu: { machine: 'microvm', 'tcg-tsc-khz': 'host' } } }));
    expect(withTsc).toContain('qemu/pit=off');
    expect(withTsc).toContain('qemu/bios=qboot.rom');
    // …and dropping tcg-tsc-khz while pit is off is not offered
    const pitOff = keys(query({ sections: { qemu: { machine: 'microvm', 'tcg-tsc-khz': 'host', pit: 'off' } } }));
    expect(pitOff).not.toContain('qemu/tcg-tsc-khz=absent');
  });

  it('workload facts: PVH only with a kernel that has a PVH entry; unknown facts do not exclude', () => {
    expect(keys(query({ facts: { '@pvh-kernel': false } }))).not.toContain('qemu/kernel-entry=pvh');
    expect(keys(query({ facts: { '@pvh-kernel': true } }))).toContain('qemu/kernel-entry=pvh');
    expect(keys(query({ facts: {} }))).toContain('qemu/kernel-entry=pvh');
  });

  it('leaves out decided changes and knobs already changed; --knobs restricts and orders', () => {
    expect(keys(query({ decided: new Set(['qemu/machine=q35']) }))).not.toContain('qemu/machine=q35');
    expect(keys(query({ changed: new Set(['qemu/machine']) })).some((k) => k.startsWith('qemu/machine='))).toBe(false);
    expect(keys(query({ knobs: ['quiet', 'machine'] }))).toEqual(['qemu/kernel-params/quiet=true', 'qemu/machine=q35', 'qemu/machine=microvm+tcg-tsc-khz=host']);
    expect(keys(query({ knobs: ['qemu/kernel-params/cryptomgr.notests'] }))).toEqual(['qemu/kernel-params/cryptomgr.notests=true']);
  });

  it('a value brings along the settings it needs, unless they are in force or already changed', () => {
    expect(keys(query({ sections: { qemu: { machine: 'pc', 'tcg-tsc-khz': 'host' } } }))).toContain('qemu/machine=microvm');
    expect(keys(query({ knobs: ['pit'], sections: { qemu: { machine: 'microvm' } } }))).toEqual(['qemu/pit=off+tcg-tsc-khz=host']);
    // tcg-tsc-khz was decided by an earlier kept change: microvm needing it is not offered
    expect(keys(query({ changed: new Set(['qemu/tcg-tsc-khz']) }))).not.toContain('qemu/machine=microvm+tcg-tsc-khz=host');
  });

  it('a value brings along what its brought-along settings need in turn, and a setting that requires another (qemu-microvm-fast territory from pc)', () => {
    const from = loadProfile('qemu-default', allTargets).sections;
    const k = keys(query({ sections: from, knobs: ['bios', 'x-option-roms', 'pci'] }));
    expect(k).toEqual([
      'qemu/bios=qboot.rom+machine=microvm+tcg-tsc-khz=host', // qboot needs microvm, which needs tcg-tsc-khz
      'qemu/bios=bios-microvm.bin+machine=microvm+tcg-tsc-khz=host',
      'qemu/x-option-roms=off+machine=microvm+tcg-tsc-khz=host', // a microvm-only property
      'qemu/kernel-params/pci=off+machine=microvm+tcg-tsc-khz=host',
    ]);
    // once microvm (and its tcg-tsc-khz) is in force, the same values come alone
    const micro = keys(query({ sections: { qemu: { ...(from.qemu as object), machine: 'microvm', 'tcg-tsc-khz': 'host' } }, knobs: ['bios', 'x-option-roms', 'pci', 'rtc'] }));
    expect(micro).toEqual(['qemu/bios=qboot.rom', 'qemu/bios=bios-microvm.bin', 'qemu/x-option-roms=off', 'qemu/kernel-params/pci=off', 'qemu/rtc=off']);
    // a need on a knob a kept change already set (machine q35) cannot be met: not offered
    expect(keys(query({ sections: { qemu: { machine: 'q35', bios: 'default' } }, changed: new Set(['qemu/machine']), knobs: ['bios', 'x-option-roms'] }))).toEqual([]);
    // nor one on a fact that does not hold
    expect(keys(query({ facts: { '@pvh-kernel': false }, knobs: ['kernel-entry'] }))).toEqual([]);
  });

  it('only targets the workload measures, and --target', () => {
    expect(keys(query({ measurable: ['bridge'] }))).toEqual([]);
    expect(keys(query({ target: 'bridge' }))).toEqual([]);
  });

  it('checkSelection: an unknown knob or target is a usage error naming what is known', () => {
    expect(() => checkSelection(allTargets, ['qemu'], ['machin'])).toThrow(/--knobs: no searchable knob "machin" \(known: qemu\/machine/);
    expect(() => checkSelection(allTargets, ['qemu'], undefined, 'bridge')).toThrow(/--target bridge: this workload can search qemu/);
    expect(() => checkSelection(allTargets, ['qemu'], ['machine', 'quiet'], 'qemu')).not.toThrow();
  });

  it('a target without declared candidates offers nothing', () => {
    const bare: TargetDefinition = { ...qemu[0], name: 'bare', candidates: undefined };
    expect(candidateChanges(query({ targets: [bare], measurable: ['bare'] }))).toEqual([]);
  });

  it('a value brings along another target\'s setting it names (xl.conf vif-bridge-fast installs the script via xen-hotplug)', () => {
    const xen = allTargets.filter((t) => t.name.startsWith('xen-'));
    const q = (over: Partial<CandidateQuery>) => keys({ targets: xen, sections: { 'xen-xl-conf': { 'vif.default.script': 'vif-bridge' } }, measurable: ['xen-xl-conf', 'xen-hotplug', 'xen-domain'], facts: {}, decided: new Set(), ...over });
    expect(q({})[0]).toBe('xen-xl-conf/vif.default.script=vif-bridge-fast+xen-hotplug/vif-bridge-fast=true');
    // installed already: nothing to bring along
    expect(q({ sections: { 'xen-hotplug': { 'vif-bridge-fast': { value: true, why: 'x' } } } })[0]).toBe('xen-xl-conf/vif.default.script=vif-bridge-fast');
    // a workload that cannot measure xen-hotplug cannot bring it along: the value is not offered
    expect(q({ measurable: ['xen-xl-conf'] })).not.toContain('xen-xl-conf/vif.default.script=vif-bridge-fast+xen-hotplug/vif-bridge-fast=true');
    // never tried alone
    expect(q({}).some((k) => k.startsWith('xen-hotplug/'))).toBe(false);

    // kept, it writes both sections; the profile loads (xen-hotplug installs before xl.conf selects)
    const stock = loadProfile('xen-stock', allTargets);
    const [change] = candidateChanges({ targets: allTargets, sections: stock.sections, measurable: ['xen-xl-conf', 'xen-hotplug'], facts: {}, decided: new Set(), knobs: ['vif.default.script'] });
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-candidates-test-'));
    try {
      const file = join(dir, 'found.yaml');
      const spec = { workload: 'lab-xen:tiny-pv', from: 'xen-stock', budgetMs: 60_000, confidence: 0.95, objective: 'ready', runsPerCandidate: 3 };
      writeFileSync(file, profileYaml({ file, include: 'xen-stock', spec, kept: [{ change, decision: decide([9, 9.5, 10], [5, 5.5, 6], 0.95) }] })); // synthetic runs
      const found = loadProfile(file, allTargets);
      expect(settingAt(found.sections['xen-hotplug'], ['vif-bridge-fast'])).toBe(true);
      expect(settingAt(found.sections['xen-xl-conf'], ['vif.default.script'])).toBe('vif-bridge-fast');
      expect(settingAt(found.sections['xen-xl-conf'], ['claim_mode'])).toBe(1); // inherited
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
