// End-to-end: `hvscope tune` (the built CLI) applies the shipped libvirt-unikernel profile to a
// real domain XML (fixtures/libvirt/domain-stock.xml for the tiny guest, written to a separate
// --domain-output) and to Debian's qemu.conf under --root; verify passes; then a real libvirtd,
// started by this test in its own mount and network namespace with the tuned qemu.conf mounted
// over /etc/libvirt/qemu.conf, accepts the tuned XML (`virsh define`) and boots it
// (`virsh create`, the guest prints its last line). Rollback leaves the files as they were.
// A broken domain XML fails the apply with one line naming file and line, and changes nothing.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyGuest } from '../../src/lab/tiny-guest.js';
import { hvscopeBin, repo } from '../helpers/cli.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';

const missing = requireOrSkip(
  isRoot && existsSync('/usr/sbin/libvirtd') && existsSync('/usr/sbin/virtlogd') && hasCommand('virsh') && hasCommand('unshare') && hasCommand('ip') && hasCommand('qemu-system-x86_64') && hasCommand('gcc'),
  'root with libvirt (libvirtd, virtlogd, virsh: libvirt-daemon-system libvirt-clients), unshare, ip, QEMU and gcc',
);

let work = '';
let daemon: ResultPromise | undefined;

const hvscope = (args: string[]) => execa('node', [hvscopeBin, ...args], { reject: false, timeout: 60_000 });
const tune = (action: string, extra: string[] = []) =>
  hvscope(['tune', action, ...(action === 'rollback' ? [] : ['libvirt-unikernel']), '--root', join(work, 'root'), '--state-dir', join(work, 'state'), ...extra]);

/** libvirtd + virtlogd in their own mount/network namespace (tmpfs over libvirt's state, `qemuConf` as qemu.conf, a bridge br0). */
async function startLibvirtd(qemuConf: string): Promise<string> {
  const dir = join(work, 'daemon');
  mkdirSync(join(dir, 'sock'), { recursive: true });
  writeFileSync(join(dir, 'libvirtd.conf'), `unix_sock_dir = "${dir}/sock"\nlisten_tls = 0\nlisten_tcp = 0\n`);
  for (const d of ['/run/libvirt', '/var/lib/libvirt', '/var/cache/libvirt', '/var/log/libvirt']) mkdirSync(d, { recursive: true });
  const script = [
    'set -e',
    'for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do mount -t tmpfs hvscope-test "$d"; done',
    'mount --bind "$1" /etc/libvirt/qemu.conf',
    'ip link set lo up; ip link add br0 type bridge; ip link set br0 up',
    '/usr/sbin/virtlogd -d -p "$2/virtlogd.pid"',
    'exec /usr/sbin/libvirtd -p "$2/libvirtd.pid" --config "$2/libvirtd.conf"',
  ].join('\n');
  daemon = execa('unshare', ['-mn', '--propagation', 'private', '--', 'bash', '-c', script, 'hvscope-libvirtd', qemuConf, dir], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
  const sock = join(dir, 'sock/libvirt-sock');
  for (let i = 0; i < 300 && !existsSync(sock); i++) {
    if (daemon.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!existsSync(sock)) throw new Error(`libvirtd did not start: ${(await daemon).stderr}`);
  return `qemu:///system?socket=${sock}`;
}

async function stopLibvirtd(): Promise<void> {
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await daemon;
  }
  daemon = undefined;
  const pidFile = join(work, 'daemon/virtlogd.pid');
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
    } catch {
      /* already gone */
    }
    rmSync(pidFile, { force: true });
  }
}

const virsh = (uri: string, args: string[]) => execa('virsh', ['-q', '-c', uri, ...args], { reject: false, timeout: 90_000 });

