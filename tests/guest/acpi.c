/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzguest's ACPI power button: QMP system_powerdown powers the guest off. */
#include "kzguest.h"

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

struct buf acpi_line;

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

u16 pm1_status(void)
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
int acpi_init(u32 tsc_per_ms)
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
NORETURN void power_off(u64 boot_id, u64 n, u32 tsc_per_ms)
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

int acpi_ready(void)
{
    return acpi.ready;
}
