// `hvscope diagnose`: rules that explain a slow boot from what a trace shows and point at the fix.
//
// Each rule is a small pure function: one run (per-run rules) or all runs (across-run
// rules) → findings. A rule fires only on evidence the trace carries (phases, console
// lines, process spans, meta) and stays silent otherwise; every number it quotes is
// taken from the trace. Thresholds are named constants below so the text can state them.
import { LIBVIRT_RULES } from './diagnose-libvirt.js';
import { runFacts } from './diagnose-facts.js';
import { acceleratorTcg, firmwareSeabios, lostEvents, probesUnavailable, toolstackDominates } from './diagnose-qemu.js';
import { kernelConsoleGaps, kernelDecompression, tscCalibration } from './diagnose-kernel.js';
import { bridgeForwardDelay, xenAutoballoon, xenHotplug, xenstoreOperations } from './diagnose-xen.js';
import { phaseInSomeRuns, runsSpread } from './diagnose-runs.js';
import type { Run } from '../model/trace.js';
import type { Evidence, Finding, Rule, RuleFinding, RunFacts } from './diagnose-types.js';

// The rules live beside this file by subject (diagnose-qemu, -kernel, -xen, -runs, -libvirt);
// their shapes in diagnose-types, the facts and thresholds they read in diagnose-facts.
export * from './diagnose-types.js';
export {
  BRIDGE_FORWARD_DELAY_NS,
  BRIDGE_SILENCE_MIN_NS,
  CONSOLE_GAPS_SHOWN,
  CONSOLE_GAP_MIN_NS,
  CONSOLE_GAP_MIN_SHARE,
  DECOMPRESSION_MIN_SHARE,
  DOMINANT_SHARE,
  FIRMWARE_MIN_NS,
  FIRMWARE_MIN_SHARE,
  HOTPLUG_MIN_SHARE_OF_DEVICES,
  HOTPLUG_MIN_SHARE_OF_TOTAL,
  SPREAD_MIN_RUNS,
  SPREAD_RATIO,
  XENSTORE_MIN_SHARE,
  consoleLines,
  parseCommand,
  runFacts,

} from './diagnose-facts.js';
export { unionDuration } from './diagnose-xen.js';

/** Every rule, in the order their findings are listed when nothing else orders them. */
export const RULES: readonly Rule[] = [
  lostEvents,
  probesUnavailable,
  phaseInSomeRuns,
  acceleratorTcg,
  toolstackDominates,
  firmwareSeabios,
  kernelDecompression,
  kernelConsoleGaps,
  tscCalibration,
  xenHotplug,
  xenstoreOperations,
  xenAutoballoon,
  bridgeForwardDelay,
  runsSpread,
  ...LIBVIRT_RULES,
];

/**
 * Runs grouped by configuration, in first-seen order: meta.profile, meta.hypervisor, and for
 * `hvscope lab xen run --domains K` traces how many domains were already running (the
 * `xl create` span's running_domains: scaling runs differ by design).
 */
export function configGroups(runs: RunFacts[]): { name: string; runs: RunFacts[] }[] {
  const groups = new Map<string, { name: string; runs: RunFacts[] }>();
  for (const run of runs) {
    const { profile, hypervisor } = run.trace.meta;
    const running = run.trace.spans.find((s) => s.name === 'xl create' && typeof s.args?.running_domains === 'number')?.args?.running_domains;
    const key = `${profile ?? ''}\0${hypervisor ?? ''}\0${running ?? ''}`;
    const name = [
      profile !== undefined ? `profile ${profile}` : 'no profile',
      hypervisor !== undefined ? `on ${hypervisor}` : '',
      running !== undefined ? `with ${running} domains running` : '',
    ]
      .filter(Boolean)
      .join(' ');
    const g = groups.get(key);
    if (g) g.runs.push(run);
    else groups.set(key, { name, runs: [run] });
  }
  return [...groups.values()];
}

/**
 * Runs every rule: per-run rules on each run (findings of one rule with the same fix are
 * merged into one finding with evidence per run), across-run rules once per configuration. Ordered: warnings first;
 * within a severity, trace-quality findings first, then by boot time at stake, then rule order.
 */
