/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A zone configuration as a tree of resources: building, changing and checking
 * it, and its key. The schema is in zone-schema.c, values in zone-values.c,
 * info and export in zone-config-print.c. */
#include <gnutls/gnutls.h>
#include <sys/random.h>

#include "storage-uri.h"
#include "zone-config-internal.h"

/* ---- resources ----------------------------------------------------------------------- */

/* Where resources of type t stand among parent's children. */
static size_t type_order(const ResourceType *parent, const ResourceType *t)
{
        size_t i = 0;

        if (parent->children)
                for (; parent->children[i]; i++)
                        if (parent->children[i] == t)
                                return i;
        return i;
}

ZoneResource *zone_resource_new(const ResourceType *t)
{
        ZoneResource *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        r->type = t;
        r->values = calloc(t->n_props ?: 1, sizeof(char *));
        if (!r->values) {
                free(r);
                return NULL;
        }
        return r;
}

ZoneResource *zone_resource_free(ZoneResource *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->type->n_props; i++)
                free(r->values[i]);
        free(r->values);
        for (size_t i = 0; i < r->n_children; i++)
                zone_resource_free(r->children[i]);
        free(r->children);
        free(r);
        return NULL;
}

ZoneResource *zone_resource_dup(const ZoneResource *r)
{
        _cleanup_(zone_resource_freep) ZoneResource *n = zone_resource_new(r->type);

        if (!n)
                return NULL;
        for (size_t i = 0; i < r->type->n_props; i++)
                if (r->values[i] && !(n->values[i] = strdup(r->values[i])))
                        return NULL;
        if (r->n_children) {
                n->children = calloc(r->n_children, sizeof(ZoneResource *));
                if (!n->children)
                        return NULL;
                for (size_t i = 0; i < r->n_children; i++) {
                        n->children[i] = zone_resource_dup(r->children[i]);
                        if (!n->children[i])
                                return NULL;
                        n->n_children++;
                }
        }
        return TAKE_PTR(n);
}

bool zone_resource_equal(const ZoneResource *a, const ZoneResource *b)
{
        if (a->type != b->type || a->n_children != b->n_children)
                return false;
        for (size_t i = 0; i < a->type->n_props; i++)
                if (!streq_ptr(a->values[i], b->values[i]))
                        return false;
        for (size_t i = 0; i < a->n_children; i++)
                if (!zone_resource_equal(a->children[i], b->children[i]))
                        return false;
        return true;
}

const char *zone_resource_get(const ZoneResource *r, const char *prop)
{
        size_t i;

        if (!r || !resource_type_prop(r->type, prop, &i))
                return NULL;
        return r->values[i];
}

static int unknown_property(const ZoneResource *r, const char *prop, KzError *e)
{
        if (r->type == zone_type())
                return kz_error_set(e, EINVAL, "unknown property: %s", prop);
        return kz_error_set(e, EINVAL, "%s has no property %s.", r->type->name, prop);
}

/* Rules between properties of one resource, checked when one of them is set. */
static int check_exclusive(const ZoneResource *r, const char *prop, KzError *e)
{
        static const struct {
                const ResourceType *type;
                const char *a, *b;
        } pairs[] = {
                { &zone_capped_memory_type, "memory-reserve", "pagesize-policy" },
                { &zone_capped_memory_type, "memory-reserve", "pagesize" },
                { &zone_suspend_type, "path", "storage" },
        };

        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                const char *other;

                if (pairs[i].type != r->type)
                        continue;
                if (streq(prop, pairs[i].a))
                        other = pairs[i].b;
                else if (streq(prop, pairs[i].b))
                        other = pairs[i].a;
                else
                        continue;
                if (zone_resource_get(r, other))
                        return kz_error_set(e, EINVAL, "%s: %s and %s are mutually exclusive; clear %s first.",
                                r->type->name, prop, other, other);
        }
        return 0;
}

int zone_resource_set(ZoneResource *r, const char *prop, const char *value, KzError *e)
{
        const PropInfo *p;
        char *canon = NULL;
        size_t i;
        int k;

        p = resource_type_prop(r->type, prop, &i);
        if (!p)
                return unknown_property(r, prop, e);
        if (!value)
                return kz_error_set(e, EINVAL, "no value given for %s.", prop);
        k = prop_value_canonicalize(p, value, &canon, e);
        if (k < 0)
                return k;
        k = check_exclusive(r, prop, e);
        if (k < 0) {
                free(canon);
                return k;
        }
        free(r->values[i]);
        r->values[i] = canon;
        return 0;
}

int zone_resource_clear(ZoneResource *r, const char *prop, KzError *e)
{
        size_t i;

        if (!resource_type_prop(r->type, prop, &i))
                return unknown_property(r, prop, e);
        if (r->type == zone_type() && (streq(prop, "zonename") || streq(prop, "brand")))
                return kz_error_set(e, EINVAL, "%s cannot be cleared.", prop);
        r->values[i] = mfree_str(r->values[i]);
        return 0;
}

