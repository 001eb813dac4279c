// hvscope tune optimize --workload W --from PROFILE --budget 30m [--confidence C] [--knobs a,b]
//   [--target T] [--objective ready|cpu|PHASE|p90] [--runs-per-candidate N] [--refine-rounds N] [--resume LOG] -o best.yaml [--json]
// Glue only: options → search spec, the search (src/tuning/optimize/search.ts), then the
// found profile, the report and the figure.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError, usageError } from '../model/errors.js';
import { writeFileAtomic } from '../model/io.js';
import { loadProfile, resolveProfileRef } from '../tuning/profile.js';
import { allTargets } from '../tuning/targets/index.js';
import { checkSelection } from '../tuning/optimize/candidates.js';
import { minPairs } from '../tuning/optimize/decide.js';
import { DEFAULT_REFINE_ROUNDS } from '../tuning/optimize/refine.js';
import { searchFigure } from '../tuning/optimize/figure.js';
import { LOG_VERSION, appendLog, readLog, replay, type SearchSpec, type SearchState } from '../tuning/optimize/log.js';
import { buildReport, profileYaml, reportText } from '../tuning/optimize/output.js';
import { includeOf, runSearch } from '../tuning/optimize/search.js';
import { checkObjective, parseWorkload } from '../tuning/optimize/workloads.js';
import { interruptedExitCode, withInterrupts } from '../tracer/session.js';
import { ExitStatus, printJson, progress } from './run-command.js';

export interface OptimizeOptions {
  workload?: string;
  from?: string;
  budget?: string | number;
  confidence?: string | number;
  knobs?: string;
  target?: string;
  objective?: string;
  runsPerCandidate?: string | number;
  refineRounds?: string | number;
  resume?: string;
  output?: string;
  json?: boolean;
}

/** 30m, 90s, 1h, 1h30m, or plain seconds → ms. */
export function parseBudget(text: string): number {
  const t = text.trim();
  if (/^[0-9]+$/.test(t)) return Number(t) * 1000;
  const m = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(t);
  if (!m || t === '' || (!m[1] && !m[2] && !m[3])) throw usageError(`--budget ${text}: expected a duration like 30m, 90s, 1h or 1h30m`);
  const ms = ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
  if (ms <= 0) throw usageError(`--budget ${text}: must be more than zero`);
  return ms;
}

/** --refine-rounds N: 0 (off) to 5; undefined when not given. */
function parseRefineRounds(opts: OptimizeOptions): number | undefined {
  if (opts.refineRounds === undefined) return undefined;
  const n = Number(opts.refineRounds);
  if (!Number.isSafeInteger(n) || n < 0 || n > 5) throw usageError(`--refine-rounds ${opts.refineRounds}: expected a whole number from 0 (no refinement) to 5`);
  return n;
}

function specOf(opts: OptimizeOptions): SearchSpec {
  if (!opts.workload) throw usageError('tune optimize: --workload is required (boot:tiny, boot:linux, boot:PATH, lab-xen:tiny-pv, libvirt:tiny, libvirt:linux, libvirt:PATH, cmd:...)');
  if (!opts.from) throw usageError('tune optimize: --from PROFILE is required (the profile to start from, e.g. qemu-default)');
  if (opts.budget === undefined) throw usageError('tune optimize: --budget is required (e.g. 30m)');
  const confidence = opts.confidence === undefined ? 0.95 : Number(opts.confidence);
  if (!(confidence > 0.5 && confidence < 1)) throw usageError(`--confidence ${opts.confidence}: expected a number between 0.5 and 1, e.g. 0.95`);
  const runs = opts.runsPerCandidate === undefined ? Math.max(4, minPairs(confidence)) : Number(opts.runsPerCandidate);
  if (!Number.isSafeInteger(runs) || runs < minPairs(confidence) || runs > 100)
    throw usageError(`--runs-per-candidate ${opts.runsPerCandidate}: at confidence ${confidence} a decision needs at least ${minPairs(confidence)} pairs (at most 100)`);
  const refineRounds = parseRefineRounds(opts) ?? DEFAULT_REFINE_ROUNDS;
  const objective = String(opts.objective ?? 'ready');
  checkObjective(objective);
  const knobs = opts.knobs === undefined ? undefined : String(opts.knobs).split(',').map((k) => k.trim()).filter(Boolean);
  const from = includeOf(String(opts.from));
  return { workload: String(opts.workload), from, budgetMs: parseBudget(String(opts.budget)), confidence, objective, runsPerCandidate: runs, refineRounds, ...(knobs ? { knobs } : {}), ...(opts.target ? { target: String(opts.target) } : {}) };
}

/** A fresh search (log written) or a resumed one (--resume: the log's options, a new --budget wins). */
function startState(opts: OptimizeOptions, logFile: string): SearchState {
  if (opts.resume !== undefined) {
    const state = replay(readLog(resolve(String(opts.resume))));
    if (opts.budget !== undefined) state.spec.budgetMs = parseBudget(String(opts.budget));
    const refineRounds = parseRefineRounds(opts);
    if (refineRounds !== undefined) state.spec.refineRounds = refineRounds;
    appendLog(logFile, { t: 'resume', at: new Date().toISOString(), budgetMs: state.spec.budgetMs, ...(refineRounds !== undefined ? { refineRounds } : {}) });
    return state;
  }
  const spec = specOf(opts);
  if (existsSync(logFile)) throw new UserError(`${logFile} exists: a search was run into this output before; continue it with --resume ${logFile}, or give another -o`);
  appendLog(logFile, { t: 'start', version: LOG_VERSION, at: new Date().toISOString(), spec });
  return { spec, kept: [], decisions: [], decided: new Set(), elapsedMs: 0 };
}

