/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Zone configurations as trees: rules between properties, lists, completing
 * resources, the whole configuration, keys. */
#include "zone-config-test.h"

/* ---- rules between properties -------------------------------------------------------------- */

Test(rules, memory_reserve_then_pagesize_policy)
{
        _cleanup_(zone_resource_freep) ZoneResource *m = new_resource("capped-memory");

        set_ok(m, "memory-reserve", "pool1", "pool1");
        set_fails(m, "pagesize-policy", "fixed",
                "capped-memory: pagesize-policy and memory-reserve are mutually exclusive; clear memory-reserve first.");
        set_fails(m, "pagesize", "2M",
                "capped-memory: pagesize and memory-reserve are mutually exclusive; clear memory-reserve first.");
        cr_assert_str_eq(zone_resource_get(m, "memory-reserve"), "pool1");
        /* changing the reserve itself is fine */
        set_ok(m, "memory-reserve", "pool2", "pool2");
        cr_assert_eq(zone_resource_clear(m, "memory-reserve", NULL), 0);
        set_ok(m, "pagesize-policy", "fixed", "fixed");
}

Test(rules, pagesize_policy_then_memory_reserve)
{
        _cleanup_(zone_resource_freep) ZoneResource *m = new_resource("capped-memory");

        set_ok(m, "pagesize-policy", "largest-available", "largest-available");
        set_fails(m, "memory-reserve", "pool1",
                "capped-memory: memory-reserve and pagesize-policy are mutually exclusive; clear pagesize-policy first.");
        cr_assert_str_eq(zone_resource_get(m, "pagesize-policy"), "largest-available");
        cr_assert_null(zone_resource_get(m, "memory-reserve"));
        cr_assert_eq(zone_resource_clear(m, "pagesize-policy", NULL), 0);
        set_ok(m, "memory-reserve", "pool1", "pool1");
}

Test(rules, suspend_path_or_storage)
{
        _cleanup_(zone_resource_freep) ZoneResource *s = new_resource("suspend");
        _cleanup_(zone_resource_freep) ZoneResource *t = new_resource("suspend");

        set_ok(s, "path", "/var/lib/zones/kz1.suspend", "/var/lib/zones/kz1.suspend");
        set_fails(s, "storage", "nfs://admin:staff@host/export/kz1.suspend",
                "suspend: storage and path are mutually exclusive; clear path first.");
        set_ok(t, "storage", "nfs://admin:staff@host/export/kz1.suspend", "nfs://admin:staff@host/export/kz1.suspend");
        set_fails(t, "path", "/var/lib/zones/kz1.suspend",
                "suspend: path and storage are mutually exclusive; clear storage first.");
        cr_assert_null(zone_resource_get(t, "path"));
}

/* ---- list properties ------------------------------------------------------------------------ */

