// --guest PATH checks on the host, before the lab boots: the real tiny-pv build
// (compiled with gcc here) as the good kernel, node's own binary as an ELF without
// Xen notes, and synthetic files (named so) for a bzImage and plain text.
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../../../test/helpers/requirements.js';
import { UserError } from '../../model/errors.js';
import { buildTinyPvGuest } from '../tiny-pv-guest.js';
import { DOM0_HOST_ROOT_DIR } from './dom0-initramfs.js';
import {
  GUEST_MARKER_FILE,
  MAX_GUEST_MEMORY_MB,
  PATH_GUEST_MEMORY_MB,
  checkMarkerRegex,
  checkPvKernel,
  checkXlText,
  dom0PathOf,
  resolvePathGuest,
} from './guest-path.js';

const noGcc = requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld (to build tiny-pv)');

let scratch: string;
let tinyPv: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-guest-path-unit-'));
  if (!noGcc) tinyPv = (await buildTinyPvGuest()).kernel;
}, 120_000);
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  return err as UserError;
}

describe('checkPvKernel', () => {
  it('a bzImage: names the file and points to the uncompressed vmlinux', async () => {
    const file = join(scratch, 'synthetic-bzImage');
    const image = Buffer.alloc(0x1000);
    image.write('MZ', 0, 'latin1');
    image.write('HdrS', 0x202, 'latin1');
    await writeFile(file, image);
    const err = await rejection(checkPvKernel(file));
    expect(err.message).toBe(
      `${file}: a compressed bzImage, not a PV kernel ELF: give --guest the uncompressed vmlinux (from the kernel build tree, or extracted with the kernel's scripts/extract-vmlinux)`,
    );
  });

  it('not an ELF, or an ELF without Xen PV notes (node itself): one line naming the file', async () => {
    const text = join(scratch, 'synthetic-not-a-kernel.txt');
    await writeFile(text, 'hello\n');
    expect((await rejection(checkPvKernel(text))).message).toBe(`${text}: not an ELF file: --guest needs a Xen PV kernel (an ELF with Xen PV notes)`);
    expect((await rejection(checkPvKernel(process.execPath))).message).toBe(
      `${process.execPath}: an ELF without Xen PV notes (not a Xen PV kernel; a Linux kernel needs CONFIG_XEN_PV)`,
    );
  });

  it.skipIf(noGcc)('accepts tiny-pv (an ELF64 with the Xen PV notes)', async () => {
    await expect(checkPvKernel(tinyPv)).resolves.toBeUndefined();
  });
});

describe('resolvePathGuest', () => {
  it.skipIf(noGcc)('a relative path with spaces, quotes and $() resolves against cwd, through symlinks, to the dom0 path under the bound host root', async () => {
    const dir = join(scratch, `it's a "dir" $(touch PWNED)`);
    await mkdir(dir);
    const kernel = join(dir, 'tiny pv.elf');
    await copyFile(tinyPv, kernel);
    await symlink(kernel, join(scratch, 'link-to-kernel'));
    const ramdisk = join(dir, 'synthetic initrd.cpio');
    await writeFile(ramdisk, 'synthetic ramdisk');
    const g = await resolvePathGuest({ kernel: 'link-to-kernel', ramdisk: relative(scratch, ramdisk), cwd: scratch, marker: '^tiny-pv: hello', cmdline: 'console=hvc0 x=$(y)' });
    expect(g.kernel).toBe(kernel);
    expect(g.dom0Kernel).toBe(`${DOM0_HOST_ROOT_DIR}${kernel}`);
    expect(g.dom0Ramdisk).toBe(dom0PathOf(ramdisk));
    expect(g.memoryMb).toBe(PATH_GUEST_MEMORY_MB);
    expect(g.experiment).toMatchObject({
      kernel: g.dom0Kernel,
      ramdisk: g.dom0Ramdisk,
      extra: 'console=hvc0 x=$(y)',
      markerRegexFile: `/run/hvscope-lab/${GUEST_MARKER_FILE}`,
      destroyAfterReady: true,
      linkGuestFiles: true,
    });
    expect(g.experiment.noMarker).toBeUndefined();
    // The marker travels as a data file, one line.
    expect(g.files).toEqual([{ name: GUEST_MARKER_FILE, data: '^tiny-pv: hello\n' }]);
  });

  it.skipIf(noGcc)('without --marker: ready = running, no marker file; --memory taken as given', async () => {
    const g = await resolvePathGuest({ kernel: tinyPv, memoryMb: 16 });
    expect(g.experiment.noMarker).toBe(true);
    expect(g.experiment.markerRegexFile).toBeUndefined();
    expect(g.experiment.memoryMb).toBe(16);
    expect(g.files).toEqual([]);
  });

  it('a missing kernel, a directory, a missing ramdisk: one clear line each, naming the file', async () => {
    expect((await rejection(resolvePathGuest({ kernel: 'no-such.elf', cwd: scratch }))).message).toBe(`--guest ${join(scratch, 'no-such.elf')}: no such file`);
    expect((await rejection(resolvePathGuest({ kernel: scratch }))).message).toBe(`--guest ${scratch}: not a regular file`);
    if (!noGcc)
      expect((await rejection(resolvePathGuest({ kernel: tinyPv, ramdisk: join(scratch, 'nope.cpio') }))).message).toBe(`--ramdisk ${join(scratch, 'nope.cpio')}: no such file`);
  });

  it.skipIf(noGcc)('bad --memory, --cmdline with a double quote or newline, a --marker grep -E rejects', async () => {
    for (const memoryMb of [0, 3, MAX_GUEST_MEMORY_MB + 1, 1.5])
      expect((await rejection(resolvePathGuest({ kernel: tinyPv, memoryMb }))).message).toMatch(/^--memory must be a whole number of MiB from 4 to \d+/);
    expect((await rejection(resolvePathGuest({ kernel: tinyPv, cmdline: 'root="/dev/xvda"' }))).message).toMatch(/^--cmdline: must be printable ASCII without double quotes or backslashes/);
    expect(() => checkXlText('a\nb', '--cmdline')).toThrow(/printable ASCII/);
    expect((await rejection(resolvePathGuest({ kernel: tinyPv, marker: 'ready (' }))).message).toMatch(/^--marker: not a valid extended regular expression \(grep -E: .+\)$/);
  });
});

describe('checkMarkerRegex', () => {
  it('accepts an extended regex with shell metacharacters (it is data); refuses empty and multi-line', async () => {
    await expect(checkMarkerRegex("^booted: [0-9]+ $(x) 'y'$")).resolves.toBeUndefined();
    expect((await rejection(checkMarkerRegex(''))).message).toMatch(/^--marker: empty/);
    expect((await rejection(checkMarkerRegex('a\nb'))).message).toBe('--marker: must be one line (a regex for one console line)');
  });
});
