/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The evacuation record: which zones an evacuation moved (or failed to), where to,
 * and how the destinations reach this host again. JSON, written whole and atomically
 * (write_file_atomic) before and after each step, so that whatever moment the host or
 * kzones-evacuated dies at, the record names every zone that may be away; the next
 * run asks the hosts where each of them really is (manager_recover). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evacuation.h"
#include "fs-util.h"
#include "log.h"
#include "mkdir.h"
#include "zone-config.h"

static int add_string(json_object *o, const char *key, const char *value)
{
        json_object *v = json_object_new_string(value ?: "");

        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* What the record says of an entry: a zone that a return did not bring back is still
 * away (EVACUATED, its error kept); one that is back is no longer in it (-1). */
EntryState record_state(const Evacuation *ev, const Entry *e)
{
        if (ev->kind != EVACUATION_RETURN)
                return e->state == ENTRY_CHECKED ? ENTRY_PENDING : e->state;
        switch (e->state) {
        case ENTRY_RETURNED:
                return _ENTRY_STATE_INVALID;
        case ENTRY_RETURNING:
        case ENTRY_MIGRATING:
                return e->state;
        case ENTRY_PENDING:
        case ENTRY_EVACUATED:
        case ENTRY_SKIPPED:
        case ENTRY_FAILED:
        case ENTRY_CANCELLED:
        case ENTRY_CHECKED:
                return ENTRY_EVACUATED;
        case _ENTRY_STATE_MAX:
        case _ENTRY_STATE_INVALID:
                break;
        }
        return _ENTRY_STATE_INVALID;
}

char *record_format(const Evacuation *ev)
{
        json_object *root = json_object_new_object(), *zones = json_object_new_array();
        char *text = NULL;
        int r = root && zones ? 0 : -ENOMEM;

        if (r >= 0)
                r = add_string(root, "kind", evacuation_kind_to_string(ev->kind == EVACUATION_RECOVER ?
                                EVACUATION_EVACUATE : ev->kind));
        if (r >= 0)
                r = add_string(root, "return", ev->return_uri);
        for (size_t i = 0; r >= 0 && i < ev->n_entries; i++) {
                const Entry *e = ev->entries[i];
                EntryState st = record_state(ev, e);
                json_object *z;

                if (st < 0)
                        continue;
                z = json_object_new_object();

                if (!z || json_object_array_add(zones, z) < 0) {
                        json_object_put(z);
                        r = -ENOMEM;
                        break;
                }
                r = add_string(z, "zone", e->zone);
                if (r >= 0)
                        r = add_string(z, "brand", e->brand);
                if (r >= 0)
                        r = add_string(z, "state", entry_state_to_string(st));
                if (r >= 0)
                        r = add_string(z, "destination", e->destination);
                if (r >= 0)
                        r = add_string(z, "error", e->error);
                if (r >= 0 && json_object_object_add(z, "cold", json_object_new_boolean(e->cold)) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0 && json_object_object_add(root, "zones", zones) >= 0) {
                zones = NULL;
                text = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        json_object_put(zones);
        json_object_put(root);
        return text;
}

static const char *get_string(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int set_string(char **field, const char *v)
{
        char *s = strdup(v ?: "");

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

int record_parse(const char *text, Evacuation *ev)
{
        json_object *root = json_tokener_parse(text), *zones, *cold;
        const char *s;
        int r = 0;

        if (!root || !json_object_is_type(root, json_type_object) ||
            !json_object_object_get_ex(root, "zones", &zones) || !json_object_is_type(zones, json_type_array)) {
                json_object_put(root);
                return -EBADMSG;
        }
        s = get_string(root, "return");
        r = set_string(&ev->return_uri, s);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(zones); i++) {
                json_object *z = json_object_array_get_idx(zones, i);
                const char *name = get_string(z, "zone");
                EntryState st = entry_state_from_string(get_string(z, "state"));
                Entry *e;

                if (!name || !zone_name_is_valid(name) || st < 0 || evacuation_find_entry(ev, name) ||
                    i >= EVACUATION_ZONES_MAX) {
                        r = -EBADMSG;
                        break;
                }
                r = evacuation_add_entry(ev, name, &e);
                if (r < 0)
                        break;
                e->state = st;
                r = set_string(&e->brand, get_string(z, "brand"));
                if (r >= 0)
                        r = set_string(&e->destination, get_string(z, "destination"));
                if (r >= 0)
                        r = set_string(&e->error, get_string(z, "error"));
                e->cold = json_object_object_get_ex(z, "cold", &cold) && json_object_get_boolean(cold);
        }
        json_object_put(root);
        return r;
}

int record_write(Manager *m, Evacuation *ev)
{
        _cleanup_free_ char *path = manager_path(m, EVACUATION_RECORD_FILE), *text = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        text = record_format(ev);
        if (!text)
                return -ENOMEM;
        r = mkdir_parents(path, 0700);
        if (r >= 0)
                r = write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                log_error("cannot write the evacuation record %s: %s", path, strerror(-r));
        return r;
}

int record_remove(Manager *m)
{
        _cleanup_free_ char *path = manager_path(m, EVACUATION_RECORD_FILE);

        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT) {
                log_error("cannot remove the evacuation record %s: %m", path);
                return -errno;
        }
        (void) fsync_directory_of(path);
        return 0;
}

int record_load(Manager *m, Evacuation **ret)
{
        _cleanup_free_ char *path = manager_path(m, EVACUATION_RECORD_FILE), *text = NULL;
        _cleanup_(evacuation_freep) Evacuation *ev = NULL;
        size_t size;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_bounded(path, EVACUATION_RECORD_MAX, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = evacuation_new(m, EVACUATION_EVACUATE, &ev);
        if (r < 0)
                return r;
        r = record_parse(text, ev);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ev);
        return 1;
}
