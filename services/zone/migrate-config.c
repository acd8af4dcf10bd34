/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Before anything moves, for every kind of migration: the checks (the guide's
 * "configuration check failed: …") and the destination's configuration (imported
 * when it has none, replaced with -w, else used as it is). Blocking, in the
 * migrate helpers. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bus-error.h"
#include "kzones-bus.h"
#include "migrate-config.h"
#include "size.h"
#include "storage-uri.h"
#include "strv.h"
#include "zone.h"

#define FORGET_TIMEOUT_USEC (30ull * 1000000)

static const char *const kind_table[_MIGRATE_KIND_MAX] = {
        [MIGRATE_LIVE] = "live",
        [MIGRATE_WARM] = "warm",
        [MIGRATE_COLD] = "cold",
};

const char *migrate_kind_to_string(MigrateKind k)
{
        return k >= 0 && k < _MIGRATE_KIND_MAX ? kind_table[k] : NULL;
}

MigrateKind migrate_kind_from_string(const char *s)
{
        for (MigrateKind k = 0; s && k < _MIGRATE_KIND_MAX; k++)
                if (streq(kind_table[k], s))
                        return k;
        return _MIGRATE_KIND_INVALID;
}

void migrate_step(const char *fmt, ...)
{
        va_list ap;

        fputs("step ", stdout);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static void check_failed(MigrateConfig *mc, int *failed, const char *fmt, ...) _printf_(3, 4);
static void check_failed(MigrateConfig *mc, int *failed, const char *fmt, ...)
{
        va_list ap;

        printf("zone '%s': configuration check failed: ", mc->name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        (*failed)++;
}

/* Every device, and the suspend resource's storage, under a URI both hosts reach. */
static void check_shared_storage(MigrateConfig *mc, int *failed)
{
        const ResourceType *device = resource_type_child(zone_type(), "device");
        const ZoneResource *suspend = zone_resource_first(mc->config->root, resource_type_child(zone_type(), "suspend"));

        for (size_t i = 0; i < mc->config->root->n_children; i++) {
                const ZoneResource *d = mc->config->root->children[i];
                _cleanup_(storage_uri_freep) StorageUri *u = NULL;
                _cleanup_free_ char *uri = NULL;

                if (d->type != device || !zone_resource_get(d, "storage"))
                        continue;
                uri = zone_config_expand(mc->config, d, zone_resource_get(d, "storage"));
                if (!uri || storage_uri_parse(uri, &u, NULL) < 0 || !storage_uri_is_shared(u))
                        check_failed(mc, failed, "The storage property %s is not a shared storage URI.",
                                uri ?: zone_resource_get(d, "storage"));
        }
        if (mc->kind == MIGRATE_WARM && suspend && zone_resource_get(suspend, "storage")) {
                _cleanup_(storage_uri_freep) StorageUri *u = NULL;
                const char *s = zone_resource_get(suspend, "storage");

                if (storage_uri_parse(s, &u, NULL) < 0 || !storage_uri_is_shared(u))
                        check_failed(mc, failed, "The storage property %s is not a shared storage URI.", s);
        }
}

static int get_strv(sd_bus *bus, const char *property, char ***ret, sd_bus_error *error)
{
        return sd_bus_get_property_strv(bus, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, property,
                error, ret);
}

/* The guest keeps its CPU: the destination must run the zone's cpu-arch as this
 * host does (the restarters' CPU probes, /run/kzones-cpu). */
/* A restarter probes its host's CPU models for a few seconds after it starts (once a
 * boot): a destination that just booted is waited for, at most CPU_PROBE_WAIT_USEC. */
#define CPU_PROBE_WAIT_USEC (120ull * 1000000)

static void wait_for_cpu_probe(MigrateConfig *mc)
{
        uint64_t deadline = now_usec() + CPU_PROBE_WAIT_USEC;
        bool said = false;

        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *state = NULL;

                /* an older restarter has no CpuProbeState: nothing to wait for */
                if (sd_bus_get_property_string(mc->remote, RESTARTER_BUS_NAME, RESTARTER_PATH,
                            RESTARTER_MANAGER_IFACE, "CpuProbeState", &error, &state) < 0 ||
                    !streq(state, "probing") || now_usec() > deadline)
                        return;
                if (!said)
                        migrate_step("Waiting for the destination to finish probing its CPU models.");
                said = true;
                (void) usleep(500 * 1000);
        }
}

static void check_cpu(MigrateConfig *mc, int *failed)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *arch = zone_resource_get(mc->config->root, "cpu-arch");
        int r;

        wait_for_cpu_probe(mc);

        /* QEMU moves a running guest between two KVM hosts or two TCG hosts, not across */
        {
                _cleanup_free_ char *here = NULL, *there = NULL;

                r = sd_bus_get_property_string(mc->local, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                        "Accelerator", &error, &here);
                if (r >= 0)
                        r = sd_bus_get_property_string(mc->remote, RESTARTER_BUS_NAME, RESTARTER_PATH,
                                RESTARTER_MANAGER_IFACE, "Accelerator", &error, &there);
                /* an older destination without the property runs KVM */
                if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_PROPERTY)) {
                        sd_bus_error_free(&error);
                        r = 0;
                }
                if (r < 0) {
                        check_failed(mc, failed, "cannot compare the hosts' accelerators: %s",
                                error.message ?: strerror(-r));
                        return;
                }
                if (!isempty(here) && !streq(here, isempty(there) ? "kvm" : there)) {
                        check_failed(mc, failed, "the zone runs with %s here and the destination runs zones with %s "
                                "(Accelerator= in /etc/kzones/kzones.conf): a running guest cannot move between "
                                "them.", here, isempty(there) ? "kvm" : there);
                        return;
                }
        }

        if (arch && !streq(arch, "native")) {
                _cleanup_strv_free_ char **there = NULL;
                _cleanup_free_ char *list = NULL;

                r = get_strv(mc->remote, "CpuMigrationClasses", &there, &error);
                if (r < 0) {
                        check_failed(mc, failed, "cannot ask the destination which CPU models it runs: %s",
                                error.message ?: strerror(-r));
                        return;
                }
                if (!strv_contains(there, arch)) {
                        list = strv_join(there, ", ");
                        check_failed(mc, failed, "cpu-arch %s does not run on the destination (it runs: %s).", arch,
                                isempty(list) ? "none" : list);
                }
                return;
        }
        {
                _cleanup_free_ char *sig_here = NULL, *sig_there = NULL, *missing_list = NULL;
                _cleanup_strv_free_ char **here = NULL, **there = NULL, **missing = NULL;

                r = sd_bus_get_property_string(mc->local, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                        "NativeCpuSignature", &error, &sig_here);
                if (r >= 0)
                        r = get_strv(mc->local, "NativeCpuFeatures", &here, &error);
                if (r >= 0)
                        r = sd_bus_get_property_string(mc->remote, RESTARTER_BUS_NAME, RESTARTER_PATH,
                                RESTARTER_MANAGER_IFACE, "NativeCpuSignature", &error, &sig_there);
                if (r >= 0)
                        r = get_strv(mc->remote, "NativeCpuFeatures", &there, &error);
                if (r < 0) {
                        check_failed(mc, failed, "cannot compare the hosts' CPUs: %s", error.message ?: strerror(-r));
                        return;
                }
                if (isempty(sig_there)) {
                        check_failed(mc, failed, "the destination runs no native CPU model (its probe has not "
                                "finished, or failed): a zone with cpu-arch native cannot resume there.");
                        return;
                }
                for (char **f = here; f && *f; f++)
                        if (!strv_contains(there, *f) && strv_add_unique(&missing, *f) < 0)
                                return;
                if (!streq_ptr(sig_here, sig_there) || missing) {
                        missing_list = strv_join(missing, " ");
                        check_failed(mc, failed, "the zone runs the host's own CPU (cpu-arch native: %s) and the "
                                "destination's differs (%s%s%s); set cpu-arch to a migration class both hosts run "
                                "and reboot the zone first.", strna(sig_here), strna(sig_there),
                                missing ? "; it lacks " : "", missing ? strna(missing_list) : "");
                }
        }
}

