// What a search leaves: the found profile (YAML that includes the starting profile and sets
// only the kept settings, each with its measured gain, interval and n in a comment and its
// `why`), and the report (text and JSON) of every decided change.
import { basename } from 'node:path';
import { formatDuration } from '../../model/duration.js';
import type { SettingValue } from '../knob.js';
import { changeKey, knobName, settingsOf, showValue, type Change } from './candidates.js';
import type { Decision, Verdict } from './decide.js';
import type { SearchSpec } from './log.js';

export interface Decided {
  change: Change;
  decision: Decision;
  kept: boolean;
  /** 0 or absent: first pass; N: Nth refinement round (refine.ts). */
  round?: number;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** "ready 5.2 s → 3.6 s (× 0.69 [0.55, 0.81] at 95%, n 4+4)" */
export function measuredText(d: Decision, objective: string): string {
  if (d.ratio === undefined || d.baseMedianNs === undefined || d.candMedianNs === undefined) return d.why ?? d.verdict;
  const [lo, hi] = d.ratioInterval ?? [NaN, NaN];
  // p90: the runs' 90th percentiles are shown; the decision is the same rank test over all runs.
  const p90 = objective === 'p90' && d.baseP90Ns !== undefined && d.candP90Ns !== undefined ? `, p90 ${formatDuration(d.baseP90Ns)} → ${formatDuration(d.candP90Ns)}` : '';
  const what = objective === 'p90' ? 'ready median' : objective;
  return `${what} ${formatDuration(d.baseMedianNs)} → ${formatDuration(d.candMedianNs)}${p90} (× ${r3(d.ratio)} [${r3(lo)}, ${r3(hi)}] at ${pct(d.confidence)}, n ${d.nBase}+${d.nCand})`;
}

/** A scalar as YAML (JSON's double-quoted strings are YAML). */
function yamlScalar(v: SettingValue | string): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => yamlScalar(String(x))).join(', ')}]`; // a flow sequence
  if (typeof v === 'string') return /^[A-Za-z0-9_.\/-]+$/.test(v) && !/^(true|false|null|yes|no|on|off|~|[0-9.]+)$/i.test(v) ? v : JSON.stringify(v);
  return String(v);
}

/** Profile name from the output file (a profile's name must equal its basename). */
export const profileNameOf = (file: string): string => basename(file).replace(/\.ya?ml$/i, '');

export interface ProfileText {
  file: string;
  /** The include entry: a shipped name, or an absolute path. */
  include: string;
  spec: SearchSpec;
  kept: { change: Change; decision: Decision }[];
  date?: string;
}

/** The found profile as YAML text: include the start, then each kept setting with its measurement. */
export function profileYaml(p: ProfileText): string {
  const lines = [
    `# Found by \`hvscope tune optimize\` on ${p.date ?? new Date().toISOString()}: workload ${p.spec.workload}, objective ${p.spec.objective},`,
    `# confidence ${p.spec.confidence}, ${p.spec.runsPerCandidate} alternating pairs per candidate (${p.spec.refineRounds ?? 0} refinement round(s) with more). Each setting below was kept because`,
    `# it made the objective better than the best profile before it, measured side by side on this host;`,
    `# its comment gives the medians, the ratio with its bootstrap interval, and n (runs per arm).`,
    `name: ${profileNameOf(p.file)}`,
    `summary: ${yamlScalar(`${p.include} plus ${p.kept.length} setting${p.kept.length === 1 ? '' : 's'} kept by a measured search (${p.spec.workload}, objective ${p.spec.objective})`)}`,
    'include:',
    `  - ${yamlScalar(p.include)}`,
  ];
  // One entry per setting (a change with what it brings along writes several); a later one of a knob replaces an earlier.
  const settings = p.kept.flatMap((k) => settingsOf(k.change).map((st) => ({ change: { target: st.target, path: st.path, value: st.value, about: st.about }, decision: k.decision })));
  const last = new Map(settings.map((k) => [knobName(k.change), k]));
  const byTarget = new Map<string, { change: Change; decision: Decision }[]>();
  for (const k of last.values()) byTarget.set(k.change.target, [...(byTarget.get(k.change.target) ?? []), k]);
  for (const [target, kept] of byTarget) {
    lines.push('', `${target}:`);
    // Group by the path's parent (kernel-params: { quiet: … }).
    const groups = new Map<string, { change: Change; decision: Decision }[]>();
    for (const k of kept) {
      const parent = k.change.path.slice(0, -1).join('\0');
      groups.set(parent, [...(groups.get(parent) ?? []), k]);
    }
    for (const [parent, items] of groups) {
      const depth = parent === '' ? 0 : parent.split('\0').length;
      if (depth > 0) parent.split('\0').forEach((key, i) => lines.push(`${'  '.repeat(i + 1)}${key}:`));
      const pad = '  '.repeat(depth + 1);
      for (const { change, decision } of items) {
        const measured = measuredText(decision, p.spec.objective);
        lines.push(`${pad}# measured: ${measured}`);
        lines.push(`${pad}${change.path[change.path.length - 1]}:`);
        lines.push(`${pad}  value: ${yamlScalar(change.value)}`);
        lines.push(`${pad}  why: ${JSON.stringify(`${change.about}. Kept by tune optimize: ${measured}`)}`);
        lines.push(`${pad}  source: ${JSON.stringify(`measured by hvscope tune optimize (${p.spec.workload}), search log beside this file`)}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface ReportRow {
  knob: string;
  change: string;
  value: SettingValue;
  verdict: Verdict;
  kept: boolean;
  measured: string;
  decision: Decision;
  /** 0: first pass; N: the Nth refinement round re-measured it with more pairs. */
  round: number;
}

export interface OptimizeReport {
  spec: SearchSpec;
  profile: string;
  log: string;
  figure?: string;
  traces: string;
  stopped: string;
  elapsedMs: number;
  kept: ReportRow[];
  worse: ReportRow[];
  noDifference: ReportRow[];
  broken: ReportRow[];
  invalid: ReportRow[];
  /** Changes that could still be tried when the search stopped. */
  untried: string[];
}

export function buildReport(args: Omit<OptimizeReport, 'kept' | 'worse' | 'noDifference' | 'broken' | 'invalid'> & { decided: Decided[] }): OptimizeReport {
  const rows = args.decided.map(
    (d): ReportRow => ({ knob: knobName(d.change), change: changeKey(d.change), value: d.change.value, verdict: d.decision.verdict, kept: d.kept, measured: measuredText(d.decision, args.spec.objective), decision: d.decision, round: d.round ?? 0 }),
  );
  const { decided: _d, ...rest } = args;
  return {
    ...rest,
    kept: rows.filter((r) => r.kept),
    worse: rows.filter((r) => r.verdict === 'worse'),
    noDifference: rows.filter((r) => r.verdict === 'no difference' || (r.verdict === 'better' && !r.kept)),
    broken: rows.filter((r) => r.verdict === 'broken'),
    invalid: rows.filter((r) => r.verdict === 'invalid'),
  };
}

export function reportText(r: OptimizeReport): string {
  const out = [
    `tune optimize: ${r.spec.workload} from ${r.spec.from}, objective ${r.spec.objective}, confidence ${r.spec.confidence}; stopped: ${r.stopped} after ${Math.round(r.elapsedMs / 1000)} s of runs`,
    `profile: ${r.profile}`,
    `search log: ${r.log} (resume with --resume)`,
    `traces: ${r.traces}`,
    ...(r.figure ? [`figure: ${r.figure}`] : []),
  ];
  const section = (title: string, rows: ReportRow[]) => {
    out.push('', `${title} (${rows.length}):`);
    if (rows.length === 0) out.push('  none');
    for (const row of rows) out.push(`  ${`${row.change}${row.round > 0 ? ` [refine ${row.round}]` : ''}`.padEnd(40)} ${row.measured}`);
  };
  section('kept (better)', r.kept);
  section('worse', r.worse);
  section('no difference resolved', r.noDifference);
  section('broken (did not boot or reach ready)', r.broken);
  if (r.invalid.length > 0) section('invalid (profile rejected)', r.invalid);
  const refined = [...r.kept, ...r.worse, ...r.noDifference, ...r.broken].filter((row) => row.round > 0);
  if (refined.length > 0)
    out.push('', `refinement (${r.spec.refineRounds ?? 0} round(s)): ${new Set(refined.map((row) => row.change)).size} unresolved change(s) that a measurement favoured were measured again with more pairs (${refined.length} re-measurement(s), marked [refine N]); ${refined.filter((row) => row.kept).length} kept.`);
  if (r.untried.length > 0) out.push('', `not tried (${r.untried.length}): ${r.untried.join(', ')}`);
  return `${out.join('\n')}\n`;
}

export { showValue };
