/*
 * tiny-pv: a minimal 64-bit Xen PV unikernel. It prints one marker line on its
 * PV console (the ring page that xenconsoled reads, named by start_info), also
 * through HYPERVISOR_console_io (Xen's own console, which shows domU output
 * only with guest_loglvl=all), waits until xenconsoled has taken the line,
 * and powers the domain off with SCHEDOP_shutdown.
 *
 * The ABI constants and layouts below are those of Xen's public headers
 * (xen/xen.h, sched.h, event_channel.h, io/console.h) for x86_64; they are
 * written out so the guest builds with nothing but gcc.
 */
#include <stdint.h>

#define HYPERVISOR_console_io        18
#define HYPERVISOR_sched_op          29
#define HYPERVISOR_event_channel_op  32

#define CONSOLEIO_write   0
#define SCHEDOP_yield     0
#define SCHEDOP_shutdown  2
#define SCHEDOP_poll      3
#define SHUTDOWN_poweroff 0
#define EVTCHNOP_send     4

/* Kept in sync with TINY_PV_MARKER in src/lab/tiny-pv-guest.ts. */
#define MARKER "tiny-pv: hello from a Xen PV guest\r\n"
/* Second line: what HYPERVISOR_console_io(CONSOLEIO_write) returned. */
#define CONSOLE_IO_STATUS "tiny-pv: console_io returned "

/* Kernel command line word (xl.cfg `cmdline = "hvscope.stay"`): after the marker,
 * stay up (blocked, using no CPU) instead of powering off, so a lab can keep
 * K domains running and time the next creation against them (LightVM's scaling). */
#define STAY_WORD "hvscope.stay"
#define STAYING "tiny-pv: staying up (hvscope.stay)\r\n"

/* How often to yield waiting for xenconsoled to consume the ring before
 * shutting down anyway (a guest must not hang when nobody reads its console). */
#define DRAIN_YIELDS 200000

struct start_info {
	char magic[32];
	unsigned long nr_pages;
	unsigned long shared_info;
	uint32_t flags;
	unsigned long store_mfn;
	uint32_t store_evtchn;
	union {
		struct { unsigned long mfn; uint32_t evtchn; } domU;
		struct { uint32_t info_off; uint32_t info_size; } dom0;
	} console;
	unsigned long pt_base;
	unsigned long nr_pt_frames;
	unsigned long mfn_list;     /* virtual address of the pfn -> mfn table */
	unsigned long mod_start;
	unsigned long mod_len;
	int8_t cmd_line[1024];
	unsigned long first_p2m_pfn;
	unsigned long nr_p2m_frames;
};

struct xencons_interface {
	char in[1024];
	char out[2048];
	uint32_t in_cons, in_prod;
	uint32_t out_cons, out_prod;
};

extern char hypercall_page[];

/* A hypercall is a call into the 32-byte stub Xen wrote for it in
 * hypercall_page; arguments in rdi, rsi, rdx; rcx and r11 are clobbered. */
static inline long hypercall3(unsigned int offset, long a1, long a2, long a3)
{
	register long rdi __asm__("rdi") = a1;
	register long rsi __asm__("rsi") = a2;
	register long rdx __asm__("rdx") = a3;
	long ret;
	__asm__ volatile("call *%[stub]"
			 : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx)
			 : [stub] "r"(hypercall_page + offset)
			 : "memory", "rcx", "r11", "r8", "r9", "r10");
	return ret;
}

#define HYPERCALL(nr, a1, a2, a3) hypercall3((nr) * 32, (long)(a1), (long)(a2), (long)(a3))

static unsigned long str_len(const char *s)
{
	unsigned long n = 0;
	while (s[n]) n++;
	return n;
}

/* The console page is a pfn of this domain, mapped 1:1 at virt_base (0) by the
 * domain builder; start_info only gives its mfn, so look it up in the p2m. */
