/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysadm maintain -s [-m MESSAGE] | -e | -l
 * sysadm evacuate [-a] [-n] [-q] [-v] [-r] [-W|-w] | -l
 *
 * Maintenance mode and evacuation through kzones-evacuated (org.kzones.Evacuation1):
 * each evacuate or return is a job there, followed here through its properties (its
 * Zones entries) and cancelled by Ctrl-C. See sysadm(8). */
#include <getopt.h>
#include <json-c/json.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "bus-error.h"
#include "cli-util.h"
#include "kzones-bus.h"
#include "macro.h"
#include "remote.h"
#include "strv.h"
#include "sysadm-plan.h"

#define PROG "sysadm"
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

static void short_usage(FILE *f)
{
        fputs("usage: sysadm maintain -s [-m message] | -e | -l\n"
              "       sysadm evacuate [-a] [-n] [-q] [-v] [-r] [-W|-w] | -l [--json=pretty|short]\n"
              "       sysadm --help | --version\n",
                f);
}

static int call_failed(const char *what, const sd_bus_error *e, int r)
{
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                fprintf(stderr, PROG ": kzones-evacuated is not available: %s\n", e->message);
        else
                fprintf(stderr, PROG ": %s%s%s\n", what ? what : "", what ? ": " : "",
                        e && e->message ? e->message : strerror(-r));
        return -EIO; /* -EINVAL is a usage error's */
}

/* ---- maintain ------------------------------------------------------------------------------------- */

static int maintain_list(sd_bus *bus)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *type = "", *user = "", *message = "";
        uint64_t since = 0;
        int on = 0, r;

        r = sd_bus_call_method(bus, EVACUATION_BUS_NAME, EVACUATION_PATH, DBUS_PROPERTIES_IFACE, "GetAll", &error,
                &reply, "s", EVACUATION_MANAGER_IFACE);
        if (r < 0)
                return call_failed("cannot read the maintenance state", &error, r);
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        break;
                if (streq(name, "Maintenance"))
                        r = sd_bus_message_read(reply, "v", "b", &on);
                else if (streq(name, "MaintenanceType"))
                        r = sd_bus_message_read(reply, "v", "s", &type);
                else if (streq(name, "MaintenanceUser"))
                        r = sd_bus_message_read(reply, "v", "s", &user);
                else if (streq(name, "MaintenanceMessage"))
                        r = sd_bus_message_read(reply, "v", "s", &message);
                else if (streq(name, "MaintenanceSince"))
                        r = sd_bus_message_read(reply, "v", "t", &since);
                else
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0) {
                fprintf(stderr, PROG ": bad reply from kzones-evacuated: %s\n", strerror(-r));
                return r;
        }
        printf("%-7s %-9s %-17s %s\n", "TYPE", "USER", "DATE", "MESSAGE");
        if (on) {
                char date[32] = "-";
                time_t t = (time_t) (since / 1000000);
                struct tm tm;

                if (since > 0 && localtime_r(&t, &tm))
                        (void) strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
                printf("%-7s %-9s %-17s %s\n", type, user, date, message);
        }
        return 0;
}

static int maintain(sd_bus *bus, int argc, char *argv[])
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *message = NULL;
        char action = 0;
        int c, r;

        opterr = 0;
        optind = 1;
        while ((c = getopt(argc, argv, ":selm:")) >= 0)
                switch (c) {
                case 's':
                case 'e':
                case 'l':
                        if (action && action != c)
                                return cli_usage_error(PROG, short_usage, "maintain: -s, -e and -l exclude each other");
                        action = (char) c;
                        break;
                case 'm':
                        message = optarg;
                        break;
                default:
                        return cli_getopt_error(PROG, short_usage, c, argv);
                }
        if (optind < argc)
                return cli_usage_error(PROG, short_usage, "maintain: unexpected argument '%s'", argv[optind]);
        if (!action)
                return cli_usage_error(PROG, short_usage, "maintain: one of -s, -e or -l is needed");
        if (message && action != 's')
                return cli_usage_error(PROG, short_usage, "maintain: -m goes with -s");
        if (action == 'l')
                return maintain_list(bus);
        if (action == 's')
                r = sd_bus_call_method(bus, EVACUATION_BUS_NAME, EVACUATION_PATH, EVACUATION_MANAGER_IFACE,
                        "StartMaintenance", &error, NULL, "s", message ?: "");
        else
                r = sd_bus_call_method(bus, EVACUATION_BUS_NAME, EVACUATION_PATH, EVACUATION_MANAGER_IFACE,
                        "EndMaintenance", &error, NULL, NULL);
        if (r < 0)
                return call_failed(NULL, &error, r);
        return 0;
}

