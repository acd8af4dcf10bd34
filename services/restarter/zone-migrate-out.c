/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The source of a live migration: Zone.Migrate starts a migrate job, whose work runs
 * in the helper kzones-zone migrate-out (services/zone/migrate-out.c: the
 * destination over SSH, kz-migr, QEMU), blocking there and not here. The job relays
 * the helper's "step" lines as its Message and its "progress" lines as its
 * progress; the zone shows migrating-out meanwhile.
 *
 * When the helper says "migrated HOSTID DOWNTIME" the guest runs on the destination:
 * the unit here stops as a halt whose ExecStopPost hands the zone's host data to
 * HOSTID (launch-request.h, handover), and the zone is detached here (configured).
 * A failed helper has rolled back: the guest runs on here. A Cancel while the helper
 * works sends it SIGTERM, and it rolls back the same way. */
#include <fcntl.h>
#include <signal.h>

#include "launch-request.h"
#include "log.h"
#include "remote.h"
#include "restarter.h"

static void migrate_unit_job_done(Job *j, bool ok, const char *result)
{
        Zone *z = j->zone;
        sd_bus_error e = SD_BUS_ERROR_NULL;

        zone_launch_ended(z);
        if (!ok) {
                /* the guest runs on the destination; the stop here failed */
                job_finish(j, -EIO, NULL, "the zone runs on %s now, but its unit here did not stop (systemd job %s); "
                        "halt it with 'zoneadm -z %s halt'", j->destination, result, z->name);
                return;
        }
        (void) zone_set_index_state(z, ZONE_STATE_CONFIGURED, &e);
        sd_bus_error_free(&e);
        (void) zone_note_migrating(z, NULL);
        job_finish(j, 0, NULL, NULL);
}

static void migrate_helper_done(Job *j, int status, const char *message)
{
        const char *line = message, *p;
        char hostid[9] = "";
        unsigned long long downtime = 0;
        int r;

        if (status != 0) {
                Zone *z = j->zone; /* the job lets go of it when it finished */

                /* 2: the guest stays paused here, as its destination could not say whether it
                 * runs there (a resolve); otherwise it goes on here and the migration is over */
                if (status != MIGRATE_HELPER_STILL_PAUSED)
                        (void) zone_note_migrating(z, NULL);
                bool resolved_here = streq_ptr(j->option, "resolve") && status != MIGRATE_HELPER_STILL_PAUSED;

                if (j->cancelling)
                        job_finish(j, -ECANCELED, KZ_ERROR_CANCELLED, "cancelled; the guest runs on here");
                else
                        job_finish(j, -EIO, NULL, "%s", *message ? message : "the migration failed");
                zone_update_aux(z);
                /* a resolve that continued the guest here: what it is now is asked again */
                if (resolved_here)
                        reconcile_zone(z, false);
                return;
        }
        /* the last line: "migrated HOSTID DOWNTIME_MS", or "dry-run HOSTID" */
        while ((p = strchr(line, '\n')))
                line = p + 1;
        if (startswith(line, "dry-run ")) {
                (void) zone_note_migrating(j->zone, NULL);
                job_set_message(j, "Dry run: the zone can migrate; nothing was changed on either host.");
                job_finish(j, 0, NULL, NULL);
                return;
        }
        if (sscanf(line, "migrated %8[0-9a-f] %llu", hostid, &downtime) != 2 || strlen(hostid) != 8) {
                job_finish(j, -EIO, NULL, "the migration helper ended without saying where the zone runs: %s",
                        message);
                return;
        }
        j->handover = strdup(hostid);
        if (!j->handover) {
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return;
        }
        job_set_message(j, "Halting and detaching zone on source host. (downtime %llu ms)", downtime);
        r = zone_request_handover(j->zone, j->handover);
        if (r >= 0)
                r = job_start_unit(j, "StopUnit");
        if (r < 0)
                job_finish(j, r, NULL, "the zone runs on %s now, but cannot stop its unit here: %s", j->destination,
                        strerror(-r));
}

static int migrate_cancel(Job *j, sd_bus_error *error)
{
        if (j->pid <= 0 || j->handover)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE,
                        "the zone runs on the destination already; it is being halted here");
        /* the helper rolls back (QEMU, kz-migr, the destination) and exits */
        if (kill(j->pid, SIGTERM) < 0)
                return -errno;
        job_set_message(j, "cancelling: the guest goes on here");
        return 0;
}

const JobType job_migrate = {
        .kind = "migrate",
        .unit_job_done = migrate_unit_job_done,
        .helper_done = migrate_helper_done,
        .cancel = migrate_cancel,
};

static void migrate_begin(Job *j)
{
        int r;

        job_set_message(j, "Checking migration compatibility.");
        /* for the check after a crash: the guest QEMU pauses at the end may run elsewhere */
        r = zone_note_migrating(j->zone, j->destination);
        if (r >= 0)
                r = job_run_helper2(j, "migrate-out", j->destination, j->option);
        if (r < 0) {
                (void) zone_note_migrating(j->zone, NULL);
                job_finish(j, r, NULL, "cannot start the migration helper: %s", strerror(-r));
        }
}

