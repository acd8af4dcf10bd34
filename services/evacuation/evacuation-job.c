/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An evacuation, a return or a recovery at work: the zones it moves (entries), each
 * moved by a Zone.Migrate job of a restarter — this host's for an evacuation, the
 * destination's (over SSH) for a return — followed through that job's properties,
 * at most `parallel` at once. Nothing here blocks the loop: every call is async.
 *
 * evacuate: ListZones here → each running kz zone (installed too with All) with its
 *           EvacuationTarget → Migrate; other brands SKIPPED.
 * return:   the record's EVACUATED zones → on their destination GetZone, State →
 *           Migrate back to the record's return URI.
 * recover:  at start, with an interrupted run in the record: each zone that was in
 *           flight is looked for here (a restarter job still at work is followed)
 *           and, if not here, on its destination. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "evacuation.h"
#include "log.h"
#include "remote.h"
#include "strv.h"

static const char *const evacuation_kind_table[_EVACUATION_KIND_MAX] = {
        [EVACUATION_EVACUATE] = "evacuate",
        [EVACUATION_RETURN] = "return",
        [EVACUATION_RECOVER] = "recover",
};
DEFINE_STRING_TABLE(evacuation_kind, EvacuationKind, _EVACUATION_KIND_MAX)

static const char *const job_state_table[_JOB_STATE_MAX] = {
        [JOB_RUNNING] = "running",
        [JOB_DONE] = "done",
        [JOB_FAILED] = "failed",
        [JOB_CANCELLED] = "cancelled",
};
DEFINE_STRING_TABLE(job_state, JobState, _JOB_STATE_MAX)

static const char *const entry_state_table[_ENTRY_STATE_MAX] = {
        [ENTRY_PENDING] = "PENDING",
        [ENTRY_MIGRATING] = "MIGRATING",
        [ENTRY_EVACUATED] = "EVACUATED",
        [ENTRY_SKIPPED] = "SKIPPED",
        [ENTRY_FAILED] = "FAILED",
        [ENTRY_CANCELLED] = "CANCELLED",
        [ENTRY_CHECKED] = "CHECKED",
        [ENTRY_RETURNING] = "RETURNING",
        [ENTRY_RETURNED] = "RETURNED",
};
DEFINE_STRING_TABLE(entry_state, EntryState, _ENTRY_STATE_MAX)

static void evacuation_pump(Evacuation *ev);
void entry_follow_job(Entry *e, const char *job);

/* ---- entries ------------------------------------------------------------------------------------ */

static Entry *entry_free(Entry *e)
{
        if (!e)
                return NULL;
        sd_bus_slot_unref(e->call);
        sd_bus_slot_unref(e->job_changed);
        sd_bus_flush_close_unref(e->remote);
        if (e->ssh_errors >= 0)
                close(e->ssh_errors);
        free(e->zone);
        free(e->brand);
        free(e->destination);
        free(e->error);
        free(e->zone_path);
        free(e->job);
        free(e->pool);
        strv_free(e->candidates);
        free(e);
        return NULL;
}

int evacuation_add_entry(Evacuation *ev, const char *zone, Entry **ret)
{
        Entry **l, *e;

        if (ev->n_entries >= EVACUATION_ZONES_MAX)
                return -E2BIG;
        l = reallocarray(ev->entries, ev->n_entries + 1, sizeof(Entry *));
        if (!l)
                return -ENOMEM;
        ev->entries = l;
        e = calloc(1, sizeof(Entry));
        if (!e)
                return -ENOMEM;
        *e = (Entry) { .evacuation = ev, .ssh_errors = -EBADF };
        e->zone = strdup(zone);
        e->brand = strdup("");
        e->destination = strdup("");
        e->error = strdup("");
        if (!e->zone || !e->brand || !e->destination || !e->error) {
                entry_free(e);
                return -ENOMEM;
        }
        ev->entries[ev->n_entries++] = e;
        if (ret)
                *ret = e;
        return 0;
}

Entry *evacuation_find_entry(Evacuation *ev, const char *zone)
{
        for (size_t i = 0; i < ev->n_entries; i++)
                if (streq(ev->entries[i]->zone, zone))
                        return ev->entries[i];
        return NULL;
}

