/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <libgen.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "mkdir.h"
#include "strv.h"
#include "zone-store.h"

#define INDEX_MAX_BYTES (4u * 1024u * 1024u)
#define INDEX_HEADER "# DO NOT EDIT: this file is maintained by zonecfg(8) and zoneadm(8).\n" \
                     "# zonename:state:path:uuid\n"

static bool valid_template_name(const char *s)
{
        if (strlen(s) > 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_')
                        return false;
        return true;
}

/* "SYSkz, SYSkz-minimal": the templates there are, for a message; NULL if none can be read. */
static char *template_names(void)
{
        _cleanup_strv_free_ char **l = NULL;
        DIR *d = opendir(kzones_data_dir());
        struct dirent *de;

        if (!d)
                return NULL;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                _cleanup_free_ char *name = NULL;

                if (strncmp(de->d_name, "SYS", 3) != 0 || n < 5 || !streq(de->d_name + n - 4, ".xml"))
                        continue;
                name = strndup(de->d_name, n - 4);
                if (!name || !valid_template_name(name) || strv_add_unique(&l, name) < 0)
                        continue;
        }
        closedir(d);
        if (!l)
                return NULL;
        qsort(l, strv_length(l), sizeof(char *), strv_cmp);
        return strv_join(l, ", ");
}

static int no_such_template(KzError *e, int error, const char *template, const char *why)
{
        _cleanup_free_ char *names = template_names();

        return kz_error_set(e, error, "%s: %s; the templates are %s, or the name of a configured zone.", template,
                why, names ?: "(none installed)");
}

static char *zone_path(const char *root, const char *name, const char *suffix)
{
        _cleanup_free_ char *rel = NULL;

        if (asprintf(&rel, "/etc/zones/%s%s", name, suffix) < 0)
                return NULL;
        return path_join(root, rel);
}

static int lock_store(const char *root, KzError *e)
{
        _cleanup_free_ char *dir = path_join(root, "/etc/zones"), *lock = path_join(root, "/etc/zones/index.lock");
        int fd, r;

        if (!dir || !lock)
                return -ENOMEM;
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return kz_error_set(e, r, "cannot create %s: %s", dir, strerror(-r));
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return kz_error_set(e, errno, "cannot open %s: %m", lock);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        r = negative_errno();
                        (void) close(fd);
                        return kz_error_set(e, r, "cannot lock %s: %s", lock, strerror(-r));
                }
        return fd;
}

/* ---- the index --------------------------------------------------------------------------- */

void zone_index_entry_done(ZoneIndexEntry *x)
{
        free(x->name);
        free(x->path);
        free(x->uuid);
        *x = (ZoneIndexEntry) {};
}

void zone_index_free(ZoneIndexEntry *l, size_t n)
{
        for (size_t i = 0; i < n; i++)
                zone_index_entry_done(&l[i]);
        free(l);
}

int zone_index_read(const char *root, ZoneIndexEntry **ret, size_t *ret_n, KzError *e)
{
        _cleanup_free_ char *path = path_join(root, "/etc/zones/index"), *buf = NULL;
        ZoneIndexEntry *l = NULL;
        size_t n = 0, size;
        char *save = NULL;
        unsigned lineno = 0;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_bounded(path, INDEX_MAX_BYTES, &buf, &size);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return kz_error_set(e, r, "cannot read %s: %s", path, strerror(-r));

        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[4] = {}, *p = line;
                ZoneIndexEntry *m;
                ZoneState s;

                lineno++;
                if (line[0] == '#' || line[0] == 0)
                        continue;
                for (unsigned i = 0; i < 4; i++) {
                        f[i] = p;
                        p = strchr(p, ':');
                        if (!p) {
                                if (i != 3)
                                        f[i + 1] = NULL;
                                break;
                        }
                        *p++ = 0;
                }
                if (!f[0] || !f[1] || !f[2] || !f[3] || p)
                        goto bad;
                s = zone_state_from_string(f[1]);
                if (!zone_name_is_valid(f[0]) || s < 0)
                        goto bad;
                m = realloc(l, (n + 1) * sizeof(*l));
                if (!m) {
                        zone_index_free(l, n);
                        return -ENOMEM;
                }
                l = m;
                l[n] = (ZoneIndexEntry) { strdup(f[0]), s, strdup(f[2]), strdup(f[3]) };
                n++;
                if (!l[n - 1].name || !l[n - 1].path || !l[n - 1].uuid) {
                        zone_index_free(l, n);
                        return -ENOMEM;
                }
                continue;
        bad:
                zone_index_free(l, n);
                return kz_error_set(e, EBADMSG, "%s, line %u: malformed index entry.", path, lineno);
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

int zone_index_lookup(const char *root, const char *name, ZoneIndexEntry *ret, KzError *e)
{
        ZoneIndexEntry *l = NULL;
        size_t n = 0;
        int r;

        r = zone_index_read(root, &l, &n, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].name, name)) {
                        *ret = l[i];
                        l[i] = (ZoneIndexEntry) {};
                        zone_index_free(l, n);
                        return 0;
                }
        zone_index_free(l, n);
        return -ENOENT;
}

