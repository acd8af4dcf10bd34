/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm install -a and clone: an image, or another zone's disk, copied onto the
 * zone's boot storage by qemu-img, with progress for the restarter to relay. */
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk-image.h"
#include "qemu-img.h"
#include "storage-uri.h"
#include "zone.h"

/* The bytes the copy in progress moves: its progress lines carry them. */
static uint64_t copy_total;

/* "progress PERCENT DONE TOTAL" lines on our standard output, which become the
 * restarter's job's Progress, BytesDone and Rate (zoneadm shows them) */
static void print_progress(int percent, void *userdata)
{
        printf("progress %d %" PRIu64 " %" PRIu64 "\n", percent, copy_total / 100 * (uint64_t) percent, copy_total);
        fflush(stdout);
}

static int qemu_img(const char *const args[], char **ret_output, char **ret_error)
{
        const char *argv[16] = { "qemu-img" };

        for (size_t i = 0; args[i]; i++) {
                if (i + 2 >= ELEMENTSOF(argv))
                        return -E2BIG;
                argv[i + 1] = args[i];
        }
        return qemu_img_run(argv, 256 * 1024, ret_output, ret_output ? NULL : print_progress, NULL, ret_error);
}

/* The json: name of an image for qemu-img, with its format given, so that QEMU
 * probes nothing; a qcow2 image's backing file is not opened even if one was
 * written into it after it was checked. */
