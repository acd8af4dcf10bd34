/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "zone-store.h"
#include "zonecfg-cmd.h"

/* Every test works in its own root, made before it and removed after it. */
static char root[PATH_MAX];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) remove(path);
        return 0;
}

static void make_root(void)
{
        const char *tmp = getenv("TMPDIR");

        (void) snprintf(root, sizeof(root), "%s/kzones-zonecfg-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        cr_assert_not_null(mkdtemp(root), "mkdtemp: %m");
}

static void remove_root(void)
{
        if (root[0])
                (void) nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(zonecfg, .init = make_root, .fini = remove_root);

/* ---- a session ---------------------------------------------------------------------------------- */

typedef struct Session {
        Zonecfg *z;
        FILE *out, *err;
        char *out_buf, *err_buf;
        size_t out_size, err_size;
        size_t out_mark, err_mark; /* what the tests have already looked at */
} Session;

static Session *session_try(const char *name, ZonecfgMode mode, int *ret)
{
        Session *s = calloc(1, sizeof(*s));
        ZonecfgOptions o;

        cr_assert_not_null(s);
        s->out = open_memstream(&s->out_buf, &s->out_size);
        s->err = open_memstream(&s->err_buf, &s->err_size);
        cr_assert(s->out && s->err);
        o = (ZonecfgOptions) { .root = root, .zonename = name, .mode = mode, .out = s->out, .err = s->err };
        *ret = zonecfg_new(&o, &s->z);
        return s;
}

static Session *session(const char *name, ZonecfgMode mode)
{
        int r;
        Session *s = session_try(name, mode, &r);

        cr_assert_eq(r, 0, "zonecfg_new(%s) failed: %d", name, r);
        return s;
}

static void session_free(Session *s)
{
        zonecfg_free(s->z);
        fclose(s->out);
        fclose(s->err);
        free(s->out_buf);
        free(s->err_buf);
        free(s);
}

/* What was printed since the last look. */
static char *take_out(Session *s)
{
        char *r;

        fflush(s->out);
        r = strndup(s->out_buf + s->out_mark, s->out_size - s->out_mark);
        s->out_mark = s->out_size;
        return r;
}

static char *take_err(Session *s)
{
        char *r;

        fflush(s->err);
        r = strndup(s->err_buf + s->err_mark, s->err_size - s->err_mark);
        s->err_mark = s->err_size;
        return r;
}

static void assert_out(Session *s, const char *want)
{
        char *got = take_out(s);

        cr_assert_str_eq(got, want, "printed:\n%s\nexpected:\n%s", got, want);
        free(got);
}

static void assert_err(Session *s, const char *want)
{
        char *got = take_err(s);

        cr_assert_str_eq(got, want, "error output:\n%s\nexpected:\n%s", got, want);
        free(got);
}

static void assert_no_err(Session *s)
{
        assert_err(s, "");
}

/* Runs a line that must succeed and print no error. */
static void ok(Session *s, const char *line)
{
        int r = zonecfg_run_line(s->z, line, 1);
        char *err = take_err(s);

        cr_assert_geq(r, 0, "\"%s\" failed with %d: %s", line, r, err);
        cr_assert_str_eq(err, "", "\"%s\" printed an error: %s", line, err);
        free(err);
}

/* Runs a line that must fail, and returns the one line of error it printed. */
static char *fails(Session *s, const char *line)
{
        int r = zonecfg_run_line(s->z, line, 1);
        char *err = take_err(s);

        cr_assert_lt(r, 0, "\"%s\" succeeded", line);
        cr_assert_neq(err[0], 0, "\"%s\" failed without a message", line);
        cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "\"%s\" printed more or less than one line: %s",
                line, err);
        return err;
}

static void finish_ok(Session *s)
{
        int r = zonecfg_finish(s->z);
        char *err = take_err(s);

        cr_assert_eq(r, 0, "finish failed with %d: %s", r, err);
        free(err);
}

static char *path_of(const char *name)
{
        char *p = NULL;

        cr_assert_gt(asprintf(&p, "%s/etc/zones/%s", root, name), 0);
        return p;
}

static char *slurp(const char *name)
{
        char *p = path_of(name), *buf = NULL;
        size_t size = 0;
        int r = read_file_bounded(p, 4u << 20, &buf, &size);

        free(p);
        if (r == -ENOENT)
                return NULL;
        cr_assert_eq(r, 0, "cannot read %s: %s", name, strerror(-r));
        return buf;
}

static bool exists(const char *name)
{
        char *p = path_of(name);
        bool r = access(p, F_OK) == 0;

        free(p);
        return r;
}

/* Runs one batch command line as 'zonecfg -z NAME "..."' does: the line, then, if it did
 * not fail or exit, the end of input. */
static void batch(const char *name, const char *line)
{
        Session *s = session(name, ZONECFG_BATCH);
        int r = zonecfg_run_line(s->z, line, 1);
        char *err = take_err(s);

        cr_assert_geq(r, 0, "\"%s\" failed: %s", line, err);
        if (r == ZONECFG_CONTINUE)
                finish_ok(s);
        free(err);
        session_free(s);
}

/* ---- creating and committing ------------------------------------------------------------------- */

Test(zonecfg, create_and_commit_write_the_store)
{
        Session *s = session("kz1", ZONECFG_BATCH);
        char *xml, *index;

        cr_assert_not(zonecfg_zone_exists(s->z));
        ok(s, "create;commit");
        cr_assert(zonecfg_zone_exists(s->z));
        xml = slurp("kz1.xml");
        cr_assert_not_null(xml, "commit did not write etc/zones/kz1.xml");
        cr_assert(strstr(xml, "zonename=\"kz1\""), "%s", xml);
        cr_assert(strstr(xml, "<keysource raw=\"{base64}"), "create from SYSkz adds a key:\n%s", xml);
        index = slurp("index");
        cr_assert(strstr(index, "\nkz1:configured::"), "%s", index);
        assert_out(s, "");
        free(xml);
        free(index);
        session_free(s);
}

Test(zonecfg, create_over_an_existing_zone_needs_force)
{
        Session *s;
        char *before, *after, *err;

        batch("kz1", "create");
        before = slurp("kz1.xml");
        s = session("kz1", ZONECFG_BATCH);
        err = fails(s, "create");
        cr_assert_str_eq(err, "zonecfg:kz1: zone kz1 already exists; use 'create -F' to overwrite its "
                              "configuration.\n");
        ok(s, "create -F -b");
        finish_ok(s);
        after = slurp("kz1.xml");
        cr_assert_str_neq(after, before);
        cr_assert_null(strstr(after, "<anet"), "create -b made a blank configuration:\n%s", after);
        free(err);
        free(before);
        free(after);
        session_free(s);
}

Test(zonecfg, commands_before_create_are_refused)
{
        Session *s = session("kz1", ZONECFG_BATCH);
        char *err = fails(s, "set autoboot=true");

        cr_assert_str_eq(err, "zonecfg:kz1: No such zone configured; use 'create' to begin configuring a new "
                              "zone.\n");
        cr_assert_not(exists("kz1.xml"));
        free(err);
        session_free(s);
}

Test(zonecfg, end_of_input_commits)
{
        char *xml;

        batch("kz1", "create -b;add anet;set lower-link=net0");
        xml = slurp("kz1.xml");
        cr_assert_not_null(xml, "the end of input did not commit");
        cr_assert(strstr(xml, "<anet lower-link=\"net0\" id=\"0\"/>"), "the open scope was not ended:\n%s", xml);
        free(xml);
}

/* ---- setting and selecting --------------------------------------------------------------------- */

Test(zonecfg, resource_property_in_global_scope)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        ok(s, "create -b");
        ok(s, "set capped-memory:physical=16g");
        ok(s, "info capped-memory");
        assert_out(s, "capped-memory:\n    physical: 16G\n");
        ok(s, "set capped-memory:pagesize-policy=largest-only");
        ok(s, "info capped-memory");
        assert_out(s, "capped-memory:\n    physical: 16G\n    pagesize-policy: largest-only\n");
        session_free(s);
}