static int pool_page_size(sd_bus *bus, const char *pool, uint64_t *ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_call_method(bus, MEMORY_RESERVE_BUS_NAME, MEMORY_RESERVE_PATH, MEMORY_RESERVE_MANAGER_IFACE,
                "GetPool", NULL, &reply, "s", pool);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, MEMORY_RESERVE_BUS_NAME, path, MEMORY_RESERVE_POOL_IFACE,
                        "PageSize", NULL, 't', ret);
        return r;
}

/* A zone whose memory comes from a reservation pool needs that pool on the
 * destination: reserved, active, with room, and of pages no larger than the ones
 * the guest's memory has here. */
static void check_pool(MigrateConfig *mc, int *failed)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const ZoneResource *cm = zone_resource_first(mc->config->root, resource_type_child(zone_type(), "capped-memory"));
        const char *pool = zone_resource_get(cm, "memory-reserve"), *reason;
        uint64_t here = 0, there = 0;
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        int possible, r;

        if (!pool)
                return;
        if (pool_page_size(mc->local, pool, &here) < 0)
                (void) size_parse(zone_resource_get(cm, "pagesize") ?: "0", &here);
        r = sd_bus_call_method(mc->remote, MEMORY_RESERVE_BUS_NAME, MEMORY_RESERVE_PATH, MEMORY_RESERVE_MANAGER_IFACE,
                "CanHost", &error, &reply, "stt", pool, here, zone_memory_bytes(mc->config));
        if (r >= 0)
                r = sd_bus_message_read(reply, "bs", &possible, &reason);
        if (r < 0) {
                check_failed(mc, failed, "cannot ask the destination's memory-reserve service about pool '%s': %s",
                        pool, error.message ?: strerror(-r));
                return;
        }
        if (!possible) {
                check_failed(mc, failed, "on the destination, %s.", reason);
                return;
        }
        if (here > 0 && pool_page_size(mc->remote, pool, &there) >= 0 && there > here)
                check_failed(mc, failed, "on the destination, memory reservation pool '%s' has %s pages, larger than "
                        "the %s pages the zone's memory has here.", pool, size_format(there, a, sizeof(a)),
                        size_format(here, b, sizeof(b)));
        /* the memory region for live resizing is plugged in blocks of the pool's page size
         * (zone_vmem_block()): the destination builds the same device, or the stream is refused */
        else if (zone_vmem_region(mc->config) > 0 && here > 0 && there > 0 &&
                 (here > ZONE_VMEM_BLOCK || there > ZONE_VMEM_BLOCK) && here != there)
                check_failed(mc, failed, "on the destination, memory reservation pool '%s' has %s pages, not the %s "
                        "pages in which the zone's memory is resized live here.", pool, size_format(there, a, sizeof(a)),
                        size_format(here, b, sizeof(b)));
}

