// The Xen lab experiment's record read back: the `KIND key=value ...` lines the dom0 script
// writes to xen-experiment.txt (src/lab/xen/experiment.ts renders that script).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError, fileError } from '../../model/errors.js';
import { XEN_EXPERIMENT_RESULT } from './experiment.js';
import { parseRecordLine } from './record-line.js';

export interface XenRunResult {
  /** Profile index (order given). */
  profile: number;
  /** 1-based creation number within the profile. */
  run: number;
  domain: string;
  /** Domains of this profile already running when it was created (scaling mode), else 0. */
  runningDomains: number;
  createExit: number;
  /** Wall time of `xl create` in dom0 (date +%s%N around it). */
  createNs: number;
  /** From `xl create` start until the marker was seen in the guest's console log; undefined when never. */
  markerNs?: number;
  goneNs?: number;
  /** When the guest counted as ready: its marker, or (no marker) the domain seen running after `xl create`. */
  readyNs?: number;
  /** The experiment destroyed the domain (a --guest PATH that may stay up) rather than it powering off. */
  destroyed?: boolean;
}

export interface XenProfileResult {
  index: number;
  dir: string;
  tuneApply?: { exit: number; ns: number };
  tuneRollback?: { exit: number };
  /** Domains `xl list` showed after the last creation (scaling mode). */
  listedDomains?: number;
}

export interface XenExperimentResult {
  ftrace: boolean;
  /** The untimed warm-up creation, when there was one. */
  warmup?: { exit: number; ns: number };
  profiles: XenProfileResult[];
  runs: XenRunResult[];
  /** The script got to its end (`done` line). */
  finished: boolean;
  failed: boolean;
}

/** Reads xen-experiment.txt; UserError naming the file and line on anything malformed. */
export async function parseXenExperiment(outDir: string): Promise<XenExperimentResult> {
  const file = join(outDir, XEN_EXPERIMENT_RESULT);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(`xen experiment: ${file} is missing (the experiment did not start; see experiment.log)`);
  }
  return parseXenExperimentText(text, file);
}

export function parseXenExperimentText(text: string, file: string): XenExperimentResult {
  const result: XenExperimentResult = { ftrace: false, profiles: [], runs: [], finished: false, failed: false };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const { kind, get, int, str } = parseRecordLine(line, file, i + 1);
    const profile = (): XenProfileResult => {
      const p = result.profiles.find((x) => x.index === int('p'));
      if (!p) throw fileError(file, i + 1, `${kind}: profile ${int('p')} was not announced before`);
      return p;
    };
    switch (kind) {
      case 'ftrace':
        result.ftrace = int('enabled') === 1;
        break;
      case 'warmup':
        result.warmup = { exit: int('exit'), ns: int('ns') };
        break;
      case 'profile':
        result.profiles.push({ index: int('p'), dir: str('dir') });
        break;
      case 'tune_apply':
        profile().tuneApply = { exit: int('exit'), ns: int('ns') };
        break;
      case 'tune_rollback':
        profile().tuneRollback = { exit: int('exit') };
        break;
      case 'domains':
        profile().listedDomains = int('listed');
        break;
      case 'run': {
        profile();
        const marker = int('marker_ns');
        const gone = int('gone_ns');
        // ready_ns/destroyed came later: older records lack them (ready = the marker there).
        const ready = get('ready_ns') !== undefined ? int('ready_ns') : -1;
        const destroyed = get('destroyed') !== undefined ? int('destroyed') === 1 : false;
        result.runs.push({
          profile: int('p'),
          run: int('r'),
          domain: str('domain'),
          runningDomains: int('running'),
          createExit: int('create_exit'),
          createNs: int('create_ns'),
          ...(marker >= 0 ? { markerNs: marker } : {}),
          ...(gone >= 0 ? { goneNs: gone } : {}),
          ...(ready >= 0 ? { readyNs: ready } : {}),
          ...(destroyed ? { destroyed } : {}),
        });
        break;
      }
      case 'done':
        result.finished = true;
        result.failed = int('fail') !== 0;
        break;
      default:
        throw fileError(file, i + 1, `unknown record ${JSON.stringify(kind)}`);
    }
  });
  return result;
}

/** One event of dom0's ftrace text (`trace` file, clock mono). */