Test(zonecfg, resource_property_on_the_template)
{
        Session *s = session("kz1", ZONECFG_BATCH);
        char *xml;

        ok(s, "create;set capped-memory:physical=16G;commit");
        xml = slurp("kz1.xml");
        cr_assert(strstr(xml, "physical=\"16G\""), "%s", xml);
        cr_assert_null(strstr(xml, "physical=\"4G\""), "%s", xml);
        free(xml);
        session_free(s);
}

Test(zonecfg, a_refused_resource_property_creates_nothing)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b");
        err = fails(s, "set capped-memory:physical=3X");
        cr_assert_str_eq(err, "\"3X\" is not a valid physical: expected a number with an optional K, M, G or T.\n");
        ok(s, "info capped-memory");
        assert_out(s, "");
        free(err);
        session_free(s);
}

Test(zonecfg, select_by_id)
{
        Session *s = session("kz1", ZONECFG_BATCH);

        ok(s, "create -b;add anet;end;add anet;end");
        ok(s, "select anet id=0;set lower-link=net1;end");
        ok(s, "select anet 1;set lower-link=net2;end");
        ok(s, "info anet");
        assert_out(s, "anet:\n    lower-link: net1\n    id: 0\nanet:\n    lower-link: net2\n    id: 1\n");
        ok(s, "info anet id=1");
        assert_out(s, "anet:\n    lower-link: net2\n    id: 1\n");
        session_free(s);
}

