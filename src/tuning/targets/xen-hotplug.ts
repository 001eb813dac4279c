// xen-hotplug: installs hvscope's fast vif hotplug script (src/tuning/assets/vif-bridge-fast:
// `ip link set ... master BRIDGE up`, no global iptables lock) into <root>/etc/xen/scripts/.
//
// Selecting it is left to the profile's other sections, so each xl setting has exactly one
// knob: `xen-xl-conf: vif.default.script: vif-bridge-fast` for every domain, or
// `xen-domain: vif: [{ script: vif-bridge-fast }]` for one. Put this section before those.
//
// Knob value: `sha256:<16 hex> <mode>` of the installed file, null when absent. Writing the
// shipped script's value installs it (mode 0755, atomically); null removes it. A different
// file already there is kept as `.NAME.hvscope-<hash>` before being replaced, so writing its
// old value back (rollback) restores it byte-for-byte.
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../model/errors.js';
import type { Knob, KnobValue, TargetDefinition, TuneContext } from '../knob.js';
import { packageRoot } from '../profile.js';
import { writeFileAtomic } from '../xl-config-text.js';
import { explain, knobEntrySchema, underRoot, unwrapEntry } from './knob-entry.js';

export const DEFAULT_SCRIPTS_DIR = '/etc/xen/scripts';
/** Scripts hvscope ships, by the name they get in the scripts directory. */
export const SHIPPED_SCRIPTS = ['vif-bridge-fast'] as const;

export function shippedScriptPath(name: string): string {
  return path.join(packageRoot(), 'src', 'tuning', 'assets', name);
}

const fingerprint = (content: Buffer, mode: number): string =>
  `sha256:${createHash('sha256').update(content).digest('hex').slice(0, 16)} ${(mode & 0o7777).toString(8).padStart(4, '0')}`;

async function readInstalled(file: string): Promise<{ content: Buffer; mode: number } | null> {
  try {
    const [content, st] = await Promise.all([fs.readFile(file), fs.stat(file)]);
    return { content, mode: st.mode & 0o7777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`${file}: cannot read: ${(err as Error).message}`);
  }
}

const backupPath = (file: string, value: string): string =>
  path.join(path.dirname(file), `.${path.basename(file)}.hvscope-${value.slice(7, 23)}`);

function scriptKnob(name: string, dir: string, install: boolean, about: { why?: string; source?: string }): Knob {
  const asset = shippedScriptPath(name);
  let shipped: { content: Buffer; value: string } | undefined;
  const shippedScript = async () => {
    if (!shipped) {
      const content = await fs.readFile(asset).catch(() => {
        throw new UserError(`${asset}: shipped hotplug script is missing from this hvscope installation`);
      });
      shipped = { content, value: fingerprint(content, 0o755) };
    }
    return shipped;
  };
  const at = (ctx: TuneContext) => underRoot(ctx.root, path.join(dir, name));
  return {
    target: 'xen-hotplug',
    id: `xen-hotplug/${name}`,
    // The desired value is the shipped script's fingerprint; knobs() is synchronous, so it is
    // computed here from the asset file.
    desired: install ? fingerprintSync(asset) : null,
    ...explain(about),
    async read(ctx) {
      const now = await readInstalled(at(ctx));
      return now ? fingerprint(now.content, now.mode) : null;
    },
    async write(ctx, value: KnobValue) {
      const file = at(ctx);
      const now = await readInstalled(file);
      const nowValue = now ? fingerprint(now.content, now.mode) : null;
      if (nowValue === value) return;
      const mine = await shippedScript();
      // Keep a file that is not ours so a rollback can bring it back.
      if (now && nowValue !== mine.value) {
        const backup = backupPath(file, nowValue!);
        await fs.copyFile(file, backup);
        await fs.chmod(backup, now.mode);
      }
      if (value === null) {
        await fs.rm(file, { force: true });
      } else if (value === mine.value) {
        await writeFileAtomic(file, mine.content.toString('utf8'), 0o755);
      } else {
        const backup = backupPath(file, value);
        const saved = await readInstalled(backup);
        if (!saved || fingerprint(saved.content, saved.mode) !== value) {
          throw new UserError(`${file}: cannot restore ${value}: no saved copy (${backup})`);
        }
        await writeFileAtomic(file, saved.content.toString('utf8'), saved.mode);
        await fs.rm(backup, { force: true });
      }
    },
  };
}

function fingerprintSync(file: string): string {
  try {
    return fingerprint(readFileSync(file), 0o755);
  } catch {
    throw new UserError(`${file}: shipped hotplug script is missing from this hvscope installation`);
  }
}

const sectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // Where the toolstack looks for hotplug scripts (XEN_SCRIPT_DIR); not a knob.
    dir: { type: 'string', pattern: '^/' },
    // Each shipped script: true installs it, false/null makes sure it is not installed.
    ...Object.fromEntries(SHIPPED_SCRIPTS.map((n) => [n, knobEntrySchema({ enum: [true, false, null] })])),
  },
};

export const target: TargetDefinition = {
  name: 'xen-hotplug',
  summary: 'Installs the fast vif hotplug script (ip link + bridge attach, no global iptables lock) into /etc/xen/scripts',
  sectionSchema,
  // Installing a script alone changes nothing: `tune optimize` only brings it along with the
  // xl.conf (vif.default.script) value that selects it, never tries it on its own.
  candidates: [{ path: ['vif-bridge-fast'], values: [], about: 'vif-bridge-fast installed: set with the xl.conf value that selects it' }],
  knobs(section) {
    const s = (section ?? {}) as Record<string, unknown>;
    const dir = typeof s.dir === 'string' ? s.dir : DEFAULT_SCRIPTS_DIR;
    return SHIPPED_SCRIPTS.filter((n) => n in s).map((name) => {
      const entry = unwrapEntry(s[name]);
      return scriptKnob(name, dir, entry.value === 'on', entry);
    });
  },
};
