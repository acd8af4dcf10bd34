/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reconciliation: what a restarter killed at any moment (and the helpers, which
 * die with it) left half done is made true again when a restarter starts, and
 * whenever it learns that a zone's unit became active without an operation of its
 * own.
 *
 *  - A zone whose unit runs: its guest is asked over QMP how it is. A live
 *    migration out that no helper follows any more (ZONE_MIGRATING_NOTE) is
 *    cancelled while it runs, so the guest goes on here; one that completed left
 *    the guest paused here and perhaps running at the destination, so it is never
 *    simply continued: a migrate job asks the destination (zone_resolve_migration)
 *    and either hands the zone over there or continues the guest here. A guest that
 *    an interrupted suspend left paused (QEMU's postmigrate or finish-migrate, or
 *    paused with the suspending note still there) is continued, unless the
 *    suspend marker was written: then the suspension is complete and the unit is
 *    stopped, as the helper's restarter would have done. A migration into the
 *    helper's pipe that nobody reads any more ends by itself (QEMU's write fails);
 *    one that has not ended after a second is cancelled. A guest that stays
 *    paused is shown as such: 'running' with the auxiliary state 'paused'.
 *  - A zone whose unit does not run: a launch request left for a start or a stop
 *    that never came is removed, and the launch result of a start that failed
 *    while no restarter ran is taken (the zone may be unavailable).
 *  - Either way: a suspend image that was never sealed (PATH.partial) is
 *    removed, and an incomplete zone's record of created files forgets files
 *    that were never made.
 *
 * Nothing here waits: QMP is asynchronous and bounded by a deadline. */
#include <fcntl.h>
#include <sys/stat.h>

#include "launch-request.h"
#include "zone-live.h"
#include "log.h"
#include "restarter.h"

#define RECONCILE_TIMEOUT_USEC (15ull * 1000000)
#define RECONCILE_POLL_USEC (200ull * 1000)
#define RECONCILE_CANCEL_AFTER 5u /* polls of a suspend's migration nobody feeds, before it is cancelled */
#define RECONCILE_CONT_MAX 3u

/* Files in ROOT/run/kzones/NAME that mean nothing once no start or stop is coming
 * (the launch request, the suspending and migrating notes): a new start or stop writes them again. */
static const char *const notes_not_running[] = {
        LAUNCH_REQUEST_FILE, ZONE_SUSPENDING_NOTE, ZONE_MIGRATING_NOTE, ZONE_INCOMING_RUNNING_NOTE,
        ZONE_LIVE_CONFIG, ZONE_LIVE_GENERATION, ZONE_LIVE_NEXT, ZONE_LIVE_RESHAPED, NULL,
};
/* and those a running unit has read already (its id stays) */
static const char *const notes_running[] = {
        LAUNCH_REQUEST_FILE, NULL,
};

bool zone_run_file_exists(Zone *z, const char *file)
{
        _cleanup_free_ char *p = manager_path(z->manager, ZONE_RUN_DIR "/%s/%s", z->name, file);

        return p && access(p, F_OK) >= 0;
}

static void remove_notes(Zone *z, const char *const *notes)
{
        for (const char *const *n = notes; *n; n++) {
                _cleanup_free_ char *p = manager_path(z->manager, ZONE_RUN_DIR "/%s/%s", z->name, *n);

                if (p && unlink(p) >= 0)
                        log_info("zone '%s': removed %s, left by an interrupted operation", z->name, p);
        }
}

/* The suspend image a killed helper did not finish. Every zone that is not running
 * is looked at when the restarter starts: its suspend resource alone is read, not
 * the whole configuration. */
static void remove_partial_image(Zone *z)
{
        _cleanup_free_ char *path = NULL, *partial = NULL;

        if (zone_config_suspend_image(z->manager, z->name, &path) < 0 ||
            asprintf(&partial, "%s" ZONE_SUSPEND_PARTIAL_SUFFIX, path) < 0)
                return;
        if (unlink(partial) >= 0)
                log_info("zone '%s': removed %s, the image of an interrupted suspend", z->name, partial);
}

void reconcile_created_record(Zone *z)
{
        _cleanup_free_ char *file = manager_path(z->manager, "/var/lib/kzones/%s.created", z->name), *buf = NULL,
                            *keep = NULL;
        char *save = NULL;
        size_t size, n = 0;
        bool dropped = false;
        int r;

        if (!file || read_file_bounded(file, 64 * 1024, &buf, &size) < 0)
                return;
        keep = malloc(size + 1);
        if (!keep)
                return;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct stat st;

                if (lstat(line, &st) < 0 && errno == ENOENT) {
                        log_info("zone '%s': %s was recorded as created but never made; forgotten", z->name, line);
                        dropped = true;
                        continue;
                }
                n += (size_t) sprintf(keep + n, "%s\n", line);
        }
        if (!dropped)
                return;
        r = n == 0 ? (unlink(file) < 0 ? -errno : 0) : write_file_atomic(file, keep, n, 0600);
        if (r < 0)
                log_warning("zone '%s': cannot rewrite %s: %s", z->name, file, strerror(-r));
}

