/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm verify: whether this host can give a zone what its configuration asks for.
 * Every problem is found, not just the first; each is one line naming the resource
 * and the value, and Verify answers them all in one InvalidConfiguration error. */
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu-probe.h"
#include "fs-util.h"
#include "log.h"
#include "restarter.h"
#include "size.h"
#include "strv.h"
#include "zone-net.h"

static const ResourceType *rt(const char *name)
{
        return resource_type_child(zone_type(), name);
}

static int add_problem(char ***problems, const char *fmt, ...) _printf_(2, 3);
static int add_problem(char ***problems, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return strv_add_unique(problems, s);
}

/* MemTotal of /proc/meminfo, in bytes: the host's, whatever the alternate root. */
int host_memory_bytes(uint64_t *ret)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
        char line[256];

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long kb;

                if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
                        *ret = (uint64_t) kb * 1024;
                        return 0;
                }
        }
        return -ENODATA;
}

/* The CPUs the restarter may run on, which are those its zones' units may use. */
unsigned host_cpus(void)
{
        cpu_set_t set;
        long n;

        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
                return (unsigned) CPU_COUNT(&set);
        n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (unsigned) n : 1;
}

/* "23.5G": memory as an administrator compares it, one decimal of the largest unit. */
static void format_memory(uint64_t bytes, char buf[static SIZE_FORMAT_MAX])
{
        static const char units[] = "KMGT";
        double v = (double) bytes / 1024;
        size_t i = 0;

        while (v >= 1024 && i < sizeof(units) - 2) {
                v /= 1024;
                i++;
        }
        (void) snprintf(buf, SIZE_FORMAT_MAX, "%.1f%c", v, units[i]);
}

static int verify_memory(const ZoneConfig *c, char ***problems)
{
        const ZoneResource *mem = zone_resource_first(c->root, rt("capped-memory"));
        const char *physical = zone_resource_get(mem, "physical");
        char have[SIZE_FORMAT_MAX];
        uint64_t host;

        /* a zone taking its memory from a memory-reserve pool is checked against the pool when it boots */
        if (!physical || zone_resource_get(mem, "memory-reserve"))
                return 0;
        if (host_memory_bytes(&host) < 0 || zone_memory_bytes(c) <= host)
                return 0;
        format_memory(host, have);
        return add_problem(problems, "capped-memory: physical=%s is more than this host's memory (%s)", physical,
                have);
}

static int verify_cpus(const ZoneConfig *c, char ***problems)
{
        const ZoneResource *vc = zone_resource_first(c->root, rt("virtual-cpu"));
        const ZoneResource *dc = zone_resource_first(c->root, rt("dedicated-cpu"));
        const char *what = zone_resource_get(vc, "ncpus") ? "virtual-cpu" : "dedicated-cpu";
        const char *ncpus = zone_resource_get(vc, "ncpus") ?: zone_resource_get(dc, "ncpus");
        unsigned host = host_cpus();

        if (!ncpus || zone_ncpus(c) <= host)
                return 0;
        return add_problem(problems, "%s: ncpus=%s is more than this host's %u CPU%s", what, ncpus, host,
                host == 1 ? "" : "s");
}

/* dev: storage is a block device of this host (under the alternate root); the other
 * schemes are reached when the zone is installed or booted. */
static int verify_storage(Zone *z, const ZoneConfig *c, char ***problems)
{
        for (size_t i = 0; i < c->root->n_children; i++) {
                const ZoneResource *res = c->root->children[i];
                _cleanup_(storage_uri_freep) StorageUri *u = NULL;
                _cleanup_free_ char *s = NULL, *local = NULL;
                const char *storage = zone_resource_get(res, "storage");
                struct stat st;
                int r;

                if (res->type != rt("device") || !storage)
                        continue;
                s = zone_config_expand(c, res, storage);
                if (!s)
                        return -ENOMEM;
                if (storage_uri_parse(s, &u, NULL) < 0 || u->scheme != STORAGE_DEV)
                        continue;
                local = path_join(z->manager->root, u->path);
                if (!local)
                        return -ENOMEM;
                if (stat(local, &st) < 0)
                        r = add_problem(problems, "device %s: storage %s: %s", zone_resource_get(res, "id") ?: "0", s,
                                errno == ENOENT ? "no such device on this host" : strerror(errno));
                else if (!S_ISBLK(st.st_mode))
                        r = add_problem(problems, "device %s: storage %s is not a block device",
                                zone_resource_get(res, "id") ?: "0", s);
                else
                        r = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int verify_links(Zone *z, const ZoneConfig *c, char ***problems)
{
        _cleanup_free_ char *default_link = NULL;
        int r;

        r = zone_unit_setting(z->manager->root, z->name, "DefaultLowerLink", &default_link);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->root->n_children; i++) {
                const ZoneResource *res = c->root->children[i];
                ZoneLowerLink l;
                KzError e = {};

                if (res->type != rt("anet"))
                        continue;
                r = zone_anet_lower_link(res, default_link, &l, &e);
                if (r < 0) {
                        r = add_problem(problems, "%s", kz_error_message(&e, r));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int verify_cpu_model(Zone *z, const ZoneConfig *c, char ***problems)
{
        _cleanup_free_ char *model = NULL;
        KzError e = {};
        int r;

        if (!z->manager->cpu)
                return 0;
        r = cpu_probe_zone_model(z->manager->cpu, zone_resource_get(c->root, "cpu-arch"), &model, &e);
        if (r < 0)
                return add_problem(problems, "%s", kz_error_message(&e, r));
        return 0;
}

static int verify_kernel(Zone *z, const ZoneConfig *c, char ***problems)
{
        const ZoneResource *boot = zone_resource_first(c->root, rt("boot"));
        const char *kernel = zone_resource_get(boot, "kernel");
        _cleanup_free_ char *k = NULL;

        if (!kernel)
                return 0;
        k = path_join(z->manager->root, kernel);
        if (!k)
                return -ENOMEM;
        if (access(k, R_OK) < 0)
                return add_problem(problems, "boot: kernel %s cannot be read on this host", kernel);
        return 0;
}

int zone_verify_host(Zone *z, const ZoneConfig *c, char ***ret_problems)
{
        _cleanup_strv_free_ char **problems = NULL;
        int r;

        r = verify_memory(c, &problems);
        if (r >= 0)
                r = verify_cpus(c, &problems);
        if (r >= 0)
                r = verify_storage(z, c, &problems);
        if (r >= 0)
                r = verify_links(z, c, &problems);
        if (r >= 0)
                r = verify_cpu_model(z, c, &problems);
        if (r >= 0)
                r = verify_kernel(z, c, &problems);
        if (r < 0)
                return r;
        *ret_problems = TAKE_PTR(problems);
        return 0;
}
