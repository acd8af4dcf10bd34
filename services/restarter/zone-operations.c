/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The work behind the zone methods: systemd jobs, QMP requests and helper
 * processes, each finished asynchronously; the method call is answered when the
 * work is done. Nothing here waits. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "launch-request.h"
#include "log.h"
#include "restarter.h"

#define SYSTEMD_BUS "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

static const char *const operation_kind_table[_OPERATION_KIND_MAX] = {
        [OPERATION_BOOT] = "boot",
        [OPERATION_HALT] = "halt",
        [OPERATION_REBOOT] = "reboot",
        [OPERATION_SHUTDOWN] = "shutdown",
        [OPERATION_INSTALL] = "install",
        [OPERATION_CLONE] = "clone",
        [OPERATION_ATTACH] = "attach",
        [OPERATION_DETACH] = "detach",
        [OPERATION_SUSPEND] = "suspend",
        [OPERATION_UNINSTALL] = "uninstall",
};

DEFINE_STRING_TABLE(operation_kind, OperationKind, _OPERATION_KIND_MAX)

int operation_start(Zone *z, OperationKind kind, sd_bus_message *request, Operation **ret)
{
        Operation *o;

        if (z->operation)
                return -EBUSY;
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->zone = z;
        o->kind = kind;
        o->request = sd_bus_message_ref(request);
        o->output_fd = -EBADF;
        o->installer_fd = -EBADF;
        o->image_fd = -EBADF;
        o->target_fd = -EBADF;
        /* the operation knows what it does to the guest: a check in progress is dropped */
        reconcile_stop(z);
        z->operation = o;
        zone_update_aux(z);
        *ret = o;
        return 0;
}

void operation_finish(Operation *o, int error, const char *error_name, const char *fmt, ...)
{
        Zone *z = o->zone;

        if (error == 0)
                (void) sd_bus_reply_method_return(o->request, NULL);
        else {
                _cleanup_free_ char *msg = NULL;
                va_list ap;

                va_start(ap, fmt);
                if (vasprintf(&msg, fmt, ap) < 0)
                        msg = NULL;
                va_end(ap);
                log_warning("zone '%s': %s failed: %s", z->name, operation_kind_to_string(o->kind), strna(msg));
                /* what this operation created goes before the caller hears of the failure, and
                 * the zone is as it was: configured */
                if (o->created) {
                        (void) unlink(o->created);
                        (void) zone_forget_created(z, o->created);
                        log_info("zone '%s': removed %s", z->name, o->created);
                }
                if ((o->kind == OPERATION_INSTALL || o->kind == OPERATION_CLONE) &&
                    z->index_state == ZONE_STATE_INCOMPLETE) {
                        sd_bus_error e = SD_BUS_ERROR_NULL;

                        (void) zone_set_index_state(z, ZONE_STATE_CONFIGURED, &e);
                        sd_bus_error_free(&e);
                }
                (void) sd_bus_reply_method_errorf(o->request, error_name ?: SD_BUS_ERROR_FAILED, "%s",
                        msg ?: strerror(error < 0 ? -error : error));
        }
        z->operation = NULL;
        sd_bus_message_unref(o->request);
        sd_event_source_disable_unref(o->timer);
        sd_event_source_disable_unref(o->child);
        sd_event_source_disable_unref(o->output_source);
        if (o->copy_source)
                o->copy_source->copy_readers--;
        if (o->pid > 0)
                (void) kill(o->pid, SIGKILL);
        if (o->output_fd >= 0)
                (void) close(o->output_fd);
        if (o->installer_fd >= 0)
                (void) close(o->installer_fd);
        if (o->image_fd >= 0)
                (void) close(o->image_fd);
        if (o->target_fd >= 0)
                (void) close(o->target_fd);
        /* a reply still pending is failed now: its callback sees o->qmp gone */
        qmp_close(TAKE_PTR(o->qmp));
        free(o->job);
        free(o->created);
        free(o->installer_iso);
        free(o);
        zone_update_aux(z);
        if (z->gone)
                (void) manager_rescan(z->manager);
}

/* ---- systemd jobs --------------------------------------------------------------------------- */

