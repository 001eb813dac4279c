// The bounded reader and the quoting of input in errors (src/model/input.ts, errors.ts, yaml-input.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printableMessage, quoteInput } from './errors.js';
import { jsonNestingOffset, parseSize, readInputText, setMaxInput } from './input.js';
import { parseYamlInput, yamlFlowNestingOffset } from './yaml-input.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readInputText', () => {
  it('reads a regular file; refuses a FIFO, a directory, /dev/zero and a missing file with one line', () => {
    const f = join(dir, 'a.txt');
    writeFileSync(f, 'hello');
    expect(readInputText(f, 'log')).toBe('hello');
    const fifo = join(dir, 'p');
    execFileSync('mkfifo', [fifo]);
    expect(() => readInputText(fifo, 'log')).toThrow(`${fifo}: cannot read log: a FIFO (pipe), not a regular file (save it to a file first)`);
    expect(() => readInputText(dir, 'log')).toThrow(/cannot read log: a directory/);
    expect(() => readInputText('/dev/zero', 'log')).toThrow(/cannot read log: a character device/);
    expect(() => readInputText(join(dir, 'nope'), 'log')).toThrow(/cannot read log: no such file$/);
  });
  it('caps the size by kind; --max-input raises it for every kind', () => {
    const f = join(dir, 'big.yaml');
    writeFileSync(f, 'x'.repeat(300 * 1024));
    expect(() => readInputText(f, 'profile', 'config')).toThrow(/profile: 300 KiB, over the 256 KiB input limit; raise it with --max-input SIZE/);
    expect(readInputText(f, 'trace', 'data').length).toBe(300 * 1024);
    setMaxInput('1M');
    try {
      expect(readInputText(f, 'profile', 'config').length).toBe(300 * 1024);
    } finally {
      setMaxInput(undefined);
    }
  });
  it('parses sizes', () => {
    expect([parseSize('512M'), parseSize('2G'), parseSize('64k'), parseSize('1000'), parseSize('1MiB'), parseSize('x'), parseSize('0')]).toEqual([
      512 * 1024 * 1024, 2 * 1024 ** 3, 65536, 1000, 1024 * 1024, undefined, undefined,
    ]);
  });
});

describe('nesting', () => {
  it('JSON: brackets inside strings (with escaped quotes) do not count', () => {
    expect(jsonNestingOffset('{"a": "[[[[\\"[[[["}', 2)).toBe(-1);
    expect(jsonNestingOffset('[[[1]]]', 2)).toBe(2);
    expect(jsonNestingOffset('["\\\\", [[1]]]', 2)).toBe(8);
  });
  it('YAML: flow brackets in quotes and comments do not count; an apostrophe inside a word is not a quote', () => {
    expect(yamlFlowNestingOffset("a: '[[[['\nb: \"[[[[\" # [[[[\n", 2)).toBe(-1);
    expect(yamlFlowNestingOffset("why: don't [[[x]]]", 2)).toBe(13);
  });
  it('YAML: deep block nesting, duplicate keys and alias bombs are one line with the line number', () => {
    const deep = Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n';
    expect(() => parseYamlInput(deep, 'f.yaml')).toThrow(/^f\.yaml:65: nested deeper than 64 levels/);
    expect(() => parseYamlInput('a: 1\nb: 2\na: 3\n', 'f.yaml')).toThrow('f.yaml:3: key "a" is given twice in this mapping');
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n');
    expect(() => parseYamlInput(bomb, 'f.yaml')).toThrow(/^f\.yaml:2: YAML aliases expand to too much/);
  });
});

describe('quoting input in errors', () => {
  it('cuts, escapes line breaks, separators and control characters', () => {
    expect(quoteInput('a\u2028b\rc\u0007')).toBe('"a\\u2028b\\rc\\u0007"');
    expect(quoteInput('x'.repeat(10_000_000))).toBe(`"${'x'.repeat(80)}…"`);
    expect(printableMessage('f:1: bad "\r\u2029"\n  second line')).toBe('f:1: bad "\\u000d\\u2029"\n  second line');
  });
});
