// dom0's initramfs and its scripts: what the kernel needs to start /init, the
// modules in order, and scripts that the shells which run them accept.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../../../test/helpers/requirements.js';
import { readCpio } from './cpio.js';
import { UserError } from '../../model/errors.js';
import {
  DOM0_HOST_ROOT_DIR,
  DOM0_LAB_DIR,
  DOM0_RESULTS_DIR,
  HOST_ROOT_TAG,
  LAB_MARKERS,
  RESULTS_TAG,
  buildDom0Initramfs,
  checkLabInputFileName,
  renderStage1Init,
  renderStage2,
  shellQuote,
} from './dom0-initramfs.js';
import { DOM0_MODULES } from './packages.js';
import { renderTinyPvExperiment } from './tiny-pv-experiment.js';

const noBusybox = requireOrSkip(hasCommand('busybox'), 'busybox (Debian package busybox-static)');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-initramfs-unit-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** `sh -n`: the script parses (nothing runs). */
function parses(shell: string[], script: string): void {
  execFileSync(shell[0], [...shell.slice(1), '-n', '-c', script], { stdio: 'pipe' });
}

describe('buildDom0Initramfs', () => {
  it('holds busybox, /dev/console, the modules in load order and the three scripts', async () => {
    // Synthetic stand-ins for busybox and the .ko files: only their placement is tested here.
    const busybox = join(scratch, 'synthetic-busybox');
    await writeFile(busybox, 'synthetic busybox');
    const modules = [];
    for (const rel of DOM0_MODULES) {
      const file = join(scratch, 'modules', rel);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `synthetic ${rel}`);
      modules.push(file);
    }
    const members = readCpio(await buildDom0Initramfs({ busybox, modules, experimentScript: 'echo experiment\n' }));
    const byPath = new Map(members.map((m) => [m.path, m]));
    expect(byPath.get('dev/console')).toMatchObject({ rdevMajor: 5, rdevMinor: 1 });
    expect(byPath.get('bin/busybox')?.mode).toBe(0o100755);
    expect(byPath.get('init')?.mode).toBe(0o100755);
    expect(byPath.get('init')?.data.toString()).toBe(renderStage1Init());
    expect(byPath.get('lab/stage2.sh')?.data.toString()).toBe(renderStage2());
    expect(byPath.get('lab/experiment.sh')?.data.toString()).toBe('echo experiment\n');
    // /init loads /modules/*.ko in glob (lexical) order: that order must be DOM0_MODULES'.
    const moduleFiles = members.filter((m) => m.path.startsWith('modules/')).map((m) => m.path);
    expect([...moduleFiles].sort()).toEqual(moduleFiles);
    expect(moduleFiles.map((p) => byPath.get(p)!.data.toString())).toEqual(DOM0_MODULES.map((m) => `synthetic ${m}`));
    expect(moduleFiles[0]).toBe('modules/00-virtio_ring.ko');
    expect(moduleFiles).toContain('modules/02-virtio_pci_modern_dev.ko');
    // Parents before children, as the kernel's unpacker needs.
    for (const m of members) {
      const parent = m.path.split('/').slice(0, -1).join('/');
      if (parent) expect(members.findIndex((x) => x.path === parent)).toBeLessThan(members.indexOf(m));
    }
  });
});

describe('buildDom0Initramfs input files', () => {
  it('puts the experiment\'s input files under lab/files (stage 1 copies them to DOM0_LAB_DIR) and refuses odd or reserved names', async () => {
    const busybox = join(scratch, 'synthetic-busybox-files');
    await writeFile(busybox, 'synthetic busybox');
    const members = readCpio(await buildDom0Initramfs({ busybox, modules: [], experimentScript: 'true\n', files: [{ name: 'guest-marker.regex', data: "it's $(not run)\n" }] }));
    const file = members.find((m) => m.path === 'lab/files/guest-marker.regex');
    expect(file?.data.toString()).toBe("it's $(not run)\n");
    expect(members.findIndex((m) => m.path === 'lab/files')).toBeLessThan(members.indexOf(file!));
    expect(renderStage1Init()).toContain(`cp -R /lab/files/. /newroot${DOM0_LAB_DIR}/`);
    for (const name of ['../x', 'a/b', 'experiment.sh', 'stage2.sh', '.hidden', 'a b', '']) {
      await expect(buildDom0Initramfs({ busybox, modules: [], experimentScript: 'true\n', files: [{ name, data: 'x' }] })).rejects.toThrow(UserError);
    }
    expect(() => checkLabInputFileName('out')).toThrow(/plain name/);
    await expect(
      buildDom0Initramfs({ busybox, modules: [], experimentScript: 'true\n', files: [{ name: 'a', data: '1' }, { name: 'a', data: '2' }] }),
    ).rejects.toThrow(/given twice/);
  });
});

describe('lab scripts', () => {
  it('stage 1 binds the whole host root at DOM0_HOST_ROOT_DIR (dom0\'s /run is its own tmpfs) after /run is mounted', () => {
    const init = renderStage1Init();
    expect(init).toContain(`mount -o bind /host /newroot${DOM0_HOST_ROOT_DIR}`);
    expect(init.indexOf(`/newroot${DOM0_HOST_ROOT_DIR}`)).toBeGreaterThan(init.indexOf('tmpfs /newroot/run'));
    expect(init.indexOf('chroot /newroot')).toBeGreaterThan(init.indexOf(`/newroot${DOM0_HOST_ROOT_DIR}`));
    expect(DOM0_HOST_ROOT_DIR.startsWith(`${DOM0_LAB_DIR}/`)).toBe(true);
  });


  it('stage 1 mounts both 9p shares by tag and chroots into the overlay', () => {
    const init = renderStage1Init();
    expect(init).toMatch(new RegExp(`mount -t 9p -o \\S*ro\\S* ${HOST_ROOT_TAG} /host`));
    expect(init).toContain(`${RESULTS_TAG} /newroot${DOM0_RESULTS_DIR}`);
    expect(init).toContain('lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot');
    expect(init.indexOf('chroot /newroot')).toBeGreaterThan(init.indexOf(`${RESULTS_TAG} /newroot`));
    expect(init.trimEnd().endsWith('off')).toBe(true);
  });

  it('stage 2 starts xenstored, xen-init-dom0 and xenconsoled before saying ready', () => {
    const s2 = renderStage2();
    const at = (text: string) => s2.indexOf(text);
    expect(at('xenstored --pid-file')).toBeGreaterThan(at('mount -t xenfs xenfs /proc/xen'));
    expect(at('xen-init-dom0')).toBeGreaterThan(at('xenstored --pid-file'));
    expect(at('xenconsoled --log=guest')).toBeGreaterThan(at('xen-init-dom0'));
    expect(at(`echo "${LAB_MARKERS.ready}"`)).toBeGreaterThan(at('ip link add name xenbr0 type bridge'));
    expect(at('experiment.sh')).toBeGreaterThan(at(`echo "${LAB_MARKERS.ready}"`));
  });

  it.skipIf(noBusybox)('stage 1 parses with busybox sh, stage 2 and the tiny-pv experiment with sh', () => {
    parses(['busybox', 'sh'], renderStage1Init());
    parses(['sh'], renderStage2());
    parses(['sh'], renderTinyPvExperiment({ kernel: '/root/.cache/hvscope/tiny-pv/x/tiny-pv.elf' }));
  });

  it('shellQuote survives quotes, $ and newlines through a real sh', () => {
    for (const text of ["it's", '$(echo no)', 'a\nb', '', '"\\`']) {
      expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(text)}`], { encoding: 'utf8' })).toBe(text);
    }
  });
});
