/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scanning /etc/zones: every NAME.xml is a zone, the index gives its state and
 * UUID. Of a configuration the restarter keeps only what it shows and decides
 * with at any time (brand, autoboot), read from the zone element alone, and only
 * from a file that changed since it was last read: the whole configuration is
 * parsed and verified when an operation needs it (zone_load_config()). With a
 * thousand zones this is what keeps a rescan (each zonecfg commit makes one) and
 * the restarter's start cheap, and libxml2 and its schema out of its memory
 * (zone-peek.h). */
#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "log.h"
#include "mkdir.h"
#include "restarter.h"

int zone_config_peek(Manager *m, const char *name, unsigned flags, ZonePeek *ret, struct stat *ret_stat)
{
        _cleanup_(zone_peek_done) ZonePeek p = {};
        _cleanup_free_ char *path = manager_path(m, "/etc/zones/%s.xml", name), *buf = NULL;
        struct stat st;
        size_t size;
        int r;

        if (!path)
                return -ENOMEM;
        if (stat(path, &st) < 0)
                return -errno;
        r = read_file_bounded(path, ZONE_CONFIG_MAX_BYTES, &buf, &size);
        if (r < 0)
                return r;
        r = zone_peek(buf, size, flags, &p);
        if (r < 0)
                return r;
        if (!streq_ptr(p.name, name))
                return -EBADMSG;
        if (ret_stat)
                *ret_stat = st;
        *ret = p;
        p = (ZonePeek) {};
        return 0;
}

/* The suspend image of the zone's configuration (zone_peek_suspend_image()). */
int zone_config_suspend_image(Manager *m, const char *name, char **ret)
{
        _cleanup_(zone_peek_done) ZonePeek p = {};
        int r;

        r = zone_config_peek(m, name, ZONE_PEEK_SUSPEND, &p, NULL);
        if (r < 0)
                return r;
        return zone_peek_suspend_image(&p, m->root, ret);
}

