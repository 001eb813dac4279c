// hvscope tune plan|apply|verify|rollback|status PROFILE [--root DIR] [--netns NAME]
import type { CAC } from 'cac';
import { resolve } from 'node:path';
import { UserError, usageError } from '../model/errors.js';
import { apply, buildKnobs, plan, recoverInterrupted, rollback, show, status, verify, type RecoveryReport } from '../tuning/engine.js';
import { JournalStore, resolveStateDir } from '../tuning/journal.js';
import type { TuneContext } from '../tuning/knob.js';
import { checkNetns } from '../tuning/netns.js';
import { loadProfile, type LoadedProfile } from '../tuning/profile.js';
import { allTargets, qemuCommandLineFor } from '../tuning/targets/index.js';
import { ExitStatus, command, printJson, progress } from './run-command.js';
import { subcommands } from './subcommands.js';
import { terminalWidth, wrapText } from './text-wrap.js';
import { OPTIMIZE_OPTIONS, optimizeCommand, type OptimizeOptions } from './tune-optimize.js';

export interface TuneOptions {
  root?: string;
  netns?: string;
  domainConfig?: string;
  domainOutput?: string;
  stateDir?: string;
  dryRun?: boolean;
  json?: boolean;
}

function contextOf(opts: TuneOptions): TuneContext {
  if (opts.netns !== undefined) checkNetns(String(opts.netns));
  return {
    root: resolve(opts.root === undefined ? '/' : String(opts.root)),
    netns: opts.netns === undefined ? undefined : String(opts.netns),
    options: {
      domainConfig: opts.domainConfig === undefined ? undefined : resolve(String(opts.domainConfig)),
      domainOutput: opts.domainOutput === undefined ? undefined : resolve(String(opts.domainOutput)),
    },
  };
}

function storeOf(opts: TuneOptions): JournalStore {
  return new JournalStore(resolveStateDir({ stateDir: opts.stateDir === undefined ? undefined : String(opts.stateDir), root: opts.root === undefined ? undefined : String(opts.root) }));
}

function sayRecovered(r: RecoveryReport | null): void {
  if (r) progress(r.message);
}

/** plan/verify read only: they recover a crashed apply when they can, but a journal they may not read (not root) does not stop them. */
async function recoverBeforeReading(opts: TuneOptions): Promise<void> {
  const store = storeOf(opts);
  try {
    sayRecovered(await recoverInterrupted(store, allTargets, true));
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    if (/EACCES|EPERM|permission denied/i.test(err.message)) progress(`cannot check ${store.stateDir} for an interrupted apply: ${err.message}`);
    else throw err;
  }
}

/**
 * Columns padded to their widest cell; the last column (the prose: WHY) is
 * wrapped to the terminal, its continuation lines under its first (--json
 * keeps the full text).
 */
export function table(rows: string[][], width = terminalWidth()): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const last = rows[0].length - 1;
  const indent = widths.slice(0, last).reduce((sum, w) => sum + w + 2, 0);
  const lines: string[] = [];
  for (const r of rows) {
    const head = r.slice(0, last).map((cell, c) => cell.padEnd(widths[c])).join('  ');
    const prose = wrapText(r[last], Math.max(30, width - indent));
    lines.push(`${head}  ${prose[0]}`.trimEnd(), ...prose.slice(1).map((l) => `${' '.repeat(indent)}${l}`.trimEnd()));
  }
  return lines.join('\n') + '\n';
}

const where = (ctx: TuneContext) => `${ctx.netns ? ` in netns ${ctx.netns}` : ''}${ctx.root !== '/' ? ` under root ${ctx.root}` : ''}`;
const reason = (why?: string, source?: string) => [why, source ? `[${source}]` : ''].filter(Boolean).join(' ');

