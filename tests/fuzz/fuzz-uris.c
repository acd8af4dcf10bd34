/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any bytes as a remote host URI (first byte 0) or a storage URI (otherwise):
 * the parsers never crash, and what they accept is well-formed: a remote host
 * turned back into "[USER@]HOST[:PORT]" parses to the same host, user and port. */
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "remote.h"
#include "storage-uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void remote(const char *s)
{
        RemoteUri u = {}, back = {};
        _cleanup_free_ char *bus_host = NULL, *again = NULL;
        const char *why = NULL;

        if (remote_uri_parse(s, &u, &why) < 0) {
                if (!why || u.host || u.user)
                        abort();
                return;
        }
        if (!u.host || strpbrk(u.host, "@/ \n") || (u.user && strpbrk(u.user, "@:/ \n")))
                abort();
        bus_host = remote_uri_to_bus_host(&u);
        if (!bus_host || asprintf(&again, "ssh://%s", bus_host) < 0)
                abort();
        if (remote_uri_parse(again, &back, &why) < 0 || !streq(back.host, u.host) || back.port != u.port ||
            !streq_ptr(back.user, u.user))
                abort();
        remote_uri_done(&u);
        remote_uri_done(&back);
}

static void storage(const char *s)
{
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        const char *why = NULL;

        if (storage_uri_parse(s, &u, &why) < 0) {
                if (u)
                        abort();
                return;
        }
        if (!u || u->scheme < 0 || u->scheme >= _STORAGE_SCHEME_MAX)
                abort();
        /* a local path is absolute and cannot climb out of where it points (dev: out of /dev) */
        if ((u->scheme == STORAGE_DEV || u->scheme == STORAGE_FILE) &&
            (!u->path || u->path[0] != '/' || strstr(u->path, "/../") ||
             (strlen(u->path) >= 3 && streq(u->path + strlen(u->path) - 3, "/.."))))
                abort();
        if (u->scheme == STORAGE_DEV && strncmp(u->path, "/dev/", 5) != 0)
                abort();
        (void) storage_uri_is_shared(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *s = NULL;

        if (size < 1 || size > 8192)
                return 0;
        s = strndup((const char *) data + 1, size - 1);
        if (!s)
                return 0;
        if (data[0] == 0)
                remote(s);
        else
                storage(s);
        return 0;
}
