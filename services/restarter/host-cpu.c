/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host's CPU models for the Manager object: 'kzones-zone cpu-probe' probes
 * QEMU/KVM (or finds this boot's cached probe) in a child, off the event loop; the
 * restarter reads the cached result when it exits. Migration compares these
 * between hosts. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "cpu-probe.h"
#include "log.h"
#include "restarter.h"

static int on_cpu_probe_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        Manager *m = userdata;
        _cleanup_free_ char *path = manager_path(m, CPU_PROBE_CACHE), *text = NULL;
        CpuProbe *p = NULL;
        size_t size;
        int r;

        m->cpu_probe_source = sd_event_source_unref(m->cpu_probe_source);
        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_warning("probing this host's CPU models failed (kzones-zone cpu-probe: %s %d); each zone's "
                        "cpu-arch is checked when it boots", si->si_code == CLD_EXITED ? "exit status" : "signal",
                        si->si_status);
        if (!path)
                return 0;
        r = read_file_bounded(path, 4 * 1024 * 1024, &text, &size);
        if (r >= 0)
                r = cpu_probe_from_json(text, &p);
        if (r < 0) {
                (void) sd_bus_emit_properties_changed(m->bus, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "CpuProbeState",
                        NULL);
                return 0;
        }
        cpu_probe_free(m->cpu);
        m->cpu = p;
        log_info("this host runs zones with %s, cpu-arch native as '%s'%s%s", strna(zone_accel_to_string(p->accel)),
                strna(p->native_model),
                p->native_error ? ": " : "", p->native_error ?: "");
        (void) sd_bus_emit_properties_changed(m->bus, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "NativeCpuModel",
                "NativeCpuSignature", "NativeCpuFeatures", "CpuMigrationClasses", "CpuProbeState", "Accelerator", NULL);
        return 0;
}

int manager_probe_cpu(Manager *m)
{
        const char *helper = getenv("KZONES_ZONE_HELPER") ?: KZONES_LIBEXECDIR "/kzones/kzones-zone";
        pid_t pid;
        int r;

        if (m->cpu_probe_source)
                return 0;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                sigset_t all;

                sigemptyset(&all);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                (void) dup2(null, STDIN_FILENO);
                (void) dup2(null, STDOUT_FILENO);
                execl(helper, helper, "cpu-probe", (char *) NULL);
                fprintf(stderr, "cannot run %s: %m\n", helper);
                _exit(127);
        }
        r = sd_event_add_child(m->event, &m->cpu_probe_source, pid, WEXITED, on_cpu_probe_exit, m);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        return 0;
}
