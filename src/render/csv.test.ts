import { describe, expect, it } from 'vitest';
import { emptyTrace, type Run } from '../model/trace.js';
import { csvField, exportCsv } from './csv.js';

/** Minimal RFC 4180 reader, written for the test: quoted fields, doubled quotes, CRLF records. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') record.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') record.push(field), records.push(record), (record = []), (field = ''), i++;
    else field += c;
  }
  return records;
}

function syntheticRun(): Run {
  const trace = emptyTrace({ source: 'synthetic-csv', clock: 'monotonic' });
  trace.lanes.push({ id: 'q', kind: 'process', name: 'qemu, main' }, { id: 'v', kind: 'thread', name: 'vcpu0' });
  trace.spans.push(
    { lane: 'v', name: 'kernel "bzImage"', phase: 'kernel', start: 500, end: 1500 },
    { lane: 'q', name: 'init', phase: 'toolstack', start: 0, end: 400, args: { cmd: 'qemu -M microvm,pit=off', line: 'a\nb' } },
    { lane: 'v', name: 'plain', start: 500, end: 500 },
  );
  return { label: 'run 1', trace };
}

describe('exportCsv', () => {
  const text = exportCsv([syntheticRun()]);

  it('writes a header and one CRLF record per span, by start time', () => {
    const records = parseCsv(text);
    expect(records[0]).toEqual(['run', 'lane', 'name', 'phase', 'start_ns', 'end_ns', 'duration_ns', 'args']);
    expect(records.slice(1)).toEqual([
      ['run 1', 'qemu, main', 'init', 'toolstack', '0', '400', '400', '{"cmd":"qemu -M microvm,pit=off","line":"a\\nb"}'],
      ['run 1', 'vcpu0', 'kernel "bzImage"', 'kernel', '500', '1500', '1000', ''],
      ['run 1', 'vcpu0', 'plain', '', '500', '500', '0', ''],
    ]);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.split('\r\n')).toHaveLength(5);
  });

  it('quotes only fields with commas, quotes or line breaks, doubling quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
  });
});
