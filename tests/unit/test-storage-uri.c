/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "storage-uri.h"

#define LU_ID "600144F0DBF8AF19000052E820D60003"

typedef struct Expected {
        const char *uri;
        StorageScheme scheme;
        const char *host;
        unsigned port;
        const char *user;
        const char *group;
        const char *path;
        const char *luname;
        const char *target;
        unsigned lun;
        bool shared;
} Expected;

static void assert_str_or_null(const char *field, const char *uri, const char *got, const char *want)
{
        if (!want)
                cr_assert_null(got, "%s: %s is \"%s\", expected NULL", uri, field, got);
        else {
                cr_assert_not_null(got, "%s: %s is NULL, expected \"%s\"", uri, field, want);
                cr_assert_str_eq(got, want, "%s: %s is \"%s\", expected \"%s\"", uri, field, got, want);
        }
}

static void check_parses(const Expected *x)
{
        StorageUri *u = NULL;
        const char *reason = NULL;
        int r;

        r = storage_uri_parse(x->uri, &u, &reason);
        cr_assert_eq(r, 0, "%s was refused: %s", x->uri, reason ? reason : "(no reason)");
        cr_assert_not_null(u);
        cr_assert_eq(u->scheme, x->scheme, "%s: scheme %d, expected %d", x->uri, u->scheme, x->scheme);
        assert_str_or_null("host", x->uri, u->host, x->host);
        cr_assert_eq(u->port, x->port, "%s: port %u, expected %u", x->uri, u->port, x->port);
        assert_str_or_null("user", x->uri, u->user, x->user);
        assert_str_or_null("group", x->uri, u->group, x->group);
        assert_str_or_null("path", x->uri, u->path, x->path);
        assert_str_or_null("luname", x->uri, u->luname, x->luname);
        assert_str_or_null("target", x->uri, u->target, x->target);
        cr_assert_eq(u->lun, x->lun, "%s: lun %u, expected %u", x->uri, u->lun, x->lun);
        cr_assert_eq(storage_uri_is_shared(u), x->shared, "%s: is_shared is %d", x->uri, x->shared);
        storage_uri_free(u);

        /* checking alone, without asking for the result, gives the same verdict */
        cr_assert_eq(storage_uri_parse(x->uri, NULL, NULL), 0, "%s refused when only checked", x->uri);
}

Test(storage_uri, dev_absolute)
{
        check_parses(&(Expected) { "dev:/dev/dsk/c9t0d0", STORAGE_DEV, .path = "/dev/dsk/c9t0d0" });
}

Test(storage_uri, dev_relative_is_under_dev)
{
        check_parses(&(Expected) { "dev:dsk/c9t0d0", STORAGE_DEV, .path = "/dev/dsk/c9t0d0" });
        check_parses(&(Expected) { "dev:zvol/rpool/zones/kz1", STORAGE_DEV, .path = "/dev/zvol/rpool/zones/kz1" });
}

Test(storage_uri, file_local_path)
{
        check_parses(&(Expected) { "file:///var/lib/x.img", STORAGE_FILE, .path = "/var/lib/x.img" });
}

Test(storage_uri, nfs_user_group_host_path)
{
        check_parses(&(Expected) { "nfs://admin:staff@host/export/test/nfs_file", STORAGE_NFS, .host = "host",
                .user = "admin", .group = "staff", .path = "/export/test/nfs_file", .shared = true });
}

Test(storage_uri, nfs_with_port)
{
        check_parses(&(Expected) { "nfs://admin:staff@host:1000/export/test/nfs_file", STORAGE_NFS,
                .host = "host", .port = 1000, .user = "admin", .group = "staff", .path = "/export/test/nfs_file",
                .shared = true });
}

Test(storage_uri, nfs_numeric_ids)
{
        check_parses(&(Expected) { "nfs://1000:100@nfs.example.com/export/kz1/disk0", STORAGE_NFS,
                .host = "nfs.example.com", .user = "1000", .group = "100", .path = "/export/kz1/disk0",
                .shared = true });
}

