/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any bytes as /etc/zones/NAME.xml, peeked at as the restarter does (zone-peek.h):
 * refused or read without crashing, and whatever the whole reader accepts the peek
 * reads the same: the zone's name, brand, autoboot and suspend image. */
#include <stdint.h>

#include "zone-config.h"
#include "zone-peek.h"
#include "zone-qemu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *want = NULL, *got = NULL;
        _cleanup_(zone_peek_done) ZonePeek p = {}, root_only = {};
        int r_peek, r_want, r_got;

        r_peek = zone_peek((const char *) data, size, ZONE_PEEK_SUSPEND, &p);
        if (zone_peek((const char *) data, size, 0, &root_only) >= 0 && r_peek >= 0 &&
            (!streq_ptr(root_only.name, p.name) || !streq_ptr(root_only.brand, p.brand) ||
             root_only.autoboot != p.autoboot))
                abort(); /* the zone element reads the same either way */
        if (zone_config_from_xml((const char *) data, size, "fuzz.xml", 0, &c, NULL) < 0)
                return 0;
        if (r_peek < 0)
                abort(); /* a configuration the restarter would not see */
        if (!streq_ptr(p.name, zone_config_name(c)) || !streq_ptr(p.brand, zone_config_brand(c)) ||
            p.autoboot != streq_ptr(zone_resource_get(c->root, "autoboot"), "true"))
                abort();
        r_want = zone_suspend_image_path(c, "/root", &want);
        r_got = zone_peek_suspend_image(&p, "/root", &got);
        if (r_want != r_got || (r_want == 0 && !streq(want, got)))
                abort();
        return 0;
}
