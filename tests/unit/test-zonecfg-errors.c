/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zonecfg command language: errors, words and quoting, discarding changes. */
#include "zonecfg-test.h"

TestSuite(zonecfg, .init = make_root, .fini = remove_root);

/* ---- errors -------------------------------------------------------------------------------------- */

/* In a committed zone, a line with an error in the middle: the error is one line, and
 * the commit after it never runs. */
static void error_leaves_the_store_alone(const char *bad, const char *message)
{
        Session *s;
        char *before, *after, *line, *err;

        batch("kz1", "create");
        before = store_read("kz1.xml", NULL);
        s = session("kz1", ZONECFG_BATCH);
        cr_assert_gt(asprintf(&line, "set autoboot=true;%s;commit", bad), 0);
        err = fails(s, line);
        cr_assert_str_eq(err, message);
        after = store_read("kz1.xml", NULL);
        cr_assert_str_eq(after, before, "the store changed although \"%s\" failed", bad);
        free(line);
        free(err);
        free(before);
        free(after);
        session_free(s);
}

Test(zonecfg, error_unknown_command)
{
        error_leaves_the_store_alone("frobnicate", "zonecfg:kz1: frobnicate is not a zonecfg command; type 'help' "
                                                   "for the list.\n");
}

Test(zonecfg, error_unknown_resource)
{
        error_leaves_the_store_alone("add frob", "zonecfg:kz1: unknown resource type: frob\n");
}

Test(zonecfg, error_unknown_property)
{
        error_leaves_the_store_alone("set frob=1", "zonecfg:kz1: unknown property: frob\n");
}

Test(zonecfg, error_bad_value)
{
        error_leaves_the_store_alone("set capped-memory:physical=3m",
                "zonecfg:kz1: physical value 3m is not a multiple of 2M.\n");
}

Test(zonecfg, error_in_resource_scope)
{
        error_leaves_the_store_alone("select anet 0;set lower-link=net/0",
                "zonecfg:kz1: \"net/0\" is not a valid lower-link: expected auto or a network interface name of "
                "up to 15 characters.\n");
}

Test(zonecfg, file_mode_names_the_line)
{
        Session *s = session("kz1", ZONECFG_FILE);

        cr_assert_eq(zonecfg_run_line(s->z, "create -b", 1), 0);
        cr_assert_eq(zonecfg_run_line(s->z, "# a comment", 2), 0);
        cr_assert_lt(zonecfg_run_line(s->z, "frobnicate", 3), 0);
        assert_err(s, "On line 3:\nfrobnicate is not a zonecfg command; type 'help' for the list.\n");
        cr_assert_lt(zonecfg_run_line(s->z, "set autoboot=maybe", 12), 0);
        assert_err(s, "On line 12:\n\"maybe\" is not a valid autoboot value: use true or false.\n");
        session_free(s);
}

Test(zonecfg, interactive_mode_goes_on_after_an_error)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b");
        err = fails(s, "set autoboot=maybe");
        cr_assert_str_eq(err, "\"maybe\" is not a valid autoboot value: use true or false.\n");
        ok(s, "set autoboot=true;info autoboot");
        assert_out(s, "autoboot: true\n");
        free(err);
        session_free(s);
}

Test(zonecfg, commit_in_resource_scope_is_refused)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b;add anet");
        err = fails(s, "commit");
        cr_assert_str_eq(err, "commit is not allowed in resource scope (anet); use 'end' or 'cancel' first.\n");
        cr_assert_not(store_exists("kz1.xml"));
        free(err);
        session_free(s);
}

Test(zonecfg, end_and_cancel_outside_a_scope)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b");
        err = fails(s, "end");
        cr_assert_str_eq(err, "end is only used in resource scope.\n");
        free(err);
        err = fails(s, "cancel");
        cr_assert_str_eq(err, "cancel is only used in resource scope.\n");
        free(err);
        session_free(s);
}

Test(zonecfg, unterminated_quote)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b");
        err = fails(s, "set bootargs=\"-v -s");
        cr_assert_str_eq(err, "unterminated quoted string.\n");
        ok(s, "info bootargs");
        assert_out(s, "");
        free(err);
        session_free(s);
}

Test(zonecfg, invalid_zone_names_are_refused_up_front)
{
        int r;
        Session *s = session_try("global", ZONECFG_BATCH, &r);
        char *err = take_err(s);

        cr_assert_eq(r, -EINVAL);
        cr_assert_null(s->z);
        cr_assert_str_eq(err, "zonecfg: global: invalid zone name: use up to 63 letters, digits, '-', '_' and '.', "
                              "starting with a letter or digit; 'global' and names starting with 'SYS' are "
                              "reserved.\n");
        free(err);
        session_free(s);
}

