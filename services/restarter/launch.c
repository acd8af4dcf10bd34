/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The restarter's side of what passes between it and a zone's unit (launch-request.h):
 * the launch request it writes before it asks systemd to start or stop the unit, and
 * the launch result it takes when a start failed. The restarter alone writes
 * /etc/zones/index: what the launcher and the helpers found (a zone unavailable here,
 * attached, detached) reaches the index through here, for that one zone. */
#include <fcntl.h>
#include <sys/stat.h>

#include "launch-request.h"
#include "log.h"
#include "restarter.h"

static char *zone_run_dir(Zone *z)
{
        return manager_path(z->manager, ZONE_RUN_DIR "/%s", z->name);
}

static int zone_write_launch_request(Zone *z, const LaunchRequest *req)
{
        _cleanup_free_ char *dir = zone_run_dir(z);
        int r;

        if (!dir)
                return -ENOMEM;
        r = zone_make_run_dir(z);
        if (r < 0)
                return r;
        return launch_request_write(dir, req);
}

int zone_request_boot(Zone *z, char **boot_args, bool fresh)
{
        LaunchRequest req = {
                .boot_args = boot_args && *boot_args ? boot_args : NULL,
                .fresh = fresh,
        };

        return zone_write_launch_request(z, &req);
}

int zone_request_installer(Zone *z, int installer_fd)
{
        char path[64];
        struct stat st;
        LaunchRequest req = {};

        /* the launcher reads the medium through the descriptor we hold (the caller
         * opened it, or root named it), and checks that it is still the same file */
        if (fstat(installer_fd, &st) < 0)
                return -errno;
        (void) snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) getpid(), installer_fd);
        req.installer = (LaunchInstaller) { .path = path, .dev = st.st_dev, .ino = st.st_ino };
        return zone_write_launch_request(z, &req);
}

int zone_request_halt(Zone *z)
{
        /* the unit's ExecStop cuts the guest off instead of asking it to power down */
        return zone_write_launch_request(z, &(LaunchRequest) { .halt = true });
}

int zone_request_handover(Zone *z, const char *hostid)
{
        return zone_write_launch_request(z, &(LaunchRequest) { .halt = true, .handover = (char *) hostid });
}

int zone_request_incoming(Zone *z, const char *id, uint32_t channels)
{
        _cleanup_free_ char *sock = manager_path(z->manager, ZONE_RUN_DIR "/%s/" ZONE_INCOMING_SOCKET, z->name),
                            *uri = NULL;
        LaunchRequest req = {};

        if (!sock || asprintf(&uri, "unix:%s", sock) < 0)
                return -ENOMEM;
        req.incoming = (LaunchIncoming) { .migration_id = (char *) id, .uri = uri, .channels = channels };
        return zone_write_launch_request(z, &req);
}

static void zone_mark_unavailable(Zone *z, const char *why)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;

        if (z->index_state == ZONE_STATE_UNAVAILABLE)
                return;
        log_warning("zone '%s' is unavailable on this host: %s", z->name, why);
        (void) zone_set_index_state(z, ZONE_STATE_UNAVAILABLE, &error);
        sd_bus_error_free(&error);
}

char *zone_take_launch_result(Zone *z)
{
        _cleanup_free_ char *dir = zone_run_dir(z);
        LaunchResult res = {};
        KzError e = {};
        char *reason;
        int r;

        if (!dir)
                return NULL;
        r = launch_result_take(dir, &res, &e);
        if (r == -ENOENT)
                return NULL;
        if (r < 0) {
                log_warning("zone '%s': %s", z->name, kz_error_message(&e, r));
                return NULL;
        }
        if (res.unavailable)
                zone_mark_unavailable(z, res.reason);
        reason = TAKE_PTR(res.reason);
        launch_result_done(&res);
        return reason;
}

void zone_launch_ended(Zone *z)
{
        _cleanup_free_ char *why = NULL, *id = NULL;

        /* its next start gets an id again */
        id = manager_path(z->manager, ZONE_RUN_DIR "/%s/zoneid", z->name);
        if (id)
                (void) unlink(id);
        (void) zone_write_run_note(z, ZONE_INCOMING_RUNNING_NOTE, NULL);
        /* a job that waits for its systemd job takes the result with the job */
        if (z->job && (z->job->unit_job || z->job->unit_call))
                return;
        why = zone_take_launch_result(z);
        if (why)
                log_warning("zone '%s': its unit failed: %s", z->name, why);
}

int zone_note_suspending(Zone *z, bool on)
{
        char line[32];

        (void) snprintf(line, sizeof(line), "%d\n", (int) getpid());
        return zone_write_run_note(z, ZONE_SUSPENDING_NOTE, on ? line : NULL);
}

int zone_write_run_note(Zone *z, const char *file, const char *content)
{
        _cleanup_free_ char *note = manager_path(z->manager, ZONE_RUN_DIR "/%s/%s", z->name, file);
        int r;

        if (!note)
                return -ENOMEM;
        if (!content)
                return unlink(note) < 0 && errno != ENOENT ? -errno : 0;
        r = zone_make_run_dir(z);
        if (r < 0)
                return r;
        return write_file_atomic(note, content, strlen(content), 0600);
}

int zone_note_migrating(Zone *z, const char *destination)
{
        _cleanup_free_ char *line = NULL;

        if (destination && asprintf(&line, "%s\n", destination) < 0)
                return -ENOMEM;
        return zone_write_run_note(z, ZONE_MIGRATING_NOTE, destination ? line : NULL);
}

char *zone_read_migrating_note(Zone *z)
{
        _cleanup_free_ char *note = manager_path(z->manager, ZONE_RUN_DIR "/%s/" ZONE_MIGRATING_NOTE, z->name);
        _cleanup_free_ char *text = NULL;
        size_t size;

        if (!note || read_file_bounded(note, 600, &text, &size) < 0)
                return NULL;
        text[strcspn(text, "\n")] = 0;
        return isempty(text) ? NULL : TAKE_PTR(text);
}

void zone_helper_ended(Zone *z, const JobType *type, int status)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;

        /* what it did is done or undone: the image is sealed and the marker written, or not */
        if (type == &job_suspend)
                (void) zone_note_suspending(z, false);

        if (status == LAUNCH_EXIT_UNAVAILABLE) {
                zone_mark_unavailable(z, "its key does not open its host data, or it has none");
                return;
        }
        if (status != 0)
                return;
        if (type == &job_attach)
                (void) zone_set_index_state(z, ZONE_STATE_INSTALLED, &error);
        else if (type == &job_detach)
                (void) zone_set_index_state(z, ZONE_STATE_CONFIGURED, &error);
        sd_bus_error_free(&error);
}
