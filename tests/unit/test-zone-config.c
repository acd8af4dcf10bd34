/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "storage-uri.h"
#include "zone-config.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static ZoneResource *add_child(ZoneResource *parent, const char *type)
{
        const ResourceType *t = resource_type_child(parent->type, type);
        ZoneResource *r;

        cr_assert_not_null(t, "%s has no resource type %s", parent->type->name, type);
        r = zone_resource_new(t);
        cr_assert_not_null(r);
        cr_assert_eq(zone_resource_attach(parent, r), 0);
        return r;
}

static ZoneResource *new_resource(const char *type)
{
        const ResourceType *t = resource_type_child(zone_type(), type);

        cr_assert_not_null(t, "no resource type %s", type);
        return zone_resource_new(t);
}

/* Sets prop and checks the stored canonical form. */
static void set_ok(ZoneResource *r, const char *prop, const char *value, const char *canonical)
{
        KzError e = {};
        int k = zone_resource_set(r, prop, value, &e);

        cr_assert_eq(k, 0, "%s: set %s=%s failed: %s", r->type->name, prop, value, e.message);
        cr_assert_eq(e.error, 0);
        cr_assert_str_eq(zone_resource_get(r, prop), canonical, "%s: set %s=%s stored \"%s\", expected \"%s\"",
                r->type->name, prop, value, zone_resource_get(r, prop), canonical);
}

/* Setting prop is refused with message (exactly, if exact, else as a substring); the
 * property keeps the value it had. */
static void set_fails_full(ZoneResource *r, const char *prop, const char *value, const char *message, bool exact)
{
        KzError e = {};
        const char *before = zone_resource_get(r, prop);
        char *saved = before ? strdup(before) : NULL;
        int k = zone_resource_set(r, prop, value, &e);

        cr_assert_lt(k, 0, "%s: set %s=%s was accepted (stored \"%s\")", r->type->name, prop, value,
                zone_resource_get(r, prop));
        cr_assert_eq(e.error, -k, "the KzError errno %d does not match the return value %d", e.error, k);
        if (exact)
                cr_assert_str_eq(e.message, message);
        else
                cr_assert(strstr(e.message, message), "message \"%s\" does not say \"%s\"", e.message, message);
        if (saved)
                cr_assert_str_eq(zone_resource_get(r, prop), saved, "%s changed although the set was refused",
                        prop);
        else
                cr_assert_null(zone_resource_get(r, prop), "%s was set although the set was refused", prop);
        free(saved);
}

static void set_fails(ZoneResource *r, const char *prop, const char *value, const char *message)
{
        set_fails_full(r, prop, value, message, true);
}

static void set_fails_with(ZoneResource *r, const char *prop, const char *value, const char *part)
{
        set_fails_full(r, prop, value, part, false);
}

/* ---- string tables ------------------------------------------------------------------------- */

Test(string_tables, zone_state_both_ways)
{
        static const char *const names[] = { "configured", "incomplete", "unavailable", "installed", "ready",
                "running", "shutting_down", "down" };

        cr_assert_eq(sizeof(names) / sizeof(names[0]), (size_t) _ZONE_STATE_MAX);
        for (int i = 0; i < _ZONE_STATE_MAX; i++) {
                cr_assert_str_eq(zone_state_to_string((ZoneState) i), names[i]);
                cr_assert_eq(zone_state_from_string(names[i]), (ZoneState) i);
        }
}

Test(string_tables, zone_state_invalid)
{
        cr_assert_lt(zone_state_from_string("Running"), 0);
        cr_assert_lt(zone_state_from_string("shutting-down"), 0);
        cr_assert_lt(zone_state_from_string(""), 0);
        cr_assert_lt(zone_state_from_string(NULL), 0);
        cr_assert_eq(zone_state_from_string("bogus"), _ZONE_STATE_INVALID);
        cr_assert_null(zone_state_to_string(_ZONE_STATE_MAX));
        cr_assert_null(zone_state_to_string(_ZONE_STATE_INVALID));
}