static int index_write(const char *root, const ZoneIndexEntry *l, size_t n, KzError *e)
{
        _cleanup_free_ char *path = path_join(root, "/etc/zones/index"), *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        if (!path)
                return -ENOMEM;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs(INDEX_HEADER, f);
        for (size_t i = 0; i < n; i++)
                if (l[i].name)
                        fprintf(f, "%s:%s:%s:%s\n", l[i].name, zone_state_to_string(l[i].state), l[i].path ?: "",
                                l[i].uuid ?: "");
        if (fclose(f) != 0)
                return -ENOMEM;
        r = write_file_atomic(path, buf, size, 0644);
        if (r < 0)
                return kz_error_set(e, r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}

static int uuid_generate(char **ret)
{
        uint8_t u[16];

        if (getrandom(u, sizeof(u), 0) != sizeof(u))
                return -EIO;
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        if (asprintf(ret, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
                    u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]) < 0)
                return -ENOMEM;
        return 0;
}

/* Under the lock: sets name's entry (adding it with a fresh UUID if missing, renaming
 * it from old_name if given), or with remove, drops it. */
static int index_update(const char *root, const char *old_name, const char *name, bool remove, const ZoneState *state,
                KzError *e)
{
        ZoneIndexEntry *l = NULL, *m;
        size_t n = 0;
        bool found = false;
        int r;

        r = zone_index_read(root, &l, &n, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (!streq(l[i].name, old_name ?: name))
                        continue;
                found = true;
                if (remove) {
                        zone_index_entry_done(&l[i]);
                        continue;
                }
                if (old_name) {
                        free(l[i].name);
                        l[i].name = strdup(name);
                        if (!l[i].name) {
                                r = -ENOMEM;
                                goto finish;
                        }
                }
                if (state)
                        l[i].state = *state;
        }
        if (!found && !remove) {
                m = realloc(l, (n + 1) * sizeof(*l));
                if (!m) {
                        r = -ENOMEM;
                        goto finish;
                }
                l = m;
                l[n] = (ZoneIndexEntry) { strdup(name), state ? *state : ZONE_STATE_CONFIGURED, strdup(""), NULL };
                n++;
                r = uuid_generate(&l[n - 1].uuid);
                if (r < 0)
                        goto finish;
                if (!l[n - 1].name || !l[n - 1].path) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        r = index_write(root, l, n, e);
finish:
        zone_index_free(l, n);
        return r;
}

/* The index must be readable before anything is changed, so that a failure to update
 * it cannot leave a configuration file written or removed behind it. */
static int index_check(const char *root, KzError *e)
{
        ZoneIndexEntry *l = NULL;
        size_t n = 0;
        int r = zone_index_read(root, &l, &n, e);

        zone_index_free(l, n);
        return r;
}

int zone_index_set_state(const char *root, const char *name, ZoneState state, KzError *e)
{
        _cleanup_close_ int lock = lock_store(root, e);

        if (lock < 0)
                return lock;
        return index_update(root, NULL, name, false, &state, e);
}

/* A zone that migrates keeps its UUID (its suspend image is sealed for it): the
 * destination's index entry takes the source's. The zone must be in the index. */
int zone_index_set_uuid(const char *root, const char *name, const char *uuid, KzError *e)
{
        _cleanup_close_ int lock = lock_store(root, e);
        ZoneIndexEntry *l = NULL;
        size_t n = 0;
        bool found = false;
        int r;

        if (lock < 0)
                return lock;
        if (strlen(uuid) != 36 || strspn(uuid, "0123456789abcdef-") != 36)
                return kz_error_set(e, EINVAL, "'%s' is not a zone UUID.", uuid);
        r = zone_index_read(root, &l, &n, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                char *u;

                if (!l[i].name || !streq(l[i].name, name))
                        continue;
                found = true;
                u = strdup(uuid);
                if (!u)
                        r = -ENOMEM;
                else {
                        free(l[i].uuid);
                        l[i].uuid = u;
                }
        }
        if (r >= 0 && !found)
                r = kz_error_set(e, ENOENT, "%s: No such zone configured", name);
        if (r >= 0)
                r = index_write(root, l, n, e);
        zone_index_free(l, n);
        return r;
}

/* ---- configurations ------------------------------------------------------------------------ */

int zone_store_load(const char *root, const char *name, ZoneConfig **ret, KzError *e)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        size_t size;
        int r;

        if (!zone_name_is_valid(name))
                return kz_error_set(e, EINVAL, "%s: invalid zone name.", name);
        path = zone_path(root, name, ".xml");
        if (!path)
                return -ENOMEM;
        r = read_file_bounded(path, ZONE_CONFIG_MAX_BYTES, &buf, &size);
        if (r == -ENOENT)
                return kz_error_set(e, ENOENT, "%s: No such zone configured", name);
        if (r == -EFBIG)
                return kz_error_set(e, EFBIG, "%s is larger than %u bytes.", path, ZONE_CONFIG_MAX_BYTES);
        if (r < 0)
                return kz_error_set(e, r, "cannot read %s: %s", path, strerror(-r));
        r = zone_config_from_xml(buf, size, path, 0, &c, e);
        if (r < 0)
                return r;
        if (!streq_ptr(zone_config_name(c), name))
                return kz_error_set(e, EBADMSG, "%s names zone '%s', not '%s'.", path, strna(zone_config_name(c)),
                        name);
        c->loaded_name = strdup(name);
        if (!c->loaded_name)
                return -ENOMEM;
        c->snapshot = TAKE_PTR(buf);
        c->snapshot_size = size;
        c->exists = true;
        *ret = TAKE_PTR(c);
        return 0;
}

