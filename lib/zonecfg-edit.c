/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zonecfg commands that edit resources: create, set, clear, add, select,
 * remove, end and cancel, with the words they share. */
#include <ctype.h>

#include "zone-store.h"
#include "zonecfg-internal.h"

/* ---- words ------------------------------------------------------------------------------ */

/* "prop=value", "prop= value", "prop =value", "prop = value" → prop, value. Anything
 * else (several unquoted words) is refused rather than glued together. */
static int parse_assignment(Zonecfg *z, char **argv, size_t argc, char **ret_prop, char **ret_value)
{
        const char *prop = NULL, *value = NULL;
        _cleanup_free_ char *p = NULL;
        char *eq;

        if (argc == 1 && (eq = strchr(argv[0], '=')) && eq != argv[0]) {
                p = strndup(argv[0], (size_t) (eq - argv[0]));
                value = eq + 1;
        } else if (argc == 2 && strlen(argv[0]) > 1 && argv[0][strlen(argv[0]) - 1] == '=') {
                p = strndup(argv[0], strlen(argv[0]) - 1);
                value = argv[1];
        } else if (argc == 2 && !strchr(argv[0], '=') && argv[1][0] == '=') {
                p = strdup(argv[0]);
                value = argv[1] + 1;
        } else if (argc == 3 && !strchr(argv[0], '=') && streq(argv[1], "=")) {
                p = strdup(argv[0]);
                value = argv[2];
        } else
                return zc_fail(z, "expected PROPERTY=VALUE (put double quotes around a value with blanks).");
        if (!p)
                return -ENOMEM;
        prop = p;
        *ret_prop = strdup(prop);
        *ret_value = strdup(value);
        if (!*ret_prop || !*ret_value)
                return -ENOMEM;
        return 0;
}

/* Splits "capped-memory:physical" into the resource (creating a single-instance
 * one when create is set) and the property name. */
static int resolve_prop(Zonecfg *z, const char *spec, bool create, ZoneResource **ret_r, const char **ret_prop,
                bool *ret_created)
{
        const char *colon = strchr(spec, ':');
        _cleanup_free_ char *rname = NULL;
        const ResourceType *t;
        ZoneResource *r;

        *ret_created = false;
        if (!colon) {
                *ret_r = zc_current(z);
                *ret_prop = spec;
                return 0;
        }
        if (z->depth > 0)
                return zc_fail(z, "%s: resource:property names are only used in the global scope.", spec);
        rname = strndup(spec, (size_t) (colon - spec));
        if (!rname)
                return -ENOMEM;
        t = resource_type_child(zone_type(), rname);
        if (!t)
                return zc_fail(z, "unknown resource type: %s", rname);
        if (t->multi)
                return zc_fail(z, "%s: there can be several %s resources; use 'select %s %s=…' to choose one.", spec,
                        t->name, t->name, strna(t->key));
        if (!resource_type_prop(t, colon + 1, NULL))
                return zc_fail(z, "%s has no property %s.", t->name, colon + 1);
        r = zone_resource_first(z->cfg->root, t);
        if (!r) {
                int k;

                if (!create)
                        return zc_fail(z, "no %s resource is configured.", t->name);
                r = zone_resource_new(t);
                if (!r)
                        return -ENOMEM;
                k = zone_resource_attach(z->cfg->root, r);
                if (k < 0) {
                        zone_resource_free(r);
                        return k;
                }
                *ret_created = true;
        }
        *ret_r = r;
        *ret_prop = colon + 1;
        return 0;
}

