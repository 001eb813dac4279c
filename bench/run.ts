// `npm run bench`: one JSON line per figure on stdout (progress on stderr).
//   node dist/bench/run.js [FIGURE...]        run all figures, or the named ones
//   node dist/bench/run.js --measure NAME JSON (internal: one measurement in this process)
// Each measurement runs in its own child process, which reports its peak RSS from
// process.resourceUsage().maxRSS, so figures never pollute each other's memory numbers.
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { figures, measurements, type BenchContext, type MeasureOutcome, type Result } from './figures.js';

/**
 * The whole bench should stay under about twenty-five minutes: render figures (~3.5 min),
 * probe effect (~5 min), the Xen lab's stock-vs-tuned cycles (a few minutes) and the
 * linux guest's boots per QEMU profile (~7 min); tune-optimize's confirmation boots of the profile
 * `tune optimize` found (~5–10 min) come after them, within what is left; tune-optimize-xen's Xen
 * lab cycles (6 of three profiles, ~20 min) come last and say so when the budget has run out.
 */
const BENCH_BUDGET_MS = 1_500_000;
const RESULT_PREFIX = 'BENCH-RESULT ';

async function child(name: string, paramsJson: string): Promise<void> {
  const measurement = measurements[name];
  if (!measurement) throw new Error(`unknown measurement ${name}`);
  const result = await measurement(JSON.parse(paramsJson) as Result);
  // maxRSS is in kilobytes.
  const peak = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ ...result, peak_rss_mb: peak })}\n`);
}

async function parent(selected: string[]): Promise<void> {
  const started = Date.now();
  const cache = new Map<string, MeasureOutcome>();
  const self = fileURLToPath(import.meta.url);
  const ctx: BenchContext = {
    remainingMs: () => BENCH_BUDGET_MS - (Date.now() - started),
    async measure(name, params, timeoutMs) {
      const key = `${name} ${JSON.stringify(params)}`;
      const cached = cache.get(key);
      if (cached) return cached;
      process.stderr.write(`bench: ${key} (limit ${Math.round(timeoutMs / 1000)} s)\n`);
      let outcome: MeasureOutcome;
      if (timeoutMs <= 0) outcome = { ok: false, result: {}, failure: 'no time left in the bench budget' };
      else {
        const proc = await execa(process.execPath, ['--max-old-space-size=8192', self, '--measure', name, JSON.stringify(params)], {
          timeout: timeoutMs,
          reject: false,
          stdin: 'ignore',
        });
        const line = proc.stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
        if (line) outcome = { ok: true, result: JSON.parse(line.slice(RESULT_PREFIX.length)) as Result };
        else {
          const why = proc.timedOut
            ? `timeout after ${timeoutMs} ms`
            : (proc.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${proc.exitCode ?? proc.signal}`);
          outcome = { ok: false, result: {}, failure: why };
        }
      }
      cache.set(key, outcome);
      return outcome;
    },
  };
  const unknown = selected.filter((s) => !figures.some((f) => f.name === s));
  if (unknown.length > 0) throw new Error(`unknown figure(s) ${unknown.join(', ')}; known: ${figures.map((f) => f.name).join(', ')}`);
  for (const figure of figures) {
    if (selected.length > 0 && !selected.includes(figure.name)) continue;
    const result = await figure.run(ctx);
    process.stdout.write(`${JSON.stringify({ figure: figure.name, ...result })}\n`);
  }
  process.stderr.write(`bench: done in ${Math.round((Date.now() - started) / 1000)} s\n`);
}

const args = process.argv.slice(2);
const main = args[0] === '--measure' ? child(args[1], args[2] ?? '{}') : parent(args);
main.catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
