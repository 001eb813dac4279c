// What a running bpftrace costs, read from /proc while it runs (bench/probe-effect.ts):
// its BPF programs' own run time, per program (kernel.bpf_stats_enabled must be on), and
// its CPU time and wake-ups (context switches).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProgramStats {
  /** The name bpftrace gave the program (its probe, cut to 15 characters), from /proc/kallsyms, and its rank among programs of that name. */
  name: string;
  runTimeNs: number;
  runs: number;
}

/** JIT-ed BPF programs in /proc/kallsyms are `bpf_prog_<tag>_<name>`: tag → name. */
function bpfProgramNames(): Map<string, string> {
  const names = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return names;
  }
  for (const m of text.matchAll(/ bpf_prog_([0-9a-f]{16})_(\S+)\s+\[bpf\]$/gm)) names.set(m[1], m[2]);
  return names;
}

/**
 * run_time_ns and run_cnt of every BPF program a process holds open (its /proc/PID/fdinfo),
 * in fd order, which is the order bpftrace loads its probes. Names repeat (sched_process_exit
 * has several probes; the 15-character cut merges sys_enter_write and sys_enter_writev), so
 * the n-th program of a name is `name #n`: the same probe in every block of the same program.
 */
export function bpfProgramStats(pid: number): ProgramStats[] {
  const names = bpfProgramNames();
  const out: ProgramStats[] = [];
  const seen = new Map<string, number>();
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of readdirSync(dir).sort((a, b) => Number(a) - Number(b))) {
    let info: string;
    try {
      info = readFileSync(join(dir, fd), 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    if (!/^prog_type:/m.test(info)) continue;
    const tag = /^prog_tag:\s*([0-9a-f]+)/m.exec(info)?.[1] ?? '';
    const name = names.get(tag) ?? '?';
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    out.push({
      name: `${name} #${n}`,
      runTimeNs: Number(/^run_time_ns:\s*(\d+)/m.exec(info)?.[1] ?? 0),
      runs: Number(/^run_cnt:\s*(\d+)/m.exec(info)?.[1] ?? 0),
    });
  }
  return out;
}

export interface ProcessStats {
  /** user + system CPU time of all its threads (ms). */
  cpuMs: number;
  /** Context switches of all its threads: voluntary (it slept: a wake-up each) and involuntary. */
  voluntary: number;
  involuntary: number;
}

/** CPU time and context switches of a process so far, summed over its threads (/proc/PID/task/TID/schedstat: ns on CPU). */
export function processStats(pid: number): ProcessStats {
  const total = { cpuMs: 0, voluntary: 0, involuntary: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total.cpuMs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      total.voluntary += Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0);
      total.involuntary += Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}

export const diffProcessStats = (a: ProcessStats, b: ProcessStats): ProcessStats => ({
  cpuMs: b.cpuMs - a.cpuMs,
  voluntary: b.voluntary - a.voluntary,
  involuntary: b.involuntary - a.involuntary,
});

/** Sums per program name over several readings (one per block). */
export function addProgramStats(into: Map<string, ProgramStats>, stats: ProgramStats[]): void {
  for (const s of stats) {
    const t = into.get(s.name) ?? { name: s.name, runTimeNs: 0, runs: 0 };
    t.runTimeNs += s.runTimeNs;
    t.runs += s.runs;
    into.set(s.name, t);
  }
}
