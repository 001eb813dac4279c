#!/usr/bin/env node
// Feasibility and overhead measurement of libvirt's libxl driver in the Xen lab (run as root after
// `npm run build`): boots the lab (Xen 4.17 nested under QEMU TCG), starts virtlogd and libvirtd in
// dom0 (the host's libvirt-daemon-driver-xen, seen through dom0's view of the host's root), converts
// the tiny-pv xl config to domain XML with `virsh domxml-from-native xen-xl`, then creates tiny-pv
// ROUNDS times each way in alternation: `xl create` and `virsh -c xen:///system create`, timing the
// command and the guest's marker line; and `virsh create` of that XML with libvirt-unikernel's
// removals applied (tuned: no PV input devices; memory, vCPUs and the bridge stay
// as tiny-pv has them).
//
// Usage: node scripts/measure-libvirt-xen-lab.mjs OUTDIR [ROUNDS]  → OUTDIR/libvirt-xen.tsv, lab logs
import { join, resolve } from 'node:path';
import { runInXenLab } from '../dist/src/lab/xen/run.js';
import { buildTinyPvGuest, TINY_PV_MARKER, TINY_PV_MEMORY_MB } from '../dist/src/lab/tiny-pv-guest.js';
import { renderXlDomainConfig } from '../dist/src/lab/xen/tiny-pv-experiment.js';
import { LAB_BRIDGE, shellQuote } from '../dist/src/lab/xen/dom0-initramfs.js';
import { renderTinyPvDomainXml } from '../dist/src/lab/xen/libvirt-xml.js';
import { tuneDomainXml } from '../dist/src/tuning/targets/libvirt-domain.js';
import { loadProfile } from '../dist/src/tuning/profile.js';
import { allTargets } from '../dist/src/tuning/targets/index.js';

const outDir = resolve(process.argv[2] ?? 'lab-libvirt');
const rounds = Number(process.argv[3] ?? 4);
const guest = await buildTinyPvGuest();
const config = renderXlDomainConfig({ name: 'NAME', kernel: guest.kernel, memoryMb: TINY_PV_MEMORY_MB, bridge: LAB_BRIDGE });

// The domain XML libvirt 9.0's `domxml-from-native xen-xl` makes of that config (recorded in the lab
// on 2026-12-04, less its random uuid): the stock libvirt description of tiny-pv.
const stockXml = renderTinyPvDomainXml({ kernel: guest.kernel, memoryMb: TINY_PV_MEMORY_MB, bridge: LAB_BRIDGE });
// The removals of libvirt-unikernel that apply to a Xen PV domain (the rest is already minimal).
const uni = loadProfile('libvirt-unikernel', allTargets).sections['libvirt-domain'];
// memballoon stays: the libxl driver refuses model='none' ("unsupported configuration: balloon device cannot be
// disabled", fixtures/libvirt/xen-lab-2026-12-04/virsh-create-balloon-none.log).
const tunedXml = tuneDomainXml(stockXml, { input: uni.input }, 'tiny-pv.xml');