static int on_job_queued(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Operation *o = userdata;
        const char *job;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                operation_finish(o, -EIO, KZ_ERROR_BOOT_FAILED, "systemd refused to act on %s: %s", o->zone->unit,
                        e ? e->message : "unknown error");
                return 0;
        }
        if (sd_bus_message_read(reply, "o", &job) < 0 || !(o->job = strdup(job)))
                operation_finish(o, -EIO, NULL, "malformed reply from systemd");
        return 0;
}

int operation_start_unit(Operation *o, const char *method)
{
        Manager *m = o->zone->manager;

        if (m->have_systemd == 0)
                return -EHOSTDOWN;
        free(o->job);
        o->job = NULL;
        return sd_bus_call_method_async(m->bus, NULL, SYSTEMD_BUS, SYSTEMD_PATH, SYSTEMD_MANAGER, method,
                on_job_queued, o, "ss", o->zone->unit, "replace");
}

/* Why the zone did not start, as kzones-zone found it (a zone found unavailable is
 * marked so). */
static char *boot_failure(Zone *z)
{
        return zone_take_launch_result(z);
}

void manager_job_removed(Manager *m, const char *job, const char *result)
{
        for (size_t i = 0; i < m->n_zones; i++) {
                Operation *o = m->zones[i]->operation;
                Zone *z = m->zones[i];
                bool ok = streq(result, "done");

                if (!o || !streq_ptr(o->job, job))
                        continue;
                free(o->job);
                o->job = NULL;
                switch (o->kind) {
                case OPERATION_BOOT:
                case OPERATION_REBOOT:
                case OPERATION_SHUTDOWN:
                        if (ok && o->kind == OPERATION_SHUTDOWN && !o->reboot) {
                                operation_finish(o, 0, NULL, NULL);
                                break;
                        }
                        if (ok)
                                operation_finish(o, 0, NULL, NULL);
                        else {
                                _cleanup_free_ char *why = boot_failure(z);

                                if (why && strchr(why, '\n')) /* the guide's lines, as they are */
                                        operation_finish(o, -EIO, KZ_ERROR_BOOT_FAILED, "%s", why);
                                else
                                        operation_finish(o, -EIO, KZ_ERROR_BOOT_FAILED,
                                                "boot failed: %s (see 'journalctl -u %s')",
                                                why ?: "the zone's unit did not start", z->unit);
                        }
                        break;
                case OPERATION_HALT:
                case OPERATION_SUSPEND:
                        zone_launch_ended(z); /* what its ExecStop and ExecStopPost found */
                        if (ok)
                                operation_finish(o, 0, NULL, NULL);
                        else
                                operation_finish(o, -EIO, NULL, "%s failed: systemd job %s",
                                        operation_kind_to_string(o->kind), result);
                        break;
                case OPERATION_INSTALL:
                        if (!ok) {
                                _cleanup_free_ char *why = boot_failure(z);
                                sd_bus_error error = SD_BUS_ERROR_NULL;

                                (void) zone_set_index_state(z, ZONE_STATE_CONFIGURED, &error);
                                sd_bus_error_free(&error);
                                operation_finish(o, -EIO, KZ_ERROR_BOOT_FAILED, "the installer did not start: %s",
                                        why ?: "see the zone's journal");
                        }
                        break;
                case OPERATION_CLONE:
                case OPERATION_ATTACH:
                case OPERATION_DETACH:
                case OPERATION_UNINSTALL:
                case _OPERATION_KIND_MAX:
                case _OPERATION_KIND_INVALID:
                        break;
                }
                return;
        }
}

/* ---- shutdown: power button, then wait for the unit to stop ------------------------------------ */

static int on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        Operation *o = userdata;

        operation_finish(o, -ETIMEDOUT, KZ_ERROR_TIMEOUT,
                "the guest did not power off in time and is still running; use 'zoneadm -z %s halt' to stop it",
                o->zone->name);
        return 0;
}

