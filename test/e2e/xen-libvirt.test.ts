// `hvscope lab xen run --via libvirt` end to end on real Xen 4.17 nested under
// QEMU TCG: libvirtd's libxl driver started in dom0, tiny-pv created with
// `virsh -c xen:///system create` from the stock domain XML and from
// libvirt-unikernel's (one run each after a warm-up: the lab's boot and
// libvirtd's first answer take minutes under TCG), traced from virsh's start to
// the guest's first line. One lab at a time (it waits for another lab's lock).
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { waitForLabLock } from '../helpers/lab.js';
import { readTrace } from '../../src/model/io.js';
import { phaseBreakdown } from '../../src/analysis/phases.js';
import { TINY_PV_MARKER } from '../../src/lab/tiny-pv-guest.js';
import { LIBVIRT_LIBS } from '../../src/lab/xen/libvirt-experiment.js';

const missing =
  requireOrSkip(isRoot, 'root') ||
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(hasCommand('apt-get'), 'apt-get (Debian)') ||
  requireOrSkip(existsSync('/usr/lib/xen-4.17/bin/xl'), 'xen-utils-4.17 (apt-get install xen-utils-4.17)') ||
  requireOrSkip(existsSync('/usr/sbin/libvirtd') && hasCommand('virsh'), 'libvirtd and virsh (apt-get install libvirt-daemon-system libvirt-clients)') ||
  requireOrSkip(existsSync(LIBVIRT_LIBS.libxlDriver), "libvirt's libxl driver (apt-get install libvirt-daemon-driver-xen)") ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld');

const repo = resolve(import.meta.dirname, '../..');
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-xen-libvirt-e2e-'));
}, 60_000);

afterAll(async () => {
  if (process.env.HVSCOPE_E2E_KEEP === '1') console.warn(`kept ${scratch}`);
  else await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(missing)('hvscope lab xen run --via libvirt', () => {
  it('creates tiny-pv through libvirtd (libxl) with stock and tuned XML; orchestrate, toolstack, devices, kernel in order to the guest marker', { timeout: 1_500_000 }, async () => {
    const out = join(scratch, 'libvirt');
    await waitForLabLock(1_200_000);
    const r = await execa(process.execPath, [join(repo, 'bin/hvscope'), 'lab', 'xen', 'run', '--via', 'libvirt', '--profile', 'libvirt-unikernel', '--runs', '1', '-o', out, '--json'], {
      reject: false,
      cwd: repo,
      stdin: 'ignore',
    });
    expect(r.exitCode, r.stderr).toBe(0);
    // The profile's rows that do not apply to a Xen PV domain are named, the refused balloon among them.
    expect(r.stderr).toMatch(/^hvscope: libvirt-unikernel: memballoon left out for Xen: libvirt's libxl driver refuses model='none'/m);
    const json = JSON.parse(r.stdout) as {
      via: string;
      libvirt: { uprobes: boolean; daemonReady: boolean; probes: Record<string, boolean> };
      experiment: { ftrace: boolean; runs: { profile: number; createExit: number; markerNs?: number; goneNs?: number }[] };
    };
    expect(json.via).toBe('libvirt');
    expect(json.libvirt.daemonReady).toBe(true);
    expect(json.experiment.ftrace).toBe(true);
    expect(json.libvirt.uprobes, 'dom0 (Debian 6.1 kernel) should take uprobe events').toBe(true);
    expect(json.experiment.runs.map((x) => x.profile).sort()).toEqual([0, 1]);
    for (const run of json.experiment.runs) {
      expect(run.createExit).toBe(0);
      expect(run.markerNs).toBeGreaterThan(0);
      expect(run.goneNs).toBeGreaterThan(run.markerNs!);
    }
    // The tuned XML libvirtd was given: PV inputs gone, the xen balloon kept.
    const tunedXml = readFileSync(join(out, 'libvirt-unikernel/domain.xml'), 'utf8');
    expect(tunedXml).not.toMatch(/^\s*<input /m);
    expect(tunedXml).toMatch(/<memballoon model='xen'\/>/);
    expect(readFileSync(join(out, 'stock/domain.xml'), 'utf8')).toMatch(/^\s*<input type='mouse' bus='xen'\/>/m);
    const phaseLines: string[] = [];
    for (const dir of ['stock', 'libvirt-unikernel']) {
      expect(readFileSync(join(out, dir, 'run-1.console.log'), 'utf8')).toContain(TINY_PV_MARKER);
      const trace = readTrace(join(out, dir, 'run-1.hvtrace.json'));
      const phases = phaseBreakdown(trace);
      expect(phases.map((p) => p.phase)).toEqual(['orchestrate', 'toolstack', 'devices', 'kernel']);
      const [orchestrate, toolstack] = phases;
      expect(orchestrate.start_evidence?.marker).toBe('virsh exec (libvirt client)');
      expect(orchestrate.end_evidence?.marker).toBe('libxl_domain_create_new (in libvirtd)');
      expect(toolstack.start).toBe(orchestrate.end);
      for (let i = 1; i < phases.length; i++) expect(phases[i].start).toBeGreaterThanOrEqual(phases[i - 1].end);
      // The guest's marker: the ready boundary after the kernel phase, and the polled line after that.
      const ready = trace.markers.filter((m) => m.boundary === 'ready').sort((a, b) => a.at - b.at)[0];
      expect(ready.at).toBe(phases.at(-1)!.end);
      const polled = trace.instants.find((x) => x.name === 'marker seen (console log polled)')!;
      expect(polled.at).toBeGreaterThanOrEqual(ready.at);
      // libvirtd's steps nest in order inside virsh's call.
      const spans = (name: string) => trace.spans.find((s) => s.lane === 'libvirtd' && s.name === name)!;
      expect(spans('virDomainCreateXML (libvirtd)').start).toBeLessThanOrEqual(spans('libxlDomainStartNew').start);
      expect(spans('libxlDomainStartNew').start).toBeLessThanOrEqual(spans('libxl_domain_create_new').start);
      phaseLines.push(`${dir}: ${phases.map((p) => `${p.phase} ${(p.duration / 1e6).toFixed(0)} ms`).join(', ')}`);
    }
    expect(readFileSync(join(out, 'report.txt'), 'utf8')).toMatch(/== stock ==[\s\S]*== libvirt-unikernel ==[\s\S]*virsh create median libvirt-unikernel/);
    // The lab's QEMU is gone with its dom0 (and the libvirtd and virtlogd in it); the lock released.
    const left = await execa('pgrep', ['-f', out], { reject: false });
    expect(left.stdout.trim()).toBe('');
    console.warn(`xen-libvirt e2e: ${phaseLines.join('; ')}`);
  });
});