int zone_resource_list_add(ZoneResource *r, const char *prop, const char *value, KzError *e)
{
        const PropInfo *p;
        _cleanup_free_ char *joined = NULL;
        size_t i;

        p = resource_type_prop(r->type, prop, &i);
        if (!p)
                return unknown_property(r, prop, e);
        if (!(p->flags & PROP_FLAG_LIST))
                return kz_error_set(e, EINVAL, "%s is not a list property; use 'set %s=VALUE'.", prop, prop);
        if (isempty(value) || strchr(value, ','))
                return kz_error_set(e, EINVAL, "add %s takes one value.", prop);
        if (r->values[i]) {
                if (asprintf(&joined, "%s,%s", r->values[i], value) < 0)
                        return -ENOMEM;
        } else if (!(joined = strdup(value)))
                return -ENOMEM;
        return zone_resource_set(r, prop, joined, e);
}

int zone_resource_list_remove(ZoneResource *r, const char *prop, const char *value, KzError *e)
{
        const PropInfo *p;
        _cleanup_free_ char *canon = NULL, *copy = NULL, *out = NULL;
        char *save = NULL;
        bool found = false;
        size_t i;
        int k;

        p = resource_type_prop(r->type, prop, &i);
        if (!p)
                return unknown_property(r, prop, e);
        if (!(p->flags & PROP_FLAG_LIST))
                return kz_error_set(e, EINVAL, "%s is not a list property; use 'clear %s'.", prop, prop);
        k = prop_item_canonicalize(p, value, &canon, e);
        if (k < 0)
                return k;
        if (!r->values[i] || !(copy = strdup(r->values[i])))
                return r->values[i] ? -ENOMEM : kz_error_set(e, ENOENT, "%s does not contain %s.", prop, canon);
        out = calloc(1, strlen(copy) + 1);
        if (!out)
                return -ENOMEM;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (!found && streq(tok, canon)) {
                        found = true;
                        continue;
                }
                if (*out)
                        strcat(out, ",");
                strcat(out, tok);
        }
        if (!found)
                return kz_error_set(e, ENOENT, "%s does not contain %s.", prop, canon);
        free(r->values[i]);
        r->values[i] = *out ? TAKE_PTR(out) : NULL;
        return 0;
}

size_t zone_resource_count(const ZoneResource *parent, const ResourceType *t)
{
        size_t n = 0;

        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i]->type == t)
                        n++;
        return n;
}

ZoneResource *zone_resource_first(const ZoneResource *parent, const ResourceType *t)
{
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i]->type == t)
                        return parent->children[i];
        return NULL;
}

int zone_resource_attach(ZoneResource *parent, ZoneResource *child)
{
        ZoneResource **n;
        size_t order = type_order(parent->type, child->type), at = parent->n_children;

        if (parent->n_children >= ZONE_CONFIG_MAX_RESOURCES)
                return -E2BIG;
        for (size_t i = 0; i < parent->n_children; i++)
                if (type_order(parent->type, parent->children[i]->type) > order) {
                        at = i;
                        break;
                }
        n = realloc(parent->children, (parent->n_children + 1) * sizeof(ZoneResource *));
        if (!n)
                return -ENOMEM;
        parent->children = n;
        memmove(n + at + 1, n + at, (parent->n_children - at) * sizeof(ZoneResource *));
        n[at] = child;
        parent->n_children++;
        return 0;
}

void zone_resource_remove(ZoneResource *parent, ZoneResource *child)
{
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i] == child) {
                        zone_resource_free(child);
                        memmove(parent->children + i, parent->children + i + 1,
                                (parent->n_children - i - 1) * sizeof(ZoneResource *));
                        parent->n_children--;
                        return;
                }
}

void zone_resource_replace(ZoneResource *parent, ZoneResource *old, ZoneResource *new)
{
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i] == old) {
                        zone_resource_free(old);
                        parent->children[i] = new;
                        return;
                }
}

