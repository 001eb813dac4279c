// CPU time of this process's children, read from /proc/self/stat (stat(5) fields 16 and 17,
// cutime + cstime): a child counts once it has exited and been reaped, with the CPU of its own
// reaped children. Under TCG a guest's boot is QEMU's emulation work, which host load hardly
// changes, so it resolves steps of ~10 % that wall time on a shared host cannot.
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: the clock ticks of /proc/PID/stat are 1/100 s on every architecture. */
const MS_PER_TICK = 10;

/** CPU time (user + system) of this process's reaped children so far, ms (10 ms resolution). */
export function reapedChildrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // The fields after the command name (which may hold spaces and parentheses) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * MS_PER_TICK;
}