int entry_set_error(Entry *e, const char *fmt, ...)
{
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        /* one line, as -l shows it */
        for (char *c = s; *c; c++)
                if ((unsigned char) *c < ' ')
                        *c = ' ';
        free(e->error);
        e->error = s;
        return 0;
}

void entry_journal(Entry *e)
{
        Evacuation *ev = e->evacuation;

        (void) sd_journal_send("MESSAGE=zone '%s': %s %s%s%s%s%s", e->zone, evacuation_kind_to_string(ev->kind),
                entry_state_to_string(e->state), isempty(e->destination) ? "" : " (", strempty(e->destination),
                isempty(e->destination) ? "" : ")", isempty(e->error) ? "" : "", "MESSAGE_ID=" KZ_MESSAGE_EVACUATION_ZONE,
                "PRIORITY=%d", e->state == ENTRY_FAILED || e->state == ENTRY_SKIPPED ? 4 : 6, "ZONE=%s", e->zone,
                "EVACUATION_JOB=%" PRIu32, ev->id, "EVACUATION_KIND=%s", evacuation_kind_to_string(ev->kind),
                "EVACUATION_STATE=%s", entry_state_to_string(e->state), "EVACUATION_DESTINATION=%s",
                strempty(e->destination), "EVACUATION_ERROR=%s", strempty(e->error), NULL);
}

void entry_set_state(Entry *e, EntryState s)
{
        Evacuation *ev = e->evacuation;

        e->state = s;
        if ((s == ENTRY_EVACUATED || s == ENTRY_RETURNED || s == ENTRY_CHECKED))
                e->progress = 1;
        if (s != ENTRY_FAILED && s != ENTRY_SKIPPED && s != ENTRY_CANCELLED)
                (void) entry_set_error(e, "%s", "");
        if (s != ENTRY_PENDING && s != ENTRY_MIGRATING && s != ENTRY_RETURNING)
                entry_journal(e);
        if (s == ENTRY_FAILED || s == ENTRY_SKIPPED)
                log_warning("zone '%s': %s %s: %s", e->zone, evacuation_kind_to_string(ev->kind),
                        entry_state_to_string(s), e->error);
        else
                log_info("zone '%s': %s %s%s%s", e->zone, evacuation_kind_to_string(ev->kind),
                        entry_state_to_string(s), isempty(e->destination) ? "" : " ", strempty(e->destination));
        bus_job_send_changed(ev, "Zones", NULL);
}

static void entry_fail(Entry *e, const char *fmt, ...) _printf_(2, 3);
static void entry_fail(Entry *e, const char *fmt, ...)
{
        Evacuation *ev = e->evacuation;
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        e->call = sd_bus_slot_unref(e->call);
        e->job_changed = sd_bus_slot_unref(e->job_changed);
        if (ev->kind == EVACUATION_RECOVER && e->state == ENTRY_MIGRATING && !e->job) {
                /* it left this host (the restarter here let it go only once it ran on the
                 * destination), and the destination cannot say: it stays in the record as
                 * away, with why it is not confirmed, so that a return looks for it */
                entry_set_state(e, ENTRY_EVACUATED);
                (void) entry_set_error(e, "not confirmed by %s: %s", e->destination, s ?: "out of memory");
                bus_job_send_changed(ev, "Zones", NULL);
        } else {
                (void) entry_set_error(e, "%s", s ?: "out of memory");
                e->state = ev->cancelling ? ENTRY_CANCELLED : ENTRY_FAILED;
                entry_set_state(e, e->state);
        }
        free(s);
        e->job = mfree_str(e->job);
        evacuation_pump(ev);
}

static sd_bus *entry_bus(Entry *e)
{
        return e->remote ?: e->evacuation->manager->bus;
}

static bool entry_busy(const Entry *e)
{
        return e->call || e->job;
}

/* ---- following a restarter job ------------------------------------------------------------------ */

typedef struct JobProps {
        const char *state, *kind, *result_name, *result_text;
        double progress;
        uint64_t rate, bytes_done;
} JobProps;

