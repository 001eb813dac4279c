// File offsets of a shared library's exported functions, for kernel uprobe
// events (tracefs `uprobe_events` takes PATH:OFFSET, an offset in the file, not
// an address): the symbol's value in .dynsym, moved from its LOAD segment's
// virtual address to that segment's file offset. ELF64 little-endian only (x86-64).
import { readFileSync } from 'node:fs';
import { UserError } from '../../model/errors.js';

const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_FUNC = 2;

/** Offsets by name of the functions asked for; a name the library does not export is missing from the map. */
export function uprobeOffsets(file: string, names: readonly string[]): Map<string, number> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    throw new UserError(`${file}: cannot read (is its Debian package installed?)`);
  }
  if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46 || data[4] !== 2 || data[5] !== 1)
    throw new UserError(`${file}: not a 64-bit little-endian ELF file`);
  const u64 = (at: number) => Number(data.readBigUInt64LE(at));
  const shoff = u64(0x28);
  const shentsize = data.readUInt16LE(0x3a);
  const shnum = data.readUInt16LE(0x3c);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return { type: data.readUInt32LE(at + 4), offset: u64(at + 0x18), size: u64(at + 0x20), link: data.readUInt32LE(at + 0x28), entsize: u64(at + 0x38) };
  };
  const phoff = u64(0x20);
  const phentsize = data.readUInt16LE(0x36);
  const phnum = data.readUInt16LE(0x38);
  const loads = Array.from({ length: phnum }, (_, i) => {
    const at = phoff + i * phentsize;
    return { type: data.readUInt32LE(at), offset: u64(at + 8), vaddr: u64(at + 16), filesz: u64(at + 32) };
  }).filter((p) => p.type === PT_LOAD);
  const wanted = new Set(names);
  const found = new Map<string, number>();
  for (let i = 0; i < shnum; i++) {
    const dynsym = section(i);
    if (dynsym.type !== SHT_DYNSYM || dynsym.entsize < 24) continue;
    const strtab = section(dynsym.link);
    for (let at = dynsym.offset; at + 24 <= dynsym.offset + dynsym.size; at += dynsym.entsize) {
      const shndx = data.readUInt16LE(at + 6);
      if (shndx === 0 || (data[at + 4] & 0xf) !== STT_FUNC) continue;
      const nameAt = strtab.offset + data.readUInt32LE(at);
      const name = data.toString('latin1', nameAt, data.indexOf(0, nameAt));
      if (!wanted.has(name) || found.has(name)) continue;
      const value = u64(at + 8);
      const seg = loads.find((p) => value >= p.vaddr && value < p.vaddr + p.filesz);
      if (seg) found.set(name, value - seg.vaddr + seg.offset);
    }
  }
  return found;
}
