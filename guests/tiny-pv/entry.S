/*
 * tiny-pv: entry point and the Xen ELF notes of a 64-bit PV guest.
 *
 * Xen's PV domain builder (libxenguest, xc_dom_elfloader) accepts an ELF with
 * these notes; it loads the image at VIRT_BASE, fills HYPERCALL_PAGE with one
 * 32-byte stub per hypercall, and starts the vCPU in 64-bit mode at ENTRY with
 * %rsi = virtual address of start_info, events masked, no trap table.
 */

#define XEN_ELFNOTE_ENTRY          1
#define XEN_ELFNOTE_HYPERCALL_PAGE 2
#define XEN_ELFNOTE_VIRT_BASE      3
#define XEN_ELFNOTE_PADDR_OFFSET   4
#define XEN_ELFNOTE_XEN_VERSION    5
#define XEN_ELFNOTE_GUEST_OS       6
#define XEN_ELFNOTE_GUEST_VERSION  7
#define XEN_ELFNOTE_LOADER         8
#define XEN_ELFNOTE_FEATURES      10

/* One note: namesz 4 ("Xen\0"), descsz, type, then the descriptor, 4-aligned. */
#define XEN_NOTE(type, desctype, value)          \
	.balign 4;                                   \
	.long 4;                                     \
	.long 2f - 1f;                               \
	.long type;                                  \
	.asciz "Xen";                                \
	.balign 4;                                   \
1:	desctype value;                              \
2:	.balign 4

	.section .note.Xen, "a", @note
	XEN_NOTE(XEN_ELFNOTE_GUEST_OS, .asciz, "tiny-pv")
	XEN_NOTE(XEN_ELFNOTE_GUEST_VERSION, .asciz, "1")
	XEN_NOTE(XEN_ELFNOTE_XEN_VERSION, .asciz, "xen-3.0")
	XEN_NOTE(XEN_ELFNOTE_LOADER, .asciz, "generic")
	XEN_NOTE(XEN_ELFNOTE_VIRT_BASE, .quad, 0)
	XEN_NOTE(XEN_ELFNOTE_PADDR_OFFSET, .quad, 0)
	XEN_NOTE(XEN_ELFNOTE_ENTRY, .quad, _start)
	XEN_NOTE(XEN_ELFNOTE_HYPERCALL_PAGE, .quad, hypercall_page)
	/* No writable page tables, no supervisor-mode kernel: the plain PV ABI. */
	XEN_NOTE(XEN_ELFNOTE_FEATURES, .asciz, "!writable_page_tables")

	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	cld
	leaq stack_top(%rip), %rsp
	movq %rsi, %rdi            /* start_info */
	call tiny_pv_main
	/* tiny_pv_main shuts the domain down and never returns; if it does, spin
	 * (hlt would fault: a PV kernel runs outside ring 0). */
1:	pause
	jmp 1b

	.section .bss
	.balign 16
stack:
	.skip 16384
stack_top:
