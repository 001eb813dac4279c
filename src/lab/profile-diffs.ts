// What `hvscope lab xen run` and `hvscope boot` with several profiles add at the end:
// the diff (analysis/diff.ts) of the first profile's runs against each other profile's,
// written as DIR/diff.txt, DIR/diff.json and DIR/diff-FIRST-vs-OTHER.svg, and its text
// returned for printing.
import { join } from 'node:path';
import { diffRunSets, representativeRun, type DiffResult } from '../analysis/diff.js';
import { formatDiffText } from '../analysis/diff-text.js';
import { writeFileAtomic } from '../model/io.js';
import type { Run } from '../model/trace.js';
import { renderDiffSvg } from '../render/svg-diff.js';

export interface ProfileRuns {
  profile: string;
  /** Directory name under the output (DIR/<dir>/run-N.hvtrace.json). */
  dir: string;
  runs: Run[];
}

export interface ProfileDiffs {
  diffs: DiffResult[];
  text: string;
  files: string[];
}

/** Diffs the first profile with runs against every other one; undefined with fewer than two such profiles. */
export function writeProfileDiffs(outDir: string, groups: ProfileRuns[]): ProfileDiffs | undefined {
  const withRuns = groups.filter((g) => g.runs.length > 0);
  if (withRuns.length < 2) return undefined;
  const [base, ...others] = withRuns;
  const label = (g: ProfileRuns) => `${outDir.replace(/\/+$/, '')}:${g.dir}`;
  const diffs: DiffResult[] = [];
  const texts: string[] = [];
  const files: string[] = [];
  for (const other of others) {
    const diff = diffRunSets({ label: label(base), profile: base.profile, runs: base.runs }, { label: label(other), profile: other.profile, runs: other.runs });
    diffs.push(diff);
    texts.push(`== diff ${base.dir} → ${other.dir} ==\n${formatDiffText(diff)}`);
    const svg = join(outDir, `diff-${base.dir}-vs-${other.dir}.svg`);
    writeFileAtomic(svg, renderDiffSvg({ diff, runA: representativeRun(base.runs), runB: representativeRun(other.runs) }));
    files.push(svg);
  }
  const text = texts.join('\n');
  writeFileAtomic(join(outDir, 'diff.txt'), text);
  writeFileAtomic(join(outDir, 'diff.json'), JSON.stringify(diffs, null, 2) + '\n');
  files.unshift(join(outDir, 'diff.txt'), join(outDir, 'diff.json'));
  return { diffs, text, files };
}
