/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>

#include "macro.h"
#include "storage-uri.h"

static const char *const storage_scheme_table[_STORAGE_SCHEME_MAX] = {
        [STORAGE_DEV] = "dev",
        [STORAGE_FILE] = "file",
        [STORAGE_NFS] = "nfs",
        [STORAGE_ISCSI] = "iscsi",
        [STORAGE_NBD] = "nbd",
};

DEFINE_STRING_TABLE(storage_scheme, StorageScheme, _STORAGE_SCHEME_MAX)

#define URI_MAX 4096

StorageUri *storage_uri_free(StorageUri *u)
{
        if (!u)
                return NULL;
        free(u->host);
        free(u->user);
        free(u->group);
        free(u->path);
        free(u->luname);
        free(u->target);
        free(u);
        return NULL;
}

bool storage_uri_is_shared(const StorageUri *u)
{
        switch (u->scheme) {
        case STORAGE_NFS:
        case STORAGE_ISCSI:
        case STORAGE_NBD:
                return true;
        case STORAGE_DEV:
        case STORAGE_FILE:
        case _STORAGE_SCHEME_MAX:
        case _STORAGE_SCHEME_INVALID:
                return false;
        }
        return false;
}

uint16_t storage_uri_default_port(StorageScheme s)
{
        switch (s) {
        case STORAGE_NFS:
                return 2049;
        case STORAGE_ISCSI:
                return 3260;
        case STORAGE_NBD:
                return 10809;
        case STORAGE_DEV:
        case STORAGE_FILE:
        case _STORAGE_SCHEME_MAX:
        case _STORAGE_SCHEME_INVALID:
                return 0;
        }
        return 0;
}

/* A path is acceptable if it is absolute, has no empty, "." or ".." component and no
 * control characters. */
static bool path_is_clean(const char *p)
{
        if (p[0] != '/')
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return false;
        for (const char *c = p; *c;) {
                const char *e;
                size_t n;

                c++; /* skip the slash */
                e = strchrnul(c, '/');
                n = (size_t) (e - c);
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c = e;
        }
        return true;
}

static bool hostname_is_valid(const char *h)
{
        size_t n = strlen(h);

        if (n == 0 || n > 253)
                return false;
        if (h[0] == '[') { /* IPv6 literal */
                if (h[n - 1] != ']' || n < 4)
                        return false;
                for (size_t i = 1; i < n - 1; i++)
                        if (!isxdigit((unsigned char) h[i]) && h[i] != ':' && h[i] != '.')
                                return false;
                return true;
        }
        for (const char *c = h; *c; c++)
                if (!isalnum((unsigned char) *c) && *c != '-' && *c != '.' && *c != '_')
                        return false;
        return h[0] != '-' && h[0] != '.';
}

