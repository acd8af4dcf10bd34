/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm (and zonecfg -r's commit) follows a restarter job: the method call returns
 * the job's path at once (no call is held open), and the job's properties tell its
 * progress and result. Ctrl-C cancels a job that can be cancelled; any other goes on
 * in the restarter. An apply job's Message is a line of output each time it is set. */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "bus-error.h"
#include "macro.h"
#include "restarter-client.h"
#include "size.h"
#include "zone-config.h"


typedef struct Follow {
        const char *zone;
        const char *path;
        char *kind;
        char *state;
        char *message;
        char *result_name;
        char *result_text;
        double progress;
        uint64_t done, total, rate;
        bool cancellable;
        bool reported;       /* progress came while the job ran */
        bool removed;        /* JobRemoved came */
        bool restarter_gone; /* the restarter left the bus */
        int shown;           /* the percentage on screen, -1 none */
        bool line_open;      /* a progress line waits for its newline */
        char *shown_message; /* migrate: the step last printed; apply: the line last printed */
        bool quiet;
        bool message_read;   /* the properties just read held Message */
        bool state_read;     /* … and State */
} Follow;

/* Ctrl-Cs read from the signalfd */
static unsigned interrupted;

static void follow_done(Follow *f)
{
        free(f->kind);
        free(f->state);
        free(f->message);
        free(f->result_name);
        free(f->result_text);
        free(f->shown_message);
}

static int set_string(char **field, const char *value)
{
        char *v = strdup(value);

        if (!v)
                return -ENOMEM;
        free(*field);
        *field = v;
        return 0;
}

/* An a{sv} of the Job interface's properties, from GetAll or PropertiesChanged. */
static int read_properties(Follow *f, sd_bus_message *m)
{
        const char *name, *contents;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *s;
                char type;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (streq(name, "Message"))
                        f->message_read = true;
                if (streq(name, "State"))
                        f->state_read = true;
                if (streq(name, "State") && streq_ptr(contents, "s")) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0)
                                r = set_string(&f->state, s);
                } else if (streq(name, "Kind") && streq_ptr(contents, "s")) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0)
                                r = set_string(&f->kind, s);
                } else if (streq(name, "Message") && streq_ptr(contents, "s")) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0)
                                r = set_string(&f->message, s);
                } else if (streq(name, "Progress") && streq_ptr(contents, "d"))
                        r = sd_bus_message_read(m, "v", "d", &f->progress);
                else if (streq(name, "BytesDone") && streq_ptr(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", &f->done);
                else if (streq(name, "BytesTotal") && streq_ptr(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", &f->total);
                else if (streq(name, "Rate") && streq_ptr(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", &f->rate);
                else if (streq(name, "Cancellable") && streq_ptr(contents, "b")) {
                        int b;

                        r = sd_bus_message_read(m, "v", "b", &b);
                        f->cancellable = b;
                } else if (streq(name, "Result") && streq_ptr(contents, "(ss)")) {
                        const char *e, *t;

                        r = sd_bus_message_read(m, "v", "(ss)", &e, &t);
                        if (r >= 0)
                                r = set_string(&f->result_name, e);
                        if (r >= 0)
                                r = set_string(&f->result_text, t);
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int get_all(sd_bus *bus, Follow *f)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, f->path, DBUS_PROPERTIES_IFACE, "GetAll", &error,
                &reply, "s", RESTARTER_JOB_IFACE);
        if (r < 0)
                return log_call_error(f->zone, &error, r, 0);
        r = read_properties(f, reply);
        if (r < 0)
                return log_bad_reply(f->zone, r);
        return 0;
}

/* On a terminal the line is redrawn; elsewhere one line each 10%, ending at 100%. */
static void show_progress(Follow *f, bool quiet)
{
        char done[16], total[16], rate[16];
        int pct;

        if (quiet || f->progress < 0 || !f->kind)
                return;
        pct = (int) (f->progress * 100 + 0.5);
        if (pct == f->shown)
                return;
        if (isatty(STDOUT_FILENO)) {
                printf("\r%s: %3d%%", f->kind, pct);
                if (f->total > 0)
                        printf(" (%s of %s", size_format(f->done, done, sizeof(done)),
                                size_format(f->total, total, sizeof(total)));
                if (f->total > 0 && f->rate > 0)
                        printf(", %s/s", size_format(f->rate, rate, sizeof(rate)));
                if (f->total > f->done && f->rate > 0)
                        printf(", %" PRIu64 " s left", (f->total - f->done + f->rate - 1) / f->rate);
                if (f->total > 0)
                        fputs(")\033[K", stdout);
                f->line_open = true;
        } else if (pct / 10 != f->shown / 10 || pct == 100) {
                printf("%s: %d%%\n", f->kind, pct / 10 * 10);
                f->shown = pct / 10 * 10;
                fflush(stdout);
                if (pct != 100)
                        return;
        }
        f->shown = pct;
        fflush(stdout);
}

static void end_line(Follow *f)
{
        if (f->line_open)
                putchar('\n');
        f->line_open = false;
        fflush(stdout);
}

/* A migration's steps (the guide's messages, "zoneadm: zone 'NAME': Starting
 * migration."), each once, as the job's Message says them. */
static void show_step(Follow *f)
{
        if (!streq_ptr(f->kind, "migrate") || !f->message || streq_ptr(f->message, f->shown_message) ||
            !(streq_ptr(f->state, "running") || streq_ptr(f->state, "done")))
                return;
        end_line(f);
        printf("%s: zone '%s': %s\n", cli_prog, f->zone, f->message);
        fflush(stdout);
        /* on a terminal the progress line is drawn again below the step; elsewhere its
         * lines go on from where they were */
        if (isatty(STDOUT_FILENO))
                f->shown = -1;
        (void) set_string(&f->shown_message, f->message);
}

/* An apply job's output: each value its Message takes while it runs is a line, in
 * the guide's form, "zone 'kz1': Checking: Adding anet id=1". The last value comes
 * again with the job's end, with its State (and on failure is replaced by the
 * error): not a line. Signals may be read after GetAll said the job ended. */
static void show_line(Follow *f)
{
        if (!streq_ptr(f->kind, "apply") || f->state_read || isempty(f->message) ||
            streq_ptr(f->message, f->shown_message))
                return;
        (void) set_string(&f->shown_message, f->message);
        if (f->quiet)
                return;
        printf("zone '%s': %s\n", f->zone, f->message);
        fflush(stdout);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Follow *f = userdata;
        const char *iface;

        /* the match covers every job (it was made before this one's path was known) */
        if (!f->path || !streq_ptr(sd_bus_message_get_path(m), f->path))
                return 0;
        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, RESTARTER_JOB_IFACE))
                return 0;
        f->message_read = f->state_read = false;
        (void) read_properties(f, m);
        if (f->message_read)
                show_line(f);
        if (streq_ptr(f->state, "running") && f->progress >= 0)
                f->reported = true;
        return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Follow *f = userdata;
        const char *path, *zone, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &zone, &result) >= 0 && streq(path, f->path))
                f->removed = true;
        return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Follow *f = userdata;
        const char *name, *old, *new;

        if (sd_bus_message_read(m, "sss", &name, &old, &new) >= 0 && streq(name, RESTARTER_BUS_NAME) && isempty(new))
                f->restarter_gone = true;
        return 0;
}

/* Waits for the bus or a Ctrl-C (SIGINT is blocked and read from sigfd, so that one
 * that comes during a call waits for the loop instead of breaking the call). */
static int wait_bus_or_signal(sd_bus *bus, int sigfd)
{
        struct pollfd p[2] = { { .fd = sd_bus_get_fd(bus) }, { .fd = sigfd, .events = POLLIN } };
        struct signalfd_siginfo si;
        uint64_t until = UINT64_MAX, now;
        int timeout = -1, r;

        r = sd_bus_get_events(bus);
        if (r < 0)
                return r;
        p[0].events = (short) r;
        if (sd_bus_get_timeout(bus, &until) >= 0 && until != UINT64_MAX) {
                struct timespec ts;

                (void) clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
                timeout = until > now ? (int) ((until - now + 999) / 1000) : 0;
        }
        if (poll(p, sigfd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
                return -errno;
        while (sigfd >= 0 && read(sigfd, &si, sizeof(si)) == sizeof(si))
                interrupted++;
        return 0;
}

/* Ctrl-C: a job that can be cancelled is; any other goes on without us. Returns 1
 * to stop following. */
static int interrupt(sd_bus *bus, Follow *f)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        end_line(f);
        if (interrupted > 1 || !f->cancellable) {
                fprintf(stderr, "%s: zone '%s': interrupted; the %s goes on in the zone restarter (job %s; see "
                        "'zoneadm list -cv')\n", cli_prog, f->zone, strna(f->kind), f->path);
                return 1;
        }
        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, f->path, RESTARTER_JOB_IFACE, "Cancel", &error, NULL, NULL);
        if (r < 0 && !sd_bus_error_has_name(&error, KZ_ERROR_WRONG_STATE)) {
                fprintf(stderr, "%s: zone '%s': the %s cannot be cancelled now: %s; it goes on (job %s)\n",
                        cli_prog, f->zone, strna(f->kind), error.message ?: strerror(-r), f->path);
                return 1;
        }
        fprintf(stderr, "%s: zone '%s': cancelling the %s\n", cli_prog, f->zone, strna(f->kind));
        f->cancellable = false;
        return 0;
}

/* The job's end as the command's exit: its error, as any error of the restarter (an
 * apply job's in the guide's form), put in c->error. */
static int job_result(Follow *f, JobCall *c)
{
        int r;

        if (streq_ptr(f->state, "done"))
                return 0;
        (void) kz_bus_error_map_register();
        r = sd_bus_error_set(&c->error, !isempty(f->result_name) ? f->result_name : SD_BUS_ERROR_FAILED,
                !isempty(f->result_text) ? f->result_text : "the job failed");
        if (r >= 0)
                r = -EIO;
        c->job_failed = true;
        if (c->silent_failure)
                return r;
        if (streq_ptr(f->kind, "apply"))
                return log_apply_error(c->zone, &c->error, r);
        return log_call_error(c->zone, &c->error, r, 0);
}

int log_apply_error(const char *zone, const sd_bus_error *e, int r)
{
        const char *p = !isempty(e->message) ? e->message : strerror(-r);

        for (;;) {
                size_t n = strcspn(p, "\n");

                /* the restarter's line may already say "error:" (a helper's output) */
                fprintf(stderr, "zone '%s': %s%.*s\n", zone, startswith(p, "error:") ? "" : "error: ", (int) n, p);
                if (!p[n])
                        break;
                p += n + 1;
        }
        return r;
}

void job_call_done(JobCall *c)
{
        sd_bus_error_free(&c->error);
}

/* Reports what went wrong before the job ran, unless the caller does. */
static int call_failed(JobCall *c, int r)
{
        if (c->silent_refusal)
                return r;
        /* The zone was deleted since GetZone answered. */
        if (sd_bus_error_has_name(&c->error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                return log_not_configured(c->zone);
        return log_call_error(c->zone, &c->error, r, 0);
}

int zone_job_call(sd_bus *bus, sd_bus_message *m, const char *zone, bool quiet)
{
        JobCall c = { .zone = zone, .quiet = quiet };
        int r;

        r = zone_job_run(bus, m, &c);
        job_call_done(&c);
        return r;
}

static int follow(sd_bus *bus, sd_bus_message *m, JobCall *c, int sigfd)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *removed = NULL, *changed = NULL, *owner = NULL;
        _cleanup_free_ char *path = NULL;
        const char *zone = c->zone;
        Follow f = { .zone = zone, .shown = -1, .progress = -1, .quiet = c->quiet };
        const char *p;
        int r;

        /* before the call: a job that ends at once is not missed, nor a line of its output
         * (the signals that come during the call wait in the queue until its path is known) */
        r = sd_bus_match_signal(bus, &removed, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "JobRemoved",
                on_job_removed, &f);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &owner, DBUS_BUS_NAME, DBUS_PATH,
                        DBUS_IFACE, "NameOwnerChanged", on_owner_changed, &f);
        if (r >= 0)
                r = sd_bus_add_match(bus, &changed, "type='signal',sender='" RESTARTER_BUS_NAME "',"
                        "interface='" DBUS_PROPERTIES_IFACE "',member='PropertiesChanged',"
                        "path_namespace='" RESTARTER_JOB_PREFIX "'", on_properties_changed, &f);
        if (r < 0)
                return log_request_error(r);
        r = sd_bus_call(bus, m, 0, &c->error, &reply);
        if (r < 0)
                return call_failed(c, r);
        r = sd_bus_message_read(reply, "o", &p);
        if (r < 0)
                return log_bad_reply(zone, r);
        path = strdup(p);
        if (!path)
                return log_bad_reply(zone, -ENOMEM);
        f.path = path;
        r = get_all(bus, &f);
        if (r < 0) {
                follow_done(&f);
                return r;
        }
        while (streq_ptr(f.state, "running") && !f.removed && !f.restarter_gone) {
                show_step(&f);
                show_progress(&f, c->quiet);
                if (interrupted && !f.removed) {
                        r = interrupt(bus, &f);
                        interrupted = interrupted > 1 ? interrupted : 0;
                        if (r > 0) {
                                follow_done(&f);
                                return -EINTR;
                        }
                        interrupted = 0;
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                r = wait_bus_or_signal(bus, sigfd);
                if (r < 0)
                        break;
        }
        /* what came before the end and still waits in the queue: an apply job's last lines */
        while (!f.restarter_gone && sd_bus_process(bus, NULL) > 0)
                ;
        if (f.removed && !f.restarter_gone)
                r = get_all(bus, &f); /* the finished job stays readable for a while */
        if (f.restarter_gone && streq_ptr(f.state, "running")) {
                end_line(&f);
                fprintf(stderr, "%s: zone '%s': the zone restarter stopped before the %s ended; it may not "
                        "have completed (see 'zoneadm list -cv')\n", cli_prog, zone, strna(f.kind));
                follow_done(&f);
                return -ECONNRESET;
        }
        if (r < 0 && !f.state) {
                follow_done(&f);
                return r;
        }
        if (streq_ptr(f.state, "done"))
                show_progress(&f, c->quiet || !(f.reported || f.total > 0));
        show_step(&f);
        end_line(&f);
        r = job_result(&f, c);
        follow_done(&f);
        return r;
}

int zone_job_run(sd_bus *bus, sd_bus_message *m, JobCall *c)
{
        struct signalfd_siginfo si;
        sigset_t mask, old_mask;
        int sigfd = -EBADF, r;

        /* Ctrl-C from here on is ours, read in the loop: one that comes before the job's
         * path is known cancels the job once it is */
        interrupted = 0;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, &old_mask) >= 0) {
                sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
                if (sigfd < 0) /* Ctrl-C then stops the command, and the job goes on */
                        (void) sigprocmask(SIG_SETMASK, &old_mask, NULL);
        }
        r = follow(bus, m, c, sigfd);
        if (sigfd >= 0) {
                /* a Ctrl-C that came at the end was for the job: not for what runs next
                 * (zonecfg -r's prompt goes on after a commit) */
                while (read(sigfd, &si, sizeof(si)) == sizeof(si))
                        ;
                (void) sigprocmask(SIG_SETMASK, &old_mask, NULL);
                sigfd = safe_close_fd(sigfd);
        }
        return r;
}