Test(storage_uri, nfs_ipv6_host)
{
        check_parses(&(Expected) { "nfs://admin:staff@[::1]/export/test/nfs_file", STORAGE_NFS, .host = "[::1]",
                .user = "admin", .group = "staff", .path = "/export/test/nfs_file", .shared = true });
        check_parses(&(Expected) { "nfs://admin:staff@[fe80::1]:2049/export/test/nfs_file", STORAGE_NFS,
                .host = "[fe80::1]", .port = 2049, .user = "admin", .group = "staff",
                .path = "/export/test/nfs_file", .shared = true });
}

Test(storage_uri, iscsi_luname_with_host)
{
        check_parses(&(Expected) { "iscsi://zfssa/luname.naa." LU_ID, STORAGE_ISCSI, .host = "zfssa",
                .luname = "naa." LU_ID, .shared = true });
}

Test(storage_uri, iscsi_luname_without_host)
{
        check_parses(&(Expected) { "iscsi:///luname.naa." LU_ID, STORAGE_ISCSI, .luname = "naa." LU_ID,
                .shared = true });
        check_parses(&(Expected) { "iscsi:///luname.eui.0123456789ABCDEF", STORAGE_ISCSI,
                .luname = "eui.0123456789ABCDEF", .shared = true });
}

Test(storage_uri, iscsi_target_and_lun)
{
        check_parses(&(Expected) { "iscsi://host:3260/target.iqn.2001-05.com.example:disk,lun.3", STORAGE_ISCSI,
                .host = "host", .port = 3260, .target = "iqn.2001-05.com.example:disk", .lun = 3, .shared = true });
        check_parses(&(Expected) { "iscsi://host/target.iqn.2001-05.com.example:disk,lun.16383", STORAGE_ISCSI,
                .host = "host", .target = "iqn.2001-05.com.example:disk", .lun = 16383, .shared = true });
}

Test(storage_uri, nbd_export)
{
        check_parses(&(Expected) { "nbd://host/export", STORAGE_NBD, .host = "host", .path = "export",
                .shared = true });
        check_parses(&(Expected) { "nbd://host:10809/exp", STORAGE_NBD, .host = "host", .port = 10809,
                .path = "exp", .shared = true });
        check_parses(&(Expected) { "nbd://[::1]:10809/exp", STORAGE_NBD, .host = "[::1]", .port = 10809,
                .path = "exp", .shared = true });
}

Test(storage_uri, length_limit_is_4096)
{
        char uri[4097 + 1];
        const char *reason = NULL;

        /* exactly 4096 characters: accepted */
        memset(uri, 'a', 4096);
        memcpy(uri, "file:///", 8);
        uri[4096] = 0;
        cr_assert_eq(storage_uri_parse(uri, NULL, &reason), 0, "a 4096-character URI was refused: %s",
                reason ? reason : "");
        /* 4097: refused */
        uri[4096] = 'a';
        uri[4097] = 0;
        cr_assert_eq(storage_uri_parse(uri, NULL, &reason), -EINVAL);
        cr_assert_str_eq(reason, "the storage URI is too long");
}

/* A refusal: -EINVAL, a reason containing `why`, and nothing returned. */
static void check_refused(const char *uri, const char *why)
{
        StorageUri *u = (StorageUri *) 0x1;
        const char *reason = NULL;
        int r;

        r = storage_uri_parse(uri, &u, &reason);
        cr_assert_eq(r, -EINVAL, "%s: expected -EINVAL, got %d", uri ? uri : "(null)", r);
        cr_assert_eq(u, (StorageUri *) 0x1, "%s: a result was returned although it was refused", uri);
        cr_assert_not_null(reason, "%s: refused without a reason", uri);
        cr_assert(strstr(reason, why), "%s: reason \"%s\" does not say \"%s\"", uri, reason, why);
        /* and no crash when the caller does not want the reason */
        cr_assert_eq(storage_uri_parse(uri, NULL, NULL), -EINVAL);
}

Test(storage_uri, refuses_file_with_host)
{
        check_refused("file://host/x", "no host");
}

Test(storage_uri, refuses_file_with_dot_components)
{
        check_refused("file:///a/../b", "'..'");
        check_refused("file:///a/./b", "'.'");
        check_refused("file:///a//b", "empty");
        check_refused("file:///", "empty");
        check_refused("file:///var/lib/x.img/", "empty");
}

