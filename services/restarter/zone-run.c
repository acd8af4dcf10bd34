/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The jobs that start and stop a zone's guest: boot, halt, reboot, shutdown and
 * suspend, each a systemd job on zone@NAME.service, a QMP request or a helper. */
#include <fcntl.h>
#include <sys/stat.h>

#include "log.h"
#include "restarter.h"

/* ---- boot ------------------------------------------------------------------------------------ */

static void boot_unit_job_done(Job *j, bool ok, const char *result)
{
        Zone *z = j->zone;
        _cleanup_free_ char *why = NULL;

        if (ok) {
                job_finish(j, 0, NULL, NULL);
                return;
        }
        why = zone_boot_failure(z); /* a zone found unavailable is marked so */
        if (why && strchr(why, '\n')) /* the guide's lines, as they are */
                job_finish(j, -EIO, KZ_ERROR_BOOT_FAILED, "%s", why);
        else
                job_finish(j, -EIO, KZ_ERROR_BOOT_FAILED, "boot failed: %s (see 'journalctl -u %s')",
                        why ?: "the zone's unit did not start", z->unit);
}

/* A zone that takes its memory from a pool wants and starts after the pool's unit:
 * kzones-memory-reserve-generator writes that drop-in at boot and on every systemd
 * reload. If the zone's pool changed since, systemd reloads (the generator runs
 * again) before the zone's unit starts. See memory-reserve(8). */
static int on_pool_reloaded(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Job *j = userdata;
        int r;

        j->unit_call = sd_bus_slot_unref(j->unit_call);
        if (j->state != JOB_RUNNING)
                return 0;
        if (sd_bus_message_is_method_error(reply, NULL))
                log_warning("zone '%s': systemd did not reload (%s); starting without its pool's dependency",
                        j->zone->name, sd_bus_message_get_error(reply)->message);
        r = job_start_unit(j, "StartUnit");
        if (r < 0)
                job_finish(j, r, KZ_ERROR_BOOT_FAILED, "cannot ask systemd to start %s: %s", j->zone->unit,
                        strerror(-r));
        return 0;
}

static void boot_begin(Job *j)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *want = NULL, *have = NULL, *path = NULL;
        Zone *z = j->zone;
        size_t size;
        int r;

        /* boot arguments and -R for this start, taken once by kzones-zone exec */
        r = zone_request_boot(z, j->boot_args, j->fresh);
        if (r < 0) {
                job_finish(j, r, NULL, "cannot write the zone's launch request: %s", strerror(-r));
                return;
        }
        r = zone_load_config(z, &c, &error);
        if (r < 0) {
                job_finish(j, r, error.name, "%s", error.message ?: strerror(-r));
                return;
        }
        r = zone_pool_dropin(c, KZONES_LIBEXECDIR, &want);
        if (r >= 0 && !(path = manager_path(z->manager, ZONE_POOL_DROPIN_DIR "/%s.d/" ZONE_POOL_DROPIN, z->unit)))
                r = -ENOMEM;
        if (r < 0) {
                job_finish(j, r, KZ_ERROR_BOOT_FAILED, "cannot tell the zone's memory pool: %s", strerror(-r));
                return;
        }
        if (read_file_bounded(path, 4096, &have, &size) < 0)
                have = NULL;
        if (streq_ptr(want, have))
                r = job_start_unit(j, "StartUnit");
        else {
                log_info("zone '%s': its memory reservation pool changed; systemd reloads first", z->name);
                job_set_message(j, "waiting for systemd to reload (the zone's memory pool changed)");
                r = sd_bus_call_method_async(z->manager->bus, &j->unit_call, SYSTEMD_BUS, SYSTEMD_PATH,
                        SYSTEMD_MANAGER, "Reload", on_pool_reloaded, j, NULL);
        }
        if (r < 0)
                job_finish(j, r, KZ_ERROR_BOOT_FAILED, "cannot ask systemd to start %s: %s", z->unit, strerror(-r));
}

const JobType job_boot = {
        .kind = "boot",
        .unit_job_done = boot_unit_job_done,
};

