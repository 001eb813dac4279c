// User-defined readiness: `--ready RULE` on trace, boot and lab. A rule says
// which evidence ends the last phase (the guest is ready); it becomes rows of
// the marker vocabulary (markers.ts) with boundary `ready`, and the built-in
// ready rows (hvscope-marker ready, tiny: done, …) are dropped, so the model
// derives the phases as for any other evidence (derive.ts).
//
//   console:REGEX       a console line matches REGEX (JavaScript syntax, matched
//                       in hvscope on the cleaned line; never put into a probe)
//   exit                the VM's exit (QEMU's exit; its run state → shutdown)
//   pio:PORT[=VALUE]    the guest writes (VALUE) to I/O port PORT
//   tcp:HOST:PORT       a TCP service answers there (hvscope connects until it
//                       does; src/tracer/tcp-ready.ts)
import { UserError, quoteInput, usageError } from './errors.js';
import { DEFAULT_VOCABULARY, RANK, type MarkerRule, type MarkerVocabulary } from './markers.js';

export type ReadyRule =
  | { kind: 'console'; text: string; pattern: RegExp }
  | { kind: 'exit'; text: string }
  | { kind: 'pio'; text: string; port: number; value?: number }
  | { kind: 'tcp'; text: string; host: string; port: number };

export const READY_RULE_SYNTAX = 'console:REGEX, exit, pio:PORT[=VALUE] or tcp:HOST:PORT';

/** Prefix of every marker a ready rule sets: the report finds the rule's evidence by it. */
export const READY_MARKER_PREFIX = '--ready ';

/** Longest console regex accepted (a pattern, not a program). */
const MAX_PATTERN = 1000;

const bad = (text: string, why: string): UserError => usageError(`--ready ${quoteInput(text)}: ${why}`);

/** A number written in decimal or 0x hex, within [min, max]; undefined when it is not one. */
function parseNumber(text: string, min: number, max: number): number | undefined {
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

function parseConsole(text: string, source: string): ReadyRule {
  if (source === '') throw bad(text, 'console: needs a regular expression, e.g. console:^service up$');
  if (source.length > MAX_PATTERN) throw bad(text, `console: the regular expression is longer than ${MAX_PATTERN} characters`);
  try {
    return { kind: 'console', text, pattern: new RegExp(source) };
  } catch (err) {
    throw bad(text, `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}

function parsePio(text: string, spec: string): ReadyRule {
  const [portText, valueText, ...rest] = spec.split('=');
  if (rest.length > 0 || portText === '') throw bad(text, 'expected pio:PORT or pio:PORT=VALUE, e.g. pio:0xf4=7');
  const port = parseNumber(portText, 0, 0xffff);
  if (port === undefined) throw bad(text, `port ${quoteInput(portText)} is not a number from 0 to 0xffff`);
  if (valueText === undefined) return { kind: 'pio', text, port };
  const value = parseNumber(valueText, 0, 0xffffffff);
  if (value === undefined) throw bad(text, `value ${quoteInput(valueText)} is not a number from 0 to 0xffffffff`);
  return { kind: 'pio', text, port, value };
}

function parseTcp(text: string, spec: string): ReadyRule {
  // [v6 address]:port or host:port
  const m = /^\[([0-9a-fA-F:.]+)\]:([^:]*)$/.exec(spec) ?? /^([^:[\]\s]+):([^:]*)$/.exec(spec);
  if (!m) throw bad(text, 'expected tcp:HOST:PORT, e.g. tcp:127.0.0.1:8080 (an IPv6 address in brackets: tcp:[::1]:8080)');
  const port = parseNumber(m[2], 1, 65535);
  if (port === undefined) throw bad(text, `port ${quoteInput(m[2])} is not a number from 1 to 65535`);
  return { kind: 'tcp', text, host: m[1], port };
}

/** Parses `--ready RULE`; a bad rule is one line naming what is wrong (exit 2). */
export function parseReadyRule(input: unknown): ReadyRule {
  if (typeof input !== 'string' || input === '') throw usageError(`--ready: give one rule: ${READY_RULE_SYNTAX}`);
  const colon = input.indexOf(':');
  const kind = colon < 0 ? input : input.slice(0, colon);
  const rest = colon < 0 ? undefined : input.slice(colon + 1);
  switch (kind) {
    case 'console':
      return parseConsole(input, rest ?? '');
    case 'exit':
      if (rest !== undefined) throw bad(input, 'exit takes no argument');
      return { kind: 'exit', text: input };
    case 'pio':
      return parsePio(input, rest ?? '');
    case 'tcp':
      return parseTcp(input, rest ?? '');
    default:
      throw bad(input, `unknown rule ${quoteInput(kind)}; expected ${READY_RULE_SYNTAX}`);
  }
}

/** The vocabulary rows of a rule: each sets the `ready` boundary, named after the rule. */
export function readyRuleRows(rule: ReadyRule): MarkerRule[] {
  const name = `${READY_MARKER_PREFIX}${rule.text}`;
  switch (rule.kind) {
    case 'console':
      return [
        { id: 'ready-rule-console', name, boundary: 'ready', rank: RANK.console, once: true, match: { on: 'console', pattern: rule.pattern } },
        // The Xen lab matches the guest's console in dom0 (grep -E on its log, polled): a later bound.
        { id: 'ready-rule-console-polled', name: `${name} (console log polled in dom0)`, boundary: 'ready', rank: RANK.bound, once: true, match: { on: 'event', event: 'xen-lab-marker-polled' } },
      ];
    case 'exit':
      return [
        { id: 'ready-rule-exit', name: `${name} (QEMU exit)`, boundary: 'ready', rank: RANK.exact, once: true, match: { on: 'event', event: 'vm-exit' } },
        { id: 'ready-rule-stop', name: `${name} (QEMU run state → shutdown)`, boundary: 'ready', rank: RANK.hypervisor, once: true, match: { on: 'event', event: 'vm-stop' } },
      ];
    case 'pio': {
      const [min, max] = rule.value === undefined ? [0, 0xffffffff] : [rule.value, rule.value];
      return [{ id: 'ready-rule-pio', name, boundary: 'ready', rank: RANK.exact, once: true, match: { on: 'write', space: 'io', addresses: [rule.port], min, max } }];
    }
    case 'tcp':
      // Timed when hvscope's connect succeeded: at most one probe interval after the service listened.
      return [{ id: 'ready-rule-tcp', name, boundary: 'ready', rank: RANK.bound, once: true, match: { on: 'event', event: 'tcp-ready' } }];
  }
}

/** The vocabulary a run with this rule uses: the built-in ready rows replaced by the rule's. */
export function readyVocabulary(rule: ReadyRule | undefined, base: MarkerVocabulary = DEFAULT_VOCABULARY): MarkerVocabulary {
  if (!rule) return base;
  return base.without((r) => r.boundary === 'ready').with(...readyRuleRows(rule));
}
