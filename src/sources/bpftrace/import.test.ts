// The bpftrace importer on real recordings: probes/*_example.txt hold real
// bpftrace -f json output recorded on this project's machine (see their
// headers); the JSON lines are taken out of the surrounding text here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { validateTrace } from '../../model/io.js';
import { PHASE_LANE_ID, type Trace } from '../../model/trace.js';
import { phaseSummaryText } from '../../analysis/phases.js';
import { cleanConsoleText } from '../../model/console-text.js';
import { packed, packedHex } from '../../../test/helpers/probe-events.js';
import { formatDuration } from '../../model/duration.js';
import { DEFAULT_VOCABULARY, RANK, type MarkerRule } from '../../model/markers.js';
import { decodeEscapedBytes, decodePackedConsoleBytes, importBpftrace, parseBpftraceJson, XENSTORE_BUSY_COUNTER, XENSTORE_COUNTER } from './index.js';

/** The JSON lines of each recording in an example file; a recording starts at a `# bpftrace` line. */
function recordings(exampleFile: string): string[] {
  const text = readFileSync(new URL(`../../../probes/${exampleFile}`, import.meta.url), 'utf8');
  const out: string[][] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# bpftrace') || line.startsWith('# BPFTRACE_PERF_RB_PAGES=1024 bpftrace')) out.push([]);
    else if (line.startsWith('{') && out.length > 0) out[out.length - 1].push(line);
  }
  return out.filter((r) => r.length > 0).map((r) => r.join('\n') + '\n');
}

function phases(trace: Trace) {
  return trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
}

describe('importBpftrace on the qemu set (TCG Linux boot)', () => {
  const [boot] = recordings('qemu_example.txt');
  const trace = importBpftrace(boot, 'qemu_example.txt');

  it('produces a valid trace on the monotonic clock, t0 at QEMU exec', () => {
    expect(() => validateTrace(JSON.parse(JSON.stringify(trace)), 'x')).not.toThrow();
    expect(trace.meta.clock).toBe('monotonic');
    expect(trace.meta.lostEvents).toBe(0);
    const qemu = trace.spans.find((s) => s.name === 'qemu-system-x86_64');
    expect(qemu?.start).toBe(0);
    expect(qemu?.args?.exitCode).toBe(0);
    expect(trace.meta.command?.slice(0, 3)).toEqual(['qemu-system-x86_64', '-accel', 'tcg']);
    expect(trace.meta.hypervisor).toContain('tcg');
  });

  it('splits the boot into toolstack, firmware, kernel and user, in order, up to the ready marker', () => {
    const p = phases(trace);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    expect(p[0].start).toBe(0);
    expect(p[0].end).toBeGreaterThan(0);
    // No KVM_RUN under TCG: the SeaBIOS banner, QEMU's first console line, bounds the vCPU start.
    expect(p[0].args).toMatchObject({ start_by: 'QEMU exec', end_by: 'firmware console line (SeaBIOS, qboot)', end_rank: '5 bound' });
    const ready = trace.instants.find((i) => i.name === 'hvscope-marker ready')!;
    expect(p[p.length - 1].end).toBe(ready.at);
    // QEMU's exit, later, is only the VM's end
    const qemu = trace.spans.find((s) => s.name === 'qemu-system-x86_64')!;
    expect(trace.markers.find((m) => m.boundary === 'vm-end')?.at).toBe(qemu.end);
    expect(trace.unresolvedPhases).toEqual([]);
  });

  it('rebuilds console lines from one-byte writes, timestamped at their first byte', () => {
    const lines = trace.instants.filter((i) => i.args?.console === true);
    const linux = lines.find((l) => l.name.includes('Linux version 6.1.0'));
    const marker = lines.find((l) => l.name === 'hvscope-marker user-start');
    expect(linux?.phase).toBe('kernel');
    expect(marker?.phase).toBe('user');
    const p = phases(trace);
    // the kernel starts at the firmware's last fw_cfg load (uprobes), before its setup code's first line and CR4.PAE
    const handover = trace.instants.find((i) => i.name === 'last fw_cfg load (hand-over)')!;
    const pae = trace.instants.find((i) => i.name === 'CR4.PAE on (kernel entry)')!;
    const edd = lines.find((l) => l.name.startsWith('Probing EDD'))!;
    expect(p.find((s) => s.name === 'kernel')?.start).toBe(handover.at);
    expect(p.find((s) => s.name === 'kernel')?.args).toMatchObject({ start_by: "firmware's last fw_cfg DMA before the kernel (hand-over; uprobe, TCG)", start_rank: '1 hypervisor' });
    expect(handover.at).toBeLessThan(edd.at);
    expect(edd.at).toBeLessThan(pae.at);
    expect(pae.at).toBeLessThan(linux!.at);
    // the firmware loaded the kernel and initrd over fw_cfg DMA before that
    const dma = trace.instants.filter((i) => i.name.startsWith('DMA load'));
    expect(dma.map((d) => d.args?.bytes)).toEqual(expect.arrayContaining([8226752, 1052256]));
    for (const d of dma) expect(d.at).toBeLessThan(handover.at);
    // "Probing EDD ... o" waits for decompression mid-line: the rest of the line is its own segment
    expect(edd.name).toBe('Probing EDD (edd=off to disable)... o');
    expect(p.find((s) => s.name === 'user')?.start).toBe(marker?.at);
    expect(lines.some((l) => l.name.startsWith('SeaBIOS'))).toBe(true);
  });
});

