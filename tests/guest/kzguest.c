/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kzguest — a tiny freestanding x86 test kernel for kzones.
 *
 * Loaded by QEMU's Multiboot v1 loader (-kernel kzguest.elf) in 32-bit
 * protected mode, no paging.  It prints a boot line and then a heartbeat
 * line every interval on COM1, and keeps dirtying memory above 4 MiB at a
 * fixed page rate so that live migration has something to converge on.
 * The ACPI power button (QMP system_powerdown) powers it off (S5), so that
 * QEMU exits.
 *
 * Time comes from the TSC, calibrated at boot against PIT channel 0, and
 * is made monotonic by hand (see kz_main).  PIT channel 0 interrupts at
 * ~1 kHz only wake the CPU from HLT, so lost or coalesced ticks (TCG, a
 * userspace PIT) do not slow the clock down.
 *
 * Interrupt handlers return without IRET (see boot.S) and the LAPIC, if
 * any, is put in virtual-wire mode, so the same image runs under KVM, TCG,
 * nested KVM-PVM (which emulates non-paged guests instruction by
 * instruction) and with SeaBIOS or qboot firmware.
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
void kz_irq_sci_stub(void);
void kz_sci_irq(void);
void kz_lidt(const void *idtr);
void kz_main(u32 magic, u32 mbi_addr);
NORETURN void kz_exception(u32 vec);

volatile u32 kz_ticks;
volatile u32 kz_sci_count;      /* ACPI SCIs taken (see acpi_init) */

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

/*
 * Polled output, 16 bytes per "transmitter empty" poll: with the FIFO on,
 * THRE means the whole 16-byte FIFO is free.  Every port access is an exit
 * to QEMU, so this halves their number.  The wait is bounded so a stuck
 * backend cannot hang the guest.
 */
static void serial_write(const char *s, u32 n)
{
    while (n) {
        for (u32 i = 0; i < 100000; i++)
            if (inb(COM1 + 5) & 0x20)
                break;
        for (u32 k = 0; k < 16 && n; k++, n--)
            outb(COM1, (u8)*s++);
    }
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

    /*
     * Local APIC, if any: put it in virtual-wire mode (LINT0 = ExtINT,
     * LINT1 = NMI) so the PIC's interrupts reach the CPU.  SeaBIOS does
     * this, minimal firmware (qboot: -M microvm, -bios qboot.rom) does not.
     */
    u32 a, b, c, d;
    cpuid(0, &a, &b, &c, &d);
    if (a >= 1) {
        cpuid(1, &a, &b, &c, &d);
        if (d & (1u << 9)) {
            volatile u32 *lapic = (volatile u32 *)LAPIC_BASE;
            /* enable first: a software-disabled APIC keeps its LVTs masked */
            lapic[0x0F0 / 4] = 0x100 | 0xFF;            /* SVR: enable, spurious 0xFF */
            lapic[0x350 / 4] = 0x700;                   /* LVT0: ExtINT */
            lapic[0x360 / 4] = 0x400;                   /* LVT1: NMI */
        }
    }

    /* PIT channel 0: mode 2 (rate generator), lobyte/hibyte, ~1 kHz */
    outb(0x43, 0x34);
    outb(0x40, PIT_HZ_DIVISOR & 0xff);
    outb(0x40, PIT_HZ_DIVISOR >> 8);
}

/* ---- ACPI: the power button --------------------------------------------- */

/*
 * QMP `system_powerdown` (what `zoneadm shutdown` sends) presses the ACPI
 * power button: if PWRBTN_EN is set in the PM1 enable register, QEMU sets
 * PWRBTN_STS in PM1 status and raises the SCI.  The guest then powers off
 * by writing the \_S5 sleep type and SLP_EN to PM1_CNT, and QEMU exits.
 *
 * The tables are QEMU's own: SeaBIOS and qboot both install them from
 * fw_cfg ("etc/table-loader") with the RSDP in the F segment (qboot keeps
 * all of them below 1 MiB, SeaBIOS at the top of RAM, reserved in the
 * memory map).  They are read once, before the boot line; on the emulating
 * host that takes ~25 ms, with the instruction-lean sum8() and find_byte()
 * (a plain byte loop took ~150 ms).
 *
 * The SCI (IRQ 9 on pc and q35) is unmasked on the PIC and made
 * level-triggered in the ELCR (qboot leaves IRQ 9 edge-triggered).  Its
 * handler only masks it again and counts it; the main loop then reads PM1
 * status.  Status is also polled every PWRBTN_POLL_MS, in case the SCI is
 * not on the PIC or is shared with a source that keeps it asserted.  Polling
 * on every tick would cost an extra I/O exit per millisecond.
 */

