// Diagnose rules on the guest kernel: decompression, gaps in its console output, TSC calibration.
import { CONSOLE_GAPS_SHOWN, CONSOLE_GAP_MIN_NS, CONSOLE_GAP_MIN_SHARE, DECOMPRESSION_MIN_SHARE, DOMINANT_SHARE, ms, pct, phaseOf, qemuCommand, quote, severityFor, share } from './diagnose-facts.js';
import { KERNEL_BANNER, SETUP_LINE } from './diagnose-qemu.js';
import type { Rule } from './diagnose-types.js';

// ---------------------------------------------------------------------------------------------
// Guest kernel

export const kernelDecompression: Rule = {
  id: 'kernel-decompression',
  category: 'boot',
  summary: `bzImage setup and decompression (setup-code line → kernel banner) ≥ ${pct(DECOMPRESSION_MIN_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    const bannerIndex = run.console.findIndex((l) => KERNEL_BANNER.test(l.text));
    if (bannerIndex <= 0) return null;
    const banner = run.console[bannerIndex];
    const before = run.console[bannerIndex - 1];
    // Only when the line right before the banner is the setup code's or the decompressor's: then nothing else ran between.
    if (!SETUP_LINE.test(before.text)) return null;
    const decompressing = run.console.slice(0, bannerIndex).find((l) => /Decompressing Linux/.test(l.text));
    const start = decompressing ?? before;
    const gap = banner.at - start.at;
    const fraction = share(gap, run.total);
    if (fraction < DECOMPRESSION_MIN_SHARE) return null;
    const inPhases = run.phases.filter((p) => p.end > start.at && p.start < banner.at).map((p) => p.phase);
    const kernel = phaseOf(run, 'kernel');
    const lines = [
      `${ms(gap)} (${pct(fraction)} of the ${ms(run.total)} boot) between ${quote(start)} and the kernel banner ${quote(banner)}`,
      `in phase${inPhases.length === 1 ? '' : 's'} ${inPhases.join(', ') || '(none)'}${kernel ? `; kernel phase ${ms(kernel.duration)} (${pct(share(kernel.duration, run.total))})` : ''}`,
      'this stretch is the bzImage decompressor plus the kernel\'s earliest init before its console is registered (lines printed then reach the console in one burst)',
    ];
    return {
      severity: severityFor(fraction),
      title: 'bzImage setup and decompression (before the kernel\'s first console line) take a large share of the boot',
      evidence: {
        lines,
        data: { duration_ns: gap, start_ns: start.at, end_ns: banner.at, share: fraction, total_ns: run.total, from_line: start.text, to_line: banner.text, phases: inPhases },
      },
      why:
        'A bzImage is booted through its 16-bit setup code and decompresses itself before start_kernel; an uncompressed vmlinux entered through PVH skips both (qemu-boot-time: linux_start_kernel ≈123 ms after exec with q35 + SeaBIOS + bzImage, 56.7 ms with PVH + qboot). Under TCG the decompression is emulated and takes seconds.',
      source: 'docs/references.md#qemu-boot-time',
      fix: {
        text: 'Boot an uncompressed vmlinux (CONFIG_PVH=y) with -kernel vmlinux, or build the kernel with a fast decompressor (CONFIG_KERNEL_LZ4).',
        flags: ['-kernel vmlinux (PVH)', 'CONFIG_KERNEL_LZ4=y'],
      },
      impact_ns: gap,
    };
  },
};

export const kernelConsoleGaps: Rule = {
  id: 'kernel-console-gaps',
  category: 'boot',
  summary: `kernel phase ≥ ${pct(DOMINANT_SHARE)} of the boot and a console silence ≥ ${pct(CONSOLE_GAP_MIN_SHARE)} of the kernel's time after its banner and ≥ ${ms(CONSOLE_GAP_MIN_NS)}`,
  scope: 'run',
  check(run) {
    const kernel = phaseOf(run, 'kernel');
    if (!kernel) return null;
    const kernelShare = share(kernel.duration, run.total);
    if (kernelShare < DOMINANT_SHARE) return null;
    // From the banner on (the stretch before it is kernel-decompression's), up to the kernel phase's end.
    const banner = run.console.find((l) => KERNEL_BANNER.test(l.text) && l.at >= kernel.start && l.at <= kernel.end);
    const from = banner ? banner.at : kernel.start;
    const window = kernel.end - from;
    const inside = run.console.filter((l) => l.at >= from && l.at <= kernel.end);
    if (inside.length < 2 || window <= 0) return null;
    const gaps = inside.slice(1).map((line, i) => ({ before: inside[i], after: line, gap: line.at - inside[i].at }));
    gaps.sort((a, b) => b.gap - a.gap);
    const top = gaps.slice(0, CONSOLE_GAPS_SHOWN).filter((g) => g.gap > 0);
    if (top.length === 0 || share(top[0].gap, window) < CONSOLE_GAP_MIN_SHARE || top[0].gap < CONSOLE_GAP_MIN_NS) return null;
    const lines = [
      `kernel phase ${ms(kernel.duration)}, ${pct(kernelShare)} of the ${ms(run.total)} boot; ${ms(window)} of it from ${banner ? 'the kernel banner' : 'the phase start'} to init`,
      ...top.map((g) => `${ms(g.gap)} (${pct(share(g.gap, window))}) with no console output between ${quote(g.before)} and ${quote(g.after)}`),
    ];
    return {
      severity: severityFor(share(top[0].gap, run.total)),
      title: 'The kernel phase dominates; its longest console silences show where',
      evidence: {
        lines,
        data: {
          phase: 'kernel',
          duration_ns: kernel.duration,
          share: kernelShare,
          total_ns: run.total,
          window_ns: window,
          gaps_ns: top.map((g) => g.gap),
          gap_before_lines: top.map((g) => g.before.text),
          gap_after_lines: top.map((g) => g.after.text),
        },
      },
      why: 'Console lines are stamped when they reach the host, and once the kernel\'s console is registered its lines reach the host as they are printed: a long silence is kernel work between the line before it and the line after it.',
      source: 'fixtures/README.md (how console lines are timestamped)',
      fix: {
        text: 'Add initcall_debug to the kernel command line to time each initcall and find the slow one; disable or build out the driver or subsystem it belongs to.',
        flags: ['initcall_debug'],
      },
      impact_ns: top[0].gap,
    };
  },
};