/* ---- evacuate -l ------------------------------------------------------------------------------------ */

typedef struct Row {
        const char *zone, *state, *dest, *error;
        double progress;
} Row;

static int read_rows(sd_bus_message *m, Row **ret, size_t *ret_n)
{
        _cleanup_free_ Row *rows = NULL;
        size_t n = 0;
        Row row;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sssds)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(sssds)", &row.zone, &row.state, &row.dest, &row.progress,
                                  &row.error)) > 0) {
                Row *l = reallocarray(rows, n + 1, sizeof(Row));

                if (!l)
                        return -ENOMEM;
                rows = l;
                rows[n++] = row;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(rows);
        *ret_n = n;
        return 0;
}

/* --json=pretty|short: the rows as systemd's tools print theirs, an array of objects. */
static int print_json(const Row *rows, size_t n, int flags)
{
        json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_new_object();

                if (!o || json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        json_object_put(a);
                        return -ENOMEM;
                }
                json_object_object_add(o, "zone", json_object_new_string(rows[i].zone));
                json_object_object_add(o, "state", json_object_new_string(rows[i].state));
                json_object_object_add(o, "destination", isempty(rows[i].dest) ? NULL :
                        json_object_new_string(rows[i].dest));
                json_object_object_add(o, "progress", json_object_new_double(rows[i].progress));
                json_object_object_add(o, "error", isempty(rows[i].error) ? NULL :
                        json_object_new_string(rows[i].error));
        }
        printf("%s\n", json_object_to_json_string_ext(a, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(a);
        return 0;
}

static int evacuate_list(sd_bus *bus, int json_flags)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ Row *rows = NULL;
        size_t n = 0, wz = 8, wd = 4;
        int r;

        r = sd_bus_call_method(bus, EVACUATION_BUS_NAME, EVACUATION_PATH, EVACUATION_MANAGER_IFACE, "ListZones",
                &error, &reply, NULL);
        if (r < 0 && sd_bus_error_has_name(&error, KZ_ERROR_NO_EVACUATION)) {
                if (json_flags >= 0)
                        return print_json(NULL, 0, json_flags);
                printf(PROG ": no active evacuation\n");
                return 0;
        }
        if (r < 0)
                return call_failed(NULL, &error, r);
        r = read_rows(reply, &rows, &n);
        if (r < 0) {
                fprintf(stderr, PROG ": bad reply from kzones-evacuated: %s\n", strerror(-r));
                return r;
        }
        if (json_flags >= 0)
                return print_json(rows, n, json_flags);
        for (size_t i = 0; i < n; i++) {
                wz = MAX(wz, strlen(rows[i].zone));
                wd = MAX(wd, strlen(rows[i].dest));
        }
        printf("%-*s  %-10s %-*s  %s\n", (int) wz, "ZONENAME", "STATE", (int) wd, "DEST", "ERROR");
        for (size_t i = 0; i < n; i++)
                printf("%-*s  %-10s %-*s  %s\n", (int) wz, rows[i].zone, rows[i].state, (int) wd,
                        isempty(rows[i].dest) ? "-" : rows[i].dest, isempty(rows[i].error) ? "-" : rows[i].error);
        return 0;
}

/* ---- following an evacuation job ---------------------------------------------------------------------- */

typedef struct Follow {
        sd_bus *bus;
        sd_event *event;
        char *path;
        bool ret, dry_run, verbose, quiet;
        char *state, *message, *result_text;
        bool planned, announced, notes_shown;
        char **notes; /* the job's Notes: hosts of a list target left out, -v prints them */
        char **zone_state; /* per zone: the state last seen, "zone\0STATE" pairs as two strings */
        int *shown;        /* per zone: the percentage last printed */
        size_t n_zones;
        Row *rows;
        size_t n_rows;
        sd_bus_message *zones_msg; /* holds the strings rows point to */
        unsigned interrupts;
        bool waiting; /* for another job to end: Ctrl-C leaves it alone */
        bool stopped; /* the loop ends, with stop_error */
        int stop_error;
} Follow;

