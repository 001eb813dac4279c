// Domain configs and xl.conf written by the Xen targets must parse with Xen's own config
// parser, libxlutil (the code `xl` uses). A tiny C program linked against it prints how it
// reads each key; we assert the values the targets wrote, and that a rollback gives back
// byte-identical files. Needs gcc and libxen-dev (headers + libxlutil.so).
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';
import type { Knob, KnobValue, TargetDefinition, TuneContext } from '../../src/tuning/knob.js';
import { loadProfile } from '../../src/tuning/profile.js';
import { allTargets } from '../../src/tuning/targets/index.js';
import { target as qemuTarget } from '../../src/tuning/targets/qemu.js';
import { target as xenDomain } from '../../src/tuning/targets/xen-domain.js';
import { target as xenHotplug } from '../../src/tuning/targets/xen-hotplug.js';
import { target as xenXlConf } from '../../src/tuning/targets/xen-xl-conf.js';

const missing = requireOrSkip(
  hasCommand('gcc') && existsSync('/usr/include/libxlutil.h'),
  'gcc and libxlutil (Debian packages gcc, libxen-dev)',
);

const fixtures = resolve(import.meta.dirname, '../../fixtures/xen');
const targets: TargetDefinition[] = [...new Map([...allTargets, xenXlConf, xenDomain, xenHotplug, qemuTarget].map((t) => [t.name, t])).values()];

// Prints one line per key: "KEY\tlist\tN\tITEM...", "KEY\tstring\tVALUE[\tlong=N]" or "KEY\tabsent".
const XLPARSE_C = String.raw`
#include <stdio.h>
#include <string.h>
#include <libxlutil.h>
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: xlparse FILE KEY...\n"); return 2; }
    XLU_Config *cfg = xlu_cfg_init(stderr, argv[1]);
    if (!cfg) return 3;
    int rc = xlu_cfg_readfile(cfg, argv[1]);
    if (rc) { fprintf(stderr, "parse failed: %s\n", strerror(rc)); return 1; }
    for (int i = 2; i < argc; i++) {
        XLU_ConfigList *list; int n; const char *s; long l;
        if (!xlu_cfg_get_list(cfg, argv[i], &list, &n, 1)) {
            printf("%s\tlist\t%d", argv[i], n);
            for (int j = 0; j < n; j++) printf("\t%s", xlu_cfg_get_listitem(list, j));
            printf("\n");
        } else if (!xlu_cfg_get_string(cfg, argv[i], &s, 1)) {
            printf("%s\tstring\t%s", argv[i], s);
            if (!xlu_cfg_get_long(cfg, argv[i], &l, 1)) printf("\tlong=%ld", l);
            printf("\n");
        } else printf("%s\tabsent\n", argv[i]);
    }
    xlu_cfg_destroy(cfg);
    return 0;
}
`;

type Parsed = Record<string, string[] | string | null>;

let scratch: string;
let xlparse: string;

/** How libxlutil reads `keys` from `file`: list items, string value, or null when absent. */
async function parseWithXen(file: string, keys: string[]): Promise<Parsed> {
  const { stdout } = await execa(xlparse, [file, ...keys]);
  const out: Parsed = {};
  for (const line of stdout.split('\n')) {
    const [key, kind, ...rest] = line.split('\t');
    out[key] = kind === 'list' ? rest.slice(1) : kind === 'string' ? rest[0] : null;
  }
  return out;
}