Test(lists, allowed_vlan_ids_add_and_remove)
{
        _cleanup_(zone_resource_freep) ZoneResource *v = new_resource("anet");
        ZoneResource *vlan = add_child(v, "vlan");
        KzError e = {};

        cr_assert_eq(zone_resource_list_add(vlan, "allowed-vlan-ids", "100-199", &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_resource_get(vlan, "allowed-vlan-ids"), "100-199");
        cr_assert_eq(zone_resource_list_add(vlan, "allowed-vlan-ids", "0300", &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_resource_get(vlan, "allowed-vlan-ids"), "100-199,300");

        cr_assert_eq(zone_resource_list_add(vlan, "allowed-vlan-ids", "300", &e), -EEXIST);
        cr_assert_str_eq(e.message, "allowed-vlan-ids 300 is listed twice.");
        cr_assert_str_eq(zone_resource_get(vlan, "allowed-vlan-ids"), "100-199,300");

        kz_error_clear(&e);
        cr_assert_lt(zone_resource_list_add(vlan, "allowed-vlan-ids", "5000", &e), 0);
        cr_assert_str_eq(e.message, "allowed-vlan-ids 5000 is out of range: VLAN ids are 1 to 4094.");
        kz_error_clear(&e);
        cr_assert_lt(zone_resource_list_add(vlan, "allowed-vlan-ids", "1,2", &e), 0);
        cr_assert_str_eq(e.message, "add allowed-vlan-ids takes one value.");
        cr_assert_str_eq(zone_resource_get(vlan, "allowed-vlan-ids"), "100-199,300");

        cr_assert_eq(zone_resource_list_remove(vlan, "allowed-vlan-ids", "100-199", NULL), 0);
        cr_assert_str_eq(zone_resource_get(vlan, "allowed-vlan-ids"), "300");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_list_remove(vlan, "allowed-vlan-ids", "400", &e), -ENOENT);
        cr_assert_str_eq(e.message, "allowed-vlan-ids does not contain 400.");
        cr_assert_eq(zone_resource_list_remove(vlan, "allowed-vlan-ids", "300", NULL), 0);
        cr_assert_null(zone_resource_get(vlan, "allowed-vlan-ids"), "removing the last value unsets the list");
        cr_assert_eq(zone_resource_list_remove(vlan, "allowed-vlan-ids", "300", NULL), -ENOENT);
}

Test(lists, set_refuses_duplicates_and_empty_elements)
{
        _cleanup_(zone_resource_freep) ZoneResource *a = new_resource("anet");
        ZoneResource *vlan = add_child(a, "vlan");
        ZoneResource *mac = add_child(a, "mac");

        set_ok(vlan, "allowed-vlan-ids", "1-10,020,30", "1-10,20,30");
        set_fails(vlan, "allowed-vlan-ids", "5,5", "allowed-vlan-ids 5 is listed twice.");
        set_fails(vlan, "allowed-vlan-ids", "10-5", "allowed-vlan-ids 10-5 is out of range: VLAN ids are 1 to 4094.");
        set_fails_with(vlan, "allowed-vlan-ids", "1,,2", "is not a valid allowed-vlan-ids list");
        set_fails_with(vlan, "allowed-vlan-ids", ",1", "is not a valid allowed-vlan-ids list");
        set_fails_with(vlan, "allowed-vlan-ids", "1,", "is not a valid allowed-vlan-ids list");
        set_fails_with(vlan, "allowed-vlan-ids", "", "is not a valid allowed-vlan-ids list");
        /* duplicates are found in canonical form */
        set_ok(mac, "allowed-mac-address", "FA:16:3F,0:14:4f", "fa:16:3f,0:14:4f");
        set_fails(mac, "allowed-mac-address", "fa:16:3f,FA:16:3F", "allowed-mac-address fa:16:3f is listed twice.");
}

Test(lists, auths_is_an_enum_list)
{
        _cleanup_(zone_resource_freep) ZoneResource *adm = new_resource("admin");
        KzError e = {};

        cr_assert_eq(zone_resource_list_add(adm, "auths", "login", &e), 0, "%s", e.message);
        cr_assert_eq(zone_resource_list_add(adm, "auths", "manage", &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_resource_get(adm, "auths"), "login,manage");
        cr_assert_lt(zone_resource_list_add(adm, "auths", "root", &e), 0);
        cr_assert_str_eq(e.message, "\"root\" is not a valid auths name.");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_list_add(adm, "auths", "login", &e), -EEXIST);
        cr_assert_str_eq(zone_resource_get(adm, "auths"), "login,manage");
        set_fails(adm, "auths", "login,login", "auths login is listed twice.");
        set_fails(adm, "auths", "login,bogus", "\"bogus\" is not a valid auths name.");
        cr_assert_eq(zone_resource_list_remove(adm, "auths", "login", NULL), 0);
        cr_assert_str_eq(zone_resource_get(adm, "auths"), "manage");
}

Test(lists, add_and_remove_need_a_list_property)
{
        _cleanup_(zone_resource_freep) ZoneResource *adm = new_resource("admin");
        KzError e = {};

        cr_assert_lt(zone_resource_list_add(adm, "user", "alice", &e), 0);
        cr_assert_str_eq(e.message, "user is not a list property; use 'set user=VALUE'.");
        kz_error_clear(&e);
        cr_assert_lt(zone_resource_list_remove(adm, "user", "alice", &e), 0);
        cr_assert_str_eq(e.message, "user is not a list property; use 'clear user'.");
        cr_assert_null(zone_resource_get(adm, "user"));
        kz_error_clear(&e);
        cr_assert_lt(zone_resource_list_add(adm, "nope", "x", &e), 0);
        cr_assert_str_eq(e.message, "admin has no property nope.");
}

/* ---- completing a resource ------------------------------------------------------------------ */

Test(complete, auto_id_is_the_lowest_unused)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a0 = add_child(c->root, "anet"), *a2 = add_child(c->root, "anet"), *n, *n2, *d;
        KzError e = {};

        set_ok(a0, "id", "0", "0");
        set_ok(a2, "id", "2", "2");
        n = new_resource("anet");
        cr_assert_eq(zone_resource_complete(n, c->root, NULL, true, &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_resource_get(n, "id"), "1");
        cr_assert_eq(zone_resource_attach(c->root, n), 0);

        n2 = new_resource("anet");
        cr_assert_eq(zone_resource_complete(n2, c->root, NULL, true, &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_resource_get(n2, "id"), "3");
        cr_assert_eq(zone_resource_attach(c->root, n2), 0);

        /* each resource type counts its own ids */
        d = new_resource("device");
        set_ok(d, "storage", "dev:zvol/kz1/disk0", "dev:zvol/kz1/disk0");
        cr_assert_eq(zone_resource_complete(d, c->root, NULL, true, &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_resource_get(d, "id"), "0");
        zone_resource_free(d);
        zone_config_free(c);
}

Test(complete, without_assign_the_id_stays_unset)
{
        ZoneConfig *c = zone_config_new("kz1");
        _cleanup_(zone_resource_freep) ZoneResource *n = new_resource("anet");

        cr_assert_eq(zone_resource_complete(n, c->root, NULL, false, NULL), 0);
        cr_assert_null(zone_resource_get(n, "id"));
        zone_config_free(c);
}

Test(complete, duplicate_id_refused)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a0 = add_child(c->root, "anet");
        _cleanup_(zone_resource_freep) ZoneResource *n = new_resource("anet");
        KzError e = {};

        set_ok(a0, "id", "0", "0");
        set_ok(n, "id", "0", "0");
        cr_assert_eq(zone_resource_complete(n, c->root, NULL, true, &e), -EEXIST);
        cr_assert_str_eq(e.message, "anet id=0 already exists.");
        /* ... unless it replaces that very resource ('select', then 'end') */
        cr_assert_eq(zone_resource_complete(n, c->root, a0, true, NULL), 0);
        zone_config_free(c);
}

Test(complete, required_properties)
{
        ZoneConfig *c = zone_config_new("kz1");
        _cleanup_(zone_resource_freep) ZoneResource *d = new_resource("device");
        _cleanup_(zone_resource_freep) ZoneResource *adm = new_resource("admin");
        _cleanup_(zone_resource_freep) ZoneResource *vcpu = new_resource("virtual-cpu");
        _cleanup_(zone_resource_freep) ZoneResource *b = new_resource("boot");
        _cleanup_(zone_resource_freep) ZoneResource *s = new_resource("suspend");
        _cleanup_(zone_resource_freep) ZoneResource *k = new_resource("keysource");
        _cleanup_(zone_resource_freep) ZoneResource *dc = new_resource("dedicated-cpu");
        KzError e = {};

        cr_assert_eq(zone_resource_complete(d, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "device: storage must be set.");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_complete(adm, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "admin: user must be set.");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_complete(vcpu, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "virtual-cpu: ncpus must be set.");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_complete(b, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "boot: kernel must be set.");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_complete(s, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "suspend: either path or storage must be set.");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_complete(k, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "keysource: raw must be set.");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_complete(dc, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "dedicated-cpu: ncpus or cpus must be set.");

        set_ok(d, "storage", "file:///var/lib/zones/kz1/disk0.img", "file:///var/lib/zones/kz1/disk0.img");
        cr_assert_eq(zone_resource_complete(d, c->root, NULL, true, NULL), 0);
        zone_config_free(c);
}

Test(complete, fixed_pagesize_policy_needs_pagesize)
{
        ZoneConfig *c = zone_config_new("kz1");
        _cleanup_(zone_resource_freep) ZoneResource *m = new_resource("capped-memory");
        KzError e = {};

        set_ok(m, "pagesize-policy", "fixed", "fixed");
        cr_assert_eq(zone_resource_complete(m, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "capped-memory: pagesize-policy=fixed requires the pagesize property.");
        set_ok(m, "pagesize", "1G", "1G");
        cr_assert_eq(zone_resource_complete(m, c->root, NULL, true, NULL), 0);
        set_ok(m, "pagesize-policy", "largest-only", "largest-only");
        kz_error_clear(&e);
        cr_assert_eq(zone_resource_complete(m, c->root, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "capped-memory: pagesize can only be set with pagesize-policy=fixed.");
        zone_config_free(c);
}

Test(complete, vlan_needs_an_id_other_than_the_anets)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet");
        _cleanup_(zone_resource_freep) ZoneResource *v = NULL;
        KzError e = {};

        set_ok(a, "vlan-id", "45", "45");
        v = zone_resource_new(resource_type_child(a->type, "vlan"));
        set_ok(v, "vlan-id", "45", "45");
        cr_assert_eq(zone_resource_complete(v, a, NULL, true, &e), -EEXIST);
        cr_assert_str_eq(e.message, "vlan: vlan-id 45 is already the anet's own vlan-id.");
        set_ok(v, "vlan-id", "46", "46");
        cr_assert_eq(zone_resource_complete(v, a, NULL, true, NULL), 0);
        zone_config_free(c);
}

Test(complete, vlan_with_neither_id_nor_allowed_ids_is_refused)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet");
        _cleanup_(zone_resource_freep) ZoneResource *v = zone_resource_new(resource_type_child(a->type, "vlan"));
        KzError e = {};

        set_ok(a, "vlan-id", "10", "10");
        cr_assert_eq(zone_resource_complete(v, a, NULL, true, &e), -EINVAL);
        cr_assert_str_eq(e.message, "vlan: vlan-id or allowed-vlan-ids must be set.");
        zone_config_free(c);
}

/* A vlan resource that only lists allowed-vlan-ids, in an anet that has no vlan-id of
 * its own, is a valid configuration; neither of them has a vlan-id, so they cannot
 * clash. */
Test(complete, vlan_with_only_allowed_ids_in_an_anet_without_vlan_id)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet");
        _cleanup_(zone_resource_freep) ZoneResource *v = zone_resource_new(resource_type_child(a->type, "vlan"));
        KzError e = {};
        int k;

        set_ok(v, "allowed-vlan-ids", "100-199", "100-199");
        k = zone_resource_complete(v, a, NULL, true, &e);
        cr_assert_eq(k, 0, "refused with: %s", e.message);
        zone_config_free(c);
}

Test(complete, checks_nested_resources)
{
        ZoneConfig *c = zone_config_new("kz1");
        _cleanup_(zone_resource_freep) ZoneResource *a = new_resource("anet");
        ZoneResource *v1 = add_child(a, "vlan"), *v2 = add_child(a, "vlan");
        KzError e = {};

        set_ok(v1, "vlan-id", "7", "7");
        set_ok(v2, "vlan-id", "7", "7");
        cr_assert_eq(zone_resource_complete(a, c->root, NULL, true, &e), -EEXIST);
        cr_assert_str_eq(e.message, "vlan vlan-id=7 already exists.");
        zone_config_free(c);
}

/* ---- resources in a tree ------------------------------------------------------------------ */

Test(tree, attach_keeps_the_type_order)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *boot = add_child(c->root, "boot");
        ZoneResource *dev = add_child(c->root, "device");
        ZoneResource *a0 = add_child(c->root, "anet");
        ZoneResource *a1 = add_child(c->root, "anet");

        cr_assert_eq(c->root->n_children, 4);
        cr_assert_eq(c->root->children[0], a0);
        cr_assert_eq(c->root->children[1], a1, "a second anet goes after the first");
        cr_assert_eq(c->root->children[2], dev);
        cr_assert_eq(c->root->children[3], boot);
        cr_assert_eq(zone_resource_count(c->root, a0->type), 2);
        cr_assert_eq(zone_resource_first(c->root, a0->type), a0);
        zone_resource_remove(c->root, a0);
        cr_assert_eq(c->root->n_children, 3);
        cr_assert_eq(zone_resource_first(c->root, a1->type), a1);
        zone_config_free(c);
}

Test(tree, dup_and_equal)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet"), *v = add_child(a, "vlan"), *copy;

        set_ok(a, "lower-link", "net0", "net0");
        set_ok(v, "vlan-id", "45", "45");
        copy = zone_resource_dup(c->root);
        cr_assert_not_null(copy);
        cr_assert(zone_resource_equal(copy, c->root));
        set_ok(copy->children[0]->children[0], "vlan-id", "46", "46");
        cr_assert_not(zone_resource_equal(copy, c->root), "a change in a nested resource is a difference");
        cr_assert_str_eq(zone_resource_get(v, "vlan-id"), "45", "the copy is deep");
        zone_resource_free(copy);
        zone_config_free(c);
}