static const char *host_of(const char *uri)
{
        const char *h = startswith(uri, "ssh://") ?: uri, *at = strchr(h, '@');

        return at ? at + 1 : h;
}

static void set_str(char **field, const char *v)
{
        free(*field);
        *field = strdup(v);
}

static const char *seen_state(Follow *f, const char *zone, size_t *ret_i)
{
        for (size_t i = 0; i < f->n_zones; i++)
                if (streq(f->zone_state[2 * i], zone)) {
                        *ret_i = i;
                        return f->zone_state[2 * i + 1];
                }
        *ret_i = SIZE_MAX;
        return NULL;
}

static void remember(Follow *f, const char *zone, const char *state)
{
        size_t i;

        if (!seen_state(f, zone, &i)) {
                char **l = reallocarray(f->zone_state, 2 * (f->n_zones + 1), sizeof(char *));
                int *s = l ? reallocarray(f->shown, f->n_zones + 1, sizeof(int)) : NULL;

                if (l)
                        f->zone_state = l;
                if (!s)
                        return;
                f->shown = s;
                i = f->n_zones++;
                f->zone_state[2 * i] = strdup(zone);
                f->zone_state[2 * i + 1] = NULL;
                f->shown[i] = 0;
        }
        set_str(&f->zone_state[2 * i + 1], state);
}

/* What changed since the last look: the guide's lines. */
static void show_changes(Follow *f)
{
        if (f->planned && f->verbose && !f->notes_shown) {
                f->notes_shown = true;
                for (char **n = f->notes; n && *n; n++)
                        printf(PROG ": note: %s\n", *n);
        }
        if (!f->planned || f->dry_run)
                return;
        if (!f->announced) {
                bool running = streq_ptr(f->state, "running");
                size_t moving = 0;

                /* from the rows, not the job's Message: a job that ended before we
                 * looked says its end there */
                f->announced = true;
                if (f->verbose)
                        printf(PROG ": preparing %zu zone(s) for %s ...\n", f->n_rows,
                                f->ret ? "return" : "evacuation");
                for (size_t i = 0; i < f->n_rows; i++) {
                        const Row *row = &f->rows[i];

                        /* what moves: a zone with a destination, not skipped, not away already */
                        if (isempty(row->dest) || streq(row->state, "SKIPPED") ||
                            (running && !f->ret && streq(row->state, "EVACUATED")))
                                continue;
                        moving++;
                        if (f->verbose && f->ret)
                                printf(PROG ": initializing return of %s\n", row->zone);
                        else if (f->verbose)
                                printf(PROG ": initializing migration of %s to %s ...\n", row->zone,
                                        host_of(row->dest));
                }
                if (f->verbose)
                        printf(PROG ": %s %zu zone(s) ...\n", f->ret ? "returning" : "evacuating", moving);
        }
        for (size_t i = 0; i < f->n_rows; i++) {
                const Row *row = &f->rows[i];
                size_t k;
                const char *was = seen_state(f, row->zone, &k);
                int pct = (int) (row->progress * 100);

                if (!streq_ptr(was, row->state) && !f->quiet) {
                        if (streq(row->state, "MIGRATING"))
                                printf(PROG ": migrating %s to %s ...\n", row->zone, host_of(row->dest));
                        else if (streq(row->state, "RETURNING"))
                                printf(PROG ": migrating %s\n", row->zone);
                }
                remember(f, row->zone, row->state);
                (void) seen_state(f, row->zone, &k);
                if (k != SIZE_MAX && !f->quiet && (streq(row->state, "MIGRATING") || streq(row->state, "RETURNING")) &&
                    pct / 25 > f->shown[k] / 25 && pct < 100) {
                        printf(PROG ": %s: %d%%\n", row->zone, pct / 25 * 25);
                        f->shown[k] = pct;
                }
        }
        fflush(stdout);
}

static int follow_stop(Follow *f, int error)
{
        f->stopped = true;
        f->stop_error = error;
        return 0;
}

