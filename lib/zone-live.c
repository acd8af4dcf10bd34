/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Live zone reconfiguration: the plan from a running zone's live configuration to
 * the wanted one, and the refusal table (zone-live.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "size.h"
#include "zone-live.h"
#include "zone-qemu.h"

static const char *const zone_live_change_kind_table[_ZONE_LIVE_CHANGE_KIND_MAX] = {
        [ZONE_LIVE_DEVICE_REMOVE] = "device-remove",
        [ZONE_LIVE_ANET_REMOVE] = "anet-remove",
        [ZONE_LIVE_NCPUS] = "ncpus",
        [ZONE_LIVE_PHYSICAL] = "physical",
        [ZONE_LIVE_ANET_ADD] = "anet-add",
        [ZONE_LIVE_DEVICE_ADD] = "device-add",
        [ZONE_LIVE_RECORD] = "record",
        [ZONE_LIVE_REFUSED] = "refused",
};

DEFINE_STRING_TABLE(zone_live_change_kind, ZoneLiveChangeKind, _ZONE_LIVE_CHANGE_KIND_MAX)

static const ResourceType *rt(const char *name)
{
        return resource_type_child(zone_type(), name);
}

void zone_live_plan_done(ZoneLivePlan *p)
{
        for (size_t i = 0; p->changes && i < p->n; i++) {
                free(p->changes[i].text);
                free(p->changes[i].refusal);
        }
        free(p->changes);
        *p = (ZoneLivePlan) {};
}

_printf_(5, 6) static int add(ZoneLivePlan *p, ZoneLiveChangeKind kind, const ZoneResource *r, const char *refusal,
                const char *fmt, ...)
{
        ZoneLiveChange *n, c = { .kind = kind, .resource = r };
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&c.text, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (refusal && !(c.refusal = strdup(refusal))) {
                free(c.text);
                return -ENOMEM;
        }
        n = realloc(p->changes, (p->n + 1) * sizeof(*n));
        if (!n) {
                free(c.text);
                free(c.refusal);
                return -ENOMEM;
        }
        p->changes = n;
        p->changes[p->n++] = c;
        if (kind == ZONE_LIVE_REFUSED)
                p->n_refused++;
        return 0;
}

static int refuse(ZoneLivePlan *p, const char *what, const char *fmt_text, const char *a, const char *b)
{
        _cleanup_free_ char *why = NULL;

        if (asprintf(&why, "cannot change %s of a running zone", what) < 0)
                return -ENOMEM;
        return add(p, ZONE_LIVE_REFUSED, NULL, why, fmt_text, a, b ?: "");
}

const char *zone_live_memory_refusal(const ZoneConfig *c)
{
        if (!zone_memory_live_enabled(c))
                return "Memory reconfiguration not enabled";
        /* a pool zone's region is in its pool (zone_vmem_region()) */
        if (zone_vmem_region(c) == 0)
                return "memory live reconfiguration with pagesize-policy other than largest-available is not "
                        "supported yet";
        return NULL;
}

/* The identifying property a line names: the guide's "anet id=1", "device
 * storage=URI", "admin user=NAME". */
static const char *ident_prop(const ZoneResource *r)
{
        if (r->type == rt("device") && zone_resource_get(r, "storage"))
                return "storage";
        return r->type->key ?: "id";
}

static const ZoneResource *find_keyed(const ZoneResource *parent, const ZoneResource *r)
{
        const char *key = r->type->key, *v = zone_resource_get(r, key);

        for (size_t i = 0; i < parent->n_children; i++) {
                const ZoneResource *o = parent->children[i];
                if (o->type == r->type && streq_ptr(zone_resource_get(o, key), v))
                        return o;
        }
        return NULL;
}

/* anet, device, admin: matched by their key. */
static int plan_multi(ZoneLivePlan *p, const ZoneConfig *live, const ZoneConfig *wanted, const ResourceType *t)
{
        bool record = t == rt("admin");
        ZoneLiveChangeKind add_kind = t == rt("anet") ? ZONE_LIVE_ANET_ADD : ZONE_LIVE_DEVICE_ADD,
                           remove_kind = t == rt("anet") ? ZONE_LIVE_ANET_REMOVE : ZONE_LIVE_DEVICE_REMOVE;
        int r;

        for (size_t i = 0; i < live->root->n_children; i++) {
                const ZoneResource *l = live->root->children[i];
                const ZoneResource *w;

                if (l->type != t)
                        continue;
                w = find_keyed(wanted->root, l);
                if (!w)
                        r = add(p, record ? ZONE_LIVE_RECORD : remove_kind, l, NULL, "Removing %s %s=%s", t->name,
                                ident_prop(l), strna(zone_resource_get(l, ident_prop(l))));
                else if (zone_resource_equal(l, w))
                        r = 0;
                else if (record)
                        r = add(p, ZONE_LIVE_RECORD, w, NULL, "Modifying %s %s=%s", t->name, ident_prop(w),
                                strna(zone_resource_get(w, ident_prop(w))));
                else {
                        _cleanup_free_ char *what = NULL;

                        if (asprintf(&what, "%s %s=%s", t->name, t->key, strna(zone_resource_get(w, t->key))) < 0)
                                return -ENOMEM;
                        r = refuse(p, what, "Modifying %s%s", what, NULL);
                }
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < wanted->root->n_children; i++) {
                const ZoneResource *w = wanted->root->children[i];

                if (w->type != t || find_keyed(live->root, w))
                        continue;
                r = add(p, record ? ZONE_LIVE_RECORD : add_kind, w, NULL, "Adding %s %s=%s", t->name, ident_prop(w),
                        strna(zone_resource_get(w, ident_prop(w))));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Resources that appear once (capped-memory, virtual-cpu, …), property by property;
 * absent is all properties unset. */
static int plan_single(ZoneLivePlan *p, const ZoneConfig *live, const ZoneConfig *wanted, const ResourceType *t)
{
        const ZoneResource *l = zone_resource_first(live->root, t), *w = zone_resource_first(wanted->root, t);
        int r;

        if (!l && !w)
                return 0;
        for (size_t i = 0; i < t->n_props; i++) {
                const char *name = t->props[i].name;
                const char *lv = zone_resource_get(l, name), *wv = zone_resource_get(w, name);
                _cleanup_free_ char *what = NULL;

                if (t == rt("virtual-cpu") && streq(name, "ncpus")) {
                        unsigned ln = zone_ncpus(live), wn = zone_ncpus(wanted);

                        if (ln != wn && (r = add(p, ZONE_LIVE_NCPUS, NULL, NULL, "Modifying virtual-cpu ncpus=%u", wn)) < 0)
                                return r;
                        if (ln != wn)
                                p->changes[p->n - 1].value = wn;
                        continue;
                }
                if (t == rt("capped-memory") && streq(name, "physical")) {
                        uint64_t lb = zone_memory_bytes(live), wb = zone_memory_bytes(wanted);
                        char buf[SIZE_FORMAT_MAX];
                        const char *shown = wv ?: size_format(wb, buf, sizeof(buf));
                        const char *why = zone_live_memory_refusal(live);
                        _cleanup_free_ char *refusal = NULL;

                        if (lb == wb)
                                continue;
                        if (why) {
                                if (asprintf(&refusal, "Modifying capped-memory physical=%s failed: %s", shown, why) < 0)
                                        return -ENOMEM;
                                r = add(p, ZONE_LIVE_REFUSED, NULL, refusal, "Modifying capped-memory physical=%s",
                                        shown);
                        } else
                                r = add(p, ZONE_LIVE_PHYSICAL, NULL, NULL, "Modifying capped-memory physical=%s", shown);
                        if (r < 0)
                                return r;
                        p->changes[p->n - 1].value = wb;
                        continue;
                }
                if (streq_ptr(lv, wv))
                        continue;
                if (t == rt("capped-memory") && streq(name, "memlzs")) {
                        r = wv ? add(p, ZONE_LIVE_RECORD, NULL, NULL, "Modifying capped-memory memlzs=%s", wv)
                               : add(p, ZONE_LIVE_RECORD, NULL, NULL, "Clearing capped-memory memlzs");
                        if (r < 0)
                                return r;
                        continue;
                }
                if (asprintf(&what, "%s:%s", t->name, name) < 0)
                        return -ENOMEM;
                r = wv ? refuse(p, what, "Modifying %s=%s", what, wv) : refuse(p, what, "Clearing %s%s", what, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The global properties: autoboot, autoshutdown and bootargs are recorded (they
 * matter at the next boot), the others cannot change. */
static int plan_globals(ZoneLivePlan *p, const ZoneConfig *live, const ZoneConfig *wanted)
{
        const ResourceType *t = zone_type();
        int r;

        for (size_t i = 0; i < t->n_props; i++) {
                const char *name = t->props[i].name;
                const char *lv = live->root->values[i], *wv = wanted->root->values[i];
                bool record = streq(name, "autoboot") || streq(name, "autoshutdown") || streq(name, "bootargs");

                if (streq_ptr(lv, wv))
                        continue;
                if (record)
                        r = wv ? add(p, ZONE_LIVE_RECORD, NULL, NULL, "Modifying %s=%s", name, wv)
                               : add(p, ZONE_LIVE_RECORD, NULL, NULL, "Clearing %s", name);
                else
                        r = wv ? refuse(p, name, "Modifying %s=%s", name, wv) : refuse(p, name, "Clearing %s%s", name, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Any other resource (boot, suspend, keysource, dedicated-cpu): changed at all, refused. */
static int plan_other(ZoneLivePlan *p, const ZoneConfig *live, const ZoneConfig *wanted, const ResourceType *t)
{
        const ZoneResource *l = zone_resource_first(live->root, t), *w = zone_resource_first(wanted->root, t);

        if (!l && !w)
                return 0;
        if (l && w && zone_resource_equal(l, w))
                return 0;
        return refuse(p, t->name, !l ? "Adding %s%s" : !w ? "Removing %s%s" : "Modifying %s%s", t->name, NULL);
}

static int by_kind(const void *a, const void *b)
{
        const ZoneLiveChange *x = a, *y = b;

        return (x->kind > y->kind) - (x->kind < y->kind);
}

int zone_live_plan(const ZoneConfig *live, const ZoneConfig *wanted, ZoneLivePlan *ret)
{
        _cleanup_(zone_live_plan_done) ZoneLivePlan p = {};
        int r;

        r = plan_globals(&p, live, wanted);
        for (const ResourceType *const *t = zone_type()->children; r >= 0 && *t; t++) {
                if (*t == rt("anet") || *t == rt("device") || *t == rt("admin"))
                        r = plan_multi(&p, live, wanted, *t);
                else if (*t == rt("capped-memory") || *t == rt("virtual-cpu") || *t == rt("dedicated-cpu"))
                        r = plan_single(&p, live, wanted, *t);
                else
                        r = plan_other(&p, live, wanted, *t);
        }
        if (r < 0)
                return r;
        /* applied in this order: what goes first (its resources freed), then what changes,
         * then what comes; a stable sort keeps the configuration's order within a kind */
        for (size_t i = 1; i < p.n; i++)
                for (size_t j = i; j > 0 && by_kind(&p.changes[j - 1], &p.changes[j]) > 0; j--) {
                        ZoneLiveChange c = p.changes[j];
                        p.changes[j] = p.changes[j - 1];
                        p.changes[j - 1] = c;
                }
        *ret = p;
        p = (ZoneLivePlan) {};
        return 0;
}

static int ensure(ZoneConfig *c, const char *type, ZoneResource **ret)
{
        ZoneResource *r = zone_resource_first(c->root, rt(type));

        if (!r) {
                r = zone_resource_new(rt(type));
                if (!r)
                        return -ENOMEM;
                if (zone_resource_attach(c->root, r) < 0) {
                        zone_resource_free(r);
                        return -ENOMEM;
                }
        }
        *ret = r;
        return 0;
}

int zone_live_apply_records(ZoneConfig *live, const ZoneConfig *wanted, KzError *e)
{
        static const char *const globals[] = { "autoboot", "autoshutdown", "bootargs" };
        const char *memlzs = zone_resource_get(zone_resource_first(wanted->root, rt("capped-memory")), "memlzs");
        ZoneResource *cm;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(globals); i++) {
                const char *v = zone_resource_get(wanted->root, globals[i]);

                if (streq_ptr(v, zone_resource_get(live->root, globals[i])))
                        continue;
                r = v ? zone_resource_set(live->root, globals[i], v, e) : zone_resource_clear(live->root, globals[i], e);
                if (r < 0)
                        return r;
        }
        if (!streq_ptr(memlzs, zone_resource_get(zone_resource_first(live->root, rt("capped-memory")), "memlzs"))) {
                r = ensure(live, "capped-memory", &cm);
                if (r < 0)
                        return r;
                r = memlzs ? zone_resource_set(cm, "memlzs", memlzs, e) : zone_resource_clear(cm, "memlzs", e);
                if (r < 0)
                        return r;
        }
        /* the admin resources: as wanted */
        for (size_t i = live->root->n_children; i > 0; i--)
                if (live->root->children[i - 1]->type == rt("admin"))
                        zone_resource_remove(live->root, live->root->children[i - 1]);
        for (size_t i = 0; i < wanted->root->n_children; i++) {
                ZoneResource *a;

                if (wanted->root->children[i]->type != rt("admin"))
                        continue;
                a = zone_resource_dup(wanted->root->children[i]);
                if (!a || zone_resource_attach(live->root, a) < 0) {
                        zone_resource_free(a);
                        return -ENOMEM;
                }
        }
        return 0;
}

int zone_live_set_ncpus(ZoneConfig *live, unsigned n, KzError *e)
{
        ZoneResource *vc;
        char buf[16];
        int r;

        r = ensure(live, "virtual-cpu", &vc);
        if (r < 0)
                return r;
        (void) snprintf(buf, sizeof(buf), "%u", n);
        return zone_resource_set(vc, "ncpus", buf, e);
}

int zone_live_set_physical(ZoneConfig *live, uint64_t bytes, KzError *e)
{
        ZoneResource *cm;
        char buf[SIZE_FORMAT_MAX];
        int r;

        r = ensure(live, "capped-memory", &cm);
        if (r < 0)
                return r;
        return zone_resource_set(cm, "physical", size_format(bytes, buf, sizeof(buf)), e);
}
