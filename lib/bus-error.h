/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* The kzones D-Bus error names, each with the errno it maps to (one table,
 * registered with sd_bus_error_add_map() by every daemon and client). */
#define KZ_ERROR_ZONE_NOT_FOUND "org.kzones.Error.ZoneNotFound"
#define KZ_ERROR_WRONG_STATE "org.kzones.Error.WrongState"
#define KZ_ERROR_INVALID_CONFIGURATION "org.kzones.Error.InvalidConfiguration"
#define KZ_ERROR_BUSY "org.kzones.Error.Busy"
#define KZ_ERROR_BOOT_FAILED "org.kzones.Error.BootFailed"
#define KZ_ERROR_STORAGE "org.kzones.Error.StorageError"
#define KZ_ERROR_TIMEOUT "org.kzones.Error.Timeout"
#define KZ_ERROR_NO_SYSTEMD "org.kzones.Error.NoSystemd"
#define KZ_ERROR_IN_USE "org.kzones.Error.InUse"
#define KZ_ERROR_UNAVAILABLE "org.kzones.Error.Unavailable"
#define KZ_ERROR_POOL_NOT_FOUND "org.kzones.Error.PoolNotFound"
#define KZ_ERROR_CANCELLED "org.kzones.Error.Cancelled"
#define KZ_ERROR_NOT_CANCELLABLE "org.kzones.Error.NotCancellable"
#define KZ_ERROR_JOB_NOT_FOUND "org.kzones.Error.JobNotFound"
#define KZ_ERROR_TOO_MANY_JOBS "org.kzones.Error.TooManyJobs"
#define KZ_ERROR_MIGRATION_NOT_FOUND "org.kzones.Error.MigrationNotFound"
#define KZ_ERROR_MIGRATION_EXISTS "org.kzones.Error.MigrationExists"
#define KZ_ERROR_CIPHER_NOT_SUPPORTED "org.kzones.Error.CipherNotSupported"
#define KZ_ERROR_TOO_MANY_MIGRATIONS "org.kzones.Error.TooManyMigrations"
#define KZ_ERROR_MAINTENANCE "org.kzones.Error.Maintenance"
#define KZ_ERROR_NO_EVACUATION "org.kzones.Error.NoEvacuation"
#define KZ_ERROR_LIVE_CONFIG_CHANGED "org.kzones.Error.LiveConfigChanged"

extern const sd_bus_error_map kz_bus_error_map[];

/* Registers the map; safe to call more than once. */
int kz_bus_error_map_register(void);