beforeAll(async () => {
  if (missing) return;
  work = mkdtempSync(join(tmpdir(), 'hvscope-tune-libvirt-'));
  chmodSync(work, 0o755); // QEMU runs as libvirt-qemu and opens the kernel from here
  const tiny = await buildTinyGuest();
  copyFileSync(tiny.kernel, join(work, 'tiny.elf'));
  writeFileSync(join(work, 'disk.img'), Buffer.alloc(1 << 20));
  const xml = readFileSync(join(repo, 'fixtures/libvirt/domain-stock.xml'), 'utf8')
    .replace('@NAME@', `hvscope-tune-${process.pid}`)
    .replace('@KERNEL@', join(work, 'tiny.elf'))
    .replace('@SERIAL@', join(work, 'serial.log'))
    .replace('@DISK@', join(work, 'disk.img'));
  writeFileSync(join(work, 'dom.xml'), xml);
  mkdirSync(join(work, 'root/etc/libvirt'), { recursive: true });
  copyFileSync(join(repo, 'fixtures/libvirt/debian-12-qemu.conf'), join(work, 'root/etc/libvirt/qemu.conf'));
}, 120_000);

afterAll(async () => {
  if (missing) return;
  await stopLibvirtd();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(missing)('tune libvirt-unikernel on a real domain XML and qemu.conf', () => {
  it('applies, verifies, is accepted and booted by a real libvirtd, and rolls back', async () => {
    const dom = join(work, 'dom.xml');
    const out = join(work, 'uni.xml');
    const conf = join(work, 'root/etc/libvirt/qemu.conf');
    const before = { dom: readFileSync(dom, 'utf8'), conf: readFileSync(conf, 'utf8') };
    const files = ['--domain-config', dom, '--domain-output', out];

    const plan = await tune('plan', [...files, '--json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    const apply = await tune('apply', files);
    expect(apply.exitCode, apply.stderr).toBe(0);
    const verify = await tune('verify', files);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);

    expect(readFileSync(dom, 'utf8')).toBe(before.dom); // --domain-output leaves the input alone
    const tuned = readFileSync(out, 'utf8');
    expect(tuned).toContain("<memballoon model='none'/>");
    expect(tuned).toContain("<source bridge='br0'/>");
    expect(tuned).not.toMatch(/^\s*<(disk|graphics|video|sound|input)\b/m);
    expect(readFileSync(conf, 'utf8')).toMatch(/^namespaces=\[ \] # added by hvscope tune$/m);
    if (hasCommand('xmllint')) execFileSync('xmllint', ['--noout', out]);

    // A real libvirtd with the tuned qemu.conf (a bad one would stop it starting) accepts and boots the XML.
    const tunedConf = join(work, 'qemu-tuned.conf');
    copyFileSync(conf, tunedConf);
    const uri = await startLibvirtd(tunedConf);
    try {
      const define = await virsh(uri, ['define', out]);
      expect(define.exitCode, define.stderr).toBe(0);
      const dumped = await virsh(uri, ['dumpxml', `hvscope-tune-${process.pid}`]);
      expect(dumped.stdout).toContain("<memballoon model='none'/>");
      expect(dumped.stdout).toContain("<vcpu placement='static'>1</vcpu>");
      expect((await virsh(uri, ['undefine', `hvscope-tune-${process.pid}`])).exitCode).toBe(0);
      const create = await virsh(uri, ['create', out]);
      expect(create.exitCode, create.stderr).toBe(0);
      const serial = join(work, 'serial.log');
      for (let i = 0; i < 300 && !(existsSync(serial) && readFileSync(serial, 'utf8').includes('tiny: done')); i++) await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(serial, 'utf8')).toContain('tiny: done');
      await virsh(uri, ['destroy', `hvscope-tune-${process.pid}`]);
    } finally {
      await stopLibvirtd();
    }

    const rollback = await tune('rollback');
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    expect(existsSync(out)).toBe(false);
    expect(readFileSync(conf, 'utf8')).toBe(before.conf);
    expect(readFileSync(dom, 'utf8')).toBe(before.dom);
  }, 180_000);

  it('a broken domain XML: one line naming file and line, non-zero exit, nothing changed', async () => {
    const broken = join(work, 'broken.xml');
    const text = readFileSync(join(work, 'dom.xml'), 'utf8').replace('</vcpu>', '</vcpus>');
    writeFileSync(broken, text);
    const conf = join(work, 'root/etc/libvirt/qemu.conf');
    const confBefore = readFileSync(conf, 'utf8');
    const r = await tune('apply', ['--domain-config', broken]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${broken}:7: not well-formed XML: </vcpus> closes <vcpu> opened on line 7`);
    expect(readFileSync(broken, 'utf8')).toBe(text);
    expect(readFileSync(conf, 'utf8')).toBe(confBefore);
  }, 60_000);
});
