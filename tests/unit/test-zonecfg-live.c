/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zonecfg's live mode (-r), the interpreter's side: the configuration comes from the
 * live calls, not the store; commits go to them with the generation read, -n and -q;
 * an externally changed live configuration is the guide's three lines and 'reload'
 * starts again; a preview left last is not committed; create, delete and a rename
 * are refused. The calls here stand in for the restarter (zonecfg -r's own are
 * cli/zonecfg-live.c, tried on a private bus and in the lab). */
#include "strv.h"
#include "zonecfg-test.h"

TestSuite(live, .init = make_root, .fini = remove_root);

typedef struct Restarter {
        ZoneConfig *live;    /* what the zone runs */
        uint64_t generation;
        unsigned loads, commits;
        char *sent;          /* the XML of the last commit */
        uint64_t sent_generation;
        bool sent_dry_run, sent_quiet;
        int answer;          /* what the next commit returns */
} Restarter;

static int fake_load(void *userdata, char **ret_xml, uint64_t *ret_generation)
{
        Restarter *r = userdata;
        KzError e = {};
        size_t size;

        r->loads++;
        cr_assert_eq(zone_config_to_xml(r->live, ret_xml, &size, &e), 0);
        *ret_generation = r->generation;
        return 0;
}

static int fake_commit(void *userdata, const char *xml, uint64_t generation, bool dry_run, bool quiet)
{
        Restarter *r = userdata;
        KzError e = {};

        r->commits++;
        free(r->sent);
        r->sent = strdup(xml);
        r->sent_generation = generation;
        r->sent_dry_run = dry_run;
        r->sent_quiet = quiet;
        if (r->answer < 0 || generation != r->generation)
                return r->answer < 0 ? r->answer : -ESTALE;
        if (!dry_run) {
                zone_config_free(r->live);
                cr_assert_eq(zone_config_from_xml(xml, strlen(xml), "commit", 0, &r->live, &e), 0);
                r->generation++;
        }
        return 0;
}

static Restarter restarter;
static ZonecfgLive live_calls = { .load = fake_load, .commit = fake_commit, .userdata = &restarter };

/* kz1 configured in the store, running with 1 vCPU at generation 7 */
static void setup(void)
{
        KzError e = {};

        make_root();
        batch("kz1", "create;set virtual-cpu:ncpus=1");
        restarter = (Restarter) { .generation = 7 };
        cr_assert_eq(zone_store_load(root, "kz1", &restarter.live, &e), 0);
}

static void teardown(void)
{
        zone_config_free(restarter.live);
        free(restarter.sent);
        remove_root();
}

static Session *live_session(ZonecfgMode mode)
{
        Session *s = calloc(1, sizeof(*s));
        ZonecfgOptions o;

        cr_assert_not_null(s);
        s->out = open_memstream(&s->out_buf, &s->out_size);
        s->err = open_memstream(&s->err_buf, &s->err_size);
        cr_assert(s->out && s->err);
        /* no root: live mode never touches the store */
        o = (ZonecfgOptions) { .root = "/nonexistent", .zonename = "kz1", .mode = mode, .out = s->out,
                .err = s->err, .live = &live_calls };
        cr_assert_eq(zonecfg_new(&o, &s->z), 0);
        return s;
}

static char *stored(void)
{
        return store_read("kz1.xml", NULL);
}

Test(live, info_shows_the_live_configuration, .init = setup, .fini = teardown)
{
        Session *s;

        zone_resource_set(zone_resource_first(restarter.live->root, resource_type_child(zone_type(), "virtual-cpu")),
                "ncpus", "3", NULL);
        s = live_session(ZONECFG_BATCH);
        cr_assert_eq(restarter.loads, 1);
        ok(s, "info virtual-cpu");
        assert_out(s, "virtual-cpu:\n    ncpus: 3\n");
        finish_ok(s);
        cr_assert_eq(restarter.commits, 0, "nothing changed, nothing committed");
        session_free(s);
}

Test(live, a_batch_is_committed_at_its_end_with_the_generation_read, .init = setup, .fini = teardown)
{
        char *before = stored(), *after;
        Session *s = live_session(ZONECFG_BATCH);

        ok(s, "select virtual-cpu;set ncpus=2;end");
        cr_assert_eq(restarter.commits, 0);
        finish_ok(s);
        cr_assert_eq(restarter.commits, 1);
        cr_assert_eq(restarter.sent_generation, 7);
        cr_assert_not(restarter.sent_dry_run);
        cr_assert_not(restarter.sent_quiet);
        cr_assert_not_null(strstr(restarter.sent, "ncpus=\"2\""), "%s", restarter.sent);
        /* read back after the commit: the session goes on from generation 8 */
        cr_assert_eq(restarter.loads, 2);
        ok(s, "select virtual-cpu;set ncpus=4;end;commit");
        cr_assert_eq(restarter.sent_generation, 8);
        /* the persistent configuration is not touched by live mode */
        after = stored();
        cr_assert_str_eq(after, before);
        free(before);
        free(after);
        session_free(s);
}

