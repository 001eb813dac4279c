// The Xen probe set on a real `xl create`, in the Xen lab (Debian's Xen 4.17,
// PV dom0 under QEMU TCG, the host's toolstack, bpftrace and node over 9p):
// inside dom0 the test runs exactly what a user runs in a real dom0,
//   hvscope trace --probes xen,exec,net -o xl-create.hvtrace.json -- xl create tiny-pv.cfg
// and checks the trace on the host: toolstack then devices, libxl and XenStore
// events, the vif-bridge hotplug script with its children. The same lab cycle
// records probes/xen.bt alone (raw bpftrace NDJSON, imported on the host) and a
// stamped `xl -vvv create` (imported with the xl-log importer).
// One lab cycle; the lab is CPU heavy: run one at a time.
import { hvscopeBin } from '../helpers/cli.js';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { TINY_PV_MARKER, buildTinyPvGuest } from '../../src/lab/tiny-pv-guest.js';
import { runInXenLab } from '../../src/lab/xen/run.js';
import { TRACED_CREATE_FILES, parseTracedCreateResult, renderTracedCreateExperiment } from '../../src/lab/xen/traced-create.js';
import { readTrace } from '../../src/model/io.js';
import { PHASE_LANE_ID, type Trace } from '../../src/model/trace.js';
import { importBpftrace } from '../../src/sources/bpftrace/index.js';
import { importXlLog } from '../../src/sources/xl-log.js';

const missing =
  requireOrSkip(isRoot, 'root') ||
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(hasCommand('apt-get'), 'apt-get (Debian)') ||
  requireOrSkip(existsSync('/usr/lib/xen-4.17/bin/xl'), 'xen-utils-4.17 (apt-get install xen-utils-4.17)') ||
  requireOrSkip(hasCommand('bpftrace'), 'bpftrace') ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld');

const repo = resolve(import.meta.dirname, '../..');
// dom0 runs the host's built CLI (bin/hvscope → dist/, built by the global setup) with the host's node.
const traceEntry = hvscopeBin;

let scratch: string;
let outDir: string;
let labExit: number;
let experimentLog = '';

beforeAll(async () => {
  if (missing) return;
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-xen-probes-e2e-'));
  outDir = join(scratch, 'lab');
  const guest = await buildTinyPvGuest();
  const result = await runInXenLab({
    script: renderTracedCreateExperiment({
      kernel: guest.kernel,
      hvscope: [process.execPath, traceEntry],
      probesDir: join(repo, 'probes'),
      raw: true,
      xlLog: true,
    }),
    outDir,
    timeoutMs: 540_000,
  });
  labExit = result.exitCode;
  experimentLog = await readFile(result.experimentLog, 'utf8').catch(() => 'no experiment log');
}, 600_000);

afterAll(async () => {
  if (!scratch) return;
  // HVSCOPE_E2E_KEEP=1 keeps the lab's results (e.g. to refresh fixtures/xen-lab-tiny-pv).
  if (process.env.HVSCOPE_E2E_KEEP === '1') console.warn(`kept ${scratch}`);
  else await rm(scratch, { recursive: true, force: true });
});

const phasesOf = (trace: Trace) => trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
const spanNamed = (trace: Trace, name: string) => trace.spans.filter((s) => s.name === name);

