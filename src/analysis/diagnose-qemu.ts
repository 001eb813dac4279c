// Diagnose rules on trace quality and the hypervisor/QEMU side: lost events, probes
// unavailable, TCG, SeaBIOS on pc, a dominating toolstack.
import { consolePattern } from '../model/markers.js';
import { DOMINANT_SHARE, FIRMWARE_MIN_NS, FIRMWARE_MIN_SHARE, ms, pct, phaseOf, qemuCommand, quote, sawKvm, severityFor, share } from './diagnose-facts.js';
import type { EvidenceValue, Fix, Rule } from './diagnose-types.js';

// ---------------------------------------------------------------------------------------------
// Trace quality

export const lostEvents: Rule = {
  id: 'trace-lost-events',
  category: 'trace-quality',
  summary: 'bpftrace lost events (meta.lostEvents > 0)',
  scope: 'run',
  check(run) {
    const lost = run.trace.meta.lostEvents ?? 0;
    if (!(lost > 0)) return null;
    return {
      severity: 'warn',
      title: 'bpftrace lost events: this trace is incomplete',
      evidence: { lines: [`meta.lostEvents = ${lost}`], data: { lost_events: lost } },
      why:
        "bpftrace's perf ring buffer overflowed and dropped events; a dropped console byte or marker can move or remove a phase boundary, so durations and the other findings may be wrong.",
      source: 'probes/README.md (Lost events: ~2,000 lost with the default 64 pages, none with 1024); docs/references.md#bpftrace-json',
      fix: { text: 'Trace again with a larger perf buffer in bpftrace\'s environment.', flags: ['BPFTRACE_PERF_RB_PAGES=1024'] },
      impact_ns: run.total,
    };
  },
};

