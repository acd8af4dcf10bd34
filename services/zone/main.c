/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-zone VERB ZONENAME [ARG...]: what zone@NAME.service runs (exec, wait, stop,
 * stopped, reload: launch.c) and the helpers the restarter runs (install-image,
 * clone: storage.c; suspend: suspend.c; attach, detach: ownership.c; reconfigure:
 * reconfigure.c; cpu-probe).
 * Exit status 0, 1 on failure, EXIT_UNAVAILABLE when the zone cannot run on this
 * host as it is, 2 for a usage error. */
#include <stdio.h>
#include <stdlib.h>

#include "cpu-probe.h"
#include "zone.h"

/* kzones-zone cpu-probe: what this host's QEMU/KVM runs (cpu-arch), probed once a
 * boot and cached; printed as JSON. The restarter runs it at start. */
static int verb_cpu_probe(void)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = NULL;
        _cleanup_free_ char *json = NULL;
        KzError e = {};
        int r;

        r = cpu_probe_get(arg_root, getenv("KZONES_QEMU"), &p, &e);
        if (r < 0) {
                fprintf(stderr, "cannot probe this host's CPU models: %s\n", kz_error_message(&e, r));
                return r;
        }
        json = cpu_probe_to_json(p);
        if (!json)
                return -ENOMEM;
        puts(json);
        return 0;
}

static int run(int argc, char *argv[])
{
        const char *verb = argv[1], *name = argv[2], *arg = argc > 3 ? argv[3] : NULL,
                   *arg2 = argc > 4 ? argv[4] : NULL;
        pid_t pid = arg ? (pid_t) atoi(arg) : 0;

        /* the unit's own verbs: their failure is the launch result */
        if (streq(verb, "exec") || streq(verb, "wait") || streq(verb, "stop") || streq(verb, "stopped"))
                arg_step = verb;
        if (streq(verb, "exec"))
                return verb_exec(name);
        if (streq(verb, "wait"))
                return verb_wait(name, pid);
        if (streq(verb, "stop"))
                return verb_stop(name, pid);
        if (streq(verb, "stopped"))
                return verb_stopped(name);
        if (streq(verb, "reload"))
                return verb_reload(name);
        if (streq(verb, "install-image") && arg)
                return verb_install_image(name, arg, arg2);
        if (streq(verb, "clone") && arg)
                return verb_clone(name, arg, arg2);
        if (streq(verb, "suspend"))
                return verb_suspend(name);
        if (streq(verb, "attach"))
                return verb_attach(name, arg);
        if (streq(verb, "detach"))
                return verb_detach(name);
        if (streq(verb, "migrate-out") && arg && arg2)
                return verb_migrate_out(name, arg, arg2);
        if (streq(verb, "migrate-cold") && arg && arg2)
                return verb_migrate_cold(name, arg, arg2);
        if (streq(verb, "attach-suspended"))
                return verb_attach_suspended(name);
        if (streq(verb, "reconfigure"))
                return verb_reconfigure(name);
        return -EINVAL;
}

int main(int argc, char *argv[])
{
        const char *root = getenv("KZONES_ROOT");
        int r;

        if (root)
                arg_root = root;
        if (argc == 2 && streq(argv[1], "cpu-probe"))
                return verb_cpu_probe() < 0 ? 1 : 0;
        if (argc < 3 || argc > 5 || !zone_name_is_valid(argv[2]) ||
            !(streq(argv[1], "exec") || streq(argv[1], "wait") || streq(argv[1], "stop") ||
              streq(argv[1], "stopped") || streq(argv[1], "reload") || streq(argv[1], "suspend") ||
              streq(argv[1], "attach") || streq(argv[1], "detach") ||
              ((streq(argv[1], "install-image") || streq(argv[1], "clone")) && argc >= 4) ||
              streq(argv[1], "attach-suspended") || streq(argv[1], "reconfigure") ||
              ((streq(argv[1], "migrate-out") || streq(argv[1], "migrate-cold")) && argc == 5))) {
                fprintf(stderr, "usage: kzones-zone exec|wait|stop|stopped|reload|suspend|attach|detach ZONENAME [ARG]\n"
                        "       kzones-zone install-image|clone ZONENAME SOURCE [TARGET]\n"
                        "       kzones-zone migrate-out ZONENAME DESTINATION CIPHER:CHANNELS[:dry]|resolve\n"
                        "       kzones-zone migrate-cold ZONENAME DESTINATION cold|warm[:dry|:w]\n"
                        "       kzones-zone attach-suspended ZONENAME\n"
                        "       kzones-zone reconfigure ZONENAME\n"
                        "       kzones-zone cpu-probe\n");
                return 2;
        }
        /* its exit status says where the guest is (migrate-resolve.c) */
        if (streq(argv[1], "migrate-out") && streq(argv[4], "resolve"))
                return verb_migrate_resolve(argv[2], argv[3]);
        r = run(argc, argv);
        return r == -EKEYREJECTED ? EXIT_UNAVAILABLE : r < 0 ? 1 : 0;
}
