/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure logic of memory reservation pools: which page sizes a policy allows, what a
 * pool's drop-ins say and the guide's messages when they are wrong, how a resize is
 * carried out, the pool's record, and who holds memory in it. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include "pool.h"
#include "size.h"
#include "zone-store.h"

static const uint64_t host[] = { 2 * SIZE_M, SIZE_G }; /* x86_64: 2M and 1G */

static int candidates(PageSizePolicy p, uint64_t fixed, uint64_t memory, uint64_t ret[HUGEPAGE_SIZES_MAX])
{
        return pagesize_candidates(p, fixed, memory, host, ELEMENTSOF(host), ret);
}

Test(pagesize, largest_available_prefers_the_largest_aligned_size)
{
        uint64_t c[HUGEPAGE_SIZES_MAX];

        cr_assert_eq(candidates(PAGESIZE_LARGEST_AVAILABLE, 0, 2 * SIZE_G, c), 2);
        cr_assert_eq(c[0], SIZE_G);
        cr_assert_eq(c[1], 2 * SIZE_M);
        /* 512M is not 1G-aligned: "adjusts the selected page size downward" */
        cr_assert_eq(candidates(PAGESIZE_LARGEST_AVAILABLE, 0, 512 * SIZE_M, c), 1);
        cr_assert_eq(c[0], 2 * SIZE_M);
        cr_assert_eq(candidates(PAGESIZE_LARGEST_AVAILABLE, 0, 3 * SIZE_M, c), -EDOM);
        cr_assert_eq(pagesize_candidates(PAGESIZE_LARGEST_AVAILABLE, 0, SIZE_G, host, 0, c), -EOPNOTSUPP);
}

Test(pagesize, only_policies_allow_one_size)
{
        uint64_t c[HUGEPAGE_SIZES_MAX];

        cr_assert_eq(candidates(PAGESIZE_SMALLEST_ONLY, 0, 2 * SIZE_G, c), 1);
        cr_assert_eq(c[0], 2 * SIZE_M);
        cr_assert_eq(candidates(PAGESIZE_LARGEST_ONLY, 0, 2 * SIZE_G, c), 1);
        cr_assert_eq(c[0], SIZE_G);
        cr_assert_eq(candidates(PAGESIZE_LARGEST_ONLY, 0, 512 * SIZE_M, c), -EDOM);
        cr_assert_eq(candidates(PAGESIZE_FIXED, 2 * SIZE_M, 512 * SIZE_M, c), 1);
        cr_assert_eq(c[0], 2 * SIZE_M);
        cr_assert_eq(candidates(PAGESIZE_FIXED, 4 * SIZE_M, 512 * SIZE_M, c), -EOPNOTSUPP);
        cr_assert_eq(candidates(PAGESIZE_FIXED, SIZE_G, 1536 * SIZE_M, c), -EDOM);
}

Test(pagesize, policy_names_both_ways)
{
        for (PageSizePolicy p = 0; p < _PAGESIZE_POLICY_MAX; p++)
                cr_assert_eq(pagesize_policy_from_string(pagesize_policy_to_string(p)), p);
        cr_assert_str_eq(pagesize_policy_to_string(PAGESIZE_LARGEST_AVAILABLE), "largest-available");
        cr_assert_eq(pagesize_policy_from_string("largest"), _PAGESIZE_POLICY_INVALID);
        cr_assert_null(pagesize_policy_to_string(_PAGESIZE_POLICY_MAX));
}

Test(pool, state_names_both_ways)
{
        for (PoolState s = 0; s < _POOL_STATE_MAX; s++)
                cr_assert_eq(pool_state_from_string(pool_state_to_string(s)), s);
        cr_assert_str_eq(pool_state_to_string(POOL_STATE_MAINTENANCE), "maintenance");
        cr_assert_eq(pool_state_from_string("offline"), _POOL_STATE_INVALID);
}

Test(pool, names)
{
        cr_assert(pool_name_is_valid("zones"));
        cr_assert(pool_name_is_valid("db-2.big_pages"));
        cr_assert_not(pool_name_is_valid(""));
        cr_assert_not(pool_name_is_valid(".lock"));
        cr_assert_not(pool_name_is_valid("a/b"));
        cr_assert_not(pool_name_is_valid("a b"));
}

