// Durations typed by users ("5ms", "1.5s", "200us", "2min") → integer ns.
import { UserError } from '../model/errors.js';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, min: 60e9, m: 60e9, h: 3600e9 };

/** Parses a duration with its unit; `what` names the option in the error (e.g. "--min"). */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|min|m|h)\s*$/.exec(text);
  if (!m) {
    const hint = /^\s*\d+(\.\d*)?\s*$/.test(text) ? ' (add a unit: ns, us, ms, s, min)' : '';
    throw new UserError(`${what} "${text}": not a duration${hint}; expected e.g. 5ms, 1.5s, 200us, 2min`);
  }
  return Math.round(Number(m[1]) * UNIT_NS[m[2]]);
}