#define PM1_SCI_EN      (1u << 0)       /* PM1_CNT */
#define PM1_SLP_TYP     (7u << 10)
#define PM1_SLP_EN      (1u << 13)
#define PM1_PWRBTN      (1u << 8)       /* PWRBTN_STS, PWRBTN_EN */
#define PWRBTN_POLL_MS  50u
#define ACPI_MAX_TABLE  (4u << 20)      /* sanity bound for a table's length */
#define SIG(a, b, c, d) ((u32)(a) | (u32)(b) << 8 | (u32)(c) << 16 | (u32)(d) << 24)

static struct {
    int ready;
    u16 pm1a_evt, pm1b_evt;     /* status; enable is at + evt_half */
    u16 pm1a_cnt, pm1b_cnt;
    u16 evt_half;               /* PM1_EVT_LEN / 2 */
    u32 sci;                    /* SCI_INT */
    int sci_irq;                /* PIC line taken for the SCI, or -1 */
    u8 slp_typa, slp_typb;      /* from \_S5 */
} acpi;

static struct buf acpi_line;    /* the boot-time "kzguest: acpi: ..." line */

typedef u32 __attribute__((aligned(1), may_alias)) u32_una;
typedef u16 __attribute__((aligned(1), may_alias)) u16_una;

/* a physical address as a pointer, hidden from GCC's array-bounds checks */
static inline const u8 *phys(u32 addr)
{
    __asm__("" : "+r"(addr));
    return (const u8 *)addr;
}

static inline u32 rd32(const u8 *p) { return *(const u32_una *)p; }
static inline u16 rd16(const u8 *p) { return *(const u16_una *)p; }

static void b_hex_short(struct buf *b, u32 v)
{
    int digits = 1;
    while (digits < 8 && v >> (4 * digits))
        digits++;
    b_str(b, "0x");
    b_hex(b, v, digits);
}

/* always returns 0, for `return acpi_fail(...)` */
static int acpi_fail(const char *what, const char *table, u32 addr)
{
    struct buf *b = &acpi_line;
    b->n = 0;
    b_str(b, "kzguest: acpi: no power button: ");
    b_str(b, what);
    if (table) {
        b_str(b, table);
        b_str(b, " at ");
        b_hex_short(b, addr);
    }
    return 0;
}

/*
 * The sum of n bytes, mod 256, a word at a time: where every instruction
 * is emulated, instructions are what a table scan costs.  For a block of
 * at most 256 words, `all` (the sum of the words) and `even` (of their
 * bytes 0 and 2, in 16-bit lanes that cannot overflow) are exact, and
 * (all - even) >> 8 holds bytes 1 and 3 the same way: five instructions a
 * word instead of five a byte.
 */
static __attribute__((noinline)) u8 sum8(const u8 *p, u32 n)
{
    u32 s = 0;
    while (n & 3)
        s += p[--n];
    const u32_una *w = (const u32_una *)p;
    for (n /= 4; n;) {
        u32 k = n < 256 ? n : 256, even = 0;
        u64 all = 0;
        n -= k;
#pragma GCC unroll 4
        for (; k; k--) {
            u32 v = *w++;
            all += v;
            even += v & 0x00FF00FFu;
        }
        u64 odd = (all - even) >> 8;
        s += even + (even >> 16) + (u32)odd + (u32)(odd >> 16);
    }
    return (u8)s;
}

/* the first byte c in p[0..n), by REPNE SCASB (fast where emulated); or 0 */
static const u8 *find_byte(const u8 *p, u8 c, u32 n)
{
    if (!n)
        return 0;
    __asm__("repne scasb" : "+D"(p), "+c"(n) : "a"(c) : "cc", "memory");
    return p[-1] == c ? p - 1 : 0;
}

