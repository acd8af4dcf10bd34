/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kzguest — a tiny freestanding x86 test kernel for kzones.
 *
 * Loaded by QEMU's Multiboot v1 loader (-kernel kzguest.elf) in 32-bit
 * protected mode, no paging.  It prints a boot line and then a heartbeat
 * line every interval on COM1, and keeps dirtying memory above 4 MiB at a
 * fixed page rate so that live migration has something to converge on.
 *
 * Time is counted in PIT channel 0 interrupts (~1 kHz): a pure event count
 * can only go forward, whatever happens to the TSC across a migration.
 * Between ticks the CPU sits in HLT.
 *
 * No libc, no libgcc: in particular no 64-bit division anywhere (the
 * 32-bit libgcc is not installed without gcc-multilib).
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;

_Static_assert(sizeof(u32) == 4 && sizeof(u64) == 8 && sizeof(void *) == 4,
               "kzguest must be built for 32-bit x86 (-m32)");

#define NORETURN __attribute__((noreturn))

/* ---- configuration ------------------------------------------------------ */

#define DIRTY_BASE      0x400000u       /* the dirty area starts at 4 MiB */
#define PAGE_SIZE       4096u
#define MARKER_STRIDE   65536u          /* marker at the start of every 64 KiB */
#define MARKER_MAX      64
#define STAMP_OFF       128u            /* page stamp offset (after the marker) */
#define STAMP_MAGIC     0x47505a4bu     /* "KZPG" */

#define DEF_DIRTY       (16u << 20)
#define DEF_RATE        2560u
#define DEF_INTERVAL    200u
#define MAX_RATE        1000000u        /* pages/s */
#define MAX_INTERVAL    3600000u        /* ms */

#define PIT_HZ_DIVISOR  1193u           /* 1193182 Hz / 1193 = 1000.15 Hz */
#define CATCHUP_MAX     1000u           /* at most 1 s worth of dirtying at once */

#define COM1            0x3F8

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

static inline int rdrand32(u32 *v)
{
    u8 ok;
    __asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
    return ok;
}

static NORETURN void halt_forever(void)
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
void kz_lidt(const void *idtr);
void kz_main(u32 magic, u32 mbi_addr);
NORETURN void kz_exception(u32 vec);

volatile u32 kz_ticks;

/* ---- serial (COM1, 115200 8N1, polled) ---------------------------------- */

static void serial_init(void)
{
    outb(COM1 + 1, 0x00);       /* no UART interrupts */
    outb(COM1 + 3, 0x80);       /* DLAB */
    outb(COM1 + 0, 0x01);       /* divisor 1: 115200 */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);       /* 8N1 */
    outb(COM1 + 2, 0xC7);       /* FIFO on, cleared, 14-byte threshold */
    outb(COM1 + 4, 0x03);       /* DTR, RTS */
}

static void serial_putc(char c)
{
    /* bounded wait for THR empty: never hang the guest on a stuck backend */
    for (u32 i = 0; i < 100000; i++)
        if (inb(COM1 + 5) & 0x20)
            break;
    outb(COM1, (u8)c);
}

static void serial_write(const char *s, u32 n)
{
    for (u32 i = 0; i < n; i++)
        serial_putc(s[i]);
}

/* ---- formatting --------------------------------------------------------- */

struct buf {
    char d[256];
    u32 n;
};

static void b_str(struct buf *b, const char *s)
{
    while (*s && b->n < sizeof(b->d) - 1)
        b->d[b->n++] = *s++;
}

static void b_strn(struct buf *b, const char *s, u32 max)
{
    while (max-- && *s && b->n < sizeof(b->d) - 1)
        b->d[b->n++] = *s++;
}

static void b_hex(struct buf *b, u64 v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--)
        if (b->n < sizeof(b->d) - 1)
            b->d[b->n++] = hex[(u32)(v >> (4 * i)) & 0xf];
}

/* v / 10 with only 32-bit divisions (no __udivdi3) */
static u64 div10(u64 v, u32 *rem)
{
    u32 hi = (u32)(v >> 32), lo = (u32)v;
    u32 qhi = hi / 10, r = hi % 10;
    u32 t = (r << 16) | (lo >> 16);
    u32 q1 = t / 10;
    r = t % 10;
    t = (r << 16) | (lo & 0xffff);
    u32 q0 = t / 10;
    *rem = t % 10;
    return ((u64)qhi << 32) | (q1 << 16) | q0;
}

static void b_dec(struct buf *b, u64 v)
{
    char tmp[24];
    int n = 0;
    do {
        u32 r;
        v = div10(v, &r);
        tmp[n++] = (char)('0' + r);
    } while (v);
    while (n && b->n < sizeof(b->d) - 1)
        b->d[b->n++] = tmp[--n];
}