export const TSC_TROUBLE = /Marking TSC unstable|Fast TSC calibration failed|Unable to calibrate against PIT|No reference \(HPET\/PMTIMER\) available/;

export const tscCalibration: Rule = {
  id: 'tsc-calibration',
  category: 'boot',
  summary: 'TSC calibration failed or the delay loop was calibrated by measurement (console lines)',
  scope: 'run',
  check(run) {
    const trouble = run.console.filter((l) => TSC_TROUBLE.test(l.text));
    const measuredDelay = run.console.find((l) => /Calibrating delay loop\.\.\./.test(l.text) && !/\(skipped\)/.test(l.text));
    if (trouble.length === 0 && !measuredDelay) return null;
    const unstable = trouble.find((l) => /Marking TSC unstable/.test(l.text));
    const user = phaseOf(run, 'user');
    const lastLine = run.console[run.console.length - 1];
    // The hang fixtures/README.md describes: calibration failed and the boot never reached init.
    const hung = !user && lastLine !== undefined && trouble.some((l) => l.at >= lastLine.at - 1e9 || l === lastLine);
    const detected = run.console.map((l) => /tsc: Detected ([\d.]+) MHz/.exec(l.text)?.[1]).find((v) => v !== undefined);
    const lpj = run.console.map((l) => /\blpj=(\d+)/.exec(l.text)?.[1]).find((v) => v !== undefined);
    const fallback = run.console.find((l) => /using (HPET|PMTIMER) reference calibration/.test(l.text));
    const lines = [...trouble, ...(measuredDelay ? [measuredDelay] : [])].sort((a, b) => a.at - b.at).map((l) => quote(l));
    if (fallback) lines.push(`recovered: ${quote(fallback)}`);
    if (hung) lines.push(`no user phase: the console ends with ${quote(lastLine)} and the run ended ${ms(run.total - lastLine.at)} later`);
    else if (user) lines.push(`the boot reached init at ${ms(user.start)}`);
    const khz = detected !== undefined ? Math.round(Number(detected) * 1000) : undefined;
    if (khz !== undefined || lpj !== undefined)
      lines.push(`this run measured${khz !== undefined ? ` the TSC at ${khz} kHz` : ''}${khz !== undefined && lpj !== undefined ? ' and' : ''}${lpj !== undefined ? ` lpj=${lpj}` : ''}`);
    const flags = [`tsc_early_khz=${khz ?? 'KHZ'}`, `lpj=${lpj ?? 'N'}`];
    // Under TCG a QEMU profile can pass the rate (tuning-profiles/qemu-microvm-min.yaml, tcg-tsc-khz).
    const cmd = qemuCommand(run);
    const tcgQemu = cmd !== undefined && (/\btcg\b/i.test(run.trace.meta.hypervisor ?? '') || (cmd.accels.length > 0 && cmd.accels.every((a) => a === 'tcg')));
    return {
      severity: unstable || hung ? 'warn' : 'info',
      title: hung ? 'TSC calibration failed and the boot never reached init' : 'The guest kernel had trouble calibrating the TSC',
      evidence: {
        lines,
        data: {
          lines: trouble.map((l) => l.text),
          marked_unstable: unstable !== undefined,
          delay_loop_measured: measuredDelay !== undefined,
          reached_init: user !== undefined,
          fallback: fallback?.text ?? null,
          detected_mhz: detected !== undefined ? Number(detected) : null,
          lpj: lpj !== undefined ? Number(lpj) : null,
        },
      },
      why:
        'The kernel calibrates the TSC against the PIT in a short window; a descheduled vCPU thread (TCG, loaded host) makes it fail. pc falls back to its HPET or ACPI PM timer; microvm has neither (and with pit=off no PIT either), so the kernel marks the TSC unstable and calibrate_delay() waits for timer ticks that do not come: the boot hangs.',
      source: 'fixtures/README.md (microvm under TCG on a loaded host: `notsc lpj=…` boots through); Linux Documentation/admin-guide/kernel-parameters.txt (lpj=, tsc_early_khz= since 5.8)',
      fix: {
        text:
          'Tell the kernel the TSC rate so it skips calibration: tsc_early_khz= (Linux 5.8+; under TCG the guest TSC ticks at the host\'s rate, so the host\'s TSC kHz' +
          (khz !== undefined ? ', which this run measured as shown' : ', or what a successful boot\'s "tsc: Detected … MHz" line says') +
          '; the delay loop is then derived from it), or lpj= alone, which skips only calibrate_delay(). On KVM the rate comes from the hypervisor (kvmclock).' +
          (tcgQemu ? ' Profile qemu-microvm-min does this under TCG (its tcg-tsc-khz knob passes the host\'s TSC rate as tsc_early_khz=).' : ''),
        ...(tcgQemu ? { profile: 'qemu-microvm-min' } : {}),
        flags,
      },
      impact_ns: hung ? run.total : 0,
    };
  },
};