/* Has the stored file changed since c was loaded? 0 if not, -ESTALE with a message if so. */
static int check_unchanged(const char *root, const ZoneConfig *c, KzError *e)
{
        const char *name = c->loaded_name ?: zone_config_name(c);
        _cleanup_free_ char *path = zone_path(root, name, ".xml"), *buf = NULL;
        size_t size;
        int r;

        if (!path)
                return -ENOMEM;
        /* a damaged file being replaced may be larger than any valid one */
        r = read_file_bounded(path, c->snapshot_size > ZONE_CONFIG_MAX_BYTES ? c->snapshot_size : ZONE_CONFIG_MAX_BYTES,
                &buf, &size);
        if (r == -ENOENT) {
                if (c->exists)
                        return kz_error_set(e, ESTALE, "zone '%s' was deleted by someone else since it was "
                                "loaded; nothing was saved.", name);
                return 0;
        }
        if (r < 0 && r != -EFBIG)
                return kz_error_set(e, r, "cannot read %s: %s", path, strerror(-r));
        if (!c->exists)
                return kz_error_set(e, EEXIST, "zone '%s' was created by someone else meanwhile; nothing was "
                        "saved.", name);
        if (r == -EFBIG || size != c->snapshot_size || memcmp(buf, c->snapshot, size) != 0)
                return kz_error_set(e, ESTALE, "the configuration of zone '%s' was changed by someone else since "
                        "it was loaded; nothing was saved. Use 'revert' to load the current one.", name);
        return 0;
}