static int read_job_props(sd_bus_message *m, JobProps *p)
{
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *contents;
                char type;

                r = sd_bus_message_read(m, "s", &name);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (streq(name, "State") && streq_ptr(contents, "s"))
                        r = sd_bus_message_read(m, "v", "s", &p->state);
                else if (streq(name, "Kind") && streq_ptr(contents, "s"))
                        r = sd_bus_message_read(m, "v", "s", &p->kind);
                else if (streq(name, "Progress") && streq_ptr(contents, "d"))
                        r = sd_bus_message_read(m, "v", "d", &p->progress);
                else if (streq(name, "Rate") && streq_ptr(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", &p->rate);
                else if (streq(name, "BytesDone") && streq_ptr(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", &p->bytes_done);
                else if (streq(name, "Result") && streq_ptr(contents, "(ss)"))
                        r = sd_bus_message_read(m, "v", "(ss)", &p->result_name, &p->result_text);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static void entry_job_props(Entry *e, sd_bus_message *m)
{
        Evacuation *ev = e->evacuation;
        JobProps p = { .progress = -1 };
        EntryState done;

        if (read_job_props(m, &p) < 0)
                return;
        if (p.progress >= 0 && p.progress <= 1 && p.progress != e->progress) {
                e->progress = p.progress;
                bus_job_send_changed(ev, "Zones", NULL);
        }
        entry_measure(e, p.rate, p.bytes_done);
        if (!p.state || streq(p.state, "running"))
                return;
        /* the job ended */
        e->job_changed = sd_bus_slot_unref(e->job_changed);
        e->job = mfree_str(e->job);
        if (streq(p.state, "done")) {
                done = ev->dry_run ? ENTRY_CHECKED : e->state == ENTRY_RETURNING ? ENTRY_RETURNED : ENTRY_EVACUATED;
                entry_set_state(e, done);
                /* what the link carried, for the next plan's estimates */
                if (!ev->dry_run && !e->cold && e->rate > 0)
                        (void) manager_remember_link_rate(ev->manager, e->destination, e->rate);
        } else if (streq(p.state, "cancelled")) {
                (void) entry_set_error(e, "cancelled; the zone stays where it was");
                entry_set_state(e, ENTRY_CANCELLED);
        } else {
                (void) entry_set_error(e, "%s", !isempty(p.result_text) ? p.result_text : "the migration failed");
                entry_set_state(e, ENTRY_FAILED);
        }
        /* a dry run leaves the record alone: it holds what an earlier run moved */
        if (!ev->dry_run)
                (void) record_write(ev->manager, ev);
        evacuation_pump(ev);
}

static int on_job_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Entry *e = userdata;
        const char *iface;

        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, RESTARTER_JOB_IFACE))
                return 0;
        entry_job_props(e, m);
        return 0;
}

static int on_job_get_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Entry *e = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(m);

        e->call = sd_bus_slot_unref(e->call);
        if (err) {
                entry_fail(e, "lost track of the migration job %s: %s", strna(e->job), err->message);
                return 0;
        }
        entry_job_props(e, m);
        return 0;
}

/* Follows the restarter job at path on the entry's bus: the match first, then
 * GetAll, so that no change between the two is missed. */
void entry_follow_job(Entry *e, const char *job)
{
        sd_bus *bus = entry_bus(e);
        int r;

        free(e->job);
        e->job = strdup(job);
        if (!e->job)
                return entry_fail(e, "out of memory");
        r = sd_bus_match_signal_async(bus, &e->job_changed, RESTARTER_BUS_NAME, job, DBUS_PROPERTIES_IFACE,
                "PropertiesChanged", on_job_changed, NULL, e);
        if (r >= 0)
                r = sd_bus_call_method_async(bus, &e->call, RESTARTER_BUS_NAME, job, DBUS_PROPERTIES_IFACE, "GetAll",
                        on_job_get_all, e, "s", RESTARTER_JOB_IFACE);
        if (r < 0)
                entry_fail(e, "cannot follow the migration job %s: %s", job, strerror(-r));
}

static int on_migrate_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Entry *e = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        const char *job;

        e->call = sd_bus_slot_unref(e->call);
        if (err) {
                entry_fail(e, "%s", err->message);
                return 0;
        }
        if (sd_bus_message_read(m, "o", &job) < 0) {
                entry_fail(e, "the restarter's Migrate answered without a job");
                return 0;
        }
        entry_follow_job(e, job);
        if (e->evacuation->cancelling && e->job)
                (void) sd_bus_call_method_async(entry_bus(e), NULL, RESTARTER_BUS_NAME, e->job, RESTARTER_JOB_IFACE,
                        "Cancel", NULL, NULL, NULL);
        return 0;
}

