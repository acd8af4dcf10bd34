/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A zone's disks and NICs as QEMU gets them from root: a device's local storage
 * opened, an anet's tap or macvtap made. The launcher does it for every one before
 * it becomes QEMU (launch.c, confine.c); kzones-zone reconfigure for one that is
 * added to the running zone (reconfigure-dev.c). Both say the same when it fails. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage-uri.h"
#include "zone-net.h"
#include "zone.h"

int device_open_storage(const ZoneConfig *c, const ZoneResource *d, int *ret_fd, KzError *e)
{
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = zone_config_expand(c, d, zone_resource_get(d, "storage"));
        _cleanup_close_ int fd = -EBADF;
        const char *id = zone_resource_get(d, "id") ?: "0";
        struct stat st;

        if (!uri)
                return -ENOMEM;
        if (storage_uri_parse(uri, &u, NULL) < 0)
                return kz_error_set(e, EINVAL, "device %s: %s is not a valid storage URI.", id, uri);
        if (u->scheme != STORAGE_FILE && u->scheme != STORAGE_DEV) {
                *ret_fd = -EBADF;
                return 0;
        }
        fd = open(u->path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0 && errno == EROFS)
                return kz_error_set(e, EROFS, "device %s: cannot open %s: %m. zone@.service may write only where "
                        "zones keep their data (ReadWritePaths=, see kzones-restarterd(8)); add the disk's "
                        "directory to ReadWritePaths= of zone@.service and kzones-restarterd.service.", id,
                        u->path);
        if (fd < 0)
                return kz_error_set(e, errno, "device %s: cannot open %s: %m.", id, u->path);
        if (fstat(fd, &st) < 0)
                return kz_error_set(e, errno, "device %s: cannot stat %s: %m.", id, u->path);
        if (u->scheme == STORAGE_FILE && !S_ISREG(st.st_mode))
                return kz_error_set(e, EINVAL, "device %s: %s is not a regular file.", id, u->path);
        if (u->scheme == STORAGE_DEV && !S_ISBLK(st.st_mode))
                return kz_error_set(e, EINVAL, "device %s: %s is not a block device.", id, u->path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int anet_make(const char *name, const ZoneConfig *c, const ZoneResource *anet, const char *default_link,
                const char *rundir, KzError *e)
{
        ZoneLowerLink l;
        char mac[18];
        int fd, r;

        zone_anet_mac(c, anet, mac);
        r = zone_anet_lower_link(anet, default_link, &l, e);
        if (r < 0)
                return r;
        fd = zone_anet_open(name, anet, &l, mac, rundir, e);
        if (fd < 0)
                return fd;
        fprintf(stderr, "zone '%s': anet %s: %s on %s%s, MAC %s\n", name, zone_resource_get(anet, "id") ?: "0",
                l.kind == ZONE_LINK_BRIDGE ? "a tap" : "a macvtap", l.name,
                !l.automatic ? "" : default_link ? " (DefaultLowerLink=)" : " (the default route's link)", mac);
        return fd;
}
