/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Zone configurations: the string tables, the resource types and property values. */
#include "zone-config-test.h"

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

Test(string_tables, zone_states_before_install)
{
        /* zonecfg may rename or delete a zone's configuration only while nothing is installed */
        static const ZoneState may[] = { ZONE_STATE_CONFIGURED, ZONE_STATE_INCOMPLETE, ZONE_STATE_UNAVAILABLE };
        static const ZoneState may_not[] = { ZONE_STATE_INSTALLED, ZONE_STATE_READY, ZONE_STATE_RUNNING,
                ZONE_STATE_SHUTTING_DOWN, ZONE_STATE_DOWN };

        for (size_t i = 0; i < ELEMENTSOF(may); i++)
                cr_assert(zone_state_is_uninstalled(may[i]), "%s", zone_state_to_string(may[i]));
        for (size_t i = 0; i < ELEMENTSOF(may_not); i++)
                cr_assert_not(zone_state_is_uninstalled(may_not[i]), "%s", zone_state_to_string(may_not[i]));
        cr_assert_eq(ELEMENTSOF(may) + ELEMENTSOF(may_not), (size_t) _ZONE_STATE_MAX, "a new state needs a place here");
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
