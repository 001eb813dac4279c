// Diagnose rules for domain creation through libvirt's QEMU driver, from the
// spans of the libvirt probe set (src/sources/bpftrace/libvirt.ts): the QMP
// probe storm, the mount namespace and cgroup set-up, a new client connection
// per call, and late reaping at teardown. Each fires only on evidence the
// trace carries, and quotes only numbers taken from it.
import type { Rule, RunFacts } from './diagnose.js';
import type { Span } from '../model/trace.js';
import { formatDuration } from '../model/duration.js';

/** qom-get commands per creation from which the CPU read-back is called a storm. */
export const QOM_GET_STORM_MIN = 50;
/** Namespace + cgroup set-up worth a line (ns). */
export const NS_CGROUP_MIN_NS = 5e6;
/** Client connect + close worth a line (ns). */
export const CONNECT_MIN_NS = 5e6;
/** QEMU reaped this long after its exit: late (ns). */
export const LATE_REAP_MIN_NS = 100e6;

const ms = (ns: number) => formatDuration(ns);
const pct = (f: number) => `${(f * 100).toFixed(f < 0.1 ? 1 : 0)} %`;

/** Length of the union of intervals (ns). */
function union(spans: readonly { start: number; end: number }[]): number {
  let total = 0;
  let end = -Infinity;
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    if (s.end <= end) continue;
    total += s.end - Math.max(s.start, end);
    end = s.end;
  }
  return total;
}

const qmpSpans = (run: RunFacts, name?: string) => run.trace.spans.filter((s) => s.lane.startsWith('qmp:') && s.name !== 'QMP traffic' && (name === undefined || s.name === name));
const daemonSpans = (run: RunFacts, name: string) => run.trace.spans.filter((s) => s.name === name && s.args?.side === 'libvirtd');
const clientSpans = (run: RunFacts, name: string) => run.trace.spans.filter((s) => s.name === name && s.args?.side === 'client');

const qmpStorm: Rule = {
  id: 'libvirt-qmp-storm',
  category: 'boot',
  summary: `libvirtd sends ≥ ${QOM_GET_STORM_MIN} QMP qom-get commands while starting QEMU (the guest CPU read-back)`,
  scope: 'run',
  check(run) {
    const qom = qmpSpans(run, 'qom-get');
    if (qom.length < QOM_GET_STORM_MIN) return null;
    const all = qmpSpans(run);
    const busy = union(qom);
    const first = Math.min(...qom.map((s) => s.start));
    const last = Math.max(...qom.map((s) => s.end));
    const properties = new Set(qom.map((s) => s.args?.property).filter((p): p is string => typeof p === 'string'));
    const fraction = run.total > 0 ? busy / run.total : 0;
    return {
      severity: fraction >= 0.2 ? 'warn' : 'info',
      title: 'libvirt reads the guest CPU back one QMP qom-get per property',
      evidence: {
        lines: [
          `${qom.length} qom-get of ${all.length} QMP commands (${properties.size} distinct properties traced), in flight ${ms(busy)} over ${ms(last - first)}`,
          `${pct(fraction)} of the ${ms(run.total)} run, between QEMU's start and cont`,
        ],
        data: { qom_get: qom.length, qmp_commands: all.length, properties: properties.size, busy_ns: busy, window_ns: last - first, share: fraction, total_ns: run.total },
      },
      why:
        "libvirt 9.0 checks the vCPU QEMU built against the domain's CPU definition by reading every CPU property over QMP (qom-list, then one qom-get each); under TCG each round trip is a QEMU main-loop turn. Measured here, neither <cpu check='none'> nor mode='maximum' changed the count: with libvirt 9.0 and QEMU 7.2 no domain XML setting removes it.",
      source: 'docs/references.md#libvirt-qemu-driver',
      fix: {
        text: 'Nothing in the domain XML removes it with libvirt 9.0; only a newer libvirt/QEMU pair that reads the CPU properties in fewer commands does (hvscope has not measured one). Budget it, or start QEMU without libvirt where creation time matters.',
      },
      impact_ns: busy,
    };
  },
};

