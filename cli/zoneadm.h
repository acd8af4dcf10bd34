/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "zone-state.h"

#include "bus-error.h"
#include "kzones-bus.h"

#define GLOBAL_ZONE "global"
#define ERROR_ZONE_NOT_FOUND KZ_ERROR_ZONE_NOT_FOUND

typedef enum ListFormat {
        LIST_NAMES,
        LIST_VERBOSE,
        LIST_PARSABLE,
        LIST_STATUS,
        _LIST_FORMAT_MAX,
        _LIST_FORMAT_INVALID = -EINVAL,
} ListFormat;


/* zoneadm-errors.c: messages, each one line saying what went wrong. With -H, the
 * host, and a file that ssh's stderr goes to (its last line is the reason a host
 * cannot be reached). */
extern const char *zoneadm_host;
extern int zoneadm_ssh_errors;
int log_call_error(const char *zone, const sd_bus_error *e, int r, uint64_t timeout);
/* The restarter (or, with -H, the host) cannot be reached: what to do next. */
int log_unreachable(const sd_bus_error *e, int r);
int log_bad_reply(const char *zone, int r);
int log_request_error(int r);
int log_not_configured(const char *zone);

/* zoneadm-job.c: calls a zone method that returns a job, and follows the job to its
 * end: progress unless quiet, its result as the return value (after its message). */
int zone_job_call(sd_bus *bus, sd_bus_message *m, const char *zone, bool quiet);

/* zoneadm.c: the zone's object path, or a message */
int zone_lookup(sd_bus *bus, const char *zone, char **ret_path);

/* zoneadm-migrate.c: 'zoneadm migrate'; cipher NULL: the restarter's choice, "list": both
 * hosts' ciphers */
int zoneadm_migrate(sd_bus *bus, const char *zone, const char *destination, const char *cipher, const char *type,
                bool dry_run, bool overwrite, bool quiet);

/* zoneadm-list.c: 'zoneadm list', of every zone from min_state on, or of zone */
int zoneadm_list(sd_bus *bus, const char *zone, ZoneState min_state, ListFormat format);
