import { describe, expect, it } from 'vitest';
import { TraceBuilder } from './builder.js';
import { EXIT, UserError } from './errors.js';
import { DEFAULT_VOCABULARY } from './markers.js';
import { parseReadyRule, readyRuleRows, readyVocabulary, READY_MARKER_PREFIX } from './ready-rule.js';
import { PHASE_LANE_ID, type Trace } from './trace.js';

/** The one-line usage error a bad rule gives. */
function error(text: unknown): UserError {
  try {
    parseReadyRule(text);
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(EXIT.usage);
    expect((err as UserError).message).not.toContain('\n');
    return err as UserError;
  }
  throw new Error(`parseReadyRule(${String(text)}) did not fail`);
}

describe('parseReadyRule', () => {
  it('reads each kind of rule', () => {
    expect(parseReadyRule('exit')).toEqual({ kind: 'exit', text: 'exit' });
    const c = parseReadyRule('console:^service up (\\d+)$');
    expect(c.kind === 'console' && c.pattern.test('service up 42')).toBe(true);
    expect(parseReadyRule('pio:0xf4=7')).toEqual({ kind: 'pio', text: 'pio:0xf4=7', port: 0xf4, value: 7 });
    expect(parseReadyRule('pio:128')).toEqual({ kind: 'pio', text: 'pio:128', port: 128 });
    expect(parseReadyRule('tcp:127.0.0.1:8080')).toEqual({ kind: 'tcp', text: 'tcp:127.0.0.1:8080', host: '127.0.0.1', port: 8080 });
    expect(parseReadyRule('tcp:localhost:1')).toMatchObject({ host: 'localhost', port: 1 });
    expect(parseReadyRule('tcp:[::1]:65535')).toMatchObject({ host: '::1', port: 65535 });
  });

  it('keeps a console regex with colons whole', () => {
    const c = parseReadyRule('console:ready: 1:2');
    expect(c.kind === 'console' && c.pattern.source).toBe('ready: 1:2');
  });

  it('names what is wrong in one line (exit 2)', () => {
    expect(error('console:(').message).toMatch(/^--ready "console:\(": invalid regular expression: .*Unterminated group/);
    expect(error('console:').message).toContain('needs a regular expression');
    expect(error('pio:0x10000').message).toContain('not a number from 0 to 0xffff');
    expect(error('pio:-1').message).toContain('not a number from 0 to 0xffff');
    expect(error('pio:0xf4=0x100000000').message).toContain('not a number from 0 to 0xffffffff');
    expect(error('pio:').message).toContain('expected pio:PORT');
    expect(error('pio:1=2=3').message).toContain('expected pio:PORT');
    expect(error('tcp:127.0.0.1:0').message).toContain('not a number from 1 to 65535');
    expect(error('tcp:127.0.0.1:65536').message).toContain('not a number from 1 to 65535');
    expect(error('tcp:8080').message).toContain('expected tcp:HOST:PORT');
    expect(error('tcp:a b:80').message).toContain('expected tcp:HOST:PORT');
    expect(error('exit:now').message).toContain('exit takes no argument');
    expect(error('ssh:host').message).toMatch(/unknown rule "ssh"; expected console:REGEX, exit, pio:PORT\[=VALUE\] or tcp:HOST:PORT/);
    expect(error(undefined).message).toContain('give one rule');
    expect(error('').message).toContain('give one rule');
  });

  it('quotes strange input on one line', () => {
    expect(error('nope\nnext').message).toContain('"nope\\nnext"');
  });
});

