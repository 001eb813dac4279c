// plan / apply / verify / rollback / status, built only from Knob.read/write.
// Apply protocol (crash-safe): lock → recover any crashed apply → read every
// knob (fail before touching anything) → for each knob that differs: re-read,
// journal its old value (fsync), write, read back. Any failure restores, in
// reverse order, everything already journaled. A kill -9 anywhere leaves a
// journal in state 'applying' that the next command restores.
import { UserError } from '../model/errors.js';
import type { Knob, KnobValue, TargetDefinition, TuneContext } from './knob.js';
import { rmSync } from 'node:fs';
import { JOURNAL_VERSION, JournalStore, type Journal, type JournalEntry } from './journal.js';
import { onTempFile } from './xl-config-text.js';
import type { LoadedProfile } from './profile.js';

/** Knobs may carry where their value comes from (the profile's `source:`). */
type SourcedKnob = Knob & { source?: string };

const same = (k: Knob, seen: KnobValue, desired: KnobValue): boolean => (k.matches ? k.matches(seen, desired) : seen === desired);

/** False for knobs that render a command line instead of holding host state (qemu): apply, verify and status skip them. */
export function isHostState(k: Knob): boolean {
  return (k as { hostState?: boolean }).hostState !== false;
}

/** Knobs of every section, in target registry order, then the order each target gives. */
export function buildKnobs(sections: Record<string, unknown>, targets: TargetDefinition[], ctx: TuneContext): Knob[] {
  const knobs: Knob[] = [];
  for (const t of targets) if (sections[t.name] !== undefined) knobs.push(...t.knobs(sections[t.name], ctx));
  const seen = new Set<string>();
  for (const k of knobs) {
    if (seen.has(k.id)) throw new UserError(`knob ${k.id} is set twice in this profile`);
    seen.add(k.id);
  }
  return knobs;
}

export interface PlanRow {
  id: string;
  target: string;
  current: KnobValue;
  desired: KnobValue;
  change: boolean;
  /** False for command-line settings (qemu): shown, never applied. */
  hostState: boolean;
  why?: string;
  source?: string;
}

/** Current vs desired for every knob; reads only. */
export async function plan(knobs: Knob[], ctx: TuneContext): Promise<PlanRow[]> {
  const rows: PlanRow[] = [];
  for (const k of knobs) {
    const current = await k.read(ctx);
    rows.push({ id: k.id, target: k.target, current, desired: k.desired, change: !same(k, current, k.desired), hostState: isHostState(k), why: k.why, source: (k as SourcedKnob).source });
  }
  return rows;
}

export interface VerifyRow {
  id: string;
  target: string;
  desired: KnobValue;
  seen: KnobValue;
  pass: boolean;
  why?: string;
}

export async function verify(knobs: Knob[], ctx: TuneContext): Promise<VerifyRow[]> {
  const rows: VerifyRow[] = [];
  for (const k of knobs.filter(isHostState)) {
    const seen = await k.read(ctx);
    rows.push({ id: k.id, target: k.target, desired: k.desired, seen, pass: same(k, seen, k.desired), why: k.why });
  }
  return rows;
}

// ---------------------------------------------------------------- restore / recovery

export interface RestoredKnob {
  id: string;
  from: KnobValue;
  to: KnobValue;
}

function journalContext(j: Journal): TuneContext {
  return { root: j.context.root, netns: j.context.netns, options: { ...j.context.options } };
}

/**
 * Writes back the old value of every journaled entry, last first. Entries whose
 * write may never have happened are harmless: a knob already at its old value
 * is skipped. Returns what was restored and what could not be.
 */
async function restoreEntries(j: Journal, targets: TargetDefinition[]): Promise<{ restored: RestoredKnob[]; failures: string[] }> {
  const ctx = journalContext(j);
  const failures: string[] = [];
  let byId = new Map<string, Knob>();
  try {
    byId = new Map(buildKnobs(j.sections, targets, ctx).map((k) => [k.id, k]));
  } catch (err) {
    failures.push(`cannot rebuild knobs from the journal: ${(err as Error).message}`);
  }
  const restored: RestoredKnob[] = [];
  for (const entry of [...j.entries].reverse()) {
    const knob = byId.get(entry.id);
    if (!knob) {
      failures.push(`${entry.id}: no such knob any more (target missing?); old value was ${show(entry.old)}`);
      continue;
    }
    try {
      const now = await knob.read(ctx);
      if (same(knob, now, entry.old)) continue;
      await knob.write(ctx, entry.old);
      const back = await knob.read(ctx);
      if (!same(knob, back, entry.old)) throw new Error(`wrote ${show(entry.old)} but read back ${show(back)}`);
      restored.push({ id: entry.id, from: now, to: entry.old });
    } catch (err) {
      failures.push(`${entry.id}: cannot restore ${show(entry.old)}: ${(err as Error).message}`);
    }
  }
  return { restored, failures };
}