static __attribute__((noinline)) int rsdp_ok(u32 addr)
{
    const u8 *p = phys(addr);
    if (rd32(p + 4) != SIG('P', 'T', 'R', ' ') || sum8(p, 20))
        return 0;
    if (p[15] >= 2) {                           /* ACPI 2.0+: extended checksum */
        u32 len = rd32(p + 20);
        if (len < 36 || len > 4096 || sum8(p, len))
            return 0;
    }
    return 1;
}

static u32 rsdp_scan(u32 from, u32 to)
{
#pragma GCC unroll 4
    for (u32 a = from; a < to; a += 16)
        if (rd32(phys(a)) == SIG('R', 'S', 'D', ' ') && rsdp_ok(a))
            return a;
    return 0;
}

/*
 * The RSDP: on a 16-byte boundary in the first KiB of the EBDA, or in
 * 0xE0000-0xFFFFF.  The F segment goes first: SeaBIOS and qboot put it
 * there, and it halves the scan.
 */
static u32 find_rsdp(void)
{
    u32 ebda = (u32)rd16(phys(0x40E)) << 4, a = 0;
    if (ebda >= 0x1000 && ebda < 0xA0000)
        a = rsdp_scan(ebda, ebda + 1024);
    if (!a)
        a = rsdp_scan(0xF0000, 0x100000);
    if (!a)
        a = rsdp_scan(0xE0000, 0xF0000);
    return a;
}

/* the table at addr, if it has this signature, a sane length and checksum */
static const u8 *acpi_table(u32 addr, u32 sig, u32 *len)
{
    if (!addr || addr > 0xFFFFFFFFu - 36)
        return 0;
    const u8 *t = phys(addr);
    u32 n = rd32(t + 4);
    if (rd32(t) != sig || n < 36 || n > ACPI_MAX_TABLE || addr + n < addr || sum8(t, n))
        return 0;
    *len = n;
    return t;
}

/* one \_S5 package element: ZeroOp, OneOp or BytePrefix n; -1 if not */
static int aml_small_int(const u8 *d, u32 len, u32 *p)
{
    if (*p >= len)
        return -1;
    switch (d[(*p)++]) {
    case 0x00: return 0;                        /* ZeroOp */
    case 0x01: return 1;                        /* OneOp */
    case 0x0A:                                  /* BytePrefix */
        if (*p >= len)
            return -1;
        return d[(*p)++];
    default:   return -1;
    }
}

/*
 * Find `Name (\_S5, Package () { SLP_TYPa, SLP_TYPb, ... })` in the AML:
 * NameOp ('\' optional), "_S5_", PackageOp, PkgLength, NumElements.
 */
static int find_s5(const u8 *d, u32 len)
{
    if (len < 48)
        return 0;
    const u8 *five = d + 40;                    /* the '5' of the first "_S5_" */
    while ((five = find_byte(five, '5', (u32)(d + len - 6 - five)))) {
        u32 i = (u32)(five++ - 2 - d);
        if (rd32(d + i) != SIG('_', 'S', '5', '_'))
            continue;
        if (!(d[i - 1] == 0x08 || (d[i - 1] == '\\' && d[i - 2] == 0x08)))
            continue;                           /* not a NameOp: a reference */
        u32 p = i + 4;
        if (d[p++] != 0x12)                     /* PackageOp */
            continue;
        p += 1 + (d[p] >> 6);                   /* PkgLength: 1-4 bytes */
        if (p >= len || d[p++] < 2)             /* NumElements */
            continue;
        int a = aml_small_int(d, len, &p);
        int b = aml_small_int(d, len, &p);
        if (a < 0 || a > 7 || b < 0 || b > 7)
            continue;
        acpi.slp_typa = (u8)a;
        acpi.slp_typb = (u8)b;
        return 1;
    }
    return 0;
}

static u16 pm1_status(void)
{
    u16 s = inw(acpi.pm1a_evt);
    if (acpi.pm1b_evt)
        s |= inw(acpi.pm1b_evt);
    return s;
}

/* the SCI's interrupt (kz_irq_sci_stub): mask it, EOI, count it */
void kz_sci_irq(void)
{
    u32 irq = (u32)acpi.sci_irq;
    if (irq >= 8) {
        outb(0xA1, inb(0xA1) | (u8)(1u << (irq - 8)));
        outb(0xA0, 0x20);
    } else {
        outb(0x21, inb(0x21) | (u8)(1u << irq));
    }
    outb(0x20, 0x20);
    kz_sci_count++;
}

