/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-zone reconfigure NAME: a live reconfiguration's QMP work, run by the
 * restarter's apply job (services/restarter/zone-live.c) once it checked the plan.
 *
 * It reads the live configuration (live.xml) and the wanted one (live.next), checks
 * that QEMU runs what live.xml says (vCPUs, memory, the disks and NICs present), and
 * applies the plan's changes in order on the zone's control monitor. What it prints
 * on stdout goes to the job: "line TEXT" and "warning TEXT" as the job's Message,
 * anything else as the failure's reason. Whatever happens, live.next holds at the
 * end what QEMU really runs (partial results included), which the restarter makes
 * the new live configuration. Exit status: 0 done (maybe partially, with a warning),
 * 1 failed, ZONE_LIVE_EXIT_CHANGED: live.xml did not say what runs (corrected). */
#include <inttypes.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <stdio.h>
#include <time.h>

#include "qmp.h"
#include "reconfigure.h"
#include "size.h"
#include "zone-live.h"
#include "zone.h"

#define QMP_TIMEOUT_USEC (10u * 1000000u)
/* a vCPU's removal needs the guest to let it go (seconds, where KVM emulates the guest) */
#define CPU_UNPLUG_WAIT_USEC (30u * 1000000u)
/* virtio-mem: the guest plugs and unplugs blocks at its pace; we wait while it
 * makes progress, but never longer than this in all */
#define MEMORY_WAIT_USEC (120u * 1000000u)
#define MEMORY_STALL_USEC (15u * 1000000u)
#define POLL_USEC 100000u

static const char *STRICT_FAILURE =
        "operation could not reach the required memory settings and the memlzs property was set to 'strict' "
        "forcing the operation to fail. Clear the capped-memory's memlzs property to accept partial success.";

static void sleep_usec(uint64_t usec)
{
        struct timespec ts = { .tv_sec = (time_t) (usec / 1000000u), .tv_nsec = (long) (usec % 1000000u) * 1000 };

        (void) nanosleep(&ts, NULL);
}