static void b_emit(struct buf *b)
{
    b->d[b->n++] = '\n';
    serial_write(b->d, b->n);
    b->n = 0;
}

static NORETURN void fail2(const char *msg, const char *arg)
{
    struct buf b;
    b.n = 0;
    b_str(&b, "kzguest: error: ");
    b_str(&b, msg);
    if (arg) {
        b_str(&b, ": '");
        b_strn(&b, arg, 80);
        b_str(&b, "'");
    }
    b_emit(&b);
    halt_forever();
}

static NORETURN void fail(const char *msg)
{
    fail2(msg, 0);
}

NORETURN void kz_exception(u32 vec)
{
    struct buf b;
    b.n = 0;
    b_str(&b, "kzguest: error: cpu exception ");
    b_dec(&b, vec);
    b_emit(&b);
    halt_forever();
}

/* ---- multiboot ---------------------------------------------------------- */

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

/* ---- options ------------------------------------------------------------ */

static u64 opt_dirty = DEF_DIRTY;
static u32 opt_rate = DEF_RATE;
static u32 opt_interval = DEF_INTERVAL;
static char opt_marker[MARKER_MAX + 1];
static char cmdline[1024];

static int str_prefix(const char *s, const char *p)
{
    while (*p)
        if (*s++ != *p++)
            return 0;
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static int is_option_token(const char *t)
{
    return str_prefix(t, "dirty=") || str_prefix(t, "rate=") ||
           str_prefix(t, "interval=") || str_prefix(t, "marker=");
}

/* decimal, at most 12 digits, optional K/M/G (powers of 1024) */
static void parse_size(const char *tok, const char *s, u64 *out)
{
    u64 v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 12)
            fail2("size too large", tok);
        v = v * 10 + (u32)(*s++ - '0');
    }
    if (!digits)
        fail2("bad size", tok);
    int shift = 0;
    switch (*s) {
    case 'k': case 'K': shift = 10; s++; break;
    case 'm': case 'M': shift = 20; s++; break;
    case 'g': case 'G': shift = 30; s++; break;
    default: break;
    }
    if (*s)
        fail2("bad size", tok);
    if (v > ((u64)1 << 40) >> shift)
        fail2("size too large", tok);
    *out = v << shift;
}

static u32 parse_u32(const char *tok, const char *s, u32 min, u32 max)
{
    u32 v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 9)
            fail2("number out of range", tok);
        v = v * 10 + (u32)(*s++ - '0');
    }
    if (!digits || *s)
        fail2("bad number", tok);
    if (v < min || v > max)
        fail2("number out of range", tok);
    return v;
}

static void parse_option(char *tok)
{
    char *eq = tok;
    while (*eq && *eq != '=')
        eq++;
    if (!*eq)
        fail2("bad option (want name=value)", tok);
    *eq = 0;
    const char *name = tok, *val = eq + 1;
    char *full = tok;           /* for messages: restore the '=' */

    if (str_eq(name, "dirty")) {
        *eq = '=';
        parse_size(full, val, &opt_dirty);
    } else if (str_eq(name, "rate")) {
        *eq = '=';
        opt_rate = parse_u32(full, val, 0, MAX_RATE);
    } else if (str_eq(name, "interval")) {
        *eq = '=';
        opt_interval = parse_u32(full, val, 1, MAX_INTERVAL);
    } else if (str_eq(name, "marker")) {
        *eq = '=';
        u32 n = 0;
        for (const char *p = val; *p; p++, n++)
            if (*p < 0x21 || *p > 0x7e)
                fail2("marker must be printable ASCII without spaces", full);
        if (n == 0 || n > MARKER_MAX)
            fail2("marker must be 1 to 64 characters", full);
        for (u32 i = 0; i <= n; i++)
            opt_marker[i] = val[i];
    } else {
        *eq = '=';
        fail2("unknown option", full);
    }
}

static void parse_cmdline(const struct mb_info *mbi)
{
    if (!(mbi->flags & MBI_CMDLINE) || !mbi->cmdline)
        return;
    const char *src = (const char *)mbi->cmdline;
    u32 n = 0;
    while (src[n]) {
        if (n == sizeof(cmdline) - 1)
            fail("command line too long");
        cmdline[n] = src[n];
        n++;
    }
    cmdline[n] = 0;

    char *p = cmdline;
    int first = 1;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        char *tok = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if (*p)
            *p++ = 0;
        /* QEMU (and GRUB) put the image path first: skip it */
        if (first && !is_option_token(tok)) {
            first = 0;
            continue;
        }
        first = 0;
        parse_option(tok);
    }
}

/* ---- interrupts: IDT, PIC, PIT ------------------------------------------ */

static u64 idt[256] __attribute__((aligned(8)));
static struct {
    u16 limit;
    u32 base;
} __attribute__((packed)) idtr;