const namespaceCgroup: Rule = {
  id: 'libvirt-namespace-cgroup',
  category: 'boot',
  summary: `libvirt's per-domain mount namespace and cgroup set-up take ≥ ${ms(NS_CGROUP_MIN_NS)}`,
  scope: 'run',
  check(run) {
    const ns = daemonSpans(run, 'qemuDomainUnshareNamespace');
    const cg = [...daemonSpans(run, 'qemuSetupCgroup'), ...daemonSpans(run, 'virCgroupNewMachine')];
    const nsNs = union(ns);
    const cgNs = union(cg);
    if (nsNs + cgNs < NS_CGROUP_MIN_NS) return null;
    const orchestrate = run.phases.find((p) => p.phase === 'orchestrate');
    const orchestrateNs = orchestrate ? orchestrate.end - orchestrate.start : 0;
    return {
      severity: 'info',
      title: 'Mount namespace and cgroup set-up on the creation path',
      evidence: {
        lines: [
          `mount namespace (qemuDomainUnshareNamespace, in the forked child): ${ms(nsNs)}; cgroups (qemuSetupCgroup): ${ms(cgNs)}`,
          ...(orchestrateNs > 0 ? [`together ${pct((nsNs + cgNs) / orchestrateNs)} of the ${ms(orchestrateNs)} orchestrate phase`] : []),
        ],
        data: { namespace_ns: nsNs, cgroup_ns: cgNs, orchestrate_ns: orchestrateNs },
      },
      why: "Before QEMU's exec libvirt's QEMU driver gives each domain a private mount namespace with its own /dev (namespaces = [\"mount\"] in qemu.conf) and puts it in a machine cgroup with the controllers cgroup_controllers lists; both are isolation, paid on every creation.",
      source: 'docs/references.md#libvirt-qemu-driver',
      fix: {
        text: 'Where the isolation is not needed (a trusted single-tenant host), qemu.conf `namespaces = []` drops the mount namespace and `cgroup_controllers = []` the cgroup set-up; measure the gain with hvscope boot --via libvirt before and after.',
        flags: ['namespaces = []', 'cgroup_controllers = [ ]'],
      },
      impact_ns: nsNs + cgNs,
    };
  },
};

const connectPerCall: Rule = {
  id: 'libvirt-connect-per-call',
  category: 'boot',
  summary: `the libvirt client opens (and closes) a connection for the call, ≥ ${ms(CONNECT_MIN_NS)}`,
  scope: 'run',
  check(run) {
    const open = clientSpans(run, 'virConnectOpenAuth');
    const close = clientSpans(run, 'virConnectClose');
    const create = clientSpans(run, 'virDomainCreateXML')[0];
    if (open.length === 0 || !create) return null;
    const client = run.trace.spans.find((s) => s.lane === open[0].lane && s.name === 'virsh');
    const before = create.start - (client?.start ?? open[0].start);
    const cost = union([...open, ...close]);
    if (cost < CONNECT_MIN_NS && before < CONNECT_MIN_NS) return null;
    return {
      severity: 'info',
      title: 'A new libvirt connection for the call',
      evidence: {
        lines: [
          `connect ${ms(union(open))}, close ${ms(union(close))}; ${ms(before)} from the client's start to its virDomainCreateXML (start-up, connect)`,
          `the call itself (virDomainCreateXML in the client) ${ms(create.end - create.start)}`,
        ],
        data: { connect_ns: union(open), close_ns: union(close), before_call_ns: before, call_ns: create.end - create.start },
      },
      why: 'virsh opens a connection per invocation: process start, library load, connect and authentication to libvirtd and close are paid on every call. A VIM that keeps one connection open (Nova keeps its libvirt connection) pays them once; the first connection to a freshly started libvirtd also waits for its QEMU capability probing.',
      source: 'docs/references.md#libvirt-qemu-driver',
      fix: { text: 'Keep one connection open (libvirt API or its bindings) and create domains through it instead of one virsh per domain.' },
      impact_ns: before,
    };
  },
};

const lateReap: Rule = {
  id: 'libvirt-late-reap',
  category: 'boot',
  summary: `QEMU reaped ≥ ${ms(LATE_REAP_MIN_NS)} after it exited, with libvirtd polling (teardown)`,
  scope: 'run',
  check(run) {
    const qemuExit = run.trace.spans.filter((s) => s.lane.startsWith('pid:') && /^qemu-system/.test(s.name) && s.args?.running !== true).map((s) => s.end);
    if (qemuExit.length === 0) return null;
    const exit = Math.min(...qemuExit);
    const polls = daemonSpans(run, 'virProcessKillPainfullyDelay').filter((s: Span) => s.end >= exit);
    const poll = polls.sort((a, b) => b.end - b.start - (a.end - a.start))[0];
    if (!poll || poll.end - Math.max(exit, poll.start) < LATE_REAP_MIN_NS) return null;
    const late = poll.end - Math.max(exit, poll.start);
    return {
      severity: 'warn',
      title: 'QEMU is reaped late at teardown',
      evidence: {
        lines: [`QEMU exited at ${ms(exit)}; libvirtd's virProcessKillPainfullyDelay polled from ${ms(poll.start)} until ${ms(poll.end)}: ${ms(late)} after the exit`],
        data: { qemu_exit_ns: exit, poll_start_ns: poll.start, poll_end_ns: poll.end, late_ns: late },
      },
      why: "libvirt starts QEMU daemonized (its parent is init), so QEMU's exit status goes to init; libvirtd signals it and polls until the process is gone. An init that reaps late (a container's, or none) keeps the exited QEMU a zombie and libvirtd waiting: the next creation of the same domain, and the API call that stops it, wait too.",
      source: 'docs/references.md#libvirt-qemu-driver',
      fix: { text: 'Run libvirtd where pid 1 reaps promptly (a real init, or a minimal reaper such as tini/dumb-init as a container\'s pid 1).' },
      impact_ns: late,
    };
  },
};

/** The libvirt rules, in the order they are listed. */
export const LIBVIRT_RULES: readonly Rule[] = [qmpStorm, namespaceCgroup, connectPerCall, lateReap];
