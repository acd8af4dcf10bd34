/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Zone.Migrate of a zone that does not run: the zone's state picks the kind
 * (running: live, zone-migrate-out.c; installed and suspended: warm; installed:
 * cold), and the cold and warm kinds run as the migrate job's helper
 * kzones-zone migrate-cold (services/zone/migrate-cold.c), which checks, configures
 * the destination, releases the host data here and has the destination attach the
 * zone. When it says "moved HOSTID" the zone belongs to the destination: it is
 * configured here, and its suspended state here is forgotten (the destination
 * took the image). */
#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "restarter.h"

static void migrate_cold_helper_done(Job *j, int status, const char *message)
{
        _cleanup_free_ char *marker = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        const char *line = message, *p;
        char hostid[9] = "";

        if (status != 0) {
                if (j->cancelling)
                        job_finish(j, -ECANCELED, KZ_ERROR_CANCELLED, "cancelled; the zone stays here");
                else
                        job_finish(j, -EIO, NULL, "%s", *message ? message : "the migration failed");
                return;
        }
        while ((p = strchr(line, '\n')))
                line = p + 1;
        if (startswith(line, "dry-run ")) {
                job_set_message(j, "Dry-run migration successful.");
                job_finish(j, 0, NULL, NULL);
                return;
        }
        if (sscanf(line, "moved %8[0-9a-f]", hostid) != 1 || strlen(hostid) != 8) {
                job_finish(j, -EIO, NULL, "the migration helper ended without saying where the zone is: %s", message);
                return;
        }
        marker = manager_path(j->manager, "/var/lib/kzones/%s.suspended", j->zone->name);
        if (marker && unlink(marker) < 0 && errno != ENOENT)
                log_warning("zone '%s': cannot remove %s: %m", j->zone->name, marker);
        (void) zone_set_index_state(j->zone, ZONE_STATE_CONFIGURED, &e);
        sd_bus_error_free(&e);
        log_info("zone '%s': migrated to host %s; configured here", j->zone->name, hostid);
        job_finish(j, 0, NULL, NULL);
}

/* The helper is between checks and the handover: SIGTERM, and it rolls back. */
static int migrate_cold_cancel(Job *j, sd_bus_error *error)
{
        if (j->pid <= 0)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE, "the migration is ending");
        if (kill(j->pid, SIGTERM) < 0)
                return -errno;
        job_set_message(j, "cancelling: the zone stays here");
        return 0;
}

const JobType job_migrate_cold = {
        .kind = "migrate",
        .helper_done = migrate_cold_helper_done,
        .cancel = migrate_cold_cancel,
};

static void migrate_cold_begin(Job *j)
{
        int r;

        job_set_message(j, "Checking migration compatibility.");
        r = job_run_helper2(j, "migrate-cold", j->destination, j->option);
        if (r < 0)
                job_finish(j, r, NULL, "cannot start the migration helper: %s", strerror(-r));
}

int zone_migration_kind(Zone *z, const char *type, const char **ret_kind, sd_bus_error *error)
{
        _cleanup_free_ char *marker = NULL;
        int r;

        if (!streq(type, "auto") && !streq(type, "live"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Migrate: Type is auto or live, not '%s'",
                        type);
        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        if (z->state == ZONE_STATE_RUNNING) {
                *ret_kind = "live";
                return 0;
        }
        if (streq(type, "live"))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; a live migration (-t live) "
                        "moves only a running zone: no migration takes place", zone_state_to_string(z->state));
        if (z->state == ZONE_STATE_UNAVAILABLE)
                return zone_need_state(z, error, ZONE_STATE_INSTALLED, "migrate it");
        if (z->state != ZONE_STATE_INSTALLED)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; it must be running to migrate it "
                        "live, or installed to migrate it cold (warm once suspended)", zone_state_to_string(z->state));
        marker = manager_path(z->manager, "/var/lib/kzones/%s.suspended", z->name);
        if (!marker)
                return -ENOMEM;
        *ret_kind = access(marker, F_OK) >= 0 ? "warm" : "cold";
        return 0;
}

int zone_migrate_cold(Zone *z, sd_bus_message *msg, const char *dest, const char *kind, bool dry_run, bool overwrite,
                int connection, sd_bus_error *error)
{
        Job *j;
        int r;

        r = job_new(z, &job_migrate_cold, msg, error, &j);
        if (r < 0)
                return r;
        j->destination = strdup(dest);
        /* a zone administrator's own connection to the destination (zone-migrate-out.c) */
        if (connection >= 0 && (j->connection_fd = fcntl(connection, F_DUPFD_CLOEXEC, 10)) < 0) {
                r = -errno;
                job_finish(j, r, NULL, "cannot keep the destination connection: %s", strerror(-r));
                return r;
        }
        if (!j->destination || asprintf(&j->option, "%s%s", kind, dry_run ? ":dry" : overwrite ? ":w" : "") < 0) {
                j->option = NULL;
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return -ENOMEM;
        }
        log_info("zone '%s': %s migration to %s%s", z->name, kind, dest, dry_run ? " (dry run)" : "");
        return job_start(j, msg, migrate_cold_begin);
}
