// The accuracy guest: a Linux kernel (default: the linux guest's stock Debian
// kernel) with a busybox initramfs whose /init prints numbered marker lines
// separated by known sleeps, then powers off. It tests how exactly hvscope
// times console lines (test/e2e/accuracy.test.ts, bench marker-accuracy).
//
// Each marker goes through the kernel log (/dev/kmsg at level 3, which passes
// `quiet`), so the console line carries the guest's own timestamp of its
// print ("[    8.123456] hvscope-accuracy 1"): the gap between two of those
// is what the guest did between its prints (the sleep plus the shell's own
// overhead), the truth the host-side times are compared with.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import { writeFileAtomic } from '../model/io.js';
import { defaultCacheDir } from './linux-guest.js';

export const ACCURACY_MARKER = 'hvscope-accuracy';
/** A marker line as the console shows it: the kernel's timestamp, then the marker and its number. */
export const ACCURACY_LINE = /^\[\s*(\d+)\.(\d{6})\]\s+hvscope-accuracy (\d+)$/;
/** Default sleeps between the markers (ms). */
export const DEFAULT_ACCURACY_SLEEPS_MS = [700, 1300, 500];

/** /init: devtmpfs for /dev/kmsg, then marker 0, sleep, marker 1, ... and power off. */
export function accuracyInit(sleepsMs: readonly number[]): string {
  const mark = (i: number) => `/bin/busybox echo "<3>${ACCURACY_MARKER} ${i}" > /dev/kmsg`;
  const lines = ['#!/bin/busybox sh', '/bin/busybox mount -t devtmpfs devtmpfs /dev', mark(0)];
  sleepsMs.forEach((ms, i) => {
    lines.push(`/bin/busybox sleep ${(ms / 1000).toFixed(3)}`, mark(i + 1));
  });
  lines.push('/bin/busybox poweroff -f', '');
  return lines.join('\n');
}

/** Parses `HVSCOPE_ACCURACY_SLEEPS`-style lists: "700,1300,500" (ms). */
export function parseSleeps(text: string): number[] {
  const sleeps = text.split(',').map((s) => s.trim());
  if (sleeps.length === 0 || sleeps.some((s) => !/^\d+$/.test(s) || Number(s) < 100 || Number(s) > 60_000))
    throw new UserError(`sleeps: expected a comma-separated list of milliseconds (100–60000), got '${text}'`);
  return sleeps.map(Number);
}

/**
 * The initramfs: the base initramfs's files (busybox) with /init replaced,
 * cached by base and sleeps under CACHE/accuracy-guest.
 */
export async function accuracyInitrd(baseInitrd: string, sleepsMs: readonly number[], cacheDir = defaultCacheDir()): Promise<string> {
  const init = accuracyInit(sleepsMs);
  const base = readFileSync(baseInitrd);
  const key = createHash('sha256').update(base).update(init).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'accuracy-guest');
  const out = join(dir, `initramfs-${key}.cpio.gz`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'hvscope-accuracy-'));
  try {
    const root = join(work, 'root');
    mkdirSync(root);
    const cpioIn = base[0] === 0x1f && base[1] === 0x8b ? gunzipSync(base) : base;
    await execa('cpio', ['--extract', '--make-directories', '--quiet', '--no-absolute-filenames'], { cwd: root, input: cpioIn });
    writeFileSync(join(root, 'init'), init);
    chmodSync(join(root, 'init'), 0o755);
    const list = (await execa('find', ['.', '-mindepth', '1'], { cwd: root })).stdout;
    const cpio = await execa('cpio', ['--create', '--format=newc', '--quiet', '--owner=0:0', '--reproducible'], {
      cwd: root,
      input: list + '\n',
      encoding: 'buffer',
    });
    writeFileAtomic(out, gzipSync(cpio.stdout as unknown as Buffer));
    return out;
  } catch (err) {
    throw new UserError(`accuracy guest: cannot build the initramfs from ${baseInitrd}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The markers among console lines: number, host time (ns) and the guest's own stamp (ns). */
export function accuracyMarks(lines: readonly { name: string; at: number }[]): { n: number; at: number; guestNs: number }[] {
  const out: { n: number; at: number; guestNs: number }[] = [];
  for (const l of lines) {
    const m = ACCURACY_LINE.exec(l.name);
    if (m) out.push({ n: Number(m[3]), at: l.at, guestNs: Number(m[1]) * 1e9 + Number(m[2]) * 1e3 });
  }
  return out.sort((a, b) => a.n - b.n);
}