void manager_unit_state_changed(Zone *z)
{
        Operation *o = z->operation;
        int r;

        if (z->active_state && (streq(z->active_state, "inactive") || streq(z->active_state, "failed")))
                zone_launch_ended(z);

        if (o && o->kind == OPERATION_INSTALL && o->installer_running && !o->job && z->active_state &&
            (streq(z->active_state, "inactive") || streq(z->active_state, "failed"))) {
                /* the installer powered the guest off: the zone is installed */
                o->installer_running = false;
                free(o->installer_iso);
                o->installer_iso = NULL;
                if (o->installer_fd >= 0)
                        (void) close(TAKE_FD(o->installer_fd));
                operation_installed(o);
                return;
        }
        if (!o || o->kind != OPERATION_SHUTDOWN || !o->powered_down || o->job)
                return;
        if (!z->active_state || !(streq(z->active_state, "inactive") || streq(z->active_state, "failed")))
                return;
        o->timer = sd_event_source_disable_unref(o->timer);
        o->powered_down = false;
        if (!o->reboot) {
                operation_finish(o, 0, NULL, NULL);
                return;
        }
        r = operation_start_unit(o, "StartUnit");
        if (r < 0)
                operation_finish(o, r, KZ_ERROR_BOOT_FAILED, "cannot boot the zone again: %s", strerror(-r));
}

static void on_powerdown(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Operation *o = userdata;
        uint64_t timeout = DEFAULT_SHUTDOWN_TIMEOUT_USEC;
        int r;

        if (o->qmp != q)
                return; /* the operation finished first */
        if (!reply) {
                operation_finish(o, -EIO, NULL, "the guest's monitor refused the power button: %s", strna(error));
                return;
        }
        o->powered_down = true;
        if (!o->timer) {
                r = sd_event_add_time_relative(o->zone->manager->event, &o->timer, CLOCK_MONOTONIC, timeout, 0,
                        on_shutdown_timeout, o);
                if (r < 0) {
                        operation_finish(o, r, NULL, "cannot arm the shutdown timer: %s", strerror(-r));
                        return;
                }
        }
        /* the guest may have powered off before the monitor answered */
        manager_unit_state_changed(o->zone);
}

int operation_powerdown(Operation *o, uint64_t timeout_usec)
{
        _cleanup_free_ char *sock = manager_path(o->zone->manager, ZONE_RUN_DIR "/%s/" ZONE_QMP_SOCKET, o->zone->name);
        int r;

        if (!sock)
                return -ENOMEM;
        r = qmp_connect(o->zone->manager->event, sock, NULL, NULL, NULL, &o->qmp);
        if (r < 0)
                return r;
        if (timeout_usec > 0) {
                r = sd_event_add_time_relative(o->zone->manager->event, &o->timer, CLOCK_MONOTONIC, timeout_usec, 0,
                        on_shutdown_timeout, o);
                if (r < 0)
                        return r;
        }
        return qmp_execute(o->qmp, "system_powerdown", NULL, on_powerdown, o);
}

/* ---- helper processes: storage checks and disk copies -------------------------------------------- */

/* The child's output is drained as it comes (a chatty child never blocks on a
 * full pipe); the last 4 KiB are kept for the error message. */
static int on_child_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Operation *o = userdata;
        char buf[4096];
        ssize_t n;

        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                size_t keep = sizeof(o->output) - 1;

                if (o->relay_progress) {
                        /* "progress N" lines: a signal for zoneadm, not part of the output */
                        size_t w = 0;
                        for (ssize_t i = 0; i < n;) {
                                char *nl = memchr(buf + i, '\n', (size_t) (n - i));
                                size_t len = nl ? (size_t) (nl - (buf + i)) + 1 : (size_t) (n - i);

                                if (len > 9 && strncmp(buf + i, "progress ", 9) == 0) {
                                        (void) sd_bus_emit_signal(o->zone->manager->bus, o->zone->path,
                                                RESTARTER_ZONE_IFACE, "Progress", "su",
                                                operation_kind_to_string(o->kind), (uint32_t) atoi(buf + i + 9));
                                } else {
                                        memmove(buf + w, buf + i, len);
                                        w += len;
                                }
                                i += (ssize_t) len;
                        }
                        n = (ssize_t) w;
                        if (n == 0)
                                continue;
                }

                if ((size_t) n >= keep) {
                        memcpy(o->output, buf + (size_t) n - keep, keep);
                        o->output_len = keep;
                } else {
                        if (o->output_len + (size_t) n > keep) {
                                size_t drop = o->output_len + (size_t) n - keep;
                                memmove(o->output, o->output + drop, o->output_len - drop);
                                o->output_len -= drop;
                        }
                        memcpy(o->output + o->output_len, buf, (size_t) n);
                        o->output_len += (size_t) n;
                }
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                o->output_source = sd_event_source_disable_unref(o->output_source);
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        Operation *o = userdata;
        int status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        char *last;

        o->pid = 0;
        o->child = sd_event_source_disable_unref(o->child);
        if (o->output_fd >= 0) {
                (void) on_child_output(NULL, o->output_fd, EPOLLIN, o);
                o->output_source = sd_event_source_disable_unref(o->output_source);
                (void) close(TAKE_FD(o->output_fd));
        }
        o->output[o->output_len] = 0;
        while (o->output_len > 0 && (o->output[o->output_len - 1] == '\n' || o->output[o->output_len - 1] == '\r'))
                o->output[--o->output_len] = 0;
        (void) last;
        o->child_done(o, status, o->output);
        return 0;
}