async function applyKnobs(knobs: Knob[], ctx: TuneContext): Promise<[Knob, KnobValue][]> {
  const journal: [Knob, KnobValue][] = [];
  for (const k of knobs) {
    journal.push([k, await k.read(ctx)]);
    await k.write(ctx, k.desired);
  }
  return journal;
}
async function rollbackKnobs(journal: [Knob, KnobValue][], ctx: TuneContext): Promise<void> {
  for (const [k, old] of [...journal].reverse()) await k.write(ctx, old);
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-xlparse-'));
  if (missing) return;
  await writeFile(join(scratch, 'xlparse.c'), XLPARSE_C);
  xlparse = join(scratch, 'xlparse');
  await execa('gcc', ['-Wall', '-o', xlparse, join(scratch, 'xlparse.c'), '-lxlutil']);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(missing)('Xen targets produce files libxlutil parses', () => {
  const profile = () => loadProfile('xen-unikernel', targets);

  it('xl.conf: the Debian file with xen-unikernel applied reads back as written; rollback is byte-identical', async () => {
    const root = join(scratch, 'root-xlconf');
    const xlConf = join(root, 'etc/xen/xl.conf');
    await mkdir(join(root, 'etc/xen'), { recursive: true });
    await copyFile(join(fixtures, 'debian-12-xl.conf'), xlConf);
    const original = await readFile(xlConf, 'utf8');
    const keys = ['autoballoon', 'run_hotplug_scripts', 'vif.default.script', 'vif.default.bridge', 'lockfile', 'claim_mode', 'output_format'];
    expect(await parseWithXen(xlConf, keys)).toEqual(Object.fromEntries(keys.map((k) => [k, null])));

    const ctx: TuneContext = { root, options: {} };
    const journal = await applyKnobs(xenXlConf.knobs(profile().sections['xen-xl-conf'], ctx), ctx);
    expect(await parseWithXen(xlConf, keys)).toEqual({
      autoballoon: 'off',
      run_hotplug_scripts: '1',
      'vif.default.script': 'vif-bridge-fast',
      'vif.default.bridge': 'xenbr0',
      lockfile: '/var/lock/xl',
      claim_mode: '1',
      output_format: null,
    });
    await rollbackKnobs(journal, ctx);
    expect(await readFile(xlConf, 'utf8')).toBe(original);
  });

  for (const fixture of ['debian-12-xlexample.pvlinux', 'synthetic-clickos.cfg']) {
    it(`domain config ${fixture}: xen-unikernel's minimal PV domain reads back as written; rollback is byte-identical`, async () => {
      const cfg = join(scratch, fixture);
      if (fixture.startsWith('synthetic-')) {
        // Shaped like OpenVIM's generated ClickOS configs: quoted numbers, a vif with mac and bridge, a disk.
        await writeFile(cfg, [
          "name = 'clickos-1'",
          "kernel = '/var/lib/clickos/clickos_x86_64'",
          "vcpus = '2'",
          "memory = '32'",
          "vif = ['mac=00:15:17:15:5d:74,bridge=br-old']",
          "disk = [ 'file:/var/lib/clickos/extra.img,xvda,w' ]",
          "on_crash = 'preserve'",
          '',
        ].join('\n'));
      } else {
        await copyFile(join(fixtures, fixture), cfg);
      }
      const original = await readFile(cfg, 'utf8');
      const keys = ['name', 'kernel', 'type', 'memory', 'maxmem', 'vcpus', 'on_crash', 'disk', 'vif'];
      const before = await parseWithXen(cfg, keys);

      const ctx: TuneContext = { root: scratch, options: { domainConfig: cfg } };
      const journal = await applyKnobs(xenDomain.knobs(profile().sections['xen-domain'], ctx), ctx);
      const after = await parseWithXen(cfg, keys);
      expect(after).toMatchObject({ name: before.name, kernel: before.kernel, type: 'pv', memory: '8', maxmem: '8', vcpus: '1', on_crash: 'destroy', disk: null });
      const vif = (after.vif as string[])[0].split(',');
      expect(vif).toEqual(expect.arrayContaining(['bridge=xenbr0', 'script=vif-bridge-fast']));
      expect(vif.filter((o) => o.startsWith('bridge='))).toHaveLength(1);
      if (fixture.startsWith('synthetic-')) expect(vif).toContain('mac=00:15:17:15:5d:74');

      await rollbackKnobs(journal, ctx);
      expect(await readFile(cfg, 'utf8')).toBe(original);
      expect(await parseWithXen(cfg, keys)).toEqual(before);
    });
  }

  it('strings with quotes, backslashes and spaces survive as Xen decodes them', async () => {
    const cfg = join(scratch, 'quoting.cfg');
    await writeFile(cfg, `name = "q"\ncmdline = 'console=hvc0'\n`);
    const ctx: TuneContext = { root: scratch, options: { domainConfig: cfg } };
    const tricky = `console=hvc0 msg="it's" path=C:\\x\\`;
    const knobs = xenDomain.knobs({ cmdline: tricky, ramdisk: '/boot/initrd "new".img' }, ctx);
    const cmdline = knobs.find((k) => k.id === 'xen-domain/cmdline')!;
    const ramdisk = knobs.find((k) => k.id === 'xen-domain/ramdisk')!;
    await cmdline.write(ctx, cmdline.desired);
    await ramdisk.write(ctx, ramdisk.desired);
    expect(await parseWithXen(cfg, ['cmdline', 'ramdisk'])).toEqual({ cmdline: tricky, ramdisk: '/boot/initrd "new".img' });
    expect(await cmdline.read(ctx)).toBe(tricky);
  });
});