/* ---- configuration ---------------------------------------------------------------------- */

static int parse(const char *text, PoolConfig *c, KzError *e)
{
        _cleanup_(pool_settings_done) PoolSettings s = {};

        cr_assert_eq(pool_settings_apply(&s, text), 0);
        return pool_config_parse(&s, host, ELEMENTSOF(host), c, e);
}

static void refused(const char *text, const char *message)
{
        PoolConfig c;
        KzError e = {};

        cr_assert_lt(parse(text, &c, &e), 0, "accepted: %s", text);
        cr_assert_str_eq(e.message, message, "for %s", text);
}

Test(config, defaults_and_fixed)
{
        PoolConfig c;
        KzError e = {};

        cr_assert_eq(parse("[X-Kzones]\nSize=64G\n", &c, &e), 0, "%s", e.message);
        cr_assert_eq(c.size, 64 * SIZE_G);
        cr_assert_eq(c.policy, PAGESIZE_LARGEST_AVAILABLE);
        cr_assert_eq(c.n_candidates, 2);
        cr_assert_eq(c.candidates[0], SIZE_G);
        cr_assert_eq(c.nodes, 0);

        cr_assert_eq(parse("[X-Kzones]\nSize=512M\nPageSizePolicy=fixed\nPageSize=2M\nType=kz\nLGroups=0,2-3\n", &c, &e),
                0, "%s", e.message);
        cr_assert_eq(c.policy, PAGESIZE_FIXED);
        cr_assert_eq(c.page_size, 2 * SIZE_M);
        cr_assert_eq(c.n_candidates, 1);
        cr_assert_eq(c.nodes, 0xd);
        /* a page size alone is a fixed one */
        cr_assert_eq(parse("[X-Kzones]\nSize=2G\nPageSize=1G\n", &c, &e), 0, "%s", e.message);
        cr_assert_eq(c.policy, PAGESIZE_FIXED);
        cr_assert_eq(c.candidates[0], SIZE_G);
}

Test(config, the_guides_message_for_an_unsupported_page_size)
{
        const char *m = "Invalid service configuration: unsupported page size in config/pagesize.";

        refused("[X-Kzones]\nSize=512M\nPageSize=1M\n", m);
        refused("[X-Kzones]\nSize=512M\nPageSizePolicy=fixed\nPageSize=4M\n", m);
        refused("[X-Kzones]\nSize=512M\nPageSize=3M\n", m);
        refused("[X-Kzones]\nSize=512M\nPageSize=16G\n", m);
        refused("[X-Kzones]\nSize=512M\nPageSize=lots\n", m);
}

Test(config, other_mistakes_say_what_is_wrong)
{
        refused("[X-Kzones]\n", "Invalid service configuration: config/size is not set.");
        refused("[X-Kzones]\nSize=0\n", "Invalid service configuration: invalid size in config/size.");
        refused("[X-Kzones]\nSize=12X\n", "Invalid service configuration: invalid size in config/size.");
        refused("[X-Kzones]\nSize=1G\nPageSizePolicy=biggest\n",
                "Invalid service configuration: unsupported page size policy in config/pagesize-policy.");
        refused("[X-Kzones]\nSize=1G\nType=solaris\n", "Invalid service configuration: unsupported type in config/type.");
        refused("[X-Kzones]\nSize=1G\nPageSizePolicy=fixed\n",
                "Invalid service configuration: config/pagesize-policy=fixed requires config/pagesize.");
        refused("[X-Kzones]\nSize=1G\nPageSizePolicy=largest-only\nPageSize=2M\n",
                "Invalid service configuration: config/pagesize is only used with config/pagesize-policy=fixed.");
        refused("[X-Kzones]\nSize=1G\nLGroups=0,,1\n",
                "Invalid service configuration: invalid NUMA node list in config/lgrps.");
        refused("[X-Kzones]\nSize=1G\nLGroups=64\n",
                "Invalid service configuration: invalid NUMA node list in config/lgrps.");
        refused("[X-Kzones]\nSize=1G\nSise=2G\n", "Invalid service configuration: unknown setting 'Sise' in [X-Kzones].");
}