/*
 * Find the PM1 registers and \_S5, switch to ACPI mode, enable the power
 * button event and its SCI.  Runs with interrupts on (after the first
 * tick).  Sets acpi.ready and the line that kz_main prints after the boot
 * line; on any failure the guest just runs without a power button.
 */
static int acpi_init(u32 tsc_per_ms)
{
    u32 len, flen, dlen;

    acpi.sci_irq = -1;
    u32 rsdp = find_rsdp();
    if (!rsdp)
        return acpi_fail("no RSDP in the EBDA or at 0xE0000-0xFFFFF", 0, 0);

    /* XSDT (ACPI 2.0+, when it lies below 4 GiB), else RSDT */
    const u8 *r = phys(rsdp), *sdt = 0;
    u32 step = 4;
    if (r[15] >= 2 && rd32(r + 24) && !rd32(r + 28)) {
        sdt = acpi_table(rd32(r + 24), SIG('X', 'S', 'D', 'T'), &len);
        step = 8;
    }
    if (!sdt) {
        step = 4;
        sdt = acpi_table(rd32(r + 16), SIG('R', 'S', 'D', 'T'), &len);
        if (!sdt)
            return acpi_fail("bad or missing ", "RSDT", rd32(r + 16));
    }

    const u8 *f = 0;
    u32 fadt = 0;
    for (u32 off = 36; off + step <= len && !f; off += step) {
        u32 a = rd32(sdt + off);
        if (!a || (step == 8 && rd32(sdt + off + 4)) || rd32(phys(a)) != SIG('F', 'A', 'C', 'P'))
            continue;
        fadt = a;
        f = acpi_table(a, SIG('F', 'A', 'C', 'P'), &flen);
        if (!f)
            return acpi_fail("bad ", "FADT", a);
    }
    if (!f)
        return acpi_fail("no FADT in the RSDT/XSDT", 0, 0);
    if (flen < 116)
        return acpi_fail("short ", "FADT", fadt);
    if (rd32(f + 112) & (1u << 20))
        return acpi_fail("hardware-reduced ACPI (no PM1 registers)", 0, 0);

    u32 pm1a_evt = rd32(f + 56), pm1b_evt = rd32(f + 60);
    u32 pm1a_cnt = rd32(f + 64), pm1b_cnt = rd32(f + 68);
    u32 evt_len = f[88], cnt_len = f[89];
    u32 smi_cmd = rd32(f + 48), acpi_enable = f[52];
    acpi.sci = rd16(f + 46);
    if (!pm1a_evt || !pm1a_cnt)
        return acpi_fail("no PM1a event or control block in the ", "FADT", fadt);
    if (pm1a_evt > 0xFFFF || pm1b_evt > 0xFFFF || pm1a_cnt > 0xFFFF || pm1b_cnt > 0xFFFF ||
        smi_cmd > 0xFFFF || evt_len < 4 || (evt_len & 1) || cnt_len < 2)
        return acpi_fail("bad PM1 blocks in the ", "FADT", fadt);
    acpi.pm1a_evt = (u16)pm1a_evt;
    acpi.pm1b_evt = (u16)pm1b_evt;
    acpi.pm1a_cnt = (u16)pm1a_cnt;
    acpi.pm1b_cnt = (u16)pm1b_cnt;
    acpi.evt_half = (u16)(evt_len / 2);

    /* the DSDT: X_DSDT (ACPI 2.0+) wins when set and below 4 GiB */
    u32 dsdt = rd32(f + 40);
    if (flen >= 148 && rd32(f + 140) && !rd32(f + 144))
        dsdt = rd32(f + 140);
    const u8 *d = acpi_table(dsdt, SIG('D', 'S', 'D', 'T'), &dlen);
    if (!d)
        return acpi_fail("bad or missing ", "DSDT", dsdt);
    if (!find_s5(d, dlen))
        return acpi_fail("no \\_S5 package in the ", "DSDT", dsdt);

    /* ACPI mode: SCI_EN set by the firmware on ACPI_ENABLE (none needed
     * when SMI_CMD is 0, the hardware is then always in ACPI mode) */
    if (!(inw(acpi.pm1a_cnt) & PM1_SCI_EN) && smi_cmd && acpi_enable) {
        outb((u16)smi_cmd, (u8)acpi_enable);
        u64 t0 = rdtsc();
        while (!(inw(acpi.pm1a_cnt) & PM1_SCI_EN))
            if (rdtsc() - t0 > (u64)tsc_per_ms * 1000)
                return acpi_fail("SCI_EN still clear 1 s after ACPI_ENABLE", 0, 0);
    }

    /* only the power button raises the SCI: clear its stale status, then
     * enable it alone (write 1 to clear status; plain write to enable) */
    outw(acpi.pm1a_evt, PM1_PWRBTN);
    outw(acpi.pm1a_evt + acpi.evt_half, PM1_PWRBTN);
    if (acpi.pm1b_evt) {
        outw(acpi.pm1b_evt, PM1_PWRBTN);
        outw(acpi.pm1b_evt + acpi.evt_half, PM1_PWRBTN);
    }
    if (!(inw(acpi.pm1a_evt + acpi.evt_half) & PM1_PWRBTN))
        return acpi_fail("PWRBTN_EN does not stick: no PM1 registers at ", "pm1a_evt",
                         acpi.pm1a_evt);

    /* the SCI on the PIC, if its line can be level-triggered (ELCR:
     * IRQ 3-7, 9-12, 14, 15); otherwise polling alone finds the press */
    u32 irq = acpi.sci;
    if (irq < 16 && ((0xDEF8u >> irq) & 1)) {
        acpi.sci_irq = (int)irq;
        set_gate(0x20 + irq, (u32)kz_irq_sci_stub);     /* line still masked */
        u16 elcr = (u16)(0x4D0 + (irq >> 3));
        outb(elcr, inb(elcr) | (u8)(1u << (irq & 7)));
        if (irq >= 8) {
            outb(0xA1, inb(0xA1) & (u8)~(1u << (irq - 8)));
            outb(0x21, inb(0x21) & (u8)~(1u << 2));    /* cascade */
        } else {
            outb(0x21, inb(0x21) & (u8)~(1u << irq));
        }
    }

    struct buf *b = &acpi_line;
    b->n = 0;
    b_str(b, "kzguest: acpi: power button ready (pm1a_evt=");
    b_hex_short(b, acpi.pm1a_evt);
    b_str(b, " pm1a_cnt=");
    b_hex_short(b, acpi.pm1a_cnt);
    b_str(b, " sci=");
    b_dec(b, acpi.sci);
    b_str(b, " s5=");
    b_dec(b, acpi.slp_typa);
    b_str(b, ")");
    acpi.ready = 1;
    return 1;
}