Test(zonecfg, select_on_the_template)
{
        char *xml;

        batch("kz1", "create;select anet id=0;set lower-link=net1;end");
        xml = slurp("kz1.xml");
        cr_assert(strstr(xml, "lower-link=\"net1\""), "%s", xml);
        free(xml);
        batch("kz1", "select anet 0;set lower-link=net7;end");
        xml = slurp("kz1.xml");
        cr_assert(strstr(xml, "lower-link=\"net7\""), "%s", xml);
        free(xml);
}

Test(zonecfg, select_compares_canonical_values)
{
        Session *s = session("kz1", ZONECFG_BATCH);

        ok(s, "create -b;add anet;set mac-address=0:1:2:3:4:5;end;add anet;set mac-address=2:0:0:0:0:9;end");
        ok(s, "select anet mac-address=00:01:02:03:04:05;set lower-link=net8;end");
        ok(s, "info anet id=0");
        assert_out(s, "anet:\n    lower-link: net8\n    mac-address: 0:1:2:3:4:5\n    id: 0\n");
        ok(s, "set capped-memory:physical=16G;select capped-memory physical=16g;set physical=8g;end");
        ok(s, "info capped-memory");
        assert_out(s, "capped-memory:\n    physical: 8G\n");
        session_free(s);
}

Test(zonecfg, select_errors)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b;add anet;end;add anet;end");
        err = fails(s, "select anet id=5");
        cr_assert_str_eq(err, "No such anet resource.\n");
        free(err);
        err = fails(s, "select anet");
        cr_assert_str_eq(err, "More than one anet resource matches; add a property such as id=… to choose one.\n");
        free(err);
        err = fails(s, "select anet speed=10");
        cr_assert_str_eq(err, "anet has no property speed.\n");
        free(err);
        err = fails(s, "select net 0");
        cr_assert_str_eq(err, "unknown resource type: net\n");
        free(err);
        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz1> ", "a failed select entered a scope");
        session_free(s);
}

Test(zonecfg, add_without_id_takes_the_next_one)
{
        Session *s = session("kz1", ZONECFG_BATCH);

        ok(s, "create");
        ok(s, "add anet;set lower-link=net2;end");
        ok(s, "info anet id=1");
        assert_out(s, "anet:\n    lower-link: net2\n    id: 1\n");
        session_free(s);
}

Test(zonecfg, duplicate_id_is_refused_at_end)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b;add anet;end;add anet;set id=0");
        err = fails(s, "end");
        cr_assert_str_eq(err, "anet id=0 already exists.\n");
        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz1:anet> ", "a refused end left the scope");
        ok(s, "set id=4;end;info anet id=4");
        assert_out(s, "anet:\n    id: 4\n");
        free(err);
        session_free(s);
}

Test(zonecfg, nested_vlans_info)
{
        Session *s = session("kz1", ZONECFG_BATCH);

        ok(s, "create");
        ok(s, "add anet;add vlan;set vlan-id=45;end;add vlan;set vlan-id=46;end;info vlan");
        assert_out(s, "    vlan 0:\n        vlan-id: 45\n    vlan 1:\n        vlan-id: 46\n");
        ok(s, "info vlan vlan-id=46");
        assert_out(s, "    vlan 1:\n        vlan-id: 46\n");
        ok(s, "end");
        ok(s, "info anet id=1");
        assert_out(s, "anet:\n    id: 1\n    vlan 0:\n        vlan-id: 45\n    vlan 1:\n        vlan-id: 46\n");
        session_free(s);
}

Test(zonecfg, info_in_scope_of_a_new_resource_shows_its_number)
{
        Session *s = session("kz1", ZONECFG_BATCH);

        ok(s, "create");
        ok(s, "add anet;info");
        assert_out(s, "anet 1:\n");
        ok(s, "set lower-link=net3;info");
        assert_out(s, "anet 1:\n    lower-link: net3\n");
        ok(s, "add vlan;set vlan-id=7;info");
        assert_out(s, "    vlan 0:\n        vlan-id: 7\n");
        session_free(s);
}

