// Test-only program: writes console output the way QEMU's chardevs do, so
// test/e2e/probes.test.ts can check how the `qemu` probe set packs one-byte
// console writes in BPF (probes/qemu.bt). The test compiles it as
// "qemu-system-console-writer" because the qemu set recognises QEMU by its
// process name, and compares the lines it rebuilds with this program's stdout.
//
// On fd 1, in order: a short line in one-byte writev()s (a 16550 UART under
// QEMU); a 150-byte line in one-byte writev()s (more than one 56-byte chunk); a
// line mixing one-byte writev()s with one longer writev(); a line whose first
// byte is written 100 ms before the rest (two segments, each timed at its first
// byte: the pause is over CONSOLE_PAUSE_NS);
// a line started in one-byte writev()s and ended in one-byte write()s (which
// the probe prints one by one); and a last line with no newline.
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void bytes(const char *s) {
  for (; *s; s++)
    if (write(1, s, 1) != 1) _exit(1);
}

static void bytes_writev(const char *s) {
  for (; *s; s++) {
    struct iovec iov = {.iov_base = (void *)s, .iov_len = 1};
    if (writev(1, &iov, 1) != 1) _exit(1);
  }
}

int main(void) {
  bytes_writev("short line\r\n");
  char long_line[152];
  for (int i = 0; i < 150; i++) long_line[i] = (char)('a' + i % 26);
  long_line[150] = '\n';
  long_line[151] = 0;
  bytes_writev(long_line);
  bytes_writev("mixed: ");
  const char *multi = "one writev of 24 bytes, ";
  struct iovec iov = {.iov_base = (void *)multi, .iov_len = strlen(multi)};
  if (writev(1, &iov, 1) != (ssize_t)strlen(multi)) return 1;
  bytes_writev("then bytes\n");
  bytes_writev("d");
  struct timespec pause = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
  nanosleep(&pause, NULL);
  bytes_writev("elayed line\n");
  bytes_writev("writev, ");
  bytes("then write\n");
  bytes_writev("login: ");
  return 0;
}
