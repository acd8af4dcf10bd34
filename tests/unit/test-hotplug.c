/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disks and NICs added to and removed from a running zone (services/zone/
 * reconfigure-dev.c), against a real QEMU/KVM that runs kzguest with the command
 * line a zone boots with (zone_qemu_argv(): its disks and NICs on PCIe root ports,
 * spare ones for hot-plugging).
 *
 * kzguest has no PCI hot-plug driver. With QEMU's default (ACPI hot-plug, q35) a
 * device_del therefore waits for an eject that never comes: that is the timeout
 * case. With native PCIe hot-plug, a slot the guest never powered is emptied at
 * once, so the removal's own steps (the guest's release seen, block node, fdset,
 * netdev, tap, macvtap) run as they do after a real guest released the device;
 * the Linux test guest does the real thing in the lab (test_live_reconfig.py).
 *
 * Each test runs in its own process, in a network namespace of its own (a bridge,
 * a veth pair, taps and macvtaps in it go with the process, also when it fails)
 * and its own scratch root; QEMU runs under its own seccomp filter (-sandbox) as
 * zones do, and is killed when the test ends. Needs root, /dev/kvm
 * and /dev/net/tun: without them the tests are skipped, not passed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qmp.h"
#include "reconfigure.h"
#include "rtnetlink.h"
#include "strv.h"
#include "test-root.h"
#include "zone-net.h"
#include "zone.h"

#define ZONE "kzhp"

static pid_t qemu = -1;
static QmpSync *q;
static ZoneConfig *live;

static ZoneResource *add_resource(ZoneConfig *c, const char *type, const char *const *props)
{
        ZoneResource *r = zone_resource_new(resource_type_child(zone_type(), type));
        KzError e = {};

        cr_assert_not_null(r);
        for (size_t i = 0; props[i]; i += 2)
                cr_assert_eq(zone_resource_set(r, props[i], props[i + 1], &e), 0, "%s=%s: %s", props[i], props[i + 1],
                        kz_error_message(&e, -EINVAL));
        cr_assert_eq(zone_resource_attach(c->root, r), 0);
        return r;
}

static char *scratch_file(const char *name, size_t size)
{
        char *path = NULL;
        int fd;

        cr_assert_geq(asprintf(&path, "%s/%s", root, name), 0);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        cr_assert_geq(fd, 0, "%s: %m", path);
        cr_assert_eq(ftruncate(fd, (off_t) size), 0);
        (void) close(fd);
        return path;
}

static ZoneResource *device(ZoneConfig *c, const char *id, const char *bootpri)
{
        _cleanup_free_ char *path = NULL, *uri = NULL, *file = NULL;

        cr_assert_geq(asprintf(&file, "disk%s.img", id), 0);
        path = scratch_file(file, 4u << 20);
        cr_assert_geq(asprintf(&uri, "file://%s", path), 0);
        if (bootpri)
                return add_resource(c, "device", (const char *[]) { "id", id, "storage", uri, "bootpri", bootpri, NULL });
        return add_resource(c, "device", (const char *[]) { "id", id, "storage", uri, NULL });
}

static const char *kzguest(void)
{
        static char path[PATH_MAX];
        const char *b = getenv("KZONES_BUILD_DIR");

        (void) snprintf(path, sizeof(path), "%s/tests/guest/kzguest.elf", b ?: "build");
        return path;
}

/* ---- the network namespace: links by rtnetlink ---- */

