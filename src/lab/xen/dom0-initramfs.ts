// dom0's initramfs: busybox, the kernel modules dom0 needs, and two scripts.
// Stage 1 (/init, busybox) loads the modules, mounts the host's root read-only
// over virtio-9p under a tmpfs overlay, mounts the writable results share, and
// chroots into that root. Stage 2 (the host's /bin/sh, inside the chroot) starts
// the real Xen toolstack from the host's xen-utils-4.17 — xenstored,
// xen-init-dom0, xenconsoled — creates xenbr0, and runs the experiment script.
// Every step prints a `hvscope-lab:` line on dom0's console (hvc0, which Xen
// forwards to the serial line QEMU gives the host), so the host can follow it.
import { readFile } from 'node:fs/promises';
import { UserError } from '../../model/errors.js';
import { writeCpio, type CpioEntry } from './cpio.js';
import { moduleNameOf, XEN_TOOLS_DIR } from './packages.js';

/** 9p mount tags QEMU exports: the host's root (read-only) and the results directory. */
export const HOST_ROOT_TAG = 'hvhost';
export const RESULTS_TAG = 'hvout';
/** Where dom0 (inside the chroot) sees the results share; the experiment gets it as $HVSCOPE_LAB_OUT. */
export const DOM0_RESULTS_DIR = '/run/hvscope-lab/out';
/** The lab's own directory in dom0 (tmpfs): stage 2, the experiment and its input files. */
export const DOM0_LAB_DIR = '/run/hvscope-lab';
/**
 * The host's root as dom0 sees it, whole: dom0's own /run and /var/log are
 * tmpfs over the shared root, so a host file under those is only reachable here.
 */
export const DOM0_HOST_ROOT_DIR = '/run/hvscope-lab/host';
/** The bridge stage 2 creates for guests' vifs. */
export const LAB_BRIDGE = 'xenbr0';

/** Console lines the lab prints; the host waits for them. */
export const LAB_MARKER_PREFIX = 'hvscope-lab:';
export const LAB_MARKERS = {
  stage: (name: string) => `${LAB_MARKER_PREFIX} stage ${name}`,
  ready: `${LAB_MARKER_PREFIX} ready`,
  experimentExit: (code: number | string) => `${LAB_MARKER_PREFIX} experiment exit ${code}`,
  failed: (what: string) => `${LAB_MARKER_PREFIX} failed ${what}`,
  poweringOff: `${LAB_MARKER_PREFIX} powering off`,
} as const;

/** The log files stage 2 leaves in the results directory. */
export const EXPERIMENT_LOG = 'experiment.log';
export const DOM0_LOGS_DIR = 'dom0-logs';

const NINEP_OPTIONS = 'trans=virtio,version=9p2000.L,msize=512000';