describe('importBpftrace on the qemu set (Debian kernel with `quiet` on -M pc, init prints after sleeps)', () => {
  const quiet = recordings('qemu_example.txt')[3];
  const trace = importBpftrace(quiet, 'qemu_example.txt');
  const lines = trace.instants.filter((i) => i.args?.console === true);

  it('times the first init line at its own first byte, not at SeaBIOS\'s "Booting from ROM.." without a newline', () => {
    const rom = lines.find((l) => l.name === 'Booting from ROM..')!;
    const marks = lines.filter((l) => /^acc-mark \d$/.test(l.name));
    expect(marks.map((l) => l.name)).toEqual(['acc-mark 0', 'acc-mark 1', 'acc-mark 2', 'acc-mark 3']);
    // seconds of kernel boot lie between them
    expect(marks[0].at - rom.at).toBeGreaterThan(5e9);
    // gaps close to the guest's sleeps (0.7, 1.3, 0.5 s; its PIT-calibrated clock on a loaded host ran slow)
    const gaps = marks.slice(1).map((m, i) => (m.at - marks[i].at) / 1e6);
    expect(gaps[0]).toBeGreaterThan(700);
    expect(gaps[0]).toBeLessThan(2500);
  });

  it('finds the kernel phase without the banner: the firmware\'s last fw_cfg load', () => {
    const kernel = phases(trace).find((s) => s.name === 'kernel');
    expect(kernel?.args?.start_by).toBe("firmware's last fw_cfg DMA before the kernel (hand-over; uprobe, TCG)");
    expect(lines.some((l) => l.name.includes('Linux version'))).toBe(false);
    expect(phases(trace).map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel']);
  });
});

describe('importBpftrace on the qemu set (KVM ioctl provoker)', () => {
  const [, kvm] = recordings('qemu_example.txt');
  const trace = importBpftrace(kvm, 'qemu_example.txt');

  it('turns KVM_CREATE_VM and KVM_CREATE_VCPU into spans and marks the first KVM_RUN', () => {
    const vm = trace.spans.find((s) => s.name === 'KVM_CREATE_VM');
    const vcpu = trace.spans.find((s) => s.name === 'KVM_CREATE_VCPU');
    expect(vm && vm.end > vm.start).toBe(true);
    expect(vcpu?.args).toMatchObject({ vcpu: 0 });
    expect(vcpu!.start).toBeGreaterThanOrEqual(vm!.end);
    const run = trace.instants.find((i) => i.name === 'first KVM_RUN');
    expect(run && run.at > vcpu!.end).toBe(true);
    expect(trace.meta.hypervisor).toBe('qemu kvm');
  });

  it('maps the guest port writes to markers and the first KVM_RUN to the end of toolstack', () => {
    const fw = trace.instants.find((i) => i.name === 'fw_start');
    const debug = trace.instants.find((i) => i.args?.port === '0x80');
    expect(fw?.phase).toBe('firmware');
    expect(debug?.phase).toBe('kernel');
    const p = phases(trace);
    const run = trace.instants.find((i) => i.name === 'first KVM_RUN')!;
    expect(p[0]).toMatchObject({ name: 'toolstack', start: 0, end: run.at });
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel']);
  });
});

describe('importBpftrace on the qemu set (tiny on microvm, TCG)', () => {
  const [, , tiny] = recordings('qemu_example.txt');
  const trace = importBpftrace(tiny, 'qemu_example.txt');

  it('finds tiny’s stages from its console lines and QEMU’s exit status', () => {
    const p = phases(trace);
    // PVH entry, no firmware output: its first line is already the kernel stage
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'kernel', 'user']);
    const entry = trace.instants.find((i) => i.name === 'tiny: entry');
    const app = trace.instants.find((i) => i.name === 'tiny: app start');
    const done = trace.instants.find((i) => i.name === 'tiny: done');
    expect(p[1].start).toBe(entry?.at);
    expect(p[2].start).toBe(app?.at);
    const qemu = trace.spans.find((s) => s.name === 'qemu-system-x86_64');
    expect(qemu?.args?.exitCode).toBe(33);
    expect(p[2].end).toBe(done?.at);
    // Without KVM_RUN or QEMU's log, the vCPU start is only bounded by tiny's first line: firmware cannot be told apart.
    expect(trace.unresolvedPhases).toEqual([{ phase: 'firmware', start: entry?.at, reason: expect.stringMatching(/fall at the same time/) }]);
    // console bytes come from QEMU's TCG vCPU thread; the lines sit on the guest lane
    expect(trace.lanes.find((l) => l.id === entry?.lane)?.kind).toBe('guest');
  });
});

