// Builds the real tiny-pv guest with the machine's gcc/ld and checks what Xen's
// PV domain builder relies on: an x86-64 ELF whose "Xen" notes name a generic
// loader, an entry point and a page-aligned hypercall page inside its loaded
// code, plus the marker line the lab looks for. Xen's own `readnotes`
// (xen-utils-4.17) must read the same notes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { hasCommand, requireOrSkip } from '../../test/helpers/requirements.js';
import { TINY_PV_MARKER, XEN_ELFNOTE, buildTinyPvGuest, xenNotesOf, type TinyPvGuestBuild } from './tiny-pv-guest.js';

const noToolchain = requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld (Debian packages gcc, binutils)');
const XEN_READNOTES = '/usr/lib/xen-4.17/bin/readnotes';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-tiny-pv-unit-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function loadSegments(elf: Buffer): { vaddr: bigint; memsz: bigint; flags: number }[] {
  const phoff = Number(elf.readBigUInt64LE(32));
  return Array.from({ length: elf.readUInt16LE(56) }, (_, i) => phoff + i * elf.readUInt16LE(54))
    .filter((ph) => elf.readUInt32LE(ph) === 1)
    .map((ph) => ({ flags: elf.readUInt32LE(ph + 4), vaddr: elf.readBigUInt64LE(ph + 16), memsz: elf.readBigUInt64LE(ph + 40) }));
}

describe.skipIf(noToolchain)('buildTinyPvGuest', () => {
  let build: TinyPvGuestBuild;
  let elf: Buffer;
  beforeAll(async () => {
    build = await buildTinyPvGuest(join(scratch, 'cache'));
    elf = await readFile(build.kernel);
  });

  it('builds an x86-64 executable ELF', () => {
    expect(build.built).toBe(true);
    expect(elf.readUInt32BE(0)).toBe(0x7f454c46);
    expect(elf[4]).toBe(2); // ELFCLASS64
    expect(elf.readUInt16LE(16)).toBe(2); // ET_EXEC
    expect(elf.readUInt16LE(18)).toBe(62); // EM_X86_64
  });

  it('carries the Xen PV notes a generic-loader 64-bit guest needs', async () => {
    const notes = await xenNotesOf(build.kernel);
    const str = (type: number) => notes.find((n) => n.type === type)?.desc.toString('latin1').replace(/\0+$/, '');
    const quad = (type: number) => notes.find((n) => n.type === type)?.desc.readBigUInt64LE(0);
    expect(str(XEN_ELFNOTE.GUEST_OS)).toBe('tiny-pv');
    expect(str(XEN_ELFNOTE.LOADER)).toBe('generic');
    expect(str(XEN_ELFNOTE.XEN_VERSION)).toBe('xen-3.0');
    expect(quad(XEN_ELFNOTE.VIRT_BASE)).toBe(0n);
    expect(quad(XEN_ELFNOTE.PADDR_OFFSET)).toBe(0n);

    const entry = quad(XEN_ELFNOTE.ENTRY)!;
    const hypercallPage = quad(XEN_ELFNOTE.HYPERCALL_PAGE)!;
    expect(entry).toBe(elf.readBigUInt64LE(24)); // the ELF header's entry point
    expect(hypercallPage % 4096n).toBe(0n);
    const code = loadSegments(elf).filter((s) => (s.flags & 1) !== 0);
    const inCode = (addr: bigint, len: bigint) => code.some((s) => addr >= s.vaddr && addr + len <= s.vaddr + s.memsz);
    expect(inCode(entry, 1n)).toBe(true);
    expect(inCode(hypercallPage, 4096n)).toBe(true);
  });

  it('contains the marker line the lab waits for', () => {
    expect(elf.includes(Buffer.from(`${TINY_PV_MARKER}\r\n`))).toBe(true);
  });

  it.skipIf(!existsSync(XEN_READNOTES))('is read the same way by Xen\'s readnotes', () => {
    const out = execFileSync(XEN_READNOTES, [build.kernel], { encoding: 'utf8' });
    expect(out).toMatch(/GUEST_OS: tiny-pv/);
    expect(out).toMatch(/LOADER: generic/);
    expect(out).toMatch(/HYPERCALL_PAGE:\s+0x1000/);
  });

  it('reuses the cached build while the sources are unchanged', async () => {
    const again = await buildTinyPvGuest(join(scratch, 'cache'));
    expect(again).toEqual({ ...build, built: false });
  });
});

describe('xenNotesOf', () => {
  it('names the file when it is not an ELF', async () => {
    const file = join(scratch, 'not-elf');
    await writeFile(file, 'just text, long enough to be read as a header.........................');
    await expect(xenNotesOf(file)).rejects.toThrow(UserError);
    await expect(xenNotesOf(file)).rejects.toThrow(`${file}: not an ELF file`);
  });
});
