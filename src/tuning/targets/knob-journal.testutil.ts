// Test support for target tests: applies knobs the way the engine does (old
// value read first, then written, then read back and matched) and undoes them.
import { expect } from 'vitest';
import type { Knob, KnobValue, TuneContext } from '../knob.js';

export type KnobJournal = [Knob, KnobValue][];

export async function applyKnobs(knobs: Knob[], ctx: TuneContext): Promise<KnobJournal> {
  const journal: KnobJournal = [];
  for (const k of knobs) {
    journal.push([k, await k.read(ctx)]);
    await k.write(ctx, k.desired);
    const seen = await k.read(ctx);
    expect(k.matches ? k.matches(seen, k.desired) : seen === k.desired, `${k.id}: ${seen}`).toBe(true);
  }
  return journal;
}

export async function rollbackKnobs(journal: KnobJournal, ctx: TuneContext): Promise<void> {
  for (const [k, old] of [...journal].reverse()) await k.write(ctx, old);
}