describe('importBpftrace on the exec set', () => {
  const [rec] = recordings('exec_example.txt');
  const trace = importBpftrace(rec, 'exec_example.txt');

  it('has one span per process image with argv, parent and exit code', () => {
    const byName = (n: string) => trace.spans.filter((s) => s.name === n);
    expect(byName('exec-demo.sh')[0].args).toMatchObject({ argv: '/bin/sh ./exec-demo.sh', exitCode: 0 });
    const sh = byName('sh')[0];
    expect(sh.args).toMatchObject({ argv: 'sh -c sleep 0.05; exit 3', exitCode: 3 });
    const sleep = byName('sleep')[0];
    expect(sleep.args?.ppid).toBe(sh.args?.pid);
    expect(sleep.start).toBeGreaterThanOrEqual(sh.start);
    expect(sleep.end).toBeLessThanOrEqual(sh.end);
    expect(byName('uname')[0].args?.argv).toBe('uname -r');
    expect(trace.lanes.filter((l) => l.kind === 'process')).toHaveLength(new Set(trace.spans.map((s) => s.lane)).size);
    // no QEMU: no phases
    expect(trace.lanes.some((l) => l.kind === 'phases')).toBe(false);
  });
});

describe('importBpftrace on the net set', () => {
  const [rec] = recordings('net_example.txt');
  const trace = importBpftrace(rec, 'net_example.txt');

  it('reports tap creation and both kinds of bridge attach in the devices phase', () => {
    const names = trace.instants.map((i) => i.name);
    expect(names).toContain('TUNSETIFF tap0');
    expect(names).toContain('TUNSETIFF tap1');
    expect(names).toContain('bridge attach ifindex 2 → master 3');
    expect(names).toContain('bridge attach → br0');
    expect(trace.instants.every((i) => i.phase === 'devices')).toBe(true);
    const ipSpans = trace.spans.filter((s) => s.name === 'ip' && s.args?.argv === 'ip link set tap0 master br0');
    expect(ipSpans).toHaveLength(1);
    expect(ipSpans[0].phase).toBe('devices');
  });
});