export const show = (v: KnobValue): string => (v === null ? '(absent)' : v);

/**
 * After undoing an interrupted or failed apply: the journal that was in force
 * before it (if any) is in force again; otherwise record the outcome.
 */
function finishUndo(store: JournalStore, j: Journal, state: Journal['state'], failures: string[], note: string): void {
  if (failures.length === 0 && j.previous) {
    store.write(j.previous);
    return;
  }
  finishRestore(store, j, state, failures, note);
}

function finishRestore(store: JournalStore, j: Journal, state: Journal['state'], failures: string[], note: string): void {
  j.state = failures.length > 0 ? 'restore-failed' : state;
  j.finishedAt = new Date().toISOString();
  j.note = failures.length > 0 ? `${note}; could not restore: ${failures.join('; ')}` : note;
  store.write(j);
}

export interface RecoveryReport {
  /** What was interrupted: an apply (undone) or a rollback (finished). */
  interrupted: 'apply' | 'rollback';
  profile: string;
  pid: number;
  startedAt: string;
  restored: RestoredKnob[];
  message: string;
}

/**
 * If the last apply (or rollback) was killed midway — journal 'applying' and
 * its process gone — restores every journaled old value. Call with the lock
 * held, or with `takeLock` to take it here. Returns null when nothing to do.
 */
export async function recoverInterrupted(store: JournalStore, targets: TargetDefinition[], takeLock = true): Promise<RecoveryReport | null> {
  const peek = store.read();
  if (!peek || peek.state !== 'applying' || peek.pid === process.pid) return null;
  const unlock = takeLock ? store.tryLock() : () => {};
  if (!unlock) return null; // its process still holds the lock: running, not crashed
  try {
    const j = store.read();
    if (!j || j.state !== 'applying') return null;
    removeTemps(j);
    const knobs = (n: number) => `${n} knob${n === 1 ? '' : 's'}`;
    if (j.operation === 'rollback') {
      // A rollback only writes old values back: finishing it is safe and is what was asked.
      const { restored, failures } = await journalingTemps(store, j, () => restoreLayers(j, targets));
      j.temps = [];
      const message = `finished an interrupted rollback of ${j.profile.name} (pid ${j.pid}): restored ${knobs(restored.length)} to the state before it was applied`;
      finishRestore(store, j, 'rolled-back', failures, message);
      if (failures.length > 0) throw new UserError(`${message}, but some could not be restored:\n  ${failures.join('\n  ')}\njournal: ${store.journalFile}`);
      return { interrupted: 'rollback', profile: j.profile.name, pid: j.pid, startedAt: j.startedAt, restored, message };
    }
    const { restored, failures } = await restoreEntries(j, targets);
    const message = `recovered an interrupted apply of ${j.profile.name} (pid ${j.pid}, started ${j.startedAt}): restored ${knobs(restored.length)} to the old state`;
    finishUndo(store, j, 'recovered', failures, message);
    if (failures.length > 0) throw new UserError(`${message}, but some could not be restored:\n  ${failures.join('\n  ')}\njournal: ${store.journalFile}`);
    return { interrupted: 'apply', profile: j.profile.name, pid: j.pid, startedAt: j.startedAt, restored, message };
  } finally {
    unlock();
  }
}

// ---------------------------------------------------------------- apply

export interface ChangedKnob {
  id: string;
  old: KnobValue;
  new: KnobValue;
  why?: string;
}

export interface ApplyResult {
  profile: string;
  changed: ChangedKnob[];
  unchanged: string[];
  recovered: RecoveryReport | null;
  journal: string;
}