Test(string_tables, prop_type_both_ways)
{
        static const char *const names[] = { "string", "zonename", "boolean", "enum", "integer", "size", "pagesize",
                "cpu-list", "mac-address", "mac-prefix", "vlan-range", "storage-uri", "path", "key", "hostid", "link",
                "cpu-arch", "user", "name" };

        cr_assert_eq(sizeof(names) / sizeof(names[0]), (size_t) _PROP_TYPE_MAX);
        for (int i = 0; i < _PROP_TYPE_MAX; i++) {
                cr_assert_str_eq(prop_type_to_string((PropType) i), names[i]);
                cr_assert_eq(prop_type_from_string(names[i]), (PropType) i);
        }
}

Test(string_tables, prop_type_invalid)
{
        cr_assert_lt(prop_type_from_string("bool"), 0);
        cr_assert_lt(prop_type_from_string("String"), 0);
        cr_assert_lt(prop_type_from_string(""), 0);
        cr_assert_lt(prop_type_from_string(NULL), 0);
        cr_assert_null(prop_type_to_string(_PROP_TYPE_MAX));
        cr_assert_null(prop_type_to_string(_PROP_TYPE_INVALID));
}

Test(string_tables, storage_scheme_both_ways)
{
        static const char *const names[] = { "dev", "file", "nfs", "iscsi", "nbd" };

        for (int i = 0; i < _STORAGE_SCHEME_MAX; i++) {
                cr_assert_str_eq(storage_scheme_to_string((StorageScheme) i), names[i]);
                cr_assert_eq(storage_scheme_from_string(names[i]), (StorageScheme) i);
        }
        cr_assert_lt(storage_scheme_from_string("zvol"), 0);
        cr_assert_null(storage_scheme_to_string(_STORAGE_SCHEME_MAX));
}

/* ---- the type tables ----------------------------------------------------------------------- */

Test(types, zone_resources_in_info_order)
{
        static const char *const names[] = { "anet", "device", "capped-memory", "virtual-cpu", "dedicated-cpu",
                "suspend", "keysource", "admin", "boot" };
        const ResourceType *z = zone_type();
        size_t i = 0;

        for (const ResourceType *const *c = z->children; *c; c++, i++) {
                cr_assert_lt(i, sizeof(names) / sizeof(names[0]));
                cr_assert_str_eq((*c)->name, names[i]);
                cr_assert_eq(resource_type_child(z, names[i]), *c);
        }
        cr_assert_eq(i, sizeof(names) / sizeof(names[0]));
        cr_assert_null(resource_type_child(z, "net"));
        cr_assert_null(resource_type_child(z, "vlan"), "vlan is only a resource of anet");
        cr_assert_not_null(resource_type_child(resource_type_child(z, "anet"), "vlan"));
        cr_assert_not_null(resource_type_child(resource_type_child(z, "anet"), "mac"));
        cr_assert_null(resource_type_child(z, NULL));
}

Test(types, properties_are_found_by_name)
{
        size_t i = 99;
        const PropInfo *p = resource_type_prop(resource_type_child(zone_type(), "capped-memory"), "pagesize", &i);

        cr_assert_not_null(p);
        cr_assert_str_eq(p->name, "pagesize");
        cr_assert_eq(p->type, PROP_PAGESIZE);
        cr_assert_eq(i, 2);
        cr_assert_null(resource_type_prop(zone_type(), "physical", NULL));
        cr_assert_null(resource_type_prop(zone_type(), NULL, NULL));
}

/* ---- values ----------------------------------------------------------------------------------- */

Test(values, physical_memory_is_canonical)
{
        _cleanup_(zone_resource_freep) ZoneResource *m = new_resource("capped-memory");

        set_ok(m, "physical", "16g", "16G");
        set_ok(m, "physical", "2048m", "2G");
        set_ok(m, "physical", "1536M", "1536M");
        set_ok(m, "physical", "4GB", "4G");
        set_ok(m, "physical", "2T", "2T");
        set_ok(m, "physical", "2M", "2M");
        set_ok(m, "physical", "4194304", "4M");
}

