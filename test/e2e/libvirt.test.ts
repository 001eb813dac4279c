// libvirt end to end: a real libvirtd (started and stopped here, or by
// hvscope), real `virsh create`s of the tiny guest traced by bpftrace.
//  - `hvscope trace --probes libvirt,qemu,exec --libvirtd PID -- virsh create`
//    against the test's own daemon: the orchestrate phase and the driver steps
//    in order, and the QMP count equal to QEMU's own count of the commands it
//    handled (its trace log, `-trace monitor_qmp_cmd_in_band`, added to the
//    domain's command line: a second, independent witness of the traffic);
//  - `hvscope boot --via libvirt --runs 2`: phases from the API call to the
//    guest's last line, and nothing left running afterwards;
//  - a failure in the middle (a kernel QEMU cannot load) and Ctrl-C: one
//    clear line, non-zero exit, nothing left running;
//  - bad input: a broken domain XML, a libvirtd pid that is none — one line,
//    non-zero exit, nothing created.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrace } from '../../src/model/io.js';
import { PHASE_LANE_ID, type Trace } from '../../src/model/trace.js';
import { buildTinyGuest, defaultTinyCacheDir } from '../../src/lab/tiny-guest.js';
import { domainXml } from '../../src/vim/domain-xml.js';
import { startPrivateLibvirtd, virsh, type PrivateLibvirtd } from '../../src/vim/libvirtd.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { entry, hvscope, processesMatching, scratchDir, waitFor } from './trace-cli.js';

const work = scratchDir('hvscope-libvirt-e2e-');
chmodSync(work, 0o755); // QEMU runs as libvirt's qemu user and reads the kernel from here
afterAll(() => rmSync(work, { recursive: true, force: true }));

const missing = requireOrSkip(
  isRoot && hasCommand('bpftrace') && hasCommand('qemu-system-x86_64') && hasCommand('gcc') && hasCommand('virsh') && existsSync('/usr/sbin/libvirtd') && existsSync('/usr/sbin/virtlogd'),
  'root, bpftrace, QEMU, gcc and libvirt (libvirt-daemon-system, libvirt-clients)',
);

const phaseNames = (t: Trace) => t.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => s.name);
/** Everything of ours that could be left: private daemons, guests, bpftrace with the libvirt set. */
const leftovers = () => [...processesMatching('hvscope-libvirt-'), ...processesMatching('guest=hvscope-'), ...processesMatching('probe set: libvirt')];

function driverStepsInOrder(t: Trace): void {
  const daemon = t.spans.filter((s) => s.args?.side === 'libvirtd');
  const create = daemon.find((s) => s.name === 'virDomainCreateXML');
  expect(create, 'virDomainCreateXML in libvirtd').toBeDefined();
  const steps = ['qemuProcessStart', 'qemuProcessInit', 'qemuProcessPrepareDomain', 'qemuProcessPrepareHost', 'qemuProcessLaunch', 'qemuProcessStartCPUs'].map((n) => daemon.find((s) => s.name === n));
  steps.forEach((s, i) => expect(s, ['qemuProcessStart', 'Init', 'PrepareDomain', 'PrepareHost', 'Launch', 'StartCPUs'][i]).toBeDefined());
  for (let i = 2; i < steps.length; i++) expect(steps[i]!.start).toBeGreaterThanOrEqual(steps[i - 1]!.start);
  const orchestrate = t.spans.find((s) => s.lane === PHASE_LANE_ID && s.name === 'orchestrate')!;
  expect(orchestrate.start).toBe(create!.start);
  // the steps before QEMU's exec are orchestrate's
  for (const s of steps.slice(1, 4)) expect(s!.phase, s!.name).toBe('orchestrate');
}