/* Zone.Migrate on the entry's bus: the zone at zone_path goes to uri. */
static void entry_migrate(Entry *e, const char *uri)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Evacuation *ev = e->evacuation;
        sd_bus *bus = entry_bus(e);
        int r;

        r = sd_bus_message_new_method_call(bus, &m, RESTARTER_BUS_NAME, e->zone_path, RESTARTER_ZONE_IFACE,
                "Migrate");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", uri);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && ev->dry_run)
                r = sd_bus_message_append(m, "{sv}", "DryRun", "b", 1);
        /* the zone's state picks the kind (running: live; installed: cold; suspended:
         * warm); a zone moved live must still be running when the restarter looks */
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "Type", "s", e->cold ? "auto" : "live");
        if (r >= 0 && ev->overwrite)
                r = sd_bus_message_append(m, "{sv}", "Overwrite", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call_async(bus, &e->call, m, on_migrate_reply, e, 0);
        if (r < 0)
                entry_fail(e, "cannot ask for the migration: %s", strerror(-r));
}

/* ---- return: the zone on its destination -------------------------------------------------------- */

static int on_remote_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Entry *e = userdata;
        Evacuation *ev = e->evacuation;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        const char *state;

        e->call = sd_bus_slot_unref(e->call);
        if (err || sd_bus_message_read(m, "v", "s", &state) < 0) {
                entry_fail(e, "cannot ask %s for the zone's state: %s", e->destination, err ? err->message : "bad reply");
                return 0;
        }
        if (ev->kind == EVACUATION_RECOVER) {
                /* it left this host, or never did: the destination says */
                if (streq(state, "running") || (e->cold && streq(state, "installed")))
                        entry_set_state(e, ENTRY_EVACUATED);
                else
                        entry_fail(e, "interrupted: the zone is %s on %s and not running here; boot it where it "
                                "should run", state, e->destination);
                e->remote = sd_bus_flush_close_unref(e->remote);
                (void) record_write(ev->manager, ev);
                evacuation_pump(ev);
                return 0;
        }
        if (streq(state, "running"))
                e->cold = false;
        else if (streq(state, "installed") && ev->all)
                e->cold = true;
        else {
                entry_fail(e, "the zone is %s on %s%s", state, e->destination,
                        streq(state, "installed") ? "; return it with -a (cold migration)" : "");
                return 0;
        }
        entry_migrate(e, ev->return_uri);
        return 0;
}

static int on_remote_zone(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Entry *e = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        char buf[256];
        const char *path, *why;
        int r;

        e->call = sd_bus_slot_unref(e->call);
        if (err) {
                why = sd_bus_error_has_name(err, SD_BUS_ERROR_NO_REPLY) ||
                              sd_bus_error_has_name(err, SD_BUS_ERROR_DISCONNECTED) ?
                        remote_ssh_reason(e->ssh_errors, buf, sizeof(buf)) : NULL;
                entry_fail(e, "cannot reach the zone on %s: %s", e->destination, why ?: err->message);
                return 0;
        }
        r = sd_bus_message_read(m, "o", &path);
        if (r >= 0 && !(e->zone_path = strdup(path)))
                r = -ENOMEM;
        if (r >= 0)
                r = sd_bus_call_method_async(e->remote, &e->call, RESTARTER_BUS_NAME, e->zone_path,
                        DBUS_PROPERTIES_IFACE, "Get", on_remote_state, e, "ss", RESTARTER_ZONE_IFACE, "State");
        if (r < 0)
                entry_fail(e, "cannot ask %s for the zone: %s", e->destination, strerror(-r));
        return 0;
}

