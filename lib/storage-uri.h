/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Storage URIs, as Solaris suri(7) names them, for zone disks and suspend images:
 *   dev:/dev/PATH  (or dev:PATH, relative to /dev)   a local block device
 *   file:///PATH                                     a local file
 *   nfs://USER:GROUP@HOST[:PORT]/EXPORT/FILE          a file on an NFS export
 *   iscsi://[HOST[:PORT]]/luname.naa.ID               an iSCSI LU by its name
 *   iscsi://HOST[:PORT]/target.IQN,lun.N              an iSCSI LU by target and number
 *   nbd://HOST[:PORT]/EXPORT                          an NBD export
 * HOST may be an IPv6 address in brackets. */
typedef enum StorageScheme {
        STORAGE_DEV,
        STORAGE_FILE,
        STORAGE_NFS,
        STORAGE_ISCSI,
        STORAGE_NBD,
        _STORAGE_SCHEME_MAX,
        _STORAGE_SCHEME_INVALID = -22,
} StorageScheme;

typedef struct StorageUri {
        StorageScheme scheme;
        char *host;   /* nfs, nbd, iscsi (NULL: discovered by LU name) */
        uint16_t port; /* 0: the protocol's default */
        char *user;   /* nfs */
        char *group;  /* nfs */
        char *path;   /* dev, file: absolute path; nfs: /export/.../file; nbd: export name */
        char *luname; /* iscsi: "naa.600144F0…" */
        char *target; /* iscsi: "iqn.…" */
        unsigned lun; /* iscsi, with target */
} StorageUri;

const char *storage_scheme_to_string(StorageScheme s);
StorageScheme storage_scheme_from_string(const char *s);

/* Parses and checks a storage URI. On failure returns -EINVAL and, if ret_reason is
 * given, a static string saying what is wrong. */
int storage_uri_parse(const char *s, StorageUri **ret, const char **ret_reason);
StorageUri *storage_uri_free(StorageUri *u);

/* Is this storage reachable under the same URI from every host that can reach it at
 * all? nfs, iscsi and nbd are; dev: and file:// name something local to one host. */
bool storage_uri_is_shared(const StorageUri *u);

/* The default port of the URI's protocol (2049, 3260, 10809), 0 for local storage. */
uint16_t storage_uri_default_port(StorageScheme s);

static inline void storage_uri_freep(StorageUri **u)
{
        if (*u)
                *u = storage_uri_free(*u);
}
