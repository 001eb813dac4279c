// libvirt-domain: edits one libvirt domain XML (formatdomain.html) given with `--domain-config FILE`
// (ctx.options.domainConfig), in place or into `--domain-output FILE`, the way xen-domain edits an
// xl.cfg. Every setting is a row of ROWS below: the reductions the seed study made for unikernels
// (kernel-only direct boot, no disk, no graphics/video/input/USB/sound, no balloon, minimal
// features, one vCPU, small memory, a bridge interface). Edits go through ../domain-xml-text.ts,
// so the rest of the file stays byte-for-byte and a rollback gives back the identical file.
//
// API for other code (e.g. `boot --via libvirt`, which writes the XML itself):
//   tuneDomainXml(xml, section, file?) → xml with every setting of a validated `libvirt-domain`
//   profile section applied (pure, no files); domainXmlValue(xml, key) reads one setting back.
import { fileError, UserError } from '../../model/errors.js';
import type { Knob, KnobCandidates, KnobValue, TargetDefinition, TuneContext } from '../knob.js';
import { addChild, attr, elementText, findPath, isAdded, parseXml, removeElement, restoreUnset, setAttr, setElementText, startTagSummary, escapeAttr, escapeText, type XmlElement } from '../domain-xml-text.js';
import { domainFiles, readDomainFile, writeDomainFile } from './domain-file.js';
import { explain, knobEntrySchema, unwrapEntry } from './knob-entry.js';

/** One setting: how it reads its value from the document text and writes a new one. */
interface Row {
  key: string;
  /** What the setting is and what removing/reducing it saves; shown when the profile gives no why. */
  about: string;
  schema: Record<string, unknown>;
  /** Profile value → knob text. */
  desired?: (v: string | null) => KnobValue;
  read(text: string, file: string): KnobValue;
  write(text: string, file: string, value: KnobValue): string;
  matches?(seen: KnobValue, desired: KnobValue): boolean;
}

const str = { type: 'string', minLength: 1, pattern: '^[^\\n]*$' };
const nullOnly = { type: 'null' };
const orNull = (s: Record<string, unknown>) => ({ anyOf: [s, nullOnly] });

function root(text: string, file: string): XmlElement {
  const r = parseXml(text, file);
  if (r.name !== 'domain') throw fileError(file, r.line, `root element is <${r.name}>, expected <domain> (a libvirt domain XML)`);
  return r;
}

function parentOf(text: string, file: string, parentPath: string[]): XmlElement | undefined {
  return parentPath.length === 0 ? root(text, file) : findPath(root(text, file), parentPath);
}

// ---- text settings: <vcpu>2</vcpu>, <os><kernel>...</kernel></os> -----------------------------

function textRow(key: string, parentPath: string[], name: string, schema: Record<string, unknown>, about: string): Row {
  const find = (text: string, file: string) => parentOf(text, file, parentPath)?.children.find((c) => c.name === name);
  return {
    key,
    about,
    schema,
    read: (text, file) => {
      const el = find(text, file);
      return el ? elementText(text, el) : null;
    },
    write: (text, file, value) => {
      let el = find(text, file);
      if (value === null) return el ? removeElement(text, el) : text;
      if (!el) {
        const parent = parentOf(text, file, parentPath);
        if (!parent) throw new UserError(`${file}: no <${parentPath.join('><')}> element to put <${name}> in`);
        text = restoreUnset(text, parent, name);
        el = find(text, file);
        if (!el) return addChild(text, parentOf(text, file, parentPath)!, `<${name}>${escapeText(value)}</${name}>`);
      }
      return elementText(text, el) === value ? text : setElementText(text, el, value);
    },
  };
}

// ---- memory: <memory unit='KiB'>1048576</memory>, knob text "N MiB" -------------------------

const UNIT_BYTES: Record<string, number> = {
  b: 1, bytes: 1, kb: 1e3, k: 1024, kib: 1024, mb: 1e6, m: 1024 ** 2, mib: 1024 ** 2, gb: 1e9, g: 1024 ** 3, gib: 1024 ** 3, tb: 1e12, t: 1024 ** 4, tib: 1024 ** 4,
};

