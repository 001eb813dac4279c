// The probe sets with real bpftrace on real workloads: each test starts the
// workload held (blocked on stdin, so its pid is the root pid $1), starts
// bpftrace with the assembled program, releases the workload once the probes
// are attached, and imports what bpftrace printed.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyGuest, TINY_EXIT_OK_STATUS, TINY_SERIAL_LINES, tinyQemuArgs } from '../../src/lab/tiny-guest.js';
import { PHASE_LANE_ID, type Trace } from '../../src/model/trace.js';
import { buildBpftraceTrace, probeEventsFromPrintf, type ProbeEvent } from '../../src/sources/bpftrace/index.js';
import { startBpftrace, type BpftraceSession } from '../../src/tracer/bpftrace-run.js';
import { assembleProgram, tracepointExists } from '../../src/tracer/probes.js';
import { ensureTracefs } from '../../src/tracer/tracefs.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';

const noBpftrace = requireOrSkip(isRoot && hasCommand('bpftrace'), 'root and bpftrace');

interface TracedRun {
  trace: Trace;
  events: ProbeEvent[];
  exitCode: number | undefined;
  rootPid: number;
  /** What the workload wrote to its stdout. */
  stdout: string;
}

/** Runs `command` held until the probes of `sets` are attached; never through a shell string. */
async function traceHeld(
  sets: string[],
  command: string[],
  opts: { consoleFd?: number; timeoutMs?: number; onAttached?: () => void } = {},
): Promise<TracedRun> {
  const held = execa('sh', ['-c', 'read _ ; exec "$@"', 'hvscope-held', ...command], {
    stdin: 'pipe',
    reject: false,
    timeout: opts.timeoutMs ?? 60_000,
  });
  let session: BpftraceSession | undefined;
  try {
    const rootPid = held.pid!;
    const { program, params } = assembleProgram(sets, { rootPid, consoleFd: opts.consoleFd, hasTracepoint: tracepointExists });
    const events: ProbeEvent[] = [];
    let messages = 0;
    let attachedProbes: number | undefined;
    session = await startBpftrace({
      program,
      params,
      readyPrintf: 'hv_begin',
      env: { BPFTRACE_PERF_RB_PAGES: '1024' },
      onMessage: (msg) => {
        messages++;
        if (msg.type === 'attached_probes') attachedProbes = msg.probes;
        if (msg.type === 'printf') events.push(...probeEventsFromPrintf(msg.text, 'live', messages));
      },
    });
    opts.onAttached?.();
    held.stdin!.end('\n');
    const result = await held;
    // bpftrace does not drain its buffers on SIGINT: stop once the root's exit has been read.
    for (let waited = 0; waited < 3_000 && !events.some((e) => e.event === 'hv_exit'); waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stopped = await session.stop();
    const trace = buildBpftraceTrace({ events, attachedProbes, lostEvents: stopped.lostEvents }, 'live');
    return { trace, events, exitCode: result.exitCode, rootPid, stdout: String(result.stdout) };
  } finally {
    if (held.exitCode === undefined || held.exitCode === null) held.kill('SIGKILL');
    if (session && !session.done) await session.stop();
  }
}

const phasesOf = (trace: Trace) => trace.spans.filter((s) => s.lane === PHASE_LANE_ID);

describe.skipIf(noBpftrace)('probe sets on real workloads', () => {
  let dir: string;
  beforeAll(async () => {
    await ensureTracefs();
    dir = await mkdtemp(join(tmpdir(), 'hvscope-probes-e2e-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exec: sees every child of a script, their argv and exit codes, nothing outside the tree, and the exit code', async () => {
    const script = join(dir, 'hotplug-like.sh');
    await writeFile(
      script,
      ['#!/bin/sh', 'uname -r > /dev/null', "sh -c 'exit 3' || true", '( sleep 0.3 ) &', 'wait', 'exit 7', ''].join('\n'),
      { mode: 0o755 },
    );
    // A process outside the workload's tree, started while the probes are attached.
    let outsider: ReturnType<typeof execa> | undefined;
    try {
      const { trace, events, exitCode, rootPid } = await traceHeld(['exec'], [script], {
        onAttached: () => {
          outsider = execa('sleep', ['0.1'], { reject: false });
        },
      });
      expect(exitCode).toBe(7);
      expect(events.find((e) => e.event === 'hv_exit')).toMatchObject({ pid: rootPid, fields: { status: String(7 << 8) } });
      const spans = trace.spans;
      const root = spans.find((s) => s.args?.pid === rootPid && s.name === 'hotplug-like.sh');
      expect(root?.args).toMatchObject({ argv: `/bin/sh ${script}`, exitCode: 7 });
      expect(spans.find((s) => s.name === 'uname')?.args).toMatchObject({ argv: 'uname -r', exitCode: 0, ppid: rootPid });
      expect(spans.find((s) => s.name === 'sh')?.args).toMatchObject({ argv: 'sh -c exit 3', exitCode: 3 });
      const sleep = spans.filter((s) => s.name === 'sleep');
      expect(sleep.map((s) => s.args?.argv)).toEqual(['sleep 0.3']);
      expect(sleep[0].end - sleep[0].start).toBeGreaterThanOrEqual(250_000_000);
      expect(outsider?.pid).toBeGreaterThan(0);
      expect(trace.lanes.some((l) => l.pid === outsider!.pid)).toBe(false);
    } finally {
      outsider?.kill();
      await outsider;
    }
  });

  const noNetns = requireOrSkip(hasCommand('ip'), 'iproute2 (ip)');
  it.skipIf(noNetns)('net: sees tap creation and bridge attach (netlink, and SIOCBRADDIF with brctl) in a temporary netns', async () => {
    const netns = `hvscope-e2e-${process.pid}`;
    await execa('ip', ['netns', 'add', netns]);
    try {
      const steps = [
        'ip tuntap add dev hvtap0 mode tap',
        'ip link add hvbr0 type bridge',
        'ip link set hvtap0 master hvbr0',
        ...(hasCommand('brctl') ? ['ip tuntap add dev hvtap1 mode tap', 'brctl addif hvbr0 hvtap1'] : []),
      ];
      const script = join(dir, 'net-plumbing.sh');
      await writeFile(script, ['#!/bin/sh', 'set -e', ...steps, ''].join('\n'), { mode: 0o755 });
      const { trace, exitCode } = await traceHeld(['net'], ['ip', 'netns', 'exec', netns, script]);
      expect(exitCode).toBe(0);
      const names = trace.instants.map((i) => i.name);
      expect(names).toContain('TUNSETIFF hvtap0');
      const attach = trace.instants.find((i) => i.args?.via === 'RTM_NEWLINK' && typeof i.args.masterIfindex === 'number');
      expect(attach?.phase).toBe('devices');
      const ipSet = trace.spans.find((s) => s.args?.argv === 'ip link set hvtap0 master hvbr0');
      expect(ipSet && attach!.at >= ipSet.start && attach!.at <= ipSet.end).toBe(true);
      if (hasCommand('brctl')) expect(names).toContain('bridge attach → hvbr0');
    } finally {
      await execa('ip', ['netns', 'del', netns], { reject: false });
    }
    const { stdout } = await execa('ip', ['netns', 'list']);
    expect(stdout).not.toContain(netns);
  });

  const noQemu = requireOrSkip(hasCommand('qemu-system-x86_64') && hasCommand('gcc'), 'qemu-system-x86_64 and gcc');
  it.skipIf(noQemu)('qemu (+net, exec combined): a real TCG boot of tiny shows QEMU exec, console lines, phases in order and exit', async () => {
    const guest = await buildTinyGuest(join(dir, 'tiny-cache'));
    const command = [
      'qemu-system-x86_64', '-M', 'microvm', '-accel', 'tcg', '-m', '32', '-nodefaults', '-no-user-config',
      '-nographic', '-no-reboot', '-kernel', guest.kernel, ...tinyQemuArgs('microvm'),
    ];
    const { trace, exitCode, events, rootPid } = await traceHeld(['qemu', 'net', 'exec'], command, { timeoutMs: 90_000 });
    expect(exitCode).toBe(TINY_EXIT_OK_STATUS);
    expect(trace.meta.lostEvents).toBe(0);
    expect(trace.meta.recorded).toMatch(/\d+ probes attached/);
    // With the exec set in ($3 = 1), qemu and net leave QEMU's exec and exit to
    // it: each is printed once, not once per set (every printf slows QEMU).
    expect(events.filter((e) => e.event === 'exec').map((e) => e.pid)).toEqual([rootPid]);
    expect(events.filter((e) => e.event === 'exit').map((e) => e.pid)).toEqual([rootPid]);
    // QEMU starts threads (call_rcu, the vCPU) but forks no process: threads are not fork events.
    expect(events.filter((e) => e.event === 'fork')).toEqual([]);
    const qemu = trace.spans.filter((s) => s.name === 'qemu-system-x86_64');
    expect(qemu).toHaveLength(1);
    expect(qemu[0].start).toBe(0);
    expect(qemu[0].args?.exitCode).toBe(TINY_EXIT_OK_STATUS);
    const lines = trace.instants.filter((i) => i.args?.console === true).map((i) => i.name);
    for (const line of Object.values(TINY_SERIAL_LINES)) expect(lines).toContain(line);
    const phases = phasesOf(trace);
    // PVH entry on microvm: no firmware output and no KVM_RUN under TCG, so the firmware
    // phase is unresolved (its start, bounded by the first output, is the kernel's start)
    expect(phases.map((p) => p.name)).toEqual(['toolstack', 'kernel', 'user']);
    expect(trace.unresolvedPhases.map((u) => u.phase)).toEqual(['firmware']);
    for (let i = 1; i < phases.length; i++) expect(phases[i].start).toBe(phases[i - 1].end);
    const entry = trace.instants.find((i) => i.name === TINY_SERIAL_LINES.entry)!;
    const appStart = trace.instants.find((i) => i.name === TINY_SERIAL_LINES.appStart)!;
    const done = trace.instants.find((i) => i.name === TINY_SERIAL_LINES.done)!;
    expect(phases[1].start).toBe(entry.at);
    expect(phases[2].start).toBe(appStart.at);
    // tiny's last line is its ready marker; QEMU's exit comes after it
    expect(phases[2].end).toBe(done.at);
    expect(done.at).toBeLessThanOrEqual(qemu[0].end);
  });

  const noGcc = requireOrSkip(hasCommand('gcc'), 'gcc');
  it.skipIf(noGcc)('qemu: one-byte console writev()s are packed in BPF into one event per line, lines and their first-byte times intact, a mid-line pause cuts a segment', async () => {
    // Named like QEMU: the qemu set recognises QEMU by its process name.
    const writer = join(dir, 'qemu-system-console-writer');
    await execa('gcc', ['-O2', '-Wall', '-o', writer, new URL('./console-writer.c', import.meta.url).pathname]);
    const { trace, events, exitCode, stdout } = await traceHeld(['qemu'], [writer]);
    expect(exitCode).toBe(0);
    expect(trace.meta.lostEvents).toBe(0);
    // The lines rebuilt from the trace are exactly what the program wrote, the last one without its newline too.
    const written = stdout.split('\n').map((l) => l.replace(/\r$/, '').trim()).filter(Boolean);
    expect(written).toHaveLength(6);
    const lines = trace.instants.filter((i) => i.args?.console === true);
    // A pause of more than CONSOLE_PAUSE_NS (50 ms) mid-line starts a new segment timed at its own first
    // byte (issue 10: a guest's line must not inherit the time of bytes printed long before it).
    expect(lines.map((l) => l.name)).toEqual(written.flatMap((l) => (l === 'delayed line' ? ['d', 'elayed line'] : [l])));
    // About one event per line (the 150-byte line takes three chunks), not one per byte.
    const packed = events.filter((e) => e.event === 'console_packed');
    const bytesWritten = Buffer.byteLength(stdout);
    expect(packed.length).toBeGreaterThanOrEqual(written.length);
    expect(packed.length).toBeLessThanOrEqual(written.length + 4);
    expect(packed.length).toBeLessThan(bytesWritten / 10);
    // The longer writev is printed as it is, and so is each write(2).
    expect(events.filter((e) => e.event === 'console').map((e) => e.fields.text).join('')).toBe('one writev of 24 bytes, then write\\x0a');
    // Each segment is timed at its first byte: "d" came 100 ms before "elayed line".
    const delayed = lines.find((l) => l.name === 'd')!;
    const rest = lines[lines.indexOf(delayed) + 1];
    expect(rest.name).toBe('elayed line');
    expect(rest.at - delayed.at).toBeGreaterThanOrEqual(100_000_000);
    // The line before it ended before the pause, so its time is earlier than "d"'s.
    expect(delayed.at).toBeGreaterThan(lines[lines.indexOf(delayed) - 1].at);
  });

  // KVM is the one exception to "missing in CI fails": no machine here runs KVM guests, so no /dev/kvm skips everywhere.
  const noKvm = existsSync('/dev/kvm') ? requireOrSkip(hasCommand('gcc'), 'gcc') : 'no /dev/kvm on this host';
  it.skipIf(noKvm)('qemu: sees KVM_CREATE_VM, KVM_CREATE_VCPU and the first KVM_RUN of the KVM ioctl provoker', async () => {
    // Named like QEMU: the qemu set recognises QEMU by its process name.
    const provoker = join(dir, 'qemu-system-kvm-provoker');
    await execa('gcc', ['-O2', '-Wall', '-o', provoker, new URL('./kvm-ioctl-provoker.c', import.meta.url).pathname]);
    const { trace, exitCode, events } = await traceHeld(['qemu'], [provoker]);
    expect([0, 2]).toContain(exitCode); // 2: KVM_RUN failed on this host, but was issued
    const vm = trace.spans.find((s) => s.name === 'KVM_CREATE_VM');
    const vcpu = trace.spans.find((s) => s.name === 'KVM_CREATE_VCPU');
    expect(vm?.args?.ret).toBeGreaterThan(0);
    expect(vcpu?.args).toMatchObject({ vcpu: 0 });
    expect(vcpu!.start).toBeGreaterThanOrEqual(vm!.end);
    const run = trace.instants.find((i) => i.name === 'first KVM_RUN');
    expect(run!.at).toBeGreaterThan(vcpu!.end);
    expect(events.filter((e) => e.event === 'kvm_run')).toHaveLength(1);
    expect(trace.meta.hypervisor).toBe('qemu kvm');
    expect(phasesOf(trace)[0]).toMatchObject({ name: 'toolstack', start: 0, end: run!.at });
    if (exitCode === 0 && tracepointExists('kvm', 'kvm_pio')) {
      // the guest ran: its OUTs to 0xf4 and 0x80 went through kvm:kvm_pio
      expect(trace.instants.find((i) => i.name === 'fw_start')?.phase).toBe('firmware');
      expect(trace.instants.find((i) => i.args?.port === '0x80')?.args?.value).toBe(0x40);
    }
  });
});
