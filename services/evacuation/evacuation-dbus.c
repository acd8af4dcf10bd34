/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.kzones.Evacuation1 (bus-interfaces/org.kzones.Evacuation1.*.xml): the Manager
 * (maintenance mode, Evacuate, Return, ListZones) and the Job objects. Reading is
 * open to every caller; what changes the host is root's. */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "evacuation.h"
#include "log.h"
#include "maintenance.h"
#include "remote.h"

/* ---- callers ------------------------------------------------------------------------------------- */

int bus_caller_uid(sd_bus_message *msg, uid_t *ret, sd_bus_error *error)
{
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        /* what the bus daemon recorded when the caller connected, nothing from /proc */
        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, ret);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot tell who is calling: %s", strerror(-r));
        return 0;
}

/* As the restarter's Migrate, which an evacuation asks for: root's alone for now
 * (the migration helper reaches the destinations with root's SSH identity). */
static int check_root(sd_bus_message *msg, const char *what, sd_bus_error *error)
{
        uid_t uid;
        int r;

        r = bus_caller_uid(msg, &uid, error);
        if (r < 0)
                return r;
        if (uid != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "permission denied: only root may %s",
                        what);
        return 0;
}

/* ---- signals -------------------------------------------------------------------------------------- */

void bus_job_send_changed(Evacuation *ev, const char *property, ...)
{
        char *names[8];
        size_t n = 0;
        va_list ap;

        if (!ev->path)
                return;
        va_start(ap, property);
        for (const char *p = property; p && n < ELEMENTSOF(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        names[n] = NULL;
        (void) sd_bus_emit_properties_changed_strv(ev->manager->bus, ev->path, EVACUATION_JOB_IFACE, names);
}

void bus_manager_send_changed(Manager *m, const char *property, ...)
{
        char *names[8];
        size_t n = 0;
        va_list ap;

        va_start(ap, property);
        for (const char *p = property; p && n < ELEMENTSOF(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        names[n] = NULL;
        (void) sd_bus_emit_properties_changed_strv(m->bus, EVACUATION_PATH, EVACUATION_MANAGER_IFACE, names);
}

void bus_job_removed(Evacuation *ev)
{
        (void) sd_bus_emit_signal(ev->manager->bus, EVACUATION_PATH, EVACUATION_MANAGER_IFACE, "JobRemoved", "uoss",
                ev->id, ev->path, evacuation_kind_to_string(ev->kind), job_state_to_string(ev->state));
}

int bus_append_entries(sd_bus_message *reply, Evacuation *ev)
{
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sssds)");
        for (size_t i = 0; r >= 0 && ev && i < ev->n_entries; i++) {
                Entry *e = ev->entries[i];

                r = sd_bus_message_append(reply, "(sssds)", e->zone, entry_state_to_string(e->state),
                        strempty(e->destination), e->progress, strempty(e->error));
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static uint64_t now_realtime_usec(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* ---- maintenance ----------------------------------------------------------------------------------- */

static int property_get_maintenance(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        Maintenance s = {};
        KzError e = {};
        int r;

        r = maintenance_read(m->root, &s, &e);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "%s", kz_error_message(&e, r));
        if (streq(property, "Maintenance"))
                r = sd_bus_message_append(reply, "b", r > 0);
        else if (streq(property, "MaintenanceType"))
                r = sd_bus_message_append(reply, "s", strempty(s.type));
        else if (streq(property, "MaintenanceUser"))
                r = sd_bus_message_append(reply, "s", strempty(s.user));
        else if (streq(property, "MaintenanceSince"))
                r = sd_bus_message_append(reply, "t", s.since_usec);
        else
                r = sd_bus_message_append(reply, "s", strempty(s.message));
        maintenance_done(&s);
        return r;
}

static int method_start_maintenance(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        _cleanup_free_ char *user = NULL;
        Maintenance s = {};
        const char *message;
        KzError e = {};
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "s", &message);
        if (r < 0)
                return r;
        if (!maintenance_message_is_valid(message))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "the maintenance message must be one line of at most %u bytes of UTF-8 text",
                        MAINTENANCE_MESSAGE_MAX);
        r = check_root(msg, "start maintenance mode", error);
        if (r < 0)
                return r;
        r = bus_caller_uid(msg, &uid, error);
        if (r < 0)
                return r;
        if (uid == 0)
                user = strdup("root");
        else {
                struct passwd *pw = getpwuid(uid);

                r = pw ? 0 : asprintf(&user, "%u", (unsigned) uid);
                if (pw)
                        user = strdup(pw->pw_name);
        }
        if (!user)
                return -ENOMEM;
        s = (Maintenance) { .type = (char *) "admin", .user = user, .uid = uid, .since_usec = now_realtime_usec(),
                .message = (char *) message };
        r = maintenance_write(m->root, &s, &e);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "%s", kz_error_message(&e, r));
        /* the audit record: who, when, why */
        (void) sd_journal_send("MESSAGE=Maintenance mode started by %s%s%s", user, isempty(message) ? "" : ": ",
                message, "MESSAGE_ID=" KZ_MESSAGE_MAINTENANCE_STARTED, "PRIORITY=5", "MAINTENANCE_TYPE=admin",
                "MAINTENANCE_USER=%s", user, "MAINTENANCE_UID=%u", (unsigned) uid, "MAINTENANCE_MESSAGE=%s", message,
                NULL);
        log_notice("maintenance mode started by %s%s%s", user, isempty(message) ? "" : ": ", message);
        bus_manager_send_changed(m, "Maintenance", "MaintenanceType", "MaintenanceUser", "MaintenanceSince",
                "MaintenanceMessage", NULL);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_end_maintenance(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        Maintenance s = {};
        KzError e = {};
        uid_t uid;
        int r, on;

        r = check_root(msg, "end maintenance mode", error);
        if (r < 0)
                return r;
        r = bus_caller_uid(msg, &uid, error);
        if (r < 0)
                return r;
        on = maintenance_read(m->root, &s, &e);
        maintenance_done(&s);
        if (on == 0)
                return sd_bus_error_set(error, KZ_ERROR_WRONG_STATE, "this host is not in maintenance mode");
        r = maintenance_remove(m->root, &e);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "%s", kz_error_message(&e, r));
        (void) sd_journal_send("MESSAGE=Maintenance mode ended by uid %u", (unsigned) uid,
                "MESSAGE_ID=" KZ_MESSAGE_MAINTENANCE_ENDED, "PRIORITY=5", "MAINTENANCE_UID=%u", (unsigned) uid, NULL);
        log_notice("maintenance mode ended (uid %u)", (unsigned) uid);
        bus_manager_send_changed(m, "Maintenance", "MaintenanceType", "MaintenanceUser", "MaintenanceSince",
                "MaintenanceMessage", NULL);
        return sd_bus_reply_method_return(msg, NULL);
}

/* ---- evacuate and return ---------------------------------------------------------------------------- */

/* a{sv}: All b, DryRun b, Overwrite b (evacuate), Parallel u, ReturnUri s (evacuate) */
static int read_options(sd_bus_message *msg, Evacuation *ev, sd_bus_error *error)
{
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *k, *contents = NULL, *want;
                char type;
                int b = 0;

                r = sd_bus_message_read(msg, "s", &k);
                if (r < 0)
                        return r;
                want = streq(k, "Parallel") ? "u" : streq(k, "ReturnUri") ? "s" : "b";
                if (!streq(k, "All") && !streq(k, "Parallel") && !(ev->kind == EVACUATION_EVACUATE &&
                            (streq(k, "DryRun") || streq(k, "Overwrite") || streq(k, "ReturnUri"))))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s: unknown option '%s'",
                                evacuation_kind_to_string(ev->kind), k);
                r = sd_bus_message_peek_type(msg, &type, &contents);
                if (r < 0)
                        return r;
                if (!streq_ptr(contents, want))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "option '%s' must be of type %s, not %s", k, want, strna(contents));
                if (streq(k, "Parallel")) {
                        r = sd_bus_message_read(msg, "v", "u", &ev->parallel);
                        if (r >= 0 && (ev->parallel < 1 || ev->parallel > EVACUATION_PARALLEL_MAX))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Parallel must be 1–%u", EVACUATION_PARALLEL_MAX);
                } else if (streq(k, "ReturnUri")) {
                        _cleanup_(remote_uri_done) RemoteUri u = {};
                        const char *s, *reason = NULL;

                        r = sd_bus_message_read(msg, "v", "s", &s);
                        if (r >= 0 && remote_uri_parse(s, &u, &reason) < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "ReturnUri '%s' is not ssh://[USER@]HOST[:PORT]: %s", s, strna(reason));
                        if (r >= 0) {
                                free(ev->return_uri);
                                ev->return_uri = strdup(s);
                                r = ev->return_uri ? 0 : -ENOMEM;
                        }
                } else {
                        r = sd_bus_message_read(msg, "v", "b", &b);
                        if (streq(k, "All"))
                                ev->all = b;
                        else if (streq(k, "DryRun"))
                                ev->dry_run = b;
                        else
                                ev->overwrite = b;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        if (ev->dry_run && ev->overwrite)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "DryRun and Overwrite exclude each other");
        return 0;
}