static int boot(sd_bus_message *msg, Zone *z, bool fresh, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_strv_free_ char **args = NULL;
        Job *j;
        size_t len = 0;
        int r;

        r = sd_bus_message_read_strv(msg, &args);
        if (r < 0)
                return r;
        /* they end on the guest's kernel command line, which x86 Linux cuts at 2048 bytes */
        for (char **a = args; a && *a; a++) {
                len += strlen(*a) + 1;
                if (strpbrk(*a, "\n\r"))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "a boot argument may not contain a line break");
        }
        if (len > BOOT_ARGS_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "the boot arguments are %zu bytes long: at most %u fit the guest's command line", len,
                        BOOT_ARGS_MAX);
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        /* first: in maintenance mode no zone boots here, whatever its state */
        r = maintenance_check(z->manager, z->name, "boot", error);
        if (r < 0)
                return r;
        r = zone_need_state(z, error, ZONE_STATE_INSTALLED, "boot it");
        if (r < 0)
                return r;
        r = zone_need_systemd(z, error);
        if (r < 0)
                return r;
        r = zone_load_kz_config(z, &c, error);
        if (r < 0)
                return r;
        r = job_new(z, &job_boot, msg, error, &j);
        if (r < 0)
                return r;
        j->boot_args = TAKE_PTR(args);
        j->fresh = fresh;
        log_info("zone '%s': booting", z->name);
        return job_start(j, msg, boot_begin);
}

int method_boot(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return boot(msg, userdata, false, error);
}

int method_boot_fresh(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return boot(msg, userdata, true, error);
}

/* ---- halt and reboot ---------------------------------------------------------------------------- */

static void stop_unit_job_done(Job *j, bool ok, const char *result)
{
        zone_launch_ended(j->zone); /* what its ExecStop and ExecStopPost found */
        if (ok)
                job_finish(j, 0, NULL, NULL);
        else
                job_finish(j, -EIO, NULL, "%s failed: systemd job %s", j->type->kind, result);
}

const JobType job_halt = {
        .kind = "halt",
        .unit_job_done = stop_unit_job_done,
};

const JobType job_reboot = {
        .kind = "reboot",
        .unit_job_done = boot_unit_job_done,
};

static void halt_begin(Job *j)
{
        int r;

        (void) zone_request_halt(j->zone); /* ExecStop cuts the guest off */
        r = job_start_unit(j, j->type == &job_halt ? "StopUnit" : "RestartUnit");
        if (r < 0)
                job_finish(j, r, NULL, "cannot ask systemd to %s %s: %s", j->type->kind, j->zone->unit, strerror(-r));
}

static int stop_like(sd_bus_message *msg, Zone *z, const JobType *type, sd_bus_error *error)
{
        Job *j;
        int r;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        /* a halt is what an administrator does when a shutdown takes too long */
        if (type == &job_halt && z->job && z->job->type == &job_shutdown && !z->job->unit_job)
                job_finish(z->job, -ECANCELED, KZ_ERROR_BUSY, "the shutdown was interrupted by a halt");
        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        if (z->state != ZONE_STATE_RUNNING && z->state != ZONE_STATE_READY &&
            !(type == &job_halt && z->state == ZONE_STATE_SHUTTING_DOWN))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s, not running",
                        zone_state_to_string(z->state));
        r = zone_need_systemd(z, error);
        if (r < 0)
                return r;
        r = job_new(z, type, msg, error, &j);
        if (r < 0)
                return r;
        log_info("zone '%s': %s", z->name, type->kind);
        return job_start(j, msg, halt_begin);
}

int method_halt(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return stop_like(msg, userdata, &job_halt, error);
}

int method_reboot(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return stop_like(msg, userdata, &job_reboot, error);
}

/* ---- shutdown: the power button, then wait for the unit to stop ---------------------------------- */

static void shutdown_unit_state_changed(Job *j)
{
        Zone *z = j->zone;
        int r;

        if (!j->powered_down || j->unit_job || j->unit_call)
                return;
        if (!z->active_state || !(streq(z->active_state, "inactive") || streq(z->active_state, "failed")))
                return;
        j->timer = sd_event_source_disable_unref(j->timer);
        j->powered_down = false;
        if (!j->reboot) {
                job_finish(j, 0, NULL, NULL);
                return;
        }
        r = job_start_unit(j, "StartUnit");
        if (r < 0)
                job_finish(j, r, KZ_ERROR_BOOT_FAILED, "cannot boot the zone again: %s", strerror(-r));
}

