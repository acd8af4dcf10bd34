/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kzguest boot code: Multiboot v1 header, entry point, flat GDT and the
 * interrupt stubs.  Everything else lives in kzguest.c.
 */
#define MB_MAGIC        0x1BADB002
#define MB_FLAGS        0x00000003      /* page-align modules, want mem info */

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .data
    .balign 8
gdt:
    .quad 0                             /* null */
    .quad 0x00CF9A000000FFFF            /* 0x08: code, flat 4 GiB, 32-bit */
    .quad 0x00CF92000000FFFF            /* 0x10: data, flat 4 GiB */
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .balign 16
stack_bottom:
    .skip 16384
stack_top:

    .section .text
    .globl _start
    .type _start, @function
_start:
    /* eax = 0x2BADB002, ebx = physical address of the multiboot info. */
    cli
    cld
    mov %eax, %esi
    lgdt gdt_ptr
    ljmp $0x08, $1f
1:  mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    mov %ax, %ss
    /* zero .bss (QEMU's ELF loader does too; be independent of it) */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $stack_top, %esp
    xor %ebp, %ebp
    push %ebx                           /* multiboot info */
    push %esi                           /* magic */
    call kz_main
2:  cli
    hlt
    jmp 2b
    .size _start, . - _start

/* ---- interrupt stubs ------------------------------------------------- */

    .globl kz_lidt
kz_lidt:                                /* void kz_lidt(const void *idtr) */
    mov 4(%esp), %eax
    lidt (%eax)
    ret

    /* CPU exceptions 0..31: report and halt (kz_exception never returns). */
    .globl kz_exc_stubs
    .balign 16
kz_exc_stubs:
    .set vec, 0
    .rept 32
    .balign 16
    cli
    push $vec
    jmp exc_common
    .set vec, vec + 1
    .endr
exc_common:
    pop %eax                            /* vector */
    mov $stack_top, %esp                /* fresh stack; we never go back */
    push %eax
    call kz_exception
3:  cli
    hlt
    jmp 3b

    /*
     * Returning from an interrupt without IRET.  KVM's instruction emulator
     * cannot emulate a protected-mode IRET, and some KVM flavours (e.g. PVM
     * on a nested host) run a non-paged 32-bit guest entirely in that
     * emulator.  So every stub below ends with a jump here, which rebuilds
     * the frame (EIP, CS, EFLAGS) as (EFLAGS, EIP) and does POPF; RET.  CS
     * never changes (flat 0x08) and the window between POPF and RET is
     * harmless: a nested interrupt sees a well-formed stack.
     */
iret_emul:
    push %eax
    mov 4(%esp), %eax                   /* EIP */
    xchg %eax, 12(%esp)                 /* EFLAGS slot <- EIP, eax = EFLAGS */
    mov %eax, 8(%esp)                   /* CS slot <- EFLAGS */
    pop %eax
    add $4, %esp                        /* drop the old EIP slot */
    popfl
    ret

    /* IRQ0 (PIT channel 0, vector 0x20): count a tick, EOI. */
    .globl kz_irq0_stub
kz_irq0_stub:
    push %eax
    incl kz_ticks
    mov $0x20, %al
    out %al, $0x20
    pop %eax
    jmp iret_emul

    /* other master PIC lines (masked; also spurious IRQ7) */
    .globl kz_irq_master_stub
kz_irq_master_stub:
    push %eax
    mov $0x0B, %al                      /* read ISR */
    out %al, $0x20
    in $0x20, %al
    test %al, %al
    jz 4f                               /* spurious: no EOI */
    mov $0x20, %al
    out %al, $0x20
4:  pop %eax
    jmp iret_emul

    /* slave PIC lines (masked) */
    .globl kz_irq_slave_stub
kz_irq_slave_stub:
    push %eax
    mov $0x20, %al
    out %al, $0xA0
    out %al, $0x20
    pop %eax
    jmp iret_emul

    /*
     * The ACPI SCI (vector 0x20 + SCI_INT, installed by acpi_init):
     * kz_sci_irq() masks the line, sends the EOI and counts it.  It is C,
     * so save the registers the C ABI lets it clobber (DF is always clear).
     */
    .globl kz_irq_sci_stub
kz_irq_sci_stub:
    push %eax
    push %ecx
    push %edx
    call kz_sci_irq
    pop %edx
    pop %ecx
    pop %eax
    jmp iret_emul

    /* NMI and anything above the PIC range: ignore */
    .globl kz_ignore_stub
kz_ignore_stub:
    jmp iret_emul

    .section .note.GNU-stack, "", @progbits