/* How the destinations reach this host for a return: ssh://HOSTNAME. */
static int default_return_uri(char **ret)
{
        char host[256] = "";

        if (gethostname(host, sizeof(host) - 1) < 0)
                return -errno;
        return asprintf(ret, "ssh://%s", host) < 0 ? -ENOMEM : 0;
}

static int start_job(sd_bus_message *msg, Manager *m, EvacuationKind kind, sd_bus_error *error)
{
        _cleanup_(evacuation_freep) Evacuation *ev = NULL;
        Evacuation *started;
        int r;

        r = evacuation_new(m, kind, &ev);
        if (r < 0)
                return r;
        r = read_options(msg, ev, error);
        if (r < 0)
                return r;
        r = check_root(msg, kind == EVACUATION_RETURN ? "return evacuated zones" : "evacuate zones", error);
        if (r < 0)
                return r;
        if (m->current)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "an evacuation is at work already (job %s)",
                        m->current->path);
        if (kind == EVACUATION_EVACUATE && isempty(ev->return_uri)) {
                free(ev->return_uri);
                ev->return_uri = NULL;
                r = default_return_uri(&ev->return_uri);
                if (r < 0)
                        return r;
        }
        r = evacuation_start(ev);
        if (r < 0)
                return r;
        started = TAKE_PTR(ev);
        return sd_bus_reply_method_return(msg, "o", started->path);
}

