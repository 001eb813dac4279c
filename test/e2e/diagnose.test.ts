// End-to-end: `hvscope diagnose` through the real CLI wiring (main()), on the recorded
// fixtures, on a live traced boot of tiny (when root, bpftrace, QEMU and gcc are here),
// on a trace with nothing to report, and on bad input.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { readTrace, writeTrace } from '../../src/model/io.js';
import { emptyTrace, PHASE_LANE_ID } from '../../src/model/trace.js';
import { setSyntheticPhases } from '../helpers/fixtures.js';
import type { Finding } from '../../src/analysis/diagnose.js';
import type { RunReport } from '../../src/analysis/report.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { buildCli, hvscope } from './trace-cli.js';

const repo = resolve(import.meta.dirname, '../..');
const PC = join(repo, 'fixtures/qemu-tcg-pc-linux/run.hvtrace.json');
const MICROVM = join(repo, 'fixtures/qemu-tcg-microvm-linux/run.hvtrace.json');

const scratch = mkdtempSync(join(tmpdir(), 'hvscope-diagnose-e2e-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `hvscope ARGS` in-process, capturing stdout and stderr. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  const before = process.exitCode;
  try {
    const code = await main(['node', 'hvscope', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = before;
  }
}

interface DiagnoseJson {
  findings: Finding[];
  runs: RunReport[];
}

describe('hvscope diagnose on the recorded fixtures', () => {
  it('--json: findings with evidence, why and fix; runs as hvscope report gives them; exit 0', async () => {
    const r = await cli(['diagnose', PC, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as DiagnoseJson;
    expect(Object.keys(out)).toEqual(['findings', 'runs']);
    const report = await cli(['report', PC, '--json']);
    expect(out.runs).toEqual((JSON.parse(report.stdout) as { runs: RunReport[] }).runs);

    const ids = out.findings.map((f) => f.id);
    expect(ids).toContain('accelerator-tcg');
    expect(ids).toContain('kernel-decompression');
    for (const f of out.findings) {
      expect(['warn', 'info']).toContain(f.severity);
      expect(f.runs).toEqual(['run']);
      expect(f.evidence.length).toBe(1);
      expect(f.evidence[0].lines.length).toBeGreaterThan(0);
      expect(f.why.length).toBeGreaterThan(20);
      expect(f.fix.text.length).toBeGreaterThan(10);
    }
    // warnings before infos
    const firstInfo = out.findings.findIndex((f) => f.severity === 'info');
    if (firstInfo >= 0) expect(out.findings.slice(firstInfo).every((f) => f.severity === 'info')).toBe(true);

    // The numbers are the trace's: TCG's guest time is firmware + kernel + user from the report.
    const guest = out.runs[0].phases.filter((p) => p.phase !== 'toolstack').reduce((n, p) => n + p.duration_ns, 0);
    expect(out.findings.find((f) => f.id === 'accelerator-tcg')!.evidence[0].data.guest_ns).toBe(guest);
    // The firmware finding quotes the report's firmware duration; its profile is a shipped one.
    const fw = out.findings.find((f) => f.id === 'firmware-seabios')!;
    expect(fw.evidence[0].data.duration_ns).toBe(out.runs[0].phases.find((p) => p.phase === 'firmware')!.duration_ns);
    expect(readFileSync(join(repo, 'tuning-profiles', `${fw.fix.profile}.yaml`), 'utf8')).toMatch(/^name: qemu-microvm-min$/m);
  });

  it('text: one block per finding, most important first, with evidence, why, source and fix', async () => {
    const r = await cli(['diagnose', PC]);
    expect(r.code, r.stderr).toBe(0);
    const blocks = r.stdout.split('\n\n');
    expect(blocks[0]).toMatch(/^\d+ findings for 1 run \(run\)$/);
    expect(blocks[1]).toMatch(/^\[warn\] accelerator-tcg: /);
    for (const block of blocks.slice(1)) {
      expect(block).toMatch(/^\[(warn|info)\] [a-z-]+: /);
      expect(block).toMatch(/\n {2}evidence {2}/);
      expect(block).toMatch(/\n {2}why {7}/);
      expect(block).toMatch(/\n {2}fix {7}/);
    }
    expect(r.stdout).toContain('profile: qemu-microvm-min');
  });

  it('several traces: per-run findings carry each run\'s evidence under its label', async () => {
    const r = await cli(['diagnose', PC, MICROVM, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as DiagnoseJson;
    expect(out.runs.map((x) => x.label)).toEqual(['qemu-tcg-pc-linux/run', 'qemu-tcg-microvm-linux/run']);
    const tcg = out.findings.find((f) => f.id === 'accelerator-tcg')!;
    expect(tcg.evidence.map((e) => e.run)).toEqual(['qemu-tcg-pc-linux/run', 'qemu-tcg-microvm-linux/run']);
    expect(out.findings.find((f) => f.id === 'firmware-seabios')!.runs).toEqual(['qemu-tcg-pc-linux/run']);
  });
});

describe('hvscope diagnose on a traced xl create (probes/xen_example.txt, imported with hvscope import)', () => {
  it('--json: the hotplug and XenStore findings point at xen-fast-hotplug', async () => {
    const ndjson = join(scratch, 'xen-example.ndjson');
    writeFileSync(ndjson, readFileSync(join(repo, 'probes/xen_example.txt'), 'utf8').split('\n').filter((l) => l.startsWith('{')).join('\n') + '\n');
    const trace = join(scratch, 'xl-create.hvtrace.json');
    const imported = await cli(['import', ndjson, '--from', 'bpftrace', '-o', trace]);
    expect(imported.code, imported.stderr).toBe(0);
    const r = await cli(['diagnose', trace, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as DiagnoseJson;
    const hotplug = out.findings.find((f) => f.id === 'xen-hotplug-scripts')!;
    expect(hotplug.severity).toBe('warn');
    expect(hotplug.fix.profile).toBe('xen-fast-hotplug');
    const devices = out.runs[0].phases.find((p) => p.phase === 'devices')!;
    expect(hotplug.evidence[0].data.share).toBeCloseTo((hotplug.evidence[0].data.duration_ns as number) / devices.duration_ns, 12);
    expect(out.findings.map((f) => f.id)).toContain('xenstore-operations');
    expect(readFileSync(join(repo, 'tuning-profiles/xen-fast-hotplug.yaml'), 'utf8')).toMatch(/^name: xen-fast-hotplug$/m);
  });
});

describe('hvscope diagnose with nothing to report and on bad input', () => {
  it('says "no findings" plainly (text) and gives an empty list (--json), exit 0', async () => {
    const trace = emptyTrace({ source: 'synthetic-diagnose-e2e', clock: 'monotonic', hypervisor: 'qemu kvm', lostEvents: 0 });
    setSyntheticPhases(trace, [{ phase: 'toolstack', at: 0 }, { phase: 'kernel', at: 20e6 }, { phase: 'user', at: 80e6 }], 100e6);
    const file = join(scratch, 'synthetic-quiet.hvtrace.json');
    writeTrace(file, trace);
    const text = await cli(['diagnose', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^no findings: none of the \d+ rules matched 1 run \(synthetic-quiet\)\.\nRules checked: trace-lost-events, /);
    const json = await cli(['diagnose', file, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ findings: [], runs: [{ label: 'synthetic-quiet', total_ns: 100e6 }] });
  });

  it('a malformed trace: one line naming the file and line, exit 1, nothing on stdout', async () => {
    const file = join(scratch, 'broken.hvtrace.json');
    writeFileSync(file, '{\n  "format": "hvscope-trace",\n  "version": 1,\n  oops\n}\n');
    const r = await cli(['diagnose', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^hvscope: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: not valid JSON`));
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a missing file: one line, exit 1', async () => {
    const r = await cli(['diagnose', join(scratch, 'nope.hvtrace.json'), '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`hvscope: ${join(scratch, 'nope.hvtrace.json')}: no such file or directory\n`);
  });
});

const noLive = requireOrSkip(
  isRoot && hasCommand('bpftrace') && hasCommand('qemu-system-x86_64') && hasCommand('gcc'),
  'root, bpftrace, qemu-system-x86_64 and gcc (live boots)',
);
describe.skipIf(noLive)('hvscope diagnose on live traced boots of tiny', () => {
  it('3 boots: accelerator finding matches the traces, toolstack numbers equal the phases, exit 0', { timeout: 300_000 }, async () => {
    await buildCli();
    const dir = join(scratch, 'tiny');
    const boot = await hvscope(['boot', '--guest', 'tiny', '--runs', '3', '-o', dir], { timeoutMs: 240_000 });
    expect(boot.exitCode, String(boot.stderr)).toBe(0);

    const r = await cli(['diagnose', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as DiagnoseJson;
    expect(out.runs.map((x) => x.label)).toEqual(['run-1', 'run-2', 'run-3']);
    const traces = ['run-1', 'run-2', 'run-3'].map((l) => readTrace(join(dir, `${l}.hvtrace.json`)));

    const tcgRuns = traces.flatMap((t, i) => (/\btcg\b/.test(t.meta.hypervisor ?? '') ? [`run-${i + 1}`] : []));
    expect(out.findings.find((f) => f.id === 'accelerator-tcg')?.runs ?? []).toEqual(tcgRuns);
    expect(out.findings.some((f) => f.id === 'trace-lost-events')).toBe(traces.some((t) => (t.meta.lostEvents ?? 0) > 0));

    // tiny is a unikernel-sized guest: where the toolstack dominates, the finding quotes each run's phases lane.
    const toolstack = out.findings.find((f) => f.id === 'toolstack-dominates');
    for (const e of toolstack?.evidence ?? []) {
      const t = traces[Number(e.run!.slice(4)) - 1];
      const span = t.spans.find((s) => s.lane === PHASE_LANE_ID && s.name === 'toolstack')!;
      const report = out.runs.find((x) => x.label === e.run)!;
      expect(e.data.duration_ns).toBe(span.end - span.start);
      expect(e.data.share).toBeCloseTo((span.end - span.start) / report.total_ns, 12);
      expect(e.data.share as number).toBeGreaterThanOrEqual(0.5);
    }
    // and the runs it is silent about really are below half
    for (const run of out.runs.filter((x) => !toolstack?.runs.includes(x.label))) {
      const ts = run.phases.find((p) => p.phase === 'toolstack');
      if (ts) expect(ts.duration_ns / run.total_ns).toBeLessThan(0.5);
    }

    const text = await cli(['diagnose', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/for 3 runs \(run-1, run-2, run-3\)/);
  });
});
