// Reads the "Xen" ELF notes of a guest kernel from its PT_NOTE program headers,
// the way QEMU's PVH loader and libxenguest do. Used to check our guests and a
// user's --guest PATH.
import { fileError } from '../model/errors.js';
import { readInputBytes } from '../model/input.js';

export interface XenElfNote {
  type: number;
  desc: Buffer;
}

export interface ElfXenNotes {
  is64: boolean;
  /** e_machine: 3 = i386, 62 = x86-64. */
  machine: number;
  notes: XenElfNote[];
}

/** UserError naming the file when it cannot be read or is not a little-endian ELF. */
export async function readXenElfNotes(file: string): Promise<ElfXenNotes> {
  const data = readInputBytes(file, 'kernel');
  if (data.length < 52 || data.readUInt32BE(0) !== 0x7f454c46) throw fileError(file, undefined, 'not an ELF file');
  const is64 = data[4] === 2;
  if (data[5] !== 1) throw fileError(file, undefined, 'big-endian ELF is not an x86 kernel');
  if (is64 && data.length < 64) throw fileError(file, undefined, 'truncated ELF header');
  const phoff = is64 ? Number(data.readBigUInt64LE(32)) : data.readUInt32LE(28);
  const phentsize = data.readUInt16LE(is64 ? 54 : 42);
  const phnum = data.readUInt16LE(is64 ? 56 : 44);
  const notes: XenElfNote[] = [];
  const align4 = (n: number) => (n + 3) & ~3;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + phentsize > data.length) throw fileError(file, undefined, 'truncated ELF program headers');
    if (data.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    const start = is64 ? Number(data.readBigUInt64LE(ph + 8)) : data.readUInt32LE(ph + 4);
    const size = is64 ? Number(data.readBigUInt64LE(ph + 32)) : data.readUInt32LE(ph + 16);
    const end = Math.min(start + size, data.length);
    for (let at = start; at + 12 <= end; ) {
      const namesz = data.readUInt32LE(at);
      const descsz = data.readUInt32LE(at + 4);
      const type = data.readUInt32LE(at + 8);
      const name = data.subarray(at + 12, at + 12 + namesz).toString('latin1').replace(/\0+$/, '');
      const desc = at + 12 + align4(namesz);
      if (name === 'Xen') notes.push({ type, desc: Buffer.from(data.subarray(desc, Math.min(desc + descsz, end))) });
      at = desc + align4(descsz);
    }
  }
  return { is64, machine: data.readUInt16LE(18), notes };
}