describe.skipIf(missing)('xen probes in the Xen lab', () => {
  it('every creation in the lab worked', async () => {
    const results = await parseTracedCreateResult(outDir);
    expect(Object.fromEntries(results), experimentLog).toEqual({
      raw_xl_create_exit: 0,
      raw_bpftrace_exit: 0,
      trace_exit: 0,
      traced_gone: 0,
      xl_vvv_exit: 0,
    });
    expect(labExit).toBe(0);
  });

  it('hvscope trace -- xl create: toolstack then devices, libxl and XenStore events, vif-bridge and its children', async () => {
    const trace = readTrace(join(outDir, TRACED_CREATE_FILES.trace));
    expect(trace.meta.hypervisor).toMatch(/^xen/);
    expect(trace.meta.command?.slice(0, 2)).toEqual(['xl', 'create']);
    const phases = phasesOf(trace);
    const names = phases.map((p) => p.name);
    expect(names.indexOf('toolstack')).toBe(0);
    expect(names.indexOf('devices')).toBeGreaterThan(0);
    const toolstack = phases.find((p) => p.name === 'toolstack')!;
    const devices = phases.find((p) => p.name === 'devices')!;
    expect(toolstack.end).toBeLessThanOrEqual(devices.start);
    expect(devices.end).toBeGreaterThan(devices.start);
    // after the devices, the unpause: the guest runs and prints its marker (xenconsoled's write)
    const kernel = phases.find((p) => p.name === 'kernel')!;
    expect(kernel.start).toBe(devices.end);
    expect(kernel.start).toBe(spanNamed(trace, 'libxl_domain_unpause')[0].start);
    const marker = trace.markers.find((m) => m.boundary === 'ready');
    expect(marker?.detail).toBe(TINY_PV_MARKER);
    expect(kernel.end).toBe(marker?.at);
    expect(spanNamed(trace, 'config parse (xl)')[0].end).toBe(spanNamed(trace, 'libxl_domain_create_new')[0].start);
    // libxl: the create request spans the build and the device work
    const create = spanNamed(trace, 'libxl_domain_create_new');
    expect(create).toHaveLength(1);
    expect(create[0].args?.ret).toBe(0);
    for (const step of ['xc_domain_create', 'xc_dom_boot_image']) {
      const s = spanNamed(trace, step);
      expect(s.length, step).toBeGreaterThan(0);
      expect(s[0].start).toBeGreaterThanOrEqual(create[0].start);
      expect(s[0].end).toBeLessThanOrEqual(create[0].end);
      expect(s[0].phase).toBe('toolstack');
    }
    // XenStore: many requests, writes and transactions among them, counted per phase
    const xs = trace.spans.filter((s) => s.name.startsWith('xs_'));
    expect(xs.length).toBeGreaterThan(20);
    expect(xs.some((s) => s.name === 'xs_write' && String(s.args?.path).startsWith('/local/domain/'))).toBe(true);
    expect(xs.some((s) => s.name === 'xs_transaction_end')).toBe(true);
    const counts = trace.counters.filter((c) => c.name === 'xenstore requests');
    expect(counts.length).toBeGreaterThan(0);
    expect(counts.at(-1)!.value).toBe(xs.length);
    expect(xs.filter((s) => s.phase === 'devices').length).toBeGreaterThan(0);
    // the vif-bridge hotplug script, in the devices phase, with its children
    const vifBridge = trace.spans.filter((s) => s.name === 'vif-bridge');
    expect(vifBridge.length).toBeGreaterThan(0);
    expect(vifBridge[0].phase).toBe('devices');
    expect(vifBridge[0].start).toBeGreaterThanOrEqual(devices.start);
    const children = trace.spans.filter((s) => s.args?.ppid === vifBridge[0].args?.pid || (typeof s.args?.ppid === 'number' && trace.spans.some((p) => p.args?.pid === s.args?.ppid && p.name === 'vif-bridge')));
    const childNames = new Set(children.map((s) => s.name));
    expect([...childNames].some((n) => ['ip', 'brctl', 'iptables', 'xenstore-write', 'xenstore-read'].includes(n))).toBe(true);
  });

  it('probes/xen.bt alone: its raw bpftrace output imports on the host with the same shape', async () => {
    const raw = await readFile(join(outDir, TRACED_CREATE_FILES.rawBpftrace), 'utf8');
    const trace = importBpftrace(raw, TRACED_CREATE_FILES.rawBpftrace);
    expect(phasesOf(trace).map((p) => p.name).slice(0, 2)).toEqual(['toolstack', 'devices']);
    expect(spanNamed(trace, 'libxl_domain_create_new')).toHaveLength(1);
    expect(trace.spans.filter((s) => s.name.startsWith('xs_')).length).toBeGreaterThan(20);
  });

  it('xl -vvv create, stamped: the xl-log importer finds config parse, domain create, build, devices and hotplug', async () => {
    const file = join(outDir, TRACED_CREATE_FILES.xlLog);
    const trace = importXlLog(await readFile(file, 'utf8'), file);
    const names = phasesOf(trace).map((p) => p.name);
    expect(names.slice(0, 2)).toEqual(['toolstack', 'devices']);
    expect(trace.instants.some((i) => /Parsing config from/.test(i.name))).toBe(true);
    expect(trace.spans.some((s) => /vif-bridge/.test(s.name) && s.phase === 'devices')).toBe(true);
  });
});
