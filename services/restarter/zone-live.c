/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Live zone reconfiguration: a running zone's live configuration (what its QEMU
 * runs: /run/kzones/NAME/live.xml, written by the launcher at boot, then by us
 * alone) and its generation; GetLiveConfiguration, ReconfigureLive (zonecfg -r's
 * commit) and Apply (zoneadm apply), and the apply job. The plan and the refusal
 * table are lib/zone-live.c's; the QMP work is kzones-zone reconfigure's, which
 * reads live.xml and the wanted configuration in live.next and leaves in live.next
 * what really runs afterwards. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "restarter.h"
#include "zone-live.h"

#define LIVE_FILE_MAX ZONE_CONFIG_MAX_BYTES

static char *live_path(Zone *z, const char *file)
{
        return manager_path(z->manager, ZONE_RUN_DIR "/%s/%s", z->name, file);
}

/* The generation of the live configuration: 0 when the zone does not run or has
 * none (a zone booted before live reconfiguration existed). */
uint64_t zone_live_generation(Zone *z)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t size;
        uint64_t g;
        char *end;

        if (z->state != ZONE_STATE_RUNNING || !(path = live_path(z, ZONE_LIVE_GENERATION)))
                return 0;
        if (read_file_bounded(path, 64, &buf, &size) < 0)
                return 0;
        errno = 0;
        g = strtoull(buf, &end, 10);
        if (errno != 0 || end == buf || (*end && *end != '\n'))
                return 0;
        return g;
}

static int write_generation(Zone *z, uint64_t g)
{
        _cleanup_free_ char *path = live_path(z, ZONE_LIVE_GENERATION);
        char buf[32];

        if (!path)
                return -ENOMEM;
        (void) snprintf(buf, sizeof(buf), "%" PRIu64 "\n", g);
        return write_file_atomic(path, buf, strlen(buf), 0600);
}

/* The live configuration and its generation. A running zone launched before live
 * reconfiguration existed has none: it runs its persistent configuration as it was
 * then, which is taken as generation 1. */
static int zone_live_load(Zone *z, ZoneConfig **ret, uint64_t *ret_generation, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *path = live_path(z, ZONE_LIVE_CONFIG), *buf = NULL;
        uint64_t g;
        size_t size;
        KzError e = {};
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_bounded(path, LIVE_FILE_MAX, &buf, &size);
        if (r == -ENOENT) {
                _cleanup_free_ char *xml = NULL;

                r = zone_load_config(z, &c, error);
                if (r < 0)
                        return r;
                r = zone_config_to_xml(c, &xml, &size, &e);
                if (r >= 0)
                        r = write_file_atomic(path, xml, size, 0600);
                if (r >= 0)
                        r = write_generation(z, 1);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "cannot write %s: %s", path,
                                kz_error_message(&e, r));
        } else if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "cannot read %s: %s", path, strerror(-r));
        else {
                r = zone_config_from_xml(buf, size, path, 0, &c, &e);
                if (r < 0)
                        return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                                "the live configuration is damaged: %s", kz_error_message(&e, r));
        }
        g = zone_live_generation(z);
        if (g == 0) {
                r = write_generation(z, 1);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "cannot write the live generation: %s",
                                strerror(-r));
                g = 1;
        }
        *ret = TAKE_PTR(c);
        *ret_generation = g;
        return 0;
}

static int need_running(Zone *z, sd_bus_error *error)
{
        if (z->state != ZONE_STATE_RUNNING)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone '%s' is not running", z->name);
        return 0;
}

bool zone_live_reshaped(Zone *z)
{
        _cleanup_free_ char *p = live_path(z, ZONE_LIVE_RESHAPED);

        /* out of memory: say reshaped, the careful answer */
        return !p || access(p, F_OK) >= 0;
}

int zone_live_check_unchanged(Zone *z, const char *what, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *live = NULL, *persistent = NULL;
        _cleanup_(zone_live_plan_done) ZoneLivePlan p = {};
        uint64_t g;
        int r;

        if (zone_live_reshaped(z))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone '%s' was reconfigured live since it booted "
                        "(its virtual machine no longer is what its configuration starts): reboot it first, then %s",
                        z->name, what);
        /* generation 1 is the configuration the zone booted with */
        if (zone_live_generation(z) <= 1)
                return 0;
        r = zone_live_load(z, &live, &g, error);
        if (r < 0)
                return r;
        r = zone_load_config(z, &persistent, error);
        if (r < 0)
                return r;
        r = zone_live_plan(live, persistent, &p);
        if (r < 0)
                return r;
        if (p.n > 0)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone '%s' has live configuration changes: "
                        "apply the persistent configuration (zoneadm apply) or reboot it first, then %s", z->name, what);
        return 0;
}

