/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "bus-error.h"

const sd_bus_error_map kz_bus_error_map[] = {
        SD_BUS_ERROR_MAP(KZ_ERROR_ZONE_NOT_FOUND, ENOENT),
        SD_BUS_ERROR_MAP(KZ_ERROR_WRONG_STATE, EBUSY),
        SD_BUS_ERROR_MAP(KZ_ERROR_INVALID_CONFIGURATION, EINVAL),
        SD_BUS_ERROR_MAP(KZ_ERROR_BUSY, EAGAIN),
        SD_BUS_ERROR_MAP(KZ_ERROR_BOOT_FAILED, EIO),
        SD_BUS_ERROR_MAP(KZ_ERROR_STORAGE, ENODEV),
        SD_BUS_ERROR_MAP(KZ_ERROR_TIMEOUT, ETIMEDOUT),
        SD_BUS_ERROR_MAP(KZ_ERROR_NO_SYSTEMD, EHOSTDOWN),
        SD_BUS_ERROR_MAP(KZ_ERROR_IN_USE, EADDRINUSE),
        SD_BUS_ERROR_MAP(KZ_ERROR_UNAVAILABLE, EKEYREJECTED),
        SD_BUS_ERROR_MAP(KZ_ERROR_POOL_NOT_FOUND, ENXIO),
        SD_BUS_ERROR_MAP_END,
};

int kz_bus_error_map_register(void)
{
        return sd_bus_error_add_map(kz_bus_error_map);
}