static void line(const char *fmt, ...) _printf_(1, 2);
static void line(const char *fmt, ...)
{
        va_list ap;

        fputs("line ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static void warning(const char *fmt, ...) _printf_(1, 2);
static void warning(const char *fmt, ...)
{
        va_list ap;

        fputs("warning ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static int load(const char *path, ZoneConfig **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t size;
        KzError e = {};
        int r;

        r = read_file_bounded(path, ZONE_CONFIG_MAX_BYTES, &buf, &size);
        if (r < 0) {
                printf("cannot read %s: %s\n", path, strerror(-r));
                return r;
        }
        r = zone_config_from_xml(buf, size, path, 0, ret, &e);
        if (r < 0)
                printf("%s\n", kz_error_message(&e, r));
        return r;
}

static int save(const char *path, const ZoneConfig *c)
{
        _cleanup_free_ char *xml = NULL;
        size_t size;
        KzError e = {};
        int r;

        r = zone_config_to_xml(c, &xml, &size, &e);
        if (r >= 0)
                r = write_file_atomic(path, xml, size, 0600);
        if (r < 0)
                printf("cannot write the live configuration: %s\n", kz_error_message(&e, r));
        return r;
}

static ZoneConfig *dup_config(const ZoneConfig *c)
{
        _cleanup_free_ char *xml = NULL;
        ZoneConfig *d = NULL;
        size_t size;

        if (zone_config_to_xml(c, &xml, &size, NULL) < 0 || zone_config_from_xml(xml, size, "live", 0, &d, NULL) < 0)
                return NULL;
        return d;
}

/* ---- what QEMU runs ------------------------------------------------------------------------ */

static int count_cpus(QmpSync *q, unsigned *ret)
{
        _cleanup_free_ char *err = NULL;
        json_object *l = NULL;
        int r;

        r = qmp_sync_execute(q, "query-cpus-fast", NULL, &l, &err);
        if (r < 0 || !json_object_is_type(l, json_type_array)) {
                json_object_put(l);
                return r < 0 ? r : -EIO;
        }
        *ret = (unsigned) json_object_array_length(l);
        json_object_put(l);
        return 0;
}

static int qom_get_u64(QmpSync *q, const char *path, const char *prop, uint64_t *ret)
{
        json_object *a = json_object_new_object(), *v = NULL;
        int r;

        json_object_object_add(a, "path", json_object_new_string(path));
        json_object_object_add(a, "property", json_object_new_string(prop));
        r = qmp_sync_execute(q, "qom-get", a, &v, NULL);
        if (r >= 0 && !json_object_is_type(v, json_type_int))
                r = -EIO;
        if (r >= 0)
                *ret = (uint64_t) json_object_get_int64(v);
        json_object_put(v);
        return r;
}

/* base: the boot memory; plugged: what virtio-mem adds (0 without it) */
static int memory_size(QmpSync *q, uint64_t *ret_base, uint64_t *ret_plugged)
{
        json_object *v = NULL, *b, *p;
        int r;

        r = qmp_sync_execute(q, "query-memory-size-summary", NULL, &v, NULL);
        if (r >= 0 && !json_object_object_get_ex(v, "base-memory", &b))
                r = -EIO;
        if (r >= 0) {
                *ret_base = (uint64_t) json_object_get_int64(b);
                *ret_plugged = json_object_object_get_ex(v, "plugged-memory", &p) ? (uint64_t) json_object_get_int64(p)
                                                                                   : 0;
        }
        json_object_put(v);
        return r;
}

static bool peripheral_has(json_object *l, const char *id)
{
        for (size_t i = 0; l && i < json_object_array_length(l); i++) {
                json_object *n;

                if (json_object_object_get_ex(json_object_array_get_idx(l, i), "name", &n) &&
                    streq(json_object_get_string(n), id))
                        return true;
        }
        return false;
}

/* live.xml against QEMU: vCPUs, memory, and the disks and NICs it has. Corrects
 * live where they differ; returns > 0 if it did. */
static int check_external(QmpSync *q, ZoneConfig *live)
{
        json_object *a = json_object_new_object(), *l = NULL;
        uint64_t base, plugged;
        unsigned n;
        bool changed = false;
        KzError e = {};
        int r;

        r = count_cpus(q, &n);
        if (r < 0)
                return r;
        if (n != zone_ncpus(live)) {
                if ((r = zone_live_set_ncpus(live, n, &e)) < 0)
                        return r;
                changed = true;
        }
        r = memory_size(q, &base, &plugged);
        if (r < 0)
                return r;
        if (base + plugged != zone_memory_bytes(live)) {
                if ((r = zone_live_set_physical(live, base + plugged, &e)) < 0)
                        return r;
                changed = true;
        }
        json_object_object_add(a, "path", json_object_new_string("/machine/peripheral"));
        r = qmp_sync_execute(q, "qom-list", a, &l, NULL);
        if (r < 0)
                return r;
        for (size_t i = live->root->n_children; i > 0; i--) {
                ZoneResource *x = live->root->children[i - 1];
                char id[32];

                if (x->type == resource_type_child(zone_type(), "device"))
                        (void) snprintf(id, sizeof(id), "disk%s-dev", zone_resource_get(x, "id") ?: "0");
                else if (x->type == resource_type_child(zone_type(), "anet"))
                        (void) snprintf(id, sizeof(id), "net%s-dev", zone_resource_get(x, "id") ?: "0");
                else
                        continue;
                if (!peripheral_has(l, id)) {
                        zone_resource_remove(live->root, x);
                        changed = true;
                }
        }
        json_object_put(l);
        return changed;
}

/* ---- vCPUs --------------------------------------------------------------------------------- */

/* query-hotpluggable-cpus: each slot, plugged (a qom-path) or not. */
static int hot_add_cpus(QmpSync *q, unsigned have, unsigned want)
{
        _cleanup_free_ char *err = NULL;
        json_object *l = NULL;
        int r;

        r = qmp_sync_execute(q, "query-hotpluggable-cpus", NULL, &l, &err);
        if (r < 0)
                return r;
        /* QEMU lists the slots from the last one: the lowest free ones go first */
        for (size_t i = json_object_array_length(l); i > 0 && have < want; i--) {
                json_object *slot = json_object_array_get_idx(l, i - 1), *props, *type, *a;
                char id[64];

                if (json_object_object_get_ex(slot, "qom-path", NULL) ||
                    !json_object_object_get_ex(slot, "props", &props) || !json_object_object_get_ex(slot, "type", &type))
                        continue;
                a = json_object_new_object();
                json_object_object_foreach(props, k, v) json_object_object_add(a, k, json_object_get(v));
                /* named for its place: vcpu-SOCKET-CORE-THREAD */
                {
                        json_object *so = NULL, *co = NULL, *th = NULL;

                        (void) json_object_object_get_ex(props, "socket-id", &so);
                        (void) json_object_object_get_ex(props, "core-id", &co);
                        (void) json_object_object_get_ex(props, "thread-id", &th);
                        (void) snprintf(id, sizeof(id), "vcpu-%d-%d-%d", json_object_get_int(so),
                                json_object_get_int(co), json_object_get_int(th));
                }
                json_object_object_add(a, "driver", json_object_new_string(json_object_get_string(type)));
                json_object_object_add(a, "id", json_object_new_string(id));
                free(err);
                err = NULL;
                r = qmp_sync_execute(q, "device_add", a, NULL, &err);
                if (r < 0) {
                        line("error: cannot add a virtual cpu: %s", err ?: strerror(-r));
                        break;
                }
                have++;
        }
        json_object_put(l);
        return 0;
}

/* Whether this QEMU survives a vCPU's removal. QEMU before 8.0 frees an unplugged
 * vCPU's jump cache while its emulator (TCG) may still use it, and its heap breaks
 * (seen: the zone's QEMU aborting with "corrupted double-linked list" at the next
 * device_add after one vCPU went). KVM does not use that cache. Returns 1 and the
 * version when it does not survive, 0 when it does. */
static int cpu_unplug_breaks_qemu(QmpSync *q, int *ret_major, int *ret_minor)
{
        json_object *kvm = NULL, *ver = NULL, *v, *qemu;
        bool tcg;
        int r;

        r = qmp_sync_execute(q, "query-kvm", NULL, &kvm, NULL);
        if (r < 0)
                return r;
        tcg = !(json_object_object_get_ex(kvm, "enabled", &v) && json_object_get_boolean(v));
        json_object_put(kvm);
        if (!tcg)
                return 0;
        r = qmp_sync_execute(q, "query-version", NULL, &ver, NULL);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(ver, "qemu", &qemu))
                qemu = NULL;
        *ret_major = qemu && json_object_object_get_ex(qemu, "major", &v) ? json_object_get_int(v) : 0;
        *ret_minor = qemu && json_object_object_get_ex(qemu, "minor", &v) ? json_object_get_int(v) : 0;
        json_object_put(ver);
        return *ret_major < 8;
}

/* Only the vCPUs added live (ours: /machine/peripheral/vcpuN), the last first. */
static int hot_remove_cpus(QmpSync *q, unsigned have, unsigned want)
{
        json_object *l = NULL;
        int major = 0, minor = 0, r;

        r = cpu_unplug_breaks_qemu(q, &major, &minor);
        if (r < 0)
                return r;
        if (r > 0) {
                line("error: virtual cpus cannot be removed while the zone runs under QEMU %d.%d's emulator (this "
                        "host's Accelerator=tcg): that QEMU corrupts its memory when a vCPU is unplugged. The zone "
                        "keeps %u until it reboots.", major, minor, have);
                return 0;
        }
        r = qmp_sync_execute(q, "query-hotpluggable-cpus", NULL, &l, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(l) && have > want; i++) {
                json_object *slot = json_object_array_get_idx(l, i), *path, *a;
                const char *p, *id;
                _cleanup_free_ char *err = NULL;
                unsigned now = have;
                uint64_t deadline;

                if (!json_object_object_get_ex(slot, "qom-path", &path))
                        continue;
                p = json_object_get_string(path);
                id = startswith(p, "/machine/peripheral/");
                if (!id)
                        continue; /* a boot vCPU: it stays */
                a = json_object_new_object();
                json_object_object_add(a, "id", json_object_new_string(id));
                r = qmp_sync_execute(q, "device_del", a, NULL, &err);
                if (r < 0) {
                        line("error: cannot remove virtual cpu %s: %s", id, err ?: strerror(-r));
                        break;
                }
                /* the guest takes it offline, then QEMU removes it */
                deadline = now_usec() + CPU_UNPLUG_WAIT_USEC;
                while (now == have && now_usec() < deadline) {
                        sleep_usec(POLL_USEC);
                        if (count_cpus(q, &now) < 0)
                                break;
                }
                if (now == have) {
                        line("error: the guest did not release virtual cpu %s", id);
                        break;
                }
                have = now;
        }
        json_object_put(l);
        return 0;
}

static int change_ncpus(QmpSync *q, ZoneConfig *result, unsigned want)
{
        unsigned have, final;
        KzError e = {};
        int r;

        r = count_cpus(q, &have);
        if (r < 0)
                return r;
        if (want > have)
                r = hot_add_cpus(q, have, want);
        else if (want < have)
                r = hot_remove_cpus(q, have, want);
        if (r < 0)
                return r;
        r = count_cpus(q, &final);
        if (r < 0)
                return r;
        if (final != want)
                warning("operation succeeded partially for virtual cpus (requested: %u, final: %u)", want, final);
        return zone_live_set_ncpus(result, final, &e);
}

/* ---- memory -------------------------------------------------------------------------------- */

#define VMEM_PATH "/machine/peripheral/" ZONE_VMEM_ID

static int set_requested(QmpSync *q, uint64_t size)
{
        json_object *a = json_object_new_object();

        json_object_object_add(a, "path", json_object_new_string(VMEM_PATH));
        json_object_object_add(a, "property", json_object_new_string("requested-size"));
        json_object_object_add(a, "value", json_object_new_int64((int64_t) size));
        return qmp_sync_execute(q, "qom-set", a, NULL, NULL);
}

/* Waits while the guest plugs or unplugs towards requested, bounded; the size reached. */
static uint64_t settle(QmpSync *q, uint64_t requested)
{
        uint64_t start = now_usec(), last_change = start, size = 0, prev = UINT64_MAX;

        for (;;) {
                if (qom_get_u64(q, VMEM_PATH, "size", &size) < 0)
                        return prev == UINT64_MAX ? 0 : prev;
                if (size == requested)
                        return size;
                if (size != prev)
                        last_change = now_usec();
                prev = size;
                if (now_usec() - last_change > MEMORY_STALL_USEC || now_usec() - start > MEMORY_WAIT_USEC)
                        return size;
                sleep_usec(POLL_USEC);
        }
}

/* What a pool zone can plug: the free memory of the pool's extent that has the most.
 * Its region is a file in one of them (zone-qemu.h): exact for a pool of one extent, an
 * upper bound otherwise, where the device's preallocation stops at what the region's
 * extent has (a partial success, or with memlzs=strict a failure that puts back what
 * was plugged). */
static int pool_room(const char *pool, uint64_t *ret_free, uint64_t *ret_total)
{
        PoolExtent *l = NULL;
        size_t n = 0;
        uint64_t largest = 0, total = 0;
        int r;

        r = pool_extents(arg_root, pool, &l, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                total += l[i].size;
                if (l[i].free > largest)
                        largest = l[i].free;
        }
        pool_extents_free(l, n);
        if (n == 0)
                return -ENOENT;
        *ret_free = largest;
        *ret_total = total;
        return 0;
}

/* Before growing a pool zone: as much as its pool has, and why not more. Returns the
 * size to request, or -ENOSPC (with the failure printed) under memlzs=strict. */
static int64_t pool_limit(const char *pool, const char *text, bool strict, uint64_t base, uint64_t before,
                uint64_t requested, uint64_t block)
{
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], d[SIZE_FORMAT_MAX];
        uint64_t room = 0, total = 0;
        int r;

        r = pool_room(pool, &room, &total);
        if (r < 0) {
                /* the device's preallocation still stops at what the pool has */
                warning("cannot look at memory reservation pool '%s': %s", pool, strerror(-r));
                return (int64_t) requested;
        }
        if (requested - before <= room)
                return (int64_t) requested;
        if (strict) {
                printf("%s failed: Not enough free memory in memory reservation pool '%s' to allocate "
                        "capped-memory:physical value of %s for zone: %s free of %s, %s more needed. Consider "
                        "enlarging the pool (Size= of memory-reserve@%s.service, see memory-reserve(8)).\n", text, pool,
                        size_format(base + requested, a, sizeof(a)), size_format(room, b, sizeof(b)),
                        size_format(total, c, sizeof(c)), size_format(requested - before, d, sizeof(d)), pool);
                return -ENOSPC;
        }
        warning("Not enough free memory in memory reservation pool '%s' to allocate capped-memory:physical value of "
                "%s for zone: %s free of %s, %s more needed", pool, size_format(base + requested, a, sizeof(a)),
                size_format(room, b, sizeof(b)), size_format(total, c, sizeof(c)),
                size_format(requested - before, d, sizeof(d)));
        return (int64_t) (before + room / block * block);
}

static int change_memory(QmpSync *q, ZoneConfig *result, const ZoneConfig *wanted, const char *text, uint64_t want)
{
        const ZoneResource *cm = zone_resource_first(wanted->root, resource_type_child(zone_type(), "capped-memory"));
        bool strict = streq_ptr(zone_resource_get(cm, "memlzs"), "strict");
        const char *pool = zone_resource_get(cm, "memory-reserve");
        uint64_t base, plugged, region, block, before, requested, size;
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        KzError e = {};
        int r;

        if (qom_get_u64(q, VMEM_PATH, "block-size", &block) < 0 || block == 0 ||
            qom_get_u64(q, "/objects/" ZONE_VMEM_ID "-mem", "size", &region) < 0) {
                printf("%s failed: Memory reconfiguration not enabled\n", text);
                return -EOPNOTSUPP;
        }
        r = memory_size(q, &base, &plugged);
        if (r >= 0)
                r = qom_get_u64(q, VMEM_PATH, "size", &before);
        if (r < 0) {
                printf("%s failed: cannot read the zone's memory size: %s\n", text, strerror(-r));
                return r;
        }
        /* the boot memory stays; the region is all there is to plug */
        requested = want > base ? want - base : 0;
        requested = (requested > region ? region : requested) / block * block;
        /* a pool zone's memory comes from its pool: say so when the pool has too little */
        if (pool && requested > before) {
                int64_t k = pool_limit(pool, text, strict, base, before, requested, block);

                if (k < 0)
                        return (int) k;
                requested = (uint64_t) k;
        }
        r = set_requested(q, requested);
        if (r < 0) {
                printf("%s failed: QEMU refused the new size: %s\n", text, strerror(-r));
                return r;
        }
        size = settle(q, requested);
        if (base + size != want && strict) {
                /* as it was, or as near as the guest lets us */
                (void) set_requested(q, before);
                size = settle(q, before);
                (void) zone_live_set_physical(result, base + size, &e);
                printf("%s failed: %s\n", text, STRICT_FAILURE);
                return -ERANGE;
        }
        if (base + size != want) {
                /* final is final: QEMU no longer asks the guest for more (or less) than it has */
                if (size != requested)
                        (void) set_requested(q, size);
                warning("operation succeeded partially for capped memory (requested: %s, final: %s)",
                        size_format(want, a, sizeof(a)), size_format(base + size, b, sizeof(b)));
        }
        return zone_live_set_physical(result, base + size, &e);
}

/* ---- the plan ------------------------------------------------------------------------------ */

static ZoneResource *find_by_id(ZoneConfig *c, const ZoneResource *r)
{
        for (size_t i = 0; i < c->root->n_children; i++)
                if (c->root->children[i]->type == r->type &&
                    streq_ptr(zone_resource_get(c->root->children[i], "id"), zone_resource_get(r, "id")))
                        return c->root->children[i];
        return NULL;
}

static int apply_change(QmpSync *q, const char *name, ZoneConfig *result, const ZoneConfig *wanted,
                const ZoneLiveChange *c)
{
        KzError e = {};
        ZoneResource *x;
        int r = -EINVAL;

        switch (c->kind) {
        case ZONE_LIVE_DEVICE_REMOVE:
        case ZONE_LIVE_ANET_REMOVE:
                x = find_by_id(result, c->resource);
                r = c->kind == ZONE_LIVE_DEVICE_REMOVE ? reconfigure_device_remove(q, name, result, c->resource, &e)
                                                       : reconfigure_anet_remove(q, name, result, c->resource, &e);
                if (r < 0)
                        break;
                if (x)
                        zone_resource_remove(result->root, x);
                return 0;
        case ZONE_LIVE_ANET_ADD:
        case ZONE_LIVE_DEVICE_ADD:
                r = c->kind == ZONE_LIVE_DEVICE_ADD ? reconfigure_device_add(q, name, result, c->resource, &e)
                                                    : reconfigure_anet_add(q, name, result, c->resource, &e);
                if (r < 0)
                        break;
                x = zone_resource_dup(c->resource);
                if (!x || zone_resource_attach(result->root, x) < 0) {
                        zone_resource_free(x);
                        return -ENOMEM;
                }
                return 0;
        case ZONE_LIVE_NCPUS:
                r = change_ncpus(q, result, (unsigned) c->value);
                if (r < 0)
                        printf("%s failed: %s\n", c->text, strerror(-r));
                return r;
        case ZONE_LIVE_PHYSICAL:
                return change_memory(q, result, wanted, c->text, c->value);
        case ZONE_LIVE_RECORD:
                return 0; /* all at the end */
        case ZONE_LIVE_REFUSED:
                printf("%s\n", c->refusal);
                return -EPERM;
        case _ZONE_LIVE_CHANGE_KIND_MAX:
        case _ZONE_LIVE_CHANGE_KIND_INVALID:
                return -EINVAL;
        }
        printf("%s failed: %s\n", c->text, kz_error_message(&e, r));
        return r;
}

int verb_reconfigure(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *live = NULL, *wanted = NULL, *result = NULL;
        _cleanup_(zone_live_plan_done) ZoneLivePlan p = {};
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        _cleanup_free_ char *dir = run_dir(name), *live_path = NULL, *next_path = NULL, *sock = NULL;
        KzError e = {};
        int r;

        if (!dir || asprintf(&live_path, "%s/" ZONE_LIVE_CONFIG, dir) < 0 ||
            asprintf(&next_path, "%s/" ZONE_LIVE_NEXT, dir) < 0 ||
            asprintf(&sock, "%s/" ZONE_CONTROL_SOCKET, dir) < 0)
                return -ENOMEM;
        r = load(live_path, &live);
        if (r >= 0)
                r = load(next_path, &wanted);
        if (r < 0)
                return r;
        r = qmp_sync_open(sock, QMP_TIMEOUT_USEC, &q);
        if (r < 0) {
                printf("cannot reach the zone's monitor: %s\n", strerror(-r));
                return r;
        }

        /* what runs is what live.xml says, or the caller was working on a stale copy */
        r = check_external(q, live);
        if (r < 0) {
                printf("cannot read the zone's configuration back from QEMU: %s\n", strerror(-r));
                (void) unlink(next_path);
                return r;
        }
        if (r > 0) {
                (void) save(next_path, live);
                printf("the live configuration has changed externally\n");
                fflush(stdout);
                _exit(ZONE_LIVE_EXIT_CHANGED);
        }

        r = zone_live_plan(live, wanted, &p);
        if (r < 0)
                return r;
        result = dup_config(live);
        if (!result)
                return -ENOMEM;
        for (size_t i = 0; i < p.n; i++) {
                r = apply_change(q, name, result, wanted, &p.changes[i]);
                if (r < 0) {
                        /* what runs now, changes that went before this one included */
                        (void) save(next_path, result);
                        return r;
                }
        }
        r = zone_live_apply_records(result, wanted, &e);
        if (r < 0) {
                printf("%s\n", kz_error_message(&e, r));
                (void) save(next_path, result);
                return r;
        }
        return save(next_path, result);
}
