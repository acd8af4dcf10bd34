/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the parts of kzguest share (kzguest.c: the kernel; acpi.c: the power
 * button; options.c: the command line): types, configuration, port I/O, the
 * serial line's formatting, Multiboot, the options and the ACPI interface. */
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;

_Static_assert(sizeof(u32) == 4 && sizeof(u64) == 8 && sizeof(void *) == 4,
               "kzguest must be built for 32-bit x86 (-m32)");

#define NORETURN __attribute__((noreturn))

/* ---- configuration -------------------------------------------------------- */

#define DIRTY_BASE      0x400000u       /* the dirty area starts at 4 MiB */
#define PAGE_SIZE       4096u
#define MARKER_STRIDE   65536u          /* marker at the start of every 64 KiB */
#define MARKER_MAX      64
#define STAMP_OFF       128u            /* page stamp offset (after the marker) */

#define DEF_DIRTY       (16u << 20)
#define DEF_RATE        2560u
#define DEF_INTERVAL    200u
#define MAX_RATE        1000000u        /* pages/s */
#define MAX_INTERVAL    3600000u        /* ms */

#define PIT_HZ_DIVISOR  1193u           /* 1193182 Hz / 1193 = 1000.15 Hz */

#define COM1            0x3F8
#define LAPIC_BASE      0xFEE00000u

/* ---- low level ---------------------------------------------------------- */

static inline void outb(u16 port, u8 v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void outw(u16 port, u16 v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline u16 inw(u16 port)
{
    u16 v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline NORETURN void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* provided by boot.S / link.ld */
extern volatile u32 kz_ticks;
extern char kz_exc_stubs[];
extern char _end[];
void kz_irq0_stub(void);
void kz_irq_master_stub(void);
void kz_irq_slave_stub(void);
void kz_ignore_stub(void);
void kz_irq_sci_stub(void);
void kz_sci_irq(void);
void kz_lidt(const void *idtr);
void kz_main(u32 magic, u32 mbi_addr);
NORETURN void kz_exception(u32 vec);

extern volatile u32 kz_sci_count; /* ACPI SCIs taken (see acpi_init) */

/* ---- formatting (kzguest.c) ---------------------------------------------- */

struct buf {
    char d[256];
    u32 n;
};

void b_str(struct buf *b, const char *s);
void b_strn(struct buf *b, const char *s, u32 max);
void b_hex(struct buf *b, u64 v, int digits);
void b_dec(struct buf *b, u64 v);
void b_emit(struct buf *b);                     /* the line on COM1 */
NORETURN void fail2(const char *msg, const char *arg);
NORETURN void fail(const char *msg);

/* ---- interrupts (kzguest.c) ----------------------------------------------- */

void set_gate(u32 vec, u32 handler);

/* ---- ACPI: the power button (acpi.c) -------------------------------------- */

#define PM1_PWRBTN      (1u << 8)       /* PWRBTN_STS, PWRBTN_EN */
#define PWRBTN_POLL_MS  50u

extern struct buf acpi_line;    /* the boot-time "kzguest: acpi: ..." line */
/* Finds the tables and enables the power button; 0 if there is none. */
int acpi_init(u32 tsc_per_ms);
int acpi_ready(void);
u16 pm1_status(void);
/* The button was pressed: enter S5 (QEMU exits). */
NORETURN void power_off(u64 boot_id, u64 n, u32 tsc_per_ms);

/* ---- multiboot -------------------------------------------------------------- */

#define MB_BOOT_MAGIC   0x2BADB002u
#define MBI_MEM         (1u << 0)
#define MBI_CMDLINE     (1u << 2)
#define MBI_MMAP        (1u << 6)

struct mb_info {
    u32 flags;
    u32 mem_lower;              /* KiB below 1 MiB */
    u32 mem_upper;              /* KiB above 1 MiB */
    u32 boot_device;
    u32 cmdline;
    u32 mods_count;
    u32 mods_addr;
    u32 syms[4];
    u32 mmap_length;
    u32 mmap_addr;
};

struct mb_mmap {
    u32 size;                   /* of the rest of this entry */
    u32 base_lo, base_hi;
    u32 len_lo, len_hi;
    u32 type;
} __attribute__((packed));

/* ---- options (options.c) ---------------------------------------------------- */

extern u64 opt_dirty;           /* dirty=: bytes to keep dirtying */
extern u32 opt_rate;            /* rate=: pages per second */
extern u32 opt_interval;        /* interval=: ms between heartbeats */
extern char opt_marker[MARKER_MAX + 1]; /* marker=, or "" */
/* Reads the options from the Multiboot command line; a bad one fails the boot. */
void parse_cmdline(const struct mb_info *mbi);