/* wait until the UART has sent everything (bounded) */
static void serial_drain(void)
{
    for (u32 i = 0; i < 100000; i++)
        if (inb(COM1 + 5) & 0x40)               /* TEMT */
            break;
}

/*
 * The button was pressed: say so, then enter S5.  QEMU stops the VM on the
 * SLP_EN write; if it is still running a second later, say that and halt.
 */
static NORETURN void power_off(u64 boot_id, u64 n, u32 tsc_per_ms)
{
    struct buf b;
    b.n = 0;
    b_str(&b, "kzguest: power button: powering off (boot=");
    b_hex(&b, boot_id, 16);
    b_str(&b, " n=");
    b_dec(&b, n);
    b_str(&b, ")");
    b_emit(&b);
    serial_drain();

    /* SLP_TYP first, then SLP_TYP | SLP_EN, as ACPI OSes do */
    u16 a = (u16)((inw(acpi.pm1a_cnt) & ~(PM1_SLP_TYP | PM1_SLP_EN)) | (u32)acpi.slp_typa << 10);
    u16 c = 0;
    if (acpi.pm1b_cnt)
        c = (u16)((inw(acpi.pm1b_cnt) & ~(PM1_SLP_TYP | PM1_SLP_EN)) | (u32)acpi.slp_typb << 10);
    outw(acpi.pm1a_cnt, a);
    if (acpi.pm1b_cnt)
        outw(acpi.pm1b_cnt, c);
    outw(acpi.pm1a_cnt, (u16)(a | PM1_SLP_EN));
    if (acpi.pm1b_cnt)
        outw(acpi.pm1b_cnt, (u16)(c | PM1_SLP_EN));

    u64 t0 = rdtsc();
    while (rdtsc() - t0 < (u64)tsc_per_ms * 1000)
        __asm__ volatile("sti; hlt" ::: "memory");     /* ticks wake us */
    fail("ACPI power-off failed");
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

    return h;
}

