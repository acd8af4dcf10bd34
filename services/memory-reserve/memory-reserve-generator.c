/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-memory-reserve-generator: a systemd generator (systemd.generator(7)). Every
 * zone with capped-memory:memory-reserve=POOL gets a drop-in,
 * zone@NAME.service.d/50-memory-reserve.conf, that makes its unit want and start after
 * memory-reserve@POOL.service: at boot the pool is reserved before the zone starts,
 * and starting the zone starts its pool. systemd runs it at boot and on every reload;
 * the restarter asks for a reload before it boots a zone whose pool changed since. */
#include <sys/stat.h>

#include "zone-qemu.h"
#include "zone-store.h"

static int write_dropin(const char *dir, const char *name, const char *content)
{
        _cleanup_free_ char *d = NULL, *path = NULL;

        if (asprintf(&d, "%s/zone@%s.service.d", dir, name) < 0 || asprintf(&path, "%s/" ZONE_POOL_DROPIN, d) < 0)
                return -ENOMEM;
        if (mkdir(d, 0755) < 0 && errno != EEXIST)
                return -errno;
        return write_file_atomic(path, content, strlen(content), 0644);
}

int main(int argc, char *argv[])
{
        const char *root = getenv("KZONES_ROOT") ?: "";
        ZoneIndexEntry *l = NULL;
        size_t n = 0;
        KzError e = {};
        int r, ret = 0;

        if (argc != 2 && argc != 4) {
                fprintf(stderr, "kzones-memory-reserve-generator: expected NORMAL [EARLY LATE] directories\n");
                return 1;
        }
        r = zone_index_read(root, &l, &n, &e);
        if (r < 0) {
                fprintf(stderr, "kzones-memory-reserve-generator: %s\n", kz_error_message(&e, r));
                return 0; /* a broken index must not break the boot */
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
                _cleanup_free_ char *content = NULL;
                KzError le = {};

                r = zone_store_load(root, l[i].name, &c, &le);
                if (r < 0) {
                        fprintf(stderr, "kzones-memory-reserve-generator: zone '%s': %s\n", l[i].name,
                                kz_error_message(&le, r));
                        continue;
                }
                r = zone_pool_dropin(c, KZONES_LIBEXECDIR, &content);
                if (r >= 0 && content)
                        r = write_dropin(argv[1], l[i].name, content);
                if (r < 0) {
                        fprintf(stderr, "kzones-memory-reserve-generator: zone '%s': %s\n", l[i].name, strerror(-r));
                        ret = 1;
                }
        }
        zone_index_free(l, n);
        return ret;
}
