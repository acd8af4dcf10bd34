/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "hostdata.h"
#include "qemu-img.h"
#include "storage-uri.h"
#include "zone-qemu.h"
#include "zone-key.h"
#include "zone-store.h"

#define MAGIC "KZHOSTD2"
#define NONCE_SIZE 12u
#define TAG_SIZE 16u
#define UUID_SIZE 40u
#define LEN_AT (8u + NONCE_SIZE)
#define GENERATION_AT (LEN_AT + 4u)
#define UUID_AT (GENERATION_AT + 8u)
#define HEADER_SIZE (UUID_AT + UUID_SIZE)


int hostdata_local_hostid(char ret[9])
{
        _cleanup_free_ char *id = NULL;
        size_t size;
        uint8_t digest[32];
        char input[64];
        int r;

        r = read_file_bounded("/etc/machine-id", 64, &id, &size);
        if (r < 0)
                return r;
        while (size > 0 && (id[size - 1] == '\n' || id[size - 1] == ' '))
                id[--size] = 0;
        if (size != 32)
                return -EBADMSG;
        (void) snprintf(input, sizeof(input), "kzones-hostid:%s", id);
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, input, strlen(input), digest) < 0)
                return -EIO;
        (void) snprintf(ret, 9, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
        return 0;
}

int hostdata_for_this_host(const char *state, const char *image, HostData *ret)
{
        struct timeval tv;
        HostData hd = {};
        int r;

        r = hostdata_local_hostid(hd.hostid);
        if (r < 0)
                return r;
        if (gethostname(hd.hostname, sizeof(hd.hostname) - 1) < 0)
                return -errno;
        (void) snprintf(hd.state, sizeof(hd.state), "%s", state);
        (void) snprintf(hd.image, sizeof(hd.image), "%s", image ?: "");
        (void) gettimeofday(&tv, NULL);
        hd.updated = (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
        *ret = hd;
        return 0;
}

static void put_le64(uint8_t *p, uint64_t v)
{
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static int aead_init(const uint8_t zone_key[16], gnutls_aead_cipher_hd_t *ret)
{
        return zone_key_aead(zone_key, ZONE_KEY_HOSTDATA, GNUTLS_CIPHER_AES_128_CCM, ret);
}

int hostdata_seal(const HostData *hd, const uint8_t zone_key[16], uint8_t buf[HOSTDATA_BLOCK])
{
        gnutls_aead_cipher_hd_t h = NULL;
        char plain[512];
        size_t plen, outlen = HOSTDATA_BLOCK - HEADER_SIZE;
        uint32_t len;
        int r;

        /* one field a line: a value with a line break would forge the fields after it */
        if (strpbrk(hd->hostid, "\n\r") || strpbrk(hd->hostname, "\n\r") || strpbrk(hd->state, "\n\r") ||
            strpbrk(hd->image, "\n\r"))
                return -EINVAL;
        if (strlen(hd->uuid) >= UUID_SIZE)
                return -EINVAL;
        plen = (size_t) snprintf(plain, sizeof(plain),
                "hostid=%s\nhostname=%s\nstate=%s\nimage=%s\nupdated=%" PRIu64 "\nsuspend=%" PRIu64 "\n",
                hd->hostid, hd->hostname, hd->state, hd->image, hd->updated, hd->suspend);
        if (plen >= sizeof(plain)) {
                explicit_bzero(plain, sizeof(plain));
                return -E2BIG;
        }
        memset(buf, 0, HOSTDATA_BLOCK);
        memcpy(buf, MAGIC, 8);
        len = (uint32_t) (plen + TAG_SIZE);
        memcpy(buf + LEN_AT, &len, 4);
        put_le64(buf + GENERATION_AT, hd->generation);
        memcpy(buf + UUID_AT, hd->uuid, strlen(hd->uuid));
        r = gnutls_rnd(GNUTLS_RND_NONCE, buf + 8, NONCE_SIZE) < 0 ? -EIO : aead_init(zone_key, &h);
        if (r >= 0) {
                r = gnutls_aead_cipher_encrypt(h, buf + 8, NONCE_SIZE, buf, HEADER_SIZE, TAG_SIZE, plain, plen,
                            buf + HEADER_SIZE, &outlen) < 0 || outlen != len
                        ? -EIO
                        : 0;
                gnutls_aead_cipher_deinit(h);
        }
        explicit_bzero(plain, sizeof(plain));
        return r;
}

static void field(const char *text, const char *key, char *out, size_t size)
{
        size_t klen = strlen(key);

        for (const char *l = text; l && *l;) {
                const char *nl = strchr(l, '\n');
                size_t n = nl ? (size_t) (nl - l) : strlen(l);

                if (n > klen && strncmp(l, key, klen) == 0 && l[klen] == '=') {
                        size_t v = n - klen - 1;
                        if (v >= size)
                                v = size - 1;
                        memcpy(out, l + klen + 1, v);
                        out[v] = 0;
                        return;
                }
                l = nl ? nl + 1 : NULL;
        }
        out[0] = 0;
}

int hostdata_open(const uint8_t buf[HOSTDATA_BLOCK], const uint8_t zone_key[16], const char *uuid,
                uint64_t min_generation, HostData *ret)
{
        gnutls_aead_cipher_hd_t h = NULL;
        char plain[HOSTDATA_BLOCK + 1], number[32];
        size_t plen = HOSTDATA_BLOCK;
        uint32_t len;
        HostData hd = {};
        int r;

        if (memcmp(buf, MAGIC, 8) != 0)
                return memcmp(buf, MAGIC, 7) == 0 ? -EBADMSG : -ENODATA; /* KZHOSTD1: an older format */
        memcpy(&len, buf + LEN_AT, 4);
        if (len < TAG_SIZE || len > HOSTDATA_BLOCK - HEADER_SIZE || buf[UUID_AT + UUID_SIZE - 1] != 0)
                return -EBADMSG;
        r = aead_init(zone_key, &h);
        if (r < 0)
                return r;
        r = gnutls_aead_cipher_decrypt(h, buf + 8, NONCE_SIZE, buf, HEADER_SIZE, TAG_SIZE, buf + HEADER_SIZE, len,
                plain, &plen);
        gnutls_aead_cipher_deinit(h);
        if (r < 0) {
                explicit_bzero(plain, sizeof(plain));
                return -EBADMSG;
        }
        plain[plen] = 0;
        memcpy(hd.uuid, buf + UUID_AT, UUID_SIZE);
        hd.generation = get_le64(buf + GENERATION_AT);
        field(plain, "hostid", hd.hostid, sizeof(hd.hostid));
        field(plain, "hostname", hd.hostname, sizeof(hd.hostname));
        field(plain, "state", hd.state, sizeof(hd.state));
        field(plain, "image", hd.image, sizeof(hd.image));
        field(plain, "updated", number, sizeof(number));
        hd.updated = strtoull(number, NULL, 10);
        field(plain, "suspend", number, sizeof(number));
        hd.suspend = strtoull(number, NULL, 10);
        explicit_bzero(plain, sizeof(plain));
        if (uuid && !streq(uuid, hd.uuid))
                return -EXDEV;
        if (hd.generation < min_generation)
                return -ESTALE;
        *ret = hd;
        return 0;
}

bool hostdata_is_lease(const HostData *hd)
{
        return streq(hd->state, "running");
}

bool hostdata_lease_fresh(const HostData *hd, uint64_t now)
{
        /* a clock ahead of ours counts as fresh: only watching may take a lease */
        return hostdata_is_lease(hd) && (hd->updated >= now || now - hd->updated < LEASE_EXPIRY_USEC);
}

char *hostdata_in_use_message(const char *zone, const HostData *hd)
{
        char when[64] = "unknown";
        time_t t = (time_t) (hd->updated / 1000000u);
        struct tm tm;
        char *s;

        if (hd->updated && localtime_r(&t, &tm))
                (void) strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
        if (asprintf(&s,
                    "error: ERROR: zone %s is in use by host with hostid %s\n"
                    "error:           last known state: %s\n"
                    "error:                   hostname: %s\n"
                    "error:      boot environment name: %s\n"
                    "error:           last update time: %s\n"
                    "error: To fix, detach the zone from the other host then attach it to this host\n"
                    "error: If the zone is not active on another host, attach it with\n"
                    "error:     zoneadm -z %s attach -x force-takeover",
                    zone, hd->hostid, hd->state, hd->hostname, *hd->image ? hd->image : "-", when, zone) < 0)
                return NULL;
        return s;
}

/* ---- the boot device ---------------------------------------------------------------------- */

struct BootStorage {
        char *uri;
        char *path; /* file and dev: the local path */
        char *json; /* otherwise: a json: filename for qemu-io and qemu-img */
        uint64_t size;
};

BootStorage *boot_storage_free(BootStorage *s)
{
        if (!s)
                return NULL;
        free(s->uri);
        free(s->path);
        free(s->json);
        free(s);
        return NULL;
}

uint64_t boot_storage_size(const BootStorage *s)
{
        return s->size;
}

const char *boot_storage_uri(const BootStorage *s)
{
        return s->uri;
}

int boot_storage_open(const ZoneConfig *c, const char *root, BootStorage **ret, KzError *e)
{
        _cleanup_(boot_storage_freep) BootStorage *s = calloc(1, sizeof(*s));
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        const ZoneResource *boot = zone_boot_device(c);
        int r;

        if (!s)
                return -ENOMEM;
        if (!boot)
                return kz_error_set(e, ENODEV, "the zone has no boot device.");
        s->uri = zone_config_expand(c, boot, zone_resource_get(boot, "storage"));
        if (!s->uri)
                return -ENOMEM;
        r = storage_uri_parse(s->uri, &u, NULL);
        if (r < 0)
                return kz_error_set(e, EINVAL, "%s is not a valid storage URI.", s->uri);
        if (u->scheme == STORAGE_FILE || u->scheme == STORAGE_DEV) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                s->path = path_join(root, u->path);
                if (!s->path)
                        return -ENOMEM;
                fd = open(s->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return kz_error_set(e, errno, "cannot open the boot storage %s: %m.", s->path);
                if (S_ISBLK(st.st_mode)) {
                        if (ioctl(fd, BLKGETSIZE64, &s->size) < 0)
                                return kz_error_set(e, errno, "cannot size %s: %m.", s->path);
                } else
                        s->size = (uint64_t) st.st_size;
        } else {
                _cleanup_free_ char *out = NULL, *err = NULL, *json = NULL;
                json_object *info, *vs;
                const char *argv[] = { "qemu-img", "info", "--output=json", NULL, NULL };

                r = zone_device_blockdev_json(c, boot, NULL, &json, e);
                if (r < 0)
                        return r;
                if (asprintf(&s->json, "json:%s", json) < 0)
                        return -ENOMEM;
                argv[3] = s->json;
                r = qemu_img_run(argv, 64 * 1024, &out, NULL, NULL, &err);
                if (r < 0 && r != -EIO)
                        return kz_error_set(e, -r, "cannot run qemu-img: %s.", strerror(-r));
                if (r < 0)
                        return kz_error_set(e, EIO, "the boot storage %s cannot be reached: %s", s->uri,
                                err ?: "qemu-img failed");
                info = json_tokener_parse(out);
                if (!info || !json_object_object_get_ex(info, "virtual-size", &vs)) {
                        json_object_put(info);
                        return kz_error_set(e, EIO, "cannot tell the size of %s.", s->uri);
                }
                s->size = (uint64_t) json_object_get_int64(vs);
                json_object_put(info);
        }
        if (s->size < HOSTDATA_AREA + 512)
                return kz_error_set(e, ENOSPC, "the boot storage %s is too small (%" PRIu64 " bytes).", s->uri, s->size);
        *ret = TAKE_PTR(s);
        return 0;
}

static uint64_t hostdata_offset(const BootStorage *s)
{
        return s->size - HOSTDATA_AREA;
}

int boot_storage_read_hostdata(BootStorage *s, uint8_t buf[HOSTDATA_BLOCK], KzError *e)
{
        if (s->path) {
                _cleanup_close_ int fd = open(s->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || pread(fd, buf, HOSTDATA_BLOCK, (off_t) hostdata_offset(s)) != HOSTDATA_BLOCK)
                        return kz_error_set(e, EIO, "cannot read the host data of %s: %m.", s->path);
                return 0;
        } else {
                _cleanup_free_ char *out = NULL, *err = NULL;
                char cmd[96];
                const char *argv[] = { "qemu-io", "-r", "-c", cmd, s->json, NULL };
                size_t n = 0;
                int r;

                (void) snprintf(cmd, sizeof(cmd), "read -v %" PRIu64 " %u", hostdata_offset(s), HOSTDATA_BLOCK);
                r = qemu_img_run(argv, 256 * 1024, &out, NULL, NULL, &err);
                if (r < 0)
                        return kz_error_set(e, EIO, "cannot read the host data of %s: %s", s->uri,
                                err ?: strerror(-r));
                /* "00000000:  4b 5a 48 …  KZH…" */
                for (char *l = out; l && *l && n < HOSTDATA_BLOCK;) {
                        char *nl = strchr(l, '\n'), *p = strstr(l, ":  ");

                        if (nl)
                                *nl = 0;
                        if (p && p - l == 8)
                                for (p += 3; n < HOSTDATA_BLOCK;) {
                                        char *end;
                                        unsigned long v;

                                        while (*p == ' ')
                                                p++;
                                        if (!p[0] || !p[1] || p[2] != ' ')
                                                break;
                                        v = strtoul(p, &end, 16);
                                        if (end != p + 2)
                                                break;
                                        buf[n++] = (uint8_t) v;
                                        p += 2;
                                }
                        l = nl ? nl + 1 : NULL;
                }
                if (n != HOSTDATA_BLOCK)
                        return kz_error_set(e, EIO, "cannot read the host data of %s: short read.", s->uri);
                return 0;
        }
}

int boot_storage_write_hostdata(BootStorage *s, const uint8_t buf[HOSTDATA_BLOCK], KzError *e)
{
        if (s->path) {
                _cleanup_close_ int fd = open(s->path, O_WRONLY | O_CLOEXEC);
                if (fd < 0 || pwrite(fd, buf, HOSTDATA_BLOCK, (off_t) hostdata_offset(s)) != HOSTDATA_BLOCK ||
                    fdatasync(fd) < 0)
                        return kz_error_set(e, EIO, "cannot write the host data of %s: %m.", s->path);
                return 0;
        } else {
                char tmp[] = "/tmp/kzones-hostdata.XXXXXX";
                _cleanup_free_ char *out = NULL, *err = NULL;
                char cmd[160];
                const char *argv[] = { "qemu-io", "-c", cmd, s->json, NULL };
                int fd, r;

                fd = mkostemp(tmp, O_CLOEXEC);
                if (fd < 0)
                        return kz_error_set(e, errno, "cannot create a temporary file: %m.");
                r = write(fd, buf, HOSTDATA_BLOCK) == HOSTDATA_BLOCK ? 0 : -EIO;
                (void) close(fd);
                if (r < 0) {
                        (void) unlink(tmp);
                        return kz_error_set(e, EIO, "cannot write a temporary file.");
                }
                (void) snprintf(cmd, sizeof(cmd), "write -f -s %s %" PRIu64 " %u", tmp, hostdata_offset(s),
                        HOSTDATA_BLOCK);
                r = qemu_img_run(argv, 64 * 1024, &out, NULL, NULL, &err);
                (void) unlink(tmp);
                if (r < 0)
                        return kz_error_set(e, EIO, "cannot write the host data of %s: %s", s->uri,
                                err ?: strerror(-r));
                return 0;
        }
}