static int read_job(Follow *f, sd_bus_message *m)
{
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *s, *e;
                int b;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        break;
                if (streq(name, "State") && (r = sd_bus_message_read(m, "v", "s", &s)) >= 0)
                        set_str(&f->state, s);
                else if (streq(name, "Message") && (r = sd_bus_message_read(m, "v", "s", &s)) >= 0)
                        set_str(&f->message, s);
                else if (streq(name, "Result") && (r = sd_bus_message_read(m, "v", "(ss)", &e, &s)) >= 0)
                        set_str(&f->result_text, s);
                else if (streq(name, "Planned") && (r = sd_bus_message_read(m, "v", "b", &b)) >= 0)
                        f->planned = f->planned || b;
                else if (streq(name, "Notes")) {
                        char **l = NULL;

                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(m, &l);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r >= 0) {
                                strv_free(f->notes);
                                f->notes = l;
                        } else
                                strv_free(l);
                } else if (streq(name, "Zones")) {
                        _cleanup_free_ Row *rows = NULL;
                        size_t n;

                        r = sd_bus_message_enter_container(m, 'v', "a(sssds)");
                        if (r >= 0)
                                r = read_rows(m, &rows, &n);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r >= 0) {
                                free(f->rows);
                                f->rows = TAKE_PTR(rows);
                                f->n_rows = n;
                                sd_bus_message_unref(f->zones_msg);
                                f->zones_msg = sd_bus_message_ref(m);
                        }
                } else if (!streq(name, "State") && !streq(name, "Message") && !streq(name, "Result") &&
                           !streq(name, "Planned") && !streq(name, "Notes"))
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                show_changes(f);
        if (f->state && !streq(f->state, "running"))
                follow_stop(f, 0);
        return r;
}

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *iface;

        if (sd_bus_message_read(m, "s", &iface) >= 0 && streq(iface, EVACUATION_JOB_IFACE))
                (void) read_job(userdata, m);
        return 0;
}

static int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Follow *f = userdata;
        const char *name, *old, *new;

        if (sd_bus_message_read(m, "sss", &name, &old, &new) >= 0 && streq(name, EVACUATION_BUS_NAME) &&
            isempty(new)) {
                fprintf(stderr, PROG ": kzones-evacuated stopped before the %s ended; run 'sysadm evacuate -l' "
                        "to see where each zone is\n", f->ret ? "return" : "evacuation");
                follow_stop(f, -ECONNRESET);
        }
        return 0;
}

static int on_sigint(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Follow *f = userdata;
        int r;

        if (f->waiting)
                return follow_stop(f, -EINTR);
        if (f->interrupts++ > 0 || !f->path) {
                fprintf(stderr, PROG ": interrupted; the %s goes on in kzones-evacuated (%s)\n",
                        f->ret ? "return" : "evacuation", strna(f->path));
                return follow_stop(f, -EINTR);
        }
        r = sd_bus_call_method(f->bus, EVACUATION_BUS_NAME, f->path, EVACUATION_JOB_IFACE, "Cancel", &error, NULL,
                NULL);
        if (r < 0)
                fprintf(stderr, PROG ": cannot cancel: %s\n", error.message ?: strerror(-r));
        else
                fprintf(stderr, PROG ": cancelling; zones that are moving finish or roll back\n");
        return 0;
}

static void print_result(Follow *f)
{
        const char *what = f->ret ? "return" : "evacuation";
        bool ok = streq_ptr(f->state, "done");
        size_t checked = 0;

        if (!f->planned) {
                fprintf(stderr, PROG ": %s\n", !isempty(f->result_text) ? f->result_text : strna(f->message));
                return;
        }
        if (f->dry_run) {
                for (size_t i = 0; i < f->n_rows; i++)
                        checked += streq(f->rows[i].state, "CHECKED");
                if (!f->quiet)
                        printf(PROG ": preparing zones for evacuation ... %zu/%zu\n", checked, f->n_rows);
                fprintf(ok ? stdout : stderr, PROG ": dry-run %s\n", ok ? "succeeded" : "failed");
        } else if (streq_ptr(f->state, "cancelled"))
                fprintf(stderr, PROG ": %s cancelled\n", what);
        else if (ok && !f->quiet)
                printf(PROG ": %s completed successfully.\n", what);
        else if (!ok)
                fprintf(stderr, PROG ": %s failed.\n", what);
        fflush(stdout);
        for (size_t i = 0; i < f->n_rows; i++) {
                const Row *row = &f->rows[i];

                if (streq(row->state, "EVACUATED") && !f->quiet)
                        printf(PROG ": %s: evacuated to %s\n", row->zone, row->dest);
                else if (streq(row->state, "RETURNED") && !f->quiet)
                        printf(PROG ": %s: returned\n", row->zone);
                else if (streq(row->state, "CHECKED") && f->verbose)
                        printf(PROG ": %s: can migrate to %s\n", row->zone, row->dest);
                else if (streq(row->state, "SKIPPED"))
                        fprintf(stderr, PROG ": %s: %s skipped: %s\n", row->zone, what, row->error);
                else if (streq(row->state, "FAILED"))
                        fprintf(stderr, PROG ": %s: %s failed: %s\n", row->zone, f->dry_run ? "dry-run" : what,
                                row->error);
                else if (streq(row->state, "CANCELLED"))
                        fprintf(stderr, PROG ": %s: %s cancelled\n", row->zone, what);
                fflush(stdout);
        }
}

