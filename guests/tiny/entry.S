/*
 * tiny: 32-bit entry points and boot headers.
 *
 * QEMU's -kernel loader (hw/i386/x86.c, x86_load_linux) tries, for a file that
 * is not a bzImage: multiboot first (magic 0x1BADB002 in the first 8 KiB),
 * then the PVH ELF note (XEN_ELFNOTE_PHYS32_ENTRY). This file carries the PVH
 * note always and the multiboot header only when built with -DTINY_MULTIBOOT,
 * so the plain build really exercises the PVH path on both pc and microvm.
 *
 * Both protocols enter in 32-bit protected mode, flat segments, paging off,
 * interrupts off, with no usable stack:
 *   PVH:       %ebx = physical address of struct hvm_start_info (magic 0x336ec578)
 *   multiboot: %eax = 0x2BADB002, %ebx = physical address of the multiboot info
 */

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define MULTIBOOT_HEADER_MAGIC   0x1BADB002
#define MULTIBOOT_HEADER_FLAGS   0x00000000

#ifdef TINY_MULTIBOOT
	.section .multiboot, "a"
	.balign 4
multiboot_header:
	.long MULTIBOOT_HEADER_MAGIC
	.long MULTIBOOT_HEADER_FLAGS
	.long -(MULTIBOOT_HEADER_MAGIC + MULTIBOOT_HEADER_FLAGS)
#endif

	/* ELF note: namesz, descsz, type, "Xen\0", 32-bit physical entry address. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4
	.long 4
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.long tiny_entry_pvh

	.text
	.code32

	.globl tiny_entry_pvh
	.type tiny_entry_pvh, @function
tiny_entry_pvh:
	/* Tell C how we came in: protocol 1 = PVH. */
	movl $1, %ecx
	jmp common_entry

	.globl tiny_entry_multiboot
	.type tiny_entry_multiboot, @function
tiny_entry_multiboot:
	/* ELF e_entry; the multiboot loader jumps here. protocol 2 = multiboot,
	 * or 0 (unknown) when the magic in %eax is not the multiboot one. */
	xorl %ecx, %ecx
	cmpl $0x2BADB002, %eax
	jne common_entry
	movl $2, %ecx

common_entry:
	cli
	cld
	movl $tiny_stack_top, %esp
	/* Zero .bss ourselves: it holds the stack and must not depend on the loader. */
	movl %ecx, %esi
	movl %ebx, %edx
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	pushl %edx          /* boot info pointer */
	pushl %esi          /* protocol */
	call tiny_main
	/* tiny_main does not return; if it ever does, fall into the triple fault. */

	.globl tiny_triple_fault
	.type tiny_triple_fault, @function
tiny_triple_fault:
	/* Load an empty IDT and raise an exception: the CPU cannot deliver it,
	 * nor the double fault that follows, and shuts down (a triple fault).
	 * QEMU then resets, or exits when started with -no-reboot. */
	cli
	lidt empty_idt
	int3
1:	hlt
	jmp 1b

	.section .rodata
	.balign 8
empty_idt:
	.word 0
	.long 0

	.section .bss
	.balign 16
	.space 16384
tiny_stack_top:
