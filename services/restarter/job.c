/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Jobs: the work behind the zone methods. A method validates, creates the job and
 * replies with its path at once; the job's steps (its JobType's hooks, in the file
 * of its kind) run from the event loop as systemd jobs, QMP replies and helper
 * processes answer. Nothing here waits. A finished job stays readable for
 * JOB_LINGER_USEC. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "restarter.h"

static const char *const job_state_table[_JOB_STATE_MAX] = {
        [JOB_RUNNING] = "running",
        [JOB_DONE] = "done",
        [JOB_FAILED] = "failed",
        [JOB_CANCELLED] = "cancelled",
};

DEFINE_STRING_TABLE(job_state, JobState, _JOB_STATE_MAX)

int zone_check_idle(Zone *z, sd_bus_error *error)
{
        if (z->job)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "another operation (%s, job %s) is in progress on "
                        "the zone", z->job->type->kind, z->job->path);
        if (z->copy_readers > 0)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "the zone's disk is being copied by a clone");
        return 0;
}

int job_new(Zone *z, const JobType *type, sd_bus_message *msg, sd_bus_error *error, Job **ret)
{
        Manager *m = z->manager;
        Job *j;
        int r;

        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        if (m->n_running_jobs >= JOBS_MAX)
                return sd_bus_error_setf(error, KZ_ERROR_TOO_MANY_JOBS,
                        "%u jobs are at work on this host, the most there may be; try again when one is done",
                        JOBS_MAX);
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (Job) {
                .manager = m,
                .zone = z,
                .type = type,
                .id = ++m->last_job_id ?: ++m->last_job_id,
                .state = JOB_RUNNING,
                .progress = -1,
                .output_fd = -EBADF,
                .installer_fd = -EBADF,
                .image_fd = -EBADF,
                .target_fd = -EBADF,
                .connection_fd = -EBADF,
                .storage_scheme = -1,
        };
        (void) snprintf(j->key, sizeof(j->key), "%" PRIu32, j->id);
        j->zone_name = strdup(z->name);
        /* digits need no escaping: /org/kzones/Restarter1/job/ID, as systemd's jobs */
        if (!j->zone_name || asprintf(&j->path, RESTARTER_JOB_PREFIX "/%s", j->key) < 0) {
                j->path = NULL;
                job_free(j);
                return -ENOMEM;
        }
        r = hashmap_put(m->jobs, j->key, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        m->n_running_jobs++;
        /* the job knows what it does to the guest: a check in progress is dropped */
        reconcile_stop(z);
        z->job = j;
        *ret = j;
        return 0;
}

static int on_step(sd_event_source *s, void *userdata)
{
        Job *j = userdata;
        void (*step)(Job *j) = j->step;

        j->step_source = sd_event_source_disable_unref(j->step_source);
        j->step = NULL;
        if (step && j->state == JOB_RUNNING)
                step(j);
        return 0;
}

void job_next(Job *j, void (*step)(Job *j))
{
        int r;

        j->step = step;
        if (j->step_source)
                return;
        r = sd_event_add_defer(j->manager->event, &j->step_source, on_step, j);
        if (r < 0)
                job_finish(j, r, NULL, "cannot schedule the job's next step: %s", strerror(-r));
}

int job_start(Job *j, sd_bus_message *msg, void (*step)(Job *j))
{
        Manager *m = j->manager;
        int r;

        /* no caller: a job of the restarter's own (an interrupted migration resolved) */
        r = msg ? sd_bus_reply_method_return(msg, "o", j->path) : 0;
        if (r < 0) {
                job_finish(j, r, NULL, "cannot reply: %s", strerror(-r));
                return r;
        }
        (void) sd_bus_emit_object_added(m->bus, j->path);
        (void) sd_bus_emit_signal(m->bus, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "JobNew", "uoss", j->id, j->path,
                j->zone_name, j->type->kind);
        (void) sd_bus_emit_properties_changed(m->bus, j->zone->path, RESTARTER_ZONE_IFACE, "Job", NULL);
        zone_update_aux(j->zone);
        if (sd_journal_send("MESSAGE=zone '%s': %s started (job %" PRIu32 ")", j->zone_name, j->type->kind, j->id,
                    "PRIORITY=%d", LOG_INFO, "MESSAGE_ID=" SD_ID128_FORMAT_STR,
                    SD_ID128_FORMAT_VAL(KZ_MESSAGE_JOB_STARTED), "ZONE=%s", j->zone_name, "JOB=%" PRIu32, j->id,
                    "JOB_KIND=%s", j->type->kind, NULL) < 0)
                log_info("zone '%s': %s started (job %" PRIu32 ")", j->zone_name, j->type->kind, j->id);
        job_next(j, step);
        return 1;
}

void job_set_message(Job *j, const char *fmt, ...)
{
        char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg || streq_ptr(msg, j->message)) {
                free(msg);
                return;
        }
        free(j->message);
        j->message = msg;
        bus_job_send_changed(j, "Message", NULL);
}