/* A configuration that cannot be read is named in every refusal, is never overwritten
 * by a plain 'create' or a commit, and only 'create -F' or 'delete -F' act on it. */
static Session *damaged_session(char **ret_path)
{
        int r;
        Session *s;
        char *path = store_path("kz1.xml");
        FILE *f;

        batch("kz1", "create");
        f = fopen(path, "we");
        cr_assert_not_null(f);
        fputs("<zone", f);
        fclose(f);
        s = session_try("kz1", ZONECFG_BATCH, &r);
        if (r < 0) {
                /* refused up front: that is fine too, if it says why */
                char *err = take_err(s);

                cr_assert(strstr(err, path), "the message does not name the file: %s", err);
                free(err);
                session_free(s);
                s = NULL;
        }
        *ret_path = path;
        return s;
}

Test(zonecfg, a_damaged_configuration_is_never_overwritten)
{
        char *path, *err, *content;
        Session *s = damaged_session(&path);

        if (s) {
                static const char *const lines[] = { "info", "set autoboot=true", "create", "commit", "delete",
                        "create -b;commit" };

                for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
                        err = fails(s, lines[i]);
                        cr_assert(strstr(err, path), "\"%s\": the message does not name the file: %s", lines[i],
                                err);
                        free(err);
                }
                cr_assert_geq(zonecfg_finish(s->z), 0);
                session_free(s);
        }
        content = store_read("kz1.xml", NULL);
        cr_assert_str_eq(content, "<zone");
        free(content);
        free(path);
}

Test(zonecfg, a_damaged_configuration_can_be_replaced_with_create_force)
{
        char *path, *xml;
        Session *s = damaged_session(&path);

        cr_assert_not_null(s, "zonecfg refuses to start, so the damaged configuration cannot be replaced");
        ok(s, "create -F;set autoboot=true;commit");
        xml = store_read("kz1.xml", NULL);
        cr_assert(strstr(xml, "autoboot=\"true\""), "%s", xml);
        free(xml);
        free(path);
        session_free(s);
}

Test(zonecfg, a_damaged_configuration_can_be_deleted_with_force)
{
        char *path, *index;
        Session *s = damaged_session(&path);

        cr_assert_not_null(s, "zonecfg refuses to start, so the damaged configuration cannot be deleted");
        ok(s, "delete -F");
        cr_assert_not(store_exists("kz1.xml"));
        index = store_read("index", NULL);
        cr_assert_null(strstr(index, "kz1:"), "%s", index);
        free(index);
        free(path);
        session_free(s);
}

/* ---- words and quoting --------------------------------------------------------------------------- */

Test(zonecfg, assignment_forms)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        ok(s, "create -b;add anet");
        ok(s, "set lower-link = net1;info lower-link");
        assert_out(s, "lower-link: net1\n");
        ok(s, "set lower-link= net2;info lower-link");
        assert_out(s, "lower-link: net2\n");
        ok(s, "set lower-link =net3;info lower-link");
        assert_out(s, "lower-link: net3\n");
        ok(s, "set lower-link=net4 # a comment;info lower-link");
        ok(s, "info lower-link");
        assert_out(s, "lower-link: net4\n");
        session_free(s);
}

/* The documented forms "prop= value" and "prop = value" also take a quoted value that
 * itself contains '=' (a kernel command line nearly always does). */
Test(zonecfg, assignment_forms_with_a_quoted_value_containing_equals)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        ok(s, "create -b;add boot;set kernel=/boot/vmlinuz");
        ok(s, "set cmdline = \"console=ttyS0 quiet\";info cmdline");
        assert_out(s, "cmdline: console=ttyS0 quiet\n");
        ok(s, "set cmdline= \"root=/dev/vda1 ro\";info cmdline");
        assert_out(s, "cmdline: root=/dev/vda1 ro\n");
        ok(s, "set cmdline =\"quiet=1\";info cmdline");
        assert_out(s, "cmdline: quiet=1\n");
        session_free(s);
}

/* 'set bootargs=-v -s' without quotes is two words for one value: zonecfg asks for
 * quotes instead of gluing them together into "-v-s". */
Test(zonecfg, a_value_with_blanks_needs_quotes)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        int r;
        char *err;

        ok(s, "create -b");
        r = zonecfg_run_line(s->z, "set bootargs=-v -s", 1);
        err = take_err(s);
        ok(s, "info bootargs");
        {
                char *out = take_out(s);

                cr_assert_lt(r, 0, "'set bootargs=-v -s' was accepted and stored \"%s\"", out);
                free(out);
        }
        cr_assert(strstr(err, "double quotes"), "%s", err);
        free(err);
        session_free(s);
}

