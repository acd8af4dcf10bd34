/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "fs-util.h" /* write_file_atomic(), path_join(), … */
#include "zone-config.h"

/* The configuration store: ROOT/etc/zones/NAME.xml, one per zone, and
 * ROOT/etc/zones/index, a line "NAME:STATE:PATH:UUID" per zone. Every write is
 * atomic (temporary file, fsync, rename, fsync of the directory) and happens under
 * an exclusive lock on ROOT/etc/zones/index.lock; a commit refuses to overwrite a
 * configuration that changed since it was loaded. ROOT is "" or "/" for the
 * machine's own store. */

typedef struct ZoneIndexEntry {
        char *name;
        ZoneState state;
        char *path;
        char *uuid;
} ZoneIndexEntry;

int zone_store_load(const char *root, const char *name, ZoneConfig **ret, KzError *e);
int zone_store_commit(const char *root, ZoneConfig *c, KzError *e);
int zone_store_delete(const char *root, const ZoneConfig *c, bool force, KzError *e);
int zone_template_load(const char *root, const char *template, const char *name, ZoneConfig **ret, KzError *e);

int zone_index_read(const char *root, ZoneIndexEntry **ret, size_t *ret_n, KzError *e);
void zone_index_free(ZoneIndexEntry *l, size_t n);
int zone_index_lookup(const char *root, const char *name, ZoneIndexEntry *ret, KzError *e);
void zone_index_entry_done(ZoneIndexEntry *x);
int zone_index_set_state(const char *root, const char *name, ZoneState state, KzError *e);
/* The zone's UUID in the index (a migrated zone keeps the source's). */
int zone_index_set_uuid(const char *root, const char *name, const char *uuid, KzError *e);
