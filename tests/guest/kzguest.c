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

#include "kzguest.h"

/* ---- low level ---------------------------------------------------------- */

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

void b_str(struct buf *b, const char *s)
{
    while (*s && b->n < sizeof(b->d) - 1)
        b->d[b->n++] = *s++;
}

void b_strn(struct buf *b, const char *s, u32 max)
{
    while (max-- && *s && b->n < sizeof(b->d) - 1)
        b->d[b->n++] = *s++;
}

void b_hex(struct buf *b, u64 v, int digits)
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

void b_dec(struct buf *b, u64 v)
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

void b_emit(struct buf *b)
{
    b->d[b->n++] = '\n';
    serial_write(b->d, b->n);
    b->n = 0;
}

NORETURN void fail2(const char *msg, const char *arg)
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

NORETURN void fail(const char *msg)
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
/* ---- interrupts: IDT, PIC, PIT ------------------------------------------ */

static u64 idt[256] __attribute__((aligned(8)));
static struct {
    u16 limit;
    u32 base;
} __attribute__((packed)) idtr;

void set_gate(u32 vec, u32 handler)
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
        if (acpi_ready() && (kz_sci_count != sci_seen || (s32)(now - pwrbtn_due) >= 0)) {
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