describe('readyVocabulary: the rule replaces the built-in ready rows', () => {
  it('drops every built-in ready row and adds the rule\'s', () => {
    const v = readyVocabulary(parseReadyRule('console:^up$'));
    const ready = v.rules.filter((r) => r.boundary === 'ready');
    expect(ready.map((r) => r.id)).toEqual(['ready-rule-console', 'ready-rule-console-polled']);
    expect(ready[0].name).toBe(`${READY_MARKER_PREFIX}console:^up$`);
    expect(v.forConsole('hvscope-marker ready').filter((r) => r.boundary === 'ready')).toEqual([]);
    expect(v.forConsole('tiny: done')).toEqual([]);
    // the other boundaries are untouched
    expect(v.rules.filter((r) => r.boundary !== 'ready')).toEqual(DEFAULT_VOCABULARY.rules.filter((r) => r.boundary !== 'ready'));
  });

  it('without a rule is the default vocabulary', () => {
    expect(readyVocabulary(undefined)).toBe(DEFAULT_VOCABULARY);
  });

  it('matches pio writes by port and, when given, value', () => {
    const any = readyVocabulary(parseReadyRule('pio:0x99'));
    expect(any.forWrite('io', 0x99, 3).map((r) => r.id)).toEqual(['ready-rule-pio']);
    expect(any.forWrite('io', 0x98, 3)).toEqual([]);
    expect(any.forWrite('mmio', 0x99, 3)).toEqual([]);
    const seven = readyVocabulary(parseReadyRule('pio:0xf4=7'));
    expect(seven.forWrite('io', 0xf4, 7).map((r) => r.boundary).sort()).toEqual(['ready', 'user-start']);
    expect(seven.forWrite('io', 0xf4, 6).map((r) => r.boundary)).toEqual(['kernel-start']);
  });

  it('exit: QEMU\'s exit event and its shutdown run state both end the last phase', () => {
    const rows = readyRuleRows(parseReadyRule('exit'));
    expect(rows.map((r) => [r.boundary, r.match.on === 'event' && r.match.event])).toEqual([
      ['ready', 'vm-exit'],
      ['ready', 'vm-stop'],
    ]);
    const v = readyVocabulary(parseReadyRule('exit'));
    // vm-exit still also ends the VM
    expect(v.forEvent('vm-exit').map((r) => r.boundary).sort()).toEqual(['ready', 'vm-end']);
  });

  it('tcp: the prober\'s tcp-ready event', () => {
    expect(readyVocabulary(parseReadyRule('tcp:127.0.0.1:80')).forEvent('tcp-ready').map((r) => r.id)).toEqual(['ready-rule-tcp']);
    expect(DEFAULT_VOCABULARY.forEvent('tcp-ready')).toEqual([]);
  });
});

/** A synthetic QEMU boot of tiny fed to the builder with the given vocabulary: the phases the model derives. */
function syntheticBoot(rule?: string): Trace {
  const vocabulary = readyVocabulary(rule === undefined ? undefined : parseReadyRule(rule));
  const b = new TraceBuilder({ source: 'synthetic', clock: 'monotonic', ...(rule ? { ready: rule } : {}) }, { vocabulary });
  const lane = b.lane('guest', { kind: 'guest', name: 'guest' });
  const ev = { source: 'synthetic' };
  b.event('qemu-exec', 0, ev);
  b.event('runstate-running', 10e6, ev);
  b.consoleLine(lane, 'tiny: entry', 50e6, { ...ev, timing: 'write' });
  b.guestWrite('io', 0xf4, 7, 60e6, ev);
  b.consoleLine(lane, 'tiny: app start', 61e6, { ...ev, timing: 'write' });
  b.guestWrite('io', 0x99, 1, 70e6, ev);
  b.consoleLine(lane, 'service up', 80e6, { ...ev, timing: 'write' });
  b.consoleLine(lane, 'tiny: done', 90e6, { ...ev, timing: 'write' });
  b.event('tcp-ready', 95e6, ev);
  b.event('vm-exit', 100e6, ev);
  return b.build();
}
const userPhase = (t: Trace) => t.spans.find((s) => s.lane === PHASE_LANE_ID && s.phase === 'user');

describe('a ready rule ends the user phase (derivePhases, no code path of its own)', () => {
  it('built-in: tiny: done', () => {
    expect(userPhase(syntheticBoot())).toMatchObject({ start: 60e6, end: 90e6, args: { end_by: 'tiny: done' } });
    expect(userPhase(syntheticBoot())?.args?.ready_rule).toBeUndefined();
  });
  it.each([
    ['console:^service up$', 80e6],
    ['pio:0x99', 70e6],
    ['pio:0xf4=7', 60e6],
    ['tcp:127.0.0.1:80', 95e6],
    ['exit', 100e6],
  ])('%s', (rule, end) => {
    const t = syntheticBoot(rule);
    const user = userPhase(t);
    if (end === 60e6) {
      // the rule's write is the user start itself: user cannot both start and end there
      expect(t.unresolvedPhases.map((u) => u.phase)).toContain('user');
      return;
    }
    expect(user).toMatchObject({ start: 60e6, end });
    expect(String(user?.args?.end_by)).toContain(`--ready ${rule}`);
    expect(user?.args?.ready_rule).toBe(rule);
  });
  it('a rule never seen: the last phase ends at the VM\'s end, and the phase says which rule it waited for', () => {
    const user = userPhase(syntheticBoot('console:never'));
    expect(user).toMatchObject({ end: 100e6, args: { end_by: 'QEMU exit', ready_rule: 'console:never' } });
  });
});