static int method_evacuate(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return start_job(msg, userdata, EVACUATION_EVACUATE, error);
}

static int method_return(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return start_job(msg, userdata, EVACUATION_RETURN, error);
}

/* What 'sysadm evacuate -l' shows: the job at work, or else the record. */
static int method_list_zones(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(evacuation_freep) Evacuation *rec = NULL;
        Manager *m = userdata;
        Evacuation *ev = m->current && m->current->planned && !m->current->dry_run ? m->current : NULL;
        int r;

        if (!ev) {
                r = record_load(m, &rec);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, -r, "the evacuation record cannot be read: %s",
                                strerror(-r));
                if (r == 0)
                        return sd_bus_error_set(error, KZ_ERROR_NO_EVACUATION, "no active evacuation");
                ev = rec;
        }
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = bus_append_entries(reply, ev);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int property_get_job(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;

        return sd_bus_message_append(reply, "o", m->current && m->current->path ? m->current->path : "/");
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Maintenance", "b", property_get_maintenance, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MaintenanceType", "s", property_get_maintenance, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MaintenanceUser", "s", property_get_maintenance, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MaintenanceSince", "t", property_get_maintenance, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MaintenanceMessage", "s", property_get_maintenance, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Job", "o", property_get_job, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Parallel", "u", NULL, offsetof(Manager, parallel), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("StartMaintenance", SD_BUS_ARGS("s", message), SD_BUS_NO_RESULT,
                method_start_maintenance, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("EndMaintenance", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_end_maintenance,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Evacuate", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", job), method_evacuate,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Return", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", job), method_return,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListZones", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sssds)", zones), method_list_zones,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("JobRemoved", SD_BUS_ARGS("u", id, "o", job, "s", kind, "s", result), 0),
        SD_BUS_VTABLE_END,
};

