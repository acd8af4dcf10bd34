/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "zone-qemu.h"

/* A pool's configuration is unit configuration: the [X-Kzones] section of the
 * drop-ins of memory-reserve@POOL.service (and of memory-reserve@.service, for
 * every pool), merged as systemd merges drop-ins:
 *
 *   [X-Kzones]
 *   Size=64G                           config/size
 *   PageSizePolicy=largest-available   config/pagesize-policy
 *   PageSize=2M                        config/pagesize (with fixed)
 *   Type=kz                            config/type
 *   LGroups=0,1                        config/lgrps (NUMA nodes; empty: all)
 *
 * The names on the right are the guide's (Solaris's SMF properties); the messages
 * use them, as the guide does. */

#define POOL_SECTION "[X-Kzones]"
#define POOL_TYPE_KZ "kz"
#define POOL_NODES_MAX 64u
#define POOL_DROPIN_MAX_BYTES (64u * 1024u)

/* What the drop-ins say, as written: the last assignment of each key wins. */
typedef struct PoolSettings {
        char *size;
        char *policy;
        char *page_size;
        char *type;
        char *lgroups;
        char *unknown; /* the first key the section should not have */
} PoolSettings;

void pool_settings_done(PoolSettings *s);
/* Applies one drop-in's text (only its [X-Kzones] sections count). */
int pool_settings_apply(PoolSettings *s, const char *text);
/* Reads and applies every drop-in of memory-reserve@POOL.service under root, in
 * systemd's order; a file hides the files of the same name after it. */
int pool_settings_load(const char *root, const char *pool, PoolSettings *ret);

typedef struct PoolConfig {
        uint64_t size;
        PageSizePolicy policy;
        uint64_t page_size; /* PAGESIZE_FIXED's size, 0 otherwise */
        uint64_t nodes;     /* bit N: NUMA node N; 0: every node */
        /* the page sizes to try, best first */
        uint64_t candidates[HUGEPAGE_SIZES_MAX];
        size_t n_candidates;
} PoolConfig;

/* Checks the settings against the host's huge page sizes (ascending). On failure,
 * e says what is wrong in the guide's words ("Invalid service configuration: …"). */
int pool_config_parse(const PoolSettings *s, const uint64_t *sizes, size_t n, PoolConfig *ret, KzError *e);

/* "0,2-3" ⇄ a node mask; "" is 0 (every node). */
int nodes_parse(const char *s, uint64_t *ret);
char *nodes_format(uint64_t nodes, char *buf, size_t len);
