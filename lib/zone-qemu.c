/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How a zone configuration becomes a QEMU command line (and a -blockdev for
 * qemu-img). Where its RAM comes from is zone-memory.c. */
#include <fcntl.h>
#include <linux/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <grp.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pwd.h>

#include "hostdata.h"
#include "size.h"
#include "storage-uri.h"
#include "zone-qemu.h"
#include "zone-store.h"

typedef struct Argv {
        char **v;
        size_t n;
        int error;
} Argv;

static void argv_add(Argv *a, const char *s)
{
        char **n;

        if (a->error)
                return;
        n = realloc(a->v, (a->n + 2) * sizeof(char *));
        if (!n || !(n[a->n] = strdup(s))) {
                a->v = n ?: a->v;
                a->error = -ENOMEM;
                return;
        }
        a->v = n;
        a->v[++a->n] = NULL;
}

_printf_(2, 3) static void argv_addf(Argv *a, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0) {
                a->error = -ENOMEM;
                return;
        }
        argv_add(a, s);
}

static void argv_free(Argv *a)
{
        for (size_t i = 0; a->v && i < a->n; i++)
                free(a->v[i]);
        free(a->v);
        a->v = NULL;
}

static const ResourceType *rt(const char *name)
{
        return resource_type_child(zone_type(), name);
}

uint64_t zone_memory_bytes(const ZoneConfig *c)
{
        const char *v = zone_resource_get(zone_resource_first(c->root, rt("capped-memory")), "physical");
        uint64_t b = 0;

        if (size_parse(v ?: ZONE_DEFAULT_MEMORY, &b) < 0)
                (void) size_parse(ZONE_DEFAULT_MEMORY, &b);
        return b;
}

unsigned zone_ncpus(const ZoneConfig *c)
{
        const ZoneResource *vc = zone_resource_first(c->root, rt("virtual-cpu"));
        const ZoneResource *dc = zone_resource_first(c->root, rt("dedicated-cpu"));
        const char *v = zone_resource_get(vc, "ncpus");

        if (v)
                return (unsigned) strtoul(v, NULL, 10);
        if (zone_resource_get(dc, "ncpus"))
                return (unsigned) strtoul(zone_resource_get(dc, "ncpus"), NULL, 10);
        if (zone_resource_get(dc, "cpus")) {
                /* as many vCPUs as dedicated host CPUs */
                unsigned n = 0;
                const char *p = zone_resource_get(dc, "cpus");
                while (*p) {
                        char *end;
                        unsigned long a = strtoul(p, &end, 10), b = a;
                        if (*end == '-')
                                b = strtoul(end + 1, &end, 10);
                        n += (unsigned) (b - a + 1);
                        p = *end == ',' ? end + 1 : end;
                }
                return n;
        }
        return ZONE_DEFAULT_NCPUS;
}

unsigned zone_max_vcpus(const ZoneConfig *c)
{
        unsigned n = zone_ncpus(c), m = MIN(2 * n > ZONE_MAXCPUS_MIN ? 2 * n : ZONE_MAXCPUS_MIN, ZONE_MAXCPUS_MAX);

        return m > n ? m : n;
}

bool zone_memory_live_enabled(const ZoneConfig *c)
{
        const char *hc = zone_resource_get(c->root, "host-compatible");

        return hc && (streq(hc, "native") || streq(hc, "level2") || streq(hc, "memlzs") || streq(hc, "meml2r"));
}

uint64_t zone_vmem_region(const ZoneConfig *c)
{
        const ZoneResource *cm = zone_resource_first(c->root, rt("capped-memory"));
        const char *policy = zone_resource_get(cm, "pagesize-policy");
        uint64_t b = zone_memory_bytes(c);

        /* memory from a pool: the region is a file in the pool's extent, plugged in its
         * pages (the pool's page size divides physical, so it divides the region too); a
         * policy that insists on huge pages: not yet (zone_live_memory_refusal());
         * largest-available takes base pages when it must, and so does the memory
         * plugged live */
        if (!zone_memory_live_enabled(c))
                return 0;
        if (!zone_resource_get(cm, "memory-reserve") && policy && !streq(policy, "largest-available"))
                return 0;
        return (b * (ZONE_VMEM_FACTOR - 1)) / ZONE_VMEM_BLOCK * ZONE_VMEM_BLOCK;
}