/* ---- the job objects --------------------------------------------------------------------------------- */

static Evacuation *find_job(Manager *m, const char *path)
{
        if (m->current && streq_ptr(m->current->path, path))
                return m->current;
        for (size_t i = 0; i < m->n_finished; i++)
                if (streq_ptr(m->finished[i]->path, path))
                        return m->finished[i];
        return NULL;
}

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                sd_bus_error *error)
{
        Evacuation *ev = find_job(userdata, path);

        if (!ev)
                return 0;
        *found = ev;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
        Manager *m = userdata;
        char **l = calloc(EVACUATION_FINISHED_MAX + 2, sizeof(char *));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i <= m->n_finished; i++) {
                Evacuation *ev = i < m->n_finished ? m->finished[i] : m->current;

                if (ev && ev->path && !(l[n++] = strdup(ev->path))) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
        }
        *nodes = l;
        return 0;
}

static int property_get_job_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Evacuation *ev = userdata;

        if (streq(property, "Kind"))
                return sd_bus_message_append(reply, "s", evacuation_kind_to_string(ev->kind));
        if (streq(property, "State"))
                return sd_bus_message_append(reply, "s", job_state_to_string(ev->state));
        if (streq(property, "ReturnUri"))
                return sd_bus_message_append(reply, "s", strempty(ev->return_uri));
        return sd_bus_message_append(reply, "s", strempty(ev->message));
}

static int property_get_job_misc(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Evacuation *ev = userdata;

        if (streq(property, "Zones"))
                return bus_append_entries(reply, ev->planned ? ev : NULL);
        if (streq(property, "Estimates"))
                return bus_append_estimates(reply, ev);
        if (streq(property, "Result"))
                return sd_bus_message_append(reply, "(ss)", strempty(ev->result_name), strempty(ev->result_text));
        if (streq(property, "Cancellable"))
                return sd_bus_message_append(reply, "b", ev->state == JOB_RUNNING && !ev->cancelling &&
                        ev->kind != EVACUATION_RECOVER);
        if (streq(property, "Planned"))
                return sd_bus_message_append(reply, "b", ev->planned);
        if (streq(property, "Notes"))
                return sd_bus_message_append_strv(reply, ev->notes);
        return sd_bus_message_append(reply, "b", streq(property, "DryRun") ? ev->dry_run :
                streq(property, "All") ? ev->all : ev->overwrite);
}

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Evacuation *ev = userdata;
        int r;

        r = check_root(msg, "cancel an evacuation", error);
        if (r < 0)
                return r;
        r = evacuation_cancel(ev, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "u", NULL, offsetof(Evacuation, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_job_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_job_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Message", "s", property_get_job_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ReturnUri", "s", property_get_job_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DryRun", "b", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("All", "b", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Overwrite", "b", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Parallel", "u", NULL, offsetof(Evacuation, parallel), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Planned", "b", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Zones", "a(sssds)", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Notes", "as", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Estimates", "a(sttts)", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Result", "(ss)", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Cancellable", "b", property_get_job_misc, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_register(Manager *m)
{
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, EVACUATION_PATH, EVACUATION_MANAGER_IFACE, manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, EVACUATION_JOB_PREFIX, EVACUATION_JOB_IFACE, job_vtable,
                job_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, NULL, EVACUATION_JOB_PREFIX, job_node_enumerator, m);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(m->bus, NULL, EVACUATION_PATH);
}
