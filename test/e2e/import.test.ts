// End-to-end: `hvscope import` and `hvscope report` as users run them (bin/hvscope),
// on real recordings: the bpftrace output of a TCG Linux boot (probes/qemu_example.txt)
// given whole and as the two files two probe sets of that run would give, and the
// QEMU log and serial capture of a fixture boot. No QEMU or bpftrace needed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/analysis/report.js';
import { buildCli, hvscope, repo } from './trace-cli.js';

let work = '';
beforeAll(async () => {
  await buildCli();
  work = mkdtempSync(join(tmpdir(), 'hvscope-import-e2e-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The first recording of probes/qemu_example.txt (its JSON lines), whole and split by event kind. */
function recordings(): { whole: string; processes: string; guest: string } {
  const lines = readFileSync(join(repo, 'probes/qemu_example.txt'), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('{'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('{'));
  const json = lines.slice(start, end);
  const isProcess = (l: string) => /"data": "(exec|exec_args|exit|fork)\\t/.test(l);
  const keep = (f: (l: string) => boolean) => json.filter((l) => !l.includes('"printf"') || f(l)).join('\n') + '\n';
  return { whole: json.join('\n') + '\n', processes: keep(isProcess), guest: keep((l) => !isProcess(l)) };
}

async function report(trace: string): Promise<Report> {
  const r = await hvscope(['report', trace, '--json']);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout)) as Report;
}
const phases = (rep: Report) => rep.runs[0].phases.map((p) => [p.phase, p.duration_ns, p.start_evidence?.marker, p.end_evidence?.marker]);

describe('hvscope import ... --from bpftrace keeps every phase', () => {
  it('two files of one run (exec events, QEMU\'s events) merge into the phases of the whole recording', async () => {
    const { whole, processes, guest } = recordings();
    for (const [name, text] of Object.entries({ whole, processes, guest })) writeFileSync(join(work, `${name}.json`), text);
    expect((await hvscope(['import', join(work, 'whole.json'), '--from', 'bpftrace', '-o', join(work, 'whole.hvtrace.json')])).exitCode).toBe(0);
    const r = await hvscope(['import', join(work, 'processes.json'), join(work, 'guest.json'), '--from', 'bpftrace', '-o', join(work, 'merged.hvtrace.json')]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const single = await report(join(work, 'whole.hvtrace.json'));
    const merged = await report(join(work, 'merged.hvtrace.json'));
    expect(phases(single).map((p) => p[0])).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    expect(phases(merged)).toEqual(phases(single));
    expect(merged.runs[0].unresolved).toEqual([]);
  });

  it('report shows what set each boundary, and --json carries it', async () => {
    const single = await report(join(work, 'whole.hvtrace.json'));
    expect(single.runs[0].phases[0]).toMatchObject({ phase: 'toolstack', start_evidence: { marker: 'QEMU exec', source: 'bpftrace qemu', rank: 0, rank_name: 'exact' } });
    const text = await hvscope(['report', join(work, 'whole.hvtrace.json')]);
    expect(String(text.stdout)).toMatch(/^ {2}kernel: firmware's last fw_cfg DMA before the kernel \(hand-over; uprobe, TCG\) .* \(bpftrace qemu, hypervisor\) → hvscope-marker user-start \(bpftrace qemu, console\)$/m);
  });
});

describe('hvscope import of a rootless recording (fixtures/qemu-tcg-pc-linux: QEMU log + serial capture)', () => {
  it('merges both into toolstack → firmware → kernel → user, each boundary from the better source', async () => {
    const dir = join(repo, 'fixtures/qemu-tcg-pc-linux');
    const out = join(work, 'pc.hvtrace.json');
    const r = await hvscope(['import', join(dir, 'qemu.log'), `serial:${join(dir, 'serial.txt')}`, '--from', 'qemu-log', '-o', out]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const rep = await report(out);
    expect(rep.runs[0].phases.map((p) => [p.phase, p.start_evidence?.source])).toEqual([
      ['toolstack', 'serial'],
      ['firmware', 'qemu-log'],
      ['kernel', 'qemu-log'],
      ['user', 'serial'],
    ]);
  });
});

describe('hvscope import of a large real bpftrace recording (fixtures/bpftrace-exec-busy), read back streamed', () => {
  it('imports every process image, and the written trace reads back; a cut copy is one error line with its line', async () => {
    const raw = join(work, 'exec-busy.ndjson');
    writeFileSync(raw, execFileSync('xz', ['-dc', join(repo, 'fixtures/bpftrace-exec-busy/exec-busy.ndjson.xz')]));
    const text = readFileSync(raw, 'utf8');
    const trueExecs = text.split('\n').filter((l) => l.includes('\\tfile=/bin/true\\n')).length;
    expect(trueExecs).toBeGreaterThan(100);
    const out = join(work, 'exec-busy.hvtrace.json');
    const r = await hvscope(['import', raw, '--from', 'bpftrace', '-o', out, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const written = readFileSync(out, 'utf8');
    const spans = written.split('\n').filter((l) => l.startsWith('    {"lane":"pid:') && l.includes('"name":"true"') && l.includes('"exitCode":0'));
    expect(spans).toHaveLength(trueExecs);
    const rep = await report(out);
    expect(rep.runs).toHaveLength(1);
    // The same file cut in the middle of its spans: one line naming file and line, exit 1.
    const cut = join(work, 'exec-busy-cut.hvtrace.json');
    const at = written.indexOf('"name":"true"', written.length / 2);
    writeFileSync(cut, written.slice(0, at));
    const bad = await hvscope(['report', cut]);
    expect(bad.exitCode).toBe(1);
    expect(String(bad.stderr).trim()).toMatch(new RegExp(`^hvscope: ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${written.slice(0, at).split('\n').length}: not valid JSON[^\\n]*$`));
  });
});
