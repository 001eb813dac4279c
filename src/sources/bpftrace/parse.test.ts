// The fast paths of parse.ts against the general ones, on a real recording
// (fixtures/bpftrace-exec-busy: probes/exec.bt around a minute of short-lived processes).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { userErrorOf } from '../../../test/helpers/fixtures.js';
import { decodeEscapedBytes, parseBpftraceJson } from './index.js';

const FIXTURE = 'fixtures/bpftrace-exec-busy/exec-busy.ndjson.xz';
const recorded = () => execFileSync('xz', ['-dc', FIXTURE], { maxBuffer: 1 << 30 }).toString('utf8');

describe('parseBpftraceJson fast paths', () => {
  it('reads printf lines as bpftrace writes them exactly as the same messages written otherwise', () => {
    const text = recorded();
    const fast = parseBpftraceJson(text, 'busy.ndjson');
    expect(fast.events.length).toBeGreaterThan(10_000);
    expect(new Set(fast.events.map((e) => e.event))).toEqual(new Set(['hv_begin', 'fork', 'exec', 'exec_args', 'exit', 'hv_exit']));
    // Keys in another order (and CRLF ends) take the general path: the same events come out.
    const reordered = text
      .split('\n')
      .map((l) => (l.startsWith('{"type": "printf"') ? `${JSON.stringify({ data: JSON.parse(l).data, type: 'printf' })}\r` : l))
      .join('\n');
    expect(reordered).not.toBe(text);
    expect(parseBpftraceJson(reordered, 'busy.ndjson')).toEqual(fast);
  });

  it('names the line of a bad printf line on either path', () => {
    const good = '{"type": "printf", "data": "exec\\t10\\t1\\t1\\tfile=/bin/true\\n"}';
    const bad = '{"type": "printf", "data": "exec\\t1x\\t1\\t1\\tfile=/bin/true\\n"}';
    expect(userErrorOf(() => parseBpftraceJson([good, bad].join('\n'), 'f')).message).toBe('f:2: exec: nsecs is not an integer: "1x"');
    const reordered = JSON.stringify({ data: JSON.parse(bad).data, type: 'printf' });
    expect(userErrorOf(() => parseBpftraceJson([good, good, reordered].join('\n'), 'f')).message).toBe('f:3: exec: nsecs is not an integer: "1x"');
    // A line that only looks like a printf message is read as JSON, and refused as such.
    expect(userErrorOf(() => parseBpftraceJson(`${good}\n{"type": "printf", "data": "a", "b"}`, 'f')).message).toMatch(/^f:2: not a bpftrace JSON line/);
    expect(userErrorOf(() => parseBpftraceJson('{"type": "printf", "data": "exec\\t1\\t1\\t1\\tfile=x\\n", "type": 3}', 'f')).message).toBe('f:1: bpftrace JSON line without a "type"');
  });

  it('decodes %r escapes around any UTF-8, astral characters included', () => {
    expect(decodeEscapedBytes('sh\\x00-c\\x00é𝄞\\x0a').toString('utf8')).toBe('sh\0-c\0é𝄞\n');
    expect(decodeEscapedBytes('\\x4').toString()).toBe('\\x4');
    expect(decodeEscapedBytes('\\\\x41').toString()).toBe('\\A');
  });
});