void job_set_progress(Job *j, double progress, uint64_t done, uint64_t total)
{
        uint64_t now = 0;

        if (progress > 1)
                progress = 1;
        (void) sd_event_now(j->manager->event, CLOCK_MONOTONIC, &now);
        if (total > 0) {
                /* the rate over the last second or more */
                if (j->rate_usec == 0 || done < j->rate_bytes) {
                        j->rate_usec = now;
                        j->rate_bytes = done;
                } else if (now >= j->rate_usec + 1000000) {
                        j->rate = (done - j->rate_bytes) * 1000000 / (now - j->rate_usec);
                        j->rate_usec = now;
                        j->rate_bytes = done;
                }
                j->bytes_done = done;
                j->bytes_total = total;
        }
        if (progress == j->progress && total == 0)
                return;
        j->progress = progress;
        bus_job_send_changed(j, "Progress", "BytesDone", "BytesTotal", "Rate", NULL);
}

Job *manager_find_job(Manager *m, const char *path)
{
        const char *id = path ? startswith(path, RESTARTER_JOB_PREFIX "/") : NULL;

        return id ? hashmap_get(m->jobs, id) : NULL;
}

/* The work's resources go when the job ends; the job itself stays readable. */
static void job_release(Job *j)
{
        if (j->type->release)
                j->type->release(j);
        j->unit_call = sd_bus_slot_unref(j->unit_call);
        j->step_source = sd_event_source_disable_unref(j->step_source);
        j->timer = sd_event_source_disable_unref(j->timer);
        j->child = sd_event_source_disable_unref(j->child);
        j->output_source = sd_event_source_disable_unref(j->output_source);
        if (j->copy_source) {
                j->copy_source->copy_readers--;
                j->copy_source = NULL;
        }
        if (j->pid > 0)
                (void) kill(j->pid, SIGKILL);
        j->pid = 0;
        j->output_fd = safe_close_fd(j->output_fd);
        j->installer_fd = safe_close_fd(j->installer_fd);
        j->image_fd = safe_close_fd(j->image_fd);
        j->target_fd = safe_close_fd(j->target_fd);
        j->connection_fd = safe_close_fd(j->connection_fd);
        /* a reply still pending is failed now: its callback sees j->qmp gone */
        qmp_close(TAKE_PTR(j->qmp));
}

Job *job_free(Job *j)
{
        if (!j)
                return NULL;
        job_release(j);
        sd_event_source_disable_unref(j->linger);
        free(j->zone_name);
        free(j->path);
        free(j->message);
        free(j->result_name);
        free(j->unit_job);
        free(j->created);
        free(j->local);
        free(j->source_name);
        free(j->installer_iso);
        free(j->option);
        free(j->destination);
        free(j->handover);
        strv_freep(&j->boot_args);
        free(j->wanted_xml);
        free(j);
        return NULL;
}

static void job_drop(Job *j)
{
        Manager *m = j->manager;

        (void) hashmap_remove(m->jobs, j->key);
        if (j->state != JOB_RUNNING)
                m->n_finished_jobs--;
        (void) sd_bus_emit_object_removed(m->bus, j->path);
        job_free(j);
}

