/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mrpstat: the memory reservation pools of this host and the zones that use them, as
 * kzones-memory-reserved reports them over D-Bus (org.kzones.MemoryReserve1). See mrpstat(8). */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
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
static int arg_json = -1; /* json-c's flags for --json=pretty|short, -1 without */
static char **arg_pools;  /* the tail of argv */

enum {
        ARG_JSON = ARG_VERSION + 1,
};

static void short_usage(FILE *f)
{
        fputs("usage: mrpstat [-p | --json=pretty|short] [POOL...]\n"
              "Try 'mrpstat --help' for more.\n",
                f);
}

/* A mistake on the command line: one line saying what is wrong, then the short usage. */
#define usage_error(...) cli_usage_error("mrpstat", short_usage, __VA_ARGS__)

static void help(FILE *f)
{
        fputs("usage: mrpstat [-p | --json=pretty|short] [POOL...]\n"
              "\n"
              "Shows the memory reservation pools of this host (memory-reserve(8)): their\n"
              "total, used and free memory, page size and state, and how much memory each\n"
              "zone holds in them.\n"
              "\n"
              "Options:\n"
              "  -p          parsable output: one line per pool,\n"
              "              POOL:TOTAL:USED:FREE:PAGESIZE:STATE:ZONE=BYTES,...\n"
              "              with sizes in bytes\n"
              "  --json=pretty|short\n"
              "              an array of pools as JSON (indented, or on one line):\n"
              "              name, total, used, free, page_size, state, zones\n"
              "              (name and size of each), sizes in bytes\n"
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

typedef struct Pools {
        Pool *p;
        size_t n;
} Pools;

static void pools_freep(Pools *l)
{
        pools_free(l->p, l->n);
}

static int log_oom(void)
{
        fputs("mrpstat: out of memory\n", stderr);
        return 1;
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

static void json_object_putp(json_object **o)
{
        json_object_put(*o);
}

/* Adds v to o under key, taking it over; NULL is JSON's null, unless a value was
 * wanted (then it is an allocation that failed). */
static int json_set(json_object *o, const char *key, json_object *v, bool want)
{
        if ((want && !v) || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* {name, total, used, free, page_size, state, zones: [{name, size}]}, sizes in bytes;
 * page_size is null until the pool has pages. */
static json_object *pool_to_json(const Pool *p)
{
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *zones = NULL;

        if (!o || json_set(o, "name", json_object_new_string(p->name), true) < 0 ||
            json_set(o, "total", json_object_new_uint64(p->total), true) < 0 ||
            json_set(o, "used", json_object_new_uint64(p->used), true) < 0 ||
            json_set(o, "free", json_object_new_uint64(p->free), true) < 0 ||
            json_set(o, "page_size", p->page_size ? json_object_new_uint64(p->page_size) : NULL, p->page_size) < 0 ||
            json_set(o, "state", json_object_new_string(p->state), true) < 0 ||
            json_set(o, "zones", zones = json_object_new_array(), true) < 0)
                return NULL;
        for (size_t k = 0; k < p->n_zones; k++) {
                json_object *z = json_object_new_object();

                if (!z || json_object_array_add(zones, z) < 0) {
                        json_object_put(z);
                        return NULL;
                }
                if (json_set(z, "name", json_object_new_string(p->zones[k].name), true) < 0 ||
                    json_set(z, "size", json_object_new_uint64(p->zones[k].size), true) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", required_argument, NULL, ARG_JSON },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:ph", options, NULL)) >= 0)
                switch (c) {
                case ARG_VERSION:
                        return cli_version("mrpstat");
                case ARG_JSON:
                        if (streq(optarg, "pretty"))
                                arg_json = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
                        else if (streq(optarg, "short"))
                                arg_json = JSON_C_TO_STRING_PLAIN;
                        else if (streq(optarg, "off"))
                                arg_json = -1;
                        else
                                return usage_error("--json takes pretty, short or off, not '%s'", optarg);
                        break;
                case 'p':
                        arg_parsable = true;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                default:
                        if (c == ':' && optopt == ARG_JSON)
                                return usage_error("--json takes pretty, short or off: --json=pretty");
                        return cli_getopt_error("mrpstat", short_usage, c, argv);
                }
        if (arg_parsable && arg_json >= 0)
                return usage_error("-p and --json choose different layouts; give only one of them");
        arg_pools = argv + optind;
        return 1;
}

int main(int argc, char *argv[])
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_object_putp) json_object *json = NULL;
        _cleanup_(pools_freep) Pools pools = {};
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
        r = list_pools(bus, &pools.p, &pools.n);
        if (r < 0)
                return 1;
        for (char **a = arg_pools; *a; a++) {
                bool found = false;

                for (size_t i = 0; i < pools.n && !found; i++)
                        found = streq(pools.p[i].name, *a);
                if (!found) {
                        fprintf(stderr, "mrpstat: pool '%s': No such memory reservation pool\n", *a);
                        ret = 1;
                }
        }
        if (arg_json >= 0) {
                json = json_object_new_array();
                if (!json)
                        return log_oom();
        } else if (!arg_parsable)
                printf("%-16s %9s %9s %9s %8s  %s\n", "POOL", "TOTAL_MEM", "USED_MEM", "FREE_MEM", "PAGESIZE", "STATE");
        for (size_t i = 0; i < pools.n; i++) {
                bool wanted = !*arg_pools;

                for (char **a = arg_pools; *a && !wanted; a++)
                        wanted = streq(pools.p[i].name, *a);
                if (!wanted)
                        continue;
                if (pools.p[i].total > 0 && read_zones(bus, &pools.p[i]) < 0)
                        ret = 1;
                if (json) {
                        json_object *o = pool_to_json(&pools.p[i]);

                        if (!o || json_object_array_add(json, o) < 0) {
                                json_object_put(o);
                                return log_oom();
                        }
                } else
                        print_pool(&pools.p[i]);
        }
        if (json)
                printf("%s\n", json_object_to_json_string_ext(json, arg_json | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "mrpstat: cannot write the list: %m\n");
                ret = 1;
        }
        return ret;
}