static void set_gate(u32 vec, u32 handler)
{
    idt[vec] = (u64)(handler & 0xffff) | ((u64)0x08 << 16) |   /* selector */
               ((u64)0x8E00 << 32) |                          /* present, 32-bit interrupt gate */
               ((u64)(handler >> 16) << 48);
}

static void interrupts_init(void)
{
    for (u32 v = 0; v < 256; v++)
        set_gate(v, (u32)kz_ignore_stub);
    for (u32 v = 0; v < 32; v++)
        if (v != 2)             /* NMI: ignore */
            set_gate(v, (u32)kz_exc_stubs + 16 * v);
    set_gate(0x20, (u32)kz_irq0_stub);
    for (u32 v = 0x21; v < 0x28; v++)
        set_gate(v, (u32)kz_irq_master_stub);
    for (u32 v = 0x28; v < 0x30; v++)
        set_gate(v, (u32)kz_irq_slave_stub);
    idtr.limit = sizeof(idt) - 1;
    idtr.base = (u32)idt;
    kz_lidt(&idtr);

    /* PIC: remap to 0x20..0x2F, only IRQ0 unmasked */
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, 0x20);
    outb(0xA1, 0x28);
    outb(0x21, 0x04);
    outb(0xA1, 0x02);
    outb(0x21, 0x01);
    outb(0xA1, 0x01);
    outb(0x21, 0xFE);
    outb(0xA1, 0xFF);

    /* PIT channel 0: mode 2 (rate generator), lobyte/hibyte, ~1 kHz */
    outb(0x43, 0x34);
    outb(0x40, PIT_HZ_DIVISOR & 0xff);
    outb(0x40, PIT_HZ_DIVISOR >> 8);
}

/* ---- boot id ------------------------------------------------------------ */

