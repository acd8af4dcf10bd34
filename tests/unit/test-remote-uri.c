/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remote host URIs decide which host's bus a migration or an evacuation talks to,
 * as which user: what is not a plain ssh://[USER@]HOST[:PORT] is refused, with a
 * reason, and leaves nothing behind. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "remote.h"
#include "strv.h"

static void accepted(const char *s, const char *user, const char *host, unsigned port, const char *bus_host)
{
        RemoteUri u = {};
        const char *why = NULL;
        _cleanup_free_ char *b = NULL;

        cr_assert_eq(remote_uri_parse(s, &u, &why), 0, "'%s' refused: %s", s, why);
        if (user)
                cr_assert_str_eq(u.user, user, "'%s'", s);
        else
                cr_assert_null(u.user, "'%s': user '%s'", s, u.user);
        cr_assert_str_eq(u.host, host, "'%s'", s);
        cr_assert_eq(u.port, port, "'%s': port %u", s, (unsigned) u.port);
        b = remote_uri_to_bus_host(&u);
        cr_assert_str_eq(b, bus_host);
        remote_uri_done(&u);
        cr_assert_null(u.host);
}

static void refused(const char *s, const char *reason)
{
        RemoteUri u = { .port = 4242 };
        const char *why = NULL;

        cr_assert_eq(remote_uri_parse(s, &u, &why), -EINVAL, "'%s' accepted", s ?: "(null)");
        cr_assert_str_eq(why, reason, "'%s': %s", s ?: "(null)", why);
        /* untouched on failure */
        cr_assert_null(u.user);
        cr_assert_null(u.host);
        cr_assert_eq(u.port, 4242);
}

Test(remote_uri, the_forms_the_guide_uses)
{
        accepted("host2", NULL, "host2", 0, "host2");
        accepted("ssh://host2", NULL, "host2", 0, "host2");
        accepted("ssh://root@host2:2222", "root", "host2", 2222, "root@host2:2222");
        accepted("ssh://admin@host2.example.com/", "admin", "host2.example.com", 0, "admin@host2.example.com");
        accepted("ssh://[fe80::1]:22", NULL, "[fe80::1]", 22, "[fe80::1]:22");
        accepted("ssh://u@[::1]", "u", "[::1]", 0, "u@[::1]");
        accepted("ssh://h:65535", NULL, "h", 65535, "h:65535");
        accepted("ssh://h:1", NULL, "h", 1, "h:1");
}

Test(remote_uri, refuses_other_schemes)
{
        refused("rads://host2", "only ssh:// URIs are supported");
        refused("http://host2", "only ssh:// URIs are supported");
        refused("SSH://host2", "only ssh:// URIs are supported");
}

Test(remote_uri, refuses_empty_and_over_long)
{
        char big[600];

        refused(NULL, "the URI is empty or too long");
        refused("", "the URI is empty or too long");
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        refused(big, "the URI is empty or too long");
        /* a host name longer than DNS allows */
        memcpy(big, "ssh://", 6);
        big[6 + 254] = 0;
        refused(big, "the host name is not valid");
}

Test(remote_uri, refuses_bad_users)
{
        refused("ssh://@host2", "the user name is not valid");
        refused("ssh://ro ot@host2", "the user name is not valid");
        refused("ssh://a@b@host2", "the host name is not valid");
        refused("ssh://-oProxyCommand=x@host2", "the user name is not valid");
        refused("ssh://r;id@host2", "the user name is not valid");
        refused("ssh://r\n@host2", "the user name is not valid");
}

Test(remote_uri, refuses_hosts_that_ssh_would_take_as_options_or_paths)
{
        refused("ssh://-oProxyCommand=sh", "the host name is not valid");
        refused("-host", "the host name is not valid");
        refused(".host", "the host name is not valid");
        refused("ssh://", "the host name is not valid");
        refused("ssh:///", "the host name is not valid");
        refused("ssh://host/path", "the host name is not valid");
        refused("ssh://ho st", "the host name is not valid");
        refused("ssh://host\n", "the host name is not valid");
        refused("ssh://[]", "the host name is not valid");
        refused("ssh://[fe80::1", "the host name is not valid");
        refused("ssh://[fe80::g]", "the host name is not valid");
        refused("ssh://[::1]x", "the host name is not valid");
        refused("ssh://user@", "the host name is not valid");
}

Test(remote_uri, refuses_bad_ports)
{
        refused("ssh://h:", "the port is not a number between 1 and 65535");
        refused("ssh://h:0", "the port is not a number between 1 and 65535");
        refused("ssh://h:65536", "the port is not a number between 1 and 65535");
        refused("ssh://h:99999999999999999999999", "the port is not a number between 1 and 65535");
        refused("ssh://h:-1", "the port is not a number between 1 and 65535");
        refused("ssh://h:+22", "the port is not a number between 1 and 65535");
        refused("ssh://h:22x", "the port is not a number between 1 and 65535");
        refused("ssh://h: 22", "the port is not a number between 1 and 65535");
        refused("ssh://h:22:23", "the port is not a number between 1 and 65535");
        refused("ssh://[::1]:", "the port is not a number between 1 and 65535");
}

Test(remote_uri, no_reason_pointer_is_fine)
{
        RemoteUri u = {};

        cr_assert_eq(remote_uri_parse("ssh://h:0", &u, NULL), -EINVAL);
        cr_assert_eq(remote_uri_parse("h", &u, NULL), 0);
        remote_uri_done(&u);
}

/* An evacuation target written as a list: its hosts in order, and a bad element
 * named with its reason. */
Test(remote_uri, target_lists)
{
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *bad = NULL;
        const char *why = NULL;

        cr_assert_eq(remote_uri_list_split("ssh://h2 \tssh://root@h3:2222  ", &l, &bad, &why), 0);
        cr_assert_eq(strv_length(l), 2);
        cr_assert_str_eq(l[0], "ssh://h2");
        cr_assert_str_eq(l[1], "ssh://root@h3:2222");
        cr_assert_null(bad);
        l = strv_free(l);
        cr_assert_eq(remote_uri_list_split("ssh://h2", &l, NULL, NULL), 0);
        cr_assert_eq(strv_length(l), 1);
        l = strv_free(l);

        cr_assert_eq(remote_uri_list_split("ssh://h2 ftp://h3 ssh://h4", &l, &bad, &why), -EINVAL);
        cr_assert_null(l);
        cr_assert_str_eq(bad, "ftp://h3");
        cr_assert_str_eq(why, "only ssh:// URIs are supported");
        bad = mfree_str(bad);
        cr_assert_eq(remote_uri_list_split("ssh://h2 ssh://h3:0", &l, &bad, &why), -EINVAL);
        cr_assert_str_eq(bad, "ssh://h3:0");
        bad = mfree_str(bad);
        cr_assert_eq(remote_uri_list_split("  \t ", &l, &bad, &why), -EINVAL);
        cr_assert_null(bad);
        cr_assert_str_eq(why, "the list is empty");
        cr_assert_eq(remote_uri_list_split("h1 h2 h3 h4 h5 h6 h7 h8 h9 h10 h11 h12 h13 h14 h15 h16 h17", &l, &bad,
                             &why), -EINVAL);
        cr_assert_str_eq(bad, "h17");
}