describe('importBpftrace on the xen set (xl create of tiny-pv with a vif, Xen lab)', () => {
  const [create] = recordings('xen_example.txt');
  const trace = importBpftrace(create, 'xen_example.txt');
  const spans = (name: string) => trace.spans.filter((s) => s.name === name);
  const printfs = create.split('\n').filter((l) => l.includes('"printf"'));
  const xsEvents = printfs.filter((l) => l.includes('"data": "xs\\t'));

  it('is a valid trace of `xl create`, t0 at xl\'s exec', () => {
    expect(() => validateTrace(JSON.parse(JSON.stringify(trace)), 'x')).not.toThrow();
    expect(trace.meta.hypervisor).toMatch(/^xen/);
    expect(trace.meta.command?.slice(0, 2)).toEqual(['xl', 'create']);
    expect(spans('xl')[0].start).toBe(0);
    expect(spans('xl')).toHaveLength(1);
  });

  it('splits toolstack → devices (first device add) → kernel (unpause), up to the guest\'s ready line', () => {
    const p = phases(trace);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'devices', 'kernel']);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    expect(p[1].start).toBe(spans('libxl__device_add_async')[0].start);
    expect(p[2].start).toBe(spans('libxl_domain_unpause')[0].start);
    const ready = trace.markers.find((m) => m.boundary === 'ready');
    expect(ready?.detail).toBe('tiny-pv: hello from a Xen PV guest');
    expect(p[2].end).toBe(ready?.at);
    expect(p.map((s) => s.args?.start_by)).toEqual(['xl exec', 'libxl__device_add_async', 'libxl_domain_unpause']);
  });

  it('nests the build steps in libxl_domain_create_new, in the toolstack phase', () => {
    const [createNew] = spans('libxl_domain_create_new');
    expect(createNew.args?.ret).toBe(0);
    // xl parses its config from its exec until it calls libxl
    expect(spans('config parse (xl)')[0]).toMatchObject({ start: 0, end: createNew.start, phase: 'toolstack' });
    const steps = ['xc_domain_create', 'xc_dom_allocate', 'xc_dom_kernel_file', 'xc_dom_parse_image', 'xc_dom_mem_init', 'xc_dom_boot_mem_init', 'xc_dom_build_image', 'xc_dom_boot_image'];
    let previous = createNew.start;
    for (const name of steps) {
      const [step] = spans(name);
      expect(step.phase, name).toBe('toolstack');
      expect(step.start, name).toBeGreaterThanOrEqual(previous);
      expect(step.end, name).toBeLessThanOrEqual(createNew.end);
      previous = step.start;
    }
    expect(String(spans('xc_dom_kernel_file')[0].args?.detail)).toMatch(/tiny-pv\.elf$/);
  });

  it('has one span per XenStore request, counted over time and per phase', () => {
    const xs = trace.spans.filter((s) => s.name.startsWith('xs_'));
    expect(xs).toHaveLength(xsEvents.length);
    const counter = trace.counters.filter((c) => c.name === XENSTORE_COUNTER);
    expect(counter.map((c) => c.value)).toEqual(xs.map((_, i) => i + 1));
    const p = trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
    for (const phase of p) {
      const inside = xs.filter((s) => s.start >= phase.start && s.start < phase.end);
      expect(phase.args?.[XENSTORE_COUNTER], phase.name).toBe(inside.length);
      const busyMs = inside.reduce((sum, s) => sum + s.end - s.start, 0) / 1e6;
      expect(phase.args?.[XENSTORE_BUSY_COUNTER] as number, phase.name).toBeCloseTo(busyMs, 5);
      expect(inside.every((s) => s.phase === phase.name)).toBe(true);
    }
    expect(p[0].args?.[XENSTORE_COUNTER] as number).toBeGreaterThan(20);
    // a transaction: start returns its id, requests inside carry it, end closes it
    const [tx] = spans('xs_transaction_start');
    expect(tx.args?.tx as number).toBeGreaterThan(0);
    expect(xs.some((s) => s.name === 'xs_write' && s.args?.tx === tx.args?.tx && String(s.args?.path).startsWith('/local/domain/'))).toBe(true);
    expect(spans('xs_transaction_end').some((s) => s.args?.tx === tx.args?.tx && s.args?.ok === true)).toBe(true);
  });

  it('shows the vif-bridge hotplug script in the devices phase and the guest console once (log file and pty)', () => {
    const [vif] = spans('vif-bridge');
    expect(vif.phase).toBe('devices');
    expect(vif.args?.argv).toMatch(/vif-bridge online/);
    const lines = trace.instants.filter((i) => i.args?.console === true).map((i) => i.name);
    expect(lines).toEqual(['tiny-pv: hello from a Xen PV guest', expect.stringMatching(/^tiny-pv: console_io returned -?\d+$/)]);
  });
});

