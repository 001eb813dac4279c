// `hvscope figure` through the real cac wiring on the real QEMU recordings in fixtures/
// (see fixtures/README.md): SVGs written, well-formed (xmllint), the --json numbers equal
// the phases lanes of the recordings, PDFs through rsvg-convert, clear errors.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cac } from 'cac';
import { execa } from 'execa';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';
import { register } from '../../src/cli/figure.js';
import { buildReport } from '../../src/analysis/report.js';
import { readRuns } from '../../src/model/io.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PC = join(repo, 'fixtures/qemu-tcg-pc-linux');
const MICROVM = join(repo, 'fixtures/qemu-tcg-microvm-linux');

async function hvscopeFigure(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number | undefined }> {
  const cli = cac('hvscope');
  register(cli);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  const before = process.exitCode;
  try {
    cli.parse(['node', 'hvscope', 'figure', ...args], { run: false });
    await cli.runMatchedCommand();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const exitCode = process.exitCode === before ? undefined : (process.exitCode as number | undefined);
  process.exitCode = before;
  return { stdout, stderr, exitCode };
}

/** Phase durations straight from a recording's phases lane (not through hvscope's analysis). */
function laneDurations(dir: string): Record<string, number> {
  const trace = JSON.parse(readFileSync(join(dir, 'run.hvtrace.json'), 'utf8')) as { spans: { lane: string; name: string; start: number; end: number }[] };
  return Object.fromEntries(trace.spans.filter((s) => s.lane === 'phases').map((s) => [s.name, s.end - s.start]));
}

const work = mkdtempSync(join(tmpdir(), 'hvscope-figure-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function writeSpec(name: string, body: string): string {
  const file = join(work, name);
  writeFileSync(file, body);
  return file;
}
const rel = (p: string) => relative(work, p);

const SPEC = `title: Linux boot under QEMU TCG
size: 3.5in
figures:
  - kind: stacked-bars
    output: phases.svg
    groups:
      - { label: microvm, traces: [${rel(MICROVM)}] }
      - { label: pc, traces: [${rel(PC)}/run.hvtrace.json] }
  - kind: cdf
    output: cdf.svg
    size: 7.16in
    groups:
      - { label: pc, traces: [${rel(PC)}] }
      - { label: microvm, traces: [${rel(MICROVM)}] }
  - kind: scaling
    output: scaling.svg
    value: kernel
    x: { from: order, label: run }
    groups:
      - { label: both, traces: [${rel(PC)}, ${rel(MICROVM)}] }
`;

const noXmllint = requireOrSkip(hasCommand('xmllint'), 'xmllint (apt-get install -y libxml2-utils)');
const noRsvg = requireOrSkip(hasCommand('rsvg-convert'), 'rsvg-convert (apt-get install -y librsvg2-bin)');

describe('hvscope figure on the fixtures', () => {
  it('writes every figure; --json carries the numbers, equal to the recordings phases', async () => {
    const spec = writeSpec('fixtures.yaml', SPEC);
    const out = join(work, 'out');
    const { stdout, stderr, exitCode } = await hvscopeFigure([spec, '-o', out, '--json']);
    expect(stderr).toBe('');
    expect(exitCode).toBeUndefined();
    expect(readdirSync(out).sort()).toEqual(['cdf.svg', 'phases.svg', 'scaling.svg']);
    const json = JSON.parse(stdout) as { figures: { kind: string; svg: string; data: any }[] };
    expect(json.figures.map((f) => [f.kind, f.svg])).toEqual([
      ['stacked-bars', join(out, 'phases.svg')],
      ['cdf', join(out, 'cdf.svg')],
      ['scaling', join(out, 'scaling.svg')],
    ]);

    // Bars in spec order (microvm first), one segment per phase of the recording, stacked.
    const bars = json.figures[0].data.bars as { label: string; segments: { phase: string; median_ns: number }[]; stack_ns: number }[];
    expect(bars.map((b) => b.label)).toEqual(['microvm', 'pc']);
    for (const [bar, dir] of [[bars[0], MICROVM], [bars[1], PC]] as const) {
      const lane = laneDurations(dir);
      expect(Object.fromEntries(bar.segments.map((s) => [s.phase, s.median_ns]))).toEqual(lane);
      const report = buildReport(readRuns([dir]));
      expect(bar.segments.map((s) => s.median_ns)).toEqual(report.runs[0].phases.map((p) => p.duration_ns));
    }
    // The recordings: kernel dominates on both, pc boots slower than microvm (fixtures/README.md).
    expect(bars[1].stack_ns).toBeGreaterThan(bars[0].stack_ns);

    const cdf = json.figures[1].data.series as { label: string; points: { ns: number; fraction: number }[] }[];
    expect(cdf.map((s) => s.label)).toEqual(['pc', 'microvm']);
    expect(cdf[0].points).toEqual([expect.objectContaining({ ns: buildReport(readRuns([PC])).runs[0].total_ns, fraction: 1 })]);

    const scaling = json.figures[2].data.series[0].points as { x: number; y_ns: number }[];
    expect(scaling).toEqual([
      expect.objectContaining({ x: 0, y_ns: laneDurations(PC).kernel }),
      expect.objectContaining({ x: 1, y_ns: laneDurations(MICROVM).kernel }),
    ]);

    for (const f of ['phases.svg', 'cdf.svg', 'scaling.svg']) {
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg).not.toContain('<script');
      expect(svg).toMatch(f === 'cdf.svg' ? /width="7.16in"/ : /width="3.5in"/);
    }
  });

  it.skipIf(noXmllint)('every SVG passes xmllint', async () => {
    const out = join(work, 'lint');
    const { exitCode } = await hvscopeFigure([writeSpec('lint.yaml', SPEC), '-o', out]);
    expect(exitCode).toBeUndefined();
    for (const f of readdirSync(out)) await execa('xmllint', ['--noout', join(out, f)]);
  });

  it('is deterministic: the same spec gives byte-identical files', async () => {
    const spec = writeSpec('twice.yaml', SPEC);
    await hvscopeFigure([spec, '-o', join(work, 'a')]);
    await hvscopeFigure([spec, '-o', join(work, 'b')]);
    for (const f of ['phases.svg', 'cdf.svg', 'scaling.svg']) expect(readFileSync(join(work, 'a', f), 'utf8')).toBe(readFileSync(join(work, 'b', f), 'utf8'));
  });

  it('without -o, figures go beside the spec; progress on stderr says where', async () => {
    const spec = writeSpec('beside.yaml', SPEC.replace('output: phases.svg', 'output: beside/phases.svg').replace('output: cdf.svg', 'output: beside/cdf.svg').replace('output: scaling.svg', 'output: beside/scaling.svg'));
    const { stderr, exitCode } = await hvscopeFigure([spec]);
    expect(exitCode).toBeUndefined();
    expect(existsSync(join(work, 'beside/phases.svg'))).toBe(true);
    expect(stderr).toContain(`hvscope: wrote ${join(work, 'beside/phases.svg')}`);
  });

  it.skipIf(noRsvg)('--pdf writes a PDF next to each SVG', async () => {
    const out = join(work, 'pdf');
    const { exitCode, stderr } = await hvscopeFigure([writeSpec('pdf.yaml', SPEC), '-o', out, '--pdf']);
    expect(stderr).not.toContain('internal error');
    expect(exitCode).toBeUndefined();
    for (const f of ['phases', 'cdf', 'scaling']) expect(readFileSync(join(out, `${f}.pdf`)).subarray(0, 5).toString()).toBe('%PDF-');
    expect(readdirSync(out).some((f) => f.includes('.tmp-'))).toBe(false);
  });

  it('--pdf without rsvg-convert says what to install and writes nothing', async () => {
    const emptyPath = mkdtempSync(join(tmpdir(), 'hvscope-empty-path-'));
    const savedPath = process.env.PATH;
    process.env.PATH = emptyPath;
    try {
      const out = join(work, 'nopdf');
      const { exitCode, stderr } = await hvscopeFigure([writeSpec('nopdf.yaml', SPEC), '-o', out, '--pdf']);
      expect(exitCode).toBe(1);
      expect(stderr).toBe('hvscope: --pdf needs rsvg-convert, which is not installed (Debian: apt-get install -y librsvg2-bin); without --pdf the SVGs are written\n');
      expect(existsSync(out)).toBe(false);
    } finally {
      process.env.PATH = savedPath;
      rmSync(emptyPath, { recursive: true, force: true });
    }
  });

  it('a bad spec: one line naming file and line, exit 1, nothing written', async () => {
    const spec = writeSpec('bad.yaml', SPEC.replace('kind: cdf', 'kind: cfd'));
    const out = join(work, 'bad');
    const { exitCode, stderr, stdout } = await hvscopeFigure([spec, '-o', out, '--json']);
    expect(exitCode).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`hvscope: ${spec}:9: figures.1.kind: unknown kind "cfd" (did you mean "cdf"?)\n`);
    expect(existsSync(out)).toBe(false);
    const missing = writeSpec('missing.yaml', SPEC.replace(`${rel(PC)}/run.hvtrace.json`, 'nowhere/run.hvtrace.json'));
    const r = await hvscopeFigure([missing, '-o', out]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^hvscope: ${missing}:8: figures\\.0\\.groups\\.1\\.traces\\.0: no such file or directory: nowhere/run\\.hvtrace\\.json .*\\n$`));
  });
});

describe('docs/figures example', () => {
  it('the committed SVGs are what the example spec renders today', async () => {
    const out = join(work, 'docs');
    const { exitCode } = await hvscopeFigure([join(repo, 'docs/figures/boot-by-machine.yaml'), '-o', out]);
    expect(exitCode).toBeUndefined();
    const written = readdirSync(out).sort();
    expect(written.length).toBeGreaterThan(0);
    for (const f of written) expect(readFileSync(join(out, f), 'utf8'), `docs/figures/${f} is stale: re-render it`).toBe(readFileSync(join(repo, 'docs/figures', f), 'utf8'));
  });
});