/* A helper ends with the restarter that started it, however the restarter ends:
 * systemd stops what is left in the restarter's cgroup, and without systemd (or
 * if only the main process was killed) the parent-death signal does. What a helper
 * leaves half done is the restarter's to reconcile when it starts (reconcile.c),
 * never a helper's that outlived it and goes on unwatched. */
static int spawn(Operation *o, void (*done)(Operation *o, int status, const char *output), char *const argv[])
{
        int pipefd[2];
        pid_t pid, parent = getpid();
        int r;

        if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void) close(pipefd[0]);
                (void) close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                sigset_t all;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                sigemptyset(&all);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                (void) dup2(null, STDIN_FILENO);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                (void) dup2(pipefd[1], STDERR_FILENO);
                /* the copy helper's image and target: above 9 here, so nothing above clobbered them */
                if (o->image_fd >= 0)
                        (void) dup2(o->image_fd, 3);
                if (o->target_fd >= 0)
                        (void) dup2(o->target_fd, 4);
                execvp(argv[0], argv);
                fprintf(stderr, "cannot run %s: %m\n", argv[0]);
                _exit(127);
        }
        (void) close(pipefd[1]);
        o->output_fd = pipefd[0];
        o->output_len = 0;
        o->pid = pid;
        o->child_done = done;
        r = sd_event_add_io(o->zone->manager->event, &o->output_source, o->output_fd, EPOLLIN, on_child_output, o);
        if (r < 0)
                return r;
        r = sd_event_add_child(o->zone->manager->event, &o->child, pid, WEXITED, on_child, o);
        if (r < 0)
                return r;
        return 0;
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
        for (char *s = dir + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        (void) mkdir(dir, 0755);
                        *s = '/';
                }
        (void) mkdir(dir, 0700);
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
 * file (the launch request and result, sockets) lives in it, so no
 * zone's name can reach another zone's files. zone@.service keeps it (its
 * RuntimeDirectory=, preserved). */
int zone_make_run_dir(Zone *z)
{
        _cleanup_free_ char *top = manager_path(z->manager, ZONE_RUN_DIR),
                            *dir = manager_path(z->manager, ZONE_RUN_DIR "/%s", z->name);

        if (!top || !dir)
                return -ENOMEM;
        for (char *s = top + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        (void) mkdir(top, 0755);
                        *s = '/';
                }
        (void) mkdir(top, 0755);
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

void operation_installed(Operation *o)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (o->installer_iso && !o->installer_running) {
                /* install -b: the disk is ready; now the installer runs from the ISO, and the
                 * zone is incomplete until the guest powers off */
                if (o->created) {
                        (void) zone_record_created(o->zone, o->created);
                        free(o->created);
                        o->created = NULL;
                }
                r = zone_request_installer(o->zone, o->installer_fd);
                if (r >= 0)
                        r = zone_set_index_state(o->zone, ZONE_STATE_INCOMPLETE, &error);
                if (r >= 0)
                        r = operation_start_unit(o, "StartUnit");
                if (r < 0) {
                        operation_finish(o, r, error.name, "cannot boot the installer: %s",
                                error.message ?: strerror(-r));
                        sd_bus_error_free(&error);
                        return;
                }
                o->installer_running = true;
                log_info("zone '%s': the installer runs from %s; the zone is installed when it powers off",
                        o->zone->name, o->installer_iso);
                return;
        }

        if (o->created) {
                r = zone_record_created(o->zone, o->created);
                if (r < 0) {
                        operation_finish(o, r, KZ_ERROR_STORAGE, "cannot record the new disk: %s", strerror(-r));
                        return;
                }
                free(o->created); /* it stays: it is this zone's disk now */
                o->created = NULL;
        }
        if (zone_set_index_state(o->zone, ZONE_STATE_INSTALLED, &error) < 0) {
                operation_finish(o, -EIO, error.name, "%s", error.message);
                sd_bus_error_free(&error);
                return;
        }
        log_info("zone '%s' installed", o->zone->name);
        operation_finish(o, 0, NULL, NULL);
}

