/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mrpstat: the memory reservation pools of this host and the zones that use them, as
 * kzones-memory-reserved reports them over D-Bus (org.kzones.MemoryReserve1). See mrpstat(8). */
#include <getopt.h>
#include <inttypes.h>
#include <systemd/sd-bus.h>

#include "bus-error.h"
#include "cli-util.h"
#include "kzones-bus.h"
#include "macro.h"
#include "size.h"

#define EXIT_USAGE 2
#define ZONES_MAX 4096

typedef struct ZoneUse {
        char *name;
        uint64_t size;
} ZoneUse;

typedef struct Pool {
        char *name, *state, *path;
        uint64_t page_size, total, used, free;
        ZoneUse *zones;
        size_t n_zones;
} Pool;

static bool arg_parsable;
static char **arg_pools; /* the tail of argv */

static void help(FILE *f)
{
        fputs("usage: mrpstat [-p] [POOL...]\n"
              "\n"
              "Shows the memory reservation pools of this host (memory-reserve(8)): their\n"
              "total, used and free memory, page size and state, and how much memory each\n"
              "zone holds in them.\n"
              "\n"
              "Options:\n"
              "  -p          parsable output: one line per pool,\n"
              "              POOL:TOTAL:USED:FREE:PAGESIZE:STATE:ZONE=BYTES,...\n"
              "              with sizes in bytes\n"
              "  -h, --help  show this help\n"
              "  --version   show the version\n",
                f);
}

static void pools_free(Pool *p, size_t n)
{
        for (size_t i = 0; p && i < n; i++) {
                free(p[i].name);
                free(p[i].state);
                free(p[i].path);
                for (size_t k = 0; k < p[i].n_zones; k++)
                        free(p[i].zones[k].name);
                free(p[i].zones);
        }
        free(p);
}

static int read_zones(sd_bus *bus, Pool *p)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name;
        uint64_t size;
        int r;

        r = sd_bus_get_property(bus, MEMORY_RESERVE_BUS_NAME, p->path, MEMORY_RESERVE_POOL_IFACE, "Zones", &error, &reply, "a(st)");
        if (r < 0) {
                fprintf(stderr, "mrpstat: pool '%s': %s\n", p->name, error.message ?: strerror(-r));
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'a', "(st)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(st)", &name, &size)) > 0) {
                ZoneUse *t;

                if (p->n_zones >= ZONES_MAX)
                        continue;
                t = realloc(p->zones, (p->n_zones + 1) * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                p->zones = t;
                p->zones[p->n_zones] = (ZoneUse) { .name = strdup(name), .size = size };
                if (!p->zones[p->n_zones].name)
                        return -ENOMEM;
                p->n_zones++;
        }
        return r;
}

static int list_pools(sd_bus *bus, Pool **ret, size_t *ret_n)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Pool *l = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_call_method(bus, MEMORY_RESERVE_BUS_NAME, MEMORY_RESERVE_PATH, MEMORY_RESERVE_MANAGER_IFACE, "ListPools", &error, &reply, NULL);
        if (r < 0) {
                fprintf(stderr, "mrpstat: cannot reach the memory reservation pools service: %s\n",
                        error.message ?: strerror(-r));
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'a', "(sstttto)");
        if (r < 0)
                return r;
        for (;;) {
                const char *name, *state, *path;
                Pool p = {};
                Pool *t;

                r = sd_bus_message_read(reply, "(sstttto)", &name, &state, &p.page_size, &p.total, &p.used, &p.free,
                        &path);
                if (r <= 0)
                        break;
                t = realloc(l, (n + 1) * sizeof(*t));
                if (!t) {
                        r = -ENOMEM;
                        break;
                }
                l = t;
                p.name = strdup(name);
                p.state = strdup(state);
                p.path = strdup(path);
                l[n++] = p;
                if (!p.name || !p.state || !p.path) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r < 0) {
                pools_free(l, n);
                return r;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static const char *size_or_dash(uint64_t v, char *buf, size_t len)
{
        return v ? size_format(v, buf, len) : "-";
}

static void print_pool(const Pool *p)
{
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], d[SIZE_FORMAT_MAX];

        if (arg_parsable) {
                printf("%s:%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%s:", p->name, p->total, p->used, p->free,
                        p->page_size, p->state);
                for (size_t k = 0; k < p->n_zones; k++)
                        printf("%s%s=%" PRIu64, k ? "," : "", p->zones[k].name, p->zones[k].size);
                putchar('\n');
                return;
        }
        printf("%-16s %9s %9s %9s %8s  %s\n", p->name, size_format(p->total, a, sizeof(a)),
                size_format(p->used, b, sizeof(b)), size_format(p->free, c, sizeof(c)),
                size_or_dash(p->page_size, d, sizeof(d)), p->state);
        for (size_t k = 0; k < p->n_zones; k++)
                printf("  %-14s %9s %9s\n", p->zones[k].name, "", size_format(p->zones[k].size, a, sizeof(a)));
}

static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "+ph", options, NULL)) >= 0)
                switch (c) {
                case ARG_VERSION:
                        return cli_version("mrpstat");
                case 'p':
                        arg_parsable = true;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                case '?':
                        help(stderr);
                        return -EINVAL;
                }
        arg_pools = argv + optind;
        return 1;
}

int main(int argc, char *argv[])
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        Pool *pools = NULL;
        size_t n = 0;
        int r, ret = 0;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : 0;
        (void) kz_bus_error_map_register();
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "mrpstat: cannot connect to the system bus: %s\n", strerror(-r));
                return 1;
        }
        r = list_pools(bus, &pools, &n);
        if (r < 0)
                return 1;
        for (char **a = arg_pools; *a; a++) {
                bool found = false;

                for (size_t i = 0; i < n && !found; i++)
                        found = streq(pools[i].name, *a);
                if (!found) {
                        fprintf(stderr, "mrpstat: pool '%s': No such memory reservation pool\n", *a);
                        ret = 1;
                }
        }
        if (!arg_parsable)
                printf("%-16s %9s %9s %9s %8s  %s\n", "POOL", "TOTAL_MEM", "USED_MEM", "FREE_MEM", "PAGESIZE", "STATE");
        for (size_t i = 0; i < n; i++) {
                bool wanted = !*arg_pools;

                for (char **a = arg_pools; *a && !wanted; a++)
                        wanted = streq(pools[i].name, *a);
                if (!wanted)
                        continue;
                if (pools[i].total > 0 && read_zones(bus, &pools[i]) < 0)
                        ret = 1;
                print_pool(&pools[i]);
        }
        pools_free(pools, n);
        return ret;
}
