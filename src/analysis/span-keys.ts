// Matching spans across runs by what they are, not by where they ran: a key is a
// category (process, XenStore or QMP operation, function call, other span) and the
// span's name with the parts that differ from run to run (pids, domids, device
// numbers, addresses) replaced by placeholders. Both are tables, so a new kind of span
// or of run-specific number is a row, not a branch.
import type { SpanNode } from './span-tree.js';

export type SpanCategory = 'process' | 'xenstore' | 'qmp' | 'function' | 'span';

/** First matching row wins. */
export const SPAN_CATEGORIES: { category: SpanCategory; matches: (node: SpanNode) => boolean; what: string }[] = [
  { category: 'process', matches: (n) => n.isProcess, what: "a process's exec → exit (hotplug scripts, helpers, QEMU)" },
  { category: 'xenstore', matches: (n) => /^xs_/.test(n.span.name), what: 'a XenStore request (libxenstore xs_* call)' },
  { category: 'qmp', matches: (n) => /^qmp\b|\bQMP\b|^qemuMonitor\w*Command/.test(n.span.name) || n.span.args?.qmp !== undefined, what: 'a QMP command and its reply' },
  { category: 'function', matches: (n) => n.pid !== undefined, what: 'a traced function call in a process (libxl, libxc, libvirt, QEMU)' },
  { category: 'span', matches: () => true, what: 'any other span (lab steps, guest lanes)' },
];

/** Applied in order to every span name. */
export const NAME_NORMALISATIONS: { pattern: RegExp; replacement: string; what: string }[] = [
  { pattern: /0x[0-9a-f]+/gi, replacement: '0xN', what: 'addresses and handles' },
  { pattern: /\b(vif|tap|vnet|vbd|qdisk|xenbr|br|veth)\d+(?:\.\d+)?/g, replacement: '$1N', what: 'device and interface names with a domid or index: vif3.0, tap5, vnet12' },
  { pattern: /\b(dom|domid|domain|pid|tid|fd|vcpu|cpu)([ =:#]?)\d+\b/gi, replacement: '$1$2N', what: 'domid 3, pid=512, fd 17, vcpu0' },
  { pattern: /\b\d+\b/g, replacement: 'N', what: 'any other number standing alone: [512], /local/domain/3/…, run-2' },
];

export function normaliseName(name: string): string {
  let out = name;
  for (const rule of NAME_NORMALISATIONS) out = out.replace(rule.pattern, rule.replacement);
  return out;
}

export interface SpanKey {
  category: SpanCategory;
  /** The normalised name. */
  name: string;
}

export function spanKey(node: SpanNode): SpanKey {
  const category = SPAN_CATEGORIES.find((c) => c.matches(node))!.category;
  return { category, name: normaliseName(node.span.name) };
}

/** One string per key, for maps. */
export function keyId(key: SpanKey): string {
  return `${key.category}\u0000${key.name}`;
}
