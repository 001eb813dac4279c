// Unit tests of the lab experiment: the dom0 script (sh syntax, order of apply →
// creations → rollback, quoting, scaling mode) and the parsers of what it writes.
// Inputs here are synthetic (written for the test); the e2e test
// (test/e2e/xen-compare.test.ts) runs the script in a real lab.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReadyRule } from '../../model/ready-rule.js';
import { readyOutcome } from '../../analysis/ready-outcome.js';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { validateTrace } from '../../model/io.js';
import { phaseBreakdown } from '../../analysis/phases.js';
import { shellQuote } from './dom0-initramfs.js';
import { EXPERIMENT_WORK_DIR, GUEST_KERNEL_LINK, GUEST_RAMDISK_LINK, MAX_LAB_DOMAINS, TINY_PV_STAY, renderGuestLinks, renderReadiness, renderXenExperiment, type XenExperimentOptions } from './experiment.js';
import { ftraceRuns, parseFtrace } from './dom0-ftrace.js';
import { parseXenExperimentText } from './experiment-result.js';
import { xenRunTrace } from './experiment-trace.js';

const twoProfiles: XenExperimentOptions = {
  kernel: '/cache/tiny-pv.elf',
  profiles: [
    { name: 'xen-stock', dir: 'xen-stock', domainSection: false },
    { name: 'xen-unikernel', dir: 'xen-unikernel', domainSection: true },
  ],
  runs: 3,
  hvscope: ['/usr/bin/node', '/work/main/bin/hvscope'],
};

