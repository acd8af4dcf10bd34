/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU command line of a confined zone: QEMU's own seccomp filter, its disks
 * as fdsets the launcher opened, its monitors and console as descriptors, and no
 * path that QEMU's unprivileged user would have to open but the kernel. */
#include <criterion/criterion.h>
#include <string.h>

#include "zone-qemu.h"

static ZoneConfig *config(void)
{
        ZoneConfig *c = zone_config_new("kz1");
        const ResourceType *dt = resource_type_child(zone_type(), "device");
        ZoneResource *file = zone_resource_new(dt), *nbd = zone_resource_new(dt), *dev = zone_resource_new(dt);
        KzError e = {};

        cr_assert_not_null(c);
        cr_assert_eq(zone_resource_set(c->root, "brand", "kz", &e), 0);
        cr_assert_eq(zone_resource_set(file, "id", "0", &e), 0);
        cr_assert_eq(zone_resource_set(file, "storage", "file:///var/lib/zones/kz1/disk0.img", &e), 0);
        cr_assert_eq(zone_resource_set(nbd, "id", "1", &e), 0);
        cr_assert_eq(zone_resource_set(nbd, "storage", "nbd://storage:10809/disk1", &e), 0);
        cr_assert_eq(zone_resource_set(dev, "id", "2", &e), 0);
        cr_assert_eq(zone_resource_set(dev, "storage", "dev:/dev/vdz", &e), 0);
        cr_assert_eq(zone_resource_attach(c->root, file), 0);
        cr_assert_eq(zone_resource_attach(c->root, nbd), 0);
        cr_assert_eq(zone_resource_attach(c->root, dev), 0);
        return c;
}

static const char *after(char **argv, const char *opt, int nth)
{
        for (size_t i = 0; argv[i]; i++)
                if (streq(argv[i], opt) && nth-- == 0)
                        return argv[i + 1];
        return NULL;
}

static bool has_substring(char **argv, const char *s)
{
        for (size_t i = 0; argv[i]; i++)
                if (strstr(argv[i], s))
                        return true;
        return false;
}

Test(zone_qemu, a_confined_zone_gets_descriptors_and_a_sandbox)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = config();
        _cleanup_strv_free_ char **argv = NULL;
        int devices[] = { 20, -1, 22 };
        ZoneQemuFds fds = { .qmp = 10, .control = 11, .serial = 12, .devices = devices, .n_devices = 3,
                .installer = 30 };
        ZoneQemuOptions o = { .runtime_dir = "/run/kzones/kz1", .fds = &fds, .sandbox = true };
        KzError e = {};

        cr_assert_eq(zone_qemu_argv(c, &o, &argv, &e), 0, "%s", kz_error_message(&e, -EINVAL));
        cr_assert_str_eq(after(argv, "-sandbox", 0), ZONE_QEMU_SANDBOX);
        cr_assert_str_eq(ZONE_QEMU_SANDBOX, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        cr_assert_str_eq(after(argv, "-chardev", 0), "socket,id=qmp,fd=10,server=on,wait=off");
        cr_assert_str_eq(after(argv, "-chardev", 1), "socket,id=control,fd=11,server=on,wait=off");
        cr_assert_str_eq(after(argv, "-chardev", 2), "socket,id=console,fd=12");
        /* the file and the block device: fdsets 1 and 3 (their places in boot order) */
        cr_assert_str_eq(after(argv, "-add-fd", 0), "fd=20,set=1,opaque=disk0");
        cr_assert_str_eq(after(argv, "-add-fd", 1), "fd=22,set=3,opaque=disk2");
        cr_assert_str_eq(after(argv, "-add-fd", 2), "fd=30,set=1000,opaque=installer");
        cr_assert_null(after(argv, "-add-fd", 3));
        cr_assert_not_null(strstr(after(argv, "-blockdev", 0), "\"driver\":\"file\",\"filename\":\"/dev/fdset/1\""));
        /* network storage: QEMU connects itself */
        cr_assert_not_null(strstr(after(argv, "-blockdev", 1), "\"driver\":\"nbd\""));
        cr_assert_not_null(strstr(after(argv, "-blockdev", 2),
                "\"driver\":\"host_device\",\"filename\":\"/dev/fdset/3\""));
        cr_assert_not_null(strstr(after(argv, "-blockdev", 3), "\"filename\":\"/dev/fdset/1000\",\"read-only\":true"));
        /* no path of the host's for QEMU to open: not the disks, not the sockets */
        cr_assert_not(has_substring(argv, "/var/lib/zones"));
        cr_assert_not(has_substring(argv, "/dev/vdz"));
        cr_assert_not(has_substring(argv, "/run/kzones"));
}

