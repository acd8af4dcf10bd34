/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zonecfg command language: creating, committing, setting and selecting. */
#include "zonecfg-test.h"

TestSuite(zonecfg, .init = make_root, .fini = remove_root);

/* ---- creating and committing ------------------------------------------------------------------- */

Test(zonecfg, create_and_commit_write_the_store)
{
        Session *s = session("kz1", ZONECFG_BATCH);
        char *xml, *index;

        cr_assert_not(zonecfg_zone_exists(s->z));
        ok(s, "create;commit");
        cr_assert(zonecfg_zone_exists(s->z));
        xml = store_read("kz1.xml", NULL);
        cr_assert_not_null(xml, "commit did not write etc/zones/kz1.xml");
        cr_assert(strstr(xml, "zonename=\"kz1\""), "%s", xml);
        cr_assert(strstr(xml, "<keysource raw=\"{base64}"), "create from SYSkz adds a key:\n%s", xml);
        index = store_read("index", NULL);
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
        before = store_read("kz1.xml", NULL);
        s = session("kz1", ZONECFG_BATCH);
        err = fails(s, "create");
        cr_assert_str_eq(err, "zonecfg:kz1: zone kz1 already exists; use 'create -F' to overwrite its "
                              "configuration.\n");
        ok(s, "create -F -b");
        finish_ok(s);
        after = store_read("kz1.xml", NULL);
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
        cr_assert_not(store_exists("kz1.xml"));
        free(err);
        session_free(s);
}

Test(zonecfg, end_of_input_commits)
{
        char *xml;

        batch("kz1", "create -b;add anet;set lower-link=net0");
        xml = store_read("kz1.xml", NULL);
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
        xml = store_read("kz1.xml", NULL);
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
        xml = store_read("kz1.xml", NULL);
        cr_assert(strstr(xml, "lower-link=\"net1\""), "%s", xml);
        free(xml);
        batch("kz1", "select anet 0;set lower-link=net7;end");
        xml = store_read("kz1.xml", NULL);
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