int zone_store_commit(const char *root, ZoneConfig *c, KzError *e)
{
        _cleanup_close_ int lock = -EBADF;
        _cleanup_free_ char *path = NULL, *old_path = NULL, *xml = NULL;
        const char *name = zone_config_name(c);
        bool rename_zone;
        size_t size;
        mode_t mode;
        int r;

        r = zone_config_verify(c, e);
        if (r < 0)
                return r;
        r = zone_config_to_xml(c, &xml, &size, e);
        if (r < 0)
                return r;
        rename_zone = c->exists && c->loaded_name && !streq(c->loaded_name, name);
        path = zone_path(root, name, ".xml");
        if (!path)
                return -ENOMEM;

        lock = lock_store(root, e);
        if (lock < 0)
                return lock;
        r = check_unchanged(root, c, e);
        if (r < 0)
                return r;
        r = index_check(root, e);
        if (r < 0)
                return r;
        if (rename_zone) {
                ZoneIndexEntry x = {};

                if (access(path, F_OK) == 0)
                        return kz_error_set(e, EEXIST, "cannot rename zone '%s' to '%s': a zone of that name "
                                "already exists.", c->loaded_name, name);
                r = zone_index_lookup(root, c->loaded_name, &x, NULL);
                if (r >= 0 && !zone_state_is_uninstalled(x.state)) {
                        zone_index_entry_done(&x);
                        return kz_error_set(e, EBUSY, "zone '%s' is installed; it can only be renamed before it is "
                                "installed.", c->loaded_name);
                }
                zone_index_entry_done(&x);
                old_path = zone_path(root, c->loaded_name, ".xml");
                if (!old_path)
                        return -ENOMEM;
        }

        /* The configuration holds the zone's key: readable by root alone. */
        mode = zone_resource_first(c->root, resource_type_child(zone_type(), "keysource")) ? 0600 : 0644;
        r = write_file_atomic(path, xml, size, mode);
        if (r < 0)
                return kz_error_set(e, r, "cannot write %s: %s", path, strerror(-r));
        if (old_path) {
                if (unlink(old_path) < 0 && errno != ENOENT)
                        return kz_error_set(e, errno, "cannot remove %s: %m", old_path);
                (void) fsync_directory_of(old_path);
        }
        r = index_update(root, rename_zone ? c->loaded_name : NULL, name, false, NULL, e);
        if (r < 0)
                return r;

        free(c->loaded_name);
        c->loaded_name = strdup(name);
        free(c->snapshot);
        c->snapshot = TAKE_PTR(xml);
        c->snapshot_size = size;
        c->exists = true;
        if (!c->loaded_name)
                return -ENOMEM;
        return 0;
}

int zone_store_delete(const char *root, const ZoneConfig *c, bool force, KzError *e)
{
        _cleanup_close_ int lock = -EBADF;
        _cleanup_free_ char *path = NULL;
        const char *name = c->loaded_name ?: zone_config_name(c);
        ZoneIndexEntry x = {};
        int r;

        path = zone_path(root, name, ".xml");
        if (!path)
                return -ENOMEM;
        lock = lock_store(root, e);
        if (lock < 0)
                return lock;
        if (!force) {
                r = check_unchanged(root, c, e);
                if (r < 0)
                        return r;
        }
        r = index_check(root, e);
        if (r < 0)
                return r;
        r = zone_index_lookup(root, name, &x, e);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && !zone_state_is_uninstalled(x.state)) {
                r = kz_error_set(e, EBUSY, "zone '%s' is %s; uninstall it with zoneadm before deleting its "
                        "configuration.", name, zone_state_to_string(x.state));
                zone_index_entry_done(&x);
                return r;
        }
        zone_index_entry_done(&x);
        if (unlink(path) < 0 && errno != ENOENT)
                return kz_error_set(e, errno, "cannot remove %s: %m", path);
        (void) fsync_directory_of(path);
        return index_update(root, NULL, name, true, NULL, e);
}

int zone_template_load(const char *root, const char *template, const char *name, ZoneConfig **ret, KzError *e)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t size;
        int r;

        if (strncmp(template, "SYS", 3) == 0) {
                if (!valid_template_name(template))
                        return no_such_template(e, EINVAL, template, "invalid template name");
                if (asprintf(&path, "%s/%s.xml", kzones_data_dir(), template) < 0)
                        return -ENOMEM;
                r = read_file_bounded(path, ZONE_CONFIG_MAX_BYTES, &buf, &size);
                if (r == -ENOENT)
                        return no_such_template(e, ENOENT, template, "no such template");
                if (r < 0)
                        return kz_error_set(e, r, "cannot read %s: %s", path, strerror(-r));
                r = zone_config_from_xml(buf, size, path, ZONE_XML_TEMPLATE, &c, e);
                if (r < 0)
                        return r;
        } else {
                /* An existing zone as the template, as in 'create -t kzone1'. */
                r = zone_store_load(root, template, &c, e);
                if (r < 0)
                        return r;
        }

        r = zone_resource_set(c->root, "zonename", name, e);
        if (r < 0)
                return r;
        r = zone_config_new_keysource(c);
        if (r < 0)
                return r;
        c->loaded_name = mfree_str(c->loaded_name);
        c->snapshot = mfree_str(c->snapshot);
        c->snapshot_size = 0;
        c->exists = false;
        *ret = TAKE_PTR(c);
        return 0;
}