/* ---- the dirty area ----------------------------------------------------- */

/*
 * Pages are dirtied strictly round robin: each write puts the new value of
 * the "dirtied" counter (low 32 bits, xor the low half of the boot id) at
 * offset 128 of the next page, so the stamp every page must hold follows
 * from (dirtied, cursor) alone.
 *
 * A verifier re-reads every page (and every marker copy) once per pass
 * and halts the guest with an error line on the first mismatch: a dirty
 * page that a migration lost shows up as a stale stamp.  The heartbeat's
 * sum is an FNV-1a hash of what the last completed pass read (one word per
 * page).  A pass starts at most once per heartbeat and is time-sliced (by
 * TSC, 1/16 of a tick per tick), so that a guest whose every instruction
 * is emulated (as under nested KVM-PVM, where a pass over 32 MiB takes a
 * few seconds) still keeps its heartbeat; natively a pass completes within
 * a few tens of milliseconds.
 */

static u32 dirty_bytes;         /* effective size, multiple of 4 KiB */
static u32 dirty_pages;
static u32 cursor;              /* next page to dirty */
static u64 dirtied;             /* total pages dirtied */
static u64 pass_base;           /* dirtied - cursor */
static u32 stamp_key;           /* low half of the boot id: stamps differ per boot */

static u32 scan_next;           /* next page to verify */
static int scan_active;
static u32 scan_hash;
static u32 last_sum;            /* checksum of the last completed pass */

static inline volatile u32 *stamp_of(u32 page)
{
    return (volatile u32 *)(DIRTY_BASE + page * PAGE_SIZE + STAMP_OFF);
}

static inline void dirty_one(void)
{
    dirtied++;
    *stamp_of(cursor) = (u32)dirtied ^ stamp_key;
    if (++cursor == dirty_pages) {
        cursor = 0;
        pass_base += dirty_pages;
    }
}

static NORETURN void check_failed(const char *what, u32 page, u32 have, u32 want)
{
    struct buf b;
    b.n = 0;
    b_str(&b, "kzguest: error: memory check: ");
    b_str(&b, what);
    b_str(&b, " at 0x");
    b_hex(&b, DIRTY_BASE + page * PAGE_SIZE, 8);
    b_str(&b, " (page ");
    b_dec(&b, page);
    b_str(&b, "): have ");
    b_hex(&b, have, 8);
    b_str(&b, " want ");
    b_hex(&b, want, 8);
    b_emit(&b);
    halt_forever();
}

static void check_marker(u32 page)
{
    const volatile char *m = (const volatile char *)(DIRTY_BASE + page * PAGE_SIZE);
    u32 i = 0;
    do {
        if (m[i] != opt_marker[i])
            check_failed("marker damaged", page, (u8)m[i], (u8)opt_marker[i]);
    } while (opt_marker[i++]);
}

/*
 * Verify the next chunk of pages.  The chunk size adapts so that a step
 * takes about `budget` TSC cycles; it is measured on every 16th step only,
 * because RDTSC itself is costly where instructions are emulated.
 */
static void scan_step(u32 budget)
{
    static u32 chunk = 1, steps;
    if (!scan_active)
        return;
    int measure = (++steps & 15) == 0;
    u64 start = measure ? rdtsc() : 0;
    u32 h = scan_hash, i = scan_next, end = i + chunk;
    if (end > dirty_pages || end < i)
        end = dirty_pages;
    /* stamps expected in the current pass (page < cursor) and the previous one */
    u32 cur = (u32)pass_base + 1, prev = (u32)pass_base - dirty_pages + 1;
    const u32 marker_mask = opt_marker[0] ? MARKER_STRIDE / PAGE_SIZE - 1 : 0xffffffffu;
    for (; i < end; i++) {
        u32 have = *stamp_of(i);
        if (i < cursor || pass_base) {          /* else never written this boot */
            u32 want = ((i < cursor ? cur : prev) + i) ^ stamp_key;
            if (have != want)
                check_failed("stale page stamp", i, have, want);
        }
        if ((i & marker_mask) == 0)
            check_marker(i);
        h = (h ^ (have + i)) * 0x01000193u;     /* FNV-1a, a word at a time */
    }
    if (measure) {
        u64 d = rdtsc() - start;
        if (d < budget / 2 && chunk < 4096)
            chunk *= 2;
        else if (d > budget && chunk > 1)
            chunk /= 2;
    }
    if (i == dirty_pages) {
        h ^= h >> 16;                           /* final avalanche */
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        last_sum = h;
        scan_active = 0;
        return;
    }
    scan_hash = h;
    scan_next = i;
}