Test(values, physical_memory_refusals)
{
        _cleanup_(zone_resource_freep) ZoneResource *m = new_resource("capped-memory");

        set_ok(m, "physical", "4G", "4G");
        set_fails(m, "physical", "3m", "physical value 3m is not a multiple of 2M.");
        set_fails(m, "physical", "3T", "physical value is too large. It must be at most 2T.");
        set_fails(m, "physical", "1M", "physical value is too small. It must be at least 2M.");
        set_fails(m, "physical", "0", "physical value is too small. It must be at least 2M.");
        set_fails(m, "physical", "4X",
                "\"4X\" is not a valid physical: expected a number with an optional K, M, G or T.");
        set_fails_with(m, "physical", "", "is not a valid physical");
        set_fails_with(m, "physical", "99999999999T", "is not a valid physical");
}

Test(values, pagesize_refusals)
{
        _cleanup_(zone_resource_freep) ZoneResource *m = new_resource("capped-memory");

        set_fails(m, "pagesize", "1m", "pagesize value is too small. It must be at least 2M.");
        set_fails(m, "pagesize", "3M", "pagesize value 3M is not a page size: it must be a power of two (2M, 1G, …).");
        set_fails(m, "pagesize", "32G", "pagesize value is too large. It must be at most 16G.");
        set_ok(m, "pagesize", "2m", "2M");
        set_ok(m, "pagesize", "1g", "1G");
        set_ok(m, "pagesize", "16G", "16G");
        set_ok(m, "pagesize", "256M", "256M");
}

Test(values, hostid)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *z = c->root;

        set_ok(z, "hostid", "6F038B0B", "0x6f038b0b");
        set_ok(z, "hostid", "0x6f038b0b", "0x6f038b0b");
        set_ok(z, "hostid", "0X1", "0x00000001");
        set_ok(z, "hostid", "ffffffff", "0xffffffff");
        set_fails(z, "hostid", "123456789", "\"123456789\" is not a valid hostid: expected up to 8 hexadecimal digits.");
        set_fails_with(z, "hostid", "0x", "is not a valid hostid");
        set_fails_with(z, "hostid", "6F03-8B0B", "is not a valid hostid");
        set_fails_with(z, "hostid", "", "is not a valid hostid");
        zone_config_free(c);
}

Test(values, mac_addresses)
{
        _cleanup_(zone_resource_freep) ZoneResource *a = new_resource("anet");

        set_ok(a, "mac-address", "0:1:2:3:4:5", "0:1:2:3:4:5");
        set_ok(a, "mac-address", "00:01:02:03:04:05", "0:1:2:3:4:5");
        set_ok(a, "mac-address", "FA:16:3E:0A:BB:CC", "fa:16:3e:a:bb:cc");
        set_ok(a, "mac-address", "auto", "auto");
        set_ok(a, "mac-address", "random", "random");
        set_fails(a, "mac-address", "1:0:0:0:0:0", "mac-address 1:0:0:0:0:0 is a multicast address.");
        set_fails(a, "mac-address", "ff:ff:ff:ff:ff:ff", "mac-address ff:ff:ff:ff:ff:ff is a multicast address.");
        set_fails_with(a, "mac-address", "0:1:2:3:4", "is not a valid mac-address");
        set_fails_with(a, "mac-address", "0:1:2:3:4:5:6", "is not a valid mac-address");
        set_fails_with(a, "mac-address", "000:1:2:3:4:5", "is not a valid mac-address");
        set_fails_with(a, "mac-address", "0:1:2:3:4:", "is not a valid mac-address");
        set_fails_with(a, "mac-address", "0-1-2-3-4-5", "is not a valid mac-address");
        set_fails_with(a, "mac-address", "g:1:2:3:4:5", "is not a valid mac-address");
        cr_assert_str_eq(zone_resource_get(a, "mac-address"), "random");
}

Test(values, vlan_ids)
{
        _cleanup_(zone_resource_freep) ZoneResource *a = new_resource("anet");

        set_fails(a, "vlan-id", "0", "vlan-id value 0 is out of range: it must be between 1 and 4094.");
        set_fails(a, "vlan-id", "4095", "vlan-id value 4095 is out of range: it must be between 1 and 4094.");
        set_fails(a, "vlan-id", "-1", "\"-1\" is not a valid vlan-id: expected a number.");
        set_fails(a, "vlan-id", "1a", "\"1a\" is not a valid vlan-id: expected a number.");
        set_ok(a, "vlan-id", "1", "1");
        set_ok(a, "vlan-id", "4094", "4094");
        set_ok(a, "vlan-id", "0045", "45");
}