async function planCommand(profile: LoadedProfile, ctx: TuneContext, opts: TuneOptions): Promise<void> {
  const rows = await plan(buildKnobs(profile.sections, allTargets, ctx), ctx);
  const qemu = profile.sections.qemu !== undefined ? qemuCommandLineFor(profile.sections.qemu, ctx) : null;
  if (opts.json) return printJson({ profile: profile.name, file: profile.file, netns: ctx.netns, root: ctx.root, knobs: rows, qemuCommandLine: qemu ?? undefined });
  const host = rows.filter((r) => r.hostState);
  const rendered = rows.filter((r) => !r.hostState);
  const changes = host.filter((r) => r.change).length;
  process.stdout.write(`plan ${profile.name} (${profile.file})${where(ctx)}: ${changes} to change, ${host.length - changes} already set\n`);
  if (host.length > 0)
    process.stdout.write(table([['', 'KNOB', 'CURRENT', 'DESIRED', 'WHY'], ...host.map((r) => [r.change ? '~' : '=', r.id, show(r.current), show(r.desired), reason(r.why, r.source)])]));
  if (rendered.length > 0) {
    process.stdout.write(`command-line settings (not host state; shown against QEMU's defaults):\n`);
    process.stdout.write(table([['', 'SETTING', 'DEFAULT', 'PROFILE', 'WHY'], ...rendered.map((r) => [r.change ? '~' : '=', r.id, show(r.current), show(r.desired), reason(r.why, r.source)])]));
  }
  if (qemu) process.stdout.write(`qemu command line:\n  ${qemu.map(quoteArg).join(' ')}\n`);
}

