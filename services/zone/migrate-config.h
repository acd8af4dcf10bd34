/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "zone-config.h"

/* The parts of zoneadm migrate that come before anything moves, for every kind:
 * the checks (migrate-config.c) and the destination's configuration. */

typedef enum MigrateKind {
        MIGRATE_LIVE, /* running: its memory moves (migrate-out.c) */
        MIGRATE_WARM, /* installed and suspended: its suspend image moves with it */
        MIGRATE_COLD, /* installed: detached here, attached there */
        _MIGRATE_KIND_MAX,
        _MIGRATE_KIND_INVALID = -22,
} MigrateKind;

const char *migrate_kind_to_string(MigrateKind k);
MigrateKind migrate_kind_from_string(const char *s);

typedef struct MigrateConfig {
        const char *name;
        MigrateKind kind;
        bool overwrite;         /* -w: the source's configuration replaces the destination's */
        bool dry_run;           /* -n: an existing configuration there is not touched (not even its UUID) */
        sd_bus *local, *remote; /* borrowed */
        ZoneConfig *config;     /* the source's */
        char *xml;              /* the same, as the destination's store takes it (key included) */
        char *uuid;             /* the zone's UUID here, which it keeps there */
        bool configured;        /* the destination had a configuration of the zone */
        bool imported;          /* this migration wrote the destination's configuration (it had none) */
} MigrateConfig;

/* Every check before anything moves: shared storage URIs here; on the destination
 * (Manager.CheckIncoming) its state, its configuration against ours, the suspend
 * image; its CPU (the probe) and its memory pool (CanHost) for live and warm.
 * Prints each problem as "zone 'NAME': configuration check failed: …" and returns
 * -EIO when there is any. Changes nothing. */
int migrate_config_check(MigrateConfig *mc);
/* The destination's configuration: imported when it has none, replaced with -w,
 * else "Using existing zone configuration on destination."; the zone keeps its
 * UUID there in every case. */
int migrate_config_apply(MigrateConfig *mc);
/* Removes a configuration this migration imported (a failed or dry run). */
void migrate_config_roll_back(MigrateConfig *mc);
void migrate_config_done(MigrateConfig *mc);

/* "step TEXT": the restarter's job shows TEXT as its Message (the guide's steps). */
void migrate_step(const char *fmt, ...) _printf_(1, 2);