static void follow_done(Follow *f)
{
        for (size_t i = 0; i < 2 * f->n_zones; i++)
                free(f->zone_state[i]);
        free(f->zone_state);
        free(f->shown);
        free(f->rows);
        strv_free(f->notes);
        sd_bus_message_unref(f->zones_msg);
        free(f->path);
        free(f->state);
        free(f->message);
        free(f->result_text);
}

/* Follows the job at path until its State is no longer running, on an event loop
 * of its own (one that has exited cannot run again). */
static int follow_job(sd_bus *bus, const char *path, Follow *f)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *changed = NULL, *owner = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        int r;

        r = sd_event_new(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_sigint, f);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                fprintf(stderr, PROG ": cannot set up: %s\n", strerror(-r));
                return r;
        }
        f->bus = bus;
        f->event = event;
        free(f->path);
        f->path = strdup(path);
        if (!f->path)
                return -ENOMEM;
        /* the matches first, then GetAll: no change is missed */
        r = sd_bus_match_signal(bus, &owner, DBUS_BUS_NAME, DBUS_PATH, DBUS_IFACE, "NameOwnerChanged", on_owner, f);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &changed, EVACUATION_BUS_NAME, f->path, DBUS_PROPERTIES_IFACE,
                        "PropertiesChanged", on_changed, f);
        if (r >= 0)
                r = sd_bus_call_method(bus, EVACUATION_BUS_NAME, f->path, DBUS_PROPERTIES_IFACE, "GetAll", &error,
                        &props, "s", EVACUATION_JOB_IFACE);
        if (r >= 0)
                (void) read_job(f, props);
        /* sd_event_run(), not sd_event_loop() and sd_event_exit(): an exiting loop
         * closes the bus attached to it, which a retry still needs; read_job() stops
         * it once the job is no longer running */
        while (r >= 0 && !f->stopped)
                r = sd_event_run(event, UINT64_MAX);
        if (r >= 0)
                r = f->stop_error;
        (void) sd_bus_detach_event(bus);
        if (r < 0 && error.message)
                return call_failed("cannot follow the job", &error, r);
        return r;
}

/* Manager.Job: the job at work, -ENOENT if none. */
static int job_at_work(sd_bus *bus, char **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_get_property(bus, EVACUATION_BUS_NAME, EVACUATION_PATH, EVACUATION_MANAGER_IFACE, "Job", NULL,
                &reply, "o");
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        if (streq(path, "/"))
                return -ENOENT;
        *ret = strdup(path);
        return *ret ? 0 : -ENOMEM;
}

/* Evacuate or Return with options; a job at work already (a recovery after a crash,
 * another administrator's run) is waited for, once. */
static int start_job(sd_bus *bus, const char *method, bool all, bool dry_run, bool overwrite, char **ret_path)
{
        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                _cleanup_free_ char *busy = NULL;
                Follow w = { .quiet = true, .waiting = true };
                const char *path;
                int r;

                r = sd_bus_message_new_method_call(bus, &m, EVACUATION_BUS_NAME, EVACUATION_PATH,
                        EVACUATION_MANAGER_IFACE, method);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && all)
                        r = sd_bus_message_append(m, "{sv}", "All", "b", 1);
                if (r >= 0 && dry_run)
                        r = sd_bus_message_append(m, "{sv}", "DryRun", "b", 1);
                if (r >= 0 && overwrite)
                        r = sd_bus_message_append(m, "{sv}", "Overwrite", "b", 1);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r < 0) {
                        fprintf(stderr, PROG ": cannot build the request: %s\n", strerror(-r));
                        return r;
                }
                r = sd_bus_call(bus, m, 0, &error, &reply);
                if (r >= 0) {
                        r = sd_bus_message_read(reply, "o", &path);
                        if (r < 0 || !(*ret_path = strdup(path)))
                                return call_failed("bad reply", NULL, r < 0 ? r : -ENOMEM);
                        return 0;
                }
                if (attempt > 0 || !sd_bus_error_has_name(&error, KZ_ERROR_BUSY) || job_at_work(bus, &busy) < 0)
                        return call_failed(NULL, &error, r);
                fprintf(stderr, PROG ": waiting for the evacuation at work (%s) to end ...\n", busy);
                r = follow_job(bus, busy, &w);
                follow_done(&w);
                if (r < 0)
                        return r;
        }
}