Test(zonecfg, quotes_keep_blanks_semicolons_and_hashes)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        ok(s, "create -b");
        ok(s, "set bootargs=\"a;b # c \\\"d\\\" \\\\e\";info bootargs");
        assert_out(s, "bootargs: a;b # c \"d\" \\e\n");
        session_free(s);
}

Test(zonecfg, quoted_cmdline_round_trips_through_export)
{
        Session *s = session("kz1", ZONECFG_BATCH), *t;
        char *ex1, *ex2, *save = NULL, *copy, *xml;
        unsigned n = 0;

        ok(s, "create -b");
        ok(s, "add boot;set kernel=/boot/vmlinuz;set cmdline=\"console=ttyS0 quiet\";end");
        ok(s, "add anet;add vlan;set vlan-id=45;end;end");
        ok(s, "set bootargs=\"say \\\"hi\\\"\"");
        ok(s, "export");
        ex1 = take_out(s);
        cr_assert(strstr(ex1, "\nset cmdline=\"console=ttyS0 quiet\"\n"), "%s", ex1);

        /* the export, run as a command file for another zone, gives the same configuration */
        t = session("kz2", ZONECFG_FILE);
        copy = strdup(ex1);
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                int r = zonecfg_run_line(t->z, l, ++n);
                char *err = take_err(t);

                cr_assert_eq(r, 0, "line %u of the export (\"%s\") failed: %s", n, l, err);
                free(err);
        }
        ok(t, "export");
        ex2 = take_out(t);
        cr_assert_str_eq(ex2, ex1);
        finish_ok(t);
        xml = store_read("kz2.xml", NULL);
        cr_assert(strstr(xml, "cmdline=\"console=ttyS0 quiet\""), "%s", xml);
        cr_assert(strstr(xml, "bootargs=\"say &quot;hi&quot;\""), "%s", xml);

        free(xml);
        free(copy);
        free(ex1);
        free(ex2);
        session_free(s);
        session_free(t);
}

/* ---- discarding ---------------------------------------------------------------------------------- */

Test(zonecfg, cancel_discards_the_scope)
{
        Session *s;
        char *before, *after;

        batch("kz1", "create -b;add anet;set lower-link=net0;end");
        before = store_read("kz1.xml", NULL);
        s = session("kz1", ZONECFG_BATCH);
        ok(s, "select anet 0;set lower-link=net5;cancel;info anet");
        assert_out(s, "anet:\n    lower-link: net0\n    id: 0\n");
        ok(s, "add anet;set lower-link=net6;cancel;info anet");
        assert_out(s, "anet:\n    lower-link: net0\n    id: 0\n");
        finish_ok(s);
        after = store_read("kz1.xml", NULL);
        cr_assert_str_eq(after, before);
        free(before);
        free(after);
        session_free(s);
}

Test(zonecfg, remove_several_needs_force)
{
        Session *s = session("kz1", ZONECFG_BATCH);
        char *err, *xml;

        ok(s, "create -b;add anet;end;add anet;end;add anet;end;commit");
        err = fails(s, "remove anet");
        cr_assert_str_eq(err, "zonecfg:kz1: 3 anet resources match; use 'remove -F anet' to remove them all, or add "
                              "PROPERTY=VALUE to choose one.\n");
        free(err);
        ok(s, "remove anet id=1;info anet");
        assert_out(s, "anet:\n    id: 0\nanet:\n    id: 2\n");
        ok(s, "remove -F anet;info anet");
        assert_out(s, "");
        finish_ok(s);
        xml = store_read("kz1.xml", NULL);
        cr_assert_null(strstr(xml, "<anet"), "%s", xml);
        free(xml);
        session_free(s);
}

Test(zonecfg, remove_a_list_value)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b;add admin;set user=alice;add auths login;add auths manage;info auths");
        assert_out(s, "auths: login,manage\n");
        ok(s, "remove auths login;info auths");
        assert_out(s, "auths: manage\n");
        err = fails(s, "remove auths login");
        cr_assert_str_eq(err, "auths does not contain login.\n");
        free(err);
        session_free(s);
}

Test(zonecfg, exit_force_discards)
{
        Session *s;
        char *before, *after;
        int r;

        batch("kz1", "create");
        before = store_read("kz1.xml", NULL);
        s = session("kz1", ZONECFG_BATCH);
        r = zonecfg_run_line(s->z, "set autoboot=true;add anet;exit -F", 1);
        cr_assert_eq(r, ZONECFG_EXIT);
        assert_no_err(s);
        finish_ok(s);
        after = store_read("kz1.xml", NULL);
        cr_assert_str_eq(after, before, "exit -F saved the changes");
        free(before);
        free(after);
        session_free(s);
}