static struct xencons_interface *console_ring(const struct start_info *si)
{
	const unsigned long *p2m = (const unsigned long *)si->mfn_list;
	for (unsigned long pfn = 0; pfn < si->nr_pages; pfn++)
		if (p2m[pfn] == si->console.domU.mfn)
			return (struct xencons_interface *)(pfn << 12);
	return 0;
}

static void ring_write(struct xencons_interface *ring, uint32_t port, const char *s)
{
	unsigned long n = str_len(s);
	uint32_t prod = ring->out_prod;
	for (unsigned long i = 0; i < n; i++) {
		while (prod - *(volatile uint32_t *)&ring->out_cons >= sizeof(ring->out))
			HYPERCALL(HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
		ring->out[prod++ & (sizeof(ring->out) - 1)] = s[i];
	}
	__asm__ volatile("" ::: "memory"); /* x86: stores are not reordered with stores */
	ring->out_prod = prod;
	struct { uint32_t port; } send = { port };
	HYPERCALL(HYPERVISOR_event_channel_op, EVTCHNOP_send, &send, 0);
}

/* "tiny-pv: console_io returned N\r\n" for a small signed N. */
static void format_console_io_status(char *buf, long status)
{
	static const char head[] = CONSOLE_IO_STATUS;
	unsigned long n = 0;
	for (; head[n]; n++) buf[n] = head[n];
	unsigned long magnitude = status < 0 ? (unsigned long)-status : (unsigned long)status;
	if (status < 0) buf[n++] = '-';
	char digits[24];
	int d = 0;
	do {
		digits[d++] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude && d < (int)sizeof(digits));
	while (d) buf[n++] = digits[--d];
	buf[n++] = '\r';
	buf[n++] = '\n';
	buf[n] = 0;
}

/* Whether the NUL-terminated command line has `word` as a whole space-separated word. */
static int has_word(const int8_t *line, unsigned long cap, const char *word)
{
	unsigned long wn = str_len(word);
	for (unsigned long i = 0; i < cap && line[i]; i++) {
		if (i > 0 && line[i - 1] != ' ') continue;
		unsigned long k = 0;
		while (k < wn && i + k < cap && line[i + k] == word[k]) k++;
		if (k == wn && (i + k >= cap || line[i + k] == 0 || line[i + k] == ' ')) return 1;
	}
	return 0;
}

void tiny_pv_main(struct start_info *si)
{
	int stay = has_word(si->cmd_line, sizeof(si->cmd_line), STAY_WORD);
	long console_io = HYPERCALL(HYPERVISOR_console_io, CONSOLEIO_write, str_len(MARKER), MARKER);

	struct xencons_interface *ring = console_ring(si);
	if (ring) {
		char status[64];
		ring_write(ring, si->console.domU.evtchn, MARKER);
		/* Says whether Xen accepted the console_io write (0) or refused it (-1 = -EPERM). */
		format_console_io_status(status, console_io);
		ring_write(ring, si->console.domU.evtchn, status);
		if (stay) ring_write(ring, si->console.domU.evtchn, STAYING);
		for (int i = 0; i < DRAIN_YIELDS; i++) {
			if (*(volatile uint32_t *)&ring->out_cons == ring->out_prod) break;
			HYPERCALL(HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
		}
	}

	if (stay) {
		/* SCHEDOP_poll on no ports, no timeout: blocked until an event comes (events
		 * stay masked, so no upcall is delivered); then block again. */
		struct { void *ports; unsigned int nr_ports; uint64_t timeout; } poll = { 0, 0, 0 };
		for (;;) HYPERCALL(HYPERVISOR_sched_op, SCHEDOP_poll, &poll, 0);
	}

	struct { unsigned int reason; } shutdown = { SHUTDOWN_poweroff };
	for (;;) HYPERCALL(HYPERVISOR_sched_op, SCHEDOP_shutdown, &shutdown, 0);
}
