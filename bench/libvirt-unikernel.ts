// Measurement "libvirt-unikernel" (part of figure "libvirt"): `tiny` created
// through libvirt with a stock domain and driver configuration against the
// same domain tuned by the libvirt-unikernel profile, alternating round by
// round in one process, untraced. Two private libvirtds run side by side (the
// driver settings are read at daemon start): one with libvirt-stock's
// qemu.conf section, one with libvirt-unikernel's (and its bridge, in the
// daemon's own network namespace) — the same mechanism as `boot --via libvirt
// --profile`. The stock domain is fixtures/libvirt/domain-stock.xml (a
// virt-install-style guest: 1 GiB, 2 vCPUs, disk, VNC, USB tablet, sound, VGA,
// balloon, RNG, user NIC) booting tiny's kernel; the tuned one is that XML with
// the profile's libvirt-domain section applied (what `tune apply
// libvirt-unikernel --domain-config` writes). Measured: `virsh create` →
// QEMU's exit (tiny exits right after its ready line), as in libvirt.ts.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootstrapInterval, median, ratioOfMedians } from '../src/analysis/stats.js';
import { buildTinyGuest, defaultTinyCacheDir } from '../src/lab/tiny-guest.js';
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../src/vim/libvirtd.js';
import { applyLibvirtProfile, loadLibvirtProfile } from '../src/vim/libvirt-profile.js';
import { libvirtOnce } from './libvirt.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

const STOCK_XML = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/libvirt/domain-stock.xml');
const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** The stock template with its placeholders filled, files of the guest under the daemon's directory. */
function stockDomain(daemon: PrivateLibvirtd, name: string, kernel: string): string {
  const guestDir = join(daemon.dir, 'guest');
  const disk = join(guestDir, 'disk.img');
  if (!existsSync(disk)) writeFileSync(disk, Buffer.alloc(1 << 20));
  const template = readFileSync(existsSync(STOCK_XML) ? STOCK_XML : join(process.cwd(), 'fixtures/libvirt/domain-stock.xml'), 'utf8');
  return template.replace('@NAME@', name).replace('@KERNEL@', kernel).replace('@DISK@', disk).replace('@SERIAL@', join(guestDir, `${name}.serial`));
}

async function prepare(daemon: PrivateLibvirtd, tinyKernel: string): Promise<string> {
  chmodSync(daemon.dir, 0o755); // QEMU runs as libvirt's qemu user and reads the kernel from here
  const dir = join(daemon.dir, 'guest');
  mkdirSync(dir, { mode: 0o777, recursive: true });
  chmodSync(dir, 0o777); // the serial log file is created by QEMU's user
  const kernel = join(dir, 'tiny.elf');
  copyFileSync(tinyKernel, kernel);
  return kernel;
}

/** The measurement (child process): `rounds` of stock and libvirt-unikernel creations, alternating. */
export async function libvirtUnikernel(params: Result): Promise<Result> {
  const rounds = Number(params.rounds ?? 6);
  if (!existsSync('/usr/sbin/libvirtd')) return { skipped: 'libvirt not installed (libvirt-daemon-system libvirt-clients)' };
  const build = await buildTinyGuest(defaultTinyCacheDir());
  const stockProfile = await loadLibvirtProfile('libvirt-stock');
  const tunedProfile = await loadLibvirtProfile('libvirt-unikernel');
  const stockDaemon = await startPrivateLibvirtd({ qemuConf: stockProfile.qemuConf, bridges: stockProfile.bridges });
  let tunedDaemon: PrivateLibvirtd | undefined;
  try {
    tunedDaemon = await startPrivateLibvirtd({ qemuConf: tunedProfile.qemuConf, bridges: tunedProfile.bridges });
    const setups = [
      { label: 'stock', daemon: stockDaemon, name: 'hvscope-bench-stock', times: [] as number[] },
      { label: 'unikernel', daemon: tunedDaemon, name: 'hvscope-bench-unikernel', times: [] as number[] },
    ];
    for (const s of setups) {
      const kernel = await prepare(s.daemon, build.kernel);
      const stock = stockDomain(s.daemon, s.name, kernel);
      writeFileSync(join(s.daemon.dir, 'domain.xml'), s.label === 'stock' ? stock : applyLibvirtProfile(stock, tunedProfile));
    }
    for (let i = 0; i < rounds; i++) {
      // alternate which goes first, so a drift in load hits both alike
      for (const s of i % 2 === 0 ? setups : [...setups].reverse()) s.times.push(await libvirtOnce(s.daemon.uri, join(s.daemon.dir, 'domain.xml'), s.name));
    }
    const [stock, tuned] = [setups[0]!.times, setups[1]!.times];
    const interval = bootstrapInterval(stock, tuned, ratioOfMedians, { seed: 13 });
    return {
      stock_create_to_exit_ms: { median: round1(median(stock)), runs: stock.map(round1) },
      unikernel_create_to_exit_ms: { median: round1(median(tuned)), runs: tuned.map(round1) },
      unikernel_over_stock: { ratio: round3(median(tuned) / median(stock)), ci95: interval.map(round3), faster: interval[1] < 1 },
      setup: 'fixtures/libvirt/domain-stock.xml with libvirt-stock\'s qemu.conf vs that XML with libvirt-unikernel applied and its qemu.conf (namespaces [], cgroup_controllers []), two private libvirtds',
    };
  } finally {
    await tunedDaemon?.stop();
    await stockDaemon.stop();
  }
}
