// Shared by unit tests that run on the real recordings under fixtures/.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { derivePhases, recordedPhaseMarkers } from '../../src/model/derive.js';
import { UserError } from '../../src/model/errors.js';

import { PHASE_LANE_ID, type Phase, type Trace } from '../../src/model/trace.js';

/** fixtures/**\/*.hvtrace.json: real recorded runs, sorted. */
export function fixtureTraces(): string[] {
  return (readdirSync('fixtures', { recursive: true }) as string[])
    .filter((p) => p.endsWith('.hvtrace.json'))
    .sort()
    .map((p) => join('fixtures', p));
}

/** The spans of a trace's `phases` lane. */
export function phaseLaneSpans(trace: Trace) {
  return trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
}

/** The UserError `fn` throws (fails the test when it throws nothing or something else). */
export function userErrorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error('expected a UserError');
}

/**
 * Gives a synthetic trace phases the way importers do: markers (here
 * "recorded" boundaries: each phase's start, and the end), then the model's
 * derivePhases. Changes `trace` in place and returns it.
 */
export function setSyntheticPhases(trace: Trace, starts: { phase: Phase; at: number }[], end: number): Trace {
  trace.markers.push(...recordedPhaseMarkers(starts, end, 'synthetic'));
  return Object.assign(trace, derivePhases(trace));
}
