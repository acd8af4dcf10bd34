/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any bytes as a zonecfg command file, run against a scratch store: the
 * interpreter never crashes, and whatever it commits loads back. */
#include <stdint.h>
#include <sys/stat.h>

#include "zone-store.h"
#include "zonecfg-cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(zonecfg_freep) Zonecfg *z = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        const char *root = getenv("KZ_FUZZ_ROOT");
        FILE *devnull;
        ZonecfgOptions o = {};
        KzError e = {};
        char *save = NULL;
        unsigned lineno = 0;
        int r = 0;

        if (!root || size > 16384)
                return 0;
        text = strndup((const char *) data, size);
        if (!text)
                return 0;
        devnull = fopen("/dev/null", "we");
        if (!devnull)
                abort();
        o = (ZonecfgOptions) { .root = root, .zonename = "fz", .mode = ZONECFG_FILE, .out = devnull, .err = devnull };
        if (zonecfg_new(&o, &z) >= 0) {
                for (char *line = strtok_r(text, "\n", &save); line && r >= 0 && r != ZONECFG_EXIT;
                     line = strtok_r(NULL, "\n", &save))
                        r = zonecfg_run_line(z, line, ++lineno);
                if (r >= 0 && r != ZONECFG_EXIT)
                        (void) zonecfg_finish(z);
        }
        (void) fclose(devnull);
        /* Whatever is in the store must load (or be absent). */
        r = zone_store_load(root, "fz", &c, &e);
        if (r < 0 && r != -ENOENT)
                abort();
        return 0;
}
