/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What zoneadm and zonecfg's live mode (-r) share to talk to the zone restarter:
 * its errors as one-line messages (zoneadm-errors.c), a zone's object path and
 * jobs followed to their end (zoneadm-job.c). Messages start with "PROG: ", PROG
 * being cli_prog. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "bus-error.h"
#include "kzones-bus.h"

/* "zoneadm" or "zonecfg": the program named at the start of its messages. */
extern const char *cli_prog;

/* With -H, the host, and a file that ssh's stderr goes to (its last line is the
 * reason a host cannot be reached). */
extern const char *zoneadm_host;
extern int zoneadm_ssh_errors;
int log_call_error(const char *zone, const sd_bus_error *e, int r, uint64_t timeout);
/* The restarter (or, with -H, the host) cannot be reached: what to do next. */
int log_unreachable(const sd_bus_error *e, int r);
int log_bad_reply(const char *zone, int r);
int log_request_error(int r);
int log_not_configured(const char *zone);

/* The zone's object path, or a message. */
int zone_lookup(sd_bus *bus, const char *zone, char **ret_path);
/* The zone's State property ("running", "installed", …), or a message. */
int zone_get_state(sd_bus *bus, const char *zone, const char *path, char **ret_state);

/* 0 when the zone is running, else -ESRCH after one line: "PROG: zone 'NAME': not
 * running (STATE); WHAT". */
int zone_require_running(sd_bus *bus, const char *zone, const char *path, const char *what);

/* zoneadm-job.c: calls a zone method that returns a job, and follows the job to its
 * end: progress unless quiet, its result as the return value (after its message).
 * The job of Kind "apply" (zoneadm apply, zonecfg -r's commit) prints each value
 * of its Message as "zone 'NAME': LINE" on stdout, and its failure as "zone 'NAME':
 * error: LINE" on stderr. */
int zone_job_call(sd_bus *bus, sd_bus_message *m, const char *zone, bool quiet);

typedef struct JobCall {
        const char *zone;
        bool quiet;           /* no progress, no lines */
        bool silent_refusal;  /* no message for a refused call: the caller reads error */
        bool silent_failure;  /* no message for a failed job: the caller reads error */
        /* out: why the call was refused or the job failed, and which of the two */
        sd_bus_error error;
        bool job_failed;
} JobCall;

/* zone_job_call() with a JobCall: returns 0 when the job is done, else -errno with
 * c->error set (printed unless silenced). Free c->error with job_call_done(). */
int zone_job_run(sd_bus *bus, sd_bus_message *m, JobCall *c);
void job_call_done(JobCall *c);
/* An apply job's failure, in the guide's form: "zone 'NAME': error: LINE" for each
 * line of e's message, on stderr. Returns r. */
int log_apply_error(const char *zone, const sd_bus_error *e, int r);
