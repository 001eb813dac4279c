/*
 * tiny: a minimal x86 unikernel for timing the VMM side of a boot.
 *
 * It marks each stage three ways (see README.md for the mapping):
 *   - qemu-boot-time codes on port 0xf4 (6 = linux_start_kernel at entry,
 *     7 = linux_start_user when the "app" starts),
 *   - Cloud Hypervisor-style debug codes on port 0x80 (0x40 kernel, 0x60 user, 0x7f done),
 *   - one line on the COM1 serial console (port 0x3f8).
 * Then it asks QEMU to exit through isa-debug-exit at port 0x501 and, when
 * that device is absent, triple-faults (QEMU exits with -no-reboot).
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

#define BOOT_TIME_PORT      0xf4  /* qemu-boot-time marker port */
#define CODE_KERNEL_START   6     /* linux_start_kernel */
#define CODE_USER_START     7     /* linux_start_user */

#define DEBUG_PORT          0x80  /* Cloud Hypervisor debug port */
#define DEBUG_KERNEL_START  0x40  /* 0x40-0x5f: kernel range */
#define DEBUG_USER_START    0x60  /* 0x60-0x7f: userspace range */
#define DEBUG_DONE          0x7f

#define COM1                0x3f8

/* isa-debug-exit: QEMU exits with status (value << 1) | 1. 0x10 -> 33 means "guest finished OK". */
#define DEBUG_EXIT_PORT     0x501
#define DEBUG_EXIT_OK       0x10
#define DEBUG_EXIT_FAILED   0x11

#define PVH_START_MAGIC     0x336ec578u

enum boot_protocol { PROTOCOL_UNKNOWN = 0, PROTOCOL_PVH = 1, PROTOCOL_MULTIBOOT = 2 };

void tiny_main(u32 protocol, const void *boot_info) __attribute__((noreturn, used));
void tiny_triple_fault(void) __attribute__((noreturn));

static inline void outb(u16 port, u8 value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline u8 inb(u16 port) {
  u8 value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

/* Set when a 16550 answers at COM1: without one (microvm isa-serial=off), output is skipped
 * rather than polled for, as a VMM may read an absent port's status as 0 forever. */
static int serial_present;

static void serial_init(void) {
  outb(COM1 + 7, 0x5a); /* scratch register: reads back only when a UART is there */
  serial_present = inb(COM1 + 7) == 0x5a;
  if (!serial_present) return;
  outb(COM1 + 1, 0x00); /* no interrupts */
  outb(COM1 + 3, 0x80); /* DLAB on */
  outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
  outb(COM1 + 2, 0x07); /* FIFO on, cleared */
}

static void serial_putc(char c) {
  if (!serial_present) return;
  /* Wait for the transmitter (bounded: an absent UART reads 0xff or 0x00 forever). */
  for (u32 spins = 0; spins < 100000 && !(inb(COM1 + 5) & 0x20); spins++) {
  }
  outb(COM1, (u8)c);
}

static void serial_puts(const char *s) {
  while (*s) {
    if (*s == '\n') serial_putc('\r');
    serial_putc(*s++);
  }
}

static void serial_put_u32(u32 value) {
  char digits[11];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  while (n) serial_putc(digits[--n]);
}

static void serial_put_hex(u32 value) {
  serial_puts("0x");
  for (int shift = 28; shift >= 0; shift -= 4) serial_putc("0123456789abcdef"[(value >> shift) & 0xf]);
}

/* Stage marker: port 0xf4 first, so a trace sees the code before the (slower) console line. */
static void stage(u8 boot_time_code, u8 debug_code, const char *line) {
  if (boot_time_code) outb(BOOT_TIME_PORT, boot_time_code);
  outb(DEBUG_PORT, debug_code);
  serial_puts(line);
}

/* The "application": a sieve of primes below 10000 (a known answer: 1229), small
 * enough to finish in well under a millisecond of guest time even under TCG. */
#define SIEVE_LIMIT 10000
static u8 composite[SIEVE_LIMIT];

static u32 count_primes(void) {
  u32 count = 0;
  for (u32 i = 2; i < SIEVE_LIMIT; i++) {
    if (composite[i]) continue;
    count++;
    for (u32 j = i * i; j < SIEVE_LIMIT; j += i) composite[j] = 1;
  }
  return count;
}

void tiny_main(u32 protocol, const void *boot_info) {
  outb(BOOT_TIME_PORT, CODE_KERNEL_START);
  outb(DEBUG_PORT, DEBUG_KERNEL_START);
  serial_init();
  /* Leading newline: firmware (SeaBIOS on pc) may leave its last line unterminated. */
  serial_puts("\ntiny: entry\n");

  serial_puts("tiny: boot protocol ");
  if (protocol == PROTOCOL_PVH) {
    u32 magic = boot_info ? *(const volatile u32 *)boot_info : 0;
    serial_puts("pvh start_info magic ");
    serial_put_hex(magic);
    serial_puts(magic == PVH_START_MAGIC ? " ok\n" : " BAD\n");
  } else if (protocol == PROTOCOL_MULTIBOOT) {
    serial_puts("multiboot\n");
  } else {
    serial_puts("unknown\n");
  }

  stage(CODE_USER_START, DEBUG_USER_START, "tiny: app start\n");
  u32 primes = count_primes();
  serial_puts("tiny: app result primes<10000=");
  serial_put_u32(primes);
  serial_puts("\n");

  int ok = primes == 1229;
  stage(0, DEBUG_DONE, ok ? "tiny: done\n" : "tiny: failed\n");

  outb(DEBUG_EXIT_PORT, ok ? DEBUG_EXIT_OK : DEBUG_EXIT_FAILED);
  /* Still running: no isa-debug-exit device at 0x501. */
  serial_puts("tiny: no isa-debug-exit at 0x501, triple fault\n");
  tiny_triple_fault();
}