static int device_cmp(const void *a, const void *b)
{
        const ZoneResource *x = *(const ZoneResource *const *) a, *y = *(const ZoneResource *const *) b;
        unsigned long px = strtoul(zone_resource_get(x, "bootpri") ?: "65536", NULL, 10);
        unsigned long py = strtoul(zone_resource_get(y, "bootpri") ?: "65536", NULL, 10);
        unsigned long ix = strtoul(zone_resource_get(x, "id") ?: "0", NULL, 10);
        unsigned long iy = strtoul(zone_resource_get(y, "id") ?: "0", NULL, 10);

        if (px != py)
                return px < py ? -1 : 1;
        return ix < iy ? -1 : ix > iy;
}

size_t zone_devices_sorted(const ZoneConfig *c, const ZoneResource ***ret)
{
        const ResourceType *t = rt("device");
        size_t n = 0;
        const ZoneResource **l = calloc(zone_resource_count(c->root, t) + 1, sizeof(*l));

        if (!l) {
                *ret = NULL;
                return 0;
        }
        for (size_t i = 0; i < c->root->n_children; i++)
                if (c->root->children[i]->type == t)
                        l[n++] = c->root->children[i];
        qsort(l, n, sizeof(*l), device_cmp);
        *ret = l;
        return n;
}

const ZoneResource *zone_boot_device(const ZoneConfig *c)
{
        _cleanup_free_ const ZoneResource **l = NULL;
        size_t n = zone_devices_sorted(c, &l);

        return n > 0 ? l[0] : NULL;
}

int zone_suspend_image_path(const ZoneConfig *c, const char *root, char **ret)
{
        const ZoneResource *s = zone_resource_first(c->root, resource_type_child(zone_type(), "suspend"));
        const char *p = zone_resource_get(s, "path"), *st = zone_resource_get(s, "storage");

        if (!s)
                return -ENOENT;
        if (!p && st && strncmp(st, "file://", 7) == 0)
                p = st + 7;
        if (!p)
                return -EOPNOTSUPP;
        *ret = path_join(root, p);
        return *ret ? 0 : -ENOMEM;
}

void zone_anet_mac(const ZoneConfig *c, const ZoneResource *anet, char buf[18])
{
        const char *m = zone_resource_get(anet, "mac-address");
        const char *name = zone_config_name(c) ?: "";
        const char *id = zone_resource_get(anet, "id") ?: "0";
        uint64_t h = 1469598103934665603ull; /* FNV-1a */

        if (m && !streq(m, "auto") && !streq(m, "random")) {
                unsigned o[6];
                if (sscanf(m, "%x:%x:%x:%x:%x:%x", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]) == 6) {
                        (void) snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1], o[2], o[3], o[4],
                                o[5]);
                        return;
                }
        }
        for (const char *p = name; *p; p++)
                h = (h ^ (uint8_t) *p) * 1099511628211ull;
        h = (h ^ '/') * 1099511628211ull;
        for (const char *p = id; *p; p++)
                h = (h ^ (uint8_t) *p) * 1099511628211ull;
        /* 02: locally administered, unicast */
        (void) snprintf(buf, 18, "02:%02x:%02x:%02x:%02x:%02x", (unsigned) (h >> 32) & 0xff,
                (unsigned) (h >> 24) & 0xff, (unsigned) (h >> 16) & 0xff, (unsigned) (h >> 8) & 0xff,
                (unsigned) h & 0xff);
}

static bool fd_is_qcow2(int fd)
{
        unsigned char magic[4];

        return fd >= 0 && pread(fd, magic, 4, 0) == 4 && memcmp(magic, "QFI\xfb", 4) == 0;
}

static bool file_is_qcow2(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        return fd_is_qcow2(fd);
}

