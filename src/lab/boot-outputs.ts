// What `hvscope boot` writes besides the traces: DIR/report.txt and report.json — one
// report, or with several profiles one per profile in the lab's layout
// ({ profiles: [{ profile, dir, report }] }, which `hvscope diff DIR:PROFILE` reads) — and
// the diffs of the first profile against each other (profile-diffs.ts).
import { basename, join } from 'node:path';
import { formatReportText } from '../analysis/report.js';
import { writeFileAtomic } from '../model/io.js';
import type { BootGroup, BootPlan } from './boot-series.js';
import { writeProfileDiffs, type ProfileDiffs } from './profile-diffs.js';

/** Directory names for the profiles (several): the name made safe, `-2`, `-3` … for one given again. */
export function profileDirNames(profiles: string[]): string[] {
  const seen = new Map<string, number>();
  return profiles.map((p) => {
    const base = basename(p).replace(/\.ya?ml$/, '').replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'profile';
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}

/** DIR/report.txt and report.json (one report, or one per profile as the lab writes them), and with several profiles the diffs. */
export function writeBootReports(outDir: string, groups: BootGroup[], plans: BootPlan[]): { reportText: string; reportJson: string; diffs?: ProfileDiffs } {
  const reportText = join(outDir, 'report.txt');
  const reportJson = join(outDir, 'report.json');
  if (groups.length === 1) {
    if (groups[0].runs.length > 0) {
      writeFileAtomic(reportText, formatReportText(groups[0].report));
      writeFileAtomic(reportJson, JSON.stringify(groups[0].report, null, 2) + '\n');
    }
    return { reportText, reportJson };
  }
  const named = groups.map((g, i) => ({ profile: g.profile ?? 'qemu defaults', dir: plans[i].group!, group: g }));
  writeFileAtomic(reportText, named.map((n) => `== ${n.dir} ==\n${formatReportText(n.group.report)}`).join('\n'));
  writeFileAtomic(reportJson, JSON.stringify({ profiles: named.map((n) => ({ profile: n.profile, dir: n.dir, report: n.group.report })) }, null, 2) + '\n');
  const diffs = writeProfileDiffs(outDir, named.map((n) => ({ profile: n.profile, dir: n.dir, runs: n.group.runs.map((r) => ({ label: r.label, trace: r.trace })) })));
  return { reportText, reportJson, ...(diffs ? { diffs } : {}) };
}