/* ---- the whole configuration ------------------------------------------------------------------ */

Test(verify, a_new_configuration_is_valid)
{
        ZoneConfig *c = zone_config_new("kz1");
        KzError e = {};

        cr_assert_not_null(c);
        cr_assert_str_eq(zone_config_name(c), "kz1");
        cr_assert_str_eq(zone_config_brand(c), "kz");
        cr_assert_eq(zone_config_verify(c, &e), 0, "%s", e.message);
        zone_config_free(c);
}

Test(verify, zonename_required_except_for_templates)
{
        ZoneConfig *c = zone_config_new(NULL);
        KzError e = {};

        cr_assert_eq(zone_config_verify(c, &e), -EINVAL);
        cr_assert_str_eq(e.message, "zonename must be set.");
        cr_assert_eq(zone_config_verify_full(c, true, NULL), 0);
        zone_config_free(c);
}

Test(verify, single_instance_resources)
{
        ZoneConfig *c = zone_config_new("kz1");
        KzError e = {};

        set_ok(add_child(c->root, "capped-memory"), "physical", "4G", "4G");
        set_ok(add_child(c->root, "capped-memory"), "physical", "8G", "8G");
        cr_assert_eq(zone_config_verify(c, &e), -EEXIST);
        cr_assert_str_eq(e.message, "only one capped-memory resource is allowed.");
        zone_config_free(c);
}

