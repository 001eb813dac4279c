import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bigIntValue, parseBpftraceLine, quoteUnsafeIntegers, type BpftraceMessage } from './bpftrace-json.js';

const recorded = (name: string) =>
  readFileSync(new URL(`./testdata/bpftrace-0.17/${name}`, import.meta.url), 'utf8').split('\n');

const parseAll = (lines: string[]) => lines.map(parseBpftraceLine).filter((m): m is BpftraceMessage => m !== null);

describe('parseBpftraceLine on bpftrace 0.17 recordings', () => {
  const msgs = parseAll(recorded('maps-hist-stats.ndjson'));
  const byName = (name: string) => msgs.find((m) => 'name' in m && m.name === name) as Extract<BpftraceMessage, { name: string }>;

  it('reads attached_probes and printf text with escapes intact', () => {
    expect(msgs[0]).toEqual({ type: 'attached_probes', probes: 2 });
    const printfs = msgs.filter((m) => m.type === 'printf');
    expect(printfs).toHaveLength(3);
    expect(printfs[0]).toEqual({ type: 'printf', text: 'ev python3 "q" \\ tab\t\n' });
  });

  it('skips the blank lines bpftrace prints before dumping maps', () => {
    expect(parseBpftraceLine('')).toBeNull();
    expect(parseBpftraceLine('   ')).toBeNull();
    expect(msgs.some((m) => m.type === 'text' || m.type === 'unknown')).toBe(false);
  });

  it('reads scalar, keyed and tuple-keyed maps', () => {
    expect(byName('@calls')).toEqual({ type: 'map', name: '@calls', value: 3 });
    expect(byName('@bycomm').value).toEqual({ python3: 3 });
    expect(byName('@neg').value).toBe(-5);
    expect(Object.keys(byName('@two').value as object)).toHaveLength(3);
  });

  it('keeps integers beyond 2^53 exact, as decimal strings (0.17 prints them as bare numbers)', () => {
    const big = byName('@big');
    expect(big.value).toBe('9223372036854775805');
    expect(bigIntValue(big.value as string)).toBe(9223372036854775805n);
  });

  it('reads hist/lhist buckets and stats/avg', () => {
    expect(byName('@h')).toMatchObject({ type: 'hist', value: [{ min: 8192, max: 16383, count: 3 }] });
    expect((byName('@lh').value as unknown[]).length).toBe(9);
    expect(byName('@st')).toMatchObject({ type: 'stats', value: { count: 3, total: 46332 } });
    expect(byName('@avg')).toMatchObject({ type: 'stats', value: 15444 });
  });

  it('reads lost_events', () => {
    const lost = parseAll(recorded('lost-events.excerpt.ndjson')).filter((m) => m.type === 'lost_events');
    expect(lost).toEqual([
      { type: 'lost_events', events: 960 },
      { type: 'lost_events', events: 1 },
      { type: 'lost_events', events: 1 },
    ]);
  });

  it('reads helper_error (0.17: fields at top level, no data object)', () => {
    const m = parseAll(recorded('helper-error.ndjson')).find((x) => x.type === 'helper_error');
    expect(m).toEqual({ type: 'helper_error', helper: 'probe_read_str', retcode: -14, line: 1, col: 24 });
  });

  it('turns the plain "No probes to attach" stdout line into a text message', () => {
    expect(parseAll(recorded('uprobe-no-symbol.stdout'))).toEqual([{ type: 'text', text: 'No probes to attach' }]);
  });
});

// Shapes from bpftrace 0.24+ (src/output/json.cpp upstream). 0.24 is not
// installable on this Debian 12 host, so these lines are synthetic.
describe('parseBpftraceLine on synthetic bpftrace 0.24-shaped lines', () => {
  it('synthetic-0.24: attached_probes and lost_events carry a top-level count', () => {
    expect(parseBpftraceLine('{"type":"attached_probes", "count":3}')).toEqual({ type: 'attached_probes', probes: 3 });
    expect(parseBpftraceLine('{"type":"lost_events", "count":12}')).toEqual({ type: 'lost_events', events: 12 });
  });

  it('synthetic-0.24: big integers already quoted stay strings, small ones numbers', () => {
    const m = parseBpftraceLine('{"type": "map", "data": {"@ns": {"a": "18446744073709551615", "b": 7}}}');
    expect(m).toEqual({ type: 'map', name: '@ns', value: { a: '18446744073709551615', b: 7 } });
  });

  it('synthetic-0.24: histogram buckets without min (first) or max (last)', () => {
    const m = parseBpftraceLine('{"type": "hist", "data": {"@h": [{"max": -1, "count": 0},{"min": 0, "max": 0, "count": 2},{"min": 1024, "count": 1}]}}');
    expect(m).toEqual({ type: 'hist', name: '@h', value: [{ max: -1, count: 0 }, { min: 0, max: 0, count: 2 }, { min: 1024, count: 1 }] });
  });

  it('synthetic-0.24: helper_error with msg and filename, runtime_error', () => {
    expect(
      parseBpftraceLine('{"type": "helper_error", "msg": "Bad address", "helper": "probe_read_str", "retcode": -14, "filename": "stdin", "line": 1, "col": 24}'),
    ).toEqual({ type: 'helper_error', helper: 'probe_read_str', retcode: -14, message: 'Bad address', line: 1, col: 24 });
    expect(parseBpftraceLine('{"type": "runtime_error", "msg": "divide by zero", "filename": "x.bt", "line": 3, "col": 5}')).toEqual({
      type: 'runtime_error',
      message: 'divide by zero',
      line: 3,
      col: 5,
    });
  });

  it('synthetic: an unknown message type is passed through, not dropped', () => {
    expect(parseBpftraceLine('{"type": "benchmark_results", "data": {"x": 1}}')).toEqual({
      type: 'unknown',
      raw: { type: 'benchmark_results', data: { x: 1 } },
    });
  });
});

describe('quoteUnsafeIntegers', () => {
  it('quotes only unsafe integer literals outside strings', () => {
    expect(quoteUnsafeIntegers('{"a": 9007199254740993, "b": "9007199254740993", "c": -9223372036854775808, "d": 1.5e300, "e": 42}')).toBe(
      '{"a": "9007199254740993", "b": "9007199254740993", "c": "-9223372036854775808", "d": 1.5e300, "e": 42}',
    );
  });

  it('is not confused by escaped quotes inside strings', () => {
    const line = '{"type": "printf", "data": "x\\" 12345678901234567890 \\\\"}';
    expect(quoteUnsafeIntegers(line)).toBe(line);
    expect(parseBpftraceLine(line)).toEqual({ type: 'printf', text: 'x" 12345678901234567890 \\' });
  });
});