Test(storage_uri, refuses_control_characters)
{
        check_refused("file:///var/lib/x\n.img", "component");
        check_refused("dev:/dev/sd\ta", "clean path");
        check_refused("nbd://host/ex port", "spaces or control characters");
}

Test(storage_uri, refuses_dev_outside_dev)
{
        check_refused("dev:/etc/passwd", "under /dev");
        check_refused("dev:../etc/passwd", "clean path under /dev");
        check_refused("dev:/dev/../etc/passwd", "clean path under /dev");
        check_refused("dev:/dev", "under /dev");
        check_refused("dev:", "clean path under /dev");
        check_refused("dev://dev/sda", "without //");
}

Test(storage_uri, refuses_nfs_without_user_and_group)
{
        check_refused("nfs://host/export/test/nfs_file", "USER:GROUP@HOST");
        check_refused("nfs://admin@host/export/test/nfs_file", "both a user and a group");
        check_refused("nfs://:staff@host/export/test/nfs_file", "user or group");
        check_refused("nfs://admin:@host/export/test/nfs_file", "user or group");
        check_refused("nfs://ad min:staff@host/export/test/nfs_file", "user or group");
}

Test(storage_uri, refuses_nfs_bad_port)
{
        check_refused("nfs://admin:staff@host:0/export/test/nfs_file", "between 1 and 65535");
        check_refused("nfs://admin:staff@host:70000/export/test/nfs_file", "between 1 and 65535");
        check_refused("nfs://admin:staff@host:65536/export/test/nfs_file", "between 1 and 65535");
        check_refused("nfs://admin:staff@host:99999999999999999999999/export/test/nfs_file", "between 1 and 65535");
        check_refused("nfs://admin:staff@host:20x/export/test/nfs_file", "between 1 and 65535");
        check_refused("nfs://admin:staff@host:/export/test/nfs_file", "port is empty");
}

Test(storage_uri, nfs_port_65535_is_accepted)
{
        check_parses(&(Expected) { "nfs://admin:staff@host:65535/export/f", STORAGE_NFS, .host = "host",
                .port = 65535, .user = "admin", .group = "staff", .path = "/export/f", .shared = true });
}

Test(storage_uri, refuses_nfs_without_a_file)
{
        check_refused("nfs://admin:staff@host", "path to a file");
        check_refused("nfs://admin:staff@host/nfs_file", "file inside an exported directory");
        check_refused("nfs://admin:staff@host/export/", "empty");
        check_refused("nfs://admin:staff@host/", "empty");
        check_refused("nfs://admin:staff@host/export/../etc/shadow", "'..'");
}

Test(storage_uri, refuses_bad_hosts)
{
        check_refused("nfs://admin:staff@/export/test/nfs_file", "host name is required");
        check_refused("nfs://admin:staff@ho$t/export/test/nfs_file", "host name is not valid");
        check_refused("nfs://admin:staff@-host/export/test/nfs_file", "host name is not valid");
        check_refused("nfs://admin:staff@[::1/export/test/nfs_file", "square brackets");
        check_refused("nfs://admin:staff@[::1]x/export/test/nfs_file", "garbage after the host name");
        check_refused("nfs://admin:staff@[zz::1]/export/test/nfs_file", "host name is not valid");
        check_refused("nbd:///export", "host name is required");
}

Test(storage_uri, refuses_iscsi_without_luname_or_target)
{
        check_refused("iscsi://host", "iscsi://[HOST[:PORT]]/luname.naa.ID");
        check_refused("iscsi://host/", "luname.naa.ID or target.IQN,lun.N");
        check_refused("iscsi://host/lun.3", "luname.naa.ID or target.IQN,lun.N");
        check_refused("iscsi:///naa." LU_ID, "luname.naa.ID or target.IQN,lun.N");
}

