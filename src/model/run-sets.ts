// A set of runs named on the command line (`hvscope diff A B`):
// - a trace file: one run;
// - a directory of runs: its *.hvtrace.json files (`hvscope boot -o DIR` with one profile);
// - an output with one directory of runs per profile (`hvscope lab xen run -o DIR`,
//   `hvscope boot -o DIR` with several profiles): DIR:PROFILE picks one, by profile name
//   or directory name; DIR alone is fine when it holds one profile. The profiles' order
//   is report.json's (`profiles[].dir`, the order they were given) when there is one.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readInputText } from './input.js';
import { join } from 'node:path';
import { UserError } from './errors.js';
import { TRACE_SUFFIX, readRuns } from './io.js';
import type { Run } from './trace.js';

export interface RunSet {
  /** How the set was named, e.g. `lab-out:xen-stock`. */
  label: string;
  /** The directory or file the runs came from. */
  path: string;
  /** The profile the runs were made with, when they say (meta.profile) or the output does. */
  profile?: string;
  runs: Run[];
}

export interface ProfileDir {
  /** Profile name (from report.json or the traces' meta.profile), else the directory name. */
  profile: string;
  dir: string;
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};
const holdsTraces = (dir: string) => readdirSync(dir).some((n) => n.endsWith(TRACE_SUFFIX));

/** report.json's profile order, when the output has one that lists them. */
function reportOrder(dir: string): { profile: string; dir: string }[] {
  const file = join(dir, 'report.json');
  if (!existsSync(file)) return [];
  try {
    const report = JSON.parse(readInputText(file, 'report')) as { profiles?: unknown };
    if (!Array.isArray(report.profiles)) return [];
    return report.profiles.filter((p): p is { profile: string; dir: string } => typeof p?.profile === 'string' && typeof p?.dir === 'string');
  } catch {
    return []; // a report we cannot read only costs the order
  }
}

/** The per-profile run directories of an output directory, in the order they were run when known. */
export function profileDirs(dir: string): ProfileDir[] {
  const subdirs = readdirSync(dir)
    .filter((n) => isDir(join(dir, n)) && holdsTraces(join(dir, n)))
    .sort();
  const order = reportOrder(dir);
  const rank = (n: string) => {
    const i = order.findIndex((o) => o.dir === n);
    return i < 0 ? order.length : i;
  };
  return subdirs
    .sort((x, y) => rank(x) - rank(y))
    .map((n) => ({ dir: n, profile: order.find((o) => o.dir === n)?.profile ?? firstProfile(join(dir, n)) ?? n }));
}

function firstProfile(dir: string): string | undefined {
  const first = readdirSync(dir).filter((n) => n.endsWith(TRACE_SUFFIX)).sort()[0];
  if (!first) return undefined;
  try {
    const meta = (JSON.parse(readInputText(join(dir, first), 'trace')) as { meta?: { profile?: unknown } }).meta;
    return typeof meta?.profile === 'string' ? meta.profile : undefined;
  } catch {
    return undefined; // readRuns reports it properly when the set is read
  }
}

/** The one profile the runs share (meta.profile), if they do. */
function sharedProfile(runs: Run[]): string | undefined {
  const profiles = new Set(runs.map((r) => r.trace.meta.profile));
  const [only] = profiles;
  return profiles.size === 1 && only !== undefined ? only : undefined;
}

function profileList(profiles: ProfileDir[]): string {
  return profiles.map((p) => (p.profile === p.dir ? p.profile : `${p.profile} (${p.dir}/)`)).join(', ');
}

/** Reads what `spec` names (see the file comment). UserError naming the path on anything missing or ambiguous. */
export function readRunSet(spec: string): RunSet {
  if (spec === '') throw new UserError('empty run set: give a trace, a directory of runs or DIR:PROFILE');
  let path = spec;
  let wanted: string | undefined;
  if (!existsSync(spec)) {
    const colon = spec.lastIndexOf(':');
    if (colon <= 0 || !existsSync(spec.slice(0, colon))) throw new UserError(`${spec}: no such file or directory`);
    path = spec.slice(0, colon);
    wanted = spec.slice(colon + 1);
    if (!isDir(path)) throw new UserError(`${spec}: ${path} is a file; :PROFILE picks a profile of an output directory`);
  }
  if (!isDir(path)) {
    const runs = readRuns([path]);
    return { label: spec, path, profile: sharedProfile(runs), runs };
  }
  if (wanted === undefined && holdsTraces(path)) {
    const runs = readRuns([path]);
    return { label: spec, path, profile: sharedProfile(runs), runs };
  }
  const profiles = profileDirs(path);
  if (profiles.length === 0) throw new UserError(`${path}: holds no *${TRACE_SUFFIX} files, nor directories of them (one per profile)`);
  if (wanted === undefined) {
    if (profiles.length > 1) throw new UserError(`${path}: holds runs of ${profiles.length} profiles (${profileList(profiles)}); pick one as ${path}:PROFILE`);
    wanted = profiles[0].profile;
  }
  const match = profiles.find((p) => p.profile === wanted) ?? profiles.find((p) => p.dir === wanted);
  if (!match) throw new UserError(`${spec}: no profile ${JSON.stringify(wanted)} in ${path}; it holds ${profileList(profiles)}`);
  const dir = join(path, match.dir);
  const runs = readRuns([dir]);
  return { label: `${path.replace(/\/+$/, '')}:${match.profile}`, path: dir, profile: sharedProfile(runs) ?? match.profile, runs };
}