Test(values, enum_and_bool_messages)
{
        _cleanup_(zone_resource_freep) ZoneResource *m = new_resource("capped-memory");
        ZoneConfig *c = zone_config_new("kz1");

        set_fails(m, "pagesize-policy", "fixed2", "\"fixed2\" is not a valid pagesize-policy name.");
        set_fails(m, "pagesize-policy", "Fixed", "\"Fixed\" is not a valid pagesize-policy name.");
        set_ok(m, "pagesize-policy", "largest-only", "largest-only");
        set_fails(c->root, "autoboot", "yes", "\"yes\" is not a valid autoboot value: use true or false.");
        set_ok(c->root, "autoboot", "true", "true");
        set_fails(c->root, "brand", "solaris10", "\"solaris10\" is not a valid brand name.");
        cr_assert_str_eq(zone_config_brand(c), "kz");
        zone_config_free(c);
}

Test(values, control_characters_and_length)
{
        ZoneConfig *c = zone_config_new("kz1");
        char *big = malloc(4098);

        set_fails(c->root, "bootargs", "-v\n-s", "bootargs value contains control characters.");
        set_fails(c->root, "bootargs", "-v\x7f", "bootargs value contains control characters.");
        memset(big, 'a', 4097);
        big[4097] = 0;
        set_fails(c->root, "bootargs", big, "bootargs value is too long.");
        big[4096] = 0;
        set_ok(c->root, "bootargs", big, big);
        free(big);
        zone_config_free(c);
}

Test(values, unknown_properties)
{
        ZoneConfig *c = zone_config_new("kz1");
        _cleanup_(zone_resource_freep) ZoneResource *a = new_resource("anet");

        set_fails(c->root, "physical", "4G", "unknown property: physical");
        set_fails(a, "lowerlink", "net0", "anet has no property lowerlink.");
        set_fails(a, "lower-link", NULL, "no value given for lower-link.");
        zone_config_free(c);
}

Test(values, zonename_and_brand_cannot_be_cleared)
{
        ZoneConfig *c = zone_config_new("kz1");
        KzError e = {};

        cr_assert_lt(zone_resource_clear(c->root, "zonename", &e), 0);
        cr_assert_str_eq(e.message, "zonename cannot be cleared.");
        cr_assert_str_eq(zone_config_name(c), "kz1");
        kz_error_clear(&e);
        cr_assert_lt(zone_resource_clear(c->root, "brand", &e), 0);
        cr_assert_str_eq(zone_config_brand(c), "kz");
        set_ok(c->root, "autoboot", "true", "true");
        cr_assert_eq(zone_resource_clear(c->root, "autoboot", NULL), 0);
        cr_assert_null(zone_resource_get(c->root, "autoboot"));
        zone_config_free(c);
}

Test(values, storage_uris_and_tokens)
{
        _cleanup_(zone_resource_freep) ZoneResource *d = new_resource("device");

        set_ok(d, "storage", "file:///var/lib/zones/%{zonename}/disk%{id}.img",
                "file:///var/lib/zones/%{zonename}/disk%{id}.img");
        set_ok(d, "storage", "nfs://admin:staff@host/export/%{zonename}/disk%{id}",
                "nfs://admin:staff@host/export/%{zonename}/disk%{id}");
        set_fails(d, "storage", "file:///var/lib/%{name}.img",
                "storage file:///var/lib/%{name}.img uses an unknown token: only %{zonename} and %{id} are known.");
        set_fails_with(d, "storage", "file:///var/lib/%{zonename.img", "uses an unknown token");
        set_fails(d, "storage", "file:///a/../b",
                "file:///a/../b is not a valid storage URI: the file path has an empty, '.' or '..' component.");
        set_fails_with(d, "storage", "http://host/x", "unknown storage URI type");
}

