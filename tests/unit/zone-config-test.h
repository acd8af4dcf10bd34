/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the tests of zone configurations share: resources made and set with
 * criterion's checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "storage-uri.h"
#include "zone-config.h"


static inline ZoneResource *add_child(ZoneResource *parent, const char *type)
{
        const ResourceType *t = resource_type_child(parent->type, type);
        ZoneResource *r;

        cr_assert_not_null(t, "%s has no resource type %s", parent->type->name, type);
        r = zone_resource_new(t);
        cr_assert_not_null(r);
        cr_assert_eq(zone_resource_attach(parent, r), 0);
        return r;
}

static inline ZoneResource *new_resource(const char *type)
{
        const ResourceType *t = resource_type_child(zone_type(), type);

        cr_assert_not_null(t, "no resource type %s", type);
        return zone_resource_new(t);
}

/* Sets prop, which must be accepted. */
static inline void set_value(ZoneResource *r, const char *prop, const char *value)
{
        KzError e = {};

        cr_assert_eq(zone_resource_set(r, prop, value, &e), 0, "%s: set %s=%s: %s", r->type->name, prop, value,
                e.message);
}

/* Sets prop and checks the stored canonical form. */
static inline void set_ok(ZoneResource *r, const char *prop, const char *value, const char *canonical)
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
static inline void set_fails_full(ZoneResource *r, const char *prop, const char *value, const char *message, bool exact)
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

static inline void set_fails(ZoneResource *r, const char *prop, const char *value, const char *message)
{
        set_fails_full(r, prop, value, message, true);
}

static inline void set_fails_with(ZoneResource *r, const char *prop, const char *value, const char *part)
{
        set_fails_full(r, prop, value, part, false);
}
