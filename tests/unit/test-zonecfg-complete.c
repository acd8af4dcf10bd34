/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tab completion of the zonecfg prompt: what is offered depends on the words typed and
 * on the scope (the zone, or the resource of an open 'add' or 'select'). */
#include "strv.h"
#include "zonecfg-test.h"

TestSuite(complete, .init = make_root, .fini = remove_root);

/* The candidates for the end of line, joined with blanks; "" when there are none. */
static char *completions(Session *s, const char *line, size_t *ret_start)
{
        char **words = NULL, *joined;
        size_t start = 0;

        cr_assert_eq(zonecfg_complete(s->z, line, &words, &start), 0);
        joined = words ? strv_join(words, " ") : strdup("");
        cr_assert_not_null(joined);
        strv_free(words);
        if (ret_start)
                *ret_start = start;
        return joined;
}

static void assert_completions(Session *s, const char *line, const char *want)
{
        char *got = completions(s, line, NULL);

        cr_assert_str_eq(got, want, "'%s' completes to '%s', not '%s'", line, got, want);
        free(got);
}

Test(complete, subcommands_and_where_the_word_starts)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        size_t start;
        char *got;

        assert_completions(s, "sel", "select");
        assert_completions(s, "re", "reload remove revert");
        assert_completions(s, "xyz", "");
        got = completions(s, "info; se", &start);
        cr_assert_str_eq(got, "select set");
        cr_assert_eq(start, 6);
        free(got);
        /* inside quotes or a comment, nothing */
        assert_completions(s, "set bootargs=\"se", "");
        assert_completions(s, "# se", "");
        session_free(s);
}

Test(complete, resources_properties_and_values_of_the_scope)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        ok(s, "create -b");
        assert_completions(s, "add cap", "capped-memory");
        assert_completions(s, "set auto", "autoboot= autoshutdown=");
        assert_completions(s, "set autoboot=", "autoboot=false autoboot=true");
        assert_completions(s, "set brand=k", "brand=kz");
        assert_completions(s, "select anet lo", "lower-link=");
        assert_completions(s, "create -", "-F -b -t");
        ok(s, "add capped-memory");
        /* the resource's properties now, not the zone's */
        assert_completions(s, "set p", "pagesize-policy= pagesize= physical=");
        assert_completions(s, "set auto", "");
        assert_completions(s, "clear page", "pagesize pagesize-policy");
        assert_completions(s, "set pagesize-policy=largest", "pagesize-policy=largest-available pagesize-policy=largest-only");
        ok(s, "cancel");
        ok(s, "add anet");
        /* a list property takes 'add PROPERTY VALUE'; anet's own resources */
        assert_completions(s, "add ", "mac vlan");
        assert_completions(s, "set i", "id= iov=");
        ok(s, "cancel");
        session_free(s);
}

Test(complete, templates_and_existing_resources)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        /* 'create -t': the installed templates, then the configured zones */
        assert_completions(s, "create -t SYS", "SYSkz SYSkz-minimal");
        ok(s, "create -b; add anet; end; add anet; end; add admin; set user=alice; end; commit");
        batch("kz2", "create -t SYSkz-minimal; commit");
        assert_completions(s, "create -t kz", "kz2");
        /* the resources there are, by their key */
        assert_completions(s, "select anet id=", "id=0 id=1");
        assert_completions(s, "remove admin user=a", "user=alice");
        assert_completions(s, "select anet lower", "lower-link=");
        session_free(s);
}

Test(complete, help_topics)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        assert_completions(s, "help us", "usage");
        assert_completions(s, "help co", "commands commit");
        assert_completions(s, "help ca", "cancel capped-memory");
        session_free(s);
}