Test(zonecfg, exit_commits)
{
        Session *s;
        char *xml;
        int r;

        batch("kz1", "create");
        s = session("kz1", ZONECFG_BATCH);
        r = zonecfg_run_line(s->z, "set autoboot=true;exit;set autoboot=false", 1);
        cr_assert_eq(r, ZONECFG_EXIT, "exit did not stop the line");
        assert_no_err(s);
        xml = store_read("kz1.xml", NULL);
        cr_assert(strstr(xml, "autoboot=\"true\""), "%s", xml);
        free(xml);
        session_free(s);
}

Test(zonecfg, revert_reloads_the_store)
{
        Session *s;

        batch("kz1", "create;set autoboot=false");
        s = session("kz1", ZONECFG_BATCH);
        ok(s, "set autoboot=true;set zonename=kz2;revert -F;info autoboot");
        assert_out(s, "autoboot: false\n");
        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz1> ");
        session_free(s);
}

Test(zonecfg, delete_force)
{
        Session *s;
        char *index;

        batch("kz1", "create");
        cr_assert(store_exists("kz1.xml"));
        s = session("kz1", ZONECFG_BATCH);
        ok(s, "delete -F");
        cr_assert_not(zonecfg_zone_exists(s->z));
        cr_assert_not(store_exists("kz1.xml"));
        index = store_read("index", NULL);
        cr_assert_null(strstr(index, "kz1:"), "%s", index);
        finish_ok(s);
        cr_assert_not(store_exists("kz1.xml"), "the end of input recreated the deleted zone");
        free(index);
        session_free(s);
}

Test(zonecfg, delete_without_force_and_nobody_to_ask)
{
        Session *s;
        char *err;

        batch("kz1", "create");
        s = session("kz1", ZONECFG_BATCH);
        err = fails(s, "delete");
        cr_assert_str_eq(err, "zonecfg:kz1: use 'delete -F' to delete zone kz1 without being asked.\n");
        cr_assert(store_exists("kz1.xml"));
        free(err);
        session_free(s);
}

Test(zonecfg, rename)
{
        Session *s;
        char *index;

        batch("kz1", "create");
        s = session("kz1", ZONECFG_BATCH);
        ok(s, "set zonename=kz2;commit");
        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz2> ");
        cr_assert_not(store_exists("kz1.xml"));
        cr_assert(store_exists("kz2.xml"));
        index = store_read("index", NULL);
        cr_assert(strstr(index, "\nkz2:configured::"), "%s", index);
        cr_assert_null(strstr(index, "kz1:"), "%s", index);
        free(index);
        session_free(s);
}

Test(zonecfg, help_lists_the_commands)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *out;

        ok(s, "help set");
        assert_out(s, "usage: set [RESOURCE:]PROPERTY=VALUE\n    Sets a property.\n");
        ok(s, "help capped-memory");
        assert_out(s, "capped-memory properties: physical pagesize-policy pagesize memory-reserve memlzs\n");
        ok(s, "help");
        out = take_out(s);
        cr_assert(strstr(out, "Commands:\n    add RESOURCE"), "%s", out);
        cr_assert(strstr(out, "Resources here: anet device capped-memory"), "%s", out);
        free(out);
        session_free(s);
}

Test(zonecfg, help_usage_commands_syntax_and_properties)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *out, *err;

        ok(s, "help usage");
        out = take_out(s);
        cr_assert(strncmp(out, "usage: zonecfg -z ZONENAME ", 27) == 0, "%s", out);
        cr_assert(strstr(out, "zonecfg -z ZONENAME -f COMMAND-FILE|-\n"), "%s", out);
        free(out);
        ok(s, "help commands");
        out = take_out(s);
        /* every command with what it does */
        cr_assert(strstr(out, "set [RESOURCE:]PROPERTY=VALUE\n    Sets a property.\n"), "%s", out);
        cr_assert(strstr(out, "revert [-F]\n    Discards uncommitted changes"), "%s", out);
        free(out);
        ok(s, "help syntax");
        out = take_out(s);
        cr_assert(strstr(out, "\nvirtual-cpu properties: ncpus\n"), "%s", out);
        free(out);
        /* a property: of the current scope, else of every resource that has it */
        ok(s, "help autoboot");
        assert_out(s, "autoboot: boolean, one of: true false\n");
        ok(s, "help ncpus");
        assert_out(s, "virtual-cpu ncpus: integer\ndedicated-cpu ncpus: integer\n");
        err = fails(s, "help frobnicate");
        cr_assert_str_eq(err, "help: frobnicate is no command, resource or property; type 'help' for the list.\n");
        free(err);
        session_free(s);
}