Test(storage_uri, refuses_bad_lu_ids)
{
        check_refused("iscsi:///luname." LU_ID, "luname.naa.ID or luname.eui.ID");
        check_refused("iscsi:///luname.xyz." LU_ID, "luname.naa.ID or luname.eui.ID");
        check_refused("iscsi:///luname.naa.600144F0", "16 to 32 hexadecimal digits");
        check_refused("iscsi:///luname.naa." LU_ID "0", "16 to 32 hexadecimal digits");
        check_refused("iscsi:///luname.naa.600144F0DBF8AF19000052E820D6000G", "16 to 32 hexadecimal digits");
        check_refused("iscsi:///luname.naa.", "16 to 32 hexadecimal digits");
}

Test(storage_uri, refuses_bad_iscsi_targets)
{
        check_refused("iscsi:///target.iqn.2001-05.com.example:disk,lun.3", "needs a host");
        check_refused("iscsi://host/target.iqn.2001-05.com.example:disk", "ends in ,lun.N");
        check_refused("iscsi://host/target.iqn.2001-05.com.example:disk,lun.", "ends in ,lun.N");
        check_refused("iscsi://host/target.iqn.2001-05.com.example:disk,lun.16384", "between 0 and 16383");
        check_refused("iscsi://host/target.iqn.2001-05.com.example:disk,lun.3x", "between 0 and 16383");
        check_refused("iscsi://host/target.foo.bar,lun.3", "starts with iqn. or eui.");
        check_refused("iscsi://host/target.iqn.2001-05.com/ex,lun.3", "not allowed");
}

Test(storage_uri, refuses_nbd_without_export)
{
        check_refused("nbd://host", "nbd://HOST[:PORT]/EXPORT");
        check_refused("nbd://host/", "nbd://HOST[:PORT]/EXPORT");
        check_refused("nbd://host:0/exp", "between 1 and 65535");
}

Test(storage_uri, refuses_unknown_schemes)
{
        check_refused("http://host/disk.img", "unknown storage URI type");
        check_refused("/var/lib/x.img", "unknown storage URI type");
        check_refused("NFS://admin:staff@host/export/test/nfs_file", "unknown storage URI type");
        check_refused("zvol:rpool/kz1", "unknown storage URI type");
}

Test(storage_uri, refuses_empty)
{
        check_refused("", "empty");
        check_refused(NULL, "empty");
}

Test(storage_uri, refuses_over_long)
{
        char uri[5001];

        memset(uri, 'a', 5000);
        memcpy(uri, "file:///", 8);
        uri[5000] = 0;
        check_refused(uri, "too long");
}

Test(storage_uri, default_ports)
{
        cr_assert_eq(storage_uri_default_port(STORAGE_NFS), 2049);
        cr_assert_eq(storage_uri_default_port(STORAGE_ISCSI), 3260);
        cr_assert_eq(storage_uri_default_port(STORAGE_NBD), 10809);
        cr_assert_eq(storage_uri_default_port(STORAGE_DEV), 0);
        cr_assert_eq(storage_uri_default_port(STORAGE_FILE), 0);
}

Test(storage_scheme, string_table_both_ways)
{
        static const char *const names[] = { "dev", "file", "nfs", "iscsi", "nbd" };

        cr_assert_eq(sizeof(names) / sizeof(names[0]), (size_t) _STORAGE_SCHEME_MAX);
        for (int i = 0; i < _STORAGE_SCHEME_MAX; i++) {
                cr_assert_str_eq(storage_scheme_to_string((StorageScheme) i), names[i]);
                cr_assert_eq(storage_scheme_from_string(names[i]), (StorageScheme) i);
        }
}

Test(storage_scheme, string_table_invalid)
{
        cr_assert_lt(storage_scheme_from_string("http"), 0);
        cr_assert_lt(storage_scheme_from_string("NFS"), 0);
        cr_assert_lt(storage_scheme_from_string(""), 0);
        cr_assert_lt(storage_scheme_from_string(NULL), 0);
        cr_assert_eq(storage_scheme_from_string("nfs://"), _STORAGE_SCHEME_INVALID);
        cr_assert_null(storage_scheme_to_string(_STORAGE_SCHEME_MAX));
        cr_assert_null(storage_scheme_to_string(_STORAGE_SCHEME_INVALID));
        cr_assert_null(storage_scheme_to_string((StorageScheme) 100));
}
