/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether a migrating zone's configuration (here, the source's) and the one a
 * destination already holds (there) describe the same machine: what a guest that
 * resumes its memory on the destination expects (the guide's "About Migration and
 * Compatible Configurations"), and the key its host data and suspend image are
 * sealed with. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "size.h"
#include "strv.h"
#include "zone-compat.h"
#include "zone-qemu.h"

static int add(char ***l, const char *fmt, ...) _printf_(2, 3);
static int add(char ***l, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = strv_add_unique(l, s);
        return r < 0 ? r : 0;
}

static const ZoneResource *child(const ZoneConfig *c, const char *type)
{
        return zone_resource_first(c->root, resource_type_child(zone_type(), type));
}

static const char *get(const ZoneConfig *c, const char *type, const char *prop)
{
        return zone_resource_get(child(c, type), prop);
}

/* The instance of r's type in c with r's key (id), or NULL. */
static const ZoneResource *same_instance(const ZoneConfig *c, const ZoneResource *r)
{
        const char *id = zone_resource_get(r, r->type->key);

        for (size_t i = 0; i < c->root->n_children; i++) {
                const ZoneResource *x = c->root->children[i];

                if (x->type == r->type && streq_ptr(zone_resource_get(x, x->type->key), id))
                        return x;
        }
        return NULL;
}

/* Every instance of type in a must be in b, equal in the properties listed (all,
 * with NULL); said once per side for instances b lacks. */
static int compare_instances(const ZoneConfig *a, const ZoneConfig *b, const char *type, const char *const *props,
                const char *a_name, const char *b_name, char ***l)
{
        const ResourceType *t = resource_type_child(zone_type(), type);
        int r = 0;

        for (size_t i = 0; r >= 0 && i < a->root->n_children; i++) {
                const ZoneResource *x = a->root->children[i], *y;
                const char *id;

                if (x->type != t)
                        continue;
                id = zone_resource_get(x, "id");
                y = same_instance(b, x);
                if (!y) {
                        r = add(l, "%s id=%s is configured %s but not %s", type, strna(id), a_name, b_name);
                        continue;
                }
                if (!props) {
                        if (!zone_resource_equal(x, y))
                                r = add(l, "%s id=%s differs between the source and the destination", type,
                                        strna(id));
                        continue;
                }
                for (const char *const *p = props; r >= 0 && *p; p++) {
                        const char *vx = zone_resource_get(x, *p), *vy = zone_resource_get(y, *p);

                        if (!streq_ptr(vx, vy))
                                r = add(l, "%s id=%s: %s is %s on the source, %s on the destination", type,
                                        strna(id), *p, vx ?: "not set", vy ?: "not set");
                }
        }
        return r;
}

int zone_config_migration_differences(const ZoneConfig *here, const ZoneConfig *there, char ***ret)
{
        static const char *const device_props[] = { "storage", NULL };
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        _cleanup_strv_free_ char **l = NULL;
        const char *pa, *pb;
        int r = 0;

        if (zone_memory_bytes(here) != zone_memory_bytes(there))
                r = add(&l, "capped-memory:physical is %s on the source, %s on the destination",
                        size_format(zone_memory_bytes(here), a, sizeof(a)),
                        size_format(zone_memory_bytes(there), b, sizeof(b)));
        pa = get(here, "capped-memory", "pagesize-policy");
        pb = get(there, "capped-memory", "pagesize-policy");
        if (r >= 0 && !streq_ptr(pa, pb))
                r = add(&l, "capped-memory:pagesize-policy is %s on the source, %s on the destination",
                        pa ?: "not set", pb ?: "not set");
        if (r >= 0 && zone_ncpus(here) != zone_ncpus(there))
                r = add(&l, "virtual-cpu:ncpus is %u on the source, %u on the destination", zone_ncpus(here),
                        zone_ncpus(there));
        pa = zone_resource_get(here->root, "cpu-arch");
        pb = zone_resource_get(there->root, "cpu-arch");
        if (r >= 0 && !streq(pa ?: "native", pb ?: "native"))
                r = add(&l, "cpu-arch is %s on the source, %s on the destination", pa ?: "native", pb ?: "native");
        if (r >= 0)
                r = compare_instances(here, there, "device", device_props, "on the source", "on the destination",
                        &l);
        if (r >= 0)
                r = compare_instances(there, here, "device", device_props, "on the destination", "on the source",
                        &l);
        if (r >= 0)
                r = compare_instances(here, there, "anet", NULL, "on the source", "on the destination", &l);
        if (r >= 0)
                r = compare_instances(there, here, "anet", NULL, "on the destination", "on the source", &l);
        if (r >= 0 && !streq_ptr(get(here, "keysource", "raw"), get(there, "keysource", "raw")))
                r = add(&l, "the zone's key (keysource) differs: the destination could not open its host data");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}
