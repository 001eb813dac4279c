#!/bin/bash
# Measures the libvirt tuning profiles against a private libvirtd (libvirt 9.0, QEMU TCG):
# `virsh create` of the tiny guest (kernel-only direct boot, serial to a file, isa-debug-exit)
# with three setups in alternation, ROUNDS times:
#   stock      stock domain XML       (fixtures/libvirt/domain-stock.xml)      + stock qemu.conf
#   uni        unikernel domain XML   (fixtures/libvirt/domain-unikernel.xml)  + stock qemu.conf
#   uni-conf   unikernel domain XML                                            + tuned qemu.conf (all three below)
#   uni-ns / uni-cg / uni-sc   unikernel XML + stock qemu.conf with only one change:
#              namespaces = [ ] / cgroup_controllers = [ ] / seccomp_sandbox = 0
# The daemons run in their own mount and network namespaces (unshare -mn): tmpfs over libvirt's
# state/run/cache/log directories, the qemu.conf bind-mounted, a bridge br0 for the unikernel's
# interface. Each daemon is warmed with one `virsh version` first (libvirtd probes QEMU's
# capabilities on the first call, ~6 s). Stopped by pid at the end, also on Ctrl-C.
#
# Usage (root): scripts/measure-libvirt-tuning.sh OUTDIR [ROUNDS]   → OUTDIR/runs.tsv, medians on stdout
# Columns: setup, round, create_ms (virsh create returns), done_ms (serial shows "tiny: done"), gone_ms (domain gone).
set -euo pipefail
out=$(realpath -m "${1:?usage: $0 OUTDIR [ROUNDS]}")
rounds=${2:-6}
repo=$(cd "$(dirname "$0")/.." && pwd)
kernel=$(ls "$HOME"/.cache/hvscope/tiny/*/tiny.elf | head -1)
[ -r "$kernel" ] || { echo "no tiny guest in ~/.cache/hvscope/tiny (run hvscope boot once)" >&2; exit 1; }
mkdir -p "$out"
cp "$kernel" "$out/tiny.elf"
truncate -s 64M "$out/disk.img"
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in stock tuned ns cg sc; do [ -f "$out/$d/virtlogd.pid" ] && kill "$(cat "$out/$d/virtlogd.pid")" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

start_daemon() { # NAME QEMU_CONF
  local dir="$out/$1"
  mkdir -p "$dir/sock"
  printf 'unix_sock_dir = "%s/sock"\nlisten_tls = 0\nlisten_tcp = 0\n' "$dir" > "$dir/libvirtd.conf"
  cp "$2" "$dir/qemu.conf"
  unshare -mn --propagation private -- bash -c '
    set -e
    for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do mount -t tmpfs lvtune "$d"; done
    mount --bind "$1/qemu.conf" /etc/libvirt/qemu.conf
    ip link set lo up; ip link add br0 type bridge; ip link set br0 up
    /usr/sbin/virtlogd -d -p "$1/virtlogd.pid"
    exec /usr/sbin/libvirtd -p "$1/libvirtd.pid" --config "$1/libvirtd.conf" 2>"$1/libvirtd.log"' lvtune "$dir" &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/sock/libvirt-sock" ] && break; sleep 0.1; done
  virsh -c "qemu:///system?socket=$dir/sock/libvirt-sock" version >/dev/null
}

stock_conf=/etc/libvirt/qemu.conf
tuned_conf="$out/qemu-tuned.conf"
{ cat "$stock_conf"; printf 'namespaces = [ ]\ncgroup_controllers = [ ]\nseccomp_sandbox = 0\n'; } > "$tuned_conf"
{ cat "$stock_conf"; printf 'namespaces = [ ]\n'; } > "$out/qemu-ns.conf"
{ cat "$stock_conf"; printf 'cgroup_controllers = [ ]\n'; } > "$out/qemu-cg.conf"
{ cat "$stock_conf"; printf 'seccomp_sandbox = 0\n'; } > "$out/qemu-sc.conf"
start_daemon stock "$stock_conf"
start_daemon tuned "$tuned_conf"
for d in ns cg sc; do start_daemon "$d" "$out/qemu-$d.conf"; done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
render() { # TEMPLATE NAME SERIAL → xml on stdout
  sed -e "s|@NAME@|$2|; s|@KERNEL@|$out/tiny.elf|; s|@SERIAL@|$3|; s|@DISK@|$out/disk.img|" "$1"
}
run_one() { # SETUP TEMPLATE DAEMON ROUND
  local uri="qemu:///system?socket=$out/$3/sock/libvirt-sock" name="lvtune-$1-$4" serial="$out/serial-$1-$4.log"
  render "$2" "$name" "$serial" > "$out/$name.xml"
  rm -f "$serial"
  local t0 t1 t2 t3
  t0=$(now_ms)
  virsh -q -c "$uri" create "$out/$name.xml" >/dev/null
  t1=$(now_ms)
  for _ in $(seq 1500); do grep -qs 'tiny: done' "$serial" && break; sleep 0.02; done
  t2=$(now_ms)
  for _ in $(seq 300); do [ -z "$(virsh -q -c "$uri" list --name)" ] && break; sleep 0.1; done
  t3=$(now_ms)
  virsh -q -c "$uri" destroy "$name" >/dev/null 2>&1 || true
  printf '%s\t%s\t%d\t%d\t%d\n' "$1" "$4" $((t1 - t0)) $((t2 - t0)) $((t3 - t0)) | tee -a "$out/runs.tsv"
}

printf 'setup\tround\tcreate_ms\tdone_ms\tgone_ms\n' > "$out/runs.tsv"
for r in $(seq "$rounds"); do
  # Rotate the order each round so no setup always runs first after a pause.
  all=(stock uni uni-conf uni-ns uni-cg uni-sc)
  k=$(( (r - 1) % ${#all[@]} ))
  order="${all[*]:k} ${all[*]:0:k}"
  for s in $order; do
    case $s in
      stock) run_one stock "$repo/fixtures/libvirt/domain-stock.xml" stock "$r" ;;
      uni) run_one uni "$repo/fixtures/libvirt/domain-unikernel.xml" stock "$r" ;;
      uni-conf) run_one uni-conf "$repo/fixtures/libvirt/domain-unikernel.xml" tuned "$r" ;;
      uni-ns | uni-cg | uni-sc) run_one "$s" "$repo/fixtures/libvirt/domain-unikernel.xml" "${s#uni-}" "$r" ;;
    esac
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for s in stock uni uni-conf uni-ns uni-cg uni-sc; do
  for col in 3 4 5; do
    printf '%s col%d median %s\n' "$s" "$col" "$(awk -v s="$s" -v c="$col" '$1==s {print $c}' "$out/runs.tsv" | median)"
  done
done