Test(zone_qemu, without_descriptors_qemu_opens_paths_and_has_no_sandbox)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = config();
        _cleanup_strv_free_ char **argv = NULL;
        ZoneQemuOptions o = { .runtime_dir = "/run/kzones/kz1" };
        KzError e = {};

        cr_assert_eq(zone_qemu_argv(c, &o, &argv, &e), 0);
        cr_assert_str_eq(after(argv, "-machine", 0), "q35");
        cr_assert_str_eq(after(argv, "-accel", 0), "kvm");
        cr_assert_str_eq(after(argv, "-cpu", 0), "host");
        cr_assert_null(after(argv, "-sandbox", 0));
        cr_assert_null(after(argv, "-add-fd", 0));
        cr_assert_str_eq(after(argv, "-chardev", 0), "socket,id=qmp,path=/run/kzones/kz1/qmp.sock,server=on,wait=off");
        cr_assert(has_substring(argv, "\"filename\":\"/var/lib/zones/kz1/disk0.img\""));
}

Test(zone_qemu, disks_and_nics_sit_on_root_ports_of_their_own_with_spare_ones_for_hot_plugging)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = config();
        _cleanup_strv_free_ char **argv = NULL;
        ZoneResource *anet = zone_resource_new(resource_type_child(zone_type(), "anet"));
        ZoneQemuOptions o = { .runtime_dir = "/run/kzones/kz1" };
        KzError e = {};
        size_t ports = 0;

        cr_assert_eq(zone_resource_set(anet, "id", "4", &e), 0);
        cr_assert_eq(zone_resource_attach(c->root, anet), 0);
        cr_assert_eq(zone_hotplug_ports(c), 3 + 1 + ZONE_HOTPLUG_SPARE_PORTS);
        cr_assert_eq(zone_qemu_argv(c, &o, &argv, &e), 0, "%s", kz_error_message(&e, -EINVAL));
        for (size_t i = 0; argv[i]; i++)
                ports += startswith(argv[i], "pcie-root-port,id=" ZONE_HOTPLUG_PORT) != NULL;
        cr_assert_eq(ports, 12);
        /* eight functions to a slot, from 0x10 on, without an I/O window */
        cr_assert_str_eq(after(argv, "-device", 0),
                "pcie-root-port,id=kzport0,bus=pcie.0,addr=0x10.0,multifunction=on,chassis=1,io-reserve=0");
        cr_assert_str_eq(after(argv, "-device", 8),
                "pcie-root-port,id=kzport8,bus=pcie.0,addr=0x11.0,multifunction=on,chassis=9,io-reserve=0");
        cr_assert_str_eq(after(argv, "-device", 11),
                "pcie-root-port,id=kzport11,bus=pcie.0,addr=0x11.3,chassis=12,io-reserve=0");
        /* the disks in boot order, then the NICs, each on the next port */
        cr_assert(has_substring(argv, "id=disk0-dev,serial=kz-disk0,bootindex=0,bus=kzport0"));
        cr_assert(has_substring(argv, "id=disk2-dev,serial=kz-disk2,bootindex=2,bus=kzport2"));
        cr_assert(has_substring(argv, "virtio-net-pci,netdev=net4,id=net4-dev,mac="));
        cr_assert(has_substring(argv, ",bus=kzport3"));
        cr_assert_not(has_substring(argv, "bus=kzport4"));
}