Test(live, commit_n_previews_and_is_not_followed_by_a_commit, .init = setup, .fini = teardown)
{
        Session *s = live_session(ZONECFG_BATCH);

        ok(s, "select virtual-cpu;set ncpus=2;end;commit -n");
        cr_assert_eq(restarter.commits, 1);
        cr_assert(restarter.sent_dry_run);
        cr_assert_eq(restarter.generation, 7, "a dry run changed the live configuration");
        cr_assert_eq(restarter.loads, 1, "a dry run has nothing to read back");
        ok(s, "info virtual-cpu"); /* looking keeps the preview the last word */
        finish_ok(s);
        cr_assert_eq(restarter.commits, 1, "the preview was committed at the end");
        session_free(s);

        /* a change after the preview is committed at the end */
        s = live_session(ZONECFG_BATCH);
        ok(s, "select virtual-cpu;set ncpus=2;end;commit -nq;set autoboot=true");
        cr_assert(restarter.sent_dry_run && restarter.sent_quiet);
        finish_ok(s);
        cr_assert_eq(restarter.commits, 3);
        cr_assert_not(restarter.sent_dry_run);
        cr_assert_eq(restarter.generation, 8);
        session_free(s);
}

Test(live, commit_options, .init = setup, .fini = teardown)
{
        Session *s = live_session(ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "commit -q -n");
        cr_assert(restarter.sent_dry_run && restarter.sent_quiet);
        err = fails(s, "commit -x");
        cr_assert_str_eq(err, "usage: commit [-n] [-q]\n");
        free(err);
        err = fails(s, "commit now");
        cr_assert_str_eq(err, "usage: commit [-n] [-q]\n");
        free(err);
        ok(s, "select virtual-cpu");
        err = fails(s, "commit -n");
        cr_assert_str_eq(err, "commit is not allowed in resource scope (virtual-cpu); use 'end' or 'cancel' first.\n");
        free(err);
        cr_assert_eq(restarter.commits, 1);
        session_free(s);
}

Test(live, a_live_configuration_changed_externally_then_reload, .init = setup, .fini = teardown)
{
        Session *s = live_session(ZONECFG_INTERACTIVE);

        ok(s, "select virtual-cpu;set ncpus=2;end");
        restarter.generation = 9; /* someone else committed */
        cr_assert_lt(zonecfg_run_line(s->z, "commit", 1), 0);
        assert_err(s, "zone 'kz1': error: the live configuration has changed externally.\n"
                      "Trying to commit changes to externally changed live configuration\n"
                      "Please use reload to start again. Your local changes will be lost.\n");
        /* the local changes stay until reload; -F (or an answer) drops them */
        ok(s, "info virtual-cpu");
        assert_out(s, "virtual-cpu:\n    ncpus: 2\n");
        ok(s, "reload -F");
        cr_assert_eq(restarter.loads, 2);
        ok(s, "info virtual-cpu");
        assert_out(s, "virtual-cpu:\n    ncpus: 1\n");
        ok(s, "select virtual-cpu;set ncpus=2;end;commit");
        cr_assert_eq(restarter.sent_generation, 9);
        cr_assert_eq(restarter.generation, 10);
        session_free(s);
}

Test(live, quiet_says_nothing_of_an_external_change, .init = setup, .fini = teardown)
{
        Session *s = live_session(ZONECFG_BATCH);

        restarter.answer = -ESTALE;
        cr_assert_lt(zonecfg_run_line(s->z, "set autoboot=true;commit -q", 1), 0);
        assert_no_err(s);
        assert_out(s, "");
        session_free(s);
}

Test(live, what_makes_no_sense_on_a_running_zone_is_refused, .init = setup, .fini = teardown)
{
        Session *s = live_session(ZONECFG_BATCH);
        char *err;

        err = fails(s, "create");
        cr_assert_str_eq(err, "zonecfg:kz1: create is not available in live mode (-r), which edits a running zone's "
                              "live configuration; run zonecfg without -r to create the zone's configuration.\n");
        free(err);
        err = fails(s, "delete -F");
        cr_assert_not_null(strstr(err, "delete is not available in live mode (-r)"), "%s", err);
        free(err);
        err = fails(s, "set zonename=kz2");
        cr_assert_str_eq(err, "zonecfg:kz1: cannot change zonename of a running zone.\n");
        free(err);
        finish_ok(s);
        cr_assert_eq(restarter.commits, 0);
        session_free(s);
}

Test(live, default_mode_commit_takes_no_options)
{
        Session *s;
        char *err;

        make_root();
        batch("kz1", "create");
        s = session("kz1", ZONECFG_INTERACTIVE);
        ok(s, "set autoboot=true");
        err = fails(s, "commit -n");
        cr_assert_str_eq(err, "usage: commit (-n and -q are for live mode, zonecfg -r)\n");
        free(err);
        session_free(s);
        remove_root();
}

Test(live, tab_offers_commit_options_in_live_mode_only, .init = setup, .fini = teardown)
{
        Session *s = live_session(ZONECFG_INTERACTIVE), *d = session("kz1", ZONECFG_INTERACTIVE);
        char **words = NULL, *joined;
        size_t start;

        cr_assert_eq(zonecfg_complete(s->z, "commit ", &words, &start), 0);
        joined = words ? strv_join(words, " ") : strdup("");
        cr_assert_str_eq(joined, "-n -q");
        free(joined);
        strv_free(words);
        words = NULL;
        cr_assert_eq(zonecfg_complete(d->z, "commit ", &words, &start), 0);
        cr_assert_null(words, "default mode's commit takes no options");
        session_free(s);
        session_free(d);
}