Test(verify, duplicate_device_ids)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *d0 = add_child(c->root, "device"), *d1 = add_child(c->root, "device");
        KzError e = {};

        set_ok(d0, "storage", "dev:zvol/a", "dev:zvol/a");
        set_ok(d1, "storage", "dev:zvol/b", "dev:zvol/b");
        set_ok(d0, "id", "1", "1");
        set_ok(d1, "id", "1", "1");
        cr_assert_eq(zone_config_verify(c, &e), -EEXIST);
        cr_assert_str_eq(e.message, "device id=1 already exists.");
        zone_config_free(c);
}

Test(expand, zonename_and_id)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *d = add_child(c->root, "device");
        char *x;

        set_ok(d, "id", "3", "3");
        x = zone_config_expand(c, d, "file:///var/lib/zones/%{zonename}/disk%{id}.img");
        cr_assert_str_eq(x, "file:///var/lib/zones/kz1/disk3.img");
        free(x);
        x = zone_config_expand(c, d, "%{zonename}%{zonename}-%{id}%{id}");
        cr_assert_str_eq(x, "kz1kz1-33");
        free(x);
        x = zone_config_expand(c, d, "%{other} %{zonename");
        cr_assert_str_eq(x, "%{other} %{zonename", "unknown tokens are left alone");
        free(x);
        x = zone_config_expand(c, d, "");
        cr_assert_str_eq(x, "");
        free(x);
        zone_config_free(c);
}