/** Removes the temp files an interrupted apply or rollback journaled (those it renamed are gone already). */
function removeTemps(j: Journal): void {
  for (const tmp of j.temps ?? []) rmSync(tmp, { force: true });
  j.temps = [];
}

/**
 * While `run` writes knobs, journals (durably) each temp file a write is about
 * to create, so recovery can remove what a kill left half-written.
 */
async function journalingTemps<T>(store: JournalStore, j: Journal, run: () => Promise<T>): Promise<T> {
  onTempFile((tmp) => {
    (j.temps ??= []).push(tmp);
    store.write(j);
  });
  try {
    return await run();
  } finally {
    onTempFile(undefined);
  }
}

/** Test hook: HVSCOPE_TEST_PAUSE_AT=N makes apply stop forever at step N (odd: old value journaled, even: knob written), so a test can kill -9 it there. */
async function testPause(step: number): Promise<void> {
  const at = Number(process.env.HVSCOPE_TEST_PAUSE_AT);
  if (!Number.isInteger(at) || at !== step) return;
  process.stderr.write(`hvscope-test: paused at step ${step}\n`);
  await new Promise(() => setInterval(() => {}, 1 << 30));
}

export async function apply(
  profile: LoadedProfile,
  targets: TargetDefinition[],
  ctx: TuneContext,
  store: JournalStore,
): Promise<ApplyResult> {
  const unlock = store.lock();
  try {
    const recovered = await recoverInterrupted(store, targets, false);
    const knobs = buildKnobs(profile.sections, targets, ctx).filter(isHostState);
    const inForce = store.read();
    // The journal in force stays whole (status shows it again if this apply is undone);
    // older layers that changed nothing need no undo and are dropped from the chain.
    let older = inForce && inForce.state === 'applied' ? inForce.previous ?? null : null;
    while (older && older.entries.length === 0) older = older.previous ?? null;
    const previous = inForce && inForce.state === 'applied' ? { ...inForce, previous: older } : null;
    // Read everything first: a knob that cannot even be read fails the apply before any write.
    await plan(knobs, ctx);

    const journal: Journal = {
      version: JOURNAL_VERSION,
      state: 'applying',
      pid: process.pid,
      profile: { name: profile.name, file: profile.file },
      sections: profile.sections,
      context: { root: ctx.root, netns: ctx.netns, options: ctx.options },
      knobs: knobs.map((k) => ({ id: k.id, target: k.target, desired: k.desired, why: k.why })),
      entries: [],
      startedAt: new Date().toISOString(),
      previous,
    };
    store.archive();
    store.write(journal);

    const changed: ChangedKnob[] = [];
    const unchanged: string[] = [];
    let step = 0;
    try {
      await journalingTemps(store, journal, async () => {
        for (const k of knobs) {
          // Re-read: an earlier knob (e.g. creating the bridge) may have changed this one's value.
          const old = await k.read(ctx);
          if (same(k, old, k.desired)) {
            unchanged.push(k.id);
            continue;
          }
          const entry: JournalEntry = { id: k.id, target: k.target, old, desired: k.desired };
          journal.entries.push(entry);
          store.write(journal); // durable BEFORE the write
          await testPause(++step);
          await k.write(ctx, k.desired);
          await testPause(++step);
          const back = await k.read(ctx);
          if (!same(k, back, k.desired)) throw new UserError(`${k.id}: wrote ${show(k.desired)} but read back ${show(back)}`);
          changed.push({ id: k.id, old, new: k.desired, why: k.why });
        }
      });
    } catch (err) {
      const { restored, failures } = await restoreEntries(journal, targets);
      finishUndo(store, journal, 'failed-restored', failures, `apply failed: ${(err as Error).message}`);
      const reason = err instanceof UserError ? err.message : `internal error: ${(err as Error).stack ?? String(err)}`;
      if (failures.length > 0)
        throw new UserError(`apply of ${profile.name} failed: ${reason}\nand these knobs could not be restored:\n  ${failures.join('\n  ')}\njournal: ${store.journalFile}`);
      throw new UserError(`apply of ${profile.name} failed: ${reason}\nrestored ${restored.length} knob${restored.length === 1 ? '' : 's'} already changed; nothing else was touched`);
    }
    journal.state = 'applied';
    journal.temps = []; // all renamed into place
    journal.finishedAt = new Date().toISOString();
    store.write(journal);
    return { profile: profile.name, changed, unchanged, recovered, journal: store.journalFile };
  } finally {
    unlock();
  }
}

