/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live configuration at launch: what QEMU is started with, as
 * /run/kzones/NAME/live.xml (generation 1), which the restarter alone changes
 * afterwards (zone-live.h). A boot starts from the persistent configuration again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zone-live.h"
#include "zone.h"

int live_config_write(const char *name, const char *rundir, const ZoneConfig *c)
{
        _cleanup_free_ char *xml = NULL, *path = NULL, *gen = NULL, *next = NULL, *mark = NULL;
        size_t size;
        KzError e = {};
        int r;

        if (asprintf(&path, "%s/" ZONE_LIVE_CONFIG, rundir) < 0 || asprintf(&gen, "%s/" ZONE_LIVE_GENERATION, rundir) < 0 ||
            asprintf(&next, "%s/" ZONE_LIVE_NEXT, rundir) < 0 || asprintf(&mark, "%s/" ZONE_LIVE_RESHAPED, rundir) < 0)
                return -ENOMEM;
        (void) unlink(next); /* an earlier run's */
        if (unlink(mark) < 0 && errno != ENOENT)
                return failure(name, "cannot remove %s: %s.", mark, strerror(errno));
        r = zone_config_to_xml(c, &xml, &size, &e);
        if (r >= 0)
                r = write_file_atomic(path, xml, size, 0600);
        if (r >= 0)
                r = write_file_atomic(gen, "1\n", 2, 0600);
        if (r < 0)
                return failure(name, "cannot write the zone's live configuration: %s.", kz_error_message(&e, r));
        return 0;
}

bool live_config_reshaped(const char *name)
{
        _cleanup_free_ char *dir = run_dir(name), *mark = NULL;

        if (!dir || asprintf(&mark, "%s/" ZONE_LIVE_RESHAPED, dir) < 0)
                return true;
        return access(mark, F_OK) >= 0;
}

/* ExecStopPost: the zone is down, and what ran is no longer anybody's live configuration */
void live_config_remove(const char *name)
{
        static const char *const files[] = { ZONE_LIVE_CONFIG, ZONE_LIVE_GENERATION, ZONE_LIVE_NEXT,
                ZONE_LIVE_RESHAPED };
        _cleanup_free_ char *dir = run_dir(name);

        if (!dir)
                return;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", dir, files[i]) >= 0 && unlink(p) < 0 && errno != ENOENT)
                        fprintf(stderr, "zone '%s': cannot remove %s: %s\n", name, p, strerror(errno));
        }
}
