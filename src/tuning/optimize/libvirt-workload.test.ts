import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../profile.js';
import { allTargets } from '../targets/index.js';
import { ROWS as DOMAIN_ROWS } from '../targets/libvirt-domain.js';
import { ROWS as CONF_ROWS } from '../targets/libvirt-qemu-conf.js';
import { candidateChanges, changeKey, settingAt } from './candidates.js';
import { decide } from './decide.js';
import { profileYaml } from './output.js';
import { DAEMONS_KEPT, DaemonPool, LIBVIRT_TARGETS, libvirtWorkload } from './libvirt-workload.js';
import { parseWorkload } from './workloads.js';

/** A stand-in for what the pool keeps (synthetic: the pool is a keyed cache of anything with stop()). */
class Daemon {
  stopped = 0;
  constructor(readonly key: string) {}
  async stop() {
    this.stopped++;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hvscope-libvirt-workload-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tune optimize --workload libvirt:GUEST', () => {
  it('parses libvirt:tiny, libvirt:linux, libvirt:PATH; measures the libvirt targets only', () => {
    for (const spec of ['libvirt:tiny', 'libvirt:linux', 'libvirt:/boot/vmlinuz']) {
      const w = parseWorkload(spec);
      expect(w.spec).toBe(spec);
      expect(w.measurable).toEqual(['libvirt-domain', 'libvirt-qemu-conf']);
      expect(w.check).toBeTypeOf('function');
      expect(w.close).toBeTypeOf('function');
    }
    expect(() => parseWorkload('libvirt:')).toThrow(/libvirt:tiny, libvirt:linux, libvirt:PATH/);
    expect(() => libvirtWorkload('libvirt: ', ' ')).toThrow(/expected libvirt:tiny, libvirt:linux or libvirt:PATH/);
  });

  it('a candidate with a section libvirt cannot apply is invalid (checked before anything runs)', () => {
    const w = parseWorkload('libvirt:tiny');
    expect(() => w.check!({ qemu: { machine: 'pc' }, 'libvirt-domain': {} })).toThrow(/section qemu cannot be applied to a creation through libvirt/);
    expect(() => w.check!({ 'libvirt-domain': { vcpu: 1 }, 'libvirt-qemu-conf': { seccomp_sandbox: 0 } })).not.toThrow();
  });

  it('candidates from libvirt-stock: devices, vCPUs, memory (with currentMemory), qemu.conf lists', () => {
    const stock = loadProfile('libvirt-stock', allTargets);
    const keys = candidateChanges({ targets: allTargets, sections: stock.sections, measurable: LIBVIRT_TARGETS, facts: {}, decided: new Set() }).map(changeKey);
    // targets in allTargets' order (qemu.conf first), each target's rows in declared order
    expect(keys).toEqual([
      'libvirt-qemu-conf/namespaces=[]',
      'libvirt-qemu-conf/cgroup_controllers=[]',
      'libvirt-qemu-conf/stdio_handler=file',
      'libvirt-qemu-conf/seccomp_sandbox=0',
      'libvirt-qemu-conf/remember_owner=0',
      'libvirt-qemu-conf/log_timestamp=0',
      'libvirt-domain/memballoon=none',
      'libvirt-domain/usb=none',
      'libvirt-domain/features=[acpi,apic]',
      'libvirt-domain/vcpu=1',
      'libvirt-domain/memory=32+currentMemory=32',
      'libvirt-domain/memory=128+currentMemory=128',
    ]);
    // from libvirt-unikernel most are in force already
    const uni = loadProfile('libvirt-unikernel', allTargets);
    const left = candidateChanges({ targets: allTargets, sections: uni.sections, measurable: LIBVIRT_TARGETS, facts: {}, decided: new Set() }).map(changeKey);
    expect(left).not.toContain('libvirt-domain/memballoon=none');
    expect(left).not.toContain('libvirt-qemu-conf/namespaces=[]');
    expect(left).not.toContain('libvirt-domain/memory=32+currentMemory=32');
    expect(left).toContain('libvirt-qemu-conf/stdio_handler=file');
  });

  it('the daemon pool: one per qemu.conf and bridge set, reused; beyond two the least recently used is stopped', async () => {
    const made: Daemon[] = [];
    const pool = new DaemonPool<Daemon>(async (key) => {
      const d = new Daemon(DaemonPool.keyOf(key.qemuConf, key.bridges));
      made.push(d);
      return d;
    });
    const stock = await pool.get(undefined, []);
    expect(await pool.get(undefined, [])).toBe(stock); // a domain-only candidate: the base's daemon
    const conf = await pool.get('namespaces = [ ]\n', []);
    expect(conf).not.toBe(stock);
    expect(await pool.get('namespaces = [ ]\n', [])).toBe(conf);
    expect(pool.started).toBe(2);
    expect(DaemonPool.keyOf(undefined, ['b', 'a'])).toBe(DaemonPool.keyOf(undefined, ['a', 'b']));
    await pool.get(undefined, []); // stock used last: the conf daemon is now the least recent
    const third = await pool.get('seccomp_sandbox = 0\n', []);
    expect(DAEMONS_KEPT).toBe(2);
    expect(conf.stopped).toBe(1);
    expect(stock.stopped).toBe(0);
    expect(pool.keys()).toEqual([stock.key, third.key]);
    await pool.drop(stock.key);
    expect(stock.stopped).toBe(1);
    await pool.close();
    expect(made.map((d) => d.stopped)).toEqual([1, 1, 1]);
    expect(pool.keys()).toEqual([]);
  });

  it('declared candidates name real rows; a kept list value (namespaces []) is written as a YAML list and loads', () => {
    const domain = allTargets.find((t) => t.name === 'libvirt-domain')!;
    const conf = allTargets.find((t) => t.name === 'libvirt-qemu-conf')!;
    for (const c of domain.candidates ?? []) expect(DOMAIN_ROWS.map((r) => r.key)).toContain(c.path[0]);
    for (const c of conf.candidates ?? []) expect(CONF_ROWS.map((r) => r.key)).toContain(c.path[0]);
    const stock = loadProfile('libvirt-stock', allTargets);
    const [ns] = candidateChanges({ targets: allTargets, sections: stock.sections, measurable: LIBVIRT_TARGETS, facts: {}, decided: new Set(), knobs: ['namespaces'] });
    const [mem] = candidateChanges({ targets: allTargets, sections: stock.sections, measurable: LIBVIRT_TARGETS, facts: {}, decided: new Set(), knobs: ['memory'] });
    const file = join(dir, 'found.yaml');
    const decision = decide([5e9, 5.1e9, 5.2e9], [4e9, 4.1e9, 4.2e9], 0.95); // synthetic runs
    const spec = { workload: 'libvirt:tiny', from: 'libvirt-stock', budgetMs: 60_000, confidence: 0.95, objective: 'ready', runsPerCandidate: 3 };
    const text = profileYaml({ file, include: 'libvirt-stock', spec, kept: [{ change: ns, decision }, { change: mem, decision }] });
    expect(text).toMatch(/^ {2}namespaces:\n {4}value: \[\]$/m);
    writeFileSync(file, text);
    const found = loadProfile(file, allTargets);
    expect(settingAt(found.sections['libvirt-qemu-conf'], ['namespaces'])).toEqual([]);
    expect(settingAt(found.sections['libvirt-qemu-conf'], ['seccomp_sandbox'])).toBe(1); // inherited
    expect(settingAt(found.sections['libvirt-domain'], ['memory'])).toBe(32);
    expect(settingAt(found.sections['libvirt-domain'], ['currentMemory'])).toBe(32);
    expect(() => parseWorkload('libvirt:tiny').check!(found.sections)).not.toThrow();
  });
});