Test(config, sizes_that_do_not_fit_the_page_size)
{
        refused("[X-Kzones]\nSize=513M\nPageSize=2M\n",
                "Invalid service configuration: config/size 513M is not a multiple of config/pagesize 2M.");
        refused("[X-Kzones]\nSize=512M\nPageSizePolicy=largest-only\n",
                "Invalid service configuration: config/size 512M is not a multiple of the largest page size 1G "
                "(config/pagesize-policy=largest-only).");
        refused("[X-Kzones]\nSize=3M\n", "Invalid service configuration: config/size 3M is not a multiple of any page "
                "size of this host (the smallest is 2M).");
}

Test(config, drop_in_syntax)
{
        _cleanup_(pool_settings_done) PoolSettings s = {};

        /* other sections, comments and blanks do not count; the last assignment wins */
        cr_assert_eq(pool_settings_apply(&s, "[Service]\nSize=9G\n# a comment\n[X-Kzones]\n; another\n\n"
                                             "  Size = 1G  \nSize=2G\nPageSizePolicy=smallest-only\r\n[Unit]\nSize=7G\n"),
                0);
        cr_assert_str_eq(s.size, "2G");
        cr_assert_str_eq(s.policy, "smallest-only");
        cr_assert_null(s.unknown);
        cr_assert_eq(pool_settings_apply(&s, "[X-Kzones]\nSize=\n"), 0);
        cr_assert_str_eq(s.size, "");
}

