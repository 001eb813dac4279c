// The tuning contract (docs/design.md "Tuning"): a target is a list of knobs; a knob
// knows how to read its current value and write a new one. plan/apply/verify/
// rollback are built from that alone, in src/tuning/engine.ts.

/** Where knobs act: `root` redirects file targets, `netns` network targets. */
export interface TuneContext {
  /** Prefix for every file a knob touches ('/' on a real host). */
  root: string;
  /** Network namespace for bridge/sysctl knobs (`ip netns exec NAME`), if any. */
  netns?: string;
  /** Extra target options from the CLI, e.g. domainConfig for xen-domain. */
  options: Record<string, string | undefined>;
}

/** A knob's value as text; null means "absent" (file missing, key not set, bridge not there). */
export type KnobValue = string | null;

export interface Knob {
  /** Target name, e.g. 'bridge'. */
  target: string;
  /** Stable id, unique within a profile, e.g. 'bridge/br0/stp_state'. */
  id: string;
  /** Desired value, after variables are expanded. */
  desired: KnobValue;
  /** Why this value (from the profile comment/`why`), shown by plan/verify. */
  why?: string;
  read(ctx: TuneContext): Promise<KnobValue>;
  write(ctx: TuneContext, value: KnobValue): Promise<void>;
  /** Compares a read value with the desired one after normalisation (default: ===). */
  matches?(seen: KnobValue, desired: KnobValue): boolean;
}

/** A setting's value as a profile writes it (null: leave the setting out; a list, e.g. qemu.conf's `namespaces`, a YAML sequence). */
export type SettingValue = string | number | boolean | null | readonly string[];

/** A setting (path in a target's section, or '@fact') and the values it must have. */
export interface SettingCondition {
  /** Another target's setting (e.g. the script xen-hotplug installs); absent: the same target. */
  target?: string;
  path: string[];
  values: SettingValue[];
}

/**
 * What a search (`hvscope tune optimize`) may try for one setting of a target: the
 * values worth measuring and when the setting applies. Declared by the target, next to
 * the setting's own row, so a search never guesses what a knob can be.
 */
export interface KnobCandidates {
  /** The setting's path in the target's section, e.g. ['acpi'] or ['kernel-params', 'quiet']. */
  path: string[];
  /** Values to try, as a profile writes them; null = leave it out (the default). */
  values: SettingValue[];
  /** Only valid or meaningful while each of these settings has one of the values listed (null: absent). */
  requires?: SettingCondition[];
  /**
   * Conditions of single values (conflicts and dependencies as data): e.g. pit off only with
   * tcg-tsc-khz set. A path starting with '@' names a fact of the workload (e.g. '@pvh-kernel':
   * the guest has a kernel with a PVH entry); an unknown fact does not exclude the value.
   */
  valueRequires?: { value: SettingValue; requires: SettingCondition[]; why: string }[];
  /** The value in force when the setting is absent (QEMU's default), so a search never "tries" it again. */
  default?: SettingValue;
  /** What the setting changes and what to expect of the values. */
  about: string;
}

export interface TargetDefinition {
  /** Section name in a profile, e.g. 'bridge', 'xen-xl-conf'. */
  name: string;
  summary: string;
  /** JSON Schema of this target's section in a profile (ajv). */
  sectionSchema: Record<string, unknown>;
  /** Turns a validated, variable-expanded section into knobs, in the order they must be written. */
  knobs(section: unknown, ctx: TuneContext): Knob[];
  /** Settings a search may vary, with their candidate values (absent: none declared). */
  candidates?: readonly KnobCandidates[];
}
