import { describe, expect, it } from 'vitest';
import { SPEEDSCOPE_SCHEMA_URL, speedscopeViolations } from './speedscope-rules.js';

function file(events: unknown[], extra: Record<string, unknown> = {}) {
  return {
    $schema: SPEEDSCOPE_SCHEMA_URL,
    shared: { frames: [{ name: 'a' }, { name: 'b' }] },
    profiles: [{ type: 'evented', name: 'p', unit: 'nanoseconds', startValue: 0, endValue: 100, events, ...extra }],
  };
}

describe('speedscopeViolations', () => {
  it('accepts properly nested events', () => {
    expect(
      speedscopeViolations(
        file([
          { type: 'O', at: 0, frame: 0 },
          { type: 'O', at: 5, frame: 1 },
          { type: 'C', at: 10, frame: 1 },
          { type: 'C', at: 10, frame: 0 },
        ]),
      ),
    ).toEqual([]);
  });

  it('reports crossed closes, unclosed frames and time going back', () => {
    const v = speedscopeViolations(
      file([
        { type: 'O', at: 0, frame: 0 },
        { type: 'O', at: 5, frame: 1 },
        { type: 'C', at: 4, frame: 0 },
      ]),
    );
    expect(v).toEqual([
      expect.stringMatching(/events\[2\]\.at: 4 goes back/),
      expect.stringMatching(/events\[2\]: closes frame 0 but frame 1/),
      expect.stringMatching(/events\[0\]: frame 0 never closed/),
    ]);
  });

  it('reports a wrong schema, unknown unit, bad frame index and an empty profile list', () => {
    const bad = file([{ type: 'O', at: 0, frame: 9 }], { unit: 'ticks' });
    bad.$schema = 'x' as typeof SPEEDSCOPE_SCHEMA_URL;
    const v = speedscopeViolations(bad);
    expect(v).toEqual([expect.stringMatching(/^\$schema/), expect.stringMatching(/unit/), expect.stringMatching(/frame: must index/)]);
    expect(speedscopeViolations({ ...file([]), profiles: [] })).toEqual(['profiles: must be a non-empty array']);
  });
});
