/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The schema of a zone configuration: each resource type, its properties and
 * what kind of value each takes (the tables), and the lookups over them. */
#include "size.h"
#include "zone-config-internal.h"

/* ---- the tables ---------------------------------------------------------------- */

static const char *const bool_values[] = { "true", "false", NULL };
static const char *const brand_values[] = { "kz", "solaris", NULL };
static const char *const autoshutdown_values[] = { "shutdown", "halt", "suspend", NULL };
static const char *const host_compatible_values[] = { "native", "memlzs", "meml2r", "level1", "level2", "adi", NULL };
static const char *const pagesize_policy_values[] = { "smallest-only", "largest-available", "largest-only", "fixed",
        NULL };
static const char *const memlzs_values[] = { "strict", NULL };
static const char *const iov_values[] = { "off", "on", "auto", NULL };
static const char *const auths_values[] = { "login", "manage", "copyfrom", "clonefrom", "config", "liveconfig",
        "migrate", NULL };

#define PROPS(a) .props = a, .n_props = ELEMENTSOF(a)

static const PropInfo zone_props[] = {
        { "zonename", PROP_ZONENAME },
        { "brand", PROP_ENUM, .values = brand_values },
        { "autoboot", PROP_BOOL, .values = bool_values },
        { "autoshutdown", PROP_ENUM, .values = autoshutdown_values },
        { "bootargs", PROP_STRING },
        { "hostid", PROP_HOSTID },
        { "cpu-arch", PROP_CPU_ARCH },
        { "host-compatible", PROP_ENUM, .values = host_compatible_values },
};

static const PropInfo capped_memory_props[] = {
        { "physical", PROP_SIZE, .min = 2 * SIZE_M, .max = 2 * SIZE_T },
        { "pagesize-policy", PROP_ENUM, .values = pagesize_policy_values },
        { "pagesize", PROP_PAGESIZE, .min = 2 * SIZE_M, .max = 16 * SIZE_G },
        { "memory-reserve", PROP_NAME },
        { "memlzs", PROP_ENUM, .values = memlzs_values },
};

static const PropInfo virtual_cpu_props[] = {
        { "ncpus", PROP_UINT, .min = 1, .max = 512 },
};

static const PropInfo dedicated_cpu_props[] = {
        { "ncpus", PROP_UINT, .min = 1, .max = 512 },
        { "cpus", PROP_CPUS },
};

static const PropInfo device_props[] = {
        { "storage", PROP_STORAGE },
        { "id", PROP_UINT, .min = 0, .max = 65535 },
        { "bootpri", PROP_UINT, .min = 0, .max = 65535 },
        { "allow-mhd", PROP_BOOL, .values = bool_values },
};

static const PropInfo mac_props[] = {
        { "mac-address", PROP_MAC },
        { "allowed-mac-address", PROP_MAC_PREFIX, PROP_FLAG_LIST },
};

static const PropInfo vlan_props[] = {
        { "vlan-id", PROP_UINT, .min = 1, .max = 4094 },
        { "allowed-vlan-ids", PROP_VLAN_RANGE, PROP_FLAG_LIST },
};

static const PropInfo anet_props[] = {
        { "lower-link", PROP_LINK },
        { "mac-address", PROP_MAC },
        { "vlan-id", PROP_UINT, .min = 1, .max = 4094 },
        { "configure-allowed-address", PROP_BOOL, .values = bool_values },
        { "iov", PROP_ENUM, .values = iov_values },
        { "id", PROP_UINT, .min = 0, .max = 65535 },
};

static const PropInfo suspend_props[] = {
        { "path", PROP_PATH },
        { "storage", PROP_STORAGE },
};

static const PropInfo keysource_props[] = {
        { "raw", PROP_KEY, PROP_FLAG_SECRET },
};

static const PropInfo admin_props[] = {
        { "user", PROP_USER },
        { "auths", PROP_ENUM, PROP_FLAG_LIST, .values = auths_values },
};

static const PropInfo boot_props[] = {
        { "kernel", PROP_PATH },
        { "initrd", PROP_PATH },
        { "cmdline", PROP_STRING },
};

const ResourceType zone_mac_type = { "mac", PROPS(mac_props), .multi = true };
const ResourceType zone_vlan_type = { "vlan", PROPS(vlan_props), .multi = true };
static const ResourceType *const anet_children[] = { &zone_mac_type, &zone_vlan_type, NULL };

const ResourceType zone_anet_type = {
        "anet", PROPS(anet_props), .multi = true, .key = "id", .auto_key = true, .children = anet_children
};
const ResourceType zone_device_type = { "device", PROPS(device_props), .multi = true, .key = "id", .auto_key = true };
const ResourceType zone_capped_memory_type = { "capped-memory", PROPS(capped_memory_props) };
const ResourceType zone_virtual_cpu_type = { "virtual-cpu", PROPS(virtual_cpu_props) };
const ResourceType zone_dedicated_cpu_type = { "dedicated-cpu", PROPS(dedicated_cpu_props) };
const ResourceType zone_suspend_type = { "suspend", PROPS(suspend_props) };
const ResourceType zone_keysource_type = { "keysource", PROPS(keysource_props) };
const ResourceType zone_admin_type = { "admin", PROPS(admin_props), .multi = true, .key = "user" };
const ResourceType zone_boot_type = { "boot", PROPS(boot_props) };

/* The order here is the order of 'info', 'export' and the XML file. */
const ResourceType *const zone_resource_types[] = {
        &zone_anet_type,
        &zone_device_type,
        &zone_capped_memory_type,
        &zone_virtual_cpu_type,
        &zone_dedicated_cpu_type,
        &zone_suspend_type,
        &zone_keysource_type,
        &zone_admin_type,
        &zone_boot_type,
        NULL,
};

static const ResourceType zone_type_info = { "zone", PROPS(zone_props), .children = zone_resource_types };

const ResourceType *zone_type(void)
{
        return &zone_type_info;
}

static const char *const prop_type_table[_PROP_TYPE_MAX] = {
        [PROP_STRING] = "string",
        [PROP_ZONENAME] = "zonename",
        [PROP_BOOL] = "boolean",
        [PROP_ENUM] = "enum",
        [PROP_UINT] = "integer",
        [PROP_SIZE] = "size",
        [PROP_PAGESIZE] = "pagesize",
        [PROP_CPUS] = "cpu-list",
        [PROP_MAC] = "mac-address",
        [PROP_MAC_PREFIX] = "mac-prefix",
        [PROP_VLAN_RANGE] = "vlan-range",
        [PROP_STORAGE] = "storage-uri",
        [PROP_PATH] = "path",
        [PROP_KEY] = "key",
        [PROP_HOSTID] = "hostid",
        [PROP_LINK] = "link",
        [PROP_CPU_ARCH] = "cpu-arch",
        [PROP_USER] = "user",
        [PROP_NAME] = "name",
};

DEFINE_STRING_TABLE(prop_type, PropType, _PROP_TYPE_MAX)

const ResourceType *resource_type_child(const ResourceType *t, const char *name)
{
        if (!t->children || !name)
                return NULL;
        for (const ResourceType *const *c = t->children; *c; c++)
                if (streq((*c)->name, name))
                        return *c;
        return NULL;
}

const PropInfo *resource_type_prop(const ResourceType *t, const char *name, size_t *ret_index)
{
        if (!name)
                return NULL;
        for (size_t i = 0; i < t->n_props; i++)
                if (streq(t->props[i].name, name)) {
                        if (ret_index)
                                *ret_index = i;
                        return &t->props[i];
                }
        return NULL;
}
