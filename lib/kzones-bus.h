/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every D-Bus name kzones speaks: its own services' bus names, object paths
 * and interfaces, and the systemd names the daemons call. The CLIs, the
 * services and the tests take them from here (the Python tests read this
 * file, see tests/kzbus.py), so a name is written out once.
 *
 * Object paths of many objects are PREFIX/ENCODED, built with
 * sd_bus_path_encode(PREFIX, name, &path).
 */

/* org.kzones.Restarter1: zones (bus-interfaces/org.kzones.Restarter1.*.xml) */
#define RESTARTER_BUS_NAME "org.kzones.Restarter1"
#define RESTARTER_PATH "/org/kzones/Restarter1"
#define RESTARTER_ZONE_PREFIX "/org/kzones/Restarter1/zone"
#define RESTARTER_JOB_PREFIX "/org/kzones/Restarter1/job"
#define RESTARTER_MANAGER_IFACE "org.kzones.Restarter1.Manager"
#define RESTARTER_ZONE_IFACE "org.kzones.Restarter1.Zone"
#define RESTARTER_JOB_IFACE "org.kzones.Restarter1.Job"

/* org.kzones.MemoryReserve1: memory reservation pools */
#define MEMORY_RESERVE_BUS_NAME "org.kzones.MemoryReserve1"
#define MEMORY_RESERVE_PATH "/org/kzones/MemoryReserve1"
#define MEMORY_RESERVE_POOL_PREFIX "/org/kzones/MemoryReserve1/pool"
#define MEMORY_RESERVE_MANAGER_IFACE "org.kzones.MemoryReserve1.Manager"
#define MEMORY_RESERVE_POOL_IFACE "org.kzones.MemoryReserve1.Pool"

/* org.kzones.Migration1: kz-migr, the migration stream on port 8102 */
#define MIGRATION_BUS_NAME "org.kzones.Migration1"
#define MIGRATION_PATH "/org/kzones/Migration1"
#define MIGRATION_JOB_PREFIX "/org/kzones/Migration1/job"
#define MIGRATION_MANAGER_IFACE "org.kzones.Migration1.Manager"
#define MIGRATION_JOB_IFACE "org.kzones.Migration1.Job"

/* org.kzones.Evacuation1: kzones-evacuated, the evacuation engine */
#define EVACUATION_BUS_NAME "org.kzones.Evacuation1"
#define EVACUATION_PATH "/org/kzones/Evacuation1"
#define EVACUATION_JOB_PREFIX "/org/kzones/Evacuation1/job"
#define EVACUATION_MANAGER_IFACE "org.kzones.Evacuation1.Manager"
#define EVACUATION_JOB_IFACE "org.kzones.Evacuation1.Job"

/* systemd (org.freedesktop.systemd1(5)), which runs zone@NAME.service */
#define SYSTEMD_BUS "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"
#define SYSTEMD_JOB_PREFIX "/org/freedesktop/systemd1/job"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SYSTEMD_SERVICE_IFACE "org.freedesktop.systemd1.Service"

/* The bus itself */
#define DBUS_BUS_NAME "org.freedesktop.DBus"
#define DBUS_PATH "/org/freedesktop/DBus"
#define DBUS_IFACE "org.freedesktop.DBus"
#define DBUS_PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
