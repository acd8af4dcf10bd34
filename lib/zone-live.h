/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "zone-config.h"

/* Live zone reconfiguration: the difference between what a running zone runs (its
 * live configuration, /run/kzones/NAME/live.xml) and what is wanted of it (zonecfg
 * -r's commit, or the persistent configuration for zoneadm apply), as a plan of
 * changes in the order they are applied. What cannot change on a running zone is in
 * the plan too, refused: a plan with a refusal is not applied at all.
 *
 *   anet, device          added and removed (matched by id); changed in place: refused
 *   virtual-cpu:ncpus     up and down (vCPU hotplug)
 *   capped-memory:physical up and down, with memory live reconfiguration enabled at
 *                         boot (zone_live_memory_refusal())
 *   capped-memory:memlzs, admin, autoboot, autoshutdown, bootargs: recorded (the last
 *                         three take effect at the next boot)
 *   anything else         refused: "cannot change PROP of a running zone" */

/* The files in the zone's runtime directory, /run/kzones/NAME/ (0600, root's). */
#define ZONE_LIVE_CONFIG "live.xml"          /* the live configuration */
#define ZONE_LIVE_GENERATION "live.generation" /* decimal; 1 = as launched */
#define ZONE_LIVE_NEXT "live.next"           /* the restarter to the reconfigure helper and back */
/* present once a change to the virtual machine itself (vCPUs, memory, disks, NICs) was
 * started since the zone booted: its QEMU no longer matches what its configuration
 * launches (hot-plugged devices sit on other ports), so neither a migration's
 * destination nor a resume could build it; removed at each launch */
#define ZONE_LIVE_RESHAPED "live.reshaped"

/* kzones-zone reconfigure's exit status when QEMU does not run what live.xml says:
 * live.next then holds the live configuration as read back from QEMU. */
#define ZONE_LIVE_EXIT_CHANGED 3

typedef enum ZoneLiveChangeKind {
        ZONE_LIVE_DEVICE_REMOVE,
        ZONE_LIVE_ANET_REMOVE,
        ZONE_LIVE_NCPUS,
        ZONE_LIVE_PHYSICAL,
        ZONE_LIVE_ANET_ADD,
        ZONE_LIVE_DEVICE_ADD,
        ZONE_LIVE_RECORD,  /* only written into the live configuration */
        ZONE_LIVE_REFUSED, /* cannot change on a running zone: the plan is not applied */
        _ZONE_LIVE_CHANGE_KIND_MAX,
        _ZONE_LIVE_CHANGE_KIND_INVALID = -22,
} ZoneLiveChangeKind;

const char *zone_live_change_kind_to_string(ZoneLiveChangeKind k);
ZoneLiveChangeKind zone_live_change_kind_from_string(const char *s);

typedef struct ZoneLiveChange {
        ZoneLiveChangeKind kind;
        char *text;                   /* "Adding anet id=1": what "Checking: " prints */
        char *refusal;                /* REFUSED: the job's failure, one sentence */
        const ZoneResource *resource; /* *_ADD: in the wanted configuration; *_REMOVE: in the live one */
        uint64_t value;               /* NCPUS: vCPUs wanted; PHYSICAL: bytes wanted */
} ZoneLiveChange;

typedef struct ZoneLivePlan {
        ZoneLiveChange *changes;
        size_t n;
        size_t n_refused;
} ZoneLivePlan;

/* The plan from live to wanted (both borrowed: the plan points into them). No
 * changes: n == 0. */
int zone_live_plan(const ZoneConfig *live, const ZoneConfig *wanted, ZoneLivePlan *ret);
void zone_live_plan_done(ZoneLivePlan *p);

/* Whether a zone booted with this configuration can change its memory live: NULL if
 * it can, else why not ("Memory reconfiguration not enabled", or a pool's). */
const char *zone_live_memory_refusal(const ZoneConfig *c);

/* The record-only changes of the plan applied to live: what the live configuration
 * says once the plan's record changes are made (the caller sets ncpus, physical and
 * the anets and devices as they really went). */
int zone_live_apply_records(ZoneConfig *live, const ZoneConfig *wanted, KzError *e);
/* The live configuration's vCPUs and memory set to what QEMU really runs. */
int zone_live_set_ncpus(ZoneConfig *live, unsigned n, KzError *e);
int zone_live_set_physical(ZoneConfig *live, uint64_t bytes, KzError *e);