describe('parseBpftraceJson', () => {
  it('sums lost_events, also given as strings (bpftrace 0.24+), and ignores maps', () => {
    const text = [
      '{"type": "attached_probes", "data": {"probes": 3, "count": 3}}',
      '{"type": "lost_events", "data": {"events": 4}}',
      '{"type": "lost_events", "data": {"events": "9007199254740"}}',
      '{"type": "map", "data": {"@x": {"1": 1}}}',
    ].join('\n');
    const parsed = parseBpftraceJson(text, 'synthetic-lost.json');
    expect(parsed.lostEvents).toBe(9007199254744);
    expect(parsed.attachedProbes).toBe(3);
    expect(parsed.events).toHaveLength(0);
  });

  it('keeps tabs inside the trailing free-text field', () => {
    const line = JSON.stringify({ type: 'printf', data: 'exit\t5\t7\t7\tstatus=0\tcomm=a\tb=c\n' });
    const [ev] = parseBpftraceJson(line, 'synthetic.json').events;
    expect(ev.fields).toEqual({ status: '0', comm: 'a\tb=c' });
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{"type": "attached_probes", "data": {"probes": 1}}\nAttaching 3 probes...', /synthetic-bad\.json:2: not a bpftrace JSON line/],
    ['no type', '{"data": 1}', /:1: bpftrace JSON line without a "type"/],
    ['printf without data', '{"type": "printf"}', /:1: printf message without a string "data"/],
    ['short line', '{"type": "printf", "data": "exec\\t1\\t2\\n"}', /:1: printf line is not EVENT/],
    ['bad nsecs', '{"type": "printf", "data": "exec\\tabc\\t2\\t2\\tfile=/x\\n"}', /:1: exec: nsecs is not an integer/],
    ['wrong key', '\n{"type": "printf", "data": "fork\\t1\\t2\\t2\\tkid=3\\n"}', /:2: fork: expected field 'child', got 'kid'/],
    ['missing free text', '{"type": "printf", "data": "exec\\t1\\t2\\t2\\n"}', /:1: exec: expected file fields/],
    ['bad lost_events', '{"type": "lost_events", "data": {}}', /:1: lost_events without data.events/],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what} with file and line`, () => {
      expect(() => importBpftrace(text, 'synthetic-bad.json')).toThrow(UserError);
      expect(() => importBpftrace(text, 'synthetic-bad.json')).toThrow(message);
    });
  }

  it('rejects a non-integer field value', () => {
    const text = JSON.stringify({ type: 'printf', data: 'fork\t1\t2\t2\tchild=x\n' });
    expect(() => importBpftrace(text, 'synthetic-bad.json')).toThrow(/synthetic-bad\.json:1: fork: child is not an integer/);
  });
});

describe('console text helpers', () => {
  it('decodes %r escapes to bytes, multi-byte UTF-8 included', () => {
    expect(decodeEscapedBytes('a\\x09b\\x0a').toString()).toBe('a\tb\n');
    expect(decodeEscapedBytes('\\xc3\\xa9t\\xc3\\xa9').toString('utf8')).toBe('été');
    expect(decodeEscapedBytes('\\xZZ').toString()).toBe('\\xZZ');
  });
  it('removes ANSI sequences and control characters', () => {
    expect(cleanConsoleText('\x1bc\x1b[?7l\x1b[2JSeaBIOS (version 1.16)\r')).toBe('SeaBIOS (version 1.16)');
  });
});

describe('console lines from multi-chunk writes (synthetic events in the probes’ layout)', () => {
  const printf = (data: string) => JSON.stringify({ type: 'printf', data });
  const exec = printf('exec\t1000\t10\t10\tfile=/usr/bin/qemu-system-x86_64\n');
  const first = 'A'.repeat(60) + 'Linux';
  it('joins the chunks of one write and splits lines at \\x0a', () => {
    const text = [
      exec,
      printf(`console\t2000\t10\t10\tfd=1\tlen=80\toff=0\ttext=${first.slice(0, 64)}\n`),
      printf(`console\t2001\t10\t10\tfd=1\tlen=80\toff=64\ttext=${first.slice(64)} version 6.1\\x0aRun /init\\x0a\n`),
    ].join('\n');
    const trace = importBpftrace(text, 'synthetic-console.json');
    const lines = trace.instants.filter((i) => i.args?.console === true);
    expect(lines.map((l) => [l.name, l.at, l.phase])).toEqual([
      [`${first} version 6.1`, 1000, 'kernel'],
      ['Run /init', 1001, 'user'],
    ]);
    expect(lines.some((l) => l.args?.truncated)).toBe(false);
  });
  it('marks a line whose write was longer than the 128 traced bytes', () => {
    const text = [
      exec,
      printf(`console\t2000\t10\t10\tfd=1\tlen=300\toff=0\ttext=${'x'.repeat(64)}\n`),
      printf(`console\t2001\t10\t10\tfd=1\tlen=300\toff=64\ttext=${'y'.repeat(64)}\n`),
    ].join('\n');
    const [line] = importBpftrace(text, 'synthetic-console.json').instants.filter((i) => i.args?.console === true);
    expect(line.args?.truncated).toBe(true);
  });
});

describe('console lines from packed one-byte writes (synthetic console_packed events, as probes/qemu.bt prints them)', () => {
  const printf = (data: string) => JSON.stringify({ type: 'printf', data });
  const exec = printf('exec\t1000\t10\t10\tfile=/usr/bin/qemu-system-x86_64\n');

  it('decodes the words little-endian and keeps only len bytes', () => {
    expect(decodePackedConsoleBytes(packedHex('tiny: entry\r\n'), 13)?.toString('latin1')).toBe('tiny: entry\r\n');
    // the real hex of "\r\n" from a traced tiny boot: no complete word, the tail in word 8
    expect(decodePackedConsoleBytes('0'.repeat(112) + '00000000000a0d', 2)).toEqual(Buffer.from('\r\n'));
    // exactly one complete word, no tail
    expect(decodePackedConsoleBytes(packedHex('abcdefg'), 7)?.toString('latin1')).toBe('abcdefg');
    const full = 'x'.repeat(55) + 'y';
    expect(decodePackedConsoleBytes(packedHex(full), 56)?.toString('latin1')).toBe(full);
  });

  it('refuses a hex field of the wrong size or a len outside 1..64', () => {
    expect(decodePackedConsoleBytes('00', 1)).toBeNull();
    expect(decodePackedConsoleBytes(packedHex('a'), 0)).toBeNull();
    expect(decodePackedConsoleBytes(packedHex('a'), 57)).toBeNull();
    expect(decodePackedConsoleBytes('g'.repeat(126), 1)).toBeNull();
    expect(decodePackedConsoleBytes('0'.repeat(128), 1)).toBeNull();
    const text = [exec, printf('console_packed\t2000\t10\t11\tfd=1\tlen=3\thex=abc\n')].join('\n');
    expect(() => importBpftrace(text, 'synthetic-bad.json')).toThrow(/synthetic-bad\.json:2: console_packed: hex must be 126 hex digits/);
  });

  it('joins chunks into lines timestamped at their first chunk, in time order with longer writes', () => {
    const text = [
      exec,
      packed(2000, 'Linux version 6.1 ' + 'a'.repeat(38)),
      packed(2100, 'bbb\n'),
      // a longer write printed at its entry, while the chunk before it was printed later (at that write's return)
      printf('console\t3500\t10\t11\tfd=1\tlen=6\toff=0\ttext=write \n'),
      packed(3000, 'mixed '),
      packed(3600, 'tail\r\n'),
      packed(4000, 'login: '),
    ].join('\n');
    const lines = importBpftrace(text, 'synthetic-console.json').instants.filter((i) => i.args?.console === true);
    expect(lines.map((l) => [l.name, l.at, l.phase])).toEqual([
      ['Linux version 6.1 ' + 'a'.repeat(38) + 'bbb', 1000, 'kernel'],
      ['mixed write tail', 2000, undefined],
      // the last line, without a newline, is kept
      ['login:', 3000, undefined],
    ]);
  });

  it('starts a new segment, timed at its own first byte, after a console pause (console_pause), also mid-line', () => {
    const text = [
      exec,
      // SeaBIOS's last line has no newline; the guest's first line comes seconds later
      packed(2000, 'Booting from ROM..'),
      printf('console_pause\t4500002000\t10\t11\tfd=1\tgap=4500000000\n'),
      packed(4500002000, 'hvscope-marker user-start\r\n'),
      // other writes: the assembler compares their times (a 60 ms stall cuts, a 1 ms one does not)
      printf('console\t4600000000\t10\t11\tfd=1\tlen=4\toff=0\ttext=abc \n'),
      printf('console\t4601000000\t10\t11\tfd=1\tlen=4\toff=0\ttext=def \n'),
      printf('console\t4661000000\t10\t11\tfd=1\tlen=4\toff=0\ttext=ghi\\x0a\n'),
    ].join('\n');
    const trace = importBpftrace(text, 'synthetic-pause.json');
    const lines = trace.instants.filter((i) => i.args?.console === true);
    expect(lines.map((l) => [l.name, l.at])).toEqual([
      ['Booting from ROM..', 1000],
      ['hvscope-marker user-start', 4500001000],
      ['abc def', 4599999000],
      ['ghi', 4660999000],
    ]);
    expect(trace.markers.find((m) => m.boundary === 'user-start')?.at).toBe(4500001000);
  });
});

describe('xen events (synthetic, in the xen set’s layout)', () => {
  const printf = (data: string) => JSON.stringify({ type: 'printf', data });
  const xl = [
    printf('exec\t1000\t10\t10\tfile=/usr/lib/xen-4.17/bin/xl\n'),
    printf('xen_fn\t2000\t10\t10\tfn=libxl_domain_create_new\targ=0\tdetail=\n'),
  ];

  it('keeps one console line when xenconsoled writes it to the log and the pty, and skips binary writes', () => {
    const text = [
      ...xl,
      printf('xen_console\t3000\t5\t5\tfd=14\tlen=4\toff=0\ttext=A\\x00\\x00\\x00\n'),
      printf('xen_console\t3100\t5\t5\tfd=17\tlen=9\toff=0\ttext=hello\\x0d\\x0a\n'),
      printf('xen_console\t3200\t5\t5\tfd=15\tlen=9\toff=0\ttext=hello\\x0d\\x0a\n'),
      printf('xen_fn_ret\t4000\t10\t10\tfn=libxl_domain_create_new\tret=0\n'),
    ].join('\n');
    const trace = importBpftrace(text, 'synthetic-xen.json');
    const lines = trace.instants.filter((i) => i.args?.console === true);
    expect(lines.map((l) => [l.name, l.at])).toEqual([['hello', 2100]]);
    expect(trace.lanes.filter((l) => l.id.startsWith('guest:xenconsoled:')).map((l) => l.id)).toEqual(['guest:xenconsoled:5:17']);
  });

  it('pairs nested calls per thread; a call still open at the end is marked unfinished', () => {
    const text = [
      ...xl,
      printf('xs\t2100\t10\t10\top=read\ttx=0\tpath=/local/pool/0/name\n'),
      printf('xs_ret\t2200\t10\t10\top=read\tret=1\n'),
      printf('fork\t2300\t10\t10\tchild=11\n'),
      printf('xs\t2400\t11\t11\top=write\ttx=3\tpath=/local/domain/1/name\n'),
    ].join('\n');
    const trace = importBpftrace(text, 'synthetic-xen.json');
    expect(trace.spans.find((s) => s.name === 'xs_read')).toMatchObject({ lane: 'pid:10', start: 1100, end: 1200, args: { path: '/local/pool/0/name', ok: true } });
    expect(trace.spans.find((s) => s.name === 'xs_write')?.args).toMatchObject({ tx: 3, unfinished: true });
    expect(trace.spans.find((s) => s.name === 'libxl_domain_create_new')?.args?.unfinished).toBe(true);
    // a forked process with no exec of its own is named after its parent
    expect(trace.lanes.find((l) => l.id === 'pid:11')?.name).toBe('xl [11] (forked by 10)');
    expect(trace.counters.filter((c) => c.name === XENSTORE_COUNTER).map((c) => c.value)).toEqual([1, 2]);
  });
});

describe('an interrupted trace (synthetic events: QEMU under TCG printed nothing for 10 minutes, then Ctrl-C)', () => {
  const printf = (data: string) => JSON.stringify({ type: 'printf', data });
  const text = [
    printf('exec\t1000000000\t10\t10\tfile=/usr/bin/qemu-system-x86_64\n'),
    // hvscope ended QEMU with SIGTERM (wait status 15) after 600.83 s, then bpftrace's END
    printf('exit\t601833480000\t10\t10\tstatus=15\tcomm=qemu-system-x86\n'),
    printf('hv_end\t601900000000\t1\t1\n'),
  ].join('\n');
  const trace = importBpftrace(text, 'synthetic-interrupted.json');

  it('leaves the toolstack unresolved (no vCPU start seen) instead of running it to the end of the trace', () => {
    expect(phases(trace)).toEqual([]);
    expect(trace.unresolvedPhases.map((u) => [u.phase, u.start])).toEqual([
      ['toolstack', 0],
      ['kernel', undefined],
    ]);
    expect(trace.unresolvedPhases[0].reason).toBe('its end is unknown: no usable evidence of the kernel start (firmware hand-over)');
    expect(phaseSummaryText(trace)).toBe('toolstack unresolved, kernel unresolved');
    // QEMU's own span still says how long it ran, in a unit that reads
    const qemu = trace.spans.find((s) => s.name === 'qemu-system-x86_64')!;
    expect(formatDuration(qemu.end - qemu.start)).toBe('10.0 min');
  });
});

describe('a user-defined ready rule (a vocabulary row given to the importer, as --ready exit will)', () => {
  it('ends the user phase where the rule says, in place of the built-in ready markers', () => {
    const [, , tiny] = recordings('qemu_example.txt');
    const exit: MarkerRule = { id: 'ready-exit', name: 'ready: the VM exited', boundary: 'ready', rank: RANK.exact, match: { on: 'event', event: 'vm-exit' } };
    const vocabulary = DEFAULT_VOCABULARY.without((r) => r.boundary === 'ready').with(exit);
    const plain = phases(importBpftrace(tiny, 'qemu_example.txt')).at(-1)!;
    const ruled = importBpftrace(tiny, 'qemu_example.txt', { vocabulary });
    const qemu = ruled.spans.find((s) => s.name === 'qemu-system-x86_64')!;
    expect(plain).toMatchObject({ name: 'user', args: { end_by: 'tiny: done' } });
    expect(phases(ruled).at(-1)).toMatchObject({ name: 'user', start: plain.start, end: qemu.end, args: { end_by: 'ready: the VM exited' } });
  });
});