static bool name_is_valid(const char *s)
{
        if (isempty(s) || strlen(s) > 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_' && *c != '.')
                        return false;
        return true;
}

/* Splits "HOST[:PORT]" (HOST may be "[v6]") from an authority. */
static int parse_hostport(const char *a, size_t n, bool allow_empty, char **ret_host, uint16_t *ret_port,
                const char **reason)
{
        _cleanup_free_ char *host = NULL;
        const char *colon = NULL;
        unsigned long port = 0;

        if (n == 0) {
                if (!allow_empty) {
                        *reason = "a host name is required";
                        return -EINVAL;
                }
                *ret_host = NULL;
                *ret_port = 0;
                return 0;
        }
        if (a[0] == '[') {
                const char *rb = memchr(a, ']', n);
                if (!rb) {
                        *reason = "an IPv6 address must be enclosed in square brackets";
                        return -EINVAL;
                }
                if ((size_t) (rb - a) + 1 < n) {
                        if (rb[1] != ':') {
                                *reason = "garbage after the host name";
                                return -EINVAL;
                        }
                        colon = rb + 1;
                }
        } else
                colon = memchr(a, ':', n);

        host = strndup(a, colon ? (size_t) (colon - a) : n);
        if (!host)
                return -ENOMEM;
        if (!hostname_is_valid(host)) {
                *reason = "the host name is not valid";
                return -EINVAL;
        }
        if (colon) {
                const char *p = colon + 1, *end = a + n;
                if (p == end) {
                        *reason = "the port is empty";
                        return -EINVAL;
                }
                for (; p < end; p++) {
                        if (!isdigit((unsigned char) *p) || port > 65535) {
                                *reason = "the port is not a number between 1 and 65535";
                                return -EINVAL;
                        }
                        port = port * 10 + (unsigned long) (*p - '0');
                }
                if (port < 1 || port > 65535) {
                        *reason = "the port is not a number between 1 and 65535";
                        return -EINVAL;
                }
        }
        *ret_host = TAKE_PTR(host);
        *ret_port = (uint16_t) port;
        return 0;
}

static int parse_iscsi_path(StorageUri *u, const char *p, const char **reason)
{
        if (strncmp(p, "luname.", 7) == 0) {
                const char *id = p + 7;
                if (strncmp(id, "naa.", 4) != 0 && strncmp(id, "eui.", 4) != 0) {
                        *reason = "an iSCSI LU name must be luname.naa.ID or luname.eui.ID";
                        return -EINVAL;
                }
                if (strlen(id + 4) < 16 || strlen(id + 4) > 32) {
                        *reason = "an iSCSI LU name ID has 16 to 32 hexadecimal digits";
                        return -EINVAL;
                }
                for (const char *c = id + 4; *c; c++)
                        if (!isxdigit((unsigned char) *c)) {
                                *reason = "an iSCSI LU name ID has 16 to 32 hexadecimal digits";
                                return -EINVAL;
                        }
                u->luname = strdup(id);
                return u->luname ? 0 : -ENOMEM;
        }
        if (strncmp(p, "target.", 7) == 0) {
                const char *t = p + 7, *comma = strchr(t, ',');
                unsigned long lun = 0;

                if (!comma || strncmp(comma, ",lun.", 5) != 0 || !comma[5]) {
                        *reason = "an iSCSI target URI ends in ,lun.N";
                        return -EINVAL;
                }
                if (!u->host) {
                        *reason = "an iSCSI target URI needs a host";
                        return -EINVAL;
                }
                for (const char *c = comma + 5; *c; c++) {
                        if (!isdigit((unsigned char) *c) || lun > 16383) {
                                *reason = "the iSCSI LUN is not a number between 0 and 16383";
                                return -EINVAL;
                        }
                        lun = lun * 10 + (unsigned long) (*c - '0');
                }
                if (lun > 16383) {
                        *reason = "the iSCSI LUN is not a number between 0 and 16383";
                        return -EINVAL;
                }
                u->target = strndup(t, (size_t) (comma - t));
                if (!u->target)
                        return -ENOMEM;
                if (strncmp(u->target, "iqn.", 4) != 0 && strncmp(u->target, "eui.", 4) != 0) {
                        *reason = "an iSCSI target name starts with iqn. or eui.";
                        return -EINVAL;
                }
                for (const char *c = u->target; *c; c++)
                        if (!isalnum((unsigned char) *c) && !strchr(".-:", *c)) {
                                *reason = "the iSCSI target name has characters that are not allowed";
                                return -EINVAL;
                        }
                u->lun = (unsigned) lun;
                return 0;
        }
        *reason = "an iSCSI URI names luname.naa.ID or target.IQN,lun.N";
        return -EINVAL;
}

int storage_uri_parse(const char *s, StorageUri **ret, const char **ret_reason)
{
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        const char *reason = NULL, *rest;
        int r;

        if (!ret_reason)
                ret_reason = &reason;
        if (isempty(s)) {
                *ret_reason = "the storage URI is empty";
                return -EINVAL;
        }
        if (strlen(s) > URI_MAX) {
                *ret_reason = "the storage URI is too long";
                return -EINVAL;
        }
        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;

        if (strncmp(s, "dev:", 4) == 0) {
                u->scheme = STORAGE_DEV;
                rest = s + 4;
                if (strncmp(rest, "//", 2) == 0) {
                        *ret_reason = "a dev: URI is dev:/dev/PATH or dev:PATH, without //";
                        return -EINVAL;
                }
                if (rest[0] == '/') {
                        if (strncmp(rest, "/dev/", 5) != 0) {
                                *ret_reason = "a dev: URI names a device under /dev";
                                return -EINVAL;
                        }
                        u->path = strdup(rest);
                } else if (asprintf(&u->path, "/dev/%s", rest) < 0)
                        u->path = NULL;
                if (!u->path)
                        return -ENOMEM;
                if (!path_is_clean(u->path) || streq(u->path, "/dev")) {
                        *ret_reason = "the device path is not a clean path under /dev";
                        return -EINVAL;
                }
        } else if (strncmp(s, "file://", 7) == 0) {
                u->scheme = STORAGE_FILE;
                rest = s + 7;
                if (rest[0] != '/') {
                        *ret_reason = "a file URI is file:///ABSOLUTE/PATH (a local file, no host)";
                        return -EINVAL;
                }
                if (!path_is_clean(rest)) {
                        *ret_reason = "the file path has an empty, '.' or '..' component";
                        return -EINVAL;
                }
                u->path = strdup(rest);
                if (!u->path)
                        return -ENOMEM;
        } else if (strncmp(s, "nfs://", 6) == 0) {
                const char *at, *slash, *colon, *base;

                u->scheme = STORAGE_NFS;
                rest = s + 6;
                slash = strchr(rest, '/');
                at = memchr(rest, '@', slash ? (size_t) (slash - rest) : strlen(rest));
                if (!at) {
                        *ret_reason = "an NFS URI is nfs://USER:GROUP@HOST[:PORT]/PATH/FILE";
                        return -EINVAL;
                }
                colon = memchr(rest, ':', (size_t) (at - rest));
                if (!colon) {
                        *ret_reason = "an NFS URI names both a user and a group (USER:GROUP@)";
                        return -EINVAL;
                }
                u->user = strndup(rest, (size_t) (colon - rest));
                u->group = strndup(colon + 1, (size_t) (at - colon - 1));
                if (!u->user || !u->group)
                        return -ENOMEM;
                if (!name_is_valid(u->user) || !name_is_valid(u->group)) {
                        *ret_reason = "the NFS user or group is not a valid name or id";
                        return -EINVAL;
                }
                if (!slash) {
                        *ret_reason = "an NFS URI needs a path to a file on the export";
                        return -EINVAL;
                }
                r = parse_hostport(at + 1, (size_t) (slash - at - 1), false, &u->host, &u->port, ret_reason);
                if (r < 0)
                        return r;
                if (!path_is_clean(slash)) {
                        *ret_reason = "the NFS path has an empty, '.' or '..' component";
                        return -EINVAL;
                }
                base = strrchr(slash, '/');
                if (base == slash) {
                        *ret_reason = "an NFS URI names a file inside an exported directory";
                        return -EINVAL;
                }
                u->path = strdup(slash);
                if (!u->path)
                        return -ENOMEM;
        } else if (strncmp(s, "iscsi://", 8) == 0) {
                const char *slash;

                u->scheme = STORAGE_ISCSI;
                rest = s + 8;
                slash = strchr(rest, '/');
                if (!slash) {
                        *ret_reason = "an iSCSI URI is iscsi://[HOST[:PORT]]/luname.naa.ID";
                        return -EINVAL;
                }
                r = parse_hostport(rest, (size_t) (slash - rest), true, &u->host, &u->port, ret_reason);
                if (r < 0)
                        return r;
                r = parse_iscsi_path(u, slash + 1, ret_reason);
                if (r < 0)
                        return r;
        } else if (strncmp(s, "nbd://", 6) == 0) {
                const char *slash;

                u->scheme = STORAGE_NBD;
                rest = s + 6;
                slash = strchr(rest, '/');
                if (!slash || !slash[1]) {
                        *ret_reason = "an NBD URI is nbd://HOST[:PORT]/EXPORT";
                        return -EINVAL;
                }
                r = parse_hostport(rest, (size_t) (slash - rest), false, &u->host, &u->port, ret_reason);
                if (r < 0)
                        return r;
                for (const char *c = slash + 1; *c; c++)
                        if ((unsigned char) *c <= 0x20 || *c == 0x7f) {
                                *ret_reason = "the NBD export name has spaces or control characters";
                                return -EINVAL;
                        }
                u->path = strdup(slash + 1);
                if (!u->path)
                        return -ENOMEM;
        } else {
                *ret_reason = "unknown storage URI type (use dev:, file://, nfs://, iscsi:// or nbd://)";
                return -EINVAL;
        }

        if (ret)
                *ret = TAKE_PTR(u);
        return 0;
}