/* ---- a zone whose unit runs: its guest ------------------------------------------------------- */

void reconcile_stop(Zone *z)
{
        Qmp *q = TAKE_PTR(z->reconcile_qmp);

        /* pending replies are failed now; their callbacks see that z->reconcile_qmp is not theirs */
        qmp_close(q);
        z->reconcile_timer = sd_event_source_disable_unref(z->reconcile_timer);
        z->reconcile_deadline = sd_event_source_disable_unref(z->reconcile_deadline);
        if (z->reconcile_counted) {
                z->reconcile_counted = false;
                manager_reconciled(z->manager);
        }
}

static void set_guest_status(Zone *z, const char *status)
{
        if (streq_ptr(z->guest_status, status))
                return;
        free(z->guest_status);
        z->guest_status = status ? strdup(status) : NULL;
        zone_update_aux(z);
}

static void poll_guest(Zone *z);

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Zone *z = userdata;

        z->reconcile_timer = sd_event_source_disable_unref(z->reconcile_timer);
        poll_guest(z);
        return 0;
}

static void poll_again(Zone *z)
{
        int r;

        z->reconcile_timer = sd_event_source_disable_unref(z->reconcile_timer);
        r = sd_event_add_time_relative(z->manager->event, &z->reconcile_timer, CLOCK_MONOTONIC, RECONCILE_POLL_USEC,
                0, on_poll_timer, z);
        if (r < 0) {
                log_warning("zone '%s': cannot arm a timer to check the guest again: %s", z->name, strerror(-r));
                reconcile_stop(z);
        }
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
        Zone *z = userdata;

        log_warning("zone '%s': its guest's monitor did not answer in %llu s; its state is not known", z->name,
                RECONCILE_TIMEOUT_USEC / 1000000ull);
        reconcile_stop(z);
        return 0;
}

static int on_stopped_suspended(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        char *name = userdata;

        if (sd_bus_message_is_method_error(reply, NULL))
                log_error("zone '%s': cannot stop the suspended zone: %s", name,
                        sd_bus_message_get_error(reply)->message);
        free(name);
        return 0;
}

/* The image is sealed and the marker written: the suspend is done but for the
 * stop, which is done now, as a halt (the guest is paused and saved). */
static void finish_suspend(Zone *z)
{
        char *name = strdup(z->name);
        int r;

        log_info("zone '%s': an interrupted suspend had saved the guest's state; stopping the zone", z->name);
        if (!name)
                return;
        r = zone_request_halt(z);
        if (r >= 0)
                r = sd_bus_call_method_async(z->manager->bus, NULL, SYSTEMD_BUS,
                        SYSTEMD_PATH, SYSTEMD_MANAGER, "StopUnit",
                        on_stopped_suspended, name, "ss", z->unit, "replace");
        if (r < 0) {
                log_error("zone '%s': cannot stop the suspended zone: %s", z->name, strerror(-r));
                free(name);
        }
}

static bool migration_running(const char *s)
{
        return s && !streq(s, "none") && !streq(s, "completed") && !streq(s, "failed") && !streq(s, "cancelled");
}

static void decide(Zone *z, const char *status, const char *migration);

static void on_cont(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Zone *z = userdata;

        if (q != z->reconcile_qmp)
                return;
        if (!reply)
                log_warning("zone '%s': the guest could not be continued: %s", z->name, strna(error));
        poll_guest(z); /* what it is now */
}

static void on_cancelled(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Zone *z = userdata;

        if (q != z->reconcile_qmp)
                return;
        if (!reply)
                log_warning("zone '%s': the interrupted suspend's migration could not be cancelled: %s", z->name,
                        strna(error));
        poll_again(z);
}

static void on_query_migrate(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Zone *z = userdata;
        json_object *v;
        _cleanup_free_ char *status = NULL;

        if (q != z->reconcile_qmp)
                return;
        if (!reply) {
                log_warning("zone '%s': cannot ask the guest about migrations: %s", z->name, strna(error));
                reconcile_stop(z);
                return;
        }
        status = TAKE_PTR(z->guest_status); /* held here between the two replies */
        decide(z, status, json_object_object_get_ex(reply, "status", &v) ? json_object_get_string(v) : NULL);
}

static void on_query_status(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Zone *z = userdata;
        json_object *v;
        int r;

        if (q != z->reconcile_qmp)
                return;
        if (!reply || !json_object_object_get_ex(reply, "status", &v)) {
                log_warning("zone '%s': cannot ask the guest how it is: %s", z->name, strna(error));
                reconcile_stop(z);
                return;
        }
        /* kept without a notice until query-migrate answers */
        free(z->guest_status);
        z->guest_status = strdup(json_object_get_string(v));
        r = z->guest_status ? qmp_execute(q, "query-migrate", NULL, on_query_migrate, z) : -ENOMEM;
        if (r < 0) {
                log_warning("zone '%s': cannot ask the guest about migrations: %s", z->name, strerror(-r));
                reconcile_stop(z);
        }
}

static void poll_guest(Zone *z)
{
        int r = qmp_execute(z->reconcile_qmp, "query-status", NULL, on_query_status, z);

        if (r < 0) {
                log_warning("zone '%s': cannot ask the guest how it is: %s", z->name, strerror(-r));
                reconcile_stop(z);
        }
}

