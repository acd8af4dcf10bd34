/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pool-config.h"

/* A memory reservation pool on this host: its hugetlbfs extents (see zone-qemu.h),
 * the zones that hold memory in them, and its record, ROOT/run/kzones-pools/POOL/state,
 * which the pool's service keeps: the state it last decided, why, and how many huge
 * pages it added to the host's counts (and gives back when the pool shrinks or goes). */

#define POOL_RECORD "state"
#define POOL_HOLDERS_MAX 4096u

typedef enum PoolState {
        POOL_STATE_ONLINE,      /* reserved as configured */
        POOL_STATE_DEGRADED,    /* reserved, but the last change could not be made */
        POOL_STATE_MAINTENANCE, /* the unit failed: nothing reserved, or kept because zones use it */
        POOL_STATE_DISABLED,    /* nothing reserved */
        _POOL_STATE_MAX,
        _POOL_STATE_INVALID = -EINVAL,
} PoolState;

const char *pool_state_to_string(PoolState s);
PoolState pool_state_from_string(const char *s);

/* ROOT/run/kzones-pools/POOL, or the file of that name in it; NULL on ENOMEM. */
char *pool_path(const char *root, const char *pool, const char *file);

typedef struct PoolRecord {
        PoolState state;
        char *status;
        uint64_t page_size;                 /* of the pages counted in added */
        uint64_t added;                     /* pages added to the host's count of that size */
        uint64_t added_node[POOL_NODES_MAX]; /* … or to NUMA node N's count (LGroups) */
} PoolRecord;

void pool_record_done(PoolRecord *r);
int pool_record_parse(const char *text, PoolRecord *ret);
int pool_record_format(const PoolRecord *r, char **ret);
int pool_record_read(const char *root, const char *pool, PoolRecord *ret);
int pool_record_write(const char *root, const char *pool, const PoolRecord *r);
uint64_t pool_record_added(const PoolRecord *r);

/* A file in the pool that a process holds open or mapped: a zone's memory (its RAM, or
 * the virtio-mem region it plugs memory into live: then size is what is plugged). */
typedef struct PoolHolder {
        char *zone;
        uint64_t size;
        dev_t dev;
        ino_t ino;
        pid_t pid;
} PoolHolder;

int pool_holders(const PoolExtent *l, size_t n, PoolHolder **ret, size_t *ret_n);
void pool_holders_free(PoolHolder *h, size_t n);
/* "zone kz1 (256M)", "zones kz1 (256M), kz2 (1G)": a zone's files as one */
char *pool_holders_format(const PoolHolder *h, size_t n);
/* A zone's files (its RAM, the memory it plugged live) as one holder, sizes added:
 * what the pool's Zones and mrpstat show. dev, ino and pid are the first file's. */
void pool_holders_by_zone(PoolHolder *h, size_t *n);
/* How many zones those files are of (sorted by zone, as pool_holders() returns them). */
size_t pool_holders_zones(const PoolHolder *h, size_t n);
/* The zone a path in the pool belongs to: its last component, without " (deleted)" and
 * ZONE_POOL_VMEM_SUFFIX. */
char *pool_holder_zone(const char *path);

/* How to bring extents of these sizes, of which zones use `used` bytes, to `target`
 * bytes: extents in use stay, the others are released and replaced by one new extent
 * with the rest (none is changed when that is what they are already). -EBUSY (and
 * a message) when the extents in use hold more than target. */
typedef struct PoolPlan {
        bool release[ZONE_POOL_EXTENTS_MAX];
        size_t n_release;
        uint64_t reserve; /* the new extent's size; 0: none */
} PoolPlan;

int pool_plan_resize(const uint64_t *size, const uint64_t *used, size_t n, uint64_t target, PoolPlan *ret,
                KzError *e);

/* With the pool lock held (pool_lock()): */
/* Makes the pool what cfg says: reserves it if it has no extents, resizes it (or
 * changes its page size, when no zone uses it) otherwise. rec is updated with the
 * pages added and given back. On failure e says why, and whatever was reserved
 * before is still there (as far as the kernel allows). */
int pool_apply(const char *root, const char *pool, const PoolConfig *cfg, PoolRecord *rec, KzError *e);
/* Unmounts every extent and gives back the pages the pool added, unless zones use
 * it: then -EBUSY and e names them. */
int pool_release(const char *root, const char *pool, PoolRecord *rec, KzError *e);

/* Everything about a pool, for the bus and mrpstat. */
typedef struct PoolStatus {
        char *name;
        PoolState state;
        char *status;
        uint64_t page_size, total, used, free;
        PoolExtent *extents;
        size_t n_extents;
        PoolHolder *holders;
        size_t n_holders;
        PoolSettings settings;
        PoolConfig config;
        KzError config_error; /* config_error.error != 0: the settings are invalid */
} PoolStatus;

int pool_status(const char *root, const char *pool, bool holders, PoolStatus *ret);
void pool_status_done(PoolStatus *s);
/* Every pool this host knows of: "zones", those with a drop-in or enabled, and those reserved. */
int pool_names(const char *root, char ***ret);
/* Whether the pool can take a zone of `size` bytes that used pages of `page_size` (0: any)
 * elsewhere; *ret_reason says why or why not. */
int pool_can_host(const PoolStatus *s, uint64_t page_size, uint64_t size, char **ret_reason);