static void drop_keysource(ZoneConfig *c)
{
        ZoneResource *k = zone_resource_first(c->root, resource_type_child(zone_type(), "keysource"));

        if (k)
                zone_resource_remove(c->root, k);
}

int method_get_live_configuration(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *xml = NULL;
        Zone *z = userdata;
        uint64_t g;
        size_t size;
        uid_t uid;
        KzError e = {};
        int r;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = bus_caller_uid(msg, &uid, error);
        if (r < 0)
                return r;
        r = need_running(z, error);
        if (r < 0)
                return r;
        r = zone_live_load(z, &c, &g, error);
        if (r < 0)
                return r;
        /* the zone's key is root's */
        if (uid != 0)
                drop_keysource(c);
        r = zone_config_to_xml(c, &xml, &size, &e);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", kz_error_message(&e, r));
        return sd_bus_reply_method_return(msg, "st", xml, g);
}

/* ---- the apply job ---------------------------------------------------------------------------- */

static void apply_helper_done(Job *j, int status, const char *message)
{
        Zone *z = j->zone;
        _cleanup_free_ char *next = live_path(z, ZONE_LIVE_NEXT), *live = live_path(z, ZONE_LIVE_CONFIG);
        _cleanup_free_ char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        bool changed;

        if (!next || !live) {
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return;
        }
        /* what runs now, as the helper found it: a new generation if it is not what was */
        if (read_file_bounded(next, LIVE_FILE_MAX, &b, &nb) >= 0) {
                (void) read_file_bounded(live, LIVE_FILE_MAX, &a, &na);
                changed = !a || na != nb || memcmp(a, b, na) != 0;
                if (changed && rename(next, live) >= 0) {
                        (void) write_generation(z, zone_live_generation(z) + 1);
                        (void) sd_bus_emit_properties_changed(z->manager->bus, z->path, RESTARTER_ZONE_IFACE,
                                "LiveGeneration", NULL);
                        log_info("zone '%s': live configuration is now generation %" PRIu64, z->name,
                                zone_live_generation(z));
                }
        }
        (void) unlink(next);
        if (status == 0)
                job_finish(j, 0, NULL, NULL);
        else if (status == ZONE_LIVE_EXIT_CHANGED)
                job_finish(j, -ESTALE, KZ_ERROR_LIVE_CONFIG_CHANGED, "the live configuration has changed externally");
        else
                job_finish(j, -EIO, NULL, "%s", *message ? message : "the reconfiguration helper failed");
}

const JobType job_apply = {
        .kind = "apply",
        .helper_done = apply_helper_done,
};

static void apply_begin(Job *j)
{
        _cleanup_(zone_config_freep) ZoneConfig *live = NULL, *wanted = NULL;
        _cleanup_(zone_live_plan_done) ZoneLivePlan p = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *refusals = NULL, *next = NULL;
        size_t len = 0;
        uint64_t g;
        KzError e = {};
        int r;

        r = zone_live_load(j->zone, &live, &g, &error);
        if (r < 0) {
                job_finish(j, r, error.name, "%s", error.message ?: strerror(-r));
                return;
        }
        r = zone_config_from_xml(j->wanted_xml, strlen(j->wanted_xml), "the wanted configuration", 0, &wanted, &e);
        if (r >= 0)
                r = zone_live_plan(live, wanted, &p);
        if (r < 0) {
                job_finish(j, r, NULL, "%s", kz_error_message(&e, r));
                return;
        }
        if (p.n == 0) {
                job_set_message(j, "No changes to apply");
                job_finish(j, 0, NULL, NULL);
                return;
        }
        /* one Message per line, each sent before the next is set */
        for (size_t i = 0; i < p.n; i++) {
                job_set_message(j, "Checking: %s", p.changes[i].text);
                if (p.changes[i].refusal)
                        len += strlen(p.changes[i].refusal) + 1;
        }
        if (p.n_refused > 0) {
                refusals = calloc(1, len + 1);
                if (!refusals) {
                        job_finish(j, -ENOMEM, NULL, "out of memory");
                        return;
                }
                for (size_t i = 0; i < p.n; i++)
                        if (p.changes[i].refusal)
                                strcat(strcat(refusals, *refusals ? "\n" : ""), p.changes[i].refusal);
                job_finish(j, -EBUSY, KZ_ERROR_WRONG_STATE, "%s", refusals);
                return;
        }
        if (j->dry_run) {
                job_finish(j, 0, NULL, NULL);
                return;
        }
        next = live_path(j->zone, ZONE_LIVE_NEXT);
        r = next ? write_file_atomic(next, j->wanted_xml, strlen(j->wanted_xml), 0600) : -ENOMEM;
        if (r < 0) {
                job_finish(j, r, NULL, "cannot write the wanted configuration: %s", strerror(-r));
                return;
        }
        /* before the first change, so that a helper that dies half-way leaves it too */
        for (size_t i = 0; i < p.n; i++)
                if (p.changes[i].kind != ZONE_LIVE_RECORD) {
                        _cleanup_free_ char *mark = live_path(j->zone, ZONE_LIVE_RESHAPED);

                        r = mark ? write_file_atomic(mark, "", 0, 0600) : -ENOMEM;
                        if (r < 0) {
                                (void) unlink(next);
                                job_finish(j, r, NULL, "cannot write %s: %s", ZONE_LIVE_RESHAPED, strerror(-r));
                                return;
                        }
                        break;
                }
        job_set_message(j, "Applying the changes");
        r = job_run_helper(j, "reconfigure", NULL);
        if (r < 0) {
                (void) unlink(next);
                job_finish(j, r, NULL, "cannot run the reconfiguration helper: %s", strerror(-r));
        }
}