int zone_resource_complete(ZoneResource *r, const ZoneResource *parent, const ZoneResource *replacing, bool assign,
                KzError *e)
{
        const ResourceType *t = r->type;
        const char *key = t->key ? zone_resource_get(r, t->key) : NULL;
        int k;

        if (t->key && !key && t->auto_key && assign) {
                /* the lowest number no sibling uses */
                for (unsigned id = 0; id <= 65535; id++) {
                        char buf[16];
                        bool used = false;

                        (void) snprintf(buf, sizeof(buf), "%u", id);
                        for (size_t i = 0; i < parent->n_children && !used; i++) {
                                const ZoneResource *s = parent->children[i];
                                used = s != replacing && s != r && s->type == t &&
                                        streq_ptr(zone_resource_get(s, t->key), buf);
                        }
                        if (!used) {
                                k = zone_resource_set(r, t->key, buf, e);
                                if (k < 0)
                                        return k;
                                break;
                        }
                }
                key = zone_resource_get(r, t->key);
        }
        if (t->key && !key && !t->auto_key)
                return kz_error_set(e, EINVAL, "%s: %s must be set.", t->name, t->key);
        if (key)
                for (size_t i = 0; i < parent->n_children; i++) {
                        const ZoneResource *s = parent->children[i];
                        if (s != replacing && s != r && s->type == t && streq_ptr(zone_resource_get(s, t->key), key))
                                return kz_error_set(e, EEXIST, "%s %s=%s already exists.", t->name, t->key, key);
                }

        if (t == &zone_device_type && !zone_resource_get(r, "storage"))
                return kz_error_set(e, EINVAL, "device: storage must be set.");
        if (t == &zone_suspend_type && !zone_resource_get(r, "path") && !zone_resource_get(r, "storage"))
                return kz_error_set(e, EINVAL, "suspend: either path or storage must be set.");
        if (t == &zone_boot_type && !zone_resource_get(r, "kernel"))
                return kz_error_set(e, EINVAL, "boot: kernel must be set.");
        if (t == &zone_keysource_type && !zone_resource_get(r, "raw"))
                return kz_error_set(e, EINVAL, "keysource: raw must be set.");
        if (t == &zone_dedicated_cpu_type && !zone_resource_get(r, "ncpus") && !zone_resource_get(r, "cpus"))
                return kz_error_set(e, EINVAL, "dedicated-cpu: ncpus or cpus must be set.");
        if (t == &zone_virtual_cpu_type && !zone_resource_get(r, "ncpus"))
                return kz_error_set(e, EINVAL, "virtual-cpu: ncpus must be set.");
        if (t == &zone_capped_memory_type) {
                const char *policy = zone_resource_get(r, "pagesize-policy");
                if (streq_ptr(policy, "fixed") && !zone_resource_get(r, "pagesize"))
                        return kz_error_set(e, EINVAL,
                                "capped-memory: pagesize-policy=fixed requires the pagesize property.");
                if (zone_resource_get(r, "pagesize") && !streq_ptr(policy, "fixed"))
                        return kz_error_set(e, EINVAL,
                                "capped-memory: pagesize can only be set with pagesize-policy=fixed.");
        }
        if (t == &zone_vlan_type && parent->type == &zone_anet_type && zone_resource_get(r, "vlan-id") &&
            streq_ptr(zone_resource_get(r, "vlan-id"), zone_resource_get(parent, "vlan-id")))
                return kz_error_set(e, EEXIST, "vlan: vlan-id %s is already the anet's own vlan-id.",
                        zone_resource_get(r, "vlan-id"));
        if (t == &zone_vlan_type && zone_resource_get(r, "vlan-id"))
                for (size_t i = 0; i < parent->n_children; i++) {
                        const ZoneResource *s = parent->children[i];
                        if (s != replacing && s != r && s->type == t &&
                            streq_ptr(zone_resource_get(s, "vlan-id"), zone_resource_get(r, "vlan-id")))
                                return kz_error_set(e, EEXIST, "vlan vlan-id=%s already exists.",
                                        zone_resource_get(r, "vlan-id"));
                }
        if (t == &zone_vlan_type && !zone_resource_get(r, "vlan-id") && !zone_resource_get(r, "allowed-vlan-ids"))
                return kz_error_set(e, EINVAL, "vlan: vlan-id or allowed-vlan-ids must be set.");

        for (size_t i = 0; i < r->n_children; i++) {
                k = zone_resource_complete(r->children[i], r, NULL, false, e);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ---- the whole configuration -------------------------------------------------------- */

ZoneConfig *zone_config_new(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->root = zone_resource_new(zone_type());
        if (!c->root)
                return NULL;
        if (name && zone_resource_set(c->root, "zonename", name, NULL) < 0)
                return NULL;
        if (zone_resource_set(c->root, "brand", "kz", NULL) < 0)
                return NULL;
        return TAKE_PTR(c);
}

ZoneConfig *zone_config_free(ZoneConfig *c)
{
        if (!c)
                return NULL;
        zone_resource_free(c->root);
        free(c->loaded_name);
        free(c->snapshot);
        free(c);
        return NULL;
}

const char *zone_config_name(const ZoneConfig *c)
{
        return zone_resource_get(c->root, "zonename");
}

const char *zone_config_brand(const ZoneConfig *c)
{
        return zone_resource_get(c->root, "brand");
}

int zone_config_verify(const ZoneConfig *c, KzError *e)
{
        return zone_config_verify_full(c, false, e);
}

int zone_config_verify_full(const ZoneConfig *c, bool template, KzError *e)
{
        const ZoneResource *root = c->root;
        int k;

        if (!template && !zone_config_name(c))
                return kz_error_set(e, EINVAL, "zonename must be set.");
        if (!zone_config_brand(c))
                return kz_error_set(e, EINVAL, "brand must be set.");
        for (const ResourceType *const *t = zone_resource_types; *t; t++)
                if (!(*t)->multi && zone_resource_count(root, *t) > 1)
                        return kz_error_set(e, EEXIST, "only one %s resource is allowed.", (*t)->name);
        for (size_t i = 0; i < root->n_children; i++) {
                k = zone_resource_complete(root->children[i], root, NULL, false, e);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < root->n_children; i++) {
                const ZoneResource *r = root->children[i];
                const char *s = zone_resource_get(r, "storage");
                _cleanup_free_ char *x = NULL;
                const char *reason = NULL;

                if (!s || template)
                        continue;
                x = zone_config_expand(c, r, s);
                if (!x)
                        return -ENOMEM;
                if (storage_uri_parse(x, NULL, &reason) < 0)
                        return kz_error_set(e, EINVAL, "%s: storage %s is not a valid storage URI: %s.",
                                r->type->name, x, reason);
        }
        return 0;
}

char *zone_config_expand(const ZoneConfig *c, const ZoneResource *r, const char *value)
{
        const char *name = zone_config_name(c) ?: "", *id = zone_resource_get(r, "id") ?: "0";
        size_t len = 1;
        char *out, *o;

        for (const char *p = value; *p; p++)
                len += 1 + strlen(name) + strlen(id);
        out = malloc(len);
        if (!out)
                return NULL;
        o = out;
        for (const char *p = value; *p;) {
                if (strncmp(p, "%{zonename}", 11) == 0) {
                        o = stpcpy(o, name);
                        p += 11;
                } else if (strncmp(p, "%{id}", 5) == 0) {
                        o = stpcpy(o, id);
                        p += 5;
                } else
                        *o++ = *p++;
        }
        *o = 0;
        return out;
}

/* ---- keys ------------------------------------------------------------------------------- */

/* Wipes and frees a datum GnuTLS allocated (it may hold a key). */
static void datum_wipe(gnutls_datum_t *d)
{
        if (d->data) {
                explicit_bzero(d->data, d->size);
                gnutls_free(d->data);
        }
        *d = (gnutls_datum_t) {};
}

int zone_keysource_generate(char **ret)
{
        uint8_t key[16];
        gnutls_datum_t in = { key, sizeof(key) }, b64 = {};
        int r;

        if (getrandom(key, sizeof(key), 0) != (ssize_t) sizeof(key))
                return -EIO;
        r = gnutls_base64_encode2(&in, &b64);
        explicit_bzero(key, sizeof(key));
        if (r < 0)
                return -ENOMEM;
        r = asprintf(ret, "{base64}%.*s", (int) b64.size, (const char *) b64.data);
        datum_wipe(&b64);
        return r < 0 ? -ENOMEM : 0;
}

int zone_keysource_decode(const char *raw, uint8_t key[16])
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
        gnutls_datum_t in, out = {};
        int r;

        if (!raw || strncmp(raw, "{base64}", 8) != 0)
                return -EINVAL;
        raw += 8;
        /* GnuTLS skips blanks and newlines; a key is written without any */
        if (raw[strspn(raw, alphabet)] != 0)
                return -EINVAL;
        in = (gnutls_datum_t) { (unsigned char *) raw, strlen(raw) };
        r = gnutls_base64_decode2(&in, &out);
        if (r >= 0 && out.size == 16)
                memcpy(key, out.data, 16);
        else
                r = -EINVAL;
        datum_wipe(&out);
        return r < 0 ? r : 0;
}

int zone_config_new_keysource(ZoneConfig *c)
{
        _cleanup_(zone_resource_freep) ZoneResource *k = NULL;
        _cleanup_free_ char *raw = NULL;
        ZoneResource *old;
        int r;

        r = zone_keysource_generate(&raw);
        if (r < 0)
                return r;
        k = zone_resource_new(&zone_keysource_type);
        if (!k)
                return -ENOMEM;
        r = zone_resource_set(k, "raw", raw, NULL);
        if (r < 0)
                return r;
        explicit_bzero(raw, strlen(raw));
        while ((old = zone_resource_first(c->root, &zone_keysource_type)))
                zone_resource_remove(c->root, old);
        r = zone_resource_attach(c->root, k);
        if (r < 0)
                return r;
        TAKE_PTR(k);
        return 0;
}

const char *kzones_data_dir(void)
{
        const char *d = getenv("KZONES_DATA_DIR");

        return isempty(d) ? KZONES_PKGDATADIR : d;
}