/* kzones-zone attach|detach: its messages are the guide's, one or more lines. */
static void helper_done(Operation *o, int status, const char *output)
{
        /* "zone 'NAME': " starts each of the helper's lines; the caller adds its own */
        _cleanup_free_ char *msg = NULL;
        char prefix[96];
        size_t plen;

        (void) snprintf(prefix, sizeof(prefix), "zone '%s': ", o->zone->name);
        plen = strlen(prefix);
        msg = malloc(strlen(output) + 1);
        if (msg) {
                char *m = msg;
                for (const char *p = output; *p;) {
                        if (strncmp(p, prefix, plen) == 0)
                                p += plen;
                        while (*p && *p != '\n')
                                *m++ = *p++;
                        if (*p == '\n')
                                *m++ = *p++;
                }
                *m = 0;
        }
        /* what the helper found: the zone unavailable, attached, detached */
        zone_helper_ended(o->zone, o->kind, status);
        if (o->kind == OPERATION_UNINSTALL) {
                uninstall_released(o, status, *output ? (msg ?: output) : "the zone helper failed");
                return;
        }
        if (status == LAUNCH_EXIT_UNAVAILABLE) {
                operation_finish(o, -EKEYREJECTED, KZ_ERROR_UNAVAILABLE, "%s", msg ?: output);
                return;
        }
        if (status != 0) {
                operation_finish(o, -EIO, o->kind == OPERATION_DETACH || o->kind == OPERATION_ATTACH ||
                                                  o->kind == OPERATION_INSTALL || o->kind == OPERATION_CLONE
                                          ? KZ_ERROR_IN_USE
                                          : NULL,
                        "%s", *output ? (msg ?: output) : "the zone helper failed");
                return;
        }
        switch (o->kind) {
        case OPERATION_INSTALL:
        case OPERATION_CLONE:
                operation_installed(o);
                return;
        case OPERATION_ATTACH:
        case OPERATION_DETACH:
                operation_finish(o, 0, NULL, NULL);
                return;
        case OPERATION_SUSPEND: {
                /* the state is saved and the guest paused: stop the unit, as a halt */
                int r;

                (void) zone_request_halt(o->zone);
                r = operation_start_unit(o, "StopUnit");
                if (r < 0)
                        operation_finish(o, r, NULL, "cannot stop the suspended zone: %s", strerror(-r));
                return;
        }
        case OPERATION_BOOT:
        case OPERATION_HALT:
        case OPERATION_REBOOT:
        case OPERATION_SHUTDOWN:
        case OPERATION_UNINSTALL:
        case _OPERATION_KIND_MAX:
        case _OPERATION_KIND_INVALID:
                operation_finish(o, 0, NULL, NULL);
                return;
        }
}

int operation_run_copy_helper(Operation *o, const char *verb, const char *arg)
{
        const char *helper = getenv("KZONES_ZONE_HELPER") ?: KZONES_LIBEXECDIR "/kzones/kzones-zone";
        char *argv[] = { (char *) helper, (char *) verb, o->zone->name, (char *) arg,
                (char *) (o->target_fd >= 0 ? "/proc/self/fd/4" : NULL), NULL };

        o->relay_progress = true;
        return spawn(o, helper_done, argv);
}

int operation_run_helper(Operation *o, const char *verb, const char *arg)
{
        const char *helper = getenv("KZONES_ZONE_HELPER") ?: KZONES_LIBEXECDIR "/kzones/kzones-zone";
        char *argv[] = { (char *) helper, (char *) verb, o->zone->name, (char *) arg, NULL };

        return spawn(o, helper_done, argv);
}