/** Shell-style quoting for display only (never executed). */
function quoteArg(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Whether an error is the state directory refusing us (journal or lock), not a problem with the profile. */
const isPermissionError = (err: unknown) => err instanceof UserError && /\b(EACCES|EPERM)\b|permission denied/i.test(err.message);

/**
 * Runs a tune action; when the state directory (journal, lock) refuses an
 * unprivileged user, says that the action needs root rather than EACCES.
 */
export async function tuneCommand(action: string, profileRef: string | undefined, opts: TuneOptions): Promise<void> {
  if (action === 'optimize') {
    if (profileRef !== undefined) throw usageError(`tune optimize takes no PROFILE argument; give the starting profile as --from ${profileRef}`);
    return optimizeCommand(opts as OptimizeOptions);
  }
  try {
    await tuneAction(action, profileRef, opts);
  } catch (err) {
    if (!isPermissionError(err) || process.getuid?.() === 0) throw err;
    const state = storeOf(opts).stateDir;
    throw new UserError(`tune ${action} needs root: ${state} (the journal and lock of applied profiles) is not accessible to this user; run it as root, e.g. sudo hvscope tune ${action}${profileRef ? ` ${profileRef}` : ''}`);
  }
}

async function tuneAction(action: string, profileRef: string | undefined, opts: TuneOptions): Promise<void> {
  const needProfile = (): LoadedProfile => {
    if (!profileRef) throw new UserError(`tune ${action}: missing PROFILE (a shipped name or a path)`, 2);
    return loadProfile(String(profileRef), allTargets);
  };
  switch (action) {
    case 'plan': {
      const profile = needProfile();
      const ctx = contextOf(opts);
      await recoverBeforeReading(opts);
      return planCommand(profile, ctx, opts);
    }
    case 'apply': {
      const profile = needProfile();
      const ctx = contextOf(opts);
      if (opts.dryRun) {
        await recoverBeforeReading(opts);
        return planCommand(profile, ctx, opts);
      }
      const r = await apply(profile, allTargets, ctx, storeOf(opts));
      sayRecovered(r.recovered);
      if (profile.sections.qemu !== undefined) progress('qemu settings are not host state: nothing of them is applied; `tune plan` shows the command line');
      if (opts.json) return printJson(r);
      process.stdout.write(`applied ${profile.name}${where(ctx)}: ${r.changed.length} changed, ${r.unchanged.length} already set (journal ${r.journal})\n`);
      for (const c of r.changed) process.stdout.write(`  ${c.id}: ${show(c.old)} → ${show(c.new)}\n`);
      return;
    }
    case 'verify': {
      const profile = needProfile();
      const ctx = contextOf(opts);
      await recoverBeforeReading(opts);
      const rows = await verify(buildKnobs(profile.sections, allTargets, ctx), ctx);
      const failed = rows.filter((r) => !r.pass).length;
      if (opts.json) printJson({ profile: profile.name, pass: failed === 0, knobs: rows });
      else {
        process.stdout.write(`verify ${profile.name}${where(ctx)}: ${rows.length - failed} pass, ${failed} fail\n`);
        if (rows.length > 0)
          process.stdout.write(table([['', 'KNOB', 'SEEN', 'WANT'], ...rows.map((r) => [r.pass ? 'PASS' : 'FAIL', r.id, show(r.seen), show(r.desired)])]));
      }
      if (failed > 0) throw new ExitStatus(1);
      return;
    }
    case 'rollback': {
      const r = await rollback(storeOf(opts), allTargets);
      if (r.recovered) {
        sayRecovered(r.recovered);
        if (opts.json) return printJson(r);
        process.stdout.write(
          r.recovered.interrupted === 'rollback'
            ? `the interrupted rollback of ${r.profile} is finished; nothing else to roll back\n`
            : `the interrupted apply of ${r.profile} was undone instead; nothing else to roll back\n`,
        );
        return;
      }
      if (opts.json) return printJson(r);
      if (r.nothing !== undefined) {
        process.stdout.write(`nothing to roll back: ${r.nothing}\n`);
        return;
      }
      process.stdout.write(`rolled back ${r.profile}: ${r.restored.length} knob${r.restored.length === 1 ? '' : 's'} restored\n`);
      for (const k of r.restored) process.stdout.write(`  ${k.id}: ${show(k.from)} → ${show(k.to)}\n`);
      return;
    }
    case 'status': {
      const s = await status(storeOf(opts), allTargets);
      sayRecovered(s.recovered);
      if (opts.json) return printJson(s);
      if (s.runningPid !== null) process.stdout.write(`an apply is running now (pid ${s.runningPid})\n`);
      if (!s.applied) {
        process.stdout.write(s.state === null ? 'no profile applied (no journal)\n' : `no profile applied; last journal: ${s.state}${s.note ? ` — ${s.note}` : ''}\n`);
        return;
      }
      const drifted = s.drift.filter((d) => d.drifted);
      const ns = s.applied.netns ? ` in netns ${s.applied.netns}` : '';
      process.stdout.write(`applied: ${s.applied.name}${ns} at ${s.applied.appliedAt ?? '?'} (${s.applied.file})\n`);
      process.stdout.write(drifted.length === 0 ? `no drift: all ${s.drift.length} knobs as applied\n` : `drift: ${drifted.length} of ${s.drift.length} knobs changed since\n`);
      if (drifted.length > 0) process.stdout.write(table([['KNOB', 'NOW', 'APPLIED'], ...drifted.map((d) => [d.id, show(d.seen), show(d.desired)])]));
      return;
    }
    default:
      throw usageError(`tune: unknown action "${action}"; use plan, apply, verify, rollback or status`);
  }
}

export function register(cli: CAC): void {
  const tune = cli
    .command('tune <action> [profile]', 'Tuning: plan | apply | verify PROFILE, rollback, status, optimize')
    .option('--root <dir>', 'Prefix for files the profile touches (default /)')
    .option('--netns <name>', 'Apply network knobs (bridge, sysctl) inside this network namespace')
    .option('--domain-config <file>', 'Domain file a profile edits: xl.cfg for xen-domain, domain XML for libvirt-domain')
    .option('--domain-output <file>', 'xen-domain, libvirt-domain: write the tuned file here instead of in place')
    .option('--state-dir <dir>', 'Journal and lock directory (default /var/lib/hvscope under --root)')
    .option('--dry-run', 'apply: only show the plan')
    .option('--json', 'Machine-readable output')
    .option('--workload <w>', 'optimize: what to measure: boot:tiny, boot:linux, boot:PATH (QEMU, rootless), lab-xen:tiny-pv (the Xen lab), libvirt:tiny, libvirt:linux, libvirt:PATH (through a private libvirtd, traced: root), or \'cmd:COMMAND {profile}\'')
    .option('--from <profile>', 'optimize: the profile to start from (shipped name or path)')
    .option('--budget <time>', 'optimize: time for measuring, e.g. 30m, 90s, 1h30m')
    .option('--confidence <c>', 'optimize: keep a change only when better at this confidence (default 0.95)')
    .option('--knobs <list>', 'optimize: only these knobs, comma-separated (machine,quiet or qemu/kernel-params/quiet)')
    .option('--target <name>', 'optimize: only knobs of this target (e.g. qemu)')
    .option('--objective <o>', 'optimize: ready (time to ready, default), cpu (QEMU\'s CPU time: boot: and cmd: workloads; steadier than wall time on a loaded host), p90, or a phase (kernel, firmware, toolstack…)')
    .option('--runs-per-candidate <n>', 'optimize: alternating pairs per candidate (default 4; at least 3 at 0.95)')
    .option('--refine-rounds <n>', 'optimize: once every change is decided, re-measure the unresolved ones whose ratio favoured them, with more pairs (round N: N+1 × --runs-per-candidate), most promising first; 0 turns it off (default 2)')
    .option('--resume <log>', 'optimize: continue the search in this log (SEARCH.search/search.jsonl)')
    .option('-o, --output <file>', 'optimize: the found profile (.yaml); runs, log, report and figure go to FILE.search/')
    .example('  hvscope tune plan bridge-fast --netns lab     # current vs desired, changes nothing')
    .example('  hvscope tune apply my-host.yaml               # journal, write, read back; undo all on failure')
    .example('  hvscope tune verify my-host.yaml              # exit 0 only if every knob passes')
    .example('  hvscope tune apply libvirt-unikernel --domain-config dom.xml --domain-output uni.xml')
    .example('  hvscope tune status                           # applied profile and drift since')
    .example('  hvscope tune rollback                         # restore the values from before apply')
    .example('  hvscope tune optimize --workload boot:linux --from qemu-default --budget 30m -o best.yaml')
    .example('  sudo hvscope tune optimize --workload libvirt:tiny --from libvirt-stock --budget 10m -o libvirt-best.yaml')
    .action(command((action: string, profile: string | undefined, opts: TuneOptions) => tuneCommand(action, profile, opts)));
  const common = ['root', 'netns', 'domain-config', 'domain-output', 'state-dir', 'json'];
  subcommands(tune, [
    { name: 'plan', args: '<profile>', summary: 'Show each knob of PROFILE (a shipped name or a path): current value, desired value and why; changes nothing', options: common },
    { name: 'apply', args: '<profile>', summary: 'Journal the old values, write every knob that differs, read each back; on any failure undo all (needs root for host files)', options: [...common, 'dry-run'] },
    { name: 'verify', args: '<profile>', summary: 'Read every knob of PROFILE and compare with the desired value; exit 0 only if all pass', options: common },
    { name: 'rollback', summary: 'Restore the values from before the last apply (and earlier applies still in force); nothing to undo is not an error', options: ['root', 'state-dir', 'json'] },
    { name: 'status', summary: 'The applied profile and which knobs drifted since; finishes an interrupted apply or rollback first', options: ['root', 'state-dir', 'json'] },
    {
      name: 'optimize',
      summary: 'Search for a faster profile by measuring: from --from, try each knob\'s declared candidate values against the best so far in alternating pairs, keep a change only when better at --confidence, stop at --budget; writes the found profile (-o), a resumable search log, every run\'s trace, a report and a figure',
      options: OPTIMIZE_OPTIONS,
    },
  ]);
}