static void scan_start(void)
{
    if (scan_active)
        return;
    scan_active = 1;
    scan_next = 0;
    scan_hash = 0x811c9dc5u;    /* FNV offset basis */
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
        *mem_mib = (mbi->mem_upper + 1024 + 1023) / 1024;
        have = 1;
    }
    if (mbi->flags & MBI_MMAP) {
        u32 p = mbi->mmap_addr, end = mbi->mmap_addr + mbi->mmap_length;
        u64 region_end = 0, total = 0;
        while (p + sizeof(struct mb_mmap) <= end) {
            const struct mb_mmap *e = (const struct mb_mmap *)p;
            u64 base = ((u64)e->base_hi << 32) | e->base_lo;
            u64 len = ((u64)e->len_hi << 32) | e->len_lo;
            if (e->type == 1) {
                total += len;
                if (base <= DIRTY_BASE && base + len > DIRTY_BASE)
                    region_end = base + len;
            }
            p += e->size + 4;
        }
        if (!region_end)
            fail("no usable RAM at 4 MiB in the memory map");
        /* all usable RAM, above 4 GiB too, rounded up to whole MiB (the
         * firmware keeps a few KiB at the top and below 1 MiB) */
        *mem_mib = (u32)((total + 0xfffff) >> 20);
        if (!have || region_end < mem_end) {
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
    b_hex(&b, last_sum, 8);
    b_str(&b, " dirtied=");
    b_dec(&b, dirtied);
    b_emit(&b);
}

/*
 * TSC cycles per millisecond, measured by reading back PIT channel 0 while
 * it counts down one-shot from 0xFFFF for ~20 ms: needs no interrupt and
 * no port 0x61 (absent on microvm), so lost or coalesced ticks cannot skew
 * it.  Channel 0 is reprogrammed as the periodic tick afterwards.
 */
#define CALIB_COUNTS    23864u          /* 20 ms of 1.193182 MHz */
static u16 pit0_read(void)
{
    outb(0x43, 0x00);                           /* latch channel 0 */
    u8 lo = inb(0x40);
    u8 hi = inb(0x40);
    return (u16)(lo | (hi << 8));
}

/*
 * One reading of the PIT counter with the TSC at that moment: the best of
 * a few tries, by the narrowest TSC bracket, so that a vCPU preempted (or
 * slowly emulated) between the two reads does not skew the calibration.
 */
static u16 pit0_sample(u64 *tsc)
{
    u64 best = ~0ull;
    u16 count = 0;
    for (int k = 0; k < 8; k++) {
        u64 t0 = rdtsc();
        u16 c = pit0_read();
        u64 t1 = rdtsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
            count = c;
            *tsc = t0 + (t1 - t0) / 2;
        }
    }
    return count;
}

