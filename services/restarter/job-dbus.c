/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.kzones.Restarter1.Job: one object per job, /org/kzones/Restarter1/job/ID,
 * running or finished (for JOB_LINGER_USEC), and the Manager's ListJobs. */
#include <stdarg.h>

#include "log.h"
#include "restarter.h"

void bus_job_send_changed(Job *j, const char *property, ...)
{
        char *names[12];
        size_t n = 0;
        va_list ap;

        va_start(ap, property);
        for (const char *p = property; p && n < ELEMENTSOF(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        names[n] = NULL;
        (void) sd_bus_emit_properties_changed_strv(j->manager->bus, j->path, RESTARTER_JOB_IFACE, names);
}

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                sd_bus_error *error)
{
        Job *j = manager_find_job(userdata, path);

        if (!j)
                return 0;
        *found = j;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
        Manager *m = userdata;
        char **l = calloc(hashmap_size(m->jobs) + 1, sizeof(char *));
        size_t n = 0;
        Job *j;

        if (!l)
                return -ENOMEM;
        HASHMAP_FOREACH(j, m->jobs, state)
                if (!(l[n++] = strdup(j->path))) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
        *nodes = l;
        return 0;
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        const char *const *s = userdata;

        return sd_bus_message_append(reply, "s", *s ?: "");
}

static int property_get_kind(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Job *j = userdata;

        return sd_bus_message_append(reply, "s", j->type->kind);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Job *j = userdata;

        return sd_bus_message_append(reply, "s", job_state_to_string(j->state));
}

static int property_get_result(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Job *j = userdata;
        bool failed = j->state == JOB_FAILED || j->state == JOB_CANCELLED;

        return sd_bus_message_append(reply, "(ss)", failed ? strempty(j->result_name) : "",
                failed ? strempty(j->message) : "");
}

static int property_get_cancellable(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Job *j = userdata;

        return sd_bus_message_append(reply, "b", j->state == JOB_RUNNING && j->type->cancel);
}

/* The job's zone administrator (manage) or root may cancel it. */
static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Job *j = userdata;
        int r;

        if (j->state != JOB_RUNNING)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "job %" PRIu32 " is %s already", j->id,
                        job_state_to_string(j->state));
        /* a migration is cancelled with the auth that started it */
        r = bus_check_authorized(j->zone, msg, startswith(j->type->kind, "migrate") ? "migrate" : "manage", error);
        if (r < 0)
                return r;
        if (!j->type->cancel)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE, "a %s cannot be cancelled; it goes on",
                        j->type->kind);
        j->cancelling = true;
        r = j->type->cancel(j, error);
        if (r < 0) {
                j->cancelling = false;
                return r;
        }
        return sd_bus_reply_method_return(msg, NULL);
}

const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "u", NULL, offsetof(Job, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Zone", "s", property_get_string, offsetof(Job, zone_name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_kind, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "d", NULL, offsetof(Job, progress), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesDone", "t", NULL, offsetof(Job, bytes_done), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesTotal", "t", NULL, offsetof(Job, bytes_total), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Rate", "t", NULL, offsetof(Job, rate), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Message", "s", property_get_string, offsetof(Job, message),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Result", "(ss)", property_get_result, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Cancellable", "b", property_get_cancellable, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int job_compare(const void *a, const void *b)
{
        uint32_t x = (*(Job *const *) a)->id, y = (*(Job *const *) b)->id;

        return x < y ? -1 : x > y;
}

int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ Job **l = NULL;
        Manager *m = userdata;
        size_t n = 0;
        Job *j;
        int r;

        l = calloc(hashmap_size(m->jobs) + 1, sizeof(Job *));
        if (!l)
                return -ENOMEM;
        HASHMAP_FOREACH(j, m->jobs, state)
                l[n++] = j;
        qsort(l, n, sizeof(Job *), job_compare);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(usssdo)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "(usssdo)", l[i]->id, l[i]->zone_name, l[i]->type->kind,
                        job_state_to_string(l[i]->state), l[i]->progress, l[i]->path);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_register_jobs(Manager *m)
{
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, RESTARTER_JOB_PREFIX, RESTARTER_JOB_IFACE, job_vtable,
                job_object_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, RESTARTER_JOB_PREFIX, job_node_enumerator, m);
}