static void put(const char *root, const char *rel, const char *text)
{
        _cleanup_free_ char *path = path_join(root, rel), *dir = NULL;

        dir = strdup(path);
        *strrchr(dir, '/') = 0;
        for (char *p = dir + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(dir, 0755);
                        *p = '/';
                }
        (void) mkdir(dir, 0755);
        cr_assert_eq(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

Test(config, drop_ins_merge_as_systemd_merges_them)
{
        char root[] = "/tmp/kzones-mrp-XXXXXX";
        _cleanup_(pool_settings_done) PoolSettings s = {};
        _cleanup_(pool_settings_done) PoolSettings other = {};

        cr_assert_not_null(mkdtemp(root));
        /* all pools: the template's drop-in in /usr; one pool: its own, in /etc */
        put(root, "/usr/lib/systemd/system/memory-reserve@.service.d/10-all.conf",
                "[X-Kzones]\nSize=1G\nPageSizePolicy=largest-only\n");
        put(root, "/etc/systemd/system/memory-reserve@db.service.d/20-db.conf", "[X-Kzones]\nSize=4G\n");
        /* the same file name in /etc hides the one in /usr */
        put(root, "/usr/lib/systemd/system/memory-reserve@db.service.d/30-x.conf", "[X-Kzones]\nType=other\n");
        put(root, "/etc/systemd/system/memory-reserve@db.service.d/30-x.conf", "[X-Kzones]\nLGroups=1\n");
        cr_assert_eq(pool_settings_load(root, "db", &s), 0);
        cr_assert_str_eq(s.size, "4G");
        cr_assert_str_eq(s.policy, "largest-only");
        cr_assert_null(s.type);
        cr_assert_str_eq(s.lgroups, "1");
        cr_assert_eq(pool_settings_load(root, "zones", &other), 0);
        cr_assert_str_eq(other.size, "1G");
        cr_assert_eq(pool_settings_load(root, "../x", &other), -EINVAL);
        (void) nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

Test(config, numa_nodes)
{
        uint64_t m = 0;
        char buf[64];

        cr_assert_eq(nodes_parse("", &m), 0);
        cr_assert_eq(m, 0);
        cr_assert_eq(nodes_parse("0, 2-4,7", &m), 0);
        cr_assert_eq(m, 0x9d);
        cr_assert_str_eq(nodes_format(m, buf, sizeof(buf)), "0,2-4,7");
        cr_assert_eq(nodes_parse("3-1", &m), -EINVAL);
        cr_assert_eq(nodes_parse("a", &m), -EINVAL);
        cr_assert_eq(nodes_parse("1,", &m), -EINVAL);
}

/* ---- resizing ------------------------------------------------------------------------------ */

static PoolPlan plan_ok(const uint64_t *size, const uint64_t *used, size_t n, uint64_t target)
{
        PoolPlan p;
        KzError e = {};

        cr_assert_eq(pool_plan_resize(size, used, n, target, &p, &e), 0, "%s", e.message);
        return p;
}

Test(plan, an_unused_pool_is_made_again_as_one_mount)
{
        uint64_t size[] = { 512 * SIZE_M }, used[] = { 0 };
        PoolPlan p = plan_ok(size, used, 1, SIZE_G);

        cr_assert(p.release[0]);
        cr_assert_eq(p.reserve, SIZE_G);
        /* shrinking the same way */
        p = plan_ok(size, used, 1, 256 * SIZE_M);
        cr_assert(p.release[0]);
        cr_assert_eq(p.reserve, 256 * SIZE_M);
        /* two parts nobody uses become one */
        {
                uint64_t s2[] = { 512 * SIZE_M, 512 * SIZE_M }, u2[] = { 0, 0 };
                p = plan_ok(s2, u2, 2, SIZE_G);
                cr_assert(p.release[0] && p.release[1]);
                cr_assert_eq(p.reserve, SIZE_G);
        }
}

Test(plan, nothing_to_do)
{
        uint64_t size[] = { 512 * SIZE_M }, used[] = { 0 }, busy[] = { 256 * SIZE_M };
        PoolPlan p = plan_ok(size, used, 1, 512 * SIZE_M);

        cr_assert_eq(p.n_release, 0);
        cr_assert_eq(p.reserve, 0);
        p = plan_ok(size, busy, 1, 512 * SIZE_M);
        cr_assert_eq(p.n_release, 0);
        cr_assert_eq(p.reserve, 0);
}

Test(plan, a_pool_in_use_grows_by_another_mount)
{
        uint64_t size[] = { 512 * SIZE_M }, used[] = { 256 * SIZE_M };
        PoolPlan p = plan_ok(size, used, 1, SIZE_G);

        cr_assert_eq(p.n_release, 0);
        cr_assert_eq(p.reserve, 512 * SIZE_M);
}

Test(plan, a_pool_in_use_shrinks_only_where_no_zone_is)
{
        uint64_t size[] = { 512 * SIZE_M, 512 * SIZE_M }, used[] = { 256 * SIZE_M, 0 };
        PoolPlan p = plan_ok(size, used, 2, 768 * SIZE_M);
        KzError e = {};

        cr_assert_not(p.release[0]);
        cr_assert(p.release[1]);
        cr_assert_eq(p.reserve, 256 * SIZE_M);
        p = plan_ok(size, used, 2, 512 * SIZE_M);
        cr_assert(p.release[1]);
        cr_assert_eq(p.reserve, 0);
        cr_assert_eq(pool_plan_resize(size, used, 2, 256 * SIZE_M, &p, &e), -EBUSY);
        cr_assert_str_eq(e.message, "cannot shrink to 256M while zones hold memory in 512M of it; halt them and reload "
                "again.");
}

/* ---- the record, holders, fitting ---------------------------------------------------------- */

Test(record, round_trip)
{
        PoolRecord r = { .state = POOL_STATE_DEGRADED, .status = strdup("Degraded: no.\rreally"),
                .page_size = 2 * SIZE_M, .added = 256 };
        _cleanup_free_ char *text = NULL;
        PoolRecord back;

        r.added_node[0] = 3;
        r.added_node[5] = 7;
        cr_assert_eq(pool_record_format(&r, &text), 0);
        cr_assert_eq(pool_record_parse(text, &back), 0);
        cr_assert_eq(back.state, POOL_STATE_DEGRADED);
        cr_assert_str_eq(back.status, "Degraded: no. really");
        cr_assert_eq(back.page_size, 2 * SIZE_M);
        cr_assert_eq(back.added, 256);
        cr_assert_eq(back.added_node[0], 3);
        cr_assert_eq(back.added_node[5], 7);
        cr_assert_eq(pool_record_added(&back), 266);
        pool_record_done(&r);
        pool_record_done(&back);
}

Test(holders, the_zone_is_the_files_name)
{
        _cleanup_free_ char *a = pool_holder_zone("/run/kzones-pools/zones/0/kz1 (deleted)");
        _cleanup_free_ char *b = pool_holder_zone("/run/kzones-pools/zones/1/web.2");
        PoolHolder h[] = { { .zone = (char *) "kz1", .size = 256 * SIZE_M },
                { .zone = (char *) "kz2", .size = SIZE_G } };
        _cleanup_free_ char *one = pool_holders_format(h, 1), *two = pool_holders_format(h, 2);

        cr_assert_str_eq(a, "kz1");
        cr_assert_str_eq(b, "web.2");
        cr_assert_str_eq(one, "zone kz1 (256M)");
        cr_assert_str_eq(two, "zones kz1 (256M), kz2 (1G)");
}

Test(holders, memory_plugged_live_is_the_zones)
{
        /* the virtio-mem region's file: "NAME@vmem", a name no zone has */
        _cleanup_free_ char *a = pool_holder_zone("/run/kzones-pools/zones/0/kz1@vmem (deleted)");
        _cleanup_free_ char *b = pool_holder_zone("/run/kzones-pools/zones/0/web.2@vmem");
        PoolHolder h[] = { { .zone = strdup("kz1"), .size = 256 * SIZE_M },
                { .zone = strdup("kz1"), .size = 128 * SIZE_M }, { .zone = strdup("kz2"), .size = SIZE_G } };
        size_t n = ELEMENTSOF(h);
        _cleanup_free_ char *s = pool_holders_format(h, n), *one = pool_holders_format(h, 2);

        cr_assert_str_eq(a, "kz1");
        cr_assert_str_eq(b, "web.2");
        /* its RAM and what it plugged, as one */
        cr_assert_str_eq(s, "zones kz1 (384M), kz2 (1G)");
        cr_assert_str_eq(one, "zone kz1 (384M)");
        cr_assert_eq(pool_holders_zones(h, 2), 1);
        cr_assert_eq(pool_holders_zones(h, n), 2);
        pool_holders_by_zone(h, &n);
        cr_assert_eq(n, 2);
        cr_assert_str_eq(h[0].zone, "kz1");
        cr_assert_eq(h[0].size, 384 * SIZE_M);
        cr_assert_str_eq(h[1].zone, "kz2");
        cr_assert_eq(h[1].size, SIZE_G);
        free(h[0].zone);
        free(h[1].zone);
}

Test(fit, the_mount_with_the_least_left_over)
{
        PoolExtent l[] = { { .free = 512 * SIZE_M }, { .free = 300 * SIZE_M }, { .free = 100 * SIZE_M } };

        cr_assert_eq(pool_extent_fit(l, 3, 256 * SIZE_M), 1);
        cr_assert_eq(pool_extent_fit(l, 3, 400 * SIZE_M), 0);
        cr_assert_eq(pool_extent_fit(l, 3, SIZE_G), -1);
}

Test(fit, can_host_answers_a_migration_dry_run)
{
        PoolExtent l[] = { { .page_size = 2 * SIZE_M, .size = 512 * SIZE_M, .free = 256 * SIZE_M },
                { .page_size = 2 * SIZE_M, .size = 512 * SIZE_M, .free = 512 * SIZE_M } };
        PoolStatus s = { .name = (char *) "zones", .state = POOL_STATE_ONLINE, .status = (char *) "",
                .page_size = 2 * SIZE_M, .total = SIZE_G, .free = 768 * SIZE_M, .extents = l, .n_extents = 2 };
        char *why = NULL;

        cr_assert_eq(pool_can_host(&s, 2 * SIZE_M, 512 * SIZE_M, &why), 1);
        cr_assert_str_eq(why, "memory reservation pool 'zones' can take 512M: 768M free of 1G, in 2M pages");
        free(why);
        cr_assert_eq(pool_can_host(&s, 0, 768 * SIZE_M, &why), 0);
        cr_assert_str_eq(why, "memory reservation pool 'zones' has 768M free of 1G, at most in one piece 512M, not 768M");
        free(why);
        cr_assert_eq(pool_can_host(&s, SIZE_G, 512 * SIZE_M, &why), 0);
        cr_assert_str_eq(why, "memory reservation pool 'zones' has 2M pages, smaller than the zone's 1G pages");
        free(why);
        s.n_extents = 0;
        cr_assert_eq(pool_can_host(&s, 0, 512 * SIZE_M, &why), 0);
        cr_assert_str_eq(why, "memory reservation pool 'zones' is not reserved on this host");
        free(why);
}

Test(zone, the_units_drop_in_names_its_pool)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = zone_config_new("kz1");
        _cleanup_free_ char *text = NULL;
        ZoneResource *cm = zone_resource_new(resource_type_child(zone_type(), "capped-memory"));
        KzError e = {};

        cr_assert_eq(zone_resource_set(c->root, "brand", "kz", &e), 0);
        cr_assert_eq(zone_resource_set(cm, "physical", "256M", &e), 0);
        cr_assert_eq(zone_resource_attach(c->root, cm), 0);
        cr_assert_eq(zone_pool_dropin(c, "/usr/libexec", &text), 0);
        cr_assert_null(text);
        cr_assert_eq(zone_resource_set(cm, "memory-reserve", "zones", &e), 0);
        cr_assert_eq(zone_pool_dropin(c, "/usr/libexec", &text), 0);
        cr_assert_not_null(strstr(text, "[Unit]\nWants=memory-reserve@zones.service\nAfter=memory-reserve@zones.service\n"));
        cr_assert_not_null(strstr(text, "\n[Service]\n"));
        cr_assert_not_null(strstr(text, "\nExecStopPost=-+/usr/libexec/kzones/kzones-memory-reserve release-unused zones\n"));
}

/* The record says how many pages the pool added and must give back: a number that is
 * not one is refused, never read as 2^64-1 pages or as its leading digits. */
Test(record, refuses_numbers_that_are_not)
{
        static const char *bad[] = {
                "State=online\nAdded=-1\n",
                "Added=18446744073709551616\n",
                "Added=12abc\n",
                "Added=\n",
                "Added= 5\n",
                "Added=+5\n",
                "PageSize=-2097152\n",
                "PageSize=2M\n",
                "AddedNodes=0:-1\n",
                "AddedNodes=-1:5\n",
                "AddedNodes=0:5x\n",
                "AddedNodes=0:\n",
                "AddedNodes=64:1\n",
                "AddedNodes=0 5\n",
                "AddedNodes=0:18446744073709551616\n",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                PoolRecord r = { .added = 99 };
                cr_assert_eq(pool_record_parse(bad[i], &r), -EBADMSG, "accepted: %s", bad[i]);
                cr_assert_eq(r.added, 99, "changed on failure: %s", bad[i]);
        }
}

Test(record, the_largest_counts_and_empty_nodes)
{
        PoolRecord r;

        cr_assert_eq(pool_record_parse("Added=18446744073709551615\nAddedNodes=\nPageSize=1073741824\n", &r), 0);
        cr_assert_eq(r.added, UINT64_MAX);
        cr_assert_eq(r.page_size, 1073741824u);
        pool_record_done(&r);
        cr_assert_eq(pool_record_parse("AddedNodes=0:1 3:2  5:0\n", &r), 0);
        cr_assert_eq(r.added_node[0], 1);
        cr_assert_eq(r.added_node[3], 2);
        pool_record_done(&r);
        /* lines without '=' and unknown keys are ignored, an unknown state is "disabled" */
        cr_assert_eq(pool_record_parse("garbage\nFuture=1\nState=nosuch\n", &r), 0);
        cr_assert_eq(r.state, POOL_STATE_DISABLED);
        pool_record_done(&r);
}
