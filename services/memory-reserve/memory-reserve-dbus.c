/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"
#include "memory-reserve.h"
#include "size.h"

int manager_new(sd_event *e, sd_bus *bus, const char *root, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->bus = sd_bus_ref(bus);
        m->root = strdup(root ?: "");
        if (!m->root)
                return -ENOMEM;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        sd_bus_unref(m->bus);
        sd_event_unref(m->event);
        free(m->root);
        free(m);
        return NULL;
}

static bool pool_known(Manager *m, const char *name)
{
        _cleanup_strv_free_ char **l = NULL;

        if (!pool_name_is_valid(name) || pool_names(m->root, &l) < 0)
                return false;
        for (char **i = l; *i; i++)
                if (streq(*i, name))
                        return true;
        return false;
}

/* ---- the pool objects ----------------------------------------------------------------------- */

static int pool_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                sd_bus_error *error)
{
        _cleanup_free_ char *name = NULL;
        Manager *m = userdata;

        if (sd_bus_path_decode(path, MEMORY_RESERVE_POOL_PREFIX, &name) <= 0 || !pool_known(m, name))
                return 0;
        *found = m;
        return 1;
}

static int pool_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
        _cleanup_strv_free_ char **names = NULL;
        Manager *m = userdata;
        char **l;
        size_t n = 0;
        int r;

        r = pool_names(m->root, &names);
        if (r < 0)
                return r;
        for (char **i = names; *i; i++)
                n++;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (sd_bus_path_encode(MEMORY_RESERVE_POOL_PREFIX, names[i], &l[i]) < 0) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
        *nodes = l;
        return 0;
}

/* The pool a property is asked of, as it is now. */
static int status_of(const char *path, Manager *m, bool holders, PoolStatus *ret, sd_bus_error *error)
{
        _cleanup_free_ char *name = NULL;
        int r;

        r = sd_bus_path_decode(path, MEMORY_RESERVE_POOL_PREFIX, &name);
        if (r <= 0)
                return sd_bus_error_set(error, KZ_ERROR_POOL_NOT_FOUND, "No such memory reservation pool");
        r = pool_status(m->root, name, holders, ret);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot look at pool '%s': %s", name, strerror(-r));
        return 0;
}

static int property_get_pool(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        _cleanup_(pool_status_done) PoolStatus s = {};
        bool zones = streq(property, "Zones");
        uint64_t v = 0;
        int r;

        r = status_of(path, userdata, zones, &s, error);
        if (r < 0)
                return r;
        if (streq(property, "Name"))
                return sd_bus_message_append(reply, "s", s.name);
        if (streq(property, "Unit")) {
                _cleanup_free_ char *unit = NULL;
                if (asprintf(&unit, "memory-reserve@%s.service", s.name) < 0)
                        return -ENOMEM;
                return sd_bus_message_append(reply, "s", unit);
        }
        if (streq(property, "State"))
                return sd_bus_message_append(reply, "s", pool_state_to_string(s.state));
        if (streq(property, "StatusText"))
                return sd_bus_message_append(reply, "s", s.status);
        if (streq(property, "PageSize"))
                return sd_bus_message_append(reply, "t", s.page_size);
        if (streq(property, "TotalMemory"))
                return sd_bus_message_append(reply, "t", s.total);
        if (streq(property, "UsedMemory"))
                return sd_bus_message_append(reply, "t", s.used);
        if (streq(property, "FreeMemory"))
                return sd_bus_message_append(reply, "t", s.free);
        if (zones) {
                r = sd_bus_message_open_container(reply, 'a', "(st)");
                for (size_t i = 0; r >= 0 && i < s.n_holders; i++)
                        r = sd_bus_message_append(reply, "(st)", s.holders[i].zone, s.holders[i].size);
                return r < 0 ? r : sd_bus_message_close_container(reply);
        }
        if (streq(property, "Mounts")) {
                Manager *m = userdata;
                size_t skip = strlen(m->root);

                /* the mount points as the host names them, without a test's alternate root */
                r = sd_bus_message_open_container(reply, 'a', "(stt)");
                for (size_t i = 0; r >= 0 && i < s.n_extents; i++)
                        r = sd_bus_message_append(reply, "(stt)",
                                s.extents[i].path + (strncmp(s.extents[i].path, m->root, skip) == 0 ? skip : 0),
                                s.extents[i].size, s.extents[i].free);
                return r < 0 ? r : sd_bus_message_close_container(reply);
        }
        if (streq(property, "Size")) {
                if (!s.settings.size || size_parse(s.settings.size, &v) < 0)
                        v = 0;
                return sd_bus_message_append(reply, "t", v);
        }
        if (streq(property, "PageSizePolicy"))
                return sd_bus_message_append(reply, "s",
                        !isempty(s.settings.policy) ? s.settings.policy :
                        !isempty(s.settings.page_size) ? "fixed" : "largest-available");
        if (streq(property, "ConfiguredPageSize")) {
                if (!s.settings.page_size || size_parse(s.settings.page_size, &v) < 0)
                        v = 0;
                return sd_bus_message_append(reply, "t", v);
        }
        if (streq(property, "Type"))
                return sd_bus_message_append(reply, "s", isempty(s.settings.type) ? POOL_TYPE_KZ : s.settings.type);
        if (streq(property, "LGroups")) {
                if (isempty(s.settings.lgroups) || nodes_parse(s.settings.lgroups, &v) < 0)
                        v = 0;
                r = sd_bus_message_open_container(reply, 'a', "u");
                for (uint32_t i = 0; r >= 0 && i < POOL_NODES_MAX; i++)
                        if (v & (UINT64_C(1) << i))
                                r = sd_bus_message_append(reply, "u", i);
                return r < 0 ? r : sd_bus_message_close_container(reply);
        }
        if (streq(property, "ConfigurationError"))
                return sd_bus_message_append(reply, "s", s.config_error.error ? s.config_error.message : "");
        return -EINVAL;
}