/* Resources of type t under parent whose properties match every "prop=value" filter. */
int zc_match_resources(Zonecfg *z, const ZoneResource *parent, const ResourceType *t, char **filters, size_t n,
                ZoneResource **ret, size_t max, size_t *ret_n)
{
        size_t found = 0;

        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(filters[i], '=');
                _cleanup_free_ char *p = NULL;

                if (!eq) {
                        if (!t->key || n != 1)
                                return zc_fail(z, "expected PROPERTY=VALUE to choose a %s, got '%s'.", t->name,
                                        filters[i]);
                        continue; /* "select anet 0": the key */
                }
                p = strndup(filters[i], (size_t) (eq - filters[i]));
                if (!p)
                        return -ENOMEM;
                if (!resource_type_prop(t, p, NULL))
                        return zc_fail(z, "%s has no property %s.", t->name, p);
        }
        for (size_t i = 0; i < parent->n_children; i++) {
                ZoneResource *c = parent->children[i];
                bool ok = c->type == t;

                for (size_t j = 0; ok && j < n; j++) {
                        const char *eq = strchr(filters[j], '=');
                        _cleanup_free_ char *p = NULL, *canon = NULL;
                        ZoneResource *probe;
                        const char *want;

                        if (!eq) {
                                p = strdup(t->key);
                                want = filters[j];
                        } else {
                                p = strndup(filters[j], (size_t) (eq - filters[j]));
                                want = eq + 1;
                        }
                        if (!p)
                                return -ENOMEM;
                        /* compare canonical forms: "16g" matches "16G" */
                        probe = zone_resource_new(t);
                        if (!probe)
                                return -ENOMEM;
                        if (zone_resource_set(probe, p, want, NULL) >= 0)
                                canon = strdup(zone_resource_get(probe, p));
                        zone_resource_free(probe);
                        ok = streq_ptr(zone_resource_get(c, p), canon ?: want);
                }
                if (!ok)
                        continue;
                if (found < max)
                        ret[found] = c;
                found++;
        }
        *ret_n = found;
        return 0;
}

/* ---- commands ----------------------------------------------------------------------------- */

int zc_cmd_create(Zonecfg *z, char **argv, size_t argc)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        const char *template = "SYSkz";
        bool blank = false, force = false;
        KzError e = {};
        int r;

        if (zc_live(z))
                return zc_live_refuse(z, "create");
        for (size_t i = 0; i < argc; i++) {
                if (streq(argv[i], "-b"))
                        blank = true;
                else if (streq(argv[i], "-F"))
                        force = true;
                else if (streq(argv[i], "-t") && i + 1 < argc)
                        template = argv[++i];
                else if (streq(argv[i], "-a"))
                        return zc_fail(z, "create -a (from a Unified Archive) is not supported for kernel zones on "
                                "Linux: create the zone, then use 'zoneadm install -a IMAGE'.");
                else
                        return zc_fail(z, "usage: create [-F] [-b | -t TEMPLATE]");
        }
        r = zc_need_global_scope(z, "create");
        if (r < 0)
                return r;
        if (z->damaged && !force)
                return zc_fail(z, "%s Use 'create -F' to replace it or 'delete -F' to remove it.", z->damaged);
        if (z->cfg && !force) {
                char q[256];

                (void) snprintf(q, sizeof(q), "Zone %s already exists; overwrite its configuration?", z->zonename);
                if (!zc_confirm(z, q))
                        return zc_fail(z, "zone %s already exists; use 'create -F' to overwrite its configuration.",
                                z->zonename);
        }
        if (blank) {
                c = zone_config_new(z->zonename);
                if (!c)
                        return -ENOMEM;
        } else {
                if (streq(template, z->zonename))
                        return zc_fail(z, "zone %s cannot be its own template.", z->zonename);
                r = zone_template_load(z->root, template, z->zonename, &c, &e);
                if (r < 0)
                        return zc_fail_error(z, r, &e);
        }
        if (z->damaged) {
                /* overwrite a damaged file: commit compares against its bytes */
                _cleanup_free_ char *path = NULL, *rel = NULL;

                if (asprintf(&rel, "/etc/zones/%s.xml", z->zonename) < 0 || !(path = path_join(z->root, rel)))
                        return -ENOMEM;
                r = read_file_bounded(path, 64u * 1024u * 1024u, &c->snapshot, &c->snapshot_size);
                if (r < 0)
                        return zc_fail(z, "cannot read %s: %s", path, strerror(-r));
                c->loaded_name = strdup(z->zonename);
                if (!c->loaded_name)
                        return -ENOMEM;
                c->exists = true;
                z->damaged = mfree_str(z->damaged);
        } else if (z->cfg) {
                /* overwrite: keep what commit compares against */
                c->loaded_name = TAKE_PTR(z->cfg->loaded_name);
                c->snapshot = TAKE_PTR(z->cfg->snapshot);
                c->snapshot_size = z->cfg->snapshot_size;
                c->exists = z->cfg->exists;
                zone_config_free(z->cfg);
        }
        z->cfg = TAKE_PTR(c);
        z->dirty = true;
        return 0;
}

