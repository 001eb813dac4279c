// Ingest benchmarks (#14), each measurement in its own child process (bench/run.ts), so
// peak RSS is that reader's alone:
// - ingest-1M-events: readTrace of a synthetic 1,000,000-event trace (bench/synthetic.ts),
//   the streamed reader (src/model/trace-stream.ts) beside the whole-file reader it falls
//   back to, alternating, in one run; and where the streamed reader's time goes (a CPU
//   profile of one more read, self time by function).
// - ingest-bpftrace-real: `hvscope import --from bpftrace` of a real recording
//   (fixtures/bpftrace-exec-busy: probes/exec.bt around a minute of short-lived processes):
//   events parsed and built per second in-process, and the whole command's wall time.
// Wall time is what the goal is about; CPU time is given too, since the host is shared.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { median } from '../src/analysis/stats.js';
import { parseJsonText, readTrace, validateTrace, writeTrace } from '../src/model/io.js';
import { readInputText } from '../src/model/input.js';
import { importFileAs } from '../src/sources/index.js';
import type { Figure, Measurement, Result } from './figures.js';
import { syntheticTrace } from './synthetic.js';

const REPO = resolve(import.meta.dirname, '../..');
const BPFTRACE_FIXTURE = 'fixtures/bpftrace-exec-busy/exec-busy.ndjson.xz';
const ONE_MILLION = 1_000_000;
const ROUNDS = 3;
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Wall and CPU time of fn, ms. */
function timed<T>(fn: () => T): { value: T; wallMs: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = fn();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { value, wallMs: round1(wallMs), cpuMs: round1((used.user + used.system) / 1000) };
}

/** Self time by function of a CPU profile, the largest first, as "name (file): N%". */
async function whereTimeGoes(fn: () => unknown, top = 6): Promise<string[]> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  fn();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const self = new Map<string, number>();
  const hits = new Map<number, number>();
  for (let i = 0; i < profile.samples!.length; i++) hits.set(profile.samples![i], (hits.get(profile.samples![i]) ?? 0) + (profile.timeDeltas![i] ?? 0));
  for (const node of profile.nodes) {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'}${f.url ? ` (${f.url.split('/').slice(-2).join('/')})` : ''}`;
    self.set(name, (self.get(name) ?? 0) + (hits.get(node.id) ?? 0));
  }
  // The profiler's own dispatch and idle time are not the reader's.
  for (const name of ['dispatch', '(idle)', '(program)', '(root)']) self.delete(name);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `${name}: ${Math.round((100 * us) / total)}%`);
}

/** readTrace (streamed, falling back to whole-file) or the whole-file reader alone. */
const readers: Record<string, (file: string) => ReturnType<typeof readTrace>> = {
  streamed: readTrace,
  'whole-file': (file) => validateTrace(parseJsonText(readInputText(file, 'trace'), file), file),
};

export const readTraceMeasurement: Measurement = async (p): Promise<Result> => {
  const file = String(p.file);
  const read = readers[String(p.reader)];
  if (p.profile) return { where_time_goes: await whereTimeGoes(() => read(file)) };
  const { value: trace, wallMs, cpuMs } = timed(() => read(file));
  const events = trace.spans.length + trace.instants.length + trace.counters.length;
  return { events, file_mb: mb(statSync(file).size), wall_ms: wallMs, cpu_ms: cpuMs, events_per_s: Math.round(events / (wallMs / 1000)) };
};

export const importBpftraceMeasurement: Measurement = async (p): Promise<Result> => {
  const file = String(p.file);
  const run = () => importFileAs(file, 'bpftrace').trace;
  if (p.profile) return { where_time_goes: await whereTimeGoes(run) };
  const { value: trace, wallMs, cpuMs } = timed(run);
  const events = Number(p.events);
  return {
    events,
    spans: trace.spans.length,
    file_mb: mb(statSync(file).size),
    wall_ms: wallMs,
    cpu_ms: cpuMs,
    events_per_s: Math.round(events / (wallMs / 1000)),
  };
};

const pick = (r: Result, keys: string[]) => Object.fromEntries(keys.filter((k) => k in r).map((k) => [k, r[k]]));
const medianOf = (rs: Result[], key: string) => (rs.length > 0 ? median(rs.map((r) => Number(r[key]))) : null);