/* Connects to the entry's destination and asks for the zone there. */
void entry_ask_destination(Entry *e)
{
        _cleanup_(remote_uri_done) RemoteUri u = {};
        _cleanup_free_ char *host = NULL;
        const char *reason = NULL;
        int r;

        if (remote_uri_parse(e->destination, &u, &reason) < 0)
                return entry_fail(e, "'%s' is not a host to return from: %s", e->destination, strna(reason));
        host = remote_uri_to_bus_host(&u);
        if (!host)
                return entry_fail(e, "out of memory");
        r = remote_bus_open(&e->remote, host, &e->ssh_errors);
        if (r >= 0)
                r = sd_bus_attach_event(e->remote, e->evacuation->manager->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_call_method_async(e->remote, &e->call, RESTARTER_BUS_NAME, RESTARTER_PATH,
                        RESTARTER_MANAGER_IFACE, "GetZone", on_remote_zone, e, "s", e->zone);
        if (r < 0)
                entry_fail(e, "cannot reach %s over SSH: %s", e->destination, strerror(-r));
}

/* ---- the run ------------------------------------------------------------------------------------ */

static void entry_start(Entry *e)
{
        Evacuation *ev = e->evacuation;

        e->progress = 0;
        e->rate = e->first_usec = e->first_bytes = 0;
        if (ev->kind == EVACUATION_EVACUATE) {
                /* recorded before the call: a crash from here on finds it named in the record */
                entry_set_state(e, ENTRY_MIGRATING);
                if (!ev->dry_run)
                        (void) record_write(ev->manager, ev);
                entry_migrate(e, e->destination);
                return;
        }
        entry_set_state(e, ENTRY_RETURNING);
        (void) record_write(ev->manager, ev);
        entry_ask_destination(e);
}

static int on_linger_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        Evacuation *ev = userdata;
        Manager *m = ev->manager;

        for (size_t i = 0; i < m->n_finished; i++)
                if (m->finished[i] == ev) {
                        memmove(m->finished + i, m->finished + i + 1, (m->n_finished - i - 1) * sizeof(ev));
                        m->n_finished--;
                        break;
                }
        evacuation_free(ev);
        return 0;
}

static bool record_has_entries(Evacuation *ev)
{
        for (size_t i = 0; i < ev->n_entries; i++)
                if (record_state(ev, ev->entries[i]) >= 0)
                        return true;
        return false;
}

/* The job ended (its State, Message and Result set): it says so and stays readable a while. */
static void evacuation_end(Evacuation *ev)
{
        Manager *m = ev->manager;

        (void) sd_journal_send("MESSAGE=%s", strna(ev->message), "MESSAGE_ID=" KZ_MESSAGE_EVACUATION_FINISHED,
                "PRIORITY=%d", ev->state == JOB_DONE ? 5 : 4, "EVACUATION_JOB=%" PRIu32, ev->id,
                "EVACUATION_KIND=%s", evacuation_kind_to_string(ev->kind), "EVACUATION_RESULT=%s",
                job_state_to_string(ev->state), NULL);
        log_info("%s (job %" PRIu32 ")", strna(ev->message), ev->id);
        bus_job_send_changed(ev, "State", "Message", "Result", "Zones", "Cancellable", NULL);
        bus_job_removed(ev);
        if (m->current == ev)
                m->current = NULL;
        if (m->n_finished == EVACUATION_FINISHED_MAX) {
                evacuation_free(m->finished[0]);
                memmove(m->finished, m->finished + 1, (m->n_finished - 1) * sizeof(ev));
                m->n_finished--;
        }
        m->finished[m->n_finished++] = ev;
        (void) sd_event_add_time_relative(m->event, &ev->linger, CLOCK_MONOTONIC, EVACUATION_LINGER_USEC, 0,
                on_linger_end, ev);
        bus_manager_send_changed(m, "Job", NULL);
}