int zc_cmd_set(Zonecfg *z, char **argv, size_t argc)
{
        _cleanup_free_ char *spec = NULL, *value = NULL;
        ZoneResource *r;
        const char *prop;
        bool created;
        KzError e = {};
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        k = parse_assignment(z, argv, argc, &spec, &value);
        if (k < 0)
                return k;
        k = resolve_prop(z, spec, true, &r, &prop, &created);
        if (k < 0)
                return k;
        /* the restarter would refuse it as it refuses every change it cannot make live */
        if (zc_live(z) && r == z->cfg->root && streq(prop, "zonename") && !streq(value, z->zonename))
                return zc_fail(z, "cannot change zonename of a running zone.");
        if (r == z->cfg->root && streq(prop, "zonename") && !streq(value, z->zonename) && z->cfg->exists) {
                ZoneIndexEntry x = {};
                if (zone_index_lookup(z->root, z->zonename, &x, NULL) >= 0 && !zone_state_is_uninstalled(x.state)) {
                        zone_index_entry_done(&x);
                        return zc_fail(z, "zone %s is installed; it can only be renamed before it is installed.", z->zonename);
                }
                zone_index_entry_done(&x);
        }
        k = zone_resource_set(r, prop, value, &e);
        if (k < 0) {
                if (created)
                        zone_resource_remove(z->cfg->root, r);
                return zc_fail_error(z, k, &e);
        }
        if (r == z->cfg->root && streq(prop, "zonename")) {
                char *n = strdup(value);
                if (!n)
                        return -ENOMEM;
                free(z->zonename);
                z->zonename = n;
        }
        if (z->depth == 0)
                z->dirty = true;
        return 0;
}

int zc_cmd_clear(Zonecfg *z, char **argv, size_t argc)
{
        ZoneResource *r;
        const char *prop;
        bool created;
        KzError e = {};
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        if (argc != 1)
                return zc_fail(z, "usage: clear [RESOURCE:]PROPERTY");
        k = resolve_prop(z, argv[0], false, &r, &prop, &created);
        if (k < 0)
                return k;
        k = zone_resource_clear(r, prop, &e);
        if (k < 0)
                return zc_fail_error(z, k, &e);
        if (z->depth == 0)
                z->dirty = true;
        return 0;
}

static int push_scope(Zonecfg *z, ZoneResource *scratch, ZoneResource *original, ZoneResource *parent)
{
        if (z->depth >= MAX_DEPTH) {
                zone_resource_free(scratch);
                return zc_fail(z, "resources cannot be nested that deep.");
        }
        z->scopes[z->depth++] = (Scope) { scratch, original, parent };
        return 0;
}

int zc_cmd_add(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;
        ZoneResource *parent, *n;
        KzError e = {};
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        parent = zc_current(z);
        if (argc == 2 && z->depth > 0 && resource_type_prop(parent->type, argv[0], NULL)) {
                /* 'add allowed-vlan-ids 100-199': one more value of a list property */
                k = zone_resource_list_add(parent, argv[0], argv[1], &e);
                return k < 0 ? zc_fail_error(z, k, &e) : 0;
        }
        if (argc != 1)
                return zc_fail(z, "usage: add RESOURCE (or, in resource scope, add PROPERTY VALUE)");
        t = resource_type_child(parent->type, argv[0]);
        if (!t) {
                if (z->depth > 0 && resource_type_prop(parent->type, argv[0], NULL))
                        return zc_fail(z, "usage: add %s VALUE", argv[0]);
                if (z->depth > 0)
                        return zc_fail(z, "%s has no resource %s.", parent->type->name, argv[0]);
                return zc_fail(z, "unknown resource type: %s", argv[0]);
        }
        if (!t->multi && zone_resource_count(parent, t) > 0)
                return zc_fail(z, "a %s resource already exists; use 'select %s' to change it.", t->name, t->name);
        n = zone_resource_new(t);
        if (!n)
                return -ENOMEM;
        return push_scope(z, n, NULL, parent);
}