Test(zone_qemu, a_host_with_tcg_runs_the_same_machine_under_qemus_emulator)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = config();
        _cleanup_strv_free_ char **argv = NULL, **probed = NULL;
        ZoneQemuOptions o = { .runtime_dir = "/run/kzones/kz1", .accel = ZONE_ACCEL_TCG };
        KzError e = {};

        cr_assert_eq(zone_qemu_argv(c, &o, &argv, &e), 0, "%s", e.message);
        cr_assert_str_eq(after(argv, "-machine", 0), "q35");
        cr_assert_str_eq(after(argv, "-accel", 0), "tcg,split-wx=on");
        cr_assert_null(after(argv, "-accel", 1));
        cr_assert_str_eq(after(argv, "-cpu", 0), "max", "TCG has no -cpu host");
        cr_assert_not(has_substring(argv, "kvm"));
        /* the model the probe found wins */
        o.cpu_model = "Skylake-Client-v4,enforce";
        cr_assert_eq(zone_qemu_argv(c, &o, &probed, &e), 0, "%s", e.message);
        cr_assert_str_eq(after(probed, "-cpu", 0), "Skylake-Client-v4,enforce");
}

static void pool_zone(ZoneConfig *c)
{
        ZoneResource *cm = zone_resource_new(resource_type_child(zone_type(), "capped-memory"));
        KzError e = {};

        cr_assert_eq(zone_resource_set(c->root, "host-compatible", "memlzs", &e), 0);
        cr_assert_eq(zone_resource_set(cm, "physical", "512M", &e), 0);
        cr_assert_eq(zone_resource_set(cm, "memory-reserve", "zones", &e), 0);
        cr_assert_eq(zone_resource_attach(c->root, cm), 0);
}

Test(zone_qemu, a_pool_zone_resizes_live_in_a_second_file_of_its_pool_reserved_as_the_guest_plugs)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = config();
        _cleanup_strv_free_ char **argv = NULL, **huge = NULL;
        ZoneMemory m = { .kind = ZONE_MEMORY_POOL, .size = 512ull << 20, .page_size = 2ull << 20, .fd = 40,
                .vmem_fd = 41 };
        ZoneQemuOptions o = { .runtime_dir = "/run/kzones/kz1", .memory = &m };
        KzError e = {};

        pool_zone(c);
        cr_assert_eq(zone_qemu_argv(c, &o, &argv, &e), 0, "%s", e.message);
        cr_assert_str_eq(after(argv, "-machine", 0), "q35,memory-backend=pc.ram");
        cr_assert_str_eq(after(argv, "-m", 0), "512M,maxmem=2048M");
        /* its RAM, reserved whole; the region of three times as much, not reserved at all */
        cr_assert_str_eq(after(argv, "-object", 0),
                "memory-backend-file,id=pc.ram,size=512M,mem-path=/proc/self/fd/40,share=on,prealloc=on");
        cr_assert_str_eq(after(argv, "-object", 1),
                "memory-backend-file,id=vmem0-mem,size=1536M,mem-path=/proc/self/fd/41,share=on,reserve=off");
        /* each block taken from the pool as the guest plugs it, and refused if the pool has none */
        cr_assert_str_eq(after(argv, "-device", 0),
                "virtio-mem-pci,id=vmem0,memdev=vmem0-mem,block-size=2097152,requested-size=0,prealloc=on");

        /* a pool of 1G pages: blocks of a page */
        m.page_size = 1ull << 30;
        cr_assert_eq(zone_vmem_block(&m), 1ull << 30);
        cr_assert_eq(zone_qemu_argv(c, &o, &huge, &e), 0, "%s", e.message);
        cr_assert_str_eq(after(huge, "-device", 0),
                "virtio-mem-pci,id=vmem0,memdev=vmem0-mem,block-size=1073741824,requested-size=0,prealloc=on");
}

Test(zone_qemu, a_pool_zone_without_its_region_open_does_not_start)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = config();
        _cleanup_strv_free_ char **argv = NULL;
        ZoneMemory m = { .kind = ZONE_MEMORY_POOL, .size = 512ull << 20, .page_size = 2ull << 20, .fd = 40,
                .vmem_fd = -EBADF };
        ZoneQemuOptions o = { .runtime_dir = "/run/kzones/kz1", .memory = &m };
        KzError e = {};

        pool_zone(c);
        cr_assert_eq(zone_qemu_argv(c, &o, &argv, &e), -EBADF);
        cr_assert_str_eq(e.message, "the zone's memory region in its pool is not open.");
        cr_assert_eq(zone_vmem_block(NULL), ZONE_VMEM_BLOCK);
}