function memoryRow(name: 'memory' | 'currentMemory', about: string): Row {
  const base = textRow(name, [], name, orNull({ type: 'integer', minimum: 1 }), about);
  const unitOf = (el: XmlElement, file: string): number => {
    const u = (attr(el, 'unit') ?? 'KiB').toLowerCase();
    if (!(u in UNIT_BYTES)) throw fileError(file, el.line, `<${name}> has unknown unit '${attr(el, 'unit')}'`);
    return UNIT_BYTES[u];
  };
  const find = (text: string, file: string) => root(text, file).children.find((c) => c.name === name);
  return {
    ...base,
    desired: (v) => (v === null ? null : `${v} MiB`),
    read: (text, file) => {
      const el = find(text, file);
      if (!el) return null;
      const n = Number(elementText(text, el));
      if (!Number.isFinite(n)) throw fileError(file, el.line, `<${name}> is not a number`);
      return `${(n * unitOf(el, file)) / 1024 ** 2} MiB`;
    },
    write: (text, file, value) => {
      if (value === null) return base.write(text, file, null);
      const kib = Number(value.replace(/\s*MiB$/, '')) * 1024;
      // Absent: uncomment the user's element (its text is fixed below) or add <name>KIB</name> (unit defaults to KiB).
      if (!find(text, file)) text = base.write(text, file, String(kib));
      const el = find(text, file)!;
      const inUnit = (kib * 1024) / unitOf(el, file);
      if (Number.isInteger(inUnit)) return elementText(text, el) === String(inUnit) ? text : setElementText(text, el, String(inUnit));
      const withUnit = setAttr(text, el, 'unit', 'KiB');
      return setElementText(withUnit, find(withUnit, file)!, String(Math.round(kib)));
    },
    matches: (seen, want) => (seen === null || want === null ? seen === want : Number.parseFloat(seen) === Number.parseFloat(want)),
  };
}

// ---- element sets: every <disk> in <devices>, the USB controllers, the balloon, ... ----------

interface ElementsSpec {
  parent: string[];
  name: string;
  /** Which elements of that name belong to the setting (default: all). */
  filter?: (el: XmlElement) => boolean;
  /** How one element reads (default: its start tag). */
  summary?: (text: string, el: XmlElement) => string;
  /** The element to add for a desired value; absent: the setting can only be removed. */
  render?: (value: string) => string;
}

/**
 * Reads the summaries of the matching elements (null: none). Writes by: deleting the elements we
 * added, uncommenting the user's we commented out, and — if that is not yet the value — commenting
 * out the rest and adding render(value).
 */
function elementsRow(key: string, spec: ElementsSpec, schema: Record<string, unknown>, about: string): Row {
  const pick = spec.filter ?? (() => true);
  const summary = spec.summary ?? startTagSummary;
  const live = (text: string, file: string): XmlElement[] =>
    parentOf(text, file, spec.parent)?.children.filter((c) => c.name === spec.name && pick(c)) ?? [];
  const read = (text: string, file: string): KnobValue => {
    const els = live(text, file);
    return els.length ? els.map((el) => summary(text, el)).join(' ') : null;
  };
  const removeAll = (text: string, file: string, which: (text: string, el: XmlElement) => boolean): string => {
    for (;;) {
      const el = live(text, file).find((e) => which(text, e));
      if (!el) return text;
      text = removeElement(text, el);
    }
  };
  return {
    key,
    about,
    schema,
    read,
    write: (text, file, value) => {
      const parent = parentOf(text, file, spec.parent);
      if (!parent) {
        if (value === null) return text;
        throw new UserError(`${file}: no <${spec.parent.join('><')}> element to put <${spec.name}> in`);
      }
      if (read(text, file) === value) return text;
      text = removeAll(text, file, isAdded);
      text = restoreUnset(text, parentOf(text, file, spec.parent)!, spec.name, (raw) => pick(parseXml(raw, file)));
      if (read(text, file) === value) return text;
      text = removeAll(text, file, () => true);
      if (value === null) return text;
      if (!spec.render) throw new UserError(`${file}: cannot set ${key} to ${value}: the commented-out <${spec.name}> elements hvscope would restore are gone`);
      return addChild(text, parentOf(text, file, spec.parent)!, spec.render(value));
    },
  };
}

// ---- features: the children of <features>, knob text "acpi,apic" ----------------------------

const FEATURE = { type: 'string', pattern: '^[a-z][a-z0-9_-]*$' };
const featureRow: Row = {
  key: 'features',
  about: 'the CPU/platform features the guest sees; a unikernel needs only ACPI (for power-off) and the APIC',
  schema: orNull({ type: 'array', items: FEATURE, uniqueItems: true }),
  read: (text, file) => {
    const f = findPath(root(text, file), ['features']);
    return f ? f.children.map((c) => c.name).join(',') : null;
  },
  write: (text, file, value) => {
    const want = value === null ? null : value.split(',').filter(Boolean);
    let f = findPath(root(text, file), ['features']);
    if (!f) {
      text = restoreUnset(text, root(text, file), 'features');
      f = findPath(root(text, file), ['features']);
      if (!f) return want === null ? text : addChild(text, root(text, file), `<features>${want.map((n) => `<${n}/>`).join('')}</features>`);
    }
    if (want === null) return removeElement(text, f);
    for (;;) {
      const extra = findPath(root(text, file), ['features'])!.children.find((c) => !want.includes(c.name));
      if (!extra) break;
      text = removeElement(text, extra);
    }
    for (const n of want) {
      text = restoreUnset(text, findPath(root(text, file), ['features'])!, n);
      const feats = findPath(root(text, file), ['features'])!;
      if (!feats.children.some((c) => c.name === n)) text = addChild(text, feats, `<${n}/>`);
    }
    return text;
  },
  matches: (seen, want) => (seen === null || want === null ? seen === want : [...seen.split(',')].sort().join() === [...want.split(',')].sort().join()),
};