static int on_linger_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        job_drop(userdata);
        return 0;
}

/* Beyond JOBS_FINISHED_MAX finished jobs, the oldest goes early. */
static void drop_oldest_finished(Manager *m)
{
        Job *j, *oldest = NULL;

        HASHMAP_FOREACH(j, m->jobs, state)
                if (j->state != JOB_RUNNING && (!oldest || j->id < oldest->id))
                        oldest = j;
        if (oldest)
                job_drop(oldest);
}

void job_finish(Job *j, int error, const char *error_name, const char *fmt, ...)
{
        Manager *m = j->manager;
        Zone *z = j->zone;
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        if (j->state != JOB_RUNNING)
                return;
        if (error != 0) {
                va_start(ap, fmt);
                if (vasprintf(&msg, fmt, ap) < 0)
                        msg = NULL;
                va_end(ap);
                if (!msg)
                        msg = strdup(strerror(error < 0 ? -error : error));
                if (j->cancelling && error == -ECANCELED)
                        j->state = JOB_CANCELLED;
                else
                        j->state = JOB_FAILED;
                /* what this job created goes before the caller hears of the failure, and the
                 * zone is as it was: configured */
                if (j->created) {
                        (void) unlink(j->created);
                        (void) zone_forget_created(z, j->created);
                        log_info("zone '%s': removed %s", z->name, j->created);
                }
                if ((j->type == &job_install || j->type == &job_clone) && z->index_state == ZONE_STATE_INCOMPLETE) {
                        sd_bus_error e = SD_BUS_ERROR_NULL;

                        (void) zone_set_index_state(z, ZONE_STATE_CONFIGURED, &e);
                        sd_bus_error_free(&e);
                }
                j->result_name = strdup(error_name ?: (j->state == JOB_CANCELLED ? KZ_ERROR_CANCELLED
                                                                                   : SD_BUS_ERROR_FAILED));
                free(j->message);
                j->message = TAKE_PTR(msg);
        } else {
                j->state = JOB_DONE;
                j->progress = 1;
                if (j->bytes_total > 0)
                        j->bytes_done = j->bytes_total;
        }
        job_release(j);
        r = sd_journal_send("MESSAGE=zone '%s': %s %s%s%s (job %" PRIu32 ")", j->zone_name, j->type->kind,
                job_state_to_string(j->state), j->message && j->state != JOB_DONE ? ": " : "",
                j->state != JOB_DONE ? strempty(j->message) : "", j->id,
                "PRIORITY=%d", j->state == JOB_DONE ? LOG_INFO : j->state == JOB_CANCELLED ? LOG_NOTICE : LOG_WARNING,
                "MESSAGE_ID=" SD_ID128_FORMAT_STR, SD_ID128_FORMAT_VAL(KZ_MESSAGE_JOB_FINISHED), "ZONE=%s", j->zone_name,
                "JOB=%" PRIu32, j->id, "JOB_KIND=%s", j->type->kind, "JOB_RESULT=%s", job_state_to_string(j->state),
                NULL);
        if (r < 0 && j->state == JOB_DONE)
                log_info("zone '%s': %s done (job %" PRIu32 ")", j->zone_name, j->type->kind, j->id);
        else if (r < 0)
                log_warning("zone '%s': %s %s: %s (job %" PRIu32 ")", j->zone_name, j->type->kind,
                        job_state_to_string(j->state), strna(j->message), j->id);
        bus_job_send_changed(j, "State", "Progress", "BytesDone", "BytesTotal", "Rate", "Message", "Result", NULL);
        (void) sd_bus_emit_signal(m->bus, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "JobRemoved", "uoss", j->id,
                j->path, j->zone_name, job_state_to_string(j->state));
        m->n_running_jobs--;
        m->n_finished_jobs++;
        j->zone = NULL;
        z->job = NULL;
        (void) sd_bus_emit_properties_changed(m->bus, z->path, RESTARTER_ZONE_IFACE, "Job", NULL);
        zone_update_aux(z);
        r = sd_event_add_time_relative(m->event, &j->linger, CLOCK_MONOTONIC, JOB_LINGER_USEC, 0, on_linger_end, j);
        if (r < 0)
                job_drop(j);
        while (m->n_finished_jobs > JOBS_FINISHED_MAX)
                drop_oldest_finished(m);
        if (z->gone)
                (void) manager_rescan(m);
}