function shSyntaxOk(script: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-exp-test-'));
  try {
    writeFileSync(join(dir, 's.sh'), script);
    execFileSync('sh', ['-n', join(dir, 's.sh')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('renderXenExperiment', () => {
  it('applies each profile, creates N times, rolls back, in the order given; valid sh', () => {
    const s = renderXenExperiment(twoProfiles);
    shSyntaxOk(s);
    const order = [...s.matchAll(/tune apply '([^']+)'|create_one (\d) (\d) (\S+) 0 0|tune rollback/g)].map((m) =>
      m[1] ? `apply ${m[1]}` : m[2] ? `create p${m[2]} r${m[3]} ${m[4]}` : 'rollback',
    );
    expect(order).toEqual([
      'apply xen-stock',
      'create p0 r1 tpv-p0-r1',
      'create p0 r2 tpv-p0-r2',
      'create p0 r3 tpv-p0-r3',
      'rollback',
      'apply xen-unikernel',
      'create p1 r1 tpv-p1-r1',
      'create p1 r2 tpv-p1-r2',
      'create p1 r3 tpv-p1-r3',
      'rollback',
    ]);
  });

  it('one untimed warm-up creation before the first profile is applied, unless turned off', () => {
    const s = renderXenExperiment(twoProfiles);
    const warm = s.indexOf('xl create "$cfg" >"$work/warmup.log"');
    expect(warm).toBeGreaterThan(0);
    expect(warm).toBeLessThan(s.indexOf('tune apply'));
    expect(s).toContain('name = "tpv-warmup"');
    expect(renderXenExperiment({ ...twoProfiles, warmup: false })).not.toContain('warmup');
  });

  it('passes --domain-config only to profiles with a xen-domain section', () => {
    const s = renderXenExperiment(twoProfiles);
    expect(s).toMatch(/tune apply 'xen-stock' >/);
    expect(s).toMatch(/tune apply 'xen-unikernel' --domain-config "\$cfg" >/);
  });

  it('quotes the hvscope command and the profile name for sh', () => {
    const s = renderXenExperiment({ ...twoProfiles, profiles: [{ name: "/tmp/it's mine.yaml", dir: 'mine', domainSection: false }], hvscope: ['/opt/my node', '/x/hvscope'] });
    shSyntaxOk(s);
    expect(s).toContain(`'/opt/my node' '/x/hvscope' tune apply '/tmp/it'\\''s mine.yaml'`);
  });

  it('without profiles: no tune at all, one untuned group', () => {
    const s = renderXenExperiment({ kernel: '/k', profiles: [], runs: 2 });
    shSyntaxOk(s);
    expect(s).not.toContain('tune ');
    expect(s).toContain('profile p=0 dir=untuned');
    expect(s.match(/create_one 0 \d/g)).toHaveLength(2);
  });

  it('scaling: K creations that stay up (guest cmdline), then all destroyed before rollback', () => {
    const s = renderXenExperiment({ ...twoProfiles, domains: 3 });
    shSyntaxOk(s);
    expect(s.match(/create_one 0 \d tpv-p0-k\d (\d) 1/g)).toEqual(['create_one 0 1 tpv-p0-k1 0 1', 'create_one 0 2 tpv-p0-k2 1 1', 'create_one 0 3 tpv-p0-k3 2 1']);
    expect(s).toContain(`cmdline = "${TINY_PV_STAY}"`);
    const destroy = s.indexOf('for dn in tpv-p0-k1 tpv-p0-k2 tpv-p0-k3; do xl destroy');
    expect(destroy).toBeGreaterThan(s.indexOf('create_one 0 3'));
    expect(destroy).toBeLessThan(s.indexOf('tune rollback'));
  });

  it('a guest with an initramfs and a command line (linux): both in the xl config; no scaling mode for it', () => {
    const s = renderXenExperiment({ ...twoProfiles, ramdisk: '/c/initramfs.cpio', extra: 'console=hvc0 quiet', memoryMb: 128, marker: 'hello linux' });
    shSyntaxOk(s);
    expect(s).toContain('ramdisk = "/c/initramfs.cpio"\nextra = "console=hvc0 quiet"\nHVSCOPE_XL_CONFIG');
    expect(s).toContain('memory = 128');
    expect(s).toContain("marker='hello linux'");
    expect(() => renderXenExperiment({ ...twoProfiles, extra: 'a"b' })).toThrow(/extra must be printable ASCII without quotes/);
    expect(() => renderXenExperiment({ ...twoProfiles, ramdisk: '/r', domains: 2 })).toThrow(/only the tiny-pv guest can stay up/);
  });

  it('rejects bad counts and duplicate profiles with one clear message', () => {
    expect(() => renderXenExperiment({ ...twoProfiles, runs: 0 })).toThrow(/--runs must be a whole number ≥ 1/);
    expect(() => renderXenExperiment({ ...twoProfiles, domains: MAX_LAB_DOMAINS + 1 })).toThrow(UserError);
    expect(() => renderXenExperiment({ ...twoProfiles, profiles: [twoProfiles.profiles[0], twoProfiles.profiles[0]] })).toThrow(/given twice/);
    expect(() => renderXenExperiment({ ...twoProfiles, hvscope: [] })).toThrow(/hvscope command/);
  });
});

describe('parseXenExperimentText', () => {
  const synthetic = [
    'ftrace enabled=1',
    'warmup exit=0 ns=7000000000',
    'profile p=0 dir=xen-stock',
    'tune_apply p=0 exit=0 ns=2500000000',
    'run p=0 r=1 domain=tpv-p0-r1 running=0 create_exit=0 create_ns=6000000000 marker_ns=6500000000 gone_ns=9000000000',
    'run p=0 r=2 domain=tpv-p0-r2 running=0 create_exit=0 create_ns=5800000000 marker_ns=-1 gone_ns=-1',
    'tune_rollback p=0 exit=0',
    'done fail=1',
  ].join('\n');

  it('reads profiles, runs (absent marker/gone as undefined) and the end record', () => {
    const r = parseXenExperimentText(synthetic, 'synthetic.txt');
    expect(r.ftrace).toBe(true);
    expect(r.warmup).toEqual({ exit: 0, ns: 7e9 });
    expect(r.profiles).toEqual([{ index: 0, dir: 'xen-stock', tuneApply: { exit: 0, ns: 2.5e9 }, tuneRollback: { exit: 0 } }]);
    expect(r.runs[0]).toEqual({ profile: 0, run: 1, domain: 'tpv-p0-r1', runningDomains: 0, createExit: 0, createNs: 6e9, markerNs: 6.5e9, goneNs: 9e9 });
    expect(r.runs[1].markerNs).toBeUndefined();
    expect(r.finished).toBe(true);
    expect(r.failed).toBe(true);
  });

  it('a run of an unannounced profile or a bad value names the file and line', () => {
    expect(() => parseXenExperimentText('run p=3 r=1 domain=x running=0 create_exit=0 create_ns=1 marker_ns=1 gone_ns=1', 'f.txt')).toThrow(/^f\.txt:1: run: profile 3 was not announced/);
    expect(() => parseXenExperimentText('profile p=0 dir=a\ntune_apply p=0 exit=x ns=1', 'f.txt')).toThrow(/^f\.txt:2: tune_apply: exit must be an integer/);
    expect(() => parseXenExperimentText('what now', 'f.txt')).toThrow(/^f\.txt:1: expected key=value/);
  });
});

// Synthetic ftrace text in the kernel's format (trace_clock mono), shaped like a
// stock creation in the lab's recording: xl forks the vif-bridge hotplug script,
// which runs two tools; xl forks its daemon right after unpausing; xenconsoled
// writes the guest's output; the daemon runs vif-bridge again at teardown.
const syntheticFtrace = `# tracer: nop
#
              sh-300     [000] .....   100.000000: tracing_mark_write: hvscope: create_start p=0 r=1
              sh-300     [000] .....   100.000100: sched_process_fork: comm=sh pid=300 child_comm=sh child_pid=301
              xl-301     [000] .....   100.001000: sched_process_exec: filename=/usr/sbin/xl pid=301 old_pid=301
              xl-301     [000] .....   101.000000: sched_process_fork: comm=xl pid=301 child_comm=xl child_pid=310
      vif-bridge-310     [000] .....   101.000500: sched_process_exec: filename=/etc/xen/scripts/vif-bridge pid=310 old_pid=310
      vif-bridge-310     [000] .....   101.100000: sched_process_fork: comm=vif-bridge pid=310 child_comm=vif-bridge child_pid=311
              ip-311     [000] .....   101.100500: sched_process_exec: filename=/usr/sbin/ip pid=311 old_pid=311
              ip-311     [000] .....   101.200000: sched_process_exit: comm=ip pid=311 prio=120
      vif-bridge-310     [000] .....   101.300000: sched_process_fork: comm=vif-bridge pid=310 child_comm=vif-bridge child_pid=312
           brctl-312     [000] .....   101.300500: sched_process_exec: filename=/usr/sbin/brctl pid=312 old_pid=312
      vif-bridge-310     [000] .....   103.000000: sched_process_exit: comm=vif-bridge pid=310 prio=120
     xenconsoled-90      [000] ...1.   103.100000: sys_write(fd: 3, buf: 7ffe92f440b0, count: 10)
     xenconsoled-90      [000] ...1.   103.100100: sys_write(fd: 3, buf: 7f3d3c000f60, count: 21)
     xenconsoled-90      [000] ...1.   103.100200: sys_write(fd: 12, buf: 7ffe92f4539c, count: 4)
              xl-301     [000] .....   103.200000: sched_process_fork: comm=xl pid=301 child_comm=xl child_pid=320
     xenconsoled-90      [000] ...1.   103.250000: sys_write(fd: 15, buf: 557ae48e9bf0, count: 69)
              sh-300     [000] .....   103.500000: tracing_mark_write: hvscope: create_exit p=0 r=1
              sh-300     [000] .....   104.000000: tracing_mark_write: hvscope: marker p=0 r=1
              xl-320     [000] .....   104.100000: sched_process_fork: comm=xl pid=320 child_comm=xl child_pid=330
      vif-bridge-330     [000] .....   104.100500: sched_process_exec: filename=/etc/xen/scripts/vif-bridge pid=330 old_pid=330
      vif-bridge-330     [000] .....   106.000000: sched_process_exit: comm=vif-bridge pid=330 prio=120
              sh-300     [000] .....   107.000000: tracing_mark_write: hvscope: gone p=0 r=1
              sh-300     [000] .....   108.000000: tracing_mark_write: hvscope: create_start p=0 r=2
`;

describe('dom0 ftrace', () => {
  it('splits by our markers and finds the hotplug script with its children', () => {
    const runs = ftraceRuns(parseFtrace(syntheticFtrace));
    expect([...runs.keys()]).toEqual(['0/1', '0/2']);
    const r = runs.get('0/1')!;
    expect(r.createExitNs).toBe(3.5e9);
    expect(r.markerNs).toBe(4e9);
    expect(r.goneNs).toBe(7e9);
    expect(r.scripts).toEqual([
      { name: 'vif-bridge', pid: 310, startNs: 1.0005e9, endNs: 3e9, execs: 2, when: 'create' },
      { name: 'vif-bridge', pid: 330, startNs: 4.1005e9, endNs: 6e9, execs: 0, when: 'teardown' },
    ]);
    expect(r.devicesDoneNs).toBe(3e9);
    expect(r.guestOutputNs).toBe(3.25e9);
    expect(r.execsDuringCreate).toBe(4);
  });

  it('builds a valid trace: toolstack, devices = the hotplug script, then the guest until its first output', () => {
    const ft = ftraceRuns(parseFtrace(syntheticFtrace)).get('0/1');
    const trace = xenRunTrace(
      { profile: 0, run: 1, domain: 'tpv-p0-r1', runningDomains: 2, createExit: 0, createNs: 3.51e9, markerNs: 4.02e9, goneNs: 7.1e9 },
      ft,
      { profile: 'xen-stock', recorded: 'synthetic', hypervisor: 'xen 4.17' },
    );
    validateTrace(JSON.parse(JSON.stringify(trace)), 'synthetic');
    expect(phaseBreakdown(trace).map((p) => [p.phase, p.start, p.end])).toEqual([
      ['toolstack', 0, 1.0005e9],
      ['devices', 1.0005e9, 3e9],
      ['kernel', 3e9, 3.25e9],
    ]);
    expect(trace.spans.filter((s) => s.lane === 'hotplug').map((s) => [s.name, s.phase, s.args!.when])).toEqual([
      ['vif-bridge', 'devices', 'create'],
      ['vif-bridge', undefined, 'teardown'],
    ]);
    expect(trace.spans.find((s) => s.name === 'xl create')!.args!.running_domains).toBe(2);
  });

  it('without ftrace: toolstack is xl create wall time, then the guest until its marker', () => {
    const trace = xenRunTrace(
      { profile: 0, run: 1, domain: 'd', runningDomains: 0, createExit: 0, createNs: 5e9, markerNs: 5.4e9 },
      undefined,
      { profile: 'untuned', recorded: 'synthetic', hypervisor: 'xen 4.17' },
    );
    expect(phaseBreakdown(trace).map((p) => [p.phase, p.duration])).toEqual([
      ['toolstack', 5e9],
      ['kernel', 0.4e9],
    ]);
  });
});

describe('xenRunTrace with the user\'s --ready console:REGEX (a --guest PATH)', () => {
  it('the marker the lab polled for ends the guest\'s phase as the rule, and the trace names the rule', () => {
    const trace = xenRunTrace(
      { profile: 0, run: 1, domain: 'd', runningDomains: 0, createExit: 0, createNs: 5e9, markerNs: 5.4e9 },
      undefined,
      { profile: 'untuned', recorded: 'synthetic', hypervisor: 'xen 4.17', firstOutputIsMarker: false, marker: '^svc up', ready: parseReadyRule('console:^svc up') },
    );
    validateTrace(JSON.parse(JSON.stringify(trace)), 'synthetic');
    expect(trace.meta.ready).toBe('console:^svc up');
    const kernel = phaseBreakdown(trace).find((p) => p.phase === 'kernel');
    expect(kernel).toMatchObject({ start: 5e9, end: 5.4e9, end_evidence: { marker: '--ready console:^svc up (console log polled in dom0)' } });
    expect(readyOutcome(trace)).toMatchObject({ rule: 'console:^svc up', seen: true, at_ns: 5.4e9, ends: 'kernel' });
  });
});

// Real recordings of the lab (fixtures/xen-lab-experiment/README.md says how).
describe('recorded lab runs', () => {
  const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../../../fixtures/xen-lab-experiment', name), 'utf8');

  it('stock vs unikernel: the kernel saw vif-bridge for stock and vif-bridge-fast for the tuned profile', () => {
    const result = parseXenExperimentText(fixture('stock-vs-unikernel.xen-experiment.txt'), 'stock-vs-unikernel.xen-experiment.txt');
    expect(result.finished && !result.failed).toBe(true);
    const runs = ftraceRuns(parseFtrace(fixture('stock-vs-unikernel.dom0-ftrace.txt')));
    expect([...runs.keys()]).toEqual(['0/1', '0/2', '1/1', '1/2']);
    for (const [key, ft] of runs) {
      const created = ft.scripts.filter((s) => s.when === 'create');
      const teardown = ft.scripts.filter((s) => s.when === 'teardown');
      expect(created.map((s) => s.name)).toEqual([key.startsWith('0/') ? 'vif-bridge' : 'vif-bridge-fast']);
      expect(teardown.map((s) => s.name)).toEqual(created.map((s) => s.name));
      // The hotplug script ran inside xl create, the teardown one after the guest's marker.
      expect(created[0].endNs!).toBeLessThan(ft.createExitNs!);
      expect(teardown[0].startNs).toBeGreaterThan(created[0].endNs!);
      const run = result.runs.find((r) => `${r.profile}/${r.run}` === key)!;
      // ftrace and date agree on xl create's duration within a few forks' time.
      expect(Math.abs(ft.createExitNs! - run.createNs)).toBeLessThan(150e6);
    }
    // Xen's vif-bridge forks tools (~30 execs); the fast script only a few.
    expect(runs.get('0/1')!.scripts[0].execs).toBeGreaterThan(20);
    expect(runs.get('1/1')!.scripts[0].execs).toBeLessThan(6);
  });

  it('stock vs unikernel: the programs the scripts ran, each under its script or the program that forked it', () => {
    const result = parseXenExperimentText(fixture('stock-vs-unikernel.xen-experiment.txt'), 'stock-vs-unikernel.xen-experiment.txt');
    const runs = ftraceRuns(parseFtrace(fixture('stock-vs-unikernel.dom0-ftrace.txt')));
    for (const [key, ft] of runs) {
      expect(ft.xlPid).toBeGreaterThan(0);
      const create = ft.scripts.find((s) => s.when === 'create')!;
      const ran = ft.helpers.filter((h) => h.script === create.pid);
      // As many programs as the script's exec count, each within the script's life.
      expect(ran).toHaveLength(create.execs);
      const pids = new Set([create.pid, ...ran.map((h) => h.pid)]);
      for (const h of ran) {
        expect(pids.has(h.ppid!)).toBe(true);
        expect(h.startNs).toBeGreaterThanOrEqual(create.startNs);
        expect(h.endNs!).toBeLessThanOrEqual(create.endNs!);
      }
      const names = new Set(ran.map((h) => h.name));
      if (key.startsWith('0/')) for (const n of ['ip', 'logger', 'xenstore-read']) expect(names.has(n)).toBe(true);
      const trace = xenRunTrace(result.runs.find((r) => `${r.profile}/${r.run}` === key)!, ft, { profile: 'p', recorded: 'fixture', hypervisor: 'xen 4.17' });
      validateTrace(JSON.parse(JSON.stringify(trace)), key);
      expect(trace.spans.find((s) => s.name === 'xl create')!.args!.pid).toBe(ft.xlPid);
      expect(trace.spans.find((s) => s.lane === 'hotplug' && s.args!.when === 'create')!.args!.ppid).toBe(ft.xlPid);
      expect(trace.spans.filter((s) => s.lane === 'hotplug-programs')).toHaveLength(ft.helpers.length);
    }
  });

  it('domains 3: guest output seen between the devices and xl create returning; running_domains 0, 1, 2', () => {
    const result = parseXenExperimentText(fixture('domains-3.xen-experiment.txt'), 'domains-3.xen-experiment.txt');
    expect(result.profiles[0].listedDomains).toBe(3);
    const runs = ftraceRuns(parseFtrace(fixture('domains-3.dom0-ftrace.txt')));
    for (const r of result.runs) {
      const ft = runs.get(`${r.profile}/${r.run}`)!;
      expect(ft.guestOutputNs).toBeGreaterThan(ft.devicesDoneNs!);
      expect(ft.guestOutputNs).toBeLessThan(ft.createExitNs!);
      // Nobody went away until the end, when the experiment destroyed all three.
      expect(ft.scripts.filter((s) => s.when === 'teardown')).toHaveLength(r.run < 3 ? 0 : 3);
      const trace = xenRunTrace(r, ft, { profile: 'untuned', recorded: 'fixture', hypervisor: 'xen 4.17' });
      expect(phaseBreakdown(trace).map((p) => p.phase)).toEqual(['toolstack', 'devices', 'kernel']);
      expect(trace.spans.find((s) => s.name === 'xl create')!.args!.running_domains).toBe(r.run - 1);
    }
  });
});

// --guest PATH: the user's own kernel. User text reaches the script only shell-quoted
// (file names) or as a data file (the marker regex); these run the generated shell for real.
describe('renderXenExperiment for a --guest PATH', () => {
  const hostile = "/run/hvscope-lab/host/tmp/my guest's \"kernel\" $(touch PWNED) `id`.elf";
  const pathGuest: XenExperimentOptions = {
    kernel: hostile,
    ramdisk: '/run/hvscope-lab/host/tmp/ram disk $HOME.cpio',
    memoryMb: 32,
    extra: 'console=hvc0 loglevel=3',
    markerRegexFile: '/run/hvscope-lab/guest-marker.regex',
    markerTimeoutS: 90,
    destroyAfterReady: true,
    linkGuestFiles: true,
    profiles: [],
    runs: 2,
  };

  it('parses with sh -n; the xl config names the links, never the user\'s paths; the paths appear only shell-quoted', () => {
    const s = renderXenExperiment(pathGuest);
    shSyntaxOk(s);
    expect(s).toContain(`kernel = "${EXPERIMENT_WORK_DIR}/${GUEST_KERNEL_LINK}"`);
    expect(s).toContain(`ramdisk = "${EXPERIMENT_WORK_DIR}/${GUEST_RAMDISK_LINK}"`);
    expect(s).toContain('memory = 32');
    expect(s).toContain('extra = "console=hvc0 loglevel=3"');
    // Each user path occurs once, as the shell-quoted value of a variable (the one with a ' not even raw).
    expect(s).not.toContain(hostile);
    expect(s.split(pathGuest.ramdisk!)).toHaveLength(2);
    expect(s).toContain(`guest_kernel=${shellQuote(hostile)}\n`);
    expect(s).toContain(`guest_ramdisk=${shellQuote(pathGuest.ramdisk!)}\n`);
    expect(s).toContain('teardown=destroy');
    expect(s).toContain('ready_by=marker');
    expect(s).not.toMatch(/^marker=/m);
  });

  it('the link lines, run by a real sh, link exactly the hostile names and run nothing in them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-exp-links-'));
    try {
      const kernel = join(dir, "my guest's \"kernel\" $(touch PWNED) `touch PWNED2`.elf");
      const ramdisk = join(dir, 'ram disk $HOME; rm -rf x.cpio');
      writeFileSync(kernel, 'synthetic kernel');
      writeFileSync(ramdisk, 'synthetic ramdisk');
      mkdirSync(join(dir, 'work'));
      const script = `set -u\nwork=${shellQuote(join(dir, 'work'))}\nres=${shellQuote(join(dir, 'res'))}\n${renderGuestLinks(kernel, ramdisk)}echo linked\n`;
      const out = execFileSync('sh', ['-c', script], { cwd: dir, encoding: 'utf8' });
      expect(out).toBe('linked\n');
      expect(readlinkSync(join(dir, 'work', GUEST_KERNEL_LINK))).toBe(kernel);
      expect(readlinkSync(join(dir, 'work', GUEST_RAMDISK_LINK))).toBe(ramdisk);
      expect(existsSync(join(dir, 'PWNED'))).toBe(false);
      expect(existsSync(join(dir, 'PWNED2'))).toBe(false);
      // A file dom0 cannot read: one line saying which, a failed end record, exit 1.
      const missing = `set -u\nwork=${shellQuote(join(dir, 'work'))}\nres=${shellQuote(join(dir, 'res'))}\n${renderGuestLinks(join(dir, 'no such $(kernel)'))}echo not reached\n`;
      let status = 0;
      let said = '';
      try {
        execFileSync('sh', ['-c', missing], { cwd: dir, encoding: 'utf8' });
      } catch (err) {
        status = (err as { status: number }).status;
        said = String((err as { stdout: string }).stdout);
      }
      expect(status).toBe(1);
      expect(said).toBe(`dom0 cannot read the guest kernel ${join(dir, 'no such $(kernel)')}\n`);
      expect(readFileSync(join(dir, 'res'), 'utf8')).toBe('done fail=1\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the marker regex is read from its file by grep -E (console \\r stripped), never executed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-exp-marker-'));
    try {
      const regexFile = join(dir, 'guest-marker.regex');
      const log = join(dir, 'guest.log');
      const marker_in = (regex: string, console: string): number => {
        writeFileSync(regexFile, `${regex}\n`);
        writeFileSync(log, console);
        try {
          execFileSync('sh', ['-c', `${renderReadiness({ markerRegexFile: regexFile, destroyAfterReady: true })}\nmarker_in ${shellQuote(log)}`], { cwd: dir });
          return 0;
        } catch (err) {
          return (err as { status: number }).status;
        }
      };
      expect(marker_in('^tiny-pv: hello from .* guest$', 'booting\r\ntiny-pv: hello from a Xen PV guest\r\n')).toBe(0);
      expect(marker_in('^tiny-pv: hello from .* guest$', 'booting\r\n')).toBe(1);
      // The console log of a real lab run (fixtures/xen-lab-tiny-pv): xenconsoled keeps the guest's \r\n.
      const recorded = readFileSync(join(import.meta.dirname, '../../../fixtures/xen-lab-tiny-pv/guest-console.log'), 'utf8');
      expect(recorded).toContain('guest\r\n');
      expect(marker_in('^tiny-pv: hello from a Xen PV guest$', recorded)).toBe(0);
      expect(marker_in("$(touch PWNED)|'; touch PWNED2 #", 'nothing\n')).toBe(1);
      expect(existsSync(join(dir, 'PWNED'))).toBe(false);
      expect(existsSync(join(dir, 'PWNED2'))).toBe(false);
      // No console log yet (the guest has not written): not ready, and no error.
      rmSync(log);
      expect(execFileSync('sh', ['-c', `${renderReadiness({ markerRegexFile: regexFile })}\nmarker_in ${shellQuote(log)} || echo no`], { encoding: 'utf8' })).toBe('no\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a marker: ready = the domain exists after xl create; the warm-up guest is destroyed at once', () => {
    const s = renderXenExperiment({ ...pathGuest, markerRegexFile: undefined, noMarker: true });
    shSyntaxOk(s);
    expect(s).toContain('ready_by=running');
    expect(s).not.toContain('marker_file=');
    expect(s).toContain('[ "$teardown" = destroy ] && xl destroy tpv-warmup');
    expect(() => renderXenExperiment({ ...pathGuest, noMarker: true })).toThrow(/noMarker excludes/);
    expect(() => renderXenExperiment({ ...pathGuest, markerRegexFile: undefined, domains: 2 })).toThrow(/only the tiny-pv guest can stay up/);
  });

  it('built-in guests keep their fixed-string marker and wait for the guest to power off', () => {
    const s = renderXenExperiment(twoProfiles);
    expect(s).toContain('teardown=wait');
    expect(s).toContain("marker='tiny-pv: hello from a Xen PV guest'");
    expect(s).toContain('kernel = "/cache/tiny-pv.elf"');
    expect(s).not.toContain('guest_kernel=');
  });

  it('reads ready_ns and destroyed; a no-marker trace has no kernel phase, only the running instant', () => {
    const r = parseXenExperimentText(
      'profile p=0 dir=untuned\nrun p=0 r=1 domain=tpv-p0-r1 running=0 create_exit=0 create_ns=4000000000 marker_ns=-1 gone_ns=4500000000 ready_ns=4100000000 destroyed=1\ndone fail=0',
      'synthetic.txt',
    );
    expect(r.runs[0]).toEqual({ profile: 0, run: 1, domain: 'tpv-p0-r1', runningDomains: 0, createExit: 0, createNs: 4e9, goneNs: 4.5e9, readyNs: 4.1e9, destroyed: true });
    const trace = xenRunTrace(r.runs[0], undefined, { profile: 'untuned', recorded: 'synthetic', hypervisor: 'xen 4.17 (PV dom0, nested in QEMU KVM)', kernelMeasured: false });
    validateTrace(JSON.parse(JSON.stringify(trace)), 'synthetic');
    expect(phaseBreakdown(trace).map((p) => [p.phase, p.duration])).toEqual([['toolstack', 4e9]]);
    expect(trace.instants.map((i) => i.name)).toEqual(['domain running after xl create (no marker)', 'domain gone (destroyed by the lab)']);
    expect(trace.meta.hypervisor).toContain('KVM');
  });
});