static u64 mix64(u64 z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static u8 cmos_read(u8 reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static u64 make_boot_id(void)
{
    /* timing jitter of I/O exits plus the RTC time of day */
    u64 h = mix64(rdtsc());
    for (u32 i = 0; i < 32; i++) {
        u64 t0 = rdtsc();
        u8 v = cmos_read((u8)(i & 1 ? 0x00 : 0x02));   /* seconds, minutes */
        u64 t1 = rdtsc();
        h = mix64(h ^ (t1 - t0) ^ ((u64)v << 56) ^ t1);
    }
    h = mix64(h ^ cmos_read(0x04) ^ ((u64)cmos_read(0x07) << 8) ^
              ((u64)cmos_read(0x08) << 16) ^ ((u64)cmos_read(0x09) << 24));

    u32 a, b, c, d;
    cpuid(0, &a, &b, &c, &d);
    if (a >= 1) {
        cpuid(1, &a, &b, &c, &d);
        if (c & (1u << 30)) {   /* RDRAND */
            u32 r[2] = { 0, 0 };
            int ok = 0;
            for (int k = 0; k < 2; k++)
                for (int tries = 0; tries < 16; tries++)
                    if (rdrand32(&r[k])) {
                        ok++;
                        break;
                    }
            if (ok == 2)
                h ^= ((u64)r[1] << 32) | r[0];
        }
    }
    return h;
}

/* ---- the dirty area ----------------------------------------------------- */

static u32 dirty_bytes;         /* effective size, multiple of 4 KiB */
static u32 dirty_pages;
static u32 cursor;              /* next page to dirty */
static u64 dirtied;             /* total pages dirtied */

static void dirty_one(void)
{
    volatile u32 *p = (volatile u32 *)(DIRTY_BASE + cursor * PAGE_SIZE + STAMP_OFF);
    dirtied++;
    p[0] = STAMP_MAGIC;
    p[1] = (u32)dirtied;
    p[2] = (u32)(dirtied >> 32);
    p[3] = cursor;
    if (++cursor == dirty_pages)
        cursor = 0;
}

/* Fletcher-32 over the 16-byte stamp of every page of the area */
static u32 area_checksum(void)
{
    u32 s1 = 0xffff, s2 = 0xffff;
    for (u32 i = 0; i < dirty_pages; i++) {
        const volatile u16 *w = (const volatile u16 *)(DIRTY_BASE + i * PAGE_SIZE + STAMP_OFF);
        for (u32 k = 0; k < 8; k++) {
            s1 += w[k];
            s2 += s1;
        }
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    return (s2 << 16) | s1;
}

static void write_markers(void)
{
    if (!opt_marker[0])
        return;
    for (u32 off = 0; off < dirty_bytes; off += MARKER_STRIDE) {
        volatile char *dst = (volatile char *)(DIRTY_BASE + off);
        u32 i = 0;
        do
            dst[i] = opt_marker[i];
        while (opt_marker[i++]);
    }
}

static void setup_memory(const struct mb_info *mbi, u32 *mem_mib)
{
    u64 mem_end = 0;            /* exclusive */
    int have = 0;

    if (mbi->flags & MBI_MEM) {
        mem_end = 0x100000ull + (u64)mbi->mem_upper * 1024;
        *mem_mib = (mbi->mem_upper + 1024) / 1024;
        have = 1;
    }
    if (mbi->flags & MBI_MMAP) {
        u32 p = mbi->mmap_addr, end = mbi->mmap_addr + mbi->mmap_length;
        u64 region_end = 0;
        while (p + sizeof(struct mb_mmap) <= end) {
            const struct mb_mmap *e = (const struct mb_mmap *)p;
            u64 base = ((u64)e->base_hi << 32) | e->base_lo;
            u64 len = ((u64)e->len_hi << 32) | e->len_lo;
            if (e->type == 1 && base <= DIRTY_BASE && base + len > DIRTY_BASE)
                region_end = base + len;
            p += e->size + 4;
        }
        if (!region_end)
            fail("no usable RAM at 4 MiB in the memory map");
        if (!have) {
            *mem_mib = (u32)(region_end >> 20);
            mem_end = region_end;
        } else if (region_end < mem_end) {
            mem_end = region_end;
        }
        have = 1;
    }
    if (!have)
        fail("no memory information from the boot loader");
    if (mem_end > 0xFFFFF000ull)        /* no paging: stay below 4 GiB */
        mem_end = 0xFFFFF000ull;
    if ((u32)_end > DIRTY_BASE)
        fail("image overlaps the dirty area");
    if (mem_end < DIRTY_BASE + PAGE_SIZE)
        fail("not enough memory above 4 MiB");

    u64 avail = mem_end - DIRTY_BASE;
    u64 want = opt_dirty < avail ? opt_dirty : avail;
    dirty_bytes = (u32)want & ~(PAGE_SIZE - 1);
    if (dirty_bytes < PAGE_SIZE)
        fail("dirty must be at least 4K");
    dirty_pages = dirty_bytes / PAGE_SIZE;
}

/* ---- main --------------------------------------------------------------- */

static void heartbeat(u64 boot_id, u64 n)
{
    struct buf b;
    b.n = 0;
    b_str(&b, "kzguest: hb boot=");
    b_hex(&b, boot_id, 16);
    b_str(&b, " n=");
    b_dec(&b, n);
    b_str(&b, " sum=");
    b_hex(&b, area_checksum(), 8);
    b_str(&b, " dirtied=");
    b_dec(&b, dirtied);
    b_emit(&b);
}

void kz_main(u32 magic, u32 mbi_addr)
{
    serial_init();
    if (magic != MB_BOOT_MAGIC)
        fail("not started by a Multiboot loader");
    const struct mb_info *mbi = (const struct mb_info *)mbi_addr;

    u32 mem_mib = 0;
    parse_cmdline(mbi);         /* copies the command line first */
    setup_memory(mbi, &mem_mib);
    interrupts_init();
    u64 boot_id = make_boot_id();
    write_markers();

    struct buf b;
    b.n = 0;
    b_str(&b, "kzguest: boot id=");
    b_hex(&b, boot_id, 16);
    b_str(&b, " mem=");
    b_dec(&b, mem_mib);
    b_str(&b, "M dirty=");
    b_dec(&b, dirty_bytes);
    b_str(&b, " rate=");
    b_dec(&b, opt_rate);
    b_str(&b, " marker=");
    b_str(&b, opt_marker[0] ? opt_marker : "-");
    b_emit(&b);

    u64 hb_n = 0;
    u32 acc = 0;                /* page-rate accumulator, in pages*ms/s */
    u32 last = kz_ticks;
    u32 hb_due = last;          /* first heartbeat right away */

    __asm__ volatile("sti");
    for (;;) {
        u32 now = kz_ticks;
        u32 elapsed = now - last;
        last = now;

        if (opt_rate) {
            if (elapsed > CATCHUP_MAX)
                elapsed = CATCHUP_MAX;
            acc += elapsed * opt_rate;          /* <= 1e9: fits */
            u32 pages = acc / 1000;
            acc -= pages * 1000;
            while (pages--)
                dirty_one();
        }

        if ((s32)(now - hb_due) >= 0) {
            heartbeat(boot_id, ++hb_n);
            hb_due += opt_interval;
            if ((s32)(now - hb_due) >= 0)       /* fell behind (paused): resync */
                hb_due = now + opt_interval;
        }

        /* sleep until the next tick unless one arrived meanwhile */
        __asm__ volatile("cli");
        if (kz_ticks == now)
            __asm__ volatile("sti; hlt" ::: "memory");
        else
            __asm__ volatile("sti" ::: "memory");
    }
}