static char *image_source(const char *path, const char *fmt, bool block_device)
{
        json_object *j = json_object_new_object(), *file = json_object_new_object();
        char *s = NULL;

        if (!j || !file) {
                json_object_put(j);
                json_object_put(file);
                return NULL;
        }
        json_object_object_add(file, "driver", json_object_new_string(block_device ? "host_device" : "file"));
        json_object_object_add(file, "filename", json_object_new_string(path));
        json_object_object_add(j, "driver", json_object_new_string(fmt));
        json_object_object_add(j, "file", file);
        if (streq(fmt, "qcow2"))
                json_object_object_add(j, "backing", NULL);
        if (asprintf(&s, "json:%s", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                                               JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                s = NULL;
        json_object_put(j);
        return s;
}

/* QEMU's own view of the whole chain (qemu-img info --backing-chain): does any image
 * in it name a backing file or an external data file? */
static bool chain_refers_to_other_files(json_object *chain)
{
        size_t n = json_object_array_length(chain);

        if (n != 1)
                return true;
        for (size_t i = 0; i < n; i++) {
                json_object *img = json_object_array_get_idx(chain, i), *spec, *data;

                if (json_object_object_get_ex(img, "backing-filename", NULL) ||
                    json_object_object_get_ex(img, "full-backing-filename", NULL))
                        return true;
                if (json_object_object_get_ex(img, "format-specific", &spec) &&
                    json_object_object_get_ex(spec, "data", &data) &&
                    json_object_object_get_ex(data, "data-file", NULL))
                        return true;
        }
        return false;
}

/* Copies source (a json: name) of vsize bytes onto the zone's boot storage with
 * progress, then claims the zone. File storage is the file target the restarter
 * created for this operation (never a file that was there before); other storage
 * exists already and must be large enough. */
static int copy_to_boot(const char *name, const ZoneConfig *c, const char *source, uint64_t vsize,
                const char *target)
{
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = NULL, *err = NULL, *json = NULL, *dst = NULL;
        const ZoneResource *boot = zone_boot_device(c);
        KzError e = {};
        int r;

        uri = zone_config_expand(c, boot, zone_resource_get(boot, "storage"));
        if (!uri || storage_uri_parse(uri, &u, NULL) < 0)
                return failure(name, "the boot storage is not a valid URI.");
        if (u->scheme == STORAGE_FILE) {
                if (!target)
                        return failure(name, "the restarter creates a zone's file storage; use 'zoneadm install'.");
                if (truncate(target, (off_t) (vsize + HOSTDATA_AREA)) < 0)
                        return failure(name, "cannot size the boot disk %s: %m.", uri);
                dst = strdup(target);
        } else {
                _cleanup_(boot_storage_freep) BootStorage *s = NULL;

                r = boot_storage_open(c, arg_root, &s, &e);
                if (r < 0)
                        return failure(name, "%s", kz_error_message(&e, r));
                if (vsize + HOSTDATA_AREA > boot_storage_size(s))
                        return failure(name, "the image (%" PRIu64 " bytes) does not fit on %s (%" PRIu64 " bytes, "
                                "1M of which holds the host data).", vsize, uri, boot_storage_size(s));
                /* storage that exists already may be another host's zone: claimed before a byte
                 * of it is written (and released by uninstall, should the copy not finish) */
                r = claim(name, c, "incomplete", NULL);
                if (r < 0)
                        return r;
                r = zone_device_blockdev_json(c, boot, NULL, &json, &e);
                if (r < 0)
                        return failure(name, "%s", kz_error_message(&e, r));
                if (asprintf(&dst, "json:%s", json) < 0)
                        dst = NULL;
        }
        if (!dst)
                return -ENOMEM;
        {
                /* -n: into the storage as it is, never a file qemu-img creates */
                const char *args[] = { "convert", "-p", "-n", "-O", "raw", source, dst, NULL };
                copy_total = vsize;
                r = qemu_img(args, NULL, &err);
        }
        if (r < 0)
                return failure(name, "copying the image failed: %s", err ?: strerror(-r));
        if (u->scheme == STORAGE_FILE) {
                /* on the disk before the claim: the claim's own write must not wait for the
                 * copy's (a claim that takes longer than the I/O timeout is given up) */
                _cleanup_close_ int fd = open(target, O_RDWR | O_CLOEXEC);

                if (fd < 0 || fsync(fd) < 0)
                        return failure(name, "cannot write the boot disk %s: %m.", uri);
        }
        print_progress(100, NULL);
        return claim(name, c, "installed", NULL);
}

/* zoneadm install -a: the image (raw or qcow2, self-contained) becomes the boot disk.
 * image is what the restarter hands over (/proc/self/fd/N: a file the caller could
 * read); target, for file storage, the boot disk the restarter created for this
 * install. */
int verb_install_image(const char *name, const char *image, const char *target)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *out = NULL, *err = NULL, *source = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_object *chain = NULL, *v;
        const char *fmt;
        struct stat st;
        uint64_t vsize = 0;
        bool refused;
        KzError e = {};
        int r;

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!zone_boot_device(c))
                return failure(name, "the zone has no boot device to install the image on.");
        fd = open(image, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return failure(name, "cannot read the image: %m.");
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return failure(name, "the image is neither a file nor a block device.");
        r = disk_image_format(fd, &fmt, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        source = image_source(image, fmt, S_ISBLK(st.st_mode));
        if (!source)
                return -ENOMEM;
        {
                const char *args[] = { "info", "--backing-chain", "--output=json", source, NULL };
                r = qemu_img(args, &out, &err);
        }
        if (r < 0 || !(chain = json_tokener_parse(out)) || !json_object_is_type(chain, json_type_array) ||
            json_object_array_length(chain) == 0) {
                json_object_put(chain);
                return failure(name, "the image is not a %s image QEMU can read%s%s.", fmt, err ? ": " : "",
                        err ?: "");
        }
        refused = chain_refers_to_other_files(chain);
        if (json_object_object_get_ex(json_object_array_get_idx(chain, 0), "virtual-size", &v))
                vsize = (uint64_t) json_object_get_int64(v);
        json_object_put(chain);
        if (refused)
                return failure(name, "the image refers to other files (a backing file or an external data file); "
                        "only a self-contained image can be installed.");
        return copy_to_boot(name, c, source, vsize, target);
}

/* zoneadm clone SOURCE: what the source's guest sees of its boot disk (not its host
 * data) becomes this zone's boot disk (target: as for install-image). */
int verb_clone(const char *name, const char *source, const char *target)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL, *sc = NULL;
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        _cleanup_free_ char *json = NULL, *image = NULL;
        json_object *j;
        KzError e = {};
        int r;

        r = zone_store_load(arg_root, name, &c, &e);
        if (r >= 0)
                r = zone_store_load(arg_root, source, &sc, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!zone_boot_device(c) || !zone_boot_device(sc))
                return failure(name, "both zones need a boot device to clone.");
        r = boot_storage_open(sc, arg_root, &s, &e);
        if (r < 0)
                return failure(name, "source zone '%s': %s", source, kz_error_message(&e, r));
        r = zone_device_blockdev_json(sc, zone_boot_device(sc), NULL, &json, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        j = json_tokener_parse(json);
        if (!j)
                return -ENOMEM;
        json_object_object_add(j, "size", json_object_new_int64((int64_t) (boot_storage_size(s) - HOSTDATA_AREA)));
        {
                /* a local file or device lives under the alternate root, if any */
                json_object *file, *fn;
                if (json_object_object_get_ex(j, "file", &file) && json_object_object_get_ex(file, "filename", &fn)) {
                        _cleanup_free_ char *rooted = path_join(arg_root, json_object_get_string(fn));
                        if (!rooted) {
                                json_object_put(j);
                                return -ENOMEM;
                        }
                        json_object_object_add(file, "filename", json_object_new_string(rooted));
                }
        }
        r = asprintf(&image, "json:%s", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        if (r < 0)
                return -ENOMEM;
        return copy_to_boot(name, c, image, boot_storage_size(s) - HOSTDATA_AREA, target);
}
