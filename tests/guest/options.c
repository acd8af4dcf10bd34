/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzguest's command line (-append): dirty=, rate=, interval=, marker=. */
#include "kzguest.h"

/* ---- options ------------------------------------------------------------ */

u64 opt_dirty = DEF_DIRTY;
u32 opt_rate = DEF_RATE;
u32 opt_interval = DEF_INTERVAL;
char opt_marker[MARKER_MAX + 1];
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

void parse_cmdline(const struct mb_info *mbi)
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