// ---------------------------------------------------------------- rollback / status

export interface RollbackResult {
  /** The profile rolled back; null when there was nothing to roll back. */
  profile: string | null;
  restored: RestoredKnob[];
  recovered: RecoveryReport | null;
  /** Why nothing was rolled back (no journal, already rolled back, ...): not an error. */
  nothing?: string;
}

/** Restores a journal's entries, then each earlier apply's still in force, newest first. */
async function restoreLayers(j: Journal, targets: TargetDefinition[]): Promise<{ restored: RestoredKnob[]; failures: string[] }> {
  const restored: RestoredKnob[] = [];
  const failures: string[] = [];
  for (let layer: Journal | null | undefined = j; layer; layer = layer.previous) {
    const r = await restoreEntries(layer, targets);
    restored.push(...r.restored);
    failures.push(...r.failures);
  }
  return { restored, failures };
}

/** Restores the old values of the last apply. */
export async function rollback(store: JournalStore, targets: TargetDefinition[]): Promise<RollbackResult> {
  const unlock = store.lock();
  try {
    const recovered = await recoverInterrupted(store, targets, false);
    if (recovered) return { profile: recovered.profile, restored: recovered.restored, recovered };
    const j = store.read();
    // Rolling back twice, or before any apply, leaves the host as asked: not an error.
    if (!j) return { profile: null, restored: [], recovered: null, nothing: `no profile was applied (no journal in ${store.stateDir})` };
    if (j.state !== 'applied')
      return { profile: null, restored: [], recovered: null, nothing: `the last apply of ${j.profile.name} is already ${j.state}${j.finishedAt ? ` (${j.finishedAt})` : ''}` };
    // Back to 'applying' while restoring, so a kill mid-rollback is finished by the next command.
    j.state = 'applying';
    j.operation = 'rollback';
    j.pid = process.pid;
    store.write(j);
    const { restored, failures } = await journalingTemps(store, j, () => restoreLayers(j, targets));
    j.temps = [];
    finishRestore(store, j, 'rolled-back', failures, `rolled back by pid ${process.pid}`);
    if (failures.length > 0) throw new UserError(`rollback of ${j.profile.name} incomplete:\n  ${failures.join('\n  ')}\njournal: ${store.journalFile}`);
    return { profile: j.profile.name, restored, recovered: null };
  } finally {
    unlock();
  }
}

export interface DriftRow {
  id: string;
  desired: KnobValue;
  seen: KnobValue;
  drifted: boolean;
}

export interface StatusResult {
  /** The applied profile, or null when none is in force. */
  applied: { name: string; file: string; appliedAt?: string; netns?: string; root: string } | null;
  /** The last journal's state (applied, rolled-back, ...), or null without a journal. */
  state: Journal['state'] | null;
  note?: string;
  drift: DriftRow[];
  recovered: RecoveryReport | null;
  /** PID of an apply running right now, if any. */
  runningPid: number | null;
}

export async function status(store: JournalStore, targets: TargetDefinition[]): Promise<StatusResult> {
  const recovered = await recoverInterrupted(store, targets, true);
  const j = store.read();
  const runningPid = store.lockOwner();
  if (!j) return { applied: null, state: null, drift: [], recovered, runningPid };
  if (j.state !== 'applied') return { applied: null, state: j.state, note: j.note, drift: [], recovered, runningPid };
  const ctx = journalContext(j);
  const knobs = new Map(buildKnobs(j.sections, targets, ctx).filter(isHostState).map((k) => [k.id, k]));
  const drift: DriftRow[] = [];
  for (const jk of j.knobs) {
    const k = knobs.get(jk.id);
    const seen = k ? await k.read(ctx) : null;
    drift.push({ id: jk.id, desired: jk.desired, seen, drifted: !k || !same(k, seen, jk.desired) });
  }
  return {
    applied: { name: j.profile.name, file: j.profile.file, appliedAt: j.finishedAt, netns: j.context.netns, root: j.context.root },
    state: j.state,
    note: j.note,
    drift,
    recovered,
    runningPid,
  };
}
