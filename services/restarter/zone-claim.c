/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a zone holds on this host: the disks install and clone created (and only
 * those are removed again), its runtime directory, and its claim on its boot
 * storage (host data): the uninstall, attach and detach jobs. */
#include <fcntl.h>
#include <sys/stat.h>

#include "launch-request.h"
#include "log.h"
#include "mkdir.h"
#include "restarter.h"
#include "storage-uri.h"

/* Removes exactly what install or clone created, and the record of it. */
static int uninstall_remove_created(Zone *z, bool force, sd_bus_error *error)
{
        _cleanup_free_ char *record = manager_path(z->manager, "/var/lib/kzones/%s.created", z->name), *buf = NULL;
        char *save = NULL;
        size_t size;

        if (!record)
                return -ENOMEM;
        if (read_file_bounded(record, 64 * 1024, &buf, &size) >= 0)
                for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        struct stat st;
                        _cleanup_free_ char *dir = NULL;

                        if (lstat(line, &st) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        if (unlink(line) < 0) {
                                if (!force)
                                        return sd_bus_error_set_errnof(error, errno, "cannot remove %s: %m", line);
                                continue;
                        }
                        log_info("zone '%s': removed %s", z->name, line);
                        dir = strdup(line);
                        if (dir && strrchr(dir, '/')) {
                                *strrchr(dir, '/') = 0;
                                (void) rmdir(dir); /* the zone's own directory, if now empty */
                        }
                }
        (void) unlink(record);
        return 0;
}

static int uninstall_finish(Zone *z, bool force, sd_bus_error *error)
{
        int r;

        r = uninstall_remove_created(z, force, error);
        if (r >= 0)
                r = zone_set_index_state(z, ZONE_STATE_CONFIGURED, error);
        if (r >= 0)
                log_info("zone '%s' uninstalled", z->name);
        return r;
}


/* What install and clone created, so that uninstall removes exactly that and
 * never a disk the administrator provided: ROOT/var/lib/kzones/NAME.created. */
bool zone_created(Zone *z, const char *path)
{
        _cleanup_free_ char *file = manager_path(z->manager, "/var/lib/kzones/%s.created", z->name), *buf = NULL;
        char *save = NULL;
        size_t size;

        if (!file || read_file_bounded(file, 64 * 1024, &buf, &size) < 0)
                return false;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (streq(line, path))
                        return true;
        return false;
}

int zone_record_created(Zone *z, const char *path)
{
        _cleanup_free_ char *file = manager_path(z->manager, "/var/lib/kzones/%s.created", z->name), *dir = NULL,
                            *line = NULL;

        if (!file || !(dir = manager_path(z->manager, "/var/lib/kzones")))
                return -ENOMEM;
        if (zone_created(z, path))
                return 0;
        (void) mkdir_p_full(dir, 0755, 0700);
        {
                _cleanup_free_ char *old = NULL;
                size_t size = 0;

                if (read_file_bounded(file, 64 * 1024, &old, &size) < 0)
                        old = NULL;
                if (asprintf(&line, "%s%s\n", old ?: "", path) < 0)
                        return -ENOMEM;
        }
        return write_file_atomic(file, line, strlen(line), 0600);
}

int zone_forget_created(Zone *z, const char *path)
{
        _cleanup_free_ char *file = manager_path(z->manager, "/var/lib/kzones/%s.created", z->name), *buf = NULL,
                            *keep = NULL;
        char *save = NULL;
        size_t size, n = 0;

        if (!file)
                return -ENOMEM;
        if (read_file_bounded(file, 64 * 1024, &buf, &size) < 0)
                return 0;
        keep = malloc(size + 1);
        if (!keep)
                return -ENOMEM;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (!streq(line, path))
                        n += (size_t) sprintf(keep + n, "%s\n", line);
        if (n == 0)
                return unlink(file) < 0 && errno != ENOENT ? -errno : 0;
        return write_file_atomic(file, keep, n, 0600);
}

/* The zone's own runtime directory, ROOT/run/kzones/NAME: every per-zone runtime
 * file (boot arguments, notes for the launcher, its failure) lives in it, so no
 * zone's name can reach another zone's files. zone@.service keeps it (its
 * RuntimeDirectory=, preserved). */
int zone_make_run_dir(Zone *z)
{
        _cleanup_free_ char *dir = manager_path(z->manager, ZONE_RUN_DIR "/%s", z->name);

        if (!dir)
                return -ENOMEM;
        return mkdir_p_full(dir, 0755, 0750);
}


/* ---- uninstall ---------------------------------------------------------------------------------- */

static void uninstall_finish_job(Job *j)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = uninstall_finish(j->zone, j->force, &error);
        if (r < 0)
                job_finish(j, r, error.name, "%s", error.message ?: strerror(-r));
        else
                job_finish(j, 0, NULL, NULL);
}

/* The host data released (kzones-zone detach): the zone's storage stays, and no
 * host may be kept from attaching it. With -F what cannot be released is left. */
static void uninstall_helper_done(Job *j, int status, const char *message)
{
        const char *msg = *message ? message : "the zone helper failed";

        if (status != 0) {
                if (!j->force) {
                        job_finish(j, -EIO, status == LAUNCH_EXIT_UNAVAILABLE ? KZ_ERROR_UNAVAILABLE : KZ_ERROR_IN_USE,
                                "%s\nthe zone's host data was not released; 'zoneadm uninstall -F' uninstalls it "
                                "anyway", msg);
                        return;
                }
                log_warning("zone '%s': its host data was not released (%s); uninstalled anyway (-F)", j->zone->name,
                        msg);
        }
        uninstall_finish_job(j);
}