static void resolve_begin(Job *j)
{
        int r;

        job_set_message(j, "asking %s whether the guest runs there", j->destination);
        r = job_run_helper2(j, "migrate-out", j->destination, "resolve");
        if (r < 0)
                job_finish(j, r, NULL, "cannot start the migration helper: %s", strerror(-r));
}

int zone_resolve_migration(Zone *z, const char *destination)
{
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Job *j;
        int r;

        r = job_new(z, &job_migrate, NULL, &e, &j);
        if (r < 0)
                return r;
        j->destination = strdup(destination);
        j->option = strdup("resolve");
        if (!j->destination || !j->option) {
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return -ENOMEM;
        }
        log_warning("zone '%s': a live migration to %s ended while no restarter ran, with the guest paused here; "
                "asking the destination whether it runs there", z->name, destination);
        return job_start(j, NULL, resolve_begin);
}

/* Zone.Migrate(s destination, a{sv} options) -> o job; options: Cipher (s, default:
 * the first both hosts offer), Channels (u, 1–64, default 1), DryRun (b: every check
 * of the real run, the destination's zone started in migrating-in mode and stopped
 * again; nothing moves). */
int method_migrate(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(remote_uri_done) RemoteUri uri = {};
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        Zone *z = userdata;
        const char *dest, *cipher = "", *reason = NULL, *type = "auto", *kind = NULL;
        uint32_t channels = 1;
        int dry_run = false, overwrite = false, connection = -EBADF;
        uid_t uid;
        Job *j;
        int r;

        r = sd_bus_message_read(msg, "s", &dest);
        if (r < 0)
                return r;
        {
                const BusOption options[] = {
                        { "Cipher", "s", &cipher },         { "Channels", "u", &channels },
                        { "DryRun", "b", &dry_run },        { "Connection", "h", &connection },
                        { "Overwrite", "b", &overwrite },   { "Type", "s", &type },
                };

                r = bus_read_options(msg, "Migrate", options, ELEMENTSOF(options), error);
                if (r < 0)
                        return r;
        }
        if (remote_uri_parse(dest, &uri, &reason) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Migrate: the destination '%s' is not "
                        "ssh://[user@]host[:port]: %s", dest, strna(reason));
        if (strlen(cipher) > 32 || strspn(cipher, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(cipher))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Migrate: '%s' is not a cipher name",
                        cipher);
        if (channels < 1 || channels > LAUNCH_INCOMING_CHANNELS_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Migrate: Channels must be 1–%u",
                        LAUNCH_INCOMING_CHANNELS_MAX);
        /* root's helper reaches the destination with root's SSH identity; a zone
         * administrator's with the administrator's own, a connection zoneadm made and
         * passes (Connection): the destination checks its migrate auth there */
        r = bus_check_authorized(z, msg, "migrate", error);
        if (r < 0)
                return r;
        r = bus_caller_uid(msg, &uid, error);
        if (r < 0)
                return r;
        if (uid != 0 && connection < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                        "Migrate: a zone administrator's migration goes over the administrator's own connection to "
                        "the destination (the Connection option, as zoneadm passes it)");
        if (dry_run && overwrite)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Migrate: DryRun and Overwrite exclude "
                        "each other");
        /* the zone's state picks the kind: cold and warm in zone-migrate-cold.c */
        r = zone_migration_kind(z, type, &kind, error);
        if (r < 0)
                return r;
        if (!streq(kind, "live"))
                return zone_migrate_cold(z, msg, dest, kind, dry_run, overwrite, connection, error);
        r = zone_need_systemd(z, error);
        if (r < 0)
                return r;
        /* the destination builds the machine from the persistent configuration */
        r = zone_live_check_unchanged(z, "migrate it", error);
        if (r < 0)
                return r;
        r = zone_load_kz_config(z, &c, error);
        if (r < 0)
                return r;
        r = job_new(z, &job_migrate, msg, error, &j);
        if (r < 0)
                return r;
        j->destination = strdup(dest);
        if (connection >= 0) {
                j->connection_fd = fcntl(connection, F_DUPFD_CLOEXEC, 10);
                if (j->connection_fd < 0) {
                        r = -errno;
                        job_finish(j, r, NULL, "cannot keep the destination connection: %s", strerror(-r));
                        return r;
                }
        }
        if (!j->destination || asprintf(&j->option, "%s:%" PRIu32 "%s", cipher, channels,
                                               dry_run ? ":dry" : overwrite ? ":w" : "") < 0) {
                j->option = NULL;
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return -ENOMEM;
        }
        log_info("zone '%s': migrating to %s", z->name, dest);
        return job_start(j, msg, migrate_begin);
}
