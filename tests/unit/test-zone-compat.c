/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What zoneadm migrate compares between the source's configuration and one the
 * destination holds already, and the UUID a migrated zone keeps. */
#include "store-test.h"
#include "strv.h"
#include "zone-compat.h"

TestSuite(compat, .init = make_root, .fini = remove_root);

static ZoneConfig *machine(const char *ncpus, const char *storage)
{
        ZoneConfig *c = sample("kz1");
        ZoneResource *d = add_child(c->root, "device");

        set_value(d, "id", "0");
        set_value(d, "storage", storage);
        set_value(zone_resource_first(c->root, resource_type_child(zone_type(), "virtual-cpu")), "ncpus", ncpus);
        set_value(add_child(c->root, "keysource"), "raw", "{base64}AAECAwQFBgcICQoLDA0ODw==");
        return c;
}

static char *differences(const ZoneConfig *a, const ZoneConfig *b)
{
        char **l = NULL, *s;

        cr_assert_eq(zone_config_migration_differences(a, b, &l), 0);
        s = strv_join(l, "\n");
        cr_assert_not_null(s);
        strv_free(l);
        return s;
}

Test(compat, the_same_machine_has_no_differences)
{
        ZoneConfig *a = machine("2", "nbd://storage/disk1"), *b = machine("2", "nbd://storage/disk1");
        char *d = differences(a, b);

        cr_assert_str_empty(d);
        free(d);
        zone_config_free(a);
        zone_config_free(b);
}

Test(compat, vcpus_memory_storage_and_key_are_named)
{
        ZoneConfig *a = machine("2", "nbd://storage/disk1"), *b = machine("1", "nbd://storage/disk2");
        char *d;

        set_value(zone_resource_first(b->root, resource_type_child(zone_type(), "capped-memory")), "physical", "2G");
        set_value(zone_resource_first(b->root, resource_type_child(zone_type(), "keysource")), "raw",
                "{base64}DwAAAAAAAAAAAAAAAAAAAA==");
        d = differences(a, b);
        cr_assert_not_null(strstr(d, "virtual-cpu:ncpus is 2 on the source, 1 on the destination"), "%s", d);
        cr_assert_not_null(strstr(d, "capped-memory:physical is 4G on the source, 2G on the destination"), "%s", d);
        cr_assert_not_null(strstr(d, "device id=0: storage is nbd://storage/disk1 on the source, "
                                     "nbd://storage/disk2 on the destination"), "%s", d);
        cr_assert_not_null(strstr(d, "keysource"), "%s", d);
        free(d);
        zone_config_free(a);
        zone_config_free(b);
}

Test(compat, an_anet_or_device_on_one_side_only_is_named)
{
        ZoneConfig *a = machine("2", "nbd://storage/disk1"), *b = machine("2", "nbd://storage/disk1");
        ZoneResource *x = add_child(b->root, "anet");
        char *d;

        set_value(x, "id", "1");
        set_value(x, "lower-link", "net1");
        set_value(zone_resource_first(a->root, resource_type_child(zone_type(), "anet")), "lower-link", "net9");
        d = differences(a, b);
        cr_assert_not_null(strstr(d, "anet id=1 is configured on the destination but not on the source"), "%s", d);
        cr_assert_not_null(strstr(d, "anet id=0 differs between the source and the destination"), "%s", d);
        free(d);
        zone_config_free(a);
        zone_config_free(b);
}

Test(compat, a_migrated_zone_keeps_its_uuid)
{
        ZoneConfig *c = sample("kz1");
        char *u;
        KzError e = {};

        commit_ok(c);
        cr_assert_eq(zone_index_set_uuid(root, "kz1", "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", &e), 0, "%s", e.message);
        u = index_uuid("kz1");
        cr_assert_str_eq(u, "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
        free(u);
        cr_assert_eq(zone_index_set_uuid(root, "kz1", "../../etc", &e), -EINVAL);
        cr_assert_eq(zone_index_set_uuid(root, "kz9", "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", &e), -ENOENT);
        zone_config_free(c);
}