static int read_options(sd_bus_message *msg, const char *what, int *ret_dry_run, sd_bus_error *error)
{
        const BusOption options[] = { { "DryRun", "b", ret_dry_run } };

        return bus_read_options(msg, what, options, ELEMENTSOF(options), error);
}

static int start_apply(Zone *z, sd_bus_message *msg, const ZoneConfig *wanted, bool dry_run, sd_bus_error *error)
{
        _cleanup_free_ char *xml = NULL;
        size_t size;
        KzError e = {};
        Job *j;
        int r;

        r = zone_config_to_xml(wanted, &xml, &size, &e);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", kz_error_message(&e, r));
        r = job_new(z, &job_apply, msg, error, &j);
        if (r < 0)
                return r;
        j->wanted_xml = TAKE_PTR(xml);
        j->dry_run = dry_run;
        log_info("zone '%s': %s live configuration changes", z->name, dry_run ? "checking" : "applying");
        return job_start(j, msg, apply_begin);
}

int method_reconfigure_live(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL, *live = NULL;
        const char *xml;
        Zone *z = userdata;
        uint64_t generation, g;
        int dry_run = false;
        KzError e = {};
        int r;

        r = sd_bus_message_read(msg, "st", &xml, &generation);
        if (r < 0)
                return r;
        r = read_options(msg, "ReconfigureLive", &dry_run, error);
        if (r < 0)
                return r;
        /* it can name any device or link of the host, as writing /etc/zones can */
        r = bus_check_root(msg, "change a zone's live configuration", error);
        if (r < 0)
                return r;
        if (strlen(xml) > ZONE_CONFIG_MAX_BYTES)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "the configuration is larger than %u bytes",
                        ZONE_CONFIG_MAX_BYTES);
        r = zone_config_from_xml(xml, strlen(xml), "the live configuration", 0, &c, &e);
        if (r >= 0)
                r = zone_config_verify(c, &e);
        if (r < 0)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "%s", kz_error_message(&e, r));
        if (!streq_ptr(zone_config_name(c), z->name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "the configuration is of zone '%s', not '%s'",
                        strna(zone_config_name(c)), z->name);
        r = need_running(z, error);
        if (r < 0)
                return r;
        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        r = zone_live_load(z, &live, &g, error);
        if (r < 0)
                return r;
        if (generation != g)
                return sd_bus_error_setf(error, KZ_ERROR_LIVE_CONFIG_CHANGED,
                        "the live configuration has changed externally (generation %" PRIu64 ", not %" PRIu64 ")", g,
                        generation);
        return start_apply(z, msg, c, dry_run, error);
}

int method_apply(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        Zone *z = userdata;
        int dry_run = false;
        int r;

        r = read_options(msg, "Apply", &dry_run, error);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = need_running(z, error);
        if (r < 0)
                return r;
        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        return start_apply(z, msg, c, dry_run, error);
}

int bus_property_get_live_generation(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        return sd_bus_message_append(reply, "t", zone_live_generation(userdata));
}