Test(expand, id_defaults_to_zero_and_long_names_fit)
{
        char name[64];
        ZoneConfig *c;
        ZoneResource *s;
        char *x, *want;

        memset(name, 'z', 63);
        name[63] = 0;
        c = zone_config_new(name);
        cr_assert_not_null(c);
        s = add_child(c->root, "suspend");
        x = zone_config_expand(c, s, "%{id}:%{zonename}:%{zonename}:%{zonename}");
        cr_assert_eq(asprintf(&want, "0:%s:%s:%s", name, name, name) > 0, true);
        cr_assert_str_eq(x, want);
        free(x);
        free(want);
        zone_config_free(c);
}

Test(expand, verify_checks_the_expanded_uri)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *d = add_child(c->root, "device");
        KzError e = {};

        set_ok(d, "storage", "file:///var/lib/zones/%{zonename}/disk%{id}.img",
                "file:///var/lib/zones/%{zonename}/disk%{id}.img");
        cr_assert_eq(zone_config_verify(c, &e), 0, "%s", e.message);
        zone_config_free(c);
}

/* ---- keysource ------------------------------------------------------------------------------ */

Test(keysource, generate_and_decode)
{
        char *a = NULL, *b = NULL;
        uint8_t ka[16], kb[16];

        cr_assert_eq(zone_keysource_generate(&a), 0);
        cr_assert_eq(zone_keysource_generate(&b), 0);
        cr_assert_eq(strncmp(a, "{base64}", 8), 0, "%s", a);
        cr_assert_eq(strlen(a), 8 + 24, "%s", a);
        cr_assert_eq(a[30], '=');
        cr_assert_eq(a[31], '=');
        cr_assert_str_neq(a, b, "two generated keys are the same");
        cr_assert_eq(zone_keysource_decode(a, ka), 0);
        cr_assert_eq(zone_keysource_decode(b, kb), 0);
        cr_assert_neq(memcmp(ka, kb, 16), 0);
        free(a);
        free(b);
}