Test(values, paths)
{
        _cleanup_(zone_resource_freep) ZoneResource *b = new_resource("boot");

        set_ok(b, "kernel", "/boot/vmlinuz", "/boot/vmlinuz");
        set_fails(b, "kernel", "boot/vmlinuz", "kernel boot/vmlinuz is not an absolute path.");
        set_fails(b, "initrd", "/boot/../etc/shadow", "initrd /boot/../etc/shadow is not a clean absolute path.");
        set_ok(b, "cmdline", "console=ttyS0 quiet", "console=ttyS0 quiet");
}

Test(values, cpu_lists)
{
        _cleanup_(zone_resource_freep) ZoneResource *d = new_resource("dedicated-cpu");

        set_ok(d, "cpus", "0-3,8,10-11", "0-3,8,10-11");
        set_ok(d, "cpus", "8191", "8191");
        set_fails_with(d, "cpus", "3-0", "is not a valid CPU list");
        set_fails_with(d, "cpus", "0-3,2", "is not a valid CPU list");
        set_fails_with(d, "cpus", "8192", "is not a valid CPU list");
        set_fails_with(d, "cpus", "1,", "is not a valid CPU list");
        set_fails_with(d, "cpus", "a", "is not a valid CPU list");
        set_ok(d, "ncpus", "512", "512");
        set_fails(d, "ncpus", "513", "ncpus value 513 is out of range: it must be between 1 and 512.");
}

Test(values, names_and_links)
{
        _cleanup_(zone_resource_freep) ZoneResource *a = new_resource("anet");
        _cleanup_(zone_resource_freep) ZoneResource *adm = new_resource("admin");

        set_ok(a, "lower-link", "auto", "auto");
        set_ok(a, "lower-link", "enp0s31f6", "enp0s31f6");
        set_fails_with(a, "lower-link", "a-very-long-link-name", "is not a valid lower-link");
        set_fails_with(a, "lower-link", "net/0", "is not a valid lower-link");
        set_ok(adm, "user", "alice", "alice");
        set_fails(adm, "user", "1alice", "\"1alice\" is not a valid user name.");
        set_fails(adm, "user", "al ice", "\"al ice\" is not a valid user name.");
}

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

/* ---- zone names ---------------------------------------------------------------------------- */

Test(zone_names, rules)
{
        char name[65];

        cr_assert(zone_name_is_valid("kz1"));
        cr_assert(zone_name_is_valid("a.b-c_d"));
        cr_assert(zone_name_is_valid("9zone"));
        cr_assert(zone_name_is_valid("sysfoo"), "only the upper-case SYS prefix is reserved");
        cr_assert_not(zone_name_is_valid("global"));
        cr_assert_not(zone_name_is_valid("SYSfoo"));
        cr_assert_not(zone_name_is_valid("SYS"));
        cr_assert_not(zone_name_is_valid("a/b"));
        cr_assert_not(zone_name_is_valid("../etc"));
        cr_assert_not(zone_name_is_valid("-kz"));
        cr_assert_not(zone_name_is_valid(".kz"));
        cr_assert_not(zone_name_is_valid("kz 1"));
        cr_assert_not(zone_name_is_valid("kz:1"), "':' separates the fields of the index");
        cr_assert_not(zone_name_is_valid(""));
        cr_assert_not(zone_name_is_valid(NULL));

        memset(name, 'k', 64);
        name[64] = 0;
        cr_assert_not(zone_name_is_valid(name), "64 characters are too many");
        name[63] = 0;
        cr_assert(zone_name_is_valid(name), "63 characters are allowed");
}