describe.skipIf(missing)('libvirt: traced virsh create of tiny', () => {
  let daemon: PrivateLibvirtd | undefined;
  let kernel = '';
  beforeAll(async () => {
    const build = await buildTinyGuest(defaultTinyCacheDir());
    kernel = join(work, 'tiny.elf');
    copyFileSync(build.kernel, kernel);
    daemon = await startPrivateLibvirtd();
  }, 90_000);
  afterAll(async () => {
    await daemon?.stop();
    expect(leftovers()).toEqual([]);
  }, 60_000);

  it('hvscope trace against a running libvirtd: orchestrate and its steps in order, QMP count = QEMU\'s own count', async () => {
    const qmpLog = join(work, 'qmp-log');
    mkdirSync(qmpLog, { mode: 0o777 });
    chmodSync(qmpLog, 0o777);
    const log = join(qmpLog, 'qemu-trace.log');
    const guest = { kind: 'tiny', name: 'tiny', kernel, defaultMachine: 'pc', okExitCodes: [33], memoryMiB: 32, description: 'tiny' } as const;
    const xml = domainXml(guest, { name: 'hvscope-e2e-trace', kernel }).replace(
      '  </qemu:commandline>',
      `    <qemu:arg value='-trace'/>\n    <qemu:arg value='monitor_qmp_cmd_in_band'/>\n    <qemu:arg value='-D'/>\n    <qemu:arg value='${log}'/>\n  </qemu:commandline>`,
    );
    const xmlFile = join(work, 'trace.xml');
    writeFileSync(xmlFile, xml);
    const out = join(work, 'trace.hvtrace.json');
    const r = await hvscope(['trace', '--probes', 'libvirt,qemu,exec', '--libvirtd', String(daemon!.libvirtdPid), '-o', out, '--', 'virsh', '-c', daemon!.uri, 'create', xmlFile], { timeoutMs: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const t = readTrace(out);
    expect(phaseNames(t).slice(0, 2)).toEqual(['orchestrate', 'toolstack']);
    driverStepsInOrder(t);
    // QEMU logs each command it handles; wait until the guest is gone so the log is complete
    expect(await waitFor(() => processesMatching('guest=hvscope-e2e-trace').length === 0, 60_000)).toBe(true);
    const handled = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('monitor_qmp_cmd_in_band')).length;
    const traffic = t.spans.find((s) => s.name === 'QMP traffic')!;
    expect(handled).toBeGreaterThan(10);
    expect(traffic.args!.commands).toBe(handled);
    expect(traffic.args!['count qom-get']).toBe(t.spans.filter((s) => s.name === 'qom-get').length);
  }, 150_000);

  it('bad input: a broken domain XML (one line from virsh, non-zero, nothing created) and a libvirtd pid that is none', async () => {
    const bad = join(work, 'broken.xml');
    writeFileSync(bad, "<domain type='qemu'>\n  <name>hvscope-e2e-broken</name>\n  <memory>32\n</domain>\n");
    const r = await hvscope(['trace', '--probes', 'libvirt,exec', '--libvirtd', String(daemon!.libvirtdPid), '-o', join(work, 'bad.hvtrace.json'), '--', 'virsh', '-c', daemon!.uri, 'create', bad], { timeoutMs: 120_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/broken\.xml/);
    expect(r.stderr).toMatch(/virsh exited with status \d+/);
    expect((await virsh(daemon!.uri, ['list', '--all', '--name'])).stdout.trim()).toBe('');
    const notLibvirtd = await hvscope(['trace', '--probes', 'libvirt,exec', '--libvirtd', String(process.pid), '--', 'true']);
    expect(notLibvirtd.exitCode).not.toBe(0);
    expect(notLibvirtd.stderr.trim().split('\n')).toHaveLength(1);
    expect(notLibvirtd.stderr).toMatch(/--libvirtd \d+: that process is \S+, not libvirtd/);
    const none = await hvscope(['trace', '--probes', 'libvirt,exec', '--libvirtd', '999999999', '--', 'true']);
    expect(none.exitCode).not.toBe(0);
    expect(none.stderr).toMatch(/--libvirtd 999999999: no such process/);
  }, 150_000);
});

describe.skipIf(missing)('hvscope boot --via libvirt', () => {
  it('creates tiny twice through its own libvirtd: orchestrate → toolstack → firmware → kernel → user, then stops everything', async () => {
    const out = join(work, 'boot');
    const r = await hvscope(['boot', '--via', 'libvirt', '--runs', '2', '-o', out, '--json'], { timeoutMs: 200_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.traces).toHaveLength(2);
    for (const file of json.traces as string[]) {
      const t = readTrace(file);
      expect(phaseNames(t)).toEqual(['orchestrate', 'toolstack', 'firmware', 'kernel', 'user']);
      driverStepsInOrder(t);
      expect(t.instants.some((i) => /tiny: done/.test(i.name))).toBe(true);
    }
    expect(readFileSync(join(out, 'domain.xml'), 'utf8')).toMatch(/<memballoon model='none'\/>/);
    expect(existsSync(join(out, 'timeline.svg'))).toBe(true);
    expect(leftovers()).toEqual([]);
  }, 220_000);

  it('--profile libvirt-unikernel: the domain XML reduced, its bridge made in the daemon\'s own network namespace, qemu.conf without mount namespaces', async () => {
    const out = join(work, 'boot-unikernel');
    const hostHadBr0 = existsSync('/sys/class/net/br0');
    const r = await hvscope(['boot', '--via', 'libvirt', '--profile', 'libvirt-unikernel', '-o', out, '--json'], { timeoutMs: 150_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const xml = readFileSync(join(out, 'domain.xml'), 'utf8');
    expect(xml).toContain("<source bridge='br0'/>");
    expect(xml).toMatch(/<controller type='usb' model='none'\/>/);
    expect(readFileSync(join(out, 'qemu.conf'), 'utf8')).toMatch(/^namespaces *= *\[ \]/m);
    const t = readTrace(JSON.parse(r.stdout).traces[0]);
    expect(t.meta.profile).toBe('libvirt-unikernel');
    expect(phaseNames(t)).toEqual(['orchestrate', 'toolstack', 'firmware', 'kernel', 'user']);
    // The daemon read our qemu.conf: with namespaces = [] the driver's namespace step returns at once
    // (libvirt 9.0 qemuDomainUnshareNamespace: nothing to do unless the mount namespace is enabled),
    // where the stock runs above build a /dev for QEMU.
    const unshare = (trace: Trace) => trace.spans.filter((s) => s.name === 'qemuDomainUnshareNamespace').map((s) => s.end - s.start);
    const tuned = unshare(t);
    const stock = readdirSync(join(work, 'boot')).filter((f) => f.endsWith('.hvtrace.json')).flatMap((f) => unshare(readTrace(join(work, 'boot', f))));
    expect(tuned).toHaveLength(1);
    expect(stock.length).toBeGreaterThan(0);
    expect(tuned[0]!, `tuned ${tuned[0]} ns, stock ${stock.join(', ')} ns`).toBeLessThan(Math.min(...stock) / 3);
    if (!hostHadBr0) expect(existsSync('/sys/class/net/br0'), 'br0 lived in the daemon\'s namespace only').toBe(false);
    expect(leftovers()).toEqual([]);
  }, 160_000);

  it('a failure in the middle (a kernel QEMU cannot load): one line, non-zero, daemons stopped', async () => {
    const notKernel = join(work, 'not-a-kernel');
    writeFileSync(notKernel, 'this is not a kernel\n');
    const r = await hvscope(['boot', '--via', 'libvirt', '--guest', notKernel, '-o', join(work, 'fail')], { timeoutMs: 150_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/run-1: virsh create failed \(status \d+\)/);
    expect(leftovers()).toEqual([]);
  }, 160_000);

  it('Ctrl-C during the second run: exit 130, the first run kept, nothing left running', async () => {
    const out = join(work, 'interrupt');
    const child = spawn(entry, ['boot', '--via', 'libvirt', '--runs', '3', '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(await waitFor(() => /run-2: \d+ probes attached/.test(stderr), 150_000), stderr).toBe(true);
    child.kill('SIGINT');
    expect(await closed, stderr).toBe(130);
    expect(existsSync(join(out, 'run-1.hvtrace.json'))).toBe(true);
    expect(leftovers()).toEqual([]);
  }, 200_000);
});