Test(keysource, decode_known_key)
{
        static const uint8_t want[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
        uint8_t key[16];

        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0ODw==", key), 0);
        cr_assert_eq(memcmp(key, want, 16), 0);
}

Test(keysource, decode_refuses_wrong_lengths_and_forms)
{
        uint8_t key[16];

        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0O", key), -EINVAL, "15 bytes");
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0ODxA=", key), -EINVAL, "17 bytes");
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj", key),
                -EINVAL, "36 bytes");
        cr_assert_eq(zone_keysource_decode("{base64}", key), -EINVAL, "empty");
        cr_assert_eq(zone_keysource_decode("AAECAwQFBgcICQoLDA0ODw==", key), -EINVAL, "no {base64} prefix");
        cr_assert_eq(zone_keysource_decode("{hex}000102030405060708090a0b0c0d0e0f", key), -EINVAL);
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0ODw", key), -EINVAL, "no padding");
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0OD w==", key), -EINVAL, "a blank");
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoL\nDA0ODw==", key), -EINVAL, "a newline");
        cr_assert_eq(zone_keysource_decode("{base64} AAECAwQFBgcICQoLDA0ODw==", key), -EINVAL, "a leading blank");
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0ODx==", key), -EINVAL, "not canonical");
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0OD-==", key), -EINVAL, "URL-safe alphabet");
        cr_assert_eq(zone_keysource_decode("{base64}AAECAwQFBgcICQoLDA0ODw=A", key), -EINVAL, "data after padding");
        cr_assert_eq(zone_keysource_decode(NULL, key), -EINVAL);
}

Test(keysource, raw_property_checks_the_key)
{
        _cleanup_(zone_resource_freep) ZoneResource *k = new_resource("keysource");

        set_ok(k, "raw", "{base64}AAECAwQFBgcICQoLDA0ODw==", "{base64}AAECAwQFBgcICQoLDA0ODw==");
        set_fails(k, "raw", "{base64}AAECAwQFBgcICQoLDA0O",
                "raw is not a valid key: expected {base64} followed by a base64-encoded 16-byte key.");
}

Test(keysource, new_keysource_replaces_the_old_one)
{
        ZoneConfig *c = zone_config_new("kz1");
        const ResourceType *kt = resource_type_child(zone_type(), "keysource");
        char *first;

        cr_assert_eq(zone_config_new_keysource(c), 0);
        cr_assert_eq(zone_resource_count(c->root, kt), 1);
        first = strdup(zone_resource_get(zone_resource_first(c->root, kt), "raw"));
        cr_assert_eq(zone_config_new_keysource(c), 0);
        cr_assert_eq(zone_resource_count(c->root, kt), 1);
        cr_assert_str_neq(zone_resource_get(zone_resource_first(c->root, kt), "raw"), first);
        cr_assert_eq(zone_config_verify(c, NULL), 0);
        free(first);
        zone_config_free(c);
}
