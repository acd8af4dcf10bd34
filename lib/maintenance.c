/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The maintenance file: a few KEY=VALUE lines, each value one line of text. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs-util.h"
#include "macro.h"
#include "maintenance.h"
#include "mkdir.h"

void maintenance_done(Maintenance *m)
{
        free(m->type);
        free(m->user);
        free(m->message);
        *m = (Maintenance) {};
}

bool maintenance_message_is_valid(const char *s)
{
        size_t len = strlen(s);

        if (len > MAINTENANCE_MESSAGE_MAX)
                return false;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        /* valid UTF-8: walked by hand, so the locale does not matter */
        for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char) s[i];
                size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;

                if (n == 0 || i + n > len || (n == 2 && c < 0xc2))
                        return false;
                for (size_t k = 1; k < n; k++)
                        if (((unsigned char) s[i + k] & 0xc0) != 0x80)
                                return false;
                i += n;
        }
        return true;
}

static int set_value(char **field, const char *v)
{
        char *s = strdup(v);

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

int maintenance_read(const char *root, Maintenance *ret, KzError *e)
{
        _cleanup_free_ char *path = path_join(root, MAINTENANCE_FILE), *text = NULL;
        Maintenance m = {};
        char *line, *save = NULL;
        size_t size;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_bounded(path, MAINTENANCE_FILE_MAX, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return kz_error_set(e, r, "cannot read %s: %s", path, strerror(-r));
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');

                if (*line == '#' || !eq)
                        continue;
                *eq++ = 0;
                r = 0;
                if (streq(line, "Type"))
                        r = set_value(&m.type, eq);
                else if (streq(line, "User"))
                        r = set_value(&m.user, eq);
                else if (streq(line, "Message"))
                        r = set_value(&m.message, eq);
                else if (streq(line, "Uid"))
                        m.uid = (uint32_t) strtoul(eq, NULL, 10);
                else if (streq(line, "Since"))
                        m.since_usec = strtoull(eq, NULL, 10);
                if (r < 0) {
                        maintenance_done(&m);
                        return r;
                }
        }
        /* a file that says less still means maintenance: it is the file that counts */
        if ((!m.type && set_value(&m.type, "admin") < 0) || (!m.user && set_value(&m.user, "unknown") < 0) ||
            (!m.message && set_value(&m.message, "") < 0)) {
                maintenance_done(&m);
                return -ENOMEM;
        }
        *ret = m;
        return 1;
}

int maintenance_write(const char *root, const Maintenance *m, KzError *e)
{
        _cleanup_free_ char *path = path_join(root, MAINTENANCE_FILE), *text = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        if (!maintenance_message_is_valid(strempty(m->message)) || strpbrk(strempty(m->user), "\n\r") ||
            strpbrk(strempty(m->type), "\n\r"))
                return kz_error_set(e, EINVAL, "the maintenance record may not contain control characters");
        if (asprintf(&text,
                    "# Maintenance mode of this host, written by kzones-evacuated ('sysadm maintain').\n"
                    "# While this file exists zones cannot attach, boot or migrate in here.\n"
                    "Type=%s\nUser=%s\nUid=%" PRIu32 "\nSince=%" PRIu64 "\nMessage=%s\n",
                    strempty(m->type), strempty(m->user), m->uid, m->since_usec, strempty(m->message)) < 0) {
                text = NULL;
                return -ENOMEM;
        }
        r = mkdir_parents(path, 0700);
        if (r < 0)
                return kz_error_set(e, r, "cannot create the directory of %s: %s", path, strerror(-r));
        r = write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return kz_error_set(e, r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}

int maintenance_remove(const char *root, KzError *e)
{
        _cleanup_free_ char *path = path_join(root, MAINTENANCE_FILE);

        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0) {
                if (errno == ENOENT)
                        return 0;
                return kz_error_set(e, -errno, "cannot remove %s: %m", path);
        }
        (void) fsync_directory_of(path);
        return 0;
}

char *maintenance_describe(const Maintenance *m)
{
        char date[64] = "";
        time_t t = (time_t) (m->since_usec / 1000000);
        struct tm tm;
        char *s;

        if (m->since_usec > 0 && gmtime_r(&t, &tm))
                (void) strftime(date, sizeof(date), " since %Y-%m-%d %H:%M UTC", &tm);
        if (asprintf(&s, "%s, by %s%s%s%s", strna(m->type), strna(m->user), date, isempty(m->message) ? "" : ": ",
                    strempty(m->message)) < 0)
                return NULL;
        return s;
}
