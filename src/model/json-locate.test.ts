import { describe, expect, it } from 'vitest';
import { firstJsonErrorOffset } from './json-locate.js';
import { parseJsonText } from './io.js';

describe('firstJsonErrorOffset', () => {
  it('returns -1 for valid JSON of every kind', () => {
    for (const ok of ['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]} ', '"s"', '0'])
      expect(firstJsonErrorOffset(ok), ok).toBe(-1);
    expect(() => JSON.parse('{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]}')).not.toThrow();
  });

  it('points at the first bad character', () => {
    expect(firstJsonErrorOffset('{"a":1,,}')).toBe(7);
    expect(firstJsonErrorOffset('{"a":tru}')).toBe(8);
    expect(firstJsonErrorOffset('[1 2]')).toBe(3);
    expect(firstJsonErrorOffset('{"a":1} x')).toBe(8);
    expect(firstJsonErrorOffset('"tab\there"')).toBe(4);
  });

  it('points at the end for truncated input', () => {
    expect(firstJsonErrorOffset('{"a":[1,2')).toBe(9);
  });
});

describe('parseJsonText line numbers', () => {
  // Node 20 omits the position from these messages; the line must still be found.
  it('names the line of an unexpected token and of a truncated file', () => {
    expect(() => parseJsonText('{\n"a": 1,\n"b": tru\n}', 'f.json')).toThrowError(/^f\.json:3: not valid JSON/);
    expect(() => parseJsonText('[\n1,\n2', 'g.json')).toThrowError(/^g\.json:3: not valid JSON/);
  });
});