static u32 calibrate_tsc(void)
{
    outb(0x43, 0x30);                           /* ch 0, lo/hi, mode 0 */
    outb(0x40, 0xFF);
    outb(0x40, 0xFF);
    u16 c = pit0_read();
    for (u32 n = 0; c == 0xFFFF || c < CALIB_COUNTS + 2000; n++) {
        if (n > 1000000u)
            fail("PIT channel 0 does not count");
        c = pit0_read();                        /* wait until it runs */
    }
    u64 t0, t1;
    u16 c0 = pit0_sample(&t0), c1;
    for (u32 n = 0;; n++) {
        c = pit0_read();
        if (c <= c0 && (u32)(c0 - c) >= CALIB_COUNTS)
            break;
        if (n > 50000000u)
            fail("PIT channel 0 does not count");
    }
    c1 = pit0_sample(&t1);
    u32 counts = (u32)(c0 - c1);
    u64 d = t1 - t0;
    if (c1 > c0 || counts < CALIB_COUNTS / 2 || d >= 0xffffffffull)
        fail("TSC calibration out of range");
    /* cycles per ms = d * 1193 / counts, without a 64-bit division */
    u32 q = (u32)d / counts, r = (u32)d % counts;
    u32 per_ms = q * 1193 + r * 1193 / counts;
    if (per_ms < 1000)
        fail("TSC runs too slowly (< 1 MHz)");
    return per_ms;
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
    u32 tsc_per_ms = calibrate_tsc();
    interrupts_init();
    __asm__ volatile("sti");

    /* the PIT interrupt is what wakes us from HLT: make sure it comes */
    u64 t0 = rdtsc();
    while (kz_ticks == 0)
        if (rdtsc() - t0 > (u64)tsc_per_ms * 200)
            fail("no timer interrupt (PIT IRQ 0 via the PIC)");

    acpi_init(tsc_per_ms);      /* its line follows the boot line */

    u32 scan_budget = tsc_per_ms / 16 + 1;      /* 1/16 of a tick */
    u32 dirty_budget = tsc_per_ms / 2 + 1;      /* 1/2 of a tick */
    u64 boot_id = make_boot_id() ^ tsc_per_ms;
    stamp_key = (u32)boot_id;
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
    b_emit(&acpi_line);

    /*
     * Time: milliseconds counted from the TSC, never backwards (a TSC that
     * steps back is simply re-based) and at most 1 s per step (a TSC that
     * jumps, e.g. across a stop/cont, costs at most a second of catch-up).
     * KVM migrates the TSC, so after a migration it just continues.
     */
    u32 now = 0;                /* ms since boot line */
    u64 tsc_last = rdtsc();
    u32 ticks_seen = kz_ticks;
    u64 hb_n = 0;
    u32 hb_due = opt_interval;
    u32 acc = 0;                /* rate accumulator, in pages * ms / s */
    u32 debt = 0;               /* pages due but not yet dirtied */
    u32 sci_seen = kz_sci_count;
    u32 pwrbtn_due = 0;         /* next PM1 status poll */

    scan_start();
    for (;;) {
        u64 t = rdtsc(), d = t - tsc_last;
        u32 elapsed;
        if ((s32)(d >> 32) < 0) {                       /* went backwards */
            tsc_last = t;
            elapsed = 0;
        } else if (d >= (u64)tsc_per_ms * 1000 || d > 0xffffffffull) {
            tsc_last = t;
            elapsed = 1000;
        } else {
            elapsed = (u32)d / tsc_per_ms;
            tsc_last += (u64)elapsed * tsc_per_ms;
        }
        now += elapsed;

        /* the power button: on an SCI, and polled every PWRBTN_POLL_MS */
        if (acpi.ready && (kz_sci_count != sci_seen || (s32)(now - pwrbtn_due) >= 0)) {
            sci_seen = kz_sci_count;
            pwrbtn_due = now + PWRBTN_POLL_MS;
            if (pm1_status() & PM1_PWRBTN)
                power_off(boot_id, hb_n, tsc_per_ms);
        }

        /* dirty what is due, at most half a tick's worth of CPU per pass;
         * a backlog is kept up to one second's worth, the rest dropped */
        if (opt_rate && elapsed) {
            acc += elapsed * opt_rate;          /* <= 1e9: fits */
            u32 due = acc / 1000;
            acc -= due * 1000;
            debt = debt + due > opt_rate ? opt_rate : debt + due;
            u64 start = 0;              /* RDTSC only every 16 pages */
            for (u32 n = 1; debt; n++) {
                dirty_one();
                debt--;
                if ((n & 15) == 0) {
                    u64 t = rdtsc();
                    if (n == 16)
                        start = t;
                    else if (t - start >= dirty_budget)
                        break;
                }
            }
        }

        if ((s32)(now - hb_due) >= 0) {
            heartbeat(boot_id, ++hb_n);
            hb_due += opt_interval;
            if ((s32)(now - hb_due) >= 0)       /* fell behind: resync */
                hb_due = now + opt_interval;
            scan_start();
        }

        u32 ticks = kz_ticks;
        if (ticks != ticks_seen)
            scan_step(scan_budget);

        /* sleep until the next tick unless one arrived meanwhile */
        __asm__ volatile("cli");
        ticks_seen = ticks;
        if (kz_ticks == ticks)
            __asm__ volatile("sti; hlt" ::: "memory");
        else
            __asm__ volatile("sti" ::: "memory");
    }
}