export function diagnose(runs: Run[], rules: readonly Rule[] = RULES): Finding[] {
  const facts = runs.map(runFacts);
  const groups = configGroups(facts);
  const findings: (Finding & { order: number })[] = [];
  rules.forEach((rule, order) => {
    // One finding per rule and fix: runs whose evidence calls for the same fix share it, each with its own evidence.
    const merged = new Map<string, Finding & { order: number }>();
    const add = (f: RuleFinding, labels: string[], evidence: Evidence) => {
      const key = `${f.fix.profile ?? ''}\0${f.fix.text}`;
      const m = merged.get(key);
      if (!m) {
        merged.set(key, { ...f, id: rule.id, category: rule.category, runs: [...labels], evidence: [evidence], order });
        return;
      }
      m.runs.push(...labels);
      m.evidence.push(evidence);
      if (f.severity === 'warn') m.severity = 'warn';
      if (f.impact_ns > m.impact_ns) m.impact_ns = f.impact_ns;
    };
    if (rule.scope === 'runs') {
      // Across runs only within one configuration: runs of different profiles differ by design, not by noise.
      for (const g of groups) {
        const f = rule.check(g.runs);
        if (f) add(f, g.runs.map((r) => r.label), { run: null, ...(groups.length > 1 ? { group: g.name } : {}), ...f.evidence });
      }
    } else {
      for (const run of facts) {
        const f = rule.check(run);
        if (f) add(f, [run.label], { run: run.label, ...f.evidence });
      }
    }
    findings.push(...merged.values());
  });
  // A fix whose profile the runs were already made with says so (meta.profile, e.g. from hvscope boot / lab xen run).
  for (const f of findings) {
    if (!f.fix.profile) continue;
    const profiles = f.runs.map((label) => facts.find((r) => r.label === label)?.trace.meta.profile);
    if (profiles.every((p) => p === f.fix.profile)) f.fix = { ...f.fix, text: `${f.fix.text} Note: ${f.runs.length === 1 ? 'this run was' : 'these runs were'} already made with profile ${f.fix.profile}.` };
  }
  const rank = (f: Finding) => (f.severity === 'warn' ? 0 : 1);
  findings.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.category === b.category ? 0 : a.category === 'trace-quality' ? -1 : 1) ||
      b.impact_ns - a.impact_ns ||
      a.order - b.order,
  );
  // Fixed key order, so --json reads id first.
  return findings.map((f) => ({
    id: f.id,
    severity: f.severity,
    category: f.category,
    title: f.title,
    runs: f.runs,
    evidence: f.evidence,
    why: f.why,
    ...(f.source !== undefined ? { source: f.source } : {}),
    fix: f.fix,
    impact_ns: f.impact_ns,
  }));
}

/** Human text: one block per finding, most important first; says so plainly when nothing fired. */
export function formatDiagnosisText(findings: Finding[], runLabels: string[], rules: readonly Rule[] = RULES): string {
  const runsText = `${runLabels.length} run${runLabels.length === 1 ? '' : 's'} (${runLabels.join(', ')})`;
  if (findings.length === 0)
    return `no findings: none of the ${rules.length} rules matched ${runsText}.\nRules checked: ${rules.map((r) => r.id).join(', ')}\n`;
  const out: string[] = [`${findings.length} finding${findings.length === 1 ? '' : 's'} for ${runsText}`];
  const indent = (label: string, text: string) => {
    const pad = ' '.repeat(12);
    return `  ${label.padEnd(10)}${text.split('\n').join(`\n${pad}`)}`;
  };
  for (const f of findings) {
    out.push('');
    out.push(`[${f.severity}] ${f.id}: ${f.title}`);
    for (const e of f.evidence) {
      const prefix = e.run !== null && runLabels.length > 1 ? `${e.run}: ` : e.group !== undefined ? `${e.group}: ` : '';
      e.lines.forEach((line, i) => out.push(indent(i === 0 && e === f.evidence[0] ? 'evidence' : '', `${i === 0 ? prefix : ' '.repeat(prefix.length)}${line}`)));
    }
    out.push(indent('why', f.why));
    if (f.source) out.push(indent('source', f.source));
    const fixParts = [f.fix.text];
    if (f.fix.profile) fixParts.push(`profile: ${f.fix.profile} (hvscope profile show ${f.fix.profile})`);
    if (f.fix.flags && f.fix.flags.length > 0) fixParts.push(`flags: ${f.fix.flags.join('  ')}`);
    out.push(indent('fix', fixParts.join('\n')));
  }
  return out.join('\n') + '\n';
}
