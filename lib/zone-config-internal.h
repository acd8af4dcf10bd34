/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the files of the zone configuration (zone-config.c, zone-values.c),
 * not by its users. */
#include "zone-config.h"

/* Checks one value (one element of a list property) for property p and returns
 * its canonical form in *ret. */
int prop_item_canonicalize(const PropInfo *p, const char *value, char **ret, KzError *e);
/* The same for a whole value: a list property's elements each canonical, none twice. */
int prop_value_canonicalize(const PropInfo *p, const char *value, char **ret, KzError *e);

/* The resource types of the schema (zone-schema.c), for the rules between them. */
extern const ResourceType zone_mac_type, zone_vlan_type, zone_anet_type, zone_device_type, zone_capped_memory_type,
        zone_virtual_cpu_type, zone_dedicated_cpu_type, zone_suspend_type, zone_keysource_type, zone_admin_type,
        zone_boot_type;
/* The resource types a zone holds, NULL-terminated, in the order of info, export and the XML file. */
extern const ResourceType *const zone_resource_types[];
