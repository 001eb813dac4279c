// A minimal writer (and reader, for tests) of the "newc" cpio format the Linux
// kernel unpacks as an initramfs. Writing it here rather than running cpio(1)
// lets the archive hold a /dev/console node without root-owned staging files.

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer | string; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function record(ino: number, mode: number, name: string, data: Buffer, rdevMajor = 0, rdevMinor = 0): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const header = Buffer.from(
    '070701' +
      [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0].map(hex8).join(''),
    'latin1',
  );
  return [header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)];
}

/** The archive of `entries` in order (parents must come before children). Owner root, mtime 0. */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => {
    const path = e.path.replace(/^\/+/, '');
    if (path.length === 0) throw new Error(`cpio: empty path`);
    const ino = i + 1;
    switch (e.kind) {
      case 'dir':
        parts.push(...record(ino, S_IFDIR | (e.mode ?? 0o755), path, Buffer.alloc(0)));
        break;
      case 'file':
        parts.push(...record(ino, S_IFREG | (e.mode ?? 0o644), path, Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data, 'utf8')));
        break;
      case 'symlink':
        parts.push(...record(ino, S_IFLNK | 0o777, path, Buffer.from(e.target, 'utf8')));
        break;
      case 'chardev':
        parts.push(...record(ino, S_IFCHR | (e.mode ?? 0o600), path, Buffer.alloc(0), e.major, e.minor));
        break;
    }
  });
  parts.push(...record(0, 0, 'TRAILER!!!', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

export interface CpioMember {
  path: string;
  mode: number;
  data: Buffer;
  rdevMajor: number;
  rdevMinor: number;
}

/** Members of a newc archive up to its trailer; throws on anything else. */
export function readCpio(archive: Buffer): CpioMember[] {
  const members: CpioMember[] = [];
  let at = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    if (archive.toString('latin1', at, at + 6) !== '070701') throw new Error(`cpio: no newc header at offset ${at}`);
    const field = (i: number) => parseInt(archive.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = archive.toString('utf8', at + 110, at + 110 + nameSize - 1);
    const dataAt = align(at + 110 + nameSize);
    if (name === 'TRAILER!!!') return members;
    members.push({ path: name, mode, data: archive.subarray(dataAt, dataAt + size), rdevMajor: field(9), rdevMinor: field(10) });
    at = align(dataAt + size);
  }
}
