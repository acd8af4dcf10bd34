/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A look at a zone configuration without parsing it whole: the zone element's
 * name, brand and autoboot, and (ZONE_PEEK_SUSPEND) the first suspend resource's
 * path and storage. For a daemon that keeps these of many zones (the restarter):
 * no libxml2, no schema, nothing allocated but the values. Only the tags on the
 * way are read, so what a file says wrong after them goes unnoticed; the whole
 * configuration is parsed and verified (zone_store_load()) before anything is
 * done with it. A document type or entity declaration, a tag that is not
 * well-formed, an unknown entity reference or a first element other than <zone>
 * is -EBADMSG. */

typedef struct ZonePeek {
        char *name;  /* zonename, NULL if absent */
        char *brand; /* NULL if absent */
        bool autoboot;
        bool has_suspend;
        char *suspend_path, *suspend_storage; /* NULL if absent */
} ZonePeek;

#define ZONE_PEEK_SUSPEND 1u

int zone_peek(const char *buf, size_t size, unsigned flags, ZonePeek *ret);
void zone_peek_done(ZonePeek *p);
/* The suspend image's path under root, as zone_suspend_image_path() makes it from the
 * whole configuration: -ENOENT without a suspend resource, -EOPNOTSUPP if it is
 * not a local file. */
int zone_peek_suspend_image(const ZonePeek *p, const char *root, char **ret);