Test(zonecfg, info_of_a_property)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);
        char *err;

        ok(s, "create -b;info host-compatible");
        assert_out(s, "");
        ok(s, "set host-compatible=level1;info host-compatible");
        assert_out(s, "host-compatible: level1\n");
        ok(s, "info zonename brand");
        assert_out(s, "zonename: kz1\nbrand: kz\n");
        err = fails(s, "info frob");
        cr_assert_str_eq(err, "unknown resource or property: frob\n");
        free(err);
        session_free(s);
}

Test(zonecfg, info_of_the_template_property)
{
        Session *s = session("kz1", ZONECFG_BATCH);

        ok(s, "create;info host-compatible");
        assert_out(s, "host-compatible: memlzs\n");
        session_free(s);
}

Test(zonecfg, the_key_is_redacted_in_info_but_not_in_export)
{
        Session *s = session("kz1", ZONECFG_BATCH);
        char *out;

        ok(s, "create;info keysource");
        assert_out(s, "keysource:\n    raw: redacted\n");
        ok(s, "export");
        out = take_out(s);
        cr_assert(strstr(out, "add keysource\nset raw=\"{base64}"), "%s", out);
        free(out);
        session_free(s);
}

Test(zonecfg, prompt_follows_the_scopes)
{
        Session *s = session("kz1", ZONECFG_INTERACTIVE);

        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz1> ");
        ok(s, "create;add anet");
        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz1:anet> ");
        ok(s, "add vlan");
        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz1:anet:vlan> ");
        ok(s, "cancel;cancel");
        cr_assert_str_eq(zonecfg_prompt(s->z), "zonecfg:kz1> ");
        session_free(s);
}

/* ---- errors -------------------------------------------------------------------------------------- */

/* In a committed zone, a line with an error in the middle: the error is one line, and
 * the commit after it never runs. */
static void error_leaves_the_store_alone(const char *bad, const char *message)
{
        Session *s;
        char *before, *after, *line, *err;

        batch("kz1", "create");
        before = slurp("kz1.xml");
        s = session("kz1", ZONECFG_BATCH);
        cr_assert_gt(asprintf(&line, "set autoboot=true;%s;commit", bad), 0);
        err = fails(s, line);
        cr_assert_str_eq(err, message);
        after = slurp("kz1.xml");
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
        cr_assert_not(exists("kz1.xml"));
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
        char *path = path_of("kz1.xml");
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
        content = slurp("kz1.xml");
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
        xml = slurp("kz1.xml");
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
        cr_assert_not(exists("kz1.xml"));
        index = slurp("index");
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
        xml = slurp("kz2.xml");
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
        before = slurp("kz1.xml");
        s = session("kz1", ZONECFG_BATCH);
        ok(s, "select anet 0;set lower-link=net5;cancel;info anet");
        assert_out(s, "anet:\n    lower-link: net0\n    id: 0\n");
        ok(s, "add anet;set lower-link=net6;cancel;info anet");
        assert_out(s, "anet:\n    lower-link: net0\n    id: 0\n");
        finish_ok(s);
        after = slurp("kz1.xml");
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
        xml = slurp("kz1.xml");
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
        before = slurp("kz1.xml");
        s = session("kz1", ZONECFG_BATCH);
        r = zonecfg_run_line(s->z, "set autoboot=true;add anet;exit -F", 1);
        cr_assert_eq(r, ZONECFG_EXIT);
        assert_no_err(s);
        finish_ok(s);
        after = slurp("kz1.xml");
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
        xml = slurp("kz1.xml");
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
        cr_assert(exists("kz1.xml"));
        s = session("kz1", ZONECFG_BATCH);
        ok(s, "delete -F");
        cr_assert_not(zonecfg_zone_exists(s->z));
        cr_assert_not(exists("kz1.xml"));
        index = slurp("index");
        cr_assert_null(strstr(index, "kz1:"), "%s", index);
        finish_ok(s);
        cr_assert_not(exists("kz1.xml"), "the end of input recreated the deleted zone");
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
        cr_assert(exists("kz1.xml"));
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
        cr_assert_not(exists("kz1.xml"));
        cr_assert(exists("kz2.xml"));
        index = slurp("index");
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