const script = `#!/bin/sh
set -u
out="$HVSCOPE_LAB_OUT"
res="$out/libvirt-xen.tsv"
w=/run/hvscope-lab
marker=${shellQuote(TINY_PV_MARKER)}
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /var/run/libvirt
t0=$(date +%s%N)
/usr/sbin/virtlogd -d -p $w/virtlogd.pid || { echo "virtlogd did not start"; exit 2; }
LIBVIRT_LOG_OUTPUTS="1:file:$out/libvirtd.log" LIBVIRT_LOG_FILTERS="3:util 3:rpc 3:event 3:object 3:security 1:libxl 1:xen 1:daemon" \
  /usr/sbin/libvirtd -d -p $w/libvirtd.pid 2>"$out/libvirtd.stderr" || { echo "libvirtd did not start"; cat "$out/libvirtd.stderr"; exit 2; }
n=0; while [ ! -S /run/libvirt/libvirt-sock ] && [ "$n" -lt 300 ]; do n=$((n + 1)); sleep 0.1; done
ok=0; n=0
while [ "$n" -lt 20 ]; do
  if virsh -c xen:///system version >"$out/virsh-version.txt" 2>&1; then ok=1; break; fi
  kill -0 "$(cat $w/libvirtd.pid 2>/dev/null)" 2>/dev/null || { echo "libvirtd died"; break; }
  n=$((n + 1)); sleep 3
done
[ "$ok" = 1 ] || { echo "virsh cannot reach libvirtd's libxl driver:"; cat "$out/virsh-version.txt"; tail -40 "$out/libvirtd.log"; exit 2; }
t1=$(date +%s%N)
echo "libvirtd_ready_ms=$(( (t1 - t0) / 1000000 ))"
cat >$w/tpl.cfg <<'HVSCOPE_XL_CONFIG'
${config}HVSCOPE_XL_CONFIG
virsh -c xen:///system domxml-from-native xen-xl $w/tpl.cfg >"$out/tiny-pv.from-native.xml" 2>"$out/from-native.err"
cat >$w/tpl.xml <<'HVSCOPE_STOCK_XML'
${stockXml}HVSCOPE_STOCK_XML
cat >$w/tuned.xml <<'HVSCOPE_TUNED_XML'
${tunedXml}HVSCOPE_TUNED_XML
cp $w/tpl.xml "$out/tiny-pv-stock.xml"; cp $w/tuned.xml "$out/tiny-pv-tuned.xml"
printf 'how\\tround\\tcreate_ms\\tmarker_ms\\texit\\n' >"$res"
one() { # HOW ROUND
  dn="tpv-$1-$2"; log=/var/log/xen/console/guest-$dn.log
  sed "s/NAME/$dn/" $w/tpl.cfg >$w/$dn.cfg
  x=$w/tpl.xml; [ "$1" = tuned ] && x=$w/tuned.xml
  sed "s|<name>NAME</name>|<name>$dn</name>|" $x >$w/$dn.xml
  a=$(date +%s%N)
  if [ "$1" = xl ]; then xl create $w/$dn.cfg >"$out/$dn.log" 2>&1; else virsh -c xen:///system create $w/$dn.xml >"$out/$dn.log" 2>&1; fi
  rc=$?; b=$(date +%s%N); m=-1
  n=0; while [ "$rc" = 0 ] && [ "$n" -lt 300 ]; do
    if grep -qF -- "$marker" "$log" 2>/dev/null || grep -qF -- "$marker" /var/log/libvirt/libxl/$dn.log 2>/dev/null; then m=$(( ($(date +%s%N) - a) / 1000000 )); break; fi
    n=$((n + 1)); sleep 0.1
  done
  n=0; while xl domid "$dn" >/dev/null 2>&1 && [ "$n" -lt 300 ]; do n=$((n + 1)); sleep 0.1; done
  xl destroy "$dn" >/dev/null 2>&1
  printf '%s\\t%s\\t%d\\t%d\\t%d\\n' "$1" "$2" $(( (b - a) / 1000000 )) "$m" "$rc" | tee -a "$res"
  [ "$rc" = 0 ] || cat "$out/$dn.log"
}
one xl 0
one libvirt 0
one tuned 0
r=1
while [ "$r" -le ${rounds} ]; do
  case $((r % 3)) in
    1) one xl $r; one libvirt $r; one tuned $r ;;
    2) one libvirt $r; one tuned $r; one xl $r ;;
    0) one tuned $r; one xl $r; one libvirt $r ;;
  esac
  r=$((r + 1))
done
kill "$(cat $w/libvirtd.pid)" "$(cat $w/virtlogd.pid)" 2>/dev/null
cp /var/log/libvirt/libxl/*.log "$out/" 2>/dev/null
exit 0
`;

// libvirt's libxl driver decodes the host CPU (libxlCapsInitCPU) and does not start when no CPU model
// of its map fits: the lab's default qemu64 and `-cpu max` both gave "x86Decode: Cannot find suitable
// CPU model for given data" (2026-12-04); Nehalem (a named Intel model) starts it.
const cpu = process.env.HVSCOPE_LAB_CPU ?? 'Nehalem';
const result = await runInXenLab({ script, outDir, timeoutMs: 900_000, machine: { cpu }, onProgress: (m) => process.stderr.write(`lab: ${m}\n`), onConsoleLine: (l) => { if (/^(tpv|xl|libvirt|virsh|libvirtd|domxml)/.test(l)) process.stderr.write(`${l}\n`); } });
process.stderr.write(`experiment exit ${result.exitCode}; results in ${join(outDir, 'libvirt-xen.tsv')}\n`);
process.exit(result.exitCode === 0 ? 0 : 1);
