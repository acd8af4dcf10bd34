/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PLACEHOLDER until the hotplug branch's reconfigure-dev.c is merged (it replaces
 * this file): anet and device changes of a running zone are not available yet. */
#include <errno.h>

#include "reconfigure.h"

int reconfigure_device_add(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *device,
                KzError *e)
{
        return kz_error_set(e, EOPNOTSUPP, "not available yet");
}

int reconfigure_device_remove(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *device,
                KzError *e)
{
        return kz_error_set(e, EOPNOTSUPP, "not available yet");
}

int reconfigure_anet_add(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *anet, KzError *e)
{
        return kz_error_set(e, EOPNOTSUPP, "not available yet");
}

int reconfigure_anet_remove(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *anet,
                KzError *e)
{
        return kz_error_set(e, EOPNOTSUPP, "not available yet");
}