static void link_new(const char *name, const char *kind, const char *peer, const char *lower)
{
        NlRequest req;
        struct rtattr *info, *data, *p;
        unsigned lower_index = lower ? if_nametoindex(lower) : 0;

        nl_request_init(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
        req.i.ifi_flags = IFF_UP;
        req.i.ifi_change = IFF_UP;
        cr_assert_not_null(nla_put(&req, IFLA_IFNAME, name, strlen(name) + 1));
        info = nla_put(&req, IFLA_LINKINFO, NULL, 0);
        cr_assert_not_null(nla_put(&req, IFLA_INFO_KIND, kind, strlen(kind)));
        if (peer) {
                struct ifinfomsg pi = {};

                data = nla_put(&req, IFLA_INFO_DATA, NULL, 0);
                p = nla_put(&req, 1 /* VETH_INFO_PEER */, &pi, sizeof(pi));
                cr_assert_not_null(nla_put(&req, IFLA_IFNAME, peer, strlen(peer) + 1));
                nla_nest_end(&req, p);
                nla_nest_end(&req, data);
        }
        nla_nest_end(&req, info);
        if (lower_index)
                cr_assert_not_null(nla_put(&req, IFLA_LINK, &lower_index, sizeof(lower_index)));
        cr_assert_eq(nl_talk(&req, NULL, NULL), 0, "cannot make %s %s", kind, name);
}

typedef struct Links {
        char names[32][IFNAMSIZ];
        int master[32];
        char kind[32][16];
        size_t n;
} Links;

static int links_cb(struct ifinfomsg *i, struct rtattr **tb, void *userdata)
{
        Links *l = userdata;

        if (l->n >= 32 || !tb[IFLA_IFNAME])
                return 0;
        (void) snprintf(l->names[l->n], IFNAMSIZ, "%s", (const char *) RTA_DATA(tb[IFLA_IFNAME]));
        l->master[l->n] = tb[IFLA_MASTER] ? *(int *) RTA_DATA(tb[IFLA_MASTER]) : 0;
        l->kind[l->n][0] = 0;
        if (tb[IFLA_LINKINFO]) {
                struct rtattr *a = RTA_DATA(tb[IFLA_LINKINFO]);
                int len = (int) RTA_PAYLOAD(tb[IFLA_LINKINFO]);

                for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
                        if (a->rta_type == IFLA_INFO_KIND)
                                (void) snprintf(l->kind[l->n], 16, "%.*s", (int) RTA_PAYLOAD(a),
                                        (const char *) RTA_DATA(a));
        }
        l->n++;
        return 0;
}

static Links links(void)
{
        NlRequest req;
        Links l = {};

        nl_request_init(&req, RTM_GETLINK, NLM_F_DUMP);
        cr_assert_eq(nl_talk(&req, links_cb, &l), 0);
        return l;
}

/* The links whose name starts with prefix (taps kz…, macvtaps kzm…). */
static size_t links_named(const char *prefix, char ret[IFNAMSIZ], int *ret_master, char *ret_kind)
{
        Links l = links();
        size_t n = 0;

        for (size_t i = 0; i < l.n; i++)
                if (startswith(l.names[i], prefix)) {
                        if (ret)
                                strcpy(ret, l.names[i]);
                        if (ret_master)
                                *ret_master = l.master[i];
                        if (ret_kind)
                                strcpy(ret_kind, l.kind[i]);
                        n++;
                }
        return n;
}

/* ---- QEMU ---- */

static void setup(bool native_hotplug)
{
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *rundir = NULL, *sock = NULL;
        int fd;

        if (geteuid() != 0 || access("/dev/kvm", R_OK | W_OK) < 0 || access("/dev/net/tun", R_OK | W_OK) < 0 ||
            access(kzguest(), R_OK) < 0)
                cr_skip_test("needs root, /dev/kvm, /dev/net/tun and %s", kzguest());
        make_root();
        arg_root = root;
        /* this test's own network: gone with its process */
        cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %m");
        link_new("tbr0", "bridge", NULL, NULL);
        link_new("tve0", "veth", "tve1", NULL);

        live = zone_config_new(ZONE);
        cr_assert_not_null(live);
        {
                KzError e = {};
                cr_assert_eq(zone_resource_set(live->root, "brand", "kz", &e), 0);
        }
        add_resource(live, "boot", (const char *[]) { "kernel", kzguest(), "cmdline", "interval=200 dirty=4M", NULL });
        add_resource(live, "capped-memory", (const char *[]) { "physical", "128M", NULL });
        add_resource(live, "virtual-cpu", (const char *[]) { "ncpus", "1", NULL });
        device(live, "0", "0");   /* the boot device */
        device(live, "1", NULL);  /* a disk the zone boots with, which it may lose */

        rundir = path_join(root, ZONE_RUN_DIR "/" ZONE);
        cr_assert_not_null(rundir);
        cr_assert_eq(mkdir_p(rundir, 0700), 0);
        {
                /* QEMU under its own seccomp filter, as zones run */
                ZoneQemuOptions o = { .runtime_dir = rundir, .cpu_model = "qemu64", .sandbox = true };
                KzError e = {};
                size_t n;

                cr_assert_eq(zone_qemu_argv(live, &o, &argv, &e), 0, "%s", kz_error_message(&e, -EINVAL));
                n = strv_length(argv);
                /* no network at boot here; see the comment at the top for the hot-plug kind */
                argv = realloc(argv, (n + 5) * sizeof(char *));
                cr_assert_not_null(argv);
                argv[n] = strdup("-global");
                argv[n + 1] = strdup(native_hotplug ? "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"
                                            : "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=on");
                argv[n + 2] = strdup("-serial");
                cr_assert_geq(asprintf(&argv[n + 3], "file:%s/console", root), 0);
                argv[n + 4] = NULL;
        }
        qemu = fork();
        cr_assert_geq(qemu, 0);
        if (qemu == 0) {
                fd = open("/dev/null", O_RDWR);
                (void) dup2(fd, STDIN_FILENO);
                (void) dup2(fd, STDOUT_FILENO);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                execvp(argv[0], argv);
                _exit(127);
        }
        cr_assert_geq(asprintf(&sock, "%s/" ZONE_CONTROL_SOCKET, rundir), 0);
        for (uint64_t deadline = now_usec() + 20 * 1000000u; qmp_sync_open(sock, 5 * 1000000u, &q) < 0;
             (void) usleep(50 * 1000))
                cr_assert_lt(now_usec(), deadline, "QEMU did not open its monitor");
}

static void teardown(void)
{
        q = qmp_sync_close(q);
        if (qemu > 0) {
                (void) kill(qemu, SIGKILL);
                (void) waitpid(qemu, NULL, 0);
        }
        live = zone_config_free(live);
        remove_root();
}

/* Runs command, asserts success, returns its "return". */
static json_object *qmp(const char *command, const char *args)
{
        _cleanup_free_ char *err = NULL;
        json_object *ret = NULL;
        int r = qmp_sync_execute(q, command, args ? json_tokener_parse(args) : NULL, &ret, &err);

        cr_assert_eq(r, 0, "%s: %s", command, err ?: strerror(-r));
        return ret;
}

static bool peripheral(const char *id)
{
        json_object *l = qmp("qom-list", "{\"path\": \"/machine/peripheral\"}"), *name;
        bool found = false;

        for (size_t i = 0; i < json_object_array_length(l); i++)
                if (json_object_object_get_ex(json_object_array_get_idx(l, i), "name", &name) &&
                    streq(json_object_get_string(name), id))
                        found = true;
        json_object_put(l);
        return found;
}

static char *qom_get(const char *path, const char *property)
{
        char args[256];
        json_object *v;
        char *s;

        (void) snprintf(args, sizeof(args), "{\"path\": \"%s\", \"property\": \"%s\"}", path, property);
        v = qmp("qom-get", args);
        s = strdup(json_object_get_string(v));
        json_object_put(v);
        return s;
}

/* The file behind block node node (query-block), or NULL if QEMU has no such node. */
static char *block_file(const char *node)
{
        json_object *l = qmp("query-block", NULL), *ins, *n, *f;
        char *s = NULL;

        for (size_t i = 0; i < json_object_array_length(l); i++)
                if (json_object_object_get_ex(json_object_array_get_idx(l, i), "inserted", &ins) &&
                    json_object_object_get_ex(ins, "node-name", &n) && streq(json_object_get_string(n), node) &&
                    json_object_object_get_ex(ins, "file", &f))
                        s = strdup(json_object_get_string(f));
        json_object_put(l);
        return s;
}

static size_t fdsets(void)
{
        json_object *l = qmp("query-fdsets", NULL);
        size_t n = json_object_array_length(l);

        json_object_put(l);
        return n;
}

static size_t qemu_fds(void)
{
        char path[64];
        DIR *d;
        size_t n = 0;

        (void) snprintf(path, sizeof(path), "/proc/%d/fd", (int) qemu);
        d = opendir(path);
        cr_assert_not_null(d);
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        (void) closedir(d);
        return n;
}

static void setup_acpi(void)
{
        setup(false);
}

static void setup_native(void)
{
        setup(true);
}

/* QEMU's default for q35: ACPI hot-plug, the guest ejects a device */
TestSuite(hotplug, .init = setup_acpi, .fini = teardown, .timeout = 90);
/* native PCIe hot-plug: a slot kzguest never powered is emptied at once */
TestSuite(hotplug_native, .init = setup_native, .fini = teardown, .timeout = 90);

Test(hotplug, boot_puts_each_disk_on_a_root_port_of_its_own)
{
        _cleanup_free_ char *bus0 = qom_get("/machine/peripheral/disk0-dev", "parent_bus"),
                            *bus1 = qom_get("/machine/peripheral/disk1-dev", "parent_bus");

        _cleanup_free_ char *console = NULL, *text = NULL;
        size_t size;

        /* the guest runs on this machine: kzguest's heartbeat on its console */
        cr_assert_geq(asprintf(&console, "%s/console", root), 0);
        for (uint64_t deadline = now_usec() + 30 * 1000000u;; (void) usleep(100 * 1000)) {
                text = mfree_str(text);
                if (read_file_bounded(console, 1u << 20, &text, &size) >= 0 && strstr(text, "kzguest: hb "))
                        break;
                cr_assert_lt(now_usec(), deadline, "no heartbeat of kzguest: %s", strempty(text));
        }
        _cleanup_strv_free_ char **devices = NULL, **anets = NULL;
        KzError e = {};

        cr_assert_str_eq(bus0, "/machine/peripheral/" ZONE_HOTPLUG_PORT "0/" ZONE_HOTPLUG_PORT "0");
        cr_assert_str_eq(bus1, "/machine/peripheral/" ZONE_HOTPLUG_PORT "1/" ZONE_HOTPLUG_PORT "1");
        /* two taken, the spare ones free */
        cr_assert(peripheral(ZONE_HOTPLUG_PORT "9"));
        cr_assert_not(peripheral(ZONE_HOTPLUG_PORT "10"));
        /* what the live configuration reads back */
        cr_assert_eq(reconfigure_read_devices(q, &devices, &anets, &e), 0);
        cr_assert_eq(strv_length(devices), 2);
        cr_assert(strv_contains(devices, "0") && strv_contains(devices, "1"));
        cr_assert_null(anets);
}

Test(hotplug, an_added_disk_is_plugged_in_and_a_removal_times_out_without_the_guest)
{
        ZoneResource *d = device(live, "5", NULL), *boot1 = NULL;
        _cleanup_free_ char *file = NULL, *bus = NULL, *serial = NULL;
        size_t fds = qemu_fds(), sets = fdsets();
        uint64_t t;
        KzError e = {};
        int r;

        r = reconfigure_device_add(q, ZONE, live, d, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert(peripheral("disk5-dev"));
        serial = qom_get("/machine/peripheral/disk5-dev", "serial");
        cr_assert_str_eq(serial, "kz-disk5");
        /* the first spare port (the boot's disks have 0 and 1) */
        bus = qom_get("/machine/peripheral/disk5-dev", "parent_bus");
        cr_assert_str_eq(bus, "/machine/peripheral/" ZONE_HOTPLUG_PORT "2/" ZONE_HOTPLUG_PORT "2");
        /* QEMU has the file through an fdset, as at boot */
        file = block_file("disk5");
        cr_assert_not_null(file);
        cr_assert_not_null(strstr(file, "/dev/fdset/"), "%s", file);
        cr_assert_eq(fdsets(), sets + 1);
        cr_assert_gt(qemu_fds(), fds);

        /* a disk the zone booted with: QEMU takes the unplug request (its port is a hot-plug
         * slot), but kzguest never ejects it (ACPI hot-plug): the removal gives up after
         * 10 s and the disk stays, with its node (the Linux guest releases it: the lab) */
        kz_error_clear(&e);
        for (size_t i = 0; i < live->root->n_children; i++)
                if (streq_ptr(zone_resource_get(live->root->children[i], "id"), "1") &&
                    live->root->children[i]->type == resource_type_child(zone_type(), "device"))
                        boot1 = live->root->children[i];
        cr_assert_not_null(boot1);
        t = now_usec();
        r = reconfigure_device_remove(q, ZONE, live, boot1, &e);
        t = now_usec() - t;
        cr_assert_eq(r, -ETIMEDOUT, "%d: %s", r, kz_error_message(&e, r));
        cr_assert_str_eq(e.message, "device 1: the guest did not release it within 10 s (it must support PCI "
                "hot-plug); it stays in the zone.");
        cr_assert_geq(t, RECONFIGURE_UNPLUG_TIMEOUT_USEC);
        cr_assert_lt(t, RECONFIGURE_UNPLUG_TIMEOUT_USEC + 5 * 1000000u);
        cr_assert(peripheral("disk1-dev"));
        free(file);
        file = block_file("disk1");
        cr_assert_not_null(file, "the disk's node stays while the guest has the disk");
        /* a second add of the same id is refused, and changes nothing */
        kz_error_clear(&e);
        r = reconfigure_device_add(q, ZONE, live, d, &e);
        cr_assert_eq(r, -EEXIST);
        cr_assert_str_eq(e.message, "device 5: the zone has a disk with that id already.");
        cr_assert_eq(fdsets(), sets + 1);
}

Test(hotplug, what_would_become_the_boot_device_is_refused_and_the_boot_device_stays)
{
        ZoneResource *boot = (ZoneResource *) zone_boot_device(live), *d;
        size_t fds = qemu_fds(), sets = fdsets();
        KzError e = {};
        int r;

        /* device 7 with bootpri 1 would come before device 0 with bootpri 5 */
        cr_assert_eq(zone_resource_set(boot, "bootpri", "5", &e), 0);
        d = device(live, "7", "1");
        r = reconfigure_device_add(q, ZONE, live, d, &e);
        cr_assert_eq(r, -EBUSY);
        cr_assert_str_eq(e.message, "device 7 would be the zone's boot device (the first in the boot order, "
                "which holds the zone's host data): add it while the zone is not running, or give it a "
                "bootpri after the boot device's.");
        cr_assert_not(peripheral("disk7-dev"));
        cr_assert_eq(fdsets(), sets);
        cr_assert_eq(qemu_fds(), fds);
        zone_resource_remove(live->root, d);

        kz_error_clear(&e);
        r = reconfigure_device_remove(q, ZONE, live, boot, &e);
        cr_assert_eq(r, -EBUSY);
        cr_assert_str_eq(e.message, "device 0 is the zone's boot device, which holds its host data (the zone's "
                "lease): it cannot be removed while the zone runs.");
        cr_assert(peripheral("disk0-dev"));
}

Test(hotplug, a_disk_qemu_cannot_open_leaves_no_fdset_and_no_descriptor)
{
        ZoneResource *d = device(live, "6", NULL);
        _cleanup_free_ char *path = NULL, *node = NULL;
        size_t fds = qemu_fds(), sets = fdsets();
        KzError e = {};
        int fd, r;

        /* a qcow2 header and nothing that makes sense after it: opened here, refused by QEMU */
        cr_assert_geq(asprintf(&path, "%s/disk6.img", root), 0);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, "QFI\xfb\xff\xff\xff\xff", 8), 8);
        (void) close(fd);
        r = reconfigure_device_add(q, ZONE, live, d, &e);
        cr_assert_lt(r, 0);
        cr_assert(startswith(e.message, "device 6: QEMU cannot open its storage file://"), "%s", e.message);
        cr_assert_not(peripheral("disk6-dev"));
        node = block_file("disk6");
        cr_assert_null(node);
        cr_assert_eq(fdsets(), sets, "the fdset is gone");
        cr_assert_eq(qemu_fds(), fds, "QEMU keeps no descriptor of it");

        /* storage that is not there: nothing reaches QEMU */
        kz_error_clear(&e);
        cr_assert_eq(unlink(path), 0);
        r = reconfigure_device_add(q, ZONE, live, d, &e);
        cr_assert_eq(r, -ENOENT);
        cr_assert(startswith(e.message, "device 6: cannot open "), "%s", e.message);
        cr_assert_eq(fdsets(), sets);
        cr_assert_eq(qemu_fds(), fds);
}