static json_object *inet_server(const StorageUri *u)
{
        json_object *s = json_object_new_object();
        char port[8];
        const char *host = u->host;
        _cleanup_free_ char *bare = NULL;

        if (host[0] == '[') { /* QEMU wants the IPv6 address without brackets */
                bare = strndup(host + 1, strlen(host) - 2);
                host = bare ?: host;
        }
        (void) snprintf(port, sizeof(port), "%u", u->port ?: storage_uri_default_port(u->scheme));
        json_object_object_add(s, "type", json_object_new_string("inet"));
        json_object_object_add(s, "host", json_object_new_string(host));
        json_object_object_add(s, "port", json_object_new_string(port));
        return s;
}

/* The -blockdev for one device: a format node over a protocol node. A local file or
 * block device that the launcher opened (fd >= 0) is QEMU's fdset fdset, so QEMU
 * never opens the path itself. */
static int device_blockdev(const ZoneConfig *c, const ZoneResource *d, const char *node, uint64_t visible_size,
                int fd, unsigned fdset, char **ret, KzError *e)
{
        char fdset_path[32];
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = zone_config_expand(c, d, zone_resource_get(d, "storage"));
        json_object *fmt, *proto;
        const char *format = "raw";
        int r;

        if (!uri)
                return -ENOMEM;
        r = storage_uri_parse(uri, &u, NULL);
        if (r < 0)
                return kz_error_set(e, r, "device %s: %s is not a valid storage URI.", zone_resource_get(d, "id"),
                        uri);
        (void) snprintf(fdset_path, sizeof(fdset_path), "/dev/fdset/%u", fdset);
        proto = json_object_new_object();
        switch (u->scheme) {
        case STORAGE_FILE:
                json_object_object_add(proto, "driver", json_object_new_string("file"));
                json_object_object_add(proto, "filename", json_object_new_string(fd >= 0 ? fdset_path : u->path));
                if (fd >= 0 ? fd_is_qcow2(fd) : file_is_qcow2(u->path))
                        format = "qcow2";
                break;
        case STORAGE_DEV:
                json_object_object_add(proto, "driver", json_object_new_string("host_device"));
                json_object_object_add(proto, "filename", json_object_new_string(fd >= 0 ? fdset_path : u->path));
                break;
        case STORAGE_NBD:
                json_object_object_add(proto, "driver", json_object_new_string("nbd"));
                json_object_object_add(proto, "server", inet_server(u));
                json_object_object_add(proto, "export", json_object_new_string(u->path));
                break;
        case STORAGE_ISCSI: {
                char portal[300];

                if (!u->target) {
                        json_object_put(proto);
                        return kz_error_set(e, EOPNOTSUPP, "device %s: %s names an iSCSI LU without its target; "
                                "use iscsi://HOST/target.IQN,lun.N.", zone_resource_get(d, "id"), uri);
                }
                (void) snprintf(portal, sizeof(portal), "%s:%u", u->host, u->port ?: 3260);
                json_object_object_add(proto, "driver", json_object_new_string("iscsi"));
                json_object_object_add(proto, "transport", json_object_new_string("tcp"));
                json_object_object_add(proto, "portal", json_object_new_string(portal));
                json_object_object_add(proto, "target", json_object_new_string(u->target));
                json_object_object_add(proto, "lun", json_object_new_int((int) u->lun));
                break;
        }
        case STORAGE_NFS: {
                struct passwd *pw = getpwnam(u->user);
                struct group *gr = getgrnam(u->group);
                char *end;
                long uid = strtol(u->user, &end, 10), gid;

                if (*end)
                        uid = pw ? (long) pw->pw_uid : -1;
                gid = strtol(u->group, &end, 10);
                if (*end)
                        gid = gr ? (long) gr->gr_gid : -1;
                if (uid < 0 || gid < 0) {
                        json_object_put(proto);
                        return kz_error_set(e, ENOENT, "device %s: NFS user '%s' or group '%s' does not exist on "
                                "this host.", zone_resource_get(d, "id"), u->user, u->group);
                }
                json_object_object_add(proto, "driver", json_object_new_string("nfs"));
                json_object_object_add(proto, "server", inet_server(u));
                json_object_object_add(proto, "path", json_object_new_string(u->path));
                json_object_object_add(proto, "user", json_object_new_int64(uid));
                json_object_object_add(proto, "group", json_object_new_int64(gid));
                break;
        }
        case _STORAGE_SCHEME_MAX:
        case _STORAGE_SCHEME_INVALID:
                json_object_put(proto);
                return -EINVAL;
        }
        fmt = json_object_new_object();
        json_object_object_add(fmt, "driver", json_object_new_string(format));
        if (node)
                json_object_object_add(fmt, "node-name", json_object_new_string(node));
        json_object_object_add(fmt, "file", proto);
        /* the boot device's last MiB holds the host data: the guest does not see it */
        if (visible_size > 0)
                json_object_object_add(fmt, "size", json_object_new_int64((int64_t) visible_size));
        *ret = strdup(json_object_to_json_string_ext(fmt, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(fmt);
        return *ret ? 0 : -ENOMEM;
}

int zone_device_blockdev_json(const ZoneConfig *c, const ZoneResource *d, const char *node, char **ret, KzError *e)
{
        return device_blockdev(c, d, node, 0, -EBADF, 0, ret, e);
}

int zone_device_blockdev_fdset_json(const ZoneConfig *c, const ZoneResource *d, const char *node, int fd,
                unsigned fdset, char **ret, KzError *e)
{
        return device_blockdev(c, d, node, 0, fd, fdset, ret, e);
}

unsigned zone_hotplug_ports(const ZoneConfig *c)
{
        size_t n = zone_resource_count(c->root, rt("device")) + zone_resource_count(c->root, rt("anet")) +
                ZONE_HOTPLUG_SPARE_PORTS;

        return (unsigned) MIN(n, (size_t) ZONE_HOTPLUG_PORTS_MAX);
}

/* The PCIe root ports that disks and NICs sit on, each alone (q35's root bus takes no
 * hot-plugged device): the zone's own, in boot order, then the spare ones. Eight to a
 * slot from ZONE_HOTPLUG_FIRST_SLOT on, no I/O window (virtio on PCIe needs none). */
static void hotplug_ports(Argv *a, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                argv_add(a, "-device");
                argv_addf(a, "pcie-root-port,id=" ZONE_HOTPLUG_PORT "%u,bus=pcie.0,addr=0x%x.%u%s,chassis=%u,"
                        "io-reserve=0", i, ZONE_HOTPLUG_FIRST_SLOT + i / 8, i % 8, i % 8 == 0 ? ",multifunction=on" : "",
                        i + 1);
        }
}

/* ",bus=PORT" for the next disk or NIC, or nothing once the ports are used up (then
 * it sits on the root bus and cannot be removed while the zone runs). */
static const char *next_port(char buf[32], unsigned *next, unsigned n)
{
        if (*next >= n)
                return "";
        (void) snprintf(buf, 32, ",bus=" ZONE_HOTPLUG_PORT "%u", (*next)++);
        return buf;
}

static int memory_backend(Argv *a, const ZoneConfig *c, const ZoneMemory *m, KzError *e)
{
        uint64_t mib = zone_memory_bytes(c) / SIZE_M;

        if (!m)
                return 0;
        /* id=pc.ram: the name QEMU gives ordinary guest RAM, so the RAM block is called the
         * same whatever backs it, and suspend images and migration streams still fit */
        switch (m->kind) {
        case ZONE_MEMORY_ORDINARY:
                return 0;
        case ZONE_MEMORY_HUGEPAGES:
                argv_add(a, "-object");
                argv_addf(a, "memory-backend-memfd,id=pc.ram,size=%" PRIu64 "M,hugetlb=on,hugetlbsize=%" PRIu64
                        ",share=on,prealloc=on", mib, m->page_size);
                return 0;
        case ZONE_MEMORY_POOL:
                if (m->fd < 0)
                        return kz_error_set(e, EBADF, "the zone's memory in its pool is not open.");
                /* the file is unlinked: QEMU opens it again through the inherited descriptor */
                argv_add(a, "-object");
                argv_addf(a, "memory-backend-file,id=pc.ram,size=%" PRIu64 "M,mem-path=/proc/self/fd/%d,share=on,"
                        "prealloc=on", mib, m->fd);
                return 0;
        case _ZONE_MEMORY_KIND_MAX:
        case _ZONE_MEMORY_KIND_INVALID:
                break;
        }
        return -EINVAL;
}

uint64_t zone_vmem_block(const ZoneMemory *m)
{
        return m && m->kind == ZONE_MEMORY_POOL && m->page_size > ZONE_VMEM_BLOCK ? m->page_size : ZONE_VMEM_BLOCK;
}

/* The virtio-mem device and its region. A pool zone's region is its second file in the
 * pool (ZoneMemory.vmem_fd), mapped without a reservation (reserve=off): nothing of the
 * pool is taken at boot; the device preallocates each block as the guest plugs it, so a
 * pool without free pages makes the plug fail (the guest is told, and retries) rather
 * than QEMU take a SIGBUS, and a block unplugged is discarded, which punches a hole in
 * the file and gives its pages back to the pool. */
static int vmem_device(Argv *a, uint64_t vmem, const ZoneMemory *m, KzError *e)
{
        argv_add(a, "-object");
        if (m && m->kind == ZONE_MEMORY_POOL) {
                if (m->vmem_fd < 0)
                        return kz_error_set(e, EBADF, "the zone's memory region in its pool is not open.");
                argv_addf(a, "memory-backend-file,id=" ZONE_VMEM_ID "-mem,size=%" PRIu64 "M,mem-path=/proc/self/fd/%d,"
                        "share=on,reserve=off", vmem / SIZE_M, m->vmem_fd);
        } else
                argv_addf(a, "memory-backend-ram,id=" ZONE_VMEM_ID "-mem,size=%" PRIu64 "M", vmem / SIZE_M);
        argv_add(a, "-device");
        argv_addf(a, "virtio-mem-pci,id=" ZONE_VMEM_ID ",memdev=" ZONE_VMEM_ID "-mem,block-size=%" PRIu64 ","
                "requested-size=0%s", zone_vmem_block(m), m && m->kind == ZONE_MEMORY_POOL ? ",prealloc=on" : "");
        return 0;
}

int zone_qemu_argv(const ZoneConfig *c, const ZoneQemuOptions *o, char ***ret, KzError *e)
{
        _cleanup_free_ const ZoneResource **devices = NULL;
        const ZoneResource *boot = zone_resource_first(c->root, rt("boot"));
        const char *name = zone_config_name(c);
        const ZoneQemuFds *f = o->fds;
        char installer_fdset[32];
        const char *installer = o->installer_iso;
        Argv a = {};
        size_t n, tap = 0;
        char mem[SIZE_FORMAT_MAX], port[32];
        uint64_t vmem;
        unsigned ports = zone_hotplug_ports(c), next = 0;
        int r;

        if (f && f->installer >= 0) {
                (void) snprintf(installer_fdset, sizeof(installer_fdset), "/dev/fdset/%d", ZONE_FDSET_INSTALLER);
                installer = installer_fdset;
        }
        argv_add(&a, o->qemu ?: "qemu-system-x86_64");
        argv_addf(&a, "-name");
        argv_addf(&a, "guest=%s,debug-threads=on", name);
        if (o->uuid && *o->uuid) {
                argv_add(&a, "-uuid");
                argv_add(&a, o->uuid);
        }
        argv_add(&a, "-machine");
        if (o->memory && o->memory->kind != ZONE_MEMORY_ORDINARY)
                argv_add(&a, "q35,memory-backend=pc.ram");
        else
                argv_add(&a, "q35");
        argv_add(&a, "-accel");
        argv_add(&a, zone_accel_qemu_option(o->accel));
        argv_add(&a, "-cpu");
        argv_add(&a, o->cpu_model ?: (o->accel == ZONE_ACCEL_TCG ? "max" : "host"));
        argv_add(&a, "-m");
        vmem = zone_vmem_region(c);
        if (vmem > 0)
                argv_addf(&a, "%" PRIu64 "M,maxmem=%" PRIu64 "M", zone_memory_bytes(c) / SIZE_M,
                        (zone_memory_bytes(c) / SIZE_M) + vmem / SIZE_M);
        else
                argv_addf(&a, "%" PRIu64 "M", zone_memory_bytes(c) / SIZE_M);
        r = memory_backend(&a, c, o->memory, e);
        if (r < 0) {
                argv_free(&a);
                return r;
        }
        (void) mem;
        /* room for vCPUs added live, and memory a live resize plugs (zone-qemu.h) */
        argv_add(&a, "-smp");
        argv_addf(&a, "%u,maxcpus=%u", zone_ncpus(c), zone_max_vcpus(c));
        if (vmem > 0) {
                r = vmem_device(&a, vmem, o->memory, e);
                if (r < 0) {
                        argv_free(&a);
                        return r;
                }
        }
        argv_add(&a, "-nodefaults");
        argv_add(&a, "-no-user-config");
        argv_add(&a, "-display");
        argv_add(&a, "none");
        argv_add(&a, "-msg");
        argv_add(&a, "timestamp=on");

        /* its own seccomp filter, on top of the unit's */
        if (o->sandbox) {
                argv_add(&a, "-sandbox");
                argv_add(&a, ZONE_QEMU_SANDBOX);
        }

        /* two monitors: the restarter's, and one for helpers (readiness, migration),
         * on sockets the launcher bound (QEMU cannot write the zone's directory) */
        argv_add(&a, "-chardev");
        if (f)
                argv_addf(&a, "socket,id=qmp,fd=%d,server=on,wait=off", f->qmp);
        else
                argv_addf(&a, "socket,id=qmp,path=%s/" ZONE_QMP_SOCKET ",server=on,wait=off", o->runtime_dir);
        argv_add(&a, "-mon");
        argv_add(&a, "chardev=qmp,mode=control");
        argv_add(&a, "-chardev");
        if (f)
                argv_addf(&a, "socket,id=control,fd=%d,server=on,wait=off", f->control);
        else
                argv_addf(&a, "socket,id=control,path=%s/" ZONE_CONTROL_SOCKET ",server=on,wait=off",
                        o->runtime_dir);
        argv_add(&a, "-mon");
        argv_add(&a, "chardev=control,mode=control");
        /* the serial port is connected to the console relay, which logs and serves zlogin -C */
        if (f) {
                argv_add(&a, "-chardev");
                argv_addf(&a, "socket,id=console,fd=%d", f->serial);
                argv_add(&a, "-serial");
                argv_add(&a, "chardev:console");
        }

        hotplug_ports(&a, ports);
        n = zone_devices_sorted(c, &devices);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *bd = NULL;
                char node[32];

                int fd = f && i < f->n_devices ? f->devices[i] : -EBADF;

                (void) snprintf(node, sizeof(node), "disk%s", zone_resource_get(devices[i], "id") ?: "0");
                r = device_blockdev(c, devices[i], node,
                        i == 0 && o->boot_size > HOSTDATA_AREA ? o->boot_size - HOSTDATA_AREA : 0, fd,
                        (unsigned) i + 1, &bd, e);
                if (r < 0) {
                        argv_free(&a);
                        return r;
                }
                if (fd >= 0) {
                        argv_add(&a, "-add-fd");
                        argv_addf(&a, "fd=%d,set=%zu,opaque=%s", fd, i + 1, node);
                }
                argv_add(&a, "-blockdev");
                argv_add(&a, bd);
                argv_add(&a, "-device");
                /* a direct-kernel boot takes bootindex 0 (QEMU's loader option ROM) */
                /* a direct kernel is booted first (QEMU's loader takes bootindex 0), then an
                 * installer's CD-ROM, then the disks in their boot order */
                argv_addf(&a, "virtio-blk-pci,drive=%s,id=%s-dev,serial=kz-%s,bootindex=%zu%s", node, node, node,
                        i + (boot ? 1 : 0) + (installer ? 1 : 0), next_port(port, &next, ports));
        }

        for (size_t i = 0; i < c->root->n_children; i++) {
                const ZoneResource *anet = c->root->children[i];
                char mac[18];
                const char *id;

                if (anet->type != rt("anet"))
                        continue;
                id = zone_resource_get(anet, "id") ?: "0";
                zone_anet_mac(c, anet, mac);
                argv_add(&a, "-netdev");
                if (o->tap_fds && tap < o->n_taps)
                        argv_addf(&a, "tap,id=net%s,fd=%d", id, o->tap_fds[tap]);
                else
                        argv_addf(&a, "user,id=net%s,restrict=on", id);
                tap++;
                argv_add(&a, "-device");
                argv_addf(&a, "virtio-net-pci,netdev=net%s,id=net%s-dev,mac=%s%s", id, id, mac,
                        next_port(port, &next, ports));
        }

        if (boot) {
                _cleanup_free_ char *cmdline = NULL;
                size_t len = 1;
                const char *base = zone_resource_get(boot, "cmdline");
                const char *bootargs = zone_resource_get(c->root, "bootargs");

                len += base ? strlen(base) + 1 : 0;
                len += bootargs ? strlen(bootargs) + 1 : 0;
                for (char **s = o->boot_args; s && *s; s++)
                        len += strlen(*s) + 1;
                cmdline = calloc(1, len);
                if (!cmdline) {
                        argv_free(&a);
                        return -ENOMEM;
                }
                if (base)
                        strcat(cmdline, base);
                if (bootargs)
                        strcat(strcat(cmdline, *cmdline ? " " : ""), bootargs);
                for (char **s = o->boot_args; s && *s; s++)
                        strcat(strcat(cmdline, *cmdline ? " " : ""), *s);
                /* qboot starts a kernel directly, without SeaBIOS's boot menu and device scans */
                if (access(ZONE_QBOOT, R_OK) >= 0) {
                        argv_add(&a, "-bios");
                        argv_add(&a, ZONE_QBOOT);
                }
                argv_add(&a, "-kernel");
                argv_add(&a, zone_resource_get(boot, "kernel"));
                if (zone_resource_get(boot, "initrd")) {
                        argv_add(&a, "-initrd");
                        argv_add(&a, zone_resource_get(boot, "initrd"));
                }
                if (*cmdline) {
                        argv_add(&a, "-append");
                        argv_add(&a, cmdline);
                }
        }
        if (installer) {
                /* zoneadm install -b: the installer's medium comes first */
                _cleanup_free_ char *cd = NULL;
                json_object *j = json_object_new_object(), *file = json_object_new_object();

                if (f && f->installer >= 0) {
                        argv_add(&a, "-add-fd");
                        argv_addf(&a, "fd=%d,set=%d,opaque=installer", f->installer, ZONE_FDSET_INSTALLER);
                }
                json_object_object_add(file, "driver", json_object_new_string("file"));
                json_object_object_add(file, "filename", json_object_new_string(installer));
                json_object_object_add(file, "read-only", json_object_new_boolean(1));
                json_object_object_add(j, "driver", json_object_new_string("raw"));
                json_object_object_add(j, "node-name", json_object_new_string("installer"));
                json_object_object_add(j, "read-only", json_object_new_boolean(1));
                json_object_object_add(j, "file", file);
                cd = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(j);
                if (!cd) {
                        argv_free(&a);
                        return -ENOMEM;
                }
                argv_add(&a, "-blockdev");
                argv_add(&a, cd);
                argv_add(&a, "-device");
                argv_addf(&a, "ide-cd,drive=installer,id=installer-dev,bus=ide.0,bootindex=%d", boot ? 1 : 0);
        }
        if (o->incoming) {
                argv_add(&a, "-incoming");
                argv_add(&a, "defer");
        }
        if (a.error) {
                argv_free(&a);
                return a.error;
        }
        *ret = a.v;
        return 0;
}