int zc_cmd_select(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;
        ZoneResource *parent, *found[2], *copy;
        size_t n;
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        if (argc < 1)
                return zc_fail(z, "usage: select RESOURCE [PROPERTY=VALUE …]");
        parent = zc_current(z);
        t = resource_type_child(parent->type, argv[0]);
        if (!t)
                return z->depth > 0 ? zc_fail(z, "%s has no resource %s.", parent->type->name, argv[0])
                                    : zc_fail(z, "unknown resource type: %s", argv[0]);
        k = zc_match_resources(z, parent, t, argv + 1, argc - 1, found, 2, &n);
        if (k < 0)
                return k;
        if (n == 0)
                return zc_fail(z, "No such %s resource.", t->name);
        if (n > 1)
                return zc_fail(z, "More than one %s resource matches; add a property such as %s=… to choose one.",
                        t->name, t->key ?: (t->props[0].name));
        copy = zone_resource_dup(found[0]);
        if (!copy)
                return -ENOMEM;
        return push_scope(z, copy, found[0], parent);
}

int zc_cmd_remove(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;
        ZoneResource *parent, *found[ZONE_CONFIG_MAX_RESOURCES];
        bool force = false;
        KzError e = {};
        size_t n;
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        parent = zc_current(z);
        if (argc >= 1 && streq(argv[0], "-F")) {
                force = true;
                argv++;
                argc--;
        }
        if (argc == 2 && z->depth > 0 && resource_type_prop(parent->type, argv[0], NULL)) {
                k = zone_resource_list_remove(parent, argv[0], argv[1], &e);
                return k < 0 ? zc_fail_error(z, k, &e) : 0;
        }
        if (argc < 1)
                return zc_fail(z, "usage: remove [-F] RESOURCE [PROPERTY=VALUE …]");
        t = resource_type_child(parent->type, argv[0]);
        if (!t)
                return z->depth > 0 ? zc_fail(z, "%s has no resource %s.", parent->type->name, argv[0])
                                    : zc_fail(z, "unknown resource type: %s", argv[0]);
        k = zc_match_resources(z, parent, t, argv + 1, argc - 1, found, ELEMENTSOF(found), &n);
        if (k < 0)
                return k;
        if (n == 0)
                return zc_fail(z, "No such %s resource.", t->name);
        if (n > 1 && !force) {
                char q[256];

                (void) snprintf(q, sizeof(q), "Are you sure you want to remove ALL '%s' resources", t->name);
                if (!zc_confirm(z, q))
                        return zc_fail(z, "%zu %s resources match; use 'remove -F %s' to remove them all, or add "
                                "PROPERTY=VALUE to choose one.", n, t->name, t->name);
        }
        for (size_t i = 0; i < n && i < ELEMENTSOF(found); i++)
                zone_resource_remove(parent, found[i]);
        if (z->depth == 0)
                z->dirty = true;
        return 0;
}

int zc_cmd_end(Zonecfg *z, char **argv, size_t argc)
{
        Scope *s = zc_scope(z);
        KzError e = {};
        int k;

        (void) argv;
        if (argc != 0)
                return zc_fail(z, "usage: end");
        if (!s)
                return zc_fail(z, "end is only used in resource scope.");
        k = zone_resource_complete(s->scratch, s->parent, s->original, true, &e);
        if (k < 0)
                return zc_fail_error(z, k, &e);
        if (s->original)
                zone_resource_replace(s->parent, s->original, s->scratch);
        else {
                k = zone_resource_attach(s->parent, s->scratch);
                if (k < 0)
                        return k;
        }
        *s = (Scope) {};
        z->depth--;
        if (z->depth == 0)
                z->dirty = true;
        return 0;
}

int zc_cmd_cancel(Zonecfg *z, char **argv, size_t argc)
{
        Scope *s = zc_scope(z);

        (void) argv;
        if (argc != 0)
                return zc_fail(z, "usage: cancel");
        if (!s)
                return zc_fail(z, "cancel is only used in resource scope.");
        zone_resource_free(s->scratch);
        *s = (Scope) {};
        z->depth--;
        return 0;
}