Test(hotplug, an_anet_on_a_bridge_gets_a_tap_and_the_zone_mac)
{
        ZoneResource *a = add_resource(live, "anet", (const char *[]) { "id", "1", "lower-link", "tbr0", NULL });
        _cleanup_free_ char *mac = NULL, *bus = NULL;
        char tap[IFNAMSIZ], want[18], kind[16];
        int master = 0;
        KzError e = {};
        int r;

        cr_assert_eq(links_named("kz", NULL, NULL, NULL), 0);
        r = reconfigure_anet_add(q, ZONE, live, a, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert(peripheral("net1-dev"));
        mac = qom_get("/machine/peripheral/net1-dev", "mac");
        zone_anet_mac(live, a, want);
        cr_assert_str_eq(mac, want);
        bus = qom_get("/machine/peripheral/net1-dev", "parent_bus");
        cr_assert_str_eq(bus, "/machine/peripheral/" ZONE_HOTPLUG_PORT "2/" ZONE_HOTPLUG_PORT "2");
        /* the tap, a port of the bridge */
        cr_assert_eq(links_named("kz", tap, &master, kind), 1);
        cr_assert_str_eq(kind, "tun");
        cr_assert_eq(master, (int) if_nametoindex("tbr0"), "%s is not on tbr0", tap);

        {
                _cleanup_strv_free_ char **devices = NULL, **anets = NULL;

                cr_assert_eq(reconfigure_read_devices(q, &devices, &anets, &e), 0);
                cr_assert_eq(strv_length(anets), 1);
                cr_assert_str_eq(anets[0], "1");
                cr_assert_eq(strv_length(devices), 2);
        }
        /* again: refused, and no second tap */
        kz_error_clear(&e);
        cr_assert_eq(reconfigure_anet_add(q, ZONE, live, a, &e), -EEXIST);
        cr_assert_eq(links_named("kz", NULL, NULL, NULL), 1);
}

Test(hotplug, an_anet_whose_lower_link_is_missing_leaves_nothing)
{
        ZoneResource *a = add_resource(live, "anet", (const char *[]) { "id", "2", "lower-link", "kznone", NULL });
        size_t fds = qemu_fds();
        KzError e = {};
        int r;

        r = reconfigure_anet_add(q, ZONE, live, a, &e);
        cr_assert_lt(r, 0);
        cr_assert(strstr(e.message, "kznone"), "%s", e.message);
        cr_assert_not(peripheral("net2-dev"));
        cr_assert_eq(links_named("kz", NULL, NULL, NULL), 0);
        cr_assert_eq(qemu_fds(), fds);
}

Test(hotplug_native, an_added_disk_is_removed_with_its_node_and_fdset)
{
        ZoneResource *d = device(live, "5", NULL);
        _cleanup_free_ char *file = NULL;
        size_t fds = qemu_fds(), sets = fdsets();
        KzError e = {};
        int r;

        r = reconfigure_device_add(q, ZONE, live, d, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert(peripheral("disk5-dev"));
        cr_assert_eq(fdsets(), sets + 1);
        r = reconfigure_device_remove(q, ZONE, live, d, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert_not(peripheral("disk5-dev"));
        file = block_file("disk5");
        cr_assert_null(file, "QEMU still has the node, on %s", file);
        cr_assert_eq(fdsets(), sets, "the fdset is gone");
        cr_assert_eq(qemu_fds(), fds, "QEMU keeps no descriptor of it");
        /* the same id again, on the port it left */
        r = reconfigure_device_add(q, ZONE, live, d, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        free(file);
        file = qom_get("/machine/peripheral/disk5-dev", "parent_bus");
        cr_assert_str_eq(file, "/machine/peripheral/" ZONE_HOTPLUG_PORT "2/" ZONE_HOTPLUG_PORT "2");
}

Test(hotplug_native, an_anet_is_removed_with_its_tap)
{
        ZoneResource *a = add_resource(live, "anet", (const char *[]) { "id", "1", "lower-link", "tbr0", NULL });
        size_t fds = qemu_fds();
        KzError e = {};
        int r;

        r = reconfigure_anet_add(q, ZONE, live, a, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert_eq(links_named("kz", NULL, NULL, NULL), 1);
        cr_assert_gt(qemu_fds(), fds);
        r = reconfigure_anet_remove(q, ZONE, live, a, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert_not(peripheral("net1-dev"));
        cr_assert_eq(links_named("kz", NULL, NULL, NULL), 0, "the tap is gone");
        cr_assert_eq(qemu_fds(), fds, "QEMU keeps no descriptor of it");
}

Test(hotplug_native, an_anet_on_another_link_gets_a_macvtap_that_goes_with_it)
{
        ZoneResource *a = add_resource(live, "anet", (const char *[]) { "id", "3", "lower-link", "tve0", NULL });
        _cleanup_free_ char *mac = NULL;
        char name[IFNAMSIZ], kind[16], want[18];
        KzError e = {};
        int r;

        r = reconfigure_anet_add(q, ZONE, live, a, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert_eq(links_named("kzm", name, NULL, kind), 1);
        cr_assert_str_eq(kind, "macvtap");
        mac = qom_get("/machine/peripheral/net3-dev", "mac");
        zone_anet_mac(live, a, want);
        cr_assert_str_eq(mac, want);
        r = reconfigure_anet_remove(q, ZONE, live, a, &e);
        cr_assert_eq(r, 0, "%s", kz_error_message(&e, r));
        cr_assert_not(peripheral("net3-dev"));
        cr_assert_eq(links_named("kzm", NULL, NULL, NULL), 0, "the macvtap is gone");
}