int zone_lookup(sd_bus *bus, const char *zone, char **ret_path)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        char *p;
        int r;

        if (!zone_name_is_valid(zone))
                return log_not_configured(zone);

        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "GetZone", &error,
                &reply, "s", zone);
        if (r < 0 && sd_bus_error_has_name(&error, KZ_ERROR_ZONE_NOT_FOUND))
                return log_not_configured(zone);
        if (r < 0)
                return log_call_error(zone, &error, r, 0);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_bad_reply(zone, r);
        p = strdup(path);
        if (!p)
                return log_bad_reply(zone, -ENOMEM);
        *ret_path = p;
        return 0;
}

int zone_get_state(sd_bus *bus, const char *zone, const char *path, char **ret_state)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_string(bus, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE, "State", &error,
                ret_state);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                return log_not_configured(zone);
        if (r < 0)
                return log_call_error(zone, &error, r, 0);
        return 0;
}

/* The zone is running, or one line saying why what the caller asked makes no sense. */
int zone_require_running(sd_bus *bus, const char *zone, const char *path, const char *what)
{
        _cleanup_free_ char *state = NULL;
        int r;

        r = zone_get_state(bus, zone, path, &state);
        if (r < 0)
                return r;
        if (streq(state, "running"))
                return 0;
        fprintf(stderr, "%s: zone '%s': not running (%s); %s\n", cli_prog, zone, state, what);
        return -ESRCH;
}
