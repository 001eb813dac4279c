import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('reads a number with its unit into whole ns', () => {
    expect(parseDuration('5ms', '--min')).toBe(5e6);
    expect(parseDuration('1.5s', '--min')).toBe(1.5e9);
    expect(parseDuration('200us', '--min')).toBe(200e3);
    expect(parseDuration('200µs', '--min')).toBe(200e3);
    expect(parseDuration('2min', '--min')).toBe(120e9);
    expect(parseDuration(' 7 ns ', '--min')).toBe(7);
    expect(parseDuration('.5ms', '--min')).toBe(5e5);
  });

  it('rejects what is not a duration, naming the option and asking for a unit where one is missing', () => {
    expect(() => parseDuration('5', '--min')).toThrow(new UserError('--min "5": not a duration (add a unit: ns, us, ms, s, min); expected e.g. 5ms, 1.5s, 200us, 2min'));
    for (const bad of ['', 'ms', '-5ms', '5 parsecs', '1e3ms', '5ms5']) expect(() => parseDuration(bad, '--min')).toThrow(UserError);
  });
});