/* The destination's own view: the zone's state there, its configuration against
 * ours, the suspend image; and whether it has a configuration at all. */
static int check_destination(MigrateConfig *mc, int *failed)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **problems = NULL;
        int configured, r;

        r = sd_bus_call_method(mc->remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                "CheckIncoming", &error, &reply, "ssa{sv}", mc->name, mc->xml, 2, "Kind", "s",
                migrate_kind_to_string(mc->kind), "Overwrite", "b", mc->overwrite);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &configured);
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, &problems);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_ACCESS_DENIED)) {
                printf("zone '%s': cannot configure the zone on the destination: %s\n", mc->name, error.message);
                fflush(stdout);
                return -EACCES;
        }
        if (r < 0) {
                printf("zone '%s': the destination cannot check the zone's configuration: %s\n", mc->name,
                        error.message ?: strerror(-r));
                fflush(stdout);
                return -EIO;
        }
        mc->configured = configured;
        for (char **p = problems; p && *p; p++)
                check_failed(mc, failed, "%s", *p);
        return 0;
}

int migrate_config_check(MigrateConfig *mc)
{
        KzError e = {};
        size_t size;
        int failed = 0, r;

        r = zone_store_load(arg_root, mc->name, &mc->config, &e);
        if (r >= 0)
                r = zone_config_to_xml(mc->config, &mc->xml, &size, &e);
        if (r < 0) {
                printf("zone '%s': cannot read the zone's configuration here: %s\n", mc->name,
                        kz_error_message(&e, r));
                return -EIO;
        }
        r = zone_uuid(mc->name, &mc->uuid);
        if (r < 0) {
                printf("zone '%s': cannot read the zone's UUID from the index: %s\n", mc->name, strerror(-r));
                return -EIO;
        }
        check_shared_storage(mc, &failed);
        r = check_destination(mc, &failed);
        if (r < 0)
                return r;
        if (mc->kind != MIGRATE_COLD) {
                check_cpu(mc, &failed);
                check_pool(mc, &failed);
        }
        fflush(stdout);
        return failed > 0 ? -EIO : 0;
}

int migrate_config_apply(MigrateConfig *mc)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool write = !mc->configured || mc->overwrite;
        int r;

        if (!mc->configured)
                migrate_step("Importing zone configuration on destination.");
        else if (mc->overwrite)
                migrate_step("Replacing zone configuration on destination with this host's (-w).");
        else
                migrate_step("Using existing zone configuration on destination.");
        if (mc->configured && !mc->overwrite && mc->dry_run)
                return 0; /* a dry run changes nothing there, not even the UUID */
        r = sd_bus_call_method(mc->remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "ImportZone",
                &error, NULL, "ssa{sv}", mc->name, write ? mc->xml : "", 2, "Overwrite", "b", mc->overwrite, "Uuid",
                "s", mc->uuid);
        if (r < 0) {
                printf("zone '%s': configuration failed on the destination: %s\n", mc->name,
                        error.message ?: strerror(-r));
                fflush(stdout);
                return -EIO;
        }
        mc->imported = !mc->configured;
        return 0;
}

void migrate_config_roll_back(MigrateConfig *mc)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (!mc->imported || !mc->remote)
                return;
        /* a cancelled migrating-in start is configured again once its unit stopped */
        for (uint64_t deadline = now_usec() + FORGET_TIMEOUT_USEC;; (void) usleep(250 * 1000)) {
                sd_bus_error_free(&error);
                if (sd_bus_call_method(mc->remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                            "ForgetIncoming", &error, NULL, "ss", mc->name, mc->uuid) >= 0) {
                        mc->imported = false;
                        return;
                }
                if (!sd_bus_error_has_name(&error, KZ_ERROR_WRONG_STATE) || now_usec() > deadline)
                        break;
        }
        printf("zone '%s': the configuration imported on the destination stays there: %s\n", mc->name,
                error.message ?: "unknown error");
        fflush(stdout);
}

void migrate_config_done(MigrateConfig *mc)
{
        zone_config_free(mc->config);
        if (mc->xml)
                explicit_bzero(mc->xml, strlen(mc->xml)); /* it holds the zone's key */
        free(mc->xml);
        free(mc->uuid);
        *mc = (MigrateConfig) {};
}
