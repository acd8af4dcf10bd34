/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdarg.h>

#include "zone-store.h"
#include "zonecfg-cmd.h"

#define MAX_TOKENS 64
#define MAX_LINE (64u * 1024u)
#define MAX_DEPTH 2

typedef struct Scope {
        ZoneResource *scratch;  /* the resource being edited */
        ZoneResource *original; /* the one it replaces at 'end'; NULL after 'add' */
        ZoneResource *parent;   /* the zone, or the enclosing scope's scratch */
} Scope;

struct Zonecfg {
        ZonecfgOptions o;
        char *root;
        char *zonename;
        ZoneConfig *cfg; /* NULL: no configuration (not created yet, or deleted) */
        char *damaged;   /* why the stored configuration could not be read */
        bool dirty;
        Scope scopes[MAX_DEPTH];
        unsigned depth;
        unsigned lineno;
        char prompt[256];
};

typedef struct Command {
        const char *name;
        int (*run)(Zonecfg *z, char **argv, size_t argc);
        const char *usage;
        const char *help;
} Command;

_printf_(2, 3) static int fail(Zonecfg *z, const char *fmt, ...)
{
        va_list ap;

        if (z->o.mode == ZONECFG_FILE)
                fprintf(z->o.err, "On line %u:\n", z->lineno);
        else if (z->o.mode == ZONECFG_BATCH)
                fprintf(z->o.err, "zonecfg:%s: ", z->zonename);
        va_start(ap, fmt);
        vfprintf(z->o.err, fmt, ap);
        va_end(ap);
        fputc('\n', z->o.err);
        return -EINVAL;
}

static int fail_error(Zonecfg *z, int r, const KzError *e)
{
        fail(z, "%s", kz_error_message(e, r));
        return r < 0 ? r : -EINVAL;
}

static bool confirm(Zonecfg *z, const char *question)
{
        if (!z->o.confirm)
                return false;
        return z->o.confirm(z->o.userdata, question);
}

static void scopes_drop(Zonecfg *z)
{
        while (z->depth > 0) {
                z->depth--;
                zone_resource_free(z->scopes[z->depth].scratch);
                z->scopes[z->depth] = (Scope) {};
        }
}