/** Quotes a string for a POSIX shell (single quotes; ' becomes '\''). */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** /init: stage 1, run by busybox in the initramfs. Powers dom0 off whatever happens. */
export function renderStage1Init(): string {
  const m = LAB_MARKERS;
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
off() { sync; poweroff -f; sleep 60; }
fail() { echo "${m.failed('')}$*"; off; }
echo "${m.stage('modules')}"
# In load order; each file is named NN-module.ko.
for ko in /modules/*.ko; do insmod "$ko" || fail "insmod $ko"; done
echo "${m.stage('mounts')}"
mount -t 9p -o ${NINEP_OPTIONS},ro,cache=loose ${HOST_ROOT_TAG} /host || fail "mount host root (9p ${HOST_ROOT_TAG})"
mount -t tmpfs -o size=256m,mode=0755 tmpfs /rw || fail "tmpfs for the overlay"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay of the host root"
mount -t proc proc /newroot/proc || fail "proc"
mount -t sysfs sysfs /newroot/sys || fail "sysfs"
mount -t devtmpfs devtmpfs /newroot/dev || fail "devtmpfs"
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts || fail "devpts (xenconsoled needs ptys)"
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /newroot/run || fail "tmpfs /run"
# No tmpfs on /tmp: the overlay already makes it writable, and host paths under
# /tmp (a checkout, a guest kernel, a cache) must stay visible at the same path.
mount -t tmpfs -o mode=0755 tmpfs /newroot/var/log || fail "tmpfs /var/log"
# For tracing inside dom0; not every kernel has them, so failures are not fatal.
mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /newroot/sys/kernel/tracing 2>/dev/null
mkdir -p /newroot${DOM0_RESULTS_DIR}
mount -t 9p -o ${NINEP_OPTIONS} ${RESULTS_TAG} /newroot${DOM0_RESULTS_DIR} || fail "mount results share (9p ${RESULTS_TAG})"
mkdir -p /newroot${DOM0_HOST_ROOT_DIR}
mount -o bind /host /newroot${DOM0_HOST_ROOT_DIR} || fail "bind the host root at ${DOM0_HOST_ROOT_DIR}"
cp /lab/stage2.sh /lab/experiment.sh /newroot/run/hvscope-lab/
cp -R /lab/files/. /newroot/run/hvscope-lab/
chroot /newroot /bin/sh /run/hvscope-lab/stage2.sh
umount /newroot${DOM0_RESULTS_DIR}
echo "${m.poweringOff}"
off
`;
}

/** stage2.sh: runs inside the chroot with the host's tools; its exit ends the lab. */
export function renderStage2(): string {
  const m = LAB_MARKERS;
  return `#!/bin/sh
export PATH=${XEN_TOOLS_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
export HVSCOPE_LAB_OUT=${DOM0_RESULTS_DIR}
fail() { echo "${m.failed('')}$*"; exit 1; }
cd /
mount -t xenfs xenfs /proc/xen || fail "mount xenfs on /proc/xen"
mkdir -p /run/xen /run/xenstored /run/lock /var/lib/xenstored /var/lib/xen /var/log/xen/console
echo "${m.stage('xenstored')}"
xenstored --pid-file /run/xenstored.pid || fail "xenstored"
xen-init-dom0 >/var/log/xen/xen-init-dom0.log 2>&1 || fail "xen-init-dom0 (see ${DOM0_LOGS_DIR}/xen-init-dom0.log)"
echo "${m.stage('xenconsoled')}"
# --log=guest: each guest's console goes to /var/log/xen/console/guest-NAME.log.
xenconsoled --log=guest --log-dir=/var/log/xen/console --pid-file=/run/xenconsoled.pid || fail "xenconsoled"
ip link add name ${LAB_BRIDGE} type bridge && ip link set ${LAB_BRIDGE} up || fail "bridge ${LAB_BRIDGE}"
echo "${m.ready}"
( sh /run/hvscope-lab/experiment.sh </dev/null; echo $? >/run/hvscope-lab/exit-code ) 2>&1 | tee ${DOM0_RESULTS_DIR}/${EXPERIMENT_LOG}
rc=$(cat /run/hvscope-lab/exit-code 2>/dev/null || echo 255)
mkdir -p ${DOM0_RESULTS_DIR}/${DOM0_LOGS_DIR}
cp -r /var/log/xen/. ${DOM0_RESULTS_DIR}/${DOM0_LOGS_DIR}/ 2>/dev/null
sync
echo "${m.experimentExit('$rc')}"
exit 0
`;
}

export interface Dom0InitramfsInputs {
  busybox: string;
  /** Kernel modules in load order. */
  modules: string[];
  /** The experiment: a sh script run in dom0 once the toolstack is up. */
  experimentScript: string;
  /** Input files for the experiment (data, never code), placed in DOM0_LAB_DIR/NAME (/run/hvscope-lab). */
  files?: LabInputFile[];
}

export interface LabInputFile {
  /** A plain file name: letters, digits, '_', '.', '-'. */
  name: string;
  data: string | Buffer;
}

const RESERVED_LAB_FILES = new Set(['stage2.sh', 'experiment.sh', 'exit-code', 'out', 'host', 'experiment']);

/** UserError unless the name is a plain file name the lab does not use itself. */
export function checkLabInputFileName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name) || RESERVED_LAB_FILES.has(name))
    throw new UserError(`Xen lab: input file name ${JSON.stringify(name)} must be a plain name (letters, digits, '_', '.', '-') other than ${[...RESERVED_LAB_FILES].join(', ')}`);
  return name;
}

/** The initramfs as a newc cpio (uncompressed: decompressing costs more than reading under TCG). */
export async function buildDom0Initramfs(inputs: Dom0InitramfsInputs): Promise<Buffer> {
  const entries: CpioEntry[] = [];
  for (const dir of ['bin', 'dev', 'proc', 'sys', 'host', 'rw', 'newroot', 'modules', 'lab', 'tmp']) entries.push({ kind: 'dir', path: dir });
  // The kernel opens /dev/console for init before anything is mounted.
  entries.push({ kind: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  entries.push({ kind: 'file', path: 'bin/busybox', data: await readFile(inputs.busybox), mode: 0o755 });
  entries.push({ kind: 'symlink', path: 'bin/sh', target: 'busybox' });
  for (const [i, path] of inputs.modules.entries()) {
    const name = `${String(i).padStart(2, '0')}-${moduleNameOf(path)}.ko`;
    entries.push({ kind: 'file', path: `modules/${name}`, data: await readFile(path) });
  }
  entries.push({ kind: 'file', path: 'init', data: renderStage1Init(), mode: 0o755 });
  entries.push({ kind: 'file', path: 'lab/stage2.sh', data: renderStage2(), mode: 0o755 });
  entries.push({ kind: 'file', path: 'lab/experiment.sh', data: inputs.experimentScript, mode: 0o755 });
  entries.push({ kind: 'dir', path: 'lab/files' });
  const names = new Set<string>();
  for (const f of inputs.files ?? []) {
    if (names.has(checkLabInputFileName(f.name))) throw new UserError(`Xen lab: input file ${f.name} given twice`);
    names.add(f.name);
    entries.push({ kind: 'file', path: `lab/files/${f.name}`, data: f.data });
  }
  return writeCpio(entries);
}
