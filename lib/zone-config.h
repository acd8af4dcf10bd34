/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kz-error.h"
#include "zone-state.h"

/* A zone configuration is a tree of resources. The root is the zone itself (its
 * properties are the global properties: zonename, brand, …); its children are the
 * resources (anet, device, capped-memory, …), which may have children of their own
 * (anet → mac, vlan). Every property value is kept as its canonical string; the
 * tables in zone-config.c say which properties each resource has and how each is
 * checked. The XML form is the same tree: one element per resource, one attribute per
 * property. */

#define ZONE_CONFIG_MAX_BYTES (256u * 1024u)
#define ZONE_CONFIG_MAX_RESOURCES 1024u
#define ZONE_NAME_MAX 63u

typedef enum PropType {
        PROP_STRING,
        PROP_ZONENAME,
        PROP_BOOL,
        PROP_ENUM,
        PROP_UINT,
        PROP_SIZE,
        PROP_PAGESIZE,
        PROP_CPUS,
        PROP_MAC,
        PROP_MAC_PREFIX,
        PROP_VLAN_RANGE,
        PROP_STORAGE,
        PROP_PATH,
        PROP_KEY,
        PROP_HOSTID,
        PROP_LINK,
        PROP_CPU_ARCH,
        PROP_USER,
        PROP_NAME,
        _PROP_TYPE_MAX,
        _PROP_TYPE_INVALID = -22,
} PropType;

enum {
        PROP_FLAG_LIST = 1u << 0,   /* a comma-separated list: 'add'/'remove' single values */
        PROP_FLAG_SECRET = 1u << 1, /* 'info' shows "redacted"; 'export' shows the value */
};

typedef struct PropInfo {
        const char *name;
        PropType type;
        unsigned flags;
        const char *const *values; /* PROP_ENUM: NULL-terminated */
        uint64_t min, max;         /* PROP_UINT, PROP_SIZE */
} PropInfo;

typedef struct ResourceType ResourceType;
struct ResourceType {
        const char *name;
        const PropInfo *props;
        size_t n_props;
        bool multi;                         /* may appear more than once */
        const char *key;                    /* property that tells instances apart ("id", "user") */
        bool auto_key;                      /* key is a number assigned at 'end' when not set */
        const ResourceType *const *children; /* NULL-terminated, or NULL */
};

typedef struct ZoneResource ZoneResource;
struct ZoneResource {
        const ResourceType *type;
        char **values; /* type->n_props entries, NULL where not set */
        ZoneResource **children;
        size_t n_children;
};

typedef struct ZoneConfig {
        ZoneResource *root;
        /* What the store held when this configuration was loaded; commit refuses to
         * overwrite anything else. NULL snapshot with exists=false: a new zone. */
        char *loaded_name;
        char *snapshot;
        size_t snapshot_size;
        bool exists;
} ZoneConfig;

const ResourceType *zone_type(void);
const ResourceType *resource_type_child(const ResourceType *t, const char *name);
const PropInfo *resource_type_prop(const ResourceType *t, const char *name, size_t *ret_index);
const char *prop_type_to_string(PropType t);
PropType prop_type_from_string(const char *s);

ZoneResource *zone_resource_new(const ResourceType *t);
ZoneResource *zone_resource_free(ZoneResource *r);
ZoneResource *zone_resource_dup(const ZoneResource *r);
bool zone_resource_equal(const ZoneResource *a, const ZoneResource *b);
static inline void zone_resource_freep(ZoneResource **r)
{
        if (*r)
                *r = zone_resource_free(*r);
}

const char *zone_resource_get(const ZoneResource *r, const char *prop);
/* Checks the value against the property's type and the resource's own rules, stores
 * its canonical form. The resource is unchanged on failure. */
int zone_resource_set(ZoneResource *r, const char *prop, const char *value, KzError *e);
int zone_resource_clear(ZoneResource *r, const char *prop, KzError *e);
int zone_resource_list_add(ZoneResource *r, const char *prop, const char *value, KzError *e);
int zone_resource_list_remove(ZoneResource *r, const char *prop, const char *value, KzError *e);

/* Rules a resource must meet when its scope is ended: required properties, unique
 * keys among its siblings in parent (other than 'replacing', the instance it
 * replaces). With assign, a missing auto key is given the lowest free number. */
int zone_resource_complete(ZoneResource *r, const ZoneResource *parent, const ZoneResource *replacing,
                bool assign, KzError *e);

/* Inserts child (taking it) after the last child of the same type, in the
 * order of the type table. */
int zone_resource_attach(ZoneResource *parent, ZoneResource *child);
/* Removes child from parent and frees it. */
void zone_resource_remove(ZoneResource *parent, ZoneResource *child);
/* Replaces old (freed) with new (taken) at the same place. */
void zone_resource_replace(ZoneResource *parent, ZoneResource *old, ZoneResource *new);
size_t zone_resource_count(const ZoneResource *parent, const ResourceType *t);
ZoneResource *zone_resource_first(const ZoneResource *parent, const ResourceType *t);

ZoneConfig *zone_config_new(const char *name);
ZoneConfig *zone_config_free(ZoneConfig *c);
static inline void zone_config_freep(ZoneConfig **c)
{
        if (*c)
                *c = zone_config_free(*c);
}
const char *zone_config_name(const ZoneConfig *c);
const char *zone_config_brand(const ZoneConfig *c);

/* The whole configuration, as 'verify' and 'commit' check it. */
int zone_config_verify(const ZoneConfig *c, KzError *e);
int zone_config_verify_full(const ZoneConfig *c, bool template, KzError *e);

/* Storage URIs may use the tokens %{zonename} and %{id} (the device's id); this is
 * the URI with them replaced. */
char *zone_config_expand(const ZoneConfig *c, const ZoneResource *r, const char *value);

enum {
        ZONE_XML_TEMPLATE = 1u << 0, /* a template: no zonename */
};
int zone_config_from_xml(const char *buf, size_t size, const char *origin, unsigned flags, ZoneConfig **ret,
                KzError *e);
int zone_config_to_xml(const ZoneConfig *c, char **ret, size_t *ret_size, KzError *e);

/* The layouts of zonecfg 'info' and 'export'. */
void zone_resource_info(FILE *f, const ZoneConfig *c, const ZoneResource *r, unsigned indent, const char *label);
void zone_config_export(FILE *f, const ZoneConfig *c);
/* Quotes a value for the command language when it needs it. */
char *zonecfg_quote(const char *s);

/* keysource raw values: "{base64}" and 16 random bytes (an AES-128 key). */
int zone_keysource_generate(char **ret);
int zone_keysource_decode(const char *raw, uint8_t key[16]);
/* Replaces the zone's keysource (if any) with a fresh random key. */
int zone_config_new_keysource(ZoneConfig *c);

bool zone_name_is_valid(const char *name);

/* The directory with the schema and the templates: $KZONES_DATA_DIR, else the
 * installed one. */
const char *kzones_data_dir(void);
