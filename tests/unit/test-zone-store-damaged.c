/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zone store: damaged stores, and templates. */
#include "store-test.h"

TestSuite(store, .init = make_root, .fini = remove_root);
TestSuite(template, .init = make_root, .fini = remove_root);

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
        after = store_read("kz1.xml", NULL);
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
        xml = store_read("kz1.xml", NULL);
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
        set_value(c->root, "autoboot", "true");
        cr_assert_eq(zone_store_commit(root, c, NULL), -ESTALE);
        {
                char *after = store_read("kz1.xml", NULL);

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
        xml = store_read("kz1.xml", NULL);
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
        cr_assert_not(store_exists("kz1.xml"), "the commit failed, yet etc/zones/kz1.xml was written");
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
        cr_assert(store_exists("kz1.xml"), "the delete failed (%s), yet etc/zones/kz1.xml was removed", e.message);
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
                set_value(c->root, "bootargs", v);
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
        xml = store_read("kz1.xml", NULL);
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
        cr_assert_str_eq(e.message, "SYSnope: no such template; the templates are SYSkz, SYSkz-minimal, or the name "
                "of a configured zone.");
        kz_error_clear(&e);
        cr_assert_eq(zone_template_load(root, "SYS../../etc/passwd", "kz1", &c, &e), -EINVAL);
        cr_assert_str_eq(e.message, "SYS../../etc/passwd: invalid template name; the templates are SYSkz, "
                "SYSkz-minimal, or the name of a configured zone.");
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
        set_value(orig->root, "autoboot", "true");
        commit_ok(orig);
        cr_assert_eq(zone_template_load(root, "kz1", "kz2", &copy, &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_config_name(copy), "kz2");
        cr_assert_str_eq(zone_resource_get(copy->root, "autoboot"), "true");
        cr_assert_str_neq(key_of(copy), key_of(orig), "a clone shares its template's key");
        cr_assert_not(copy->exists);
        commit_ok(copy);
        cr_assert(store_exists("kz1.xml"));
        cr_assert(store_exists("kz2.xml"));
        cr_assert_eq(zone_template_load(root, "kz9", "kz3", &copy, &e), -ENOENT);
        zone_config_free(orig);
        zone_config_free(copy);
}