int zonecfg_new(const ZonecfgOptions *o, Zonecfg **ret)
{
        _cleanup_(zonecfg_freep) Zonecfg *z = calloc(1, sizeof(*z));
        KzError e = {};
        int r;

        if (!z)
                return -ENOMEM;
        z->o = *o;
        z->root = strdup(o->root ?: "");
        z->zonename = strdup(o->zonename);
        if (!z->root || !z->zonename)
                return -ENOMEM;
        if (!zone_name_is_valid(o->zonename)) {
                fprintf(o->err, "zonecfg: %s: invalid zone name: use up to %u letters, digits, '-', '_' and '.', "
                        "starting with a letter or digit; 'global' and names starting with 'SYS' are reserved.\n",
                        o->zonename, ZONE_NAME_MAX);
                return -EINVAL;
        }
        r = zone_store_load(z->root, o->zonename, &z->cfg, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && r != -ENOENT) {
                /* Only 'delete -F' and 'create -F' can act on a damaged configuration. */
                z->damaged = strdup(kz_error_message(&e, r));
                if (!z->damaged)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(z);
        return 0;
}

Zonecfg *zonecfg_free(Zonecfg *z)
{
        if (!z)
                return NULL;
        scopes_drop(z);
        zone_config_free(z->cfg);
        free(z->damaged);
        free(z->root);
        free(z->zonename);
        free(z);
        return NULL;
}

bool zonecfg_zone_exists(const Zonecfg *z)
{
        return z->cfg != NULL;
}

const char *zonecfg_prompt(Zonecfg *z)
{
        size_t n = (size_t) snprintf(z->prompt, sizeof(z->prompt), "zonecfg:%s", z->zonename);

        for (unsigned i = 0; i < z->depth && n < sizeof(z->prompt); i++)
                n += (size_t) snprintf(z->prompt + n, sizeof(z->prompt) - n, ":%s", z->scopes[i].scratch->type->name);
        if (n < sizeof(z->prompt))
                (void) snprintf(z->prompt + n, sizeof(z->prompt) - n, "> ");
        return z->prompt;
}

static Scope *scope(Zonecfg *z)
{
        return z->depth > 0 ? &z->scopes[z->depth - 1] : NULL;
}

/* The resource that commands act on: the innermost scope's, else the zone. */
static ZoneResource *current(Zonecfg *z)
{
        return z->depth > 0 ? z->scopes[z->depth - 1].scratch : z->cfg->root;
}

static int need_zone(Zonecfg *z)
{
        if (z->cfg)
                return 0;
        return fail(z, "No such zone configured; use 'create' to begin configuring a new zone.");
}

static int need_global_scope(Zonecfg *z, const char *cmd)
{
        if (z->depth == 0)
                return 0;
        return fail(z, "%s is not allowed in resource scope (%s); use 'end' or 'cancel' first.", cmd,
                scope(z)->scratch->type->name);
}

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
                return fail(z, "expected PROPERTY=VALUE (put double quotes around a value with blanks).");
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
                *ret_r = current(z);
                *ret_prop = spec;
                return 0;
        }
        if (z->depth > 0)
                return fail(z, "%s: resource:property names are only used in the global scope.", spec);
        rname = strndup(spec, (size_t) (colon - spec));
        if (!rname)
                return -ENOMEM;
        t = resource_type_child(zone_type(), rname);
        if (!t)
                return fail(z, "unknown resource type: %s", rname);
        if (t->multi)
                return fail(z, "%s: there can be several %s resources; use 'select %s %s=…' to choose one.", spec,
                        t->name, t->name, strna(t->key));
        if (!resource_type_prop(t, colon + 1, NULL))
                return fail(z, "%s has no property %s.", t->name, colon + 1);
        r = zone_resource_first(z->cfg->root, t);
        if (!r) {
                int k;

                if (!create)
                        return fail(z, "no %s resource is configured.", t->name);
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
static int match_resources(Zonecfg *z, const ZoneResource *parent, const ResourceType *t, char **filters, size_t n,
                ZoneResource **ret, size_t max, size_t *ret_n)
{
        size_t found = 0;

        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(filters[i], '=');
                _cleanup_free_ char *p = NULL;

                if (!eq) {
                        if (!t->key || n != 1)
                                return fail(z, "expected PROPERTY=VALUE to choose a %s, got '%s'.", t->name,
                                        filters[i]);
                        continue; /* "select anet 0": the key */
                }
                p = strndup(filters[i], (size_t) (eq - filters[i]));
                if (!p)
                        return -ENOMEM;
                if (!resource_type_prop(t, p, NULL))
                        return fail(z, "%s has no property %s.", t->name, p);
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

static int cmd_create(Zonecfg *z, char **argv, size_t argc)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        const char *template = "SYSkz";
        bool blank = false, force = false;
        KzError e = {};
        int r;

        for (size_t i = 0; i < argc; i++) {
                if (streq(argv[i], "-b"))
                        blank = true;
                else if (streq(argv[i], "-F"))
                        force = true;
                else if (streq(argv[i], "-t") && i + 1 < argc)
                        template = argv[++i];
                else if (streq(argv[i], "-a"))
                        return fail(z, "create -a (from a Unified Archive) is not supported for kernel zones on "
                                "Linux: create the zone, then use 'zoneadm install -a IMAGE'.");
                else
                        return fail(z, "usage: create [-F] [-b | -t TEMPLATE]");
        }
        r = need_global_scope(z, "create");
        if (r < 0)
                return r;
        if (z->damaged && !force)
                return fail(z, "%s Use 'create -F' to replace it or 'delete -F' to remove it.", z->damaged);
        if (z->cfg && !force) {
                char q[256];

                (void) snprintf(q, sizeof(q), "Zone %s already exists; overwrite its configuration?", z->zonename);
                if (!confirm(z, q))
                        return fail(z, "zone %s already exists; use 'create -F' to overwrite its configuration.",
                                z->zonename);
        }
        if (blank) {
                c = zone_config_new(z->zonename);
                if (!c)
                        return -ENOMEM;
        } else {
                if (streq(template, z->zonename))
                        return fail(z, "zone %s cannot be its own template.", z->zonename);
                r = zone_template_load(z->root, template, z->zonename, &c, &e);
                if (r < 0)
                        return fail_error(z, r, &e);
        }
        if (z->damaged) {
                /* overwrite a damaged file: commit compares against its bytes */
                _cleanup_free_ char *path = NULL, *rel = NULL;

                if (asprintf(&rel, "/etc/zones/%s.xml", z->zonename) < 0 || !(path = path_join(z->root, rel)))
                        return -ENOMEM;
                r = read_file_bounded(path, 64u * 1024u * 1024u, &c->snapshot, &c->snapshot_size);
                if (r < 0)
                        return fail(z, "cannot read %s: %s", path, strerror(-r));
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

static int cmd_set(Zonecfg *z, char **argv, size_t argc)
{
        _cleanup_free_ char *spec = NULL, *value = NULL;
        ZoneResource *r;
        const char *prop;
        bool created;
        KzError e = {};
        int k;

        k = need_zone(z);
        if (k < 0)
                return k;
        k = parse_assignment(z, argv, argc, &spec, &value);
        if (k < 0)
                return k;
        k = resolve_prop(z, spec, true, &r, &prop, &created);
        if (k < 0)
                return k;
        if (r == z->cfg->root && streq(prop, "zonename") && !streq(value, z->zonename) && z->cfg->exists) {
                ZoneIndexEntry x = {};
                if (zone_index_lookup(z->root, z->zonename, &x, NULL) >= 0 && x.state != ZONE_STATE_CONFIGURED &&
                    x.state != ZONE_STATE_INCOMPLETE && x.state != ZONE_STATE_UNAVAILABLE) {
                        zone_index_entry_done(&x);
                        return fail(z, "zone %s is installed; it can only be renamed before it is installed.", z->zonename);
                }
                zone_index_entry_done(&x);
        }
        k = zone_resource_set(r, prop, value, &e);
        if (k < 0) {
                if (created)
                        zone_resource_remove(z->cfg->root, r);
                return fail_error(z, k, &e);
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

static int cmd_clear(Zonecfg *z, char **argv, size_t argc)
{
        ZoneResource *r;
        const char *prop;
        bool created;
        KzError e = {};
        int k;

        k = need_zone(z);
        if (k < 0)
                return k;
        if (argc != 1)
                return fail(z, "usage: clear [RESOURCE:]PROPERTY");
        k = resolve_prop(z, argv[0], false, &r, &prop, &created);
        if (k < 0)
                return k;
        k = zone_resource_clear(r, prop, &e);
        if (k < 0)
                return fail_error(z, k, &e);
        if (z->depth == 0)
                z->dirty = true;
        return 0;
}

static int push_scope(Zonecfg *z, ZoneResource *scratch, ZoneResource *original, ZoneResource *parent)
{
        if (z->depth >= MAX_DEPTH) {
                zone_resource_free(scratch);
                return fail(z, "resources cannot be nested that deep.");
        }
        z->scopes[z->depth++] = (Scope) { scratch, original, parent };
        return 0;
}

static int cmd_add(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;
        ZoneResource *parent, *n;
        KzError e = {};
        int k;

        k = need_zone(z);
        if (k < 0)
                return k;
        parent = current(z);
        if (argc == 2 && z->depth > 0 && resource_type_prop(parent->type, argv[0], NULL)) {
                /* 'add allowed-vlan-ids 100-199': one more value of a list property */
                k = zone_resource_list_add(parent, argv[0], argv[1], &e);
                return k < 0 ? fail_error(z, k, &e) : 0;
        }
        if (argc != 1)
                return fail(z, "usage: add RESOURCE (or, in resource scope, add PROPERTY VALUE)");
        t = resource_type_child(parent->type, argv[0]);
        if (!t) {
                if (z->depth > 0 && resource_type_prop(parent->type, argv[0], NULL))
                        return fail(z, "usage: add %s VALUE", argv[0]);
                if (z->depth > 0)
                        return fail(z, "%s has no resource %s.", parent->type->name, argv[0]);
                return fail(z, "unknown resource type: %s", argv[0]);
        }
        if (!t->multi && zone_resource_count(parent, t) > 0)
                return fail(z, "a %s resource already exists; use 'select %s' to change it.", t->name, t->name);
        n = zone_resource_new(t);
        if (!n)
                return -ENOMEM;
        return push_scope(z, n, NULL, parent);
}

static int cmd_select(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;
        ZoneResource *parent, *found[2], *copy;
        size_t n;
        int k;

        k = need_zone(z);
        if (k < 0)
                return k;
        if (argc < 1)
                return fail(z, "usage: select RESOURCE [PROPERTY=VALUE …]");
        parent = current(z);
        t = resource_type_child(parent->type, argv[0]);
        if (!t)
                return z->depth > 0 ? fail(z, "%s has no resource %s.", parent->type->name, argv[0])
                                    : fail(z, "unknown resource type: %s", argv[0]);
        k = match_resources(z, parent, t, argv + 1, argc - 1, found, 2, &n);
        if (k < 0)
                return k;
        if (n == 0)
                return fail(z, "No such %s resource.", t->name);
        if (n > 1)
                return fail(z, "More than one %s resource matches; add a property such as %s=… to choose one.",
                        t->name, t->key ?: (t->props[0].name));
        copy = zone_resource_dup(found[0]);
        if (!copy)
                return -ENOMEM;
        return push_scope(z, copy, found[0], parent);
}

static int cmd_remove(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;
        ZoneResource *parent, *found[ZONE_CONFIG_MAX_RESOURCES];
        bool force = false;
        KzError e = {};
        size_t n;
        int k;

        k = need_zone(z);
        if (k < 0)
                return k;
        parent = current(z);
        if (argc >= 1 && streq(argv[0], "-F")) {
                force = true;
                argv++;
                argc--;
        }
        if (argc == 2 && z->depth > 0 && resource_type_prop(parent->type, argv[0], NULL)) {
                k = zone_resource_list_remove(parent, argv[0], argv[1], &e);
                return k < 0 ? fail_error(z, k, &e) : 0;
        }
        if (argc < 1)
                return fail(z, "usage: remove [-F] RESOURCE [PROPERTY=VALUE …]");
        t = resource_type_child(parent->type, argv[0]);
        if (!t)
                return z->depth > 0 ? fail(z, "%s has no resource %s.", parent->type->name, argv[0])
                                    : fail(z, "unknown resource type: %s", argv[0]);
        k = match_resources(z, parent, t, argv + 1, argc - 1, found, ELEMENTSOF(found), &n);
        if (k < 0)
                return k;
        if (n == 0)
                return fail(z, "No such %s resource.", t->name);
        if (n > 1 && !force) {
                char q[256];

                (void) snprintf(q, sizeof(q), "Are you sure you want to remove ALL '%s' resources", t->name);
                if (!confirm(z, q))
                        return fail(z, "%zu %s resources match; use 'remove -F %s' to remove them all, or add "
                                "PROPERTY=VALUE to choose one.", n, t->name, t->name);
        }
        for (size_t i = 0; i < n && i < ELEMENTSOF(found); i++)
                zone_resource_remove(parent, found[i]);
        if (z->depth == 0)
                z->dirty = true;
        return 0;
}

static int cmd_end(Zonecfg *z, char **argv, size_t argc)
{
        Scope *s = scope(z);
        KzError e = {};
        int k;

        (void) argv;
        if (argc != 0)
                return fail(z, "usage: end");
        if (!s)
                return fail(z, "end is only used in resource scope.");
        k = zone_resource_complete(s->scratch, s->parent, s->original, true, &e);
        if (k < 0)
                return fail_error(z, k, &e);
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

static int cmd_cancel(Zonecfg *z, char **argv, size_t argc)
{
        Scope *s = scope(z);

        (void) argv;
        if (argc != 0)
                return fail(z, "usage: cancel");
        if (!s)
                return fail(z, "cancel is only used in resource scope.");
        zone_resource_free(s->scratch);
        *s = (Scope) {};
        z->depth--;
        return 0;
}

static void info_prop(Zonecfg *z, const ZoneResource *r, const char *prop)
{
        const char *v = zone_resource_get(r, prop);
        const PropInfo *p = resource_type_prop(r->type, prop, NULL);

        if (v)
                fprintf(z->o.out, "%s: %s\n", prop, p && (p->flags & PROP_FLAG_SECRET) ? "redacted" : v);
}

static int cmd_info(Zonecfg *z, char **argv, size_t argc)
{
        ZoneResource *cur;
        int k;

        k = need_zone(z);
        if (k < 0)
                return k;
        cur = current(z);
        if (argc == 0) {
                Scope *s = scope(z);
                char label[64];

                if (!s) {
                        zone_resource_info(z->o.out, z->cfg, cur, 0, NULL);
                        return 0;
                }
                /* a resource being added is shown with the number it will have: "anet 1:" */
                if (!s->original && s->scratch->type->multi)
                        (void) snprintf(label, sizeof(label), "%s %zu", s->scratch->type->name,
                                zone_resource_count(s->parent, s->scratch->type));
                else
                        (void) snprintf(label, sizeof(label), "%s", s->scratch->type->name);
                zone_resource_info(z->o.out, z->cfg, cur, z->depth > 1 ? 1 : 0, label);
                return 0;
        }
        if (resource_type_child(cur->type, argv[0])) {
                const ResourceType *t = resource_type_child(cur->type, argv[0]);
                ZoneResource *found[ZONE_CONFIG_MAX_RESOURCES];
                size_t n, shown = 0;

                k = match_resources(z, cur, t, argv + 1, argc - 1, found, ELEMENTSOF(found), &n);
                if (k < 0)
                        return k;
                for (size_t i = 0; i < n; i++) {
                        char label[64];

                        if (z->depth == 0) {
                                zone_resource_info(z->o.out, z->cfg, found[i], 0, t->name);
                                continue;
                        }
                        for (size_t j = 0; j < cur->n_children; j++)
                                if (cur->children[j] == found[i])
                                        break;
                                else if (cur->children[j]->type == t)
                                        shown++;
                        (void) snprintf(label, sizeof(label), "%s %zu", t->name, shown);
                        shown = 0;
                        zone_resource_info(z->o.out, z->cfg, found[i], 1, label);
                }
                return 0;
        }
        for (size_t i = 0; i < argc; i++) {
                if (!resource_type_prop(cur->type, argv[i], NULL))
                        return cur == z->cfg->root ? fail(z, "unknown resource or property: %s", argv[i])
                                                   : fail(z, "%s has no property or resource %s.", cur->type->name,
                                                             argv[i]);
        }
        for (size_t i = 0; i < argc; i++)
                info_prop(z, cur, argv[i]);
        return 0;
}

static int cmd_export(Zonecfg *z, char **argv, size_t argc)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int k;

        k = need_zone(z);
        if (k < 0)
                return k;
        if (!(argc == 0 || (argc == 2 && streq(argv[0], "-f"))))
                return fail(z, "usage: export [-f FILE]");
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        zone_config_export(f, z->cfg);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (argc == 0) {
                fwrite(buf, 1, size, z->o.out);
                return 0;
        }
        /* The export holds the zone's key: written atomically, readable by its owner only. */
        k = write_file_atomic(argv[1], buf, size, 0600);
        if (k < 0)
                return fail(z, "cannot write %s: %s", argv[1], strerror(-k));
        return 0;
}

static int cmd_verify(Zonecfg *z, char **argv, size_t argc)
{
        KzError e = {};
        int k;

        (void) argv;
        k = need_zone(z);
        if (k < 0)
                return k;
        if (argc != 0)
                return fail(z, "usage: verify");
        k = need_global_scope(z, "verify");
        if (k < 0)
                return k;
        k = zone_config_verify(z->cfg, &e);
        if (k < 0)
                return fail_error(z, k, &e);
        return 0;
}

static int do_commit(Zonecfg *z)
{
        KzError e = {};
        int k;

        k = zone_store_commit(z->root, z->cfg, &e);
        if (k < 0)
                return fail_error(z, k, &e);
        z->dirty = false;
        return 0;
}

static int cmd_commit(Zonecfg *z, char **argv, size_t argc)
{
        int k;

        (void) argv;
        k = need_zone(z);
        if (k < 0)
                return k;
        if (argc != 0)
                return fail(z, "usage: commit");
        k = need_global_scope(z, "commit");
        if (k < 0)
                return k;
        return do_commit(z);
}

static int cmd_revert(Zonecfg *z, char **argv, size_t argc)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        char *name;
        KzError e = {};
        int k;

        if (!(argc == 0 || (argc == 1 && streq(argv[0], "-F"))))
                return fail(z, "usage: revert [-F]");
        if (argc == 0 && z->o.mode == ZONECFG_INTERACTIVE && !confirm(z, "Are you sure you want to revert"))
                return 0;
        /* the name the zone has in the store, which a pending rename has not changed */
        name = strdup(z->cfg && z->cfg->loaded_name ? z->cfg->loaded_name : z->zonename);
        if (!name)
                return -ENOMEM;
        k = zone_store_load(z->root, name, &c, &e);
        if (k < 0 && k != -ENOENT) {
                free(name);
                return fail_error(z, k, &e);
        }
        scopes_drop(z);
        zone_config_free(z->cfg);
        z->cfg = TAKE_PTR(c);
        free(z->zonename);
        z->zonename = name;
        z->dirty = false;
        return 0;
}

static int cmd_delete(Zonecfg *z, char **argv, size_t argc)
{
        KzError e = {};
        bool force = false;
        int k;

        if (!(argc == 0 || (argc == 1 && streq(argv[0], "-F"))))
                return fail(z, "usage: delete [-F]");
        force = argc == 1;
        k = need_global_scope(z, "delete");
        if (k < 0)
                return k;
        if (z->damaged) {
                _cleanup_(zone_config_freep) ZoneConfig *shell = zone_config_new(NULL);

                if (!force)
                        return fail(z, "%s Use 'delete -F' to remove it.", z->damaged);
                if (!shell || !(shell->loaded_name = strdup(z->zonename)))
                        return -ENOMEM;
                shell->exists = true;
                k = zone_store_delete(z->root, shell, true, &e);
                if (k < 0)
                        return fail_error(z, k, &e);
                z->damaged = mfree_str(z->damaged);
                return 0;
        }
        if (!z->cfg || !z->cfg->exists)
                return fail(z, "No such zone configured.");
        if (!force) {
                char q[256];

                (void) snprintf(q, sizeof(q), "Are you sure you want to delete zone %s", z->zonename);
                if (!z->o.confirm)
                        return fail(z, "use 'delete -F' to delete zone %s without being asked.", z->zonename);
                if (!confirm(z, q))
                        return 0;
        }
        k = zone_store_delete(z->root, z->cfg, force, &e);
        if (k < 0)
                return fail_error(z, k, &e);
        z->cfg = zone_config_free(z->cfg);
        z->dirty = false;
        return 0;
}

static int end_all_scopes(Zonecfg *z)
{
        while (z->depth > 0) {
                int k = cmd_end(z, NULL, 0);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int cmd_exit(Zonecfg *z, char **argv, size_t argc)
{
        int k;

        if (!(argc == 0 || (argc == 1 && streq(argv[0], "-F"))))
                return fail(z, "usage: exit [-F]");
        if (argc == 1) {
                scopes_drop(z);
                z->dirty = false;
                return ZONECFG_EXIT;
        }
        k = zonecfg_finish(z);
        if (k < 0) {
                if (z->o.mode == ZONECFG_INTERACTIVE &&
                    confirm(z, "Configuration not saved; really quit")) {
                        scopes_drop(z);
                        z->dirty = false;
                        return ZONECFG_EXIT;
                }
                return k;
        }
        return ZONECFG_EXIT;
}

static int cmd_help(Zonecfg *z, char **argv, size_t argc);

static const Command commands[] = {
        { "add", cmd_add, "add RESOURCE | add PROPERTY VALUE",
                "Adds a resource (and enters its scope), or in resource scope one value to a list property." },
        { "cancel", cmd_cancel, "cancel", "Leaves resource scope, discarding the changes made in it." },
        { "clear", cmd_clear, "clear [RESOURCE:]PROPERTY", "Unsets a property." },
        { "commit", cmd_commit, "commit", "Verifies the configuration and saves it." },
        { "create", cmd_create, "create [-F] [-b | -t TEMPLATE]",
                "Creates a configuration: from SYSkz by default, from a template or an existing zone with -t, "
                "blank with -b. -F overwrites an existing configuration." },
        { "delete", cmd_delete, "delete [-F]", "Deletes the zone's configuration." },
        { "end", cmd_end, "end", "Checks the resource and leaves its scope, keeping the changes." },
        { "exit", cmd_exit, "exit [-F]", "Commits pending changes and leaves; -F leaves without saving." },
        { "export", cmd_export, "export [-f FILE]", "Prints the configuration as zonecfg commands." },
        { "help", cmd_help, "help [COMMAND]", "Prints this help." },
        { "info", cmd_info, "info [RESOURCE [PROPERTY=VALUE …] | PROPERTY …]",
                "Shows the configuration, a resource type or properties." },
        { "reload", cmd_revert, "reload [-F]", "Same as revert." },
        { "remove", cmd_remove, "remove [-F] RESOURCE [PROPERTY=VALUE …] | remove PROPERTY VALUE",
                "Removes resources, or in resource scope one value from a list property." },
        { "revert", cmd_revert, "revert [-F]", "Discards uncommitted changes and reloads the saved configuration." },
        { "select", cmd_select, "select RESOURCE [PROPERTY=VALUE …]", "Enters the scope of an existing resource." },
        { "set", cmd_set, "set [RESOURCE:]PROPERTY=VALUE", "Sets a property." },
        { "verify", cmd_verify, "verify", "Checks the configuration." },
};

static int cmd_help(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;

        if (argc == 1) {
                for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                        if (streq(commands[i].name, argv[0])) {
                                fprintf(z->o.out, "usage: %s\n    %s\n", commands[i].usage, commands[i].help);
                                return 0;
                        }
                t = resource_type_child(zone_type(), argv[0]);
                if (!t)
                        t = resource_type_child(resource_type_child(zone_type(), "anet"), argv[0]);
                if (t) {
                        fprintf(z->o.out, "%s properties:", t->name);
                        for (size_t i = 0; i < t->n_props; i++)
                                fprintf(z->o.out, " %s", t->props[i].name);
                        fputc('\n', z->o.out);
                        if (t->children) {
                                fprintf(z->o.out, "%s resources:", t->name);
                                for (const ResourceType *const *c = t->children; *c; c++)
                                        fprintf(z->o.out, " %s", (*c)->name);
                                fputc('\n', z->o.out);
                        }
                        return 0;
                }
                return fail(z, "help: unknown command or resource: %s", argv[0]);
        }
        fputs("Commands:\n", z->o.out);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(z->o.out, "    %s\n", commands[i].usage);
        t = z->cfg ? current(z)->type : zone_type();
        fprintf(z->o.out, "Properties here:");
        for (size_t i = 0; i < t->n_props; i++)
                fprintf(z->o.out, " %s", t->props[i].name);
        fputc('\n', z->o.out);
        if (t->children) {
                fprintf(z->o.out, "Resources here:");
                for (const ResourceType *const *c = t->children; *c; c++)
                        fprintf(z->o.out, " %s", (*c)->name);
                fputc('\n', z->o.out);
        }
        return 0;
}

int zonecfg_finish(Zonecfg *z)
{
        int k;

        k = end_all_scopes(z);
        if (k < 0)
                return k;
        if (z->dirty && z->cfg)
                return do_commit(z);
        return 0;
}

/* ---- the tokenizer ------------------------------------------------------------------------ */

static void free_tokens(char **t, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(t[i]);
}

static int run_command(Zonecfg *z, char **argv, size_t argc)
{
        if (z->damaged && !streq(argv[0], "delete") && !streq(argv[0], "create") && !streq(argv[0], "help") &&
            !streq(argv[0], "exit"))
                return fail(z, "%s", z->damaged);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, argv[0]))
                        return commands[i].run(z, argv + 1, argc - 1);
        return fail(z, "%s is not a zonecfg command; type 'help' for the list.", argv[0]);
}

int zonecfg_run_line(Zonecfg *z, const char *line, unsigned lineno)
{
        char *tokens[MAX_TOKENS];
        size_t n = 0, len;
        const char *p = line;
        int r = ZONECFG_CONTINUE;

        z->lineno = lineno;
        len = strlen(line);
        if (len > MAX_LINE)
                return fail(z, "line too long (at most %u bytes).", MAX_LINE);

        for (;;) {
                _cleanup_free_ char *tok = NULL;
                size_t tl = 0;
                bool quoted = false, any = false;

                while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                        p++;
                if (*p == 0 || *p == ';' || *p == '#') {
                        if (n > 0) {
                                r = run_command(z, tokens, n);
                                free_tokens(tokens, n);
                                n = 0;
                                if (r != ZONECFG_CONTINUE)
                                        return r;
                        }
                        if (*p == ';') {
                                p++;
                                continue;
                        }
                        return r;
                }
                tok = malloc(len + 1);
                if (!tok) {
                        free_tokens(tokens, n);
                        return -ENOMEM;
                }
                while (*p && (quoted || !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ';'))) {
                        if (*p == '"') {
                                quoted = !quoted;
                                any = true;
                                p++;
                                continue;
                        }
                        if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                p++;
                        tok[tl++] = *p++;
                }
                if (quoted) {
                        free_tokens(tokens, n);
                        return fail(z, "unterminated quoted string.");
                }
                tok[tl] = 0;
                (void) any;
                if (n >= MAX_TOKENS) {
                        free_tokens(tokens, n);
                        return fail(z, "too many words in one command.");
                }
                tokens[n++] = TAKE_PTR(tok);
        }
}
