/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zone_peek(): the few attributes a daemon keeps of each zone, read from the tags
 * of a configuration without libxml2. The restarter keeps a thousand zones' brand
 * and autoboot; parsing each file whole (and the schema it is checked against)
 * cost it a megabyte of resident memory and most of its start. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs-util.h"
#include "macro.h"
#include "zone-peek.h"

typedef struct Scanner {
        const char *p, *end;
} Scanner;

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_name_char(char c)
{
        return !is_space(c) && !strchr("/>=<\"'&", c);
}

static bool at(const Scanner *s, const char *lit)
{
        size_t n = strlen(lit);

        return (size_t) (s->end - s->p) >= n && memcmp(s->p, lit, n) == 0;
}

/* Past the first lit from here; false if there is none. */
static bool skip_past(Scanner *s, const char *lit)
{
        size_t n = strlen(lit);
        const char *f = memmem(s->p, (size_t) (s->end - s->p), lit, n);

        if (!f)
                return false;
        s->p = f + n;
        return true;
}

static size_t put_utf8(char *o, uint32_t cp)
{
        if (cp < 0x80) {
                o[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (char) (0xc0 | (cp >> 6));
                o[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (char) (0xe0 | (cp >> 12));
                o[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                o[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        o[0] = (char) (0xf0 | (cp >> 18));
        o[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* &name; (without & and ;) at o: the five of XML and character references. What
 * is written is never longer than the reference, so a value is decoded in place
 * of a copy of its own size. */
static int decode_reference(const char *name, size_t n, char *o, size_t *ret_len)
{
        static const struct {
                const char *name;
                char c;
        } predefined[] = { { "lt", '<' }, { "gt", '>' }, { "amp", '&' }, { "quot", '"' }, { "apos", '\'' } };
        uint32_t cp = 0;
        bool hex;
        size_t i;

        for (i = 0; i < ELEMENTSOF(predefined); i++)
                if (strlen(predefined[i].name) == n && memcmp(predefined[i].name, name, n) == 0) {
                        *o = predefined[i].c;
                        *ret_len = 1;
                        return 0;
                }
        if (n < 2 || name[0] != '#')
                return -EBADMSG;
        hex = name[1] == 'x';
        i = hex ? 2 : 1;
        if (i == n || n - i > 8)
                return -EBADMSG;
        for (; i < n; i++) {
                char c = name[i];
                unsigned d;

                if (c >= '0' && c <= '9')
                        d = (unsigned) (c - '0');
                else if (hex && c >= 'a' && c <= 'f')
                        d = (unsigned) (c - 'a' + 10);
                else if (hex && c >= 'A' && c <= 'F')
                        d = (unsigned) (c - 'A' + 10);
                else
                        return -EBADMSG;
                cp = cp * (hex ? 16 : 10) + d;
        }
        if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -EBADMSG;
        *ret_len = put_utf8(o, cp);
        return 0;
}

/* A quoted attribute value; kept in *ret (decoded) if ret is not NULL. */
static int attribute_value(Scanner *s, char **ret)
{
        const char *start, *e;
        char q, *v, *o;

        if (s->p >= s->end || (*s->p != '"' && *s->p != '\''))
                return -EBADMSG;
        q = *s->p++;
        start = s->p;
        e = memchr(start, q, (size_t) (s->end - start));
        if (!e || memchr(start, '<', (size_t) (e - start)))
                return -EBADMSG;
        s->p = e + 1;
        if (!ret)
                return 0;
        v = o = malloc((size_t) (e - start) + 1);
        if (!v)
                return -ENOMEM;
        for (const char *c = start; c < e; c++) {
                const char *semi;
                size_t len;

                if (*c == '\r' && c + 1 < e && c[1] == '\n')
                        continue; /* a line end is one character, as XML reads it */
                if (*c != '&') {
                        *o++ = is_space(*c) ? ' ' : *c; /* attribute-value normalization */
                        continue;
                }
                semi = memchr(c, ';', (size_t) (e - c));
                if (!semi || decode_reference(c + 1, (size_t) (semi - c - 1), o, &len) < 0) {
                        free(v);
                        return -EBADMSG;
                }
                o += len;
                c = semi;
        }
        *o = 0;
        *ret = v;
        return 0;
}

/* The attributes of a start tag up to its end; those named in names[] kept in
 * values[] (n of each; names NULL: none kept). *ret_empty: it ended with "/>". */
static int attributes(Scanner *s, const char *const *names, char **values, size_t n, bool *ret_empty)
{
        for (;;) {
                bool spaced = s->p < s->end && is_space(*s->p);
                const char *name;
                size_t len, i;
                int r;

                while (s->p < s->end && is_space(*s->p))
                        s->p++;
                if (at(s, "/>") || at(s, ">")) {
                        *ret_empty = *s->p == '/';
                        s->p += *ret_empty ? 2 : 1;
                        return 0;
                }
                if (!spaced || s->p >= s->end)
                        return -EBADMSG;
                name = s->p;
                while (s->p < s->end && is_name_char(*s->p))
                        s->p++;
                len = (size_t) (s->p - name);
                while (s->p < s->end && is_space(*s->p))
                        s->p++;
                if (len == 0 || s->p >= s->end || *s->p != '=')
                        return -EBADMSG;
                s->p++;
                while (s->p < s->end && is_space(*s->p))
                        s->p++;
                for (i = 0; names && i < n; i++)
                        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
                                break;
                if (names && i < n && values[i])
                        return -EBADMSG; /* twice the same attribute */
                r = attribute_value(s, names && i < n ? &values[i] : NULL);
                if (r < 0)
                        return r;
        }
}

static void free_values(char **values, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(values[i]);
}

int zone_peek(const char *buf, size_t size, unsigned flags, ZonePeek *ret)
{
        static const char *const root_names[] = { "zonename", "brand", "autoboot" };
        static const char *const suspend_names[] = { "path", "storage" };
        _cleanup_(zone_peek_done) ZonePeek p = {};
        _cleanup_free_ char *autoboot = NULL;
        Scanner s = { buf, buf + size };
        unsigned depth = 0;
        bool root_seen = false;

        /* as zone_config_from_xml(): no document type, no entities, no NUL */
        if (memmem(buf, size, "<!DOCTYPE", 9) || memmem(buf, size, "<!ENTITY", 8) || memchr(buf, 0, size))
                return -EBADMSG;
        if (at(&s, "\xef\xbb\xbf"))
                s.p += 3;
        for (;;) {
                const char *lt = memchr(s.p, '<', (size_t) (s.end - s.p)), *name;
                char *values[3] = {};
                bool root, suspend, empty;
                size_t len;
                int r;

                if (!lt)
                        return -EBADMSG; /* no root element, or not closed */
                if (!root_seen)
                        for (const char *c = s.p; c < lt; c++)
                                if (!is_space(*c))
                                        return -EBADMSG; /* text before the root element */
                s.p = lt + 1;
                if (at(&s, "?")) {
                        if (!skip_past(&s, "?>"))
                                return -EBADMSG;
                        continue;
                }
                if (at(&s, "!--")) {
                        if (!skip_past(&s, "-->"))
                                return -EBADMSG;
                        continue;
                }
                if (at(&s, "![CDATA[") && depth > 0) {
                        if (!skip_past(&s, "]]>"))
                                return -EBADMSG;
                        continue;
                }
                if (at(&s, "!"))
                        return -EBADMSG;
                if (at(&s, "/")) {
                        if (depth == 0 || !skip_past(&s, ">"))
                                return -EBADMSG;
                        if (--depth == 0)
                                break; /* the root element's end */
                        continue;
                }
                if (root_seen && depth == 0)
                        return -EBADMSG; /* a second root element */
                name = s.p;
                while (s.p < s.end && is_name_char(*s.p))
                        s.p++;
                len = (size_t) (s.p - name);
                if (len == 0)
                        return -EBADMSG;
                root = depth == 0;
                if (root && (len != 4 || memcmp(name, "zone", 4) != 0))
                        return -EBADMSG;
                suspend = depth == 1 && (flags & ZONE_PEEK_SUSPEND) && !p.has_suspend && len == 7 &&
                        memcmp(name, "suspend", 7) == 0;
                r = attributes(&s, root ? root_names : suspend ? suspend_names : NULL, values, root ? 3 : 2,
                        &empty);
                if (r < 0) {
                        free_values(values, ELEMENTSOF(values));
                        return r;
                }
                if (root) {
                        root_seen = true;
                        p.name = values[0];
                        p.brand = values[1];
                        autoboot = values[2];
                        if (!(flags & ZONE_PEEK_SUSPEND) || empty)
                                break; /* all that was asked for */
                } else if (suspend) {
                        p.has_suspend = true;
                        p.suspend_path = values[0];
                        p.suspend_storage = values[1];
                }
                if (!empty)
                        depth++;
        }
        p.autoboot = streq_ptr(autoboot, "true");
        *ret = p;
        p = (ZonePeek) {};
        return 0;
}

void zone_peek_done(ZonePeek *p)
{
        free(p->name);
        free(p->brand);
        free(p->suspend_path);
        free(p->suspend_storage);
        *p = (ZonePeek) {};
}

int zone_peek_suspend_image(const ZonePeek *p, const char *root, char **ret)
{
        const char *path = p->suspend_path;

        if (!p->has_suspend)
                return -ENOENT;
        if (!path && p->suspend_storage && strncmp(p->suspend_storage, "file://", 7) == 0)
                path = p->suspend_storage + 7;
        if (!path)
                return -EOPNOTSUPP;
        *ret = path_join(root, path);
        return *ret ? 0 : -ENOMEM;
}
