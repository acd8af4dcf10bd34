/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any bytes as /etc/zones/NAME.xml: the reader refuses or accepts without crashing,
 * and whatever it accepts writes back to XML that reads back as the same
 * configuration. */
#include <stdint.h>

#include "zone-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL, *again = NULL;
        _cleanup_free_ char *xml = NULL;
        size_t n;
        KzError e = {};

        if (zone_config_from_xml((const char *) data, size, "fuzz.xml", 0, &c, &e) < 0)
                return 0;
        if (zone_config_to_xml(c, &xml, &n, &e) < 0)
                abort(); /* accepted on read, refused on write */
        if (zone_config_from_xml(xml, n, "fuzz-again.xml", 0, &again, &e) < 0)
                abort();
        if (!zone_resource_equal(c->root, again->root))
                abort();
        return 0;
}