// ---- the table ----------------------------------------------------------------------------

const dev = ['devices'];
const removeOnly = (name: string, about: string): Row => elementsRow(name, { parent: dev, name }, nullOnly, about);
const model = (text: string, el: XmlElement) => attr(el, 'model') ?? '(default)';

/** Every setting of the target, in the order apply writes them. */
export const ROWS: Row[] = [
  memoryRow('memory', 'guest RAM in MiB; less to allocate and map per guest'),
  memoryRow('currentMemory', 'RAM at boot in MiB (balloon target); equal to memory, or absent (= memory)'),
  textRow('vcpu', [], 'vcpu', orNull({ type: 'integer', minimum: 1 }), 'vCPUs; each one is a QEMU thread to create and, for libvirt, CPU properties to query'),
  textRow('kernel', ['os'], 'kernel', orNull(str), 'direct kernel boot: QEMU loads this kernel itself, no bootloader or disk boot'),
  textRow('initrd', ['os'], 'initrd', orNull(str), 'initial ramdisk for direct kernel boot; a unikernel has none'),
  textRow('cmdline', ['os'], 'cmdline', orNull({ type: 'string', pattern: '^[^\\n]*$' }), 'kernel command line for direct kernel boot'),
  elementsRow('boot', { parent: ['os'], name: 'boot', summary: (t, el) => attr(el, 'dev') ?? startTagSummary(t, el) }, nullOnly, 'BIOS boot order; unused with direct kernel boot'),
  featureRow,
  textRow('on_poweroff', [], 'on_poweroff', orNull({ enum: ['destroy', 'restart', 'preserve', 'rename-restart'] }), 'what libvirt does when the guest powers off'),
  textRow('on_reboot', [], 'on_reboot', orNull({ enum: ['destroy', 'restart', 'preserve', 'rename-restart'] }), 'what libvirt does when the guest reboots'),
  textRow('on_crash', [], 'on_crash', orNull({ enum: ['destroy', 'restart', 'preserve', 'rename-restart', 'coredump-destroy', 'coredump-restart'] }), 'what libvirt does when the guest crashes'),
  removeOnly('disk', 'block devices: each is a backend to open, label and hand to QEMU; unikernels boot from the kernel image alone'),
  removeOnly('filesystem', 'shared directories (virtiofs/9p): a daemon or device per share'),
  removeOnly('graphics', 'VNC/SPICE display: a server in QEMU, and libvirt adds a video card and PS/2 input for it'),
  removeOnly('video', 'emulated graphics card (VGA ROM, framebuffer memory)'),
  removeOnly('input', 'tablet/mouse/keyboard devices (USB tablets need the USB controller)'),
  removeOnly('sound', 'emulated sound card and its audio backend'),
  removeOnly('redirdev', 'USB redirection channels'),
  removeOnly('channel', 'guest-agent/SPICE channels: a chardev and a virtio-serial controller'),
  removeOnly('rng', 'virtio RNG and its backend'),
  removeOnly('watchdog', 'emulated watchdog device'),
  elementsRow('usb', { parent: dev, name: 'controller', filter: (el) => attr(el, 'type') === 'usb', summary: model, render: (v) => `<controller type='usb' model='${escapeAttr(v)}'/>` },
    orNull({ type: 'string', pattern: '^[a-z0-9-]+$' }), "USB controller; without <controller type='usb' model='none'/> libvirt adds a default one"),
  elementsRow('memballoon', { parent: dev, name: 'memballoon', summary: model, render: (v) => `<memballoon model='${escapeAttr(v)}'/>` },
    orNull({ enum: ['none', 'virtio', 'virtio-transitional', 'virtio-non-transitional', 'xen'] }), "balloon device; libvirt adds a virtio balloon unless model='none'"),
  {
    ...elementsRow('interface', {
    parent: dev,
    name: 'interface',
    summary: (_t, el) => {
      const src = el.children.find((c) => c.name === 'source');
      const where = src ? (attr(src, 'bridge') ?? attr(src, 'network') ?? attr(src, 'dev')) : undefined;
      return `${attr(el, 'type') ?? '?'}${where ? `:${where}` : ''}`;
    },
    render: (v) => `<interface type='bridge'><source bridge='${escapeAttr(v.replace(/^bridge:/, ''))}'/><model type='virtio'/></interface>`,
  }, orNull({ type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,14}$' }), 'network interface: one virtio NIC on a host bridge (the tap is created and attached by libvirt)'),
    desired: (v) => (v === null ? null : `bridge:${v}`),
  },
];

const sectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(ROWS.map((r) => [r.key, knobEntrySchema(r.schema)])),
};

/** memory = N with currentMemory absent or N (libvirt rejects currentMemory above memory in some versions; equal is always valid). */
const memoryNeeds = (mib: number) => ({ value: mib, requires: [{ path: ['currentMemory'], values: [mib, null] }], why: 'currentMemory may not exceed memory' });

/**
 * What `tune optimize --workload libvirt:GUEST` may try, beside the rows (ordered by expected
 * effect: devices the guest's firmware and kernel must initialise first). The defaults are what
 * libvirt does with the setting absent. Settings that hvscope's own domain XML already leaves out
 * (disk, graphics, video, input, sound) have nothing to try from it.
 */
export const CANDIDATES: KnobCandidates[] = [
  { path: ['memballoon'], values: ['none'], default: 'virtio', about: "memballoon none: no virtio balloon (a PCI device the guest probes); libvirt adds one unless model='none'" },
  { path: ['usb'], values: ['none'], about: 'usb none: no USB controller (xHCI/PIIX3 UHCI) for the firmware and kernel to initialise' },
  { path: ['features'], values: [['acpi', 'apic']], about: 'features acpi,apic: drop PAE and the rest a general-purpose guest gets (ACPI kept for power-off)' },
  { path: ['vcpu'], values: [1], default: 1, about: 'vcpu 1: one vCPU thread to create and one CPU for libvirt to query properties of' },
  { path: ['memory'], values: [32, 128], valueRequires: [memoryNeeds(32), memoryNeeds(128)], about: 'memory 32/128 MiB: less guest RAM to allocate and map; too little breaks the guest (recorded as broken)' },
  { path: ['currentMemory'], values: [], about: 'currentMemory: set with memory (equal to it), never alone' },
];

const rowDesired = (row: Row, v: string | null): KnobValue => (row.desired ? row.desired(v) : v);
const same = (row: Row, a: KnobValue, b: KnobValue): boolean => (row.matches ? row.matches(a, b) : a === b);

/** A validated section's settings applied to a domain XML text (no files touched). */
export function tuneDomainXml(xml: string, section: unknown, file = 'domain XML'): string {
  const s = (section ?? {}) as Record<string, unknown>;
  root(xml, file);
  for (const row of ROWS) {
    if (!(row.key in s)) continue;
    const want = rowDesired(row, unwrapEntry(s[row.key]).value);
    if (!same(row, row.read(xml, file), want)) xml = row.write(xml, file, want);
  }
  return xml;
}

/** One setting's current value in a domain XML text (null: absent), as the knob reads it. */
export function domainXmlValue(xml: string, key: string, file = 'domain XML'): KnobValue {
  const row = ROWS.find((r) => r.key === key);
  if (!row) throw new UserError(`libvirt-domain has no setting ${key}`);
  return row.read(xml, file);
}

// ---- files (as xen-domain: --domain-config, optional --domain-output) ------------------------

const DOMAIN_FILE = { section: 'libvirt-domain', kind: 'domain XML' };
const readDomain = (ctx: TuneContext) => readDomainFile(ctx, DOMAIN_FILE);

function rowKnob(row: Row, desired: KnobValue, about: { why?: string; source?: string }): Knob {
  return {
    target: 'libvirt-domain',
    id: `libvirt-domain/${row.key}`,
    desired,
    ...explain({ why: about.why ?? row.about, source: about.source }),
    async read(ctx) {
      const d = await readDomain(ctx);
      return row.read(d.text, d.file);
    },
    async write(ctx, value) {
      const d = await readDomain(ctx);
      const next = row.write(d.text, d.file, value);
      root(next, d.file); // never write a document that does not parse
      await writeDomainFile(d, next);
    },
    ...(row.matches ? { matches: row.matches } : {}),
  };
}

export const target: TargetDefinition = {
  name: 'libvirt-domain',
  summary: 'A libvirt domain XML given with --domain-config: memory, vCPUs, direct kernel boot, features, devices removed (disk, graphics, video, input, sound, USB, balloon), a bridge NIC',
  sectionSchema,
  candidates: CANDIDATES,
  knobs(section, ctx) {
    const s = (section ?? {}) as Record<string, unknown>;
    domainFiles(ctx, DOMAIN_FILE); // fails early, before anything is touched, when --domain-config is missing
    return ROWS.filter((row) => row.key in s).map((row) => {
      const e = unwrapEntry(s[row.key]);
      return rowKnob(row, rowDesired(row, e.value), e);
    });
  },
};