static void evacuation_finish(Evacuation *ev)
{
        Manager *m = ev->manager;
        EntryState want = ev->dry_run ? ENTRY_CHECKED : ev->kind == EVACUATION_RETURN ? ENTRY_RETURNED :
                                                                                        ENTRY_EVACUATED;
        const char *what = ev->dry_run ? "dry-run" : ev->kind == EVACUATION_RETURN ? "return" : "evacuation";
        size_t bad = 0;

        for (size_t i = 0; i < ev->n_entries; i++)
                if (ev->entries[i]->state != want)
                        bad++;
        free(ev->message);
        ev->message = NULL;
        if (ev->kind == EVACUATION_RECOVER) {
                ev->state = JOB_DONE;
                ev->message = strdup("the interrupted evacuation was checked against the hosts");
        } else if (ev->cancelling) {
                ev->state = JOB_CANCELLED;
                ev->message = strdup(ev->kind == EVACUATION_RETURN ? "return cancelled" : "evacuation cancelled");
                ev->result_name = strdup(KZ_ERROR_CANCELLED);
                ev->result_text = strdup("cancelled; every zone runs on exactly one host");
        } else {
                ev->state = bad ? JOB_FAILED : JOB_DONE;
                if (asprintf(&ev->message, "%s %s", what, ev->dry_run ? (bad ? "failed" : "succeeded") :
                            (bad ? "failed" : "completed successfully")) < 0)
                        ev->message = NULL;
                if (bad) {
                        ev->result_name = strdup(SD_BUS_ERROR_FAILED);
                        if (asprintf(&ev->result_text, "%s failed: %zu of %zu zone(s) not %s", what, bad,
                                    ev->n_entries, ev->dry_run ? "ready to move" :
                                    ev->kind == EVACUATION_RETURN ? "returned" : "evacuated") < 0)
                                ev->result_text = NULL;
                }
        }
        if (!ev->dry_run) {
                if (record_has_entries(ev))
                        (void) record_write(m, ev);
                else
                        (void) record_remove(m);
        }
        evacuation_end(ev);
}

static void evacuation_pump(Evacuation *ev)
{
        unsigned busy = 0;

        if (ev->state != JOB_RUNNING || !ev->planned || ev->n_asking > 0)
                return;
        for (size_t i = 0; i < ev->n_entries; i++) {
                Entry *e = ev->entries[i];

                if (ev->cancelling && e->state == ENTRY_PENDING) {
                        (void) entry_set_error(e, "cancelled before it started");
                        entry_set_state(e, ENTRY_CANCELLED);
                }
                if (entry_busy(e))
                        busy++;
        }
        for (size_t i = 0; i < ev->n_entries && busy < ev->parallel; i++) {
                Entry *e = ev->entries[i];

                if (e->state != ENTRY_PENDING)
                        continue;
                busy++;
                entry_start(e);
                if (ev->state != JOB_RUNNING) /* it finished while starting */
                        return;
        }
        busy = 0;
        for (size_t i = 0; i < ev->n_entries; i++)
                busy += entry_busy(ev->entries[i]) || ev->entries[i]->state == ENTRY_PENDING;
        if (busy == 0)
                evacuation_finish(ev);
}

static int entry_cmp(const void *a, const void *b)
{
        return strcmp((*(Entry *const *) a)->zone, (*(Entry *const *) b)->zone);
}

void evacuation_planned(Evacuation *ev)
{
        size_t n = 0;

        if (ev->n_entries > 1)
                qsort(ev->entries, ev->n_entries, sizeof(Entry *), entry_cmp);
        for (size_t i = 0; i < ev->n_entries; i++) {
                Entry *e = ev->entries[i];

                n++;
                if (e->state == ENTRY_SKIPPED || e->state == ENTRY_FAILED)
                        entry_set_state(e, e->state); /* logged and in the journal */
        }
        ev->planned = true;
        free(ev->message);
        if (asprintf(&ev->message, "preparing %zu zone(s) for %s", n,
                    ev->kind == EVACUATION_RETURN ? "return" : "evacuation") < 0)
                ev->message = NULL;
        bus_job_send_changed(ev, "Zones", "Notes", "Message", "Planned", NULL);
        if (!ev->dry_run && ev->kind != EVACUATION_RECOVER)
                (void) record_write(ev->manager, ev);
        evacuation_pump(ev);
}

/* The job could not start its work: it fails as a whole, the record untouched. */
void evacuation_fail(Evacuation *ev, const char *name, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        free(ev->result_text);
        if (vasprintf(&ev->result_text, fmt, ap) < 0)
                ev->result_text = NULL;
        va_end(ap);
        free(ev->result_name);
        ev->result_name = strdup(name);
        ev->state = JOB_FAILED;
        free(ev->message);
        ev->message = ev->result_text ? strdup(ev->result_text) : NULL;
        evacuation_end(ev);
}

