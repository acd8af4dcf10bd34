/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "zone-state.h"

#include "bus-error.h"
#include "kzones-bus.h"
#include "restarter-client.h"

#define GLOBAL_ZONE "global"
#define ERROR_ZONE_NOT_FOUND KZ_ERROR_ZONE_NOT_FOUND

typedef enum ListFormat {
        LIST_NAMES,
        LIST_VERBOSE,
        LIST_PARSABLE,
        LIST_STATUS,
        LIST_JSON_PRETTY, /* --json=pretty */
        LIST_JSON_SHORT,  /* --json=short */
        _LIST_FORMAT_MAX,
        _LIST_FORMAT_INVALID = -EINVAL,
} ListFormat;


/* zoneadm-migrate.c: 'zoneadm migrate'; cipher NULL: the restarter's choice, "list": both
 * hosts' ciphers */
int zoneadm_migrate(sd_bus *bus, const char *zone, const char *destination, const char *cipher, const char *type,
                bool dry_run, bool overwrite, bool quiet);

/* zoneadm-list.c: 'zoneadm list', of every zone from min_state on, or of zone */
int zoneadm_list(sd_bus *bus, const char *zone, ZoneState min_state, ListFormat format);

/* zoneadm-apply.c: 'zoneadm apply', the persistent configuration made live */
int zoneadm_apply(sd_bus *bus, const char *zone, bool dry_run, bool quiet);
