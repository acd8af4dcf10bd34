/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zone store: committing and loading, concurrent changes, deleting, renaming. */
#include "store-test.h"

TestSuite(store, .init = make_root, .fini = remove_root);

/* ---- committing and loading ------------------------------------------------------------------ */

Test(store, commit_creates_the_file_and_the_index_entry)
{
        ZoneConfig *c = sample("kz1");
        char *entries, *uuid, *xml, *want;

        commit_ok(c);
        cr_assert(store_exists("kz1.xml"));
        cr_assert_eq(mode_of("kz1.xml"), 0644, "mode %o", mode_of("kz1.xml"));
        cr_assert_eq(mode_of("index"), 0644);

        entries = index_entries();
        uuid = index_uuid("kz1");
        assert_uuid_v4(uuid);
        cr_assert_gt(asprintf(&want, "kz1:configured::%s\n", uuid), 0);
        cr_assert_str_eq(entries, want);

        /* the file is what the library writes, and the commit remembers it */
        xml = store_read("kz1.xml", NULL);
        cr_assert(strstr(xml, "<zone zonename=\"kz1\" brand=\"kz\">"), "%s", xml);
        cr_assert(c->exists);
        cr_assert_str_eq(c->loaded_name, "kz1");
        cr_assert_str_eq(c->snapshot, xml);

        /* a second commit keeps the same UUID and adds no entry */
        set_value(c->root, "autoboot", "true");
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
        buf = store_read("index", NULL);
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
        xml = store_read("kz1.xml", &size);
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
        set_value(first->root, "autoboot", "true");
        commit_ok(first);
        after_first = store_read("kz1.xml", NULL);

        set_value(second->root, "bootargs", "-v");
        cr_assert_eq(zone_store_commit(root, second, &e), -ESTALE);
        cr_assert_str_eq(e.message, "the configuration of zone 'kz1' was changed by someone else since it was "
                                    "loaded; nothing was saved. Use 'revert' to load the current one.");
        after_second = store_read("kz1.xml", NULL);
        cr_assert_str_eq(after_second, after_first, "the refused commit changed the file");
        now = load_ok("kz1");
        cr_assert_str_eq(zone_resource_get(now->root, "autoboot"), "true");
        cr_assert_null(zone_resource_get(now->root, "bootargs"));

        /* the first one goes on committing: it holds the current snapshot */
        set_value(first->root, "bootargs", "-s");
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

        set_value(theirs->root, "autoboot", "true");
        commit_ok(theirs);
        before = store_read("kz1.xml", NULL);
        entries = index_entries();

        cr_assert_eq(zone_store_commit(root, mine, &e), -EEXIST);
        cr_assert_str_eq(e.message, "zone 'kz1' was created by someone else meanwhile; nothing was saved.");
        after = store_read("kz1.xml", NULL);
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
        set_value(a->root, "autoboot", "true");
        cr_assert_eq(zone_store_commit(root, a, &e), -ESTALE);
        cr_assert_str_eq(e.message, "zone 'kz1' was deleted by someone else since it was loaded; nothing was saved.");
        cr_assert_not(store_exists("kz1.xml"));
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
        cr_assert_not(store_exists("kz1.xml"));
        cr_assert(store_exists("kz2.xml"));
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
        cr_assert(store_exists("kz1.xml"));
        after = index_entries();
        cr_assert_str_eq(after, before);

        cr_assert_eq(zone_index_set_state(root, "kz1", ZONE_STATE_CONFIGURED, NULL), 0);
        cr_assert_eq(zone_store_delete(root, c, false, NULL), 0);
        cr_assert_not(store_exists("kz1.xml"));
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
        set_value(a->root, "autoboot", "true");
        commit_ok(a);
        cr_assert_eq(zone_store_delete(root, b, false, &e), -ESTALE);
        cr_assert(store_exists("kz1.xml"));
        cr_assert_eq(zone_store_delete(root, b, true, NULL), 0);
        cr_assert_not(store_exists("kz1.xml"));
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
        set_value(r->root, "zonename", "kz2");
        commit_ok(r);
        cr_assert_not(store_exists("kz1.xml"));
        cr_assert(store_exists("kz2.xml"));
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
        before = store_read("kz2.xml", NULL);
        r = load_ok("kz1");
        set_value(r->root, "zonename", "kz2");
        set_value(r->root, "autoboot", "true");
        cr_assert_eq(zone_store_commit(root, r, &e), -EEXIST);
        cr_assert_str_eq(e.message, "cannot rename zone 'kz1' to 'kz2': a zone of that name already exists.");
        cr_assert(store_exists("kz1.xml"));
        {
                char *after = store_read("kz2.xml", NULL);

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
        set_value(r->root, "zonename", "kz2");
        cr_assert_eq(zone_store_commit(root, r, &e), -EBUSY);
        cr_assert(strstr(e.message, "zone 'kz1'") && strstr(e.message, "renamed"), "%s", e.message);
        cr_assert(store_exists("kz1.xml"));
        cr_assert_not(store_exists("kz2.xml"));
        zone_config_free(r);
        zone_config_free(c);
}