Test(zone_names, set_zonename_explains_the_rules)
{
        ZoneConfig *c = zone_config_new("kz1");

        set_fails(c->root, "zonename", "global",
                "\"global\" is not a valid zone name: use up to 63 letters, digits, '-', '_' and '.', starting with "
                "a letter or digit; 'global' and names starting with 'SYS' are reserved.");
        set_fails_with(c->root, "zonename", "SYSfoo", "is not a valid zone name");
        set_fails_with(c->root, "zonename", "a/b", "is not a valid zone name");
        cr_assert_str_eq(zone_config_name(c), "kz1");
        set_ok(c->root, "zonename", "kz2", "kz2");
        zone_config_free(c);
        cr_assert_null(zone_config_new("global"));
        cr_assert_null(zone_config_new("a/b"));
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

/* ---- quoting -------------------------------------------------------------------------------- */

Test(quote, only_when_needed)
{
        static const struct {
                const char *in, *out;
        } v[] = {
                { "kz1", "kz1" },
                { "/boot/vmlinuz", "/boot/vmlinuz" },
                { "0:1:2:3:4:5", "0:1:2:3:4:5" },
                { "console=ttyS0 quiet", "\"console=ttyS0 quiet\"" },
                { "a=b", "\"a=b\"" },
                { "a;b", "\"a;b\"" },
                { "#x", "\"#x\"" },
                { "say \"hi\"", "\"say \\\"hi\\\"\"" },
                { "back\\slash", "\"back\\\\slash\"" },
                { "it's", "\"it's\"" },
                { "", "\"\"" },
        };

        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                char *q = zonecfg_quote(v[i].in);

                cr_assert_str_eq(q, v[i].out, "quote(%s) is %s, expected %s", v[i].in, q, v[i].out);
                free(q);
        }
}

/* ---- info and export ------------------------------------------------------------------------ */

static char *capture_info(const ZoneConfig *c)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        zone_resource_info(f, c, c->root, 0, NULL);
        fclose(f);
        return buf;
}

Test(info, layout_with_nested_and_secret_values)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet"), *d = add_child(c->root, "device"), *k;
        char *out;

        set_ok(a, "lower-link", "net0", "net0");
        set_ok(a, "id", "0", "0");
        set_ok(add_child(a, "vlan"), "vlan-id", "45", "45");
        set_ok(add_child(a, "vlan"), "vlan-id", "46", "46");
        set_ok(d, "storage", "file:///z/%{zonename}/d%{id}.img", "file:///z/%{zonename}/d%{id}.img");
        set_ok(d, "id", "2", "2");
        k = add_child(c->root, "keysource");
        set_ok(k, "raw", "{base64}AAECAwQFBgcICQoLDA0ODw==", "{base64}AAECAwQFBgcICQoLDA0ODw==");
        out = capture_info(c);
        cr_assert_str_eq(out,
                "zonename: kz1\n"
                "brand: kz\n"
                "anet:\n"
                "    lower-link: net0\n"
                "    id: 0\n"
                "    vlan 0:\n"
                "        vlan-id: 45\n"
                "    vlan 1:\n"
                "        vlan-id: 46\n"
                "device:\n"
                "    storage.template: file:///z/%{zonename}/d%{id}.img\n"
                "    storage: file:///z/kz1/d2.img\n"
                "    id: 2\n"
                "keysource:\n"
                "    raw: redacted\n");
        free(out);
        zone_config_free(c);
}

Test(export, layout)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet"), *b = add_child(c->root, "boot");
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        set_ok(c->root, "autoboot", "true", "true");
        set_ok(a, "id", "0", "0");
        set_ok(add_child(a, "vlan"), "vlan-id", "45", "45");
        set_ok(b, "kernel", "/boot/vmlinuz", "/boot/vmlinuz");
        set_ok(b, "cmdline", "console=ttyS0 quiet", "console=ttyS0 quiet");
        f = open_memstream(&buf, &size);
        zone_config_export(f, c);
        fclose(f);
        cr_assert_str_eq(buf,
                "create -b\n"
                "set brand=kz\n"
                "set autoboot=true\n"
                "add anet\n"
                "set id=0\n"
                "add vlan\n"
                "set vlan-id=45\n"
                "end\n"
                "end\n"
                "add boot\n"
                "set kernel=/boot/vmlinuz\n"
                "set cmdline=\"console=ttyS0 quiet\"\n"
                "end\n");
        free(buf);
        zone_config_free(c);
}

Test(data_dir, follows_the_environment)
{
        cr_assert_eq(setenv("KZONES_DATA_DIR", "/opt/kz", 1), 0);
        cr_assert_str_eq(kzones_data_dir(), "/opt/kz");
        cr_assert_eq(setenv("KZONES_DATA_DIR", "", 1), 0);
        cr_assert_str_eq(kzones_data_dir(), KZONES_PKGDATADIR);
        cr_assert_eq(unsetenv("KZONES_DATA_DIR"), 0);
        cr_assert_str_eq(kzones_data_dir(), KZONES_PKGDATADIR);
}