const ingest1M: Figure = {
  name: 'ingest-1M-events',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-bench-ingest-'));
    try {
      const file = join(dir, 'synthetic-1M.hvtrace.json');
      // 6 phase spans + 899,994 thread spans + 100,000 instants = 1,000,000 events.
      writeTrace(file, syntheticTrace({ spans: ONE_MILLION - 100_000 - 6, instants: 100_000, seed: 3 }));
      const runs: Record<string, Result[]> = { streamed: [], 'whole-file': [] };
      let failed: string | undefined;
      // Alternate the readers so that both see the same load; measure() caches by params, so each round is its own.
      for (let round = 0; round < ROUNDS && !failed; round++)
        for (const reader of ['streamed', 'whole-file']) {
          const out = await ctx.measure('read-trace', { file, reader, round }, Math.min(120_000, ctx.remainingMs()));
          if (out.ok) runs[reader].push(out.result);
          else failed = `${reader}: ${out.failure ?? 'failed'}`;
        }
      const profile = await ctx.measure('read-trace', { file, reader: 'streamed', profile: true }, Math.min(120_000, ctx.remainingMs()));
      const summary = (rs: Result[]) => ({
        wall_ms: medianOf(rs, 'wall_ms'),
        cpu_ms: medianOf(rs, 'cpu_ms'),
        events_per_s: medianOf(rs, 'events_per_s'),
        peak_rss_mb: rs.length > 0 ? Math.max(...rs.map((r) => Number(r.peak_rss_mb))) : null,
      });
      const streamed = summary(runs.streamed);
      const whole = summary(runs['whole-file']);
      const events = runs.streamed[0]?.events ?? null;
      return {
        data: 'synthetic',
        ...(runs.streamed[0] ? pick(runs.streamed[0], ['events', 'file_mb']) : {}),
        rounds: ROUNDS,
        ...streamed,
        events_per_cpu_s: streamed.cpu_ms && events ? Math.round(Number(events) / (streamed.cpu_ms / 1000)) : null,
        whole_file_reader: whole,
        ratio_whole_over_streamed: { wall: whole.wall_ms && streamed.wall_ms ? round1(whole.wall_ms / streamed.wall_ms) : null, rss: whole.peak_rss_mb && streamed.peak_rss_mb ? round1(whole.peak_rss_mb / streamed.peak_rss_mb) : null },
        where_time_goes: profile.ok ? profile.result.where_time_goes : (profile.failure ?? 'failed'),
        // Self time: JSON.parse runs inside itemBlock, the items it builds are what the collector copies.
        where_time_goes_note: 'itemBlock = JSON.parse of 64 KiB of item lines; spanOk/checkSchemaV2 = schema checks; validateTrace = lane and order checks',
        goal: { events_per_s: 1_500_000, peak_rss_mb: 250 },
        ...(failed ? { failed } : {}),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

const ingestBpftrace: Figure = {
  name: 'ingest-bpftrace-real',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-bench-bpftrace-'));
    try {
      const file = join(dir, 'exec-busy.ndjson');
      writeFileSync(file, execFileSync('xz', ['-dc', join(REPO, BPFTRACE_FIXTURE)], { maxBuffer: 1 << 30 }));
      const text = readInputText(file, 'bpftrace file');
      // Printf lines carry one event each (a message may carry several: count their lines).
      let events = 0;
      for (const line of text.split('\n')) if (line.startsWith('{"type": "printf"')) events += (JSON.parse(line).data as string).split('\n').filter(Boolean).length;
      const runs: Result[] = [];
      let failed: string | undefined;
      for (let round = 0; round < ROUNDS && !failed; round++) {
        const out = await ctx.measure('import-bpftrace', { file, events, round }, Math.min(120_000, ctx.remainingMs()));
        if (out.ok) runs.push(out.result);
        else failed = out.failure ?? 'failed';
      }
      const profile = await ctx.measure('import-bpftrace', { file, events, profile: true }, Math.min(120_000, ctx.remainingMs()));
      // The whole command, start-up and writing the trace included.
      const cliMs: number[] = [];
      for (let round = 0; round < ROUNDS && ctx.remainingMs() > 60_000; round++) {
        const started = performance.now();
        await execa(process.execPath, [join(REPO, 'bin/hvscope'), 'import', '--from', 'bpftrace', file, '-o', join(dir, 'out.hvtrace.json')], { cwd: REPO, stdin: 'ignore' });
        cliMs.push(performance.now() - started);
      }
      return {
        data: `real: ${BPFTRACE_FIXTURE}`,
        events,
        ...(runs[0] ? pick(runs[0], ['spans', 'file_mb']) : {}),
        rounds: ROUNDS,
        wall_ms: medianOf(runs, 'wall_ms'),
        cpu_ms: medianOf(runs, 'cpu_ms'),
        events_per_s: medianOf(runs, 'events_per_s'),
        peak_rss_mb: runs.length > 0 ? Math.max(...runs.map((r) => Number(r.peak_rss_mb))) : null,
        cli_import_wall_ms: cliMs.length > 0 ? Math.round(median(cliMs)) : null,
        where_time_goes: profile.ok ? profile.result.where_time_goes : (profile.failure ?? 'failed'),
        ...(failed ? { failed } : {}),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export const ingestMeasurements: Record<string, Measurement> = { 'read-trace': readTraceMeasurement, 'import-bpftrace': importBpftraceMeasurement };
export const ingestFigures: Figure[] = [ingest1M, ingestBpftrace];