export const probesUnavailable: Rule = {
  id: 'trace-probes-unavailable',
  category: 'trace-quality',
  summary: 'probes or sources that could not be used (meta.unavailable)',
  scope: 'run',
  check(run) {
    const missing = run.trace.meta.unavailable ?? [];
    if (missing.length === 0) return null;
    return {
      severity: 'info',
      title: 'Some probes were unavailable: what they measure is missing from this trace',
      evidence: { lines: missing.map((u) => `${u.what}: ${u.why}`), data: { unavailable: missing.map((u) => u.what) } },
      why: 'Phases and events those probes would have produced are absent or taken from coarser sources (QEMU trace log, serial console); a finding that needs them cannot fire.',
      fix: { text: 'Run `hvscope doctor` to see what this host lacks for them (root, tracefs, BTF, the kvm module) and trace again.' },
      impact_ns: 0,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Hypervisor / QEMU

export const acceleratorTcg: Rule = {
  id: 'accelerator-tcg',
  category: 'boot',
  summary: 'the run used TCG (software emulation), not KVM',
  scope: 'run',
  check(run) {
    const hypervisor = run.trace.meta.hypervisor ?? '';
    const cmd = qemuCommand(run);
    const byHypervisor = /\btcg\b/i.test(hypervisor);
    const byCommand = cmd !== undefined && cmd.accels.length > 0 && cmd.accels.every((a) => a === 'tcg');
    if (!(byHypervisor || byCommand) || sawKvm(run.trace)) return null;
    const lines: string[] = [];
    if (byHypervisor) lines.push(`meta.hypervisor = "${hypervisor}"`);
    if (byCommand) lines.push(`command line selects ${cmd!.accels.map((a) => a).join(', ')} (${cmd!.argv.includes('-accel') ? '-accel tcg' : 'accel=tcg'})`);
    const guest = run.phases.filter((p) => p.phase === 'firmware' || p.phase === 'kernel' || p.phase === 'user');
    const guestNs = guest.reduce((n, p) => n + p.duration, 0);
    if (guest.length > 0) lines.push(`guest phases (${guest.map((p) => p.phase).join(' + ')}) ${ms(guestNs)} of ${ms(run.total)} total (${pct(share(guestNs, run.total))})`);
    else lines.push(`total ${ms(run.total)}`);
    return {
      // Emulation matters as much as the guest phases weigh in the boot.
      severity: severityFor(guest.length > 0 ? share(guestNs, run.total) : 1),
      title: 'The run used TCG (every guest instruction emulated), not KVM',
      evidence: {
        lines,
        data: { hypervisor: hypervisor || null, accels: cmd?.accels ?? [], guest_ns: guestNs, total_ns: run.total },
      },
      why:
        'Under TCG the firmware, kernel and user phases are emulation times: far longer than on KVM and varying with host load, so they say little about a real boot. For scale, qemu-boot-time measured a whole q35 + SeaBIOS + bzImage boot at 245 ms under KVM.',
      source: 'docs/references.md#qemu-boot-time (example under KVM); fixtures/README.md (TCG kernel phase takes seconds and varies with host load)',
      fix: {
        text: 'Boot with KVM (needs /dev/kvm and a CPU with VT-x/AMD-V; `hvscope doctor` checks accel.kvm): `hvscope boot --accel kvm`, or -accel kvm on the QEMU command line.',
        flags: ['-accel kvm'],
      },
      impact_ns: guestNs > 0 ? guestNs : run.total,
    };
  },
};

/** x86 setup code and decompressor lines, and the kernel banner: the marker vocabulary's (model/markers.ts). */
export const SETUP_LINE = consolePattern('x86-setup');
export const KERNEL_BANNER = consolePattern('linux-banner');
export const PC_MACHINE = /^(pc|q35|isapc)(-|$)/;

export const firmwareSeabios: Rule = {
  id: 'firmware-seabios',
  category: 'boot',
  summary: `long firmware phase on a pc/q35 machine (SeaBIOS): ≥ ${ms(FIRMWARE_MIN_NS)} or ≥ ${pct(FIRMWARE_MIN_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    const fw = phaseOf(run, 'firmware');
    if (!fw) return null;
    const cmd = qemuCommand(run);
    const seabios = run.console.find((l) => /SeaBIOS \(version/.test(l.text));
    // The machine: -M on the command line; without one QEMU's x86 default is pc (only trusted on a complete argv).
    const machine = cmd?.machine ?? (cmd?.complete ? 'pc' : undefined);
    if (machine !== undefined ? !PC_MACHINE.test(machine) : !seabios) return null;
    // The phase may also hold the x86 setup code and decompression (bpftrace starts the kernel at its banner):
    // firmware proper ends at the first setup-code line inside it.
    const setup = run.console.find((l) => l.at > fw.start && l.at < fw.end && SETUP_LINE.test(l.text));
    const end = setup ? setup.at : fw.end;
    const duration = end - fw.start;
    const fraction = share(duration, run.total);
    if (duration < FIRMWARE_MIN_NS && fraction < FIRMWARE_MIN_SHARE) return null;
    const lines = [
      `firmware ${ms(duration)} (${ms(fw.start)} → ${ms(end)}), ${pct(fraction)} of the ${ms(run.total)} boot`,
      `machine: ${machine ?? 'not on the command line'}${cmd ? ` (-M ${cmd.machine ?? '(default)'}${cmd.machineOptions.length ? `,${cmd.machineOptions.join(',')}` : ''})` : ''}`,
    ];
    if (seabios) lines.push(`firmware banner ${quote(seabios)}`);
    const roms = run.trace.instants.map((i) => /^fw_cfg add (genroms\/\S+)/.exec(i.name)?.[1]).filter((r): r is string => r !== undefined);
    if (roms.length > 0) lines.push(`option ROMs QEMU handed the firmware: ${roms.join(', ')}`);
    const banner = run.console.find((l) => KERNEL_BANNER.test(l.text));
    const silent = !setup && banner !== undefined && Math.abs(banner.at - fw.end) < 1e6 && !run.console.some((l) => l.at >= fw.start && l.at < fw.end);
    if (silent) lines.push('no console line inside the phase: it also holds the x86 setup code and kernel decompression, which print nothing here (only with -nographic/sercon)');
    return {
      severity: severityFor(fraction),
      title: silent
        ? 'Firmware (SeaBIOS, option ROMs) with the kernel\'s setup and decompression (no console line between them) takes a large part of the boot'
        : 'Firmware (SeaBIOS and option ROMs on a pc/q35 machine) takes a visible part of the boot',
      evidence: {
        lines,
        data: { phase: 'firmware', duration_ns: duration, start_ns: fw.start, end_ns: end, share: fraction, total_ns: run.total, machine: machine ?? null, option_roms: roms, includes_setup_and_decompression: silent },
      },
      why:
        'On pc/q35 QEMU boots SeaBIOS, which initialises the chipset and PCI and runs option ROMs (linuxboot_dma.bin loads a -kernel) before the kernel runs; microvm with qboot/bios-microvm and no option ROMs, or a PVH entry straight into an uncompressed vmlinux, skip most of it. qemu-boot-time: q35 + SeaBIOS + bzImage reached linux_start_kernel ≈123 ms after exec, PVH + qboot at 56.7 ms.',
      source: 'docs/references.md#qemu-boot-time; docs/references.md#qemu-microvm (QEMU docs/system/i386/microvm.rst)',
      fix: {
        text: 'Use the microvm machine without option ROMs (profile qemu-microvm-min), or boot an uncompressed vmlinux built with CONFIG_PVH=y through its PVH entry (-kernel vmlinux).',
        profile: 'qemu-microvm-min',
        flags: ['-M microvm,x-option-roms=off', '-kernel vmlinux (PVH)'],
      },
      impact_ns: duration,
    };
  },
};

export const toolstackDominates: Rule = {
  id: 'toolstack-dominates',
  category: 'boot',
  summary: `toolstack phase (VMM/xl start → first vCPU run) ≥ ${pct(DOMINANT_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    const ts = phaseOf(run, 'toolstack');
    if (!ts) return null;
    const fraction = share(ts.duration, run.total);
    if (fraction < DOMINANT_SHARE) return null;
    const lines = [`toolstack ${ms(ts.duration)}, ${pct(fraction)} of the ${ms(run.total)} boot`];
    const others = run.phases.filter((p) => p.phase !== 'toolstack').map((p) => `${p.phase} ${ms(p.duration)}`);
    if (others.length > 0) lines.push(`other phases: ${others.join(', ')}`);
    const cmd = qemuCommand(run);
    const isXen = /xen/i.test(run.trace.meta.hypervisor ?? '') || run.command?.program === 'xl';
    const data: Record<string, EvidenceValue> = { phase: 'toolstack', duration_ns: ts.duration, share: fraction, total_ns: run.total };
    const kvmCreate = run.trace.spans.filter((s) => s.name === 'KVM_CREATE_VM');
    if (kvmCreate.length > 0) {
      const slowest = kvmCreate.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
      lines.push(`KVM_CREATE_VM took ${ms(slowest.end - slowest.start)}`);
      data.kvm_create_vm_ns = slowest.end - slowest.start;
    }
    let fix: Fix;
    let why =
      'The seed study found the VMM/toolstack side, not the guest, dominates instantiation of small guests such as unikernels: the guest itself is ready in milliseconds.';
    let source = 'docs/references.md#ventre-2018; docs/references.md#lightvm';
    if (cmd) {
      const missing: string[] = [];
      if (cmd.complete || cmd.machine !== undefined) if (cmd.machine !== 'microvm') missing.push('-M microvm');
      if (cmd.machine === 'microvm' && !cmd.machineOptions.includes('x-option-roms=off')) missing.push('x-option-roms=off');
      if (cmd.complete) for (const flag of ['-nodefaults', '-no-user-config']) if (!cmd.has(flag)) missing.push(flag);
      data.missing_flags = missing;
      if (missing.length > 0) {
        lines.push(`QEMU command line lacks ${missing.join(', ')}`);
        why += ' QEMU creates default devices (VGA, NIC, floppy, CD-ROM, monitor) and reads config files unless told not to, and a pc machine builds a legacy chipset.';
        source += '; QEMU docs/system/i386/microvm.rst minimal line (tuning-profiles/qemu-microvm-min.yaml)';
        fix = { text: `Start QEMU with the minimal microvm line (${missing.join(', ')}).`, profile: 'qemu-microvm-min', flags: missing };
      } else {
        lines.push('QEMU command line already has qemu-microvm-min\'s main settings (microvm, option ROMs off, -nodefaults, -no-user-config)');
        fix = {
          text:
            kvmCreate.length > 0
              ? 'What remains is QEMU\'s own start-up; on Linux 6.1+ hosts KVM_CREATE_VM itself can be slow (see Firecracker\'s prod-host-setup notes on nx-lpage-recovery).'
              : 'What remains is QEMU\'s own start-up (loading, accelerator set-up); a lighter VMM or a pre-started (snapshotted) VM is the next step.',
        };
        if (kvmCreate.length > 0) source += '; docs/references.md#kvm-create-vm';
      }
    } else if (isXen) {
      fix = {
        text: 'Use a minimal domain description (PV, kernel only, no disk, small memory, one vCPU), fast vif hotplug and no dom0 ballooning: the seed study\'s tunings.',
        profile: 'xen-unikernel',
      };
      source = 'docs/references.md#ventre-2018 (minimal domain description, no block devices); docs/references.md#lightvm';
    } else {
      fix = { text: 'Look at the toolstack phase\'s spans in `hvscope render` to see which step of the VMM start takes the time.' };
    }
    return {
      severity: 'warn',
      title: 'The toolstack (VMM start-up before the guest runs) dominates the boot',
      evidence: { lines, data },
      why,
      source,
      fix,
      impact_ns: ts.duration,
    };
  },
};