static void decide(Zone *z, const char *status, const char *migration)
{
        bool note = zone_run_file_exists(z, ZONE_SUSPENDING_NOTE);
        bool migrating = zone_run_file_exists(z, ZONE_MIGRATING_NOTE);
        _cleanup_free_ char *marker = manager_path(z->manager, "/var/lib/kzones/%s.suspended", z->name);
        int r;

        if (migration_running(migration) && (note || migrating)) {
                /* no helper of ours runs now: a suspend's stream ends by itself, as its reader is
                 * gone; one that does not, and a live migration that nobody follows, is
                 * cancelled. Another's migration is left alone. */
                if (++z->reconcile_polls == RECONCILE_CANCEL_AFTER) {
                        log_info("zone '%s': the interrupted %s's migration (%s) goes on; cancelling it", z->name,
                                note ? "suspend" : "live migration", migration);
                        r = qmp_execute(z->reconcile_qmp, "migrate_cancel", NULL, on_cancelled, z);
                        if (r < 0)
                                poll_again(z);
                        return;
                }
                set_guest_status(z, status);
                poll_again(z);
                return;
        }
        if (!migration_running(migration) && migrating &&
            (streq(status, "postmigrate") || streq(status, "finish-migrate"))) {
                _cleanup_free_ char *destination = zone_read_migrating_note(z);

                /* the guest may run at the destination now: never continued blindly */
                set_guest_status(z, status);
                reconcile_stop(z);
                r = destination ? zone_resolve_migration(z, destination) : -ENOENT;
                if (r < 0)
                        log_error("zone '%s': an interrupted live migration left the guest paused; cannot ask its "
                                "destination whether it runs there (%s): halt it here only once you know",
                                z->name, destination ? strerror(-r) : "the note names none");
                return;
        }
        if (migrating)
                remove_notes(z, (const char *const[]) { ZONE_MIGRATING_NOTE, NULL });
        if (!migration_running(migration) &&
            (streq(status, "postmigrate") || streq(status, "finish-migrate") || (note && streq(status, "paused")))) {
                if (marker && access(marker, F_OK) >= 0) {
                        set_guest_status(z, status);
                        remove_notes(z, (const char *const[]) { ZONE_SUSPENDING_NOTE, NULL });
                        remove_partial_image(z);
                        finish_suspend(z);
                        reconcile_stop(z);
                        return;
                }
                if (z->reconcile_conts++ < RECONCILE_CONT_MAX) {
                        log_info("zone '%s': an interrupted suspend left the guest paused (%s); continuing it", z->name,
                                status);
                        r = qmp_execute(z->reconcile_qmp, "cont", NULL, on_cont, z);
                        if (r >= 0)
                                return;
                        log_warning("zone '%s': cannot continue the guest: %s", z->name, strerror(-r));
                }
        }
        /* settled: what the guest is now is what the restarter says */
        set_guest_status(z, status);
        if (note) {
                remove_notes(z, (const char *const[]) { ZONE_SUSPENDING_NOTE, NULL });
                remove_partial_image(z);
        }
        remove_notes(z, notes_running);
        if (!streq(status, "running"))
                log_warning("zone '%s': its guest is %s", z->name, status);
        reconcile_stop(z);
}

static void reconcile_running(Zone *z, bool startup)
{
        _cleanup_free_ char *sock = manager_path(z->manager, ZONE_RUN_DIR "/%s/" ZONE_QMP_SOCKET, z->name);
        int r;

        if (!sock)
                return;
        r = qmp_connect(z->manager->event, sock, NULL, NULL, NULL, &z->reconcile_qmp);
        if (r >= 0)
                r = sd_event_add_time_relative(z->manager->event, &z->reconcile_deadline, CLOCK_MONOTONIC,
                        RECONCILE_TIMEOUT_USEC, 0, on_deadline, z);
        if (r < 0) {
                log_warning("zone '%s': cannot reach its guest's monitor %s: %s", z->name, sock, strerror(-r));
                reconcile_stop(z);
                return;
        }
        z->reconcile_polls = 0;
        z->reconcile_conts = 0;
        if (startup) {
                z->reconcile_counted = true;
                z->manager->reconciling++;
        }
        poll_guest(z);
}

void reconcile_zone(Zone *z, bool startup)
{
        const char *a = z->active_state;

        if (z->job || z->reconcile_qmp)
                return;
        if (a && streq(a, "active")) {
                reconcile_running(z, startup);
                return;
        }
        if (!startup)
                return;
        /* at start: a zone whose unit is not running, starting or stopping (without
         * systemd no unit runs; with it, a unit whose state is not known is left alone) */
        if (a ? !streq(a, "inactive") && !streq(a, "failed") : z->manager->have_systemd > 0)
                return;
        remove_notes(z, notes_not_running);
        zone_launch_ended(z); /* a start that failed while no restarter ran */
        remove_partial_image(z);
        if (z->index_state == ZONE_STATE_INCOMPLETE)
                reconcile_created_record(z);
}