const JobType job_uninstall = {
        .kind = "uninstall",
        .helper_done = uninstall_helper_done,
};

static void uninstall_begin(Job *j)
{
        int r;

        if (!j->option) {
                uninstall_finish_job(j);
                return;
        }
        job_set_message(j, "releasing the host data on %s", j->option);
        r = job_run_helper(j, "detach", NULL);
        if (r < 0)
                job_finish(j, r, NULL, "cannot release the zone's host data: %s", strerror(-r));
}

int method_uninstall(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = NULL, *local = NULL;
        Zone *z = userdata;
        const char *a = z->active_state;
        Job *j;
        int force, r;

        r = sd_bus_message_read(msg, "b", &force);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        /* an incomplete zone is what an interrupted install or clone left; one whose installer
         * runs is not uninstalled under it */
        if (z->state != ZONE_STATE_INSTALLED && !(force && z->state == ZONE_STATE_UNAVAILABLE) &&
            !(z->state == ZONE_STATE_INCOMPLETE && (!a || streq(a, "inactive") || streq(a, "failed"))))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; only an installed zone that is "
                        "not running can be uninstalled", zone_state_to_string(z->state));

        /* storage that install did not create stays: its host data is released, so that
         * another host that shares it attaches the zone without force-takeover */
        r = zone_load_config(z, &c, error);
        if (r < 0 && !force)
                return r;
        sd_bus_error_free(error);
        if (r >= 0) {
                r = zone_boot_storage(z, c, &u, &uri, &local, error);
                if (r < 0 && !force)
                        return r;
                sd_bus_error_free(error);
        }
        r = job_new(z, &job_uninstall, msg, error, &j);
        if (r < 0)
                return r;
        j->force = force;
        if (u && !(local && (zone_created(z, local) || (u->scheme == STORAGE_FILE && access(local, F_OK) < 0)))) {
                /* the storage to release, named in the job's message */
                j->option = TAKE_PTR(uri);
                log_info("zone '%s': uninstalling; releasing its host data on %s", z->name, j->option);
        }
        return job_start(j, msg, uninstall_begin);
}

/* ---- attach and detach ---------------------------------------------------------------------------- */

static void attach_helper_done(Job *j, int status, const char *message)
{
        if (status != 0) {
                job_storage_helper_failed(j, status, message);
                return;
        }
        job_finish(j, 0, NULL, NULL);
}

const JobType job_attach = {
        .kind = "attach",
        .helper_done = attach_helper_done,
};

const JobType job_detach = {
        .kind = "detach",
        .helper_done = attach_helper_done,
};

static void attach_begin(Job *j)
{
        int r;

        job_set_message(j, j->type == &job_attach ? "claiming the host data" : "releasing the host data");
        /* the destination of a warm migration: the suspend image becomes its own first
         * (services/zone/migrate-cold.c), then the same claim */
        if (streq_ptr(j->option, "resume-suspended"))
                r = job_run_helper(j, "attach-suspended", NULL);
        else
                r = job_run_helper(j, j->type->kind, j->option);
        if (r < 0)
                job_finish(j, r, NULL, "cannot %s: %s", j->type->kind, strerror(-r));
}

int method_attach(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        const char *key, *option = NULL;
        bool migration = false;
        Job *j;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                int on;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "migration")) {
                        r = bus_read_option(msg, "attach", key, "b", &on, error);
                        if (r < 0)
                                return r;
                        migration = on;
                        r = sd_bus_message_exit_container(msg);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!streq(key, "force-takeover") && !streq(key, "initialize-hostdata") &&
                    !streq(key, "resume-suspended"))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "unknown attach option '%s'", key);
                r = bus_read_option(msg, "attach", key, "b", &on, error);
                if (r < 0)
                        return r;
                if (on) {
                        if (option)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "force-takeover, initialize-hostdata and resume-suspended exclude each other");
                        option = streq(key, "force-takeover")        ? "force-takeover"
                                 : streq(key, "initialize-hostdata") ? "initialize-hostdata"
                                                                     : "resume-suspended";
                }
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        /* the destination's half of a cold or warm migration is the migrate auth's, as
         * PrepareIncoming is for a live one; taking a zone from its holder or making a
         * new key stays the manage auth's */
        r = bus_check_authorized(z, msg,
                migration && (!option || streq(option, "resume-suspended")) ? "migrate" : "manage", error);
        if (r < 0)
                return r;
        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        if (z->state != ZONE_STATE_CONFIGURED && z->state != ZONE_STATE_UNAVAILABLE &&
            !(z->state == ZONE_STATE_INSTALLED && option && !streq(option, "resume-suspended")))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; only a configured (detached) or "
                        "unavailable zone can be attached", zone_state_to_string(z->state));
        r = maintenance_check(z->manager, z->name, "attach", error);
        if (r < 0)
                return r;
        r = job_new(z, &job_attach, msg, error, &j);
        if (r < 0)
                return r;
        if (option && !(j->option = strdup(option))) {
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return -ENOMEM;
        }
        log_info("zone '%s': attaching%s%s", z->name, option ? " with " : "", option ?: "");
        return job_start(j, msg, attach_begin);
}

int method_detach(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        Job *j;
        int r;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = zone_need_state(z, error, ZONE_STATE_INSTALLED, "detach it");
        if (r < 0)
                return r;
        r = job_new(z, &job_detach, msg, error, &j);
        if (r < 0)
                return r;
        log_info("zone '%s': detaching", z->name);
        return job_start(j, msg, attach_begin);
}