/* ---- systemd jobs on the zone's unit ----------------------------------------------------- */

static int on_unit_job_queued(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Job *j = userdata;
        const char *job;

        j->unit_call = sd_bus_slot_unref(j->unit_call);
        if (j->state != JOB_RUNNING)
                return 0;
        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                job_finish(j, -EIO, KZ_ERROR_BOOT_FAILED, "systemd refused to act on %s: %s", j->zone->unit,
                        e ? e->message : "unknown error");
                return 0;
        }
        if (sd_bus_message_read(reply, "o", &job) < 0 || !(j->unit_job = strdup(job)))
                job_finish(j, -EIO, NULL, "malformed reply from systemd");
        return 0;
}

int job_start_unit(Job *j, const char *method)
{
        Manager *m = j->manager;

        if (m->have_systemd == 0)
                return -EHOSTDOWN;
        free(j->unit_job);
        j->unit_job = NULL;
        job_set_message(j, "waiting for systemd to %s %s",
                streq(method, "StartUnit") ? "start" : streq(method, "StopUnit") ? "stop" : "restart", j->zone->unit);
        /* held until the reply: until then the unit's state says nothing of this call, and
         * a job that ends first drops it, so that no reply comes after */
        j->unit_call = sd_bus_slot_unref(j->unit_call);
        return sd_bus_call_method_async(m->bus, &j->unit_call, SYSTEMD_BUS, SYSTEMD_PATH, SYSTEMD_MANAGER, method,
                on_unit_job_queued, j, "ss", j->zone->unit, "replace");
}

char *zone_boot_failure(Zone *z)
{
        return zone_take_launch_result(z);
}

void manager_unit_job_removed(Manager *m, const char *unit_job, const char *result)
{
        Job *j;

        HASHMAP_FOREACH(j, m->jobs, state) {
                if (j->state != JOB_RUNNING || !streq_ptr(j->unit_job, unit_job))
                        continue;
                free(j->unit_job);
                j->unit_job = NULL;
                if (j->type->unit_job_done)
                        j->type->unit_job_done(j, streq(result, "done"), result);
                return;
        }
}

void manager_unit_state_changed(Zone *z)
{
        if (z->active_state && (streq(z->active_state, "inactive") || streq(z->active_state, "failed")))
                zone_launch_ended(z);
        if (z->job && z->job->type->unit_state_changed)
                z->job->type->unit_state_changed(z->job);
}

/* ---- QMP: the power button ---------------------------------------------------------------- */

static int on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        Job *j = userdata;

        job_finish(j, -ETIMEDOUT, KZ_ERROR_TIMEOUT,
                "the guest did not power off in time and is still running; use 'zoneadm -z %s halt' to stop it",
                j->zone->name);
        return 0;
}

static void on_powerdown(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Job *j = userdata;
        int r;

        if (j->qmp != q)
                return; /* the job finished first */
        if (!reply) {
                job_finish(j, -EIO, NULL, "the guest's monitor refused the power button: %s", strna(error));
                return;
        }
        j->powered_down = true;
        job_set_message(j, "waiting for the guest to power off");
        if (!j->timer) {
                r = sd_event_add_time_relative(j->manager->event, &j->timer, CLOCK_MONOTONIC,
                        DEFAULT_SHUTDOWN_TIMEOUT_USEC, 0, on_shutdown_timeout, j);
                if (r < 0) {
                        job_finish(j, r, NULL, "cannot arm the shutdown timer: %s", strerror(-r));
                        return;
                }
        }
        /* the guest may have powered off before the monitor answered */
        manager_unit_state_changed(j->zone);
}