export async function optimizeCommand(opts: OptimizeOptions): Promise<void> {
  if (!opts.output) throw usageError('tune optimize: -o FILE.yaml is required (the found profile)');
  const outFile = resolve(String(opts.output));
  if (!/\.ya?ml$/i.test(outFile)) throw usageError(`-o ${opts.output}: the found profile is a .yaml file`);
  const outDir = outFile.replace(/\.ya?ml$/i, '.search');
  // Everything checked before anything is written or run.
  const resumed = opts.resume !== undefined ? replay(readLog(resolve(String(opts.resume)))) : undefined;
  const spec = resumed?.spec ?? specOf(opts);
  const workload = parseWorkload(spec.workload);
  if (spec.objective === 'cpu' && !workload.measuresCpu) throw usageError(`--objective cpu: ${spec.workload}'s runs are not hvscope's children, so their CPU time is not measured (boot: and cmd: workloads are)`);
  const from = loadProfile(spec.from.includes('/') ? resolveProfileRef(spec.from) : spec.from, allTargets);
  try {
    workload.check?.(from.sections); // e.g. a QEMU profile for a search through libvirt
  } catch (err) {
    if (err instanceof UserError) throw usageError(`--from ${spec.from}: ${err.message}`);
    throw err;
  }
  checkSelection(allTargets, workload.measurable, spec.knobs, spec.target);
  mkdirSync(outDir, { recursive: true });
  const logFile = opts.resume !== undefined ? resolve(String(opts.resume)) : join(outDir, 'search.jsonl');
  const state = startState(opts, logFile);
  try {
    await searchAndWrite(opts, { spec, workload, state, logFile, outFile, outDir });
  } finally {
    await workload.close?.();
  }
}

interface Searching {
  spec: SearchSpec;
  workload: ReturnType<typeof parseWorkload>;
  state: SearchState;
  logFile: string;
  outFile: string;
  outDir: string;
}

async function searchAndWrite(opts: OptimizeOptions, { spec, workload, state, logFile, outFile, outDir }: Searching): Promise<void> {
  await workload.prepare(progress);
  progress(`tune optimize: ${spec.workload} from ${spec.from}, objective ${spec.objective}, ${spec.runsPerCandidate} pairs per candidate, ${state.spec.refineRounds ?? 0} refinement round(s), confidence ${spec.confidence}, budget ${Math.round(state.spec.budgetMs / 1000)} s (${Math.round(state.elapsedMs / 1000)} s spent); log ${logFile}`);
  const { value: outcome, signal } = await withInterrupts((abort) => runSearch({ workload, targets: allTargets, state, logFile, outDir, signal: abort, progress }));
  appendLog(logFile, { t: 'end', reason: outcome.stopped, at: new Date().toISOString() });
  writeFileAtomic(outFile, profileYaml({ file: outFile, include: includeOf(spec.from), spec: state.spec, kept: state.kept }));
  loadProfile(outFile, allTargets); // what we wrote must load
  const decided = state.decisions.map((d) => ({ change: d.change, decision: d.decision, kept: d.kept, round: d.round }));
  const figure = writeFigure(decided, spec, outDir);
  const report = buildReport({ spec: state.spec, profile: outFile, log: logFile, figure, traces: join(outDir, 'runs'), stopped: outcome.stopped, elapsedMs: state.elapsedMs, untried: outcome.untried, decided });
  writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, null, 1)}\n`);
  writeFileSync(join(outDir, 'report.txt'), reportText(report));
  if (opts.json) printJson(report);
  else process.stdout.write(reportText(report));
  progress(`wrote ${outFile}, ${join(outDir, 'report.txt')}${figure ? `, ${figure}` : ''}`);
  if (signal) {
    progress(`interrupted: continue with hvscope tune optimize --resume ${logFile} -o ${String(opts.output)}`);
    throw new ExitStatus(interruptedExitCode(signal));
  }
}

/** The search figure; a figure that cannot be drawn is said, never fatal (the profile and log are written already). */
function writeFigure(decided: Parameters<typeof searchFigure>[0], spec: SearchSpec, outDir: string): string | undefined {
  try {
    const svg = searchFigure(decided, spec.objective, `tune optimize: ${spec.workload} from ${spec.from}`);
    if (!svg) return undefined;
    writeFileAtomic(join(outDir, 'search.svg'), svg);
    return join(outDir, 'search.svg');
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    progress(`no figure: ${err.message}`);
    return undefined;
  }
}

export const OPTIMIZE_OPTIONS = ['workload', 'from', 'budget', 'confidence', 'knobs', 'target', 'objective', 'runs-per-candidate', 'refine-rounds', 'resume', 'output', 'json'];