/* Evacuate or Return, then the job to its end; Ctrl-C cancels. */
static int run_job(sd_bus *bus, const char *method, bool all, bool dry_run, bool overwrite, Follow *f)
{
        _cleanup_free_ char *path = NULL;
        int r;

        r = start_job(bus, method, all, dry_run, overwrite, &path);
        if (r < 0)
                return r;
        r = follow_job(bus, path, f);
        if (r < 0)
                return r;
        print_result(f);
        if (f->dry_run && !f->quiet && f->planned)
                (void) print_plan_estimates(bus, path);
        return streq_ptr(f->state, "done") ? 0 : -EIO;
}

static int evacuate(sd_bus *bus, int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", required_argument, NULL, 'J' },
                {}
        };
        int json_flags = -1;
        bool all = false, dry_run = false, quiet = false, verbose = false, ret = false, overwrite = false,
             list = false;
        Follow f = {};
        int c, r;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":anqvrWwlh", options, NULL)) >= 0)
                switch (c) {
                case 'a':
                        all = true;
                        break;
                case 'n':
                        dry_run = true;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'r':
                        ret = true;
                        break;
                case 'W':
                case 'w':
                        overwrite = true;
                        break;
                case 'l':
                        list = true;
                        break;
                case 'h':
                        short_usage(stdout);
                        return 0;
                case 'J':
                        if (streq(optarg, "pretty"))
                                json_flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
                        else if (streq(optarg, "short"))
                                json_flags = JSON_C_TO_STRING_PLAIN;
                        else
                                return cli_usage_error(PROG, short_usage,
                                        "evacuate: --json takes pretty or short, not '%s'", optarg);
                        break;
                default:
                        return cli_getopt_error(PROG, short_usage, c, argv);
                }
        if (optind < argc)
                return cli_usage_error(PROG, short_usage, "evacuate: unexpected argument '%s'", argv[optind]);
        if (json_flags >= 0 && !list)
                return cli_usage_error(PROG, short_usage, "evacuate: --json goes with -l");
        if (list && (all || dry_run || quiet || verbose || ret || overwrite))
                return cli_usage_error(PROG, short_usage, "evacuate: -l goes alone");
        if (dry_run && overwrite)
                return cli_usage_error(PROG, short_usage, "evacuate: -n and -W exclude each other");
        if (quiet && verbose)
                return cli_usage_error(PROG, short_usage, "evacuate: -q and -v exclude each other");
        if (ret && (dry_run || overwrite))
                return cli_usage_error(PROG, short_usage, "evacuate: -r takes neither -n nor -W");
        if (list)
                return evacuate_list(bus, json_flags);
        f = (Follow) { .ret = ret, .dry_run = dry_run, .verbose = verbose, .quiet = quiet };
        r = run_job(bus, ret ? "Return" : "Evacuate", all, dry_run, overwrite, &f);
        follow_done(&f);
        return r;
}

int main(int argc, char *argv[])
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc >= 2 && streq(argv[1], "--version"))
                return cli_version(PROG) < 0;
        if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                short_usage(stdout);
                return 0;
        }
        if (argc < 2 || (!streq(argv[1], "maintain") && !streq(argv[1], "evacuate"))) {
                (void) cli_usage_error(PROG, short_usage, argc < 2 ? "a subcommand is needed" :
                        "unknown subcommand '%s'", argc < 2 ? "" : argv[1]);
                return 2;
        }
        (void) kz_bus_error_map_register();
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, PROG ": cannot connect to the system bus: %s\n", strerror(-r));
                return 1;
        }
        r = streq(argv[1], "maintain") ? maintain(bus, argc - 1, argv + 1) : evacuate(bus, argc - 1, argv + 1);
        return r == -EINVAL ? 2 : r < 0 ? 1 : 0;
}
