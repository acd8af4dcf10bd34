/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kz-error.h"

/* What passes between the restarter and a zone's unit (zone@NAME.service, whose
 * launcher is kzones-zone), in the zone's own runtime directory /run/kzones/NAME:
 *
 *  - the launch request, written by the restarter alone (atomically, 0600) before
 *    it asks systemd to start or stop the unit, and taken once by the launcher:
 *    renamed away, read and removed, so that a later start never reuses it. A start
 *    that finds none boots plainly (systemctl start, autoboot).
 *  - the launch result, written by the launcher alone when a start (or the stop
 *    after it) failed: why, and whether the zone must be marked unavailable. The
 *    restarter takes it once and alone writes /etc/zones/index.
 *
 * Both are JSON objects with a "version"; a file that is not one of them, too
 * large, or of a newer version is refused with a reason, never half read. */

#define LAUNCH_REQUEST_FILE "request"
#define LAUNCH_RESULT_FILE "result"
#define LAUNCH_FILE_MAX (64u * 1024u)
#define LAUNCH_VERSION 1
/* kzones-zone's exit status, as a unit verb or the restarter's helper, when the zone
 * cannot run on this host as it is (its key does not open its host data, or it has
 * none): the restarter marks it unavailable. */
#define LAUNCH_EXIT_UNAVAILABLE 3

typedef struct LaunchInstaller {
        char *path;   /* /proc/PID/fd/N: the restarter's descriptor of the medium */
        uint64_t dev; /* and what it must still be when the launcher opens it */
        uint64_t ino;
} LaunchInstaller;

/* A live migration into this host: QEMU starts with -incoming defer, and once it
 * is up (kzones-zone wait) listens on uri for the stream of migration id, with
 * channels connections (more than one: multifd, channels - 1 of them). The zone's
 * host data is not claimed by this start: the source hands it over once the zone
 * runs here (handover below, on the source). */
#define LAUNCH_INCOMING_CHANNELS_MAX 64u
typedef struct LaunchIncoming {
        char *migration_id;
        char *uri;          /* unix:/run/kzones/NAME/incoming/migr.sock, the launcher's own */
        uint32_t channels;  /* 1..LAUNCH_INCOMING_CHANNELS_MAX; 0 when written means 1 */
} LaunchIncoming;

typedef struct LaunchRequest {
        char **boot_args;          /* zoneadm boot -- ARGS: NULL-terminated, or NULL */
        bool fresh;                /* boot -R: forget a suspended state, boot afresh */
        bool halt;                 /* halt, reboot, suspend: ExecStop cuts the guest off at once */
        LaunchInstaller installer; /* install -b: path NULL without one */
        LaunchIncoming incoming;   /* migration_id NULL without one */
        char *handover;            /* with halt, after a migration out: the hostid (8 hex digits)
                                    * the host data names once the unit stopped, as a lease, so the
                                    * zone's new host renews it; NULL: this host keeps it */
} LaunchRequest;

typedef struct LaunchResult {
        char *step;       /* the launcher's verb that failed: exec, wait, stop, stopped */
        int error;        /* a positive errno */
        char *reason;     /* for the administrator, the guide's lines as they are */
        bool unavailable; /* the zone cannot run on this host as it is (its key does not
                           * open its host data, it has no key): mark it unavailable */
} LaunchResult;

void launch_request_done(LaunchRequest *r);
void launch_result_done(LaunchResult *r);

int launch_request_to_json(const LaunchRequest *r, char **ret);
int launch_request_from_json(const char *buf, size_t size, LaunchRequest *ret, KzError *e);
int launch_result_to_json(const LaunchResult *r, char **ret);
int launch_result_from_json(const char *buf, size_t size, LaunchResult *ret, KzError *e);

/* dir is the zone's runtime directory. Written atomically (0600), replacing one
 * that was there. */
int launch_request_write(const char *dir, const LaunchRequest *r);
int launch_result_write(const char *dir, const LaunchResult *r);

/* Reads without taking: -ENOENT when there is none. */
int launch_request_read(const char *dir, LaunchRequest *ret, KzError *e);
/* Takes it once: renamed away, read, removed, whatever it holds (a file that cannot
 * be read is gone too, and said so). -ENOENT when there is none. */
int launch_request_take(const char *dir, LaunchRequest *ret, KzError *e);
int launch_result_take(const char *dir, LaunchResult *ret, KzError *e);
int launch_result_read(const char *dir, LaunchResult *ret, KzError *e);
