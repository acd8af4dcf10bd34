/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <regex.h>
#include <string.h>
#include <sys/stat.h>

#include "zone-store.h"

/* Every test works in its own root, made before it and removed after it. */
static char root[PATH_MAX];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) remove(path);
        return 0;
}

static void make_root(void)
{
        const char *tmp = getenv("TMPDIR");

        (void) snprintf(root, sizeof(root), "%s/kzones-store-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        cr_assert_not_null(mkdtemp(root), "mkdtemp: %m");
}

static void remove_root(void)
{
        if (root[0])
                (void) nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = make_root, .fini = remove_root);
TestSuite(template, .init = make_root, .fini = remove_root);

/* ---- helpers ------------------------------------------------------------------------------ */

static char *store_path(const char *name)
{
        char *p = NULL;

        cr_assert_gt(asprintf(&p, "%s/etc/zones/%s", root, name), 0);
        return p;
}

/* The file's bytes, or NULL if it does not exist. */
static char *slurp(const char *name, size_t *ret_size)
{
        char *p = store_path(name), *buf = NULL;
        size_t size = 0;
        int r = read_file_bounded(p, 4u << 20, &buf, &size);

        free(p);
        if (r == -ENOENT)
                return NULL;
        cr_assert_eq(r, 0, "cannot read %s: %s", name, strerror(-r));
        if (ret_size)
                *ret_size = size;
        return buf;
}

static void spit(const char *name, const char *content)
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

static bool exists(const char *name)
{
        char *p = store_path(name);
        bool r = access(p, F_OK) == 0;

        free(p);
        return r;
}

static mode_t mode_of(const char *name)
{
        char *p = store_path(name);
        struct stat st;

        cr_assert_eq(stat(p, &st), 0, "%s: %m", p);
        free(p);
        return st.st_mode & 07777;
}

static void commit_ok(ZoneConfig *c)
{
        KzError e = {};
        int r = zone_store_commit(root, c, &e);

        cr_assert_eq(r, 0, "commit of %s failed: %s", zone_config_name(c), e.message);
}

static ZoneConfig *load_ok(const char *name)
{
        ZoneConfig *c = NULL;
        KzError e = {};
        int r = zone_store_load(root, name, &c, &e);

        cr_assert_eq(r, 0, "load of %s failed: %s", name, e.message);
        cr_assert_not_null(c);
        return c;
}

static void set(ZoneResource *r, const char *prop, const char *value)
{
        KzError e = {};

        cr_assert_eq(zone_resource_set(r, prop, value, &e), 0, "set %s=%s: %s", prop, value, e.message);
}

static ZoneResource *add(ZoneResource *parent, const char *type)
{
        ZoneResource *r = zone_resource_new(resource_type_child(parent->type, type));

        cr_assert_not_null(r);
        cr_assert_eq(zone_resource_attach(parent, r), 0);
        return r;
}

static ZoneConfig *sample(const char *name)
{
        ZoneConfig *c = zone_config_new(name);
        ZoneResource *a;

        cr_assert_not_null(c);
        a = add(c->root, "anet");
        set(a, "id", "0");
        set(a, "lower-link", "net0");
        set(add(a, "vlan"), "vlan-id", "45");
        set(add(c->root, "capped-memory"), "physical", "4G");
        set(add(c->root, "virtual-cpu"), "ncpus", "2");
        return c;
}

/* The index entries other than comments, as one string. */
static char *index_entries(void)
{
        char *buf = slurp("index", NULL), *out = calloc(1, buf ? strlen(buf) + 1 : 1), *save = NULL;

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

static void assert_uuid_v4(const char *uuid)
{
        regex_t re;

        cr_assert_eq(regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                             REG_EXTENDED | REG_NOSUB),
                0);
        cr_assert_eq(regexec(&re, uuid, 0, NULL, 0), 0, "\"%s\" is not a version 4 UUID", uuid);
        regfree(&re);
}

/* The UUID of name's index entry (asserting there is exactly one). */
static char *index_uuid(const char *name)
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
static void assert_no_stray_files(void)
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

/* ---- committing and loading ------------------------------------------------------------------ */

Test(store, commit_creates_the_file_and_the_index_entry)
{
        ZoneConfig *c = sample("kz1");
        char *entries, *uuid, *xml, *want;

        commit_ok(c);
        cr_assert(exists("kz1.xml"));
        cr_assert_eq(mode_of("kz1.xml"), 0644, "mode %o", mode_of("kz1.xml"));
        cr_assert_eq(mode_of("index"), 0644);

        entries = index_entries();
        uuid = index_uuid("kz1");
        assert_uuid_v4(uuid);
        cr_assert_gt(asprintf(&want, "kz1:configured::%s\n", uuid), 0);
        cr_assert_str_eq(entries, want);

        /* the file is what the library writes, and the commit remembers it */
        xml = slurp("kz1.xml", NULL);
        cr_assert(strstr(xml, "<zone zonename=\"kz1\" brand=\"kz\">"), "%s", xml);
        cr_assert(c->exists);
        cr_assert_str_eq(c->loaded_name, "kz1");
        cr_assert_str_eq(c->snapshot, xml);

        /* a second commit keeps the same UUID and adds no entry */
        set(c->root, "autoboot", "true");
        commit_ok(c);
        free(entries);
        entries = index_entries();
        cr_assert_str_eq(entries, want);

        free(xml);
        free(want);
        free(uuid);
        free(entries);
        zone_config_free(c);
}

Test(store, index_header_says_do_not_edit)
{
        ZoneConfig *c = sample("kz1");
        char *buf;

        commit_ok(c);
        buf = slurp("index", NULL);
        cr_assert_eq(strncmp(buf, "# DO NOT EDIT", 13), 0, "%s", buf);
        free(buf);
        zone_config_free(c);
}

Test(store, a_configuration_with_a_key_is_private)
{
        ZoneConfig *c = sample("kz1");

        cr_assert_eq(zone_config_new_keysource(c), 0);
        commit_ok(c);
        cr_assert_eq(mode_of("kz1.xml"), 0600, "a file with a keysource has mode %o", mode_of("kz1.xml"));

        zone_resource_remove(c->root, zone_resource_first(c->root, resource_type_child(zone_type(), "keysource")));
        commit_ok(c);
        cr_assert_eq(mode_of("kz1.xml"), 0644, "mode %o", mode_of("kz1.xml"));
        zone_config_free(c);
}

Test(store, the_umask_does_not_change_the_modes)
{
        ZoneConfig *c = sample("kz1");
        mode_t old = umask(0077);

        commit_ok(c);
        umask(old);
        cr_assert_eq(mode_of("kz1.xml"), 0644, "mode %o", mode_of("kz1.xml"));
        zone_config_free(c);
}

Test(store, load_returns_what_was_committed)
{
        ZoneConfig *c = sample("kz1"), *back;
        char *xml;
        size_t size = 0;

        cr_assert_eq(zone_config_new_keysource(c), 0);
        commit_ok(c);
        back = load_ok("kz1");
        cr_assert(zone_resource_equal(c->root, back->root));
        cr_assert(back->exists);
        cr_assert_str_eq(back->loaded_name, "kz1");
        xml = slurp("kz1.xml", &size);
        cr_assert_eq(back->snapshot_size, size);
        cr_assert_eq(memcmp(back->snapshot, xml, size), 0);
        free(xml);
        zone_config_free(back);
        zone_config_free(c);
}

Test(store, load_errors)
{
        ZoneConfig *c = NULL;
        KzError e = {};

        cr_assert_eq(zone_store_load(root, "kz9", &c, &e), -ENOENT);
        cr_assert_str_eq(e.message, "kz9: No such zone configured");
        kz_error_clear(&e);
        cr_assert_eq(zone_store_load(root, "../../etc/passwd", &c, &e), -EINVAL);
        cr_assert_str_eq(e.message, "../../etc/passwd: invalid zone name.");
        kz_error_clear(&e);
        cr_assert_eq(zone_store_load(root, "global", &c, &e), -EINVAL);
        cr_assert_null(c);
}

/* ---- concurrent changes ---------------------------------------------------------------------- */

Test(store, a_concurrent_edit_is_refused)
{
        ZoneConfig *c = sample("kz1"), *first, *second, *now;
        char *after_first, *after_second;
        KzError e = {};

        commit_ok(c);
        first = load_ok("kz1");
        second = load_ok("kz1");
        set(first->root, "autoboot", "true");
        commit_ok(first);
        after_first = slurp("kz1.xml", NULL);

        set(second->root, "bootargs", "-v");
        cr_assert_eq(zone_store_commit(root, second, &e), -ESTALE);
        cr_assert_str_eq(e.message, "the configuration of zone 'kz1' was changed by someone else since it was "
                                    "loaded; nothing was saved. Use 'revert' to load the current one.");
        after_second = slurp("kz1.xml", NULL);
        cr_assert_str_eq(after_second, after_first, "the refused commit changed the file");
        now = load_ok("kz1");
        cr_assert_str_eq(zone_resource_get(now->root, "autoboot"), "true");
        cr_assert_null(zone_resource_get(now->root, "bootargs"));

        /* the first one goes on committing: it holds the current snapshot */
        set(first->root, "bootargs", "-s");
        commit_ok(first);
        assert_no_stray_files();

        free(after_first);
        free(after_second);
        zone_config_free(now);
        zone_config_free(first);
        zone_config_free(second);
        zone_config_free(c);
}

Test(store, a_zone_created_meanwhile_is_not_overwritten)
{
        ZoneConfig *mine = sample("kz1"), *theirs = zone_config_new("kz1");
        char *before, *after, *entries;
        KzError e = {};

        set(theirs->root, "autoboot", "true");
        commit_ok(theirs);
        before = slurp("kz1.xml", NULL);
        entries = index_entries();

        cr_assert_eq(zone_store_commit(root, mine, &e), -EEXIST);
        cr_assert_str_eq(e.message, "zone 'kz1' was created by someone else meanwhile; nothing was saved.");
        after = slurp("kz1.xml", NULL);
        cr_assert_str_eq(after, before);
        free(after);
        after = index_entries();
        cr_assert_str_eq(after, entries);
        cr_assert_not(mine->exists);

        free(before);
        free(after);
        free(entries);
        zone_config_free(mine);
        zone_config_free(theirs);
}

Test(store, a_zone_deleted_meanwhile_is_not_recreated)
{
        ZoneConfig *c = sample("kz1"), *a, *b;
        KzError e = {};

        commit_ok(c);
        a = load_ok("kz1");
        b = load_ok("kz1");
        cr_assert_eq(zone_store_delete(root, b, false, NULL), 0);
        set(a->root, "autoboot", "true");
        cr_assert_eq(zone_store_commit(root, a, &e), -ESTALE);
        cr_assert_str_eq(e.message, "zone 'kz1' was deleted by someone else since it was loaded; nothing was saved.");
        cr_assert_not(exists("kz1.xml"));
        zone_config_free(a);
        zone_config_free(b);
        zone_config_free(c);
}

/* ---- deleting ---------------------------------------------------------------------------------- */

Test(store, delete_removes_the_file_and_the_index_entry)
{
        ZoneConfig *k1 = sample("kz1"), *k2 = sample("kz2");
        char *uuid2, *entries, *want;

        commit_ok(k1);
        commit_ok(k2);
        uuid2 = index_uuid("kz2");
        cr_assert_eq(zone_store_delete(root, k1, false, NULL), 0);
        cr_assert_not(exists("kz1.xml"));
        cr_assert(exists("kz2.xml"));
        entries = index_entries();
        cr_assert_gt(asprintf(&want, "kz2:configured::%s\n", uuid2), 0);
        cr_assert_str_eq(entries, want);
        assert_no_stray_files();
        free(entries);
        free(want);
        free(uuid2);
        zone_config_free(k1);
        zone_config_free(k2);
}

Test(store, delete_is_refused_while_installed)
{
        ZoneConfig *c = sample("kz1");
        char *before, *after;
        KzError e = {};

        commit_ok(c);
        cr_assert_eq(zone_index_set_state(root, "kz1", ZONE_STATE_INSTALLED, NULL), 0);
        before = index_entries();
        cr_assert(strstr(before, "kz1:installed::"), "%s", before);

        cr_assert_eq(zone_store_delete(root, c, false, &e), -EBUSY);
        cr_assert_str_eq(e.message,
                "zone 'kz1' is installed; uninstall it with zoneadm before deleting its configuration.");
        kz_error_clear(&e);
        cr_assert_eq(zone_store_delete(root, c, true, &e), -EBUSY, "-F does not delete an installed zone");
        cr_assert(exists("kz1.xml"));
        after = index_entries();
        cr_assert_str_eq(after, before);

        cr_assert_eq(zone_index_set_state(root, "kz1", ZONE_STATE_CONFIGURED, NULL), 0);
        cr_assert_eq(zone_store_delete(root, c, false, NULL), 0);
        cr_assert_not(exists("kz1.xml"));
        free(before);
        free(after);
        zone_config_free(c);
}

Test(store, delete_of_a_changed_configuration_needs_force)
{
        ZoneConfig *c = sample("kz1"), *a, *b;
        KzError e = {};

        commit_ok(c);
        a = load_ok("kz1");
        b = load_ok("kz1");
        set(a->root, "autoboot", "true");
        commit_ok(a);
        cr_assert_eq(zone_store_delete(root, b, false, &e), -ESTALE);
        cr_assert(exists("kz1.xml"));
        cr_assert_eq(zone_store_delete(root, b, true, NULL), 0);
        cr_assert_not(exists("kz1.xml"));
        zone_config_free(a);
        zone_config_free(b);
        zone_config_free(c);
}

/* ---- renaming ---------------------------------------------------------------------------------- */

Test(store, rename_moves_the_file_and_the_index_entry)
{
        ZoneConfig *c = sample("kz1"), *r, *back, *gone = NULL;
        char *uuid, *entries, *want;

        commit_ok(c);
        uuid = index_uuid("kz1");
        r = load_ok("kz1");
        set(r->root, "zonename", "kz2");
        commit_ok(r);
        cr_assert_not(exists("kz1.xml"));
        cr_assert(exists("kz2.xml"));
        entries = index_entries();
        cr_assert_gt(asprintf(&want, "kz2:configured::%s\n", uuid), 0);
        cr_assert_str_eq(entries, want, "the renamed zone keeps its UUID");
        back = load_ok("kz2");
        cr_assert_str_eq(zone_config_name(back), "kz2");
        cr_assert_eq(zone_store_load(root, "kz1", &gone, NULL), -ENOENT);
        cr_assert_str_eq(r->loaded_name, "kz2");
        assert_no_stray_files();

        free(uuid);
        free(entries);
        free(want);
        zone_config_free(back);
        zone_config_free(r);
        zone_config_free(c);
}

Test(store, rename_onto_an_existing_zone_is_refused)
{
        ZoneConfig *k1 = sample("kz1"), *k2 = sample("kz2"), *r;
        char *before;
        KzError e = {};

        commit_ok(k1);
        commit_ok(k2);
        before = slurp("kz2.xml", NULL);
        r = load_ok("kz1");
        set(r->root, "zonename", "kz2");
        set(r->root, "autoboot", "true");
        cr_assert_eq(zone_store_commit(root, r, &e), -EEXIST);
        cr_assert_str_eq(e.message, "cannot rename zone 'kz1' to 'kz2': a zone of that name already exists.");
        cr_assert(exists("kz1.xml"));
        {
                char *after = slurp("kz2.xml", NULL);

                cr_assert_str_eq(after, before);
                free(after);
        }
        free(before);
        zone_config_free(r);
        zone_config_free(k1);
        zone_config_free(k2);
}

Test(store, rename_is_refused_while_installed)
{
        ZoneConfig *c = sample("kz1"), *r;
        KzError e = {};

        commit_ok(c);
        cr_assert_eq(zone_index_set_state(root, "kz1", ZONE_STATE_INSTALLED, NULL), 0);
        r = load_ok("kz1");
        set(r->root, "zonename", "kz2");
        cr_assert_eq(zone_store_commit(root, r, &e), -EBUSY);
        cr_assert(strstr(e.message, "zone 'kz1'") && strstr(e.message, "renamed"), "%s", e.message);
        cr_assert(exists("kz1.xml"));
        cr_assert_not(exists("kz2.xml"));
        zone_config_free(r);
        zone_config_free(c);
}

/* ---- damaged stores ------------------------------------------------------------------------------ */

Test(store, a_garbage_file_is_reported_and_never_overwritten)
{
        ZoneConfig *c = NULL, *fresh = zone_config_new("kz1");
        char *path = store_path("kz1.xml"), *after;
        KzError e = {};
        int r;

        spit("kz1.xml", "this is not XML\n");
        r = zone_store_load(root, "kz1", &c, &e);
        cr_assert_eq(r, -EBADMSG, "%d: %s", r, e.message);
        cr_assert_null(c);
        cr_assert(strstr(e.message, path), "the message does not name %s: %s", path, e.message);
        cr_assert(strstr(e.message, "is not well-formed XML"), "%s", e.message);

        kz_error_clear(&e);
        cr_assert_lt(zone_store_commit(root, fresh, &e), 0, "a new zone of the same name overwrote the damaged file");
        after = slurp("kz1.xml", NULL);
        cr_assert_str_eq(after, "this is not XML\n");
        assert_no_stray_files();
        free(after);
        free(path);
        zone_config_free(fresh);
}

Test(store, an_edited_bad_value_is_reported_with_the_file_and_line)
{
        ZoneConfig *c = sample("kz1"), *l = NULL;
        char *xml, *p, *path = store_path("kz1.xml"), *want;
        KzError e = {};

        commit_ok(c);
        xml = slurp("kz1.xml", NULL);
        p = strstr(xml, "physical=\"4G\"");
        cr_assert_not_null(p, "%s", xml);
        p[10] = '3';
        p[11] = 'M';
        spit("kz1.xml", xml);

        cr_assert_eq(zone_store_load(root, "kz1", &l, &e), -EBADMSG);
        cr_assert_null(l);
        cr_assert_gt(asprintf(&want, "%s, line ", path), 0);
        cr_assert(strstr(e.message, want), "the message does not name the file and line: %s", e.message);
        cr_assert(strstr(e.message, "physical value 3M is not a multiple of 2M."), "%s", e.message);

        /* the earlier, still loaded configuration cannot be committed over it either */
        set(c->root, "autoboot", "true");
        cr_assert_eq(zone_store_commit(root, c, NULL), -ESTALE);
        {
                char *after = slurp("kz1.xml", NULL);

                cr_assert_str_eq(after, xml);
                free(after);
        }
        free(want);
        free(path);
        free(xml);
        zone_config_free(c);
}

Test(store, a_file_naming_another_zone_is_refused)
{
        ZoneConfig *c = sample("kz1"), *l = NULL;
        char *xml;
        KzError e = {};

        commit_ok(c);
        xml = slurp("kz1.xml", NULL);
        spit("kz2.xml", xml);
        cr_assert_eq(zone_store_load(root, "kz2", &l, &e), -EBADMSG);
        cr_assert(strstr(e.message, "names zone 'kz1', not 'kz2'."), "%s", e.message);
        free(xml);
        zone_config_free(c);
}

Test(store, an_oversized_file_is_refused)
{
        ZoneConfig *l = NULL;
        char *big = malloc(300 * 1024);
        KzError e = {};

        memset(big, ' ', 300 * 1024 - 1);
        big[300 * 1024 - 1] = 0;
        spit("kz1.xml", big);
        cr_assert_eq(zone_store_load(root, "kz1", &l, &e), -EFBIG);
        cr_assert(strstr(e.message, "is larger than 262144 bytes."), "%s", e.message);
        free(big);
}

Test(store, a_symlink_is_not_followed)
{
        ZoneConfig *l = NULL;
        char *link = store_path("kz1.xml"), *target = NULL;
        FILE *f;

        spit("index", "");
        cr_assert_gt(asprintf(&target, "%s/outside.xml", root), 0);
        f = fopen(target, "we");
        fputs("<?xml version=\"1.0\"?>\n<zone zonename=\"kz1\" brand=\"kz\"/>\n", f);
        fclose(f);
        cr_assert_eq(symlink(target, link), 0);
        cr_assert_lt(zone_store_load(root, "kz1", &l, NULL), 0, "a configuration was read through a symlink");
        cr_assert_null(l);
        free(link);
        free(target);
}

Test(store, a_malformed_index_is_reported)
{
        ZoneIndexEntry *l = NULL;
        size_t n = 0;
        KzError e = {};
        char *path = store_path("index"), *want;

        spit("index", "# comment\nkz1:configured::x\nkz2:exploded::y\n");
        cr_assert_eq(zone_index_read(root, &l, &n, &e), -EBADMSG);
        cr_assert_gt(asprintf(&want, "%s, line 3: malformed index entry.", path), 0);
        cr_assert_str_eq(e.message, want);
        spit("index", "kz1:configured:\n");
        cr_assert_eq(zone_index_read(root, &l, &n, NULL), -EBADMSG);
        spit("index", "kz1:configured::u:extra\n");
        cr_assert_eq(zone_index_read(root, &l, &n, NULL), -EBADMSG);
        spit("index", "global:configured::u\n");
        cr_assert_eq(zone_index_read(root, &l, &n, NULL), -EBADMSG);
        free(want);
        free(path);
}

/* When a commit fails, nothing has been written: here the index cannot be read, and the
 * commit reports that, so the configuration must not have been saved either. */
Test(store, a_commit_that_fails_on_the_index_writes_nothing)
{
        ZoneConfig *c = sample("kz1");
        KzError e = {};
        int r;

        spit("index", "this line is not an index entry\n");
        r = zone_store_commit(root, c, &e);
        cr_assert_eq(r, -EBADMSG, "%d: %s", r, e.message);
        cr_assert(strstr(e.message, "malformed index entry"), "%s", e.message);
        cr_assert_not(exists("kz1.xml"), "the commit failed, yet etc/zones/kz1.xml was written");
        zone_config_free(c);
}

/* Likewise for delete: a failed delete leaves the configuration in place. */
Test(store, a_delete_that_fails_on_the_index_removes_nothing)
{
        ZoneConfig *c = sample("kz1");
        KzError e = {};
        int r;

        commit_ok(c);
        spit("index", "this line is not an index entry\n");
        r = zone_store_delete(root, c, true, &e);
        cr_assert_lt(r, 0, "the delete succeeded with a broken index");
        cr_assert(exists("kz1.xml"), "the delete failed (%s), yet etc/zones/kz1.xml was removed", e.message);
        zone_config_free(c);
}

Test(store, no_temporary_files_are_left)
{
        ZoneConfig *c = sample("kz1"), *k2 = sample("kz2"), *stale;

        commit_ok(c);
        stale = load_ok("kz1");
        for (unsigned i = 0; i < 5; i++) {
                char v[16];

                (void) snprintf(v, sizeof(v), "-v%u", i);
                set(c->root, "bootargs", v);
                commit_ok(c);
        }
        commit_ok(k2);
        cr_assert_eq(zone_store_commit(root, stale, NULL), -ESTALE);
        cr_assert_eq(zone_index_set_state(root, "kz2", ZONE_STATE_READY, NULL), 0);
        assert_no_stray_files();
        zone_config_free(stale);
        zone_config_free(c);
        zone_config_free(k2);
}

Test(store, write_file_atomic_replaces_and_cleans_up)
{
        char *p = NULL, *buf = NULL;
        size_t size = 0;

        cr_assert_gt(asprintf(&p, "%s/f", root), 0);
        cr_assert_eq(write_file_atomic(p, "one", 3, 0640), 0);
        cr_assert_eq(write_file_atomic(p, "two!", 4, 0600), 0);
        cr_assert_eq(read_file_bounded(p, 100, &buf, &size), 0);
        cr_assert_eq(size, 4);
        cr_assert_str_eq(buf, "two!");
        free(buf);
        cr_assert_eq(read_file_bounded(p, 3, &buf, &size), -EFBIG);
        cr_assert_lt(write_file_atomic("/nonexistent-dir/f", "x", 1, 0600), 0);
        free(p);
}

Test(store, path_join)
{
        char *p;

        p = path_join("", "/etc/zones");
        cr_assert_str_eq(p, "/etc/zones");
        free(p);
        p = path_join("/", "/etc/zones");
        cr_assert_str_eq(p, "/etc/zones");
        free(p);
        p = path_join("/srv/root//", "/etc/zones");
        cr_assert_str_eq(p, "/srv/root/etc/zones");
        free(p);
        p = path_join(NULL, "/etc/zones");
        cr_assert_str_eq(p, "/etc/zones");
        free(p);
}

/* ---- templates -------------------------------------------------------------------------------------- */

static const char *device_storage(const ZoneConfig *c)
{
        return zone_resource_get(zone_resource_first(c->root, resource_type_child(zone_type(), "device")), "storage");
}

static const char *key_of(const ZoneConfig *c)
{
        return zone_resource_get(zone_resource_first(c->root, resource_type_child(zone_type(), "keysource")), "raw");
}

Test(template, syskz_gives_a_fresh_key_each_time)
{
        ZoneConfig *a = NULL, *b = NULL;
        KzError e = {};

        cr_assert_eq(zone_template_load(root, "SYSkz", "kz1", &a, &e), 0, "%s", e.message);
        cr_assert_eq(zone_template_load(root, "SYSkz", "kz1", &b, &e), 0, "%s", e.message);
        cr_assert_not_null(key_of(a));
        cr_assert_not_null(key_of(b));
        cr_assert_str_neq(key_of(a), key_of(b), "two zones made from SYSkz share a key");
        cr_assert_str_eq(zone_config_name(a), "kz1");
        cr_assert_not(a->exists);
        cr_assert_null(a->loaded_name);
        cr_assert_null(a->snapshot);
        cr_assert_eq(zone_config_verify(a, NULL), 0);
        zone_config_free(a);
        zone_config_free(b);
}

Test(template, storage_tokens_are_kept)
{
        ZoneConfig *c = NULL;
        char *xml;

        cr_assert_eq(zone_template_load(root, "SYSkz", "kz1", &c, NULL), 0);
        cr_assert_str_eq(device_storage(c), "file:///var/lib/zones/%{zonename}/disk%{id}.img");
        commit_ok(c);
        cr_assert_eq(mode_of("kz1.xml"), 0600, "a zone made from SYSkz holds a key");
        xml = slurp("kz1.xml", NULL);
        cr_assert(strstr(xml, "storage=\"file:///var/lib/zones/%{zonename}/disk%{id}.img\""), "%s", xml);
        free(xml);
        zone_config_free(c);
}

Test(template, syskz_minimal)
{
        ZoneConfig *c = NULL;

        cr_assert_eq(zone_template_load(root, "SYSkz-minimal", "kz1", &c, NULL), 0);
        cr_assert_str_eq(zone_resource_get(zone_resource_first(c->root,
                                                   resource_type_child(zone_type(), "capped-memory")),
                                 "physical"),
                "2G");
        cr_assert_not_null(key_of(c));
        zone_config_free(c);
}

Test(template, bad_template_names)
{
        ZoneConfig *c = NULL;
        KzError e = {};

        cr_assert_eq(zone_template_load(root, "SYSnope", "kz1", &c, &e), -ENOENT);
        cr_assert_str_eq(e.message, "SYSnope: no such template.");
        kz_error_clear(&e);
        cr_assert_eq(zone_template_load(root, "SYS../../etc/passwd", "kz1", &c, &e), -EINVAL);
        cr_assert_str_eq(e.message, "SYS../../etc/passwd: invalid template name.");
        kz_error_clear(&e);
        cr_assert_eq(zone_template_load(root, "SYSkz", "global", &c, &e), -EINVAL);
        cr_assert(strstr(e.message, "is not a valid zone name"), "%s", e.message);
        cr_assert_null(c);
}

Test(template, an_existing_zone_as_template)
{
        ZoneConfig *orig = NULL, *copy = NULL;
        KzError e = {};

        cr_assert_eq(zone_template_load(root, "SYSkz", "kz1", &orig, NULL), 0);
        set(orig->root, "autoboot", "true");
        commit_ok(orig);
        cr_assert_eq(zone_template_load(root, "kz1", "kz2", &copy, &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_config_name(copy), "kz2");
        cr_assert_str_eq(zone_resource_get(copy->root, "autoboot"), "true");
        cr_assert_str_neq(key_of(copy), key_of(orig), "a clone shares its template's key");
        cr_assert_not(copy->exists);
        commit_ok(copy);
        cr_assert(exists("kz1.xml"));
        cr_assert(exists("kz2.xml"));
        cr_assert_eq(zone_template_load(root, "kz9", "kz3", &copy, &e), -ENOENT);
        zone_config_free(orig);
        zone_config_free(copy);
}