/* ---- the job's life ----------------------------------------------------------------------------- */

int evacuation_new(Manager *m, EvacuationKind kind, Evacuation **ret)
{
        Evacuation *ev = calloc(1, sizeof(Evacuation));

        if (!ev)
                return -ENOMEM;
        *ev = (Evacuation) { .manager = m, .kind = kind, .parallel = m->parallel, .state = JOB_RUNNING };
        ev->message = strdup("");
        ev->return_uri = strdup("");
        if (!ev->message || !ev->return_uri) {
                evacuation_free(ev);
                return -ENOMEM;
        }
        *ret = ev;
        return 0;
}

Evacuation *evacuation_free(Evacuation *ev)
{
        if (!ev)
                return NULL;
        for (size_t i = 0; i < ev->n_entries; i++)
                entry_free(ev->entries[i]);
        free(ev->entries);
        for (size_t i = 0; i < ev->n_targets; i++)
                target_free(ev->targets[i]);
        free(ev->targets);
        strv_free(ev->notes);
        sd_bus_slot_unref(ev->list_call);
        sd_event_source_disable_unref(ev->linger);
        sd_event_source_disable_unref(ev->step);
        free(ev->path);
        free(ev->message);
        free(ev->result_name);
        free(ev->result_text);
        free(ev->return_uri);
        free(ev);
        return NULL;
}

int evacuation_start(Evacuation *ev)
{
        Manager *m = ev->manager;
        int r;

        ev->id = ++m->last_id;
        if (asprintf(&ev->path, EVACUATION_JOB_PREFIX "/%" PRIu32, ev->id) < 0) {
                ev->path = NULL;
                return -ENOMEM;
        }
        r = sd_event_add_defer(m->event, &ev->step, evacuation_plan, ev);
        if (r < 0)
                return r;
        m->current = ev;
        log_info("%s job %" PRIu32 " started%s", evacuation_kind_to_string(ev->kind), ev->id,
                ev->dry_run ? " (dry run)" : "");
        bus_manager_send_changed(m, "Job", NULL);
        return 0;
}

int evacuation_cancel(Evacuation *ev, sd_bus_error *error)
{
        if (ev->state != JOB_RUNNING)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "the %s has ended already",
                        evacuation_kind_to_string(ev->kind));
        if (ev->kind == EVACUATION_RECOVER)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE,
                        "the check of an interrupted evacuation cannot be cancelled");
        if (ev->cancelling)
                return 0;
        ev->cancelling = true;
        log_info("%s job %" PRIu32 ": cancelling", evacuation_kind_to_string(ev->kind), ev->id);
        free(ev->message);
        ev->message = strdup("cancelling: zones that are moving finish or roll back");
        for (size_t i = 0; i < ev->n_entries; i++) {
                Entry *e = ev->entries[i];

                if (e->job && !e->call)
                        (void) sd_bus_call_method_async(entry_bus(e), NULL, RESTARTER_BUS_NAME, e->job,
                                RESTARTER_JOB_IFACE, "Cancel", NULL, NULL, NULL);
        }
        bus_job_send_changed(ev, "Message", "Cancellable", NULL);
        evacuation_pump(ev);
        return 0;
}

int manager_recover(Manager *m)
{
        _cleanup_(evacuation_freep) Evacuation *rec = NULL;
        bool interrupted = false;
        int r;

        r = record_load(m, &rec);
        if (r < 0)
                log_error("the evacuation record cannot be read: %s", strerror(-r));
        if (r <= 0)
                return r;
        for (size_t i = 0; i < rec->n_entries; i++)
                interrupted = interrupted || rec->entries[i]->state == ENTRY_MIGRATING ||
                              rec->entries[i]->state == ENTRY_RETURNING;
        if (!interrupted)
                return 0;
        log_notice("the last evacuation was interrupted: looking for its zones");
        rec->kind = EVACUATION_RECOVER;
        r = evacuation_start(rec);
        if (r < 0)
                return r;
        TAKE_PTR(rec);
        return 0;
}