int job_powerdown(Job *j, uint64_t timeout_usec)
{
        _cleanup_free_ char *sock = manager_path(j->manager, ZONE_RUN_DIR "/%s/" ZONE_QMP_SOCKET, j->zone->name);
        int r;

        if (!sock)
                return -ENOMEM;
        r = qmp_connect(j->manager->event, sock, NULL, NULL, NULL, &j->qmp);
        if (r < 0)
                return r;
        if (timeout_usec > 0) {
                r = sd_event_add_time_relative(j->manager->event, &j->timer, CLOCK_MONOTONIC, timeout_usec, 0,
                        on_shutdown_timeout, j);
                if (r < 0)
                        return r;
        }
        job_set_message(j, "pressing the guest's power button");
        return qmp_execute(j->qmp, "system_powerdown", NULL, on_powerdown, j);
}

/* ---- helper processes: host data, disk copies, suspend ------------------------------------------ */

/* "progress PERCENT [DONE TOTAL]": the copy helper's report, never part of its output;
 * "step TEXT": what the helper does now (migrate-out), the job's Message;
 * "line TEXT", "warning TEXT": a line of output for the client (reconfigure), the
 * job's Message, each sent as it comes */
static bool progress_line(Job *j, const char *line, size_t len)
{
        unsigned long long done = 0, total = 0;
        char buf[256];
        int pct;

        if (len > 5 && len < sizeof(buf) && strncmp(line, "line ", 5) == 0) {
                memcpy(buf, line + 5, len - 5);
                buf[len - 5] = 0;
                job_set_message(j, "%s", buf);
                return true;
        }
        if (len > 8 && len < sizeof(buf) && strncmp(line, "warning ", 8) == 0) {
                memcpy(buf, line + 8, len - 8);
                buf[len - 8] = 0;
                job_set_message(j, "warning: %s", buf);
                return true;
        }

        if (len > 5 && len < sizeof(buf) && strncmp(line, "step ", 5) == 0) {
                memcpy(buf, line + 5, len - 5);
                buf[len - 5] = 0;
                job_set_message(j, "%s", buf);
                return true;
        }

        if (len < 10 || len >= sizeof(buf) || strncmp(line, "progress ", 9) != 0)
                return false;
        memcpy(buf, line, len);
        buf[len] = 0;
        if (sscanf(buf + 9, "%d %llu %llu", &pct, &done, &total) < 1 || pct < 0 || pct > 100)
                return true;
        job_set_progress(j, pct / 100.0, total > 0 ? done : 0, total);
        return true;
}

/* The child's output is drained as it comes (a chatty child never blocks on a
 * full pipe); the last 4 KiB are kept for the error message. */
static int on_child_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Job *j = userdata;
        char buf[4096];
        ssize_t n;

        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                size_t keep = sizeof(j->output) - 1, w = 0;

                for (ssize_t i = 0; i < n;) {
                        char *nl = memchr(buf + i, '\n', (size_t) (n - i));
                        size_t len = nl ? (size_t) (nl - (buf + i)) + 1 : (size_t) (n - i);

                        if (!progress_line(j, buf + i, nl ? len - 1 : len)) {
                                memmove(buf + w, buf + i, len);
                                w += len;
                        }
                        i += (ssize_t) len;
                }
                n = (ssize_t) w;
                if ((size_t) n >= keep) {
                        memcpy(j->output, buf + (size_t) n - keep, keep);
                        j->output_len = keep;
                } else {
                        if (j->output_len + (size_t) n > keep) {
                                size_t drop = j->output_len + (size_t) n - keep;
                                memmove(j->output, j->output + drop, j->output_len - drop);
                                j->output_len -= drop;
                        }
                        memcpy(j->output + j->output_len, buf, (size_t) n);
                        j->output_len += (size_t) n;
                }
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                j->output_source = sd_event_source_disable_unref(j->output_source);
        return 0;
}

