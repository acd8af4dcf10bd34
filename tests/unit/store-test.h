/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the tests of the zone store share: files in the test's root, a sample
 * configuration, the index as text. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <string.h>
#include <sys/stat.h>

#include "zone-config-test.h"
#include "zone-store.h"
#include "test-root.h"


static inline void spit(const char *name, const char *content)
{
        char *p = store_path(name);
        FILE *f;

        (void) mkdir(root, 0755);
        {
                char *d = store_path("");
                char *etc = NULL;

                cr_assert_gt(asprintf(&etc, "%s/etc", root), 0);
                (void) mkdir(etc, 0755);
                (void) mkdir(d, 0755);
                free(etc);
                free(d);
        }
        f = fopen(p, "we");
        cr_assert_not_null(f, "%s: %m", p);
        cr_assert_eq(fputs(content, f) >= 0, true);
        cr_assert_eq(fclose(f), 0);
        free(p);
}

static inline mode_t mode_of(const char *name)
{
        char *p = store_path(name);
        struct stat st;

        cr_assert_eq(stat(p, &st), 0, "%s: %m", p);
        free(p);
        return st.st_mode & 07777;
}

static inline void commit_ok(ZoneConfig *c)
{
        KzError e = {};
        int r = zone_store_commit(root, c, &e);

        cr_assert_eq(r, 0, "commit of %s failed: %s", zone_config_name(c), e.message);
}

static inline ZoneConfig *load_ok(const char *name)
{
        ZoneConfig *c = NULL;
        KzError e = {};
        int r = zone_store_load(root, name, &c, &e);

        cr_assert_eq(r, 0, "load of %s failed: %s", name, e.message);
        cr_assert_not_null(c);
        return c;
}

static inline ZoneConfig *sample(const char *name)
{
        ZoneConfig *c = zone_config_new(name);
        ZoneResource *a;

        cr_assert_not_null(c);
        a = add_child(c->root, "anet");
        set_value(a, "id", "0");
        set_value(a, "lower-link", "net0");
        set_value(add_child(a, "vlan"), "vlan-id", "45");
        set_value(add_child(c->root, "capped-memory"), "physical", "4G");
        set_value(add_child(c->root, "virtual-cpu"), "ncpus", "2");
        return c;
}

/* The index entries other than comments, as one string. */
static inline char *index_entries(void)
{
        char *buf = store_read("index", NULL), *out = calloc(1, buf ? strlen(buf) + 1 : 1), *save = NULL;

        cr_assert_not_null(out);
        if (!buf)
                return out;
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                if (l[0] == '#')
                        continue;
                strcat(out, l);
                strcat(out, "\n");
        }
        free(buf);
        return out;
}

static inline void assert_uuid_v4(const char *uuid)
{
        regex_t re;

        cr_assert_eq(regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                             REG_EXTENDED | REG_NOSUB),
                0);
        cr_assert_eq(regexec(&re, uuid, 0, NULL, 0), 0, "\"%s\" is not a version 4 UUID", uuid);
        regfree(&re);
}

/* The UUID of name's index entry (asserting there is exactly one). */
static inline char *index_uuid(const char *name)
{
        ZoneIndexEntry *l = NULL;
        size_t n = 0, found = 0;
        char *uuid = NULL;

        cr_assert_eq(zone_index_read(root, &l, &n, NULL), 0);
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].name, name)) {
                        found++;
                        uuid = strdup(l[i].uuid);
                }
        zone_index_free(l, n);
        cr_assert_eq(found, 1, "%s has %zu index entries", name, found);
        return uuid;
}

/* Only the index, its lock and configurations are left in etc/zones: no temporary files. */
static inline void assert_no_stray_files(void)
{
        char *d = store_path("");
        DIR *dir = opendir(d);
        struct dirent *de;

        cr_assert_not_null(dir, "%s: %m", d);
        while ((de = readdir(dir))) {
                size_t n = strlen(de->d_name);

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || streq(de->d_name, "index") ||
                    streq(de->d_name, "index.lock"))
                        continue;
                cr_assert(n > 4 && streq(de->d_name + n - 4, ".xml") && !strstr(de->d_name, ".tmp"),
                        "stray file in etc/zones: %s", de->d_name);
        }
        closedir(dir);
        free(d);
}