static bool same_file(const Zone *z, const struct stat *st)
{
        return z->config_known && z->config_ino == st->st_ino && z->config_size == st->st_size &&
                z->config_mtime.tv_sec == st->st_mtim.tv_sec && z->config_mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Brand and autoboot again, if the file changed since they were read; true if
 * autoboot changed (kzones-generator would decide otherwise now). */
static bool zone_refresh_config(Zone *z)
{
        _cleanup_(zone_peek_done) ZonePeek p = {};
        _cleanup_free_ char *path = manager_path(z->manager, "/etc/zones/%s.xml", z->name);
        struct stat st;
        bool reload = false;

        if (!path || stat(path, &st) < 0 || same_file(z, &st))
                return false;
        if (zone_config_peek(z->manager, z->name, 0, &p, &st) < 0) {
                z->config_known = false; /* read again next time */
                return false;
        }
        z->config_known = true;
        z->config_ino = st.st_ino;
        z->config_size = st.st_size;
        z->config_mtime = st.st_mtim;
        if (!streq_ptr(z->brand, p.brand)) {
                free(z->brand);
                z->brand = TAKE_PTR(p.brand);
        }
        if (z->autoboot_known && p.autoboot != z->autoboot)
                reload = true;
        z->autoboot = p.autoboot;
        z->autoboot_known = true;
        return reload;
}

static void index_free(Hashmap *h, ZoneIndexEntry *l, size_t n)
{
        hashmap_free(h);
        zone_index_free(l, n);
}

/* dropins: the evacuation targets in the zone units' drop-ins are read again too (10
 * directories per zone). Not after a change in /etc/zones, which cannot change
 * them: the drop-ins change through the EvacuationTarget properties (which read
 * them again) or by hand followed by 'systemctl reload', whose Reloading signal
 * makes a whole rescan, as Rescan() does. */
static int rescan(Manager *m, bool dropins)
{
        ZoneIndexEntry *l = NULL;
        Hashmap *index = NULL;
        size_t n = 0;
        KzError e = {};
        _cleanup_free_ char *dir = manager_path(m, "/etc/zones");
        DIR *dp;
        struct dirent *de;
        bool reload = false;
        Zone *z;
        int r;

        if (!dir)
                return -ENOMEM;
        r = zone_index_read(m->root, &l, &n, &e);
        if (r < 0) {
                log_error("%s", kz_error_message(&e, r));
                return r;
        }
        /* by name: the index is looked up once per zone */
        index = hashmap_new();
        if (!index) {
                zone_index_free(l, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                r = hashmap_put(index, l[i].name, &l[i]);
                if (r == -ENOMEM) {
                        index_free(index, l, n);
                        return r;
                }
        }

        HASHMAP_FOREACH(z, m->zones, state)
                z->seen = false;

        /* every NAME.xml is a zone; the index gives its state and UUID */
        dp = opendir(dir);
        while (dp && (de = readdir(dp))) {
                size_t len = strlen(de->d_name);
                _cleanup_free_ char *name = NULL;
                ZoneIndexEntry *x;
                ZoneState previous_index;
                bool created = false;

                if (len <= 4 || !streq(de->d_name + len - 4, ".xml"))
                        continue;
                name = strndup(de->d_name, len - 4);
                if (!name || !zone_name_is_valid(name))
                        continue;
                z = hashmap_get(m->zones, name);
                if (z && z->gone) {
                        /* configured again while a job of its old configuration ran */
                        z->gone = false;
                        if (m->name_requested)
                                (void) sd_bus_emit_object_added(m->bus, z->path);
                }
                if (!z) {
                        r = zone_new(m, name, &z);
                        if (r < 0)
                                break;
                        created = true;
                        z->seen = true;
                        zone_query_unit(z);
                }
                z->seen = true;
                previous_index = z->index_state;
                z->index_state = ZONE_STATE_CONFIGURED;
                x = hashmap_get(index, name);
                if (x) {
                        z->index_state = x->state;
                        if (!streq_ptr(z->uuid, x->uuid)) {
                                free(z->uuid);
                                z->uuid = strdup(x->uuid);
                        }
                }
                if (zone_refresh_config(z))
                        reload = true;
                if (created) {
                        /* a zone the restarter did not know: it appears in the state it is
                         * in (its objects say so), which is no change of state */
                        z->state = z->index_state;
                        /* and its evacuation target is known, so that a change is announced */
                        if (!dropins)
                                (void) evacuation_target(m, name, &z->evacuation_target);
                        if (m->name_requested) {
                                log_info("zone '%s' configured", name);
                                (void) sd_bus_emit_object_added(m->bus, z->path);
                        }
                } else if (z->index_state != previous_index && (previous_index == ZONE_STATE_INSTALLED ||
                                                                 z->index_state == ZONE_STATE_INSTALLED))
                        reload = true;
                zone_update_state(z);
        }
        if (dp)
                closedir(dp);
        index_free(index, l, n);
        if (!m->name_requested)
                log_info("%zu zones configured", hashmap_size(m->zones));

        {
                _cleanup_free_ Zone **unseen = calloc(hashmap_size(m->zones) + 1, sizeof(Zone *));
                size_t n_unseen = 0;

                if (!unseen)
                        return -ENOMEM;
                HASHMAP_FOREACH(z, m->zones, state)
                        if (!z->seen)
                                unseen[n_unseen++] = z;
                for (size_t i = 0; i < n_unseen; i++) {
                        z = unseen[i];
                        if (!z->gone) {
                                log_info("zone '%s' no longer configured", z->name);
                                (void) sd_bus_emit_object_removed(m->bus, z->path);
                        }
                        if (z->job)
                                z->gone = true; /* removed once its job ends */
                        else
                                zone_remove(z);
                }
        }
        if (dropins)
                evacuation_targets_changed(m);
        /* autoboot comes from kzones-generator: when it would decide otherwise, let
         * systemd run it again, so that 'systemctl is-enabled zone@NAME' is right now */
        if (reload && m->have_systemd > 0) {
                log_info("autoboot of a zone changed: reloading systemd's units");
                (void) sd_bus_call_method_async(m->bus, NULL, SYSTEMD_BUS, SYSTEMD_PATH, SYSTEMD_MANAGER, "Reload",
                        NULL, NULL, NULL);
        }
        return 0;
}

int manager_rescan(Manager *m)
{
        return rescan(m, true);
}

static int on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        m->rescan_timer = sd_event_source_unref(m->rescan_timer);
        (void) rescan(m, false);
        return 0;
}

static int on_zones_changed(sd_event_source *s, const struct inotify_event *event, void *userdata)
{
        Manager *m = userdata;

        /* a burst of changes (a commit is write+rename+index) makes one rescan */
        if (!m->rescan_timer)
                (void) sd_event_add_time_relative(m->event, &m->rescan_timer, CLOCK_MONOTONIC, 50 * 1000, 0,
                        on_rescan_timer, m);
        return 0;
}

int manager_watch_zones(Manager *m)
{
        _cleanup_free_ char *dir = manager_path(m, "/etc/zones");
        int r;

        if (!dir)
                return -ENOMEM;
        (void) mkdir_p(dir, 0755);
        r = sd_event_add_inotify(m->event, &m->inotify, dir,
                IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE, on_zones_changed, m);
        if (r < 0)
                log_warning("cannot watch %s: %s; changes are seen on Rescan only", dir, strerror(-r));
        return 0;
}