/* The helper's lines start "zone 'NAME': "; the caller puts its own in front. */
static char *strip_zone_prefix(const char *zone, const char *output)
{
        char prefix[96];
        size_t plen;
        char *msg = malloc(strlen(output) + 1), *m = msg;

        if (!msg)
                return NULL;
        (void) snprintf(prefix, sizeof(prefix), "zone '%s': ", zone);
        plen = strlen(prefix);
        for (const char *p = output; *p;) {
                if (strncmp(p, prefix, plen) == 0)
                        p += plen;
                while (*p && *p != '\n')
                        *m++ = *p++;
                if (*p == '\n')
                        *m++ = *p++;
        }
        *m = 0;
        return msg;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        Job *j = userdata;
        int status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        _cleanup_free_ char *msg = NULL;

        j->pid = 0;
        j->child = sd_event_source_disable_unref(j->child);
        if (j->output_fd >= 0) {
                (void) on_child_output(NULL, j->output_fd, EPOLLIN, j);
                j->output_source = sd_event_source_disable_unref(j->output_source);
                j->output_fd = safe_close_fd(j->output_fd);
        }
        j->output[j->output_len] = 0;
        while (j->output_len > 0 && (j->output[j->output_len - 1] == '\n' || j->output[j->output_len - 1] == '\r'))
                j->output[--j->output_len] = 0;
        msg = strip_zone_prefix(j->zone->name, j->output);
        /* what the helper found: the zone unavailable, attached, detached */
        zone_helper_ended(j->zone, j->type, status);
        if (j->state == JOB_RUNNING)
                j->type->helper_done(j, status, *j->output ? (msg ?: j->output) : "");
        return 0;
}

void job_kill_helper(Job *j)
{
        j->child = sd_event_source_disable_unref(j->child);
        j->output_source = sd_event_source_disable_unref(j->output_source);
        if (j->pid > 0) {
                (void) kill(j->pid, SIGKILL);
                /* reaped here: nobody waits for it any more */
                (void) waitpid(j->pid, NULL, 0);
        }
        j->pid = 0;
        j->output_fd = safe_close_fd(j->output_fd);
}

/* A helper ends with the restarter that started it, however the restarter ends:
 * systemd stops what is left in the restarter's cgroup, and without systemd (or
 * if only the main process was killed) the parent-death signal does. What a helper
 * leaves half done is the restarter's to reconcile when it starts (reconcile.c),
 * never a helper's that outlived it and goes on unwatched. */
static int spawn(Job *j, char *const argv[])
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
                if (j->image_fd >= 0)
                        (void) dup2(j->image_fd, 3);
                if (j->target_fd >= 0)
                        (void) dup2(j->target_fd, 4);
                if (j->connection_fd >= 0 && dup2(j->connection_fd, 3) >= 0)
                        (void) putenv((char *) "KZONES_DESTINATION_FD=3");
                execvp(argv[0], argv);
                fprintf(stderr, "cannot run %s: %m\n", argv[0]);
                _exit(127);
        }
        (void) close(pipefd[1]);
        j->output_fd = pipefd[0];
        j->output_len = 0;
        j->pid = pid;
        r = sd_event_add_io(j->manager->event, &j->output_source, j->output_fd, EPOLLIN, on_child_output, j);
        if (r < 0)
                return r;
        return sd_event_add_child(j->manager->event, &j->child, pid, WEXITED, on_child, j);
}

static const char *helper_path(void)
{
        return getenv("KZONES_ZONE_HELPER") ?: KZONES_LIBEXECDIR "/kzones/kzones-zone";
}

int job_run_copy_helper(Job *j, const char *verb, const char *arg)
{
        char *argv[] = { (char *) helper_path(), (char *) verb, j->zone->name, (char *) arg,
                (char *) (j->target_fd >= 0 ? "/proc/self/fd/4" : NULL), NULL };

        return spawn(j, argv);
}

int job_run_helper2(Job *j, const char *verb, const char *arg, const char *arg2)
{
        char *argv[] = { (char *) helper_path(), (char *) verb, j->zone->name, (char *) arg, (char *) arg2, NULL };

        return spawn(j, argv);
}

int job_run_helper(Job *j, const char *verb, const char *arg)
{
        char *argv[] = { (char *) helper_path(), (char *) verb, j->zone->name, (char *) arg, NULL };

        return spawn(j, argv);
}