#define POOL_PROPERTY(name, sig, flags) SD_BUS_PROPERTY(name, sig, property_get_pool, 0, flags)

const sd_bus_vtable pool_vtable[] = {
        SD_BUS_VTABLE_START(0),
        POOL_PROPERTY("Name", "s", SD_BUS_VTABLE_PROPERTY_CONST),
        POOL_PROPERTY("Unit", "s", SD_BUS_VTABLE_PROPERTY_CONST),
        POOL_PROPERTY("State", "s", 0),
        POOL_PROPERTY("StatusText", "s", 0),
        POOL_PROPERTY("PageSize", "t", 0),
        POOL_PROPERTY("TotalMemory", "t", 0),
        POOL_PROPERTY("UsedMemory", "t", 0),
        POOL_PROPERTY("FreeMemory", "t", 0),
        POOL_PROPERTY("Zones", "a(st)", 0),
        POOL_PROPERTY("Mounts", "a(stt)", 0),
        POOL_PROPERTY("Size", "t", 0),
        POOL_PROPERTY("PageSizePolicy", "s", 0),
        POOL_PROPERTY("ConfiguredPageSize", "t", 0),
        POOL_PROPERTY("Type", "s", 0),
        POOL_PROPERTY("LGroups", "au", 0),
        POOL_PROPERTY("ConfigurationError", "s", 0),
        SD_BUS_VTABLE_END,
};

/* ---- the manager object ------------------------------------------------------------------------ */

static int check_name(const char *name, sd_bus_error *error)
{
        if (!pool_name_is_valid(name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "'%s' is not a valid memory reservation pool name", name);
        return 0;
}

static int method_list_pools(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **names = NULL;
        Manager *m = userdata;
        int r;

        r = pool_names(m->root, &names);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot list the pools: %s", strerror(-r));
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(sstttto)");
        if (r < 0)
                return r;
        for (char **i = names; *i; i++) {
                _cleanup_(pool_status_done) PoolStatus s = {};
                _cleanup_free_ char *path = NULL;

                r = pool_status(m->root, *i, false, &s);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, -r, "cannot look at pool '%s': %s", *i, strerror(-r));
                r = sd_bus_path_encode(MEMORY_RESERVE_POOL_PREFIX, *i, &path);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "(sstttto)", s.name, pool_state_to_string(s.state), s.page_size,
                        s.total, s.used, s.free, path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_pool(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_free_ char *path = NULL;
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = check_name(name, error);
        if (r < 0)
                return r;
        if (!pool_known(userdata, name))
                return sd_bus_error_setf(error, KZ_ERROR_POOL_NOT_FOUND, "No such memory reservation pool: '%s'",
                        name);
        r = sd_bus_path_encode(MEMORY_RESERVE_POOL_PREFIX, name, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", path);
}

static int method_can_host(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(pool_status_done) PoolStatus s = {};
        _cleanup_free_ char *reason = NULL;
        Manager *m = userdata;
        const char *name;
        uint64_t page_size, size;
        int r;

        r = sd_bus_message_read(msg, "stt", &name, &page_size, &size);
        if (r < 0)
                return r;
        r = check_name(name, error);
        if (r < 0)
                return r;
        r = pool_status(m->root, name, false, &s);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot look at pool '%s': %s", name, strerror(-r));
        r = pool_can_host(&s, page_size, size, &reason);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "bs", r > 0, reason);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListPools", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sstttto)", pools), method_list_pools,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPool", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", pool), method_get_pool,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CanHost", SD_BUS_ARGS("s", pool, "t", page_size, "t", size),
                SD_BUS_RESULT("b", possible, "s", reason), method_can_host, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_register(Manager *m)
{
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, MEMORY_RESERVE_PATH, MEMORY_RESERVE_MANAGER_IFACE, manager_vtable,
                m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, MEMORY_RESERVE_POOL_PREFIX, MEMORY_RESERVE_POOL_IFACE,
                pool_vtable, pool_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, NULL, MEMORY_RESERVE_POOL_PREFIX, pool_node_enumerator, m);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(m->bus, NULL, MEMORY_RESERVE_PATH);
}