const JobType job_shutdown = {
        .kind = "shutdown",
        .unit_job_done = boot_unit_job_done, /* the start after a shutdown -r */
        .unit_state_changed = shutdown_unit_state_changed,
};

static void shutdown_begin(Job *j)
{
        int r;

        r = job_powerdown(j, j->timeout_usec ?: DEFAULT_SHUTDOWN_TIMEOUT_USEC);
        if (r < 0)
                job_finish(j, r, NULL, "cannot reach the guest's monitor: %s", strerror(-r));
}

int method_shutdown(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        Job *j;
        int reboot;
        uint64_t timeout;
        int r;

        r = sd_bus_message_read(msg, "bt", &reboot, &timeout);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = zone_need_state(z, error, ZONE_STATE_RUNNING, "shut it down");
        if (r < 0)
                return r;
        r = zone_need_systemd(z, error);
        if (r < 0)
                return r;
        r = job_new(z, &job_shutdown, msg, error, &j);
        if (r < 0)
                return r;
        j->reboot = reboot;
        j->timeout_usec = timeout;
        log_info("zone '%s': shutting down%s", z->name, reboot ? " for a reboot" : "");
        return job_start(j, msg, shutdown_begin);
}

/* ---- suspend: the helper writes the guest's state, then the unit stops ------------------------------ */

static void suspend_helper_done(Job *j, int status, const char *message)
{
        int r;

        if (status != 0) {
                job_finish(j, -EIO, NULL, "%s", *message ? message : "the zone helper failed");
                return;
        }
        /* the state is saved and the guest paused: stop the unit, as a halt */
        (void) zone_request_halt(j->zone); /* ExecStop cuts the guest off */
        r = job_start_unit(j, "StopUnit");
        if (r < 0)
                job_finish(j, r, NULL, "cannot stop the suspended zone: %s", strerror(-r));
}

/* While the helper writes the image the guest can go on: the helper is stopped,
 * and the zone's check (reconcile.c) cancels QEMU's migration to the image,
 * removes the partial image and lets the guest run. Once the image is complete the
 * suspend is as good as done: it finishes. */
static int suspend_cancel(Job *j, sd_bus_error *error)
{
        _cleanup_free_ char *marker = manager_path(j->manager, "/var/lib/kzones/%s.suspended", j->zone->name);
        Zone *z = j->zone;

        if (!marker)
                return -ENOMEM;
        /* the helper writes the marker once the image is sealed: from then on the suspend finishes */
        if (j->pid <= 0 || access(marker, F_OK) >= 0)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE,
                        "the guest's state is written already; the zone is being stopped");
        job_kill_helper(j);
        job_finish(j, -ECANCELED, KZ_ERROR_CANCELLED, "cancelled; the guest runs on");
        reconcile_zone(z, false);
        return 0;
}

const JobType job_suspend = {
        .kind = "suspend",
        .unit_job_done = stop_unit_job_done,
        .helper_done = suspend_helper_done,
        .cancel = suspend_cancel,
};

static void suspend_begin(Job *j)
{
        int r;

        job_set_message(j, "writing the guest's state");
        /* for the check after a crash: a suspend helper runs (removed when it ended) */
        r = zone_note_suspending(j->zone, true);
        if (r >= 0)
                r = job_run_helper(j, "suspend", NULL);
        if (r < 0) {
                (void) zone_note_suspending(j->zone, false);
                job_finish(j, r, NULL, "cannot suspend: %s", strerror(-r));
        }
}

int method_suspend(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        Zone *z = userdata;
        Job *j;
        int r;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = zone_need_state(z, error, ZONE_STATE_RUNNING, "suspend it");
        if (r < 0)
                return r;
        r = zone_live_check_unchanged(z, "suspend it", error);
        if (r < 0)
                return r;
        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        if (!zone_resource_first(c->root, resource_type_child(zone_type(), "suspend")))
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                        "the zone has no suspend resource; add one with zonecfg (add suspend; set path=…; end)");
        r = job_new(z, &job_suspend, msg, error, &j);
        if (r < 0)
                return r;
        log_info("zone '%s': suspending", z->name);
        return job_start(j, msg, suspend_begin);
}
