/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Probing this host's CPU models by starting QEMU (cpu_probe_run()), and the
 * cache of the result (cpu_probe_get()). What the answers mean is cpu-probe.c. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "cpu-probe.h"
#include "fs-util.h"
#include "mkdir.h"
#include "qmp.h"
#include "strv.h"
#include "zone-store.h"

#define PROBE_TIMEOUT_USEC (20u * 1000000u) /* one QEMU start */
#define PROBE_STDERR_MAX (16u * 1024u)
#define NATIVE_TRIES 6u

/* ---- running QEMU ---- */

/* The QEMU binary a name resolves to, through PATH as execvp would. */
static char *find_executable(const char *name)
{
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;

        if (strchr(name, '/'))
                return strdup(name);
        if (!copy)
                return NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char *p = NULL;

                if (asprintf(&p, "%s/%s", d, name) < 0)
                        return NULL;
                if (access(p, X_OK) >= 0)
                        return p;
                free(p);
        }
        return NULL;
}

int cpu_probe_cache_key(const char *qemu, ZoneAccel accel, char **ret)
{
        _cleanup_free_ char *exe = find_executable(qemu ?: "qemu-system-x86_64"), *boot = NULL;
        struct utsname u;
        struct stat st;

        if (!exe)
                return -ENOENT;
        if (stat(exe, &st) < 0)
                return -errno;
        if (read_virtual_file("/proc/sys/kernel/random/boot_id", 64, &boot) < 0)
                boot = strdup("unknown");
        if (!boot || uname(&u) < 0)
                return -ENOMEM;
        boot[strcspn(boot, "\n")] = 0;
        if (asprintf(ret, "boot %s; kernel %s %s; qemu %s %lld bytes, inode %llu, changed %lld.%09ld; accel %s", boot,
                    u.release, u.version, exe, (long long) st.st_size, (unsigned long long) st.st_ino,
                    (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec, strna(zone_accel_to_string(accel))) < 0)
                return -ENOMEM;
        return 0;
}

typedef struct Trial {
        pid_t pid;
        int err_fd;
        char *sock;
        char *err; /* what QEMU wrote on stderr */
} Trial;

static void trial_drain(Trial *t)
{
        size_t len = t->err ? strlen(t->err) : 0;
        char buf[4096];
        ssize_t n;

        while (t->err_fd >= 0 && (n = read(t->err_fd, buf, sizeof(buf))) > 0) {
                char *s;

                if (len + (size_t) n >= PROBE_STDERR_MAX)
                        continue;
                s = realloc(t->err, len + (size_t) n + 1);
                if (!s)
                        continue;
                memcpy(s + len, buf, (size_t) n);
                len += (size_t) n;
                s[len] = 0;
                t->err = s;
        }
}

/* Ends QEMU (politely if it still runs) and collects its stderr; returns whether it
 * exited of its own accord with status 0. */
static bool trial_end(Trial *t, bool kill_it)
{
        int status = 0;
        bool ok = false;

        if (t->pid > 0) {
                if (kill_it)
                        (void) kill(t->pid, SIGKILL);
                while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR)
                        ;
                ok = !kill_it && WIFEXITED(status) && WEXITSTATUS(status) == 0;
                t->pid = 0;
        }
        if (t->err_fd >= 0) {
                (void) fcntl(t->err_fd, F_SETFL, 0);
                trial_drain(t);
                (void) close(t->err_fd);
                t->err_fd = -EBADF;
        }
        return ok;
}

static void trial_done(Trial *t)
{
        (void) trial_end(t, true);
        if (t->sock)
                (void) unlink(t->sock);
        free(t->sock);
        free(t->err);
        *t = (Trial) { .err_fd = -EBADF };
}

/* The last line QEMU wrote, for a message. */
static const char *last_line(Trial *t, char *buf, size_t size)
{
        const char *s = t->err ?: "", *end = s + strlen(s);
        const char *start;

        while (end > s && (end[-1] == '\n' || end[-1] == ' '))
                end--;
        start = end;
        while (start > s && start[-1] != '\n')
                start--;
        /* an assertion follows the reason: prefer the "error:" line before it */
        if (strstr(start, "Assertion") && start > s) {
                const char *prev_end = start - 1, *prev = prev_end;
                while (prev > s && prev[-1] != '\n')
                        prev--;
                start = prev;
                end = prev_end;
        }
        (void) snprintf(buf, size, "%.*s", (int) (end - start), start);
        if (!buf[0])
                (void) snprintf(buf, size, "QEMU exited");
        return buf;
}

/* Starts QEMU, stopped (-S), with a monitor on sock and the given machine,
 * accelerator and CPU, and connects to the monitor. */
static int trial_start(Trial *t, const char *qemu, const char *dir, const char *machine, ZoneAccel accel,
                const char *cpu, QmpSync **ret)
{
        _cleanup_free_ char *chardev = NULL;
        uint64_t deadline;
        int p[2], r;

        *t = (Trial) { .err_fd = -EBADF };
        if (asprintf(&t->sock, "%s/qmp.sock", dir) < 0) {
                t->sock = NULL;
                return -ENOMEM;
        }
        (void) unlink(t->sock);
        if (asprintf(&chardev, "socket,id=probe,path=%s,server=on,wait=off", t->sock) < 0)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        t->pid = fork();
        if (t->pid < 0) {
                r = -errno;
                (void) close(p[0]);
                (void) close(p[1]);
                t->pid = 0;
                return r;
        }
        if (t->pid == 0) {
                const char *argv[] = { qemu, "-machine", machine, "-accel", zone_accel_qemu_option(accel),
                        "-nodefaults", "-no-user-config", "-display", "none",
                        "-S", "-m", "64", "-chardev", chardev, "-mon", "chardev=probe,mode=control",
                        cpu ? "-cpu" : NULL, cpu, NULL };
                struct rlimit no_core = {};
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                /* an abort at vCPU setup is an answer here, not a crash to record */
                (void) setrlimit(RLIMIT_CORE, &no_core);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                }
                (void) dup2(p[1], STDERR_FILENO);
                execvp(qemu, (char *const *) argv);
                fprintf(stderr, "cannot run %s: %m\n", qemu);
                _exit(127);
        }
        (void) close(p[1]);
        t->err_fd = p[0];
        (void) fcntl(t->err_fd, F_SETFL, O_NONBLOCK);

        deadline = now_usec() + PROBE_TIMEOUT_USEC;
        for (;;) {
                int status;
                pid_t w;

                trial_drain(t);
                r = qmp_sync_open(t->sock, PROBE_TIMEOUT_USEC, ret);
                if (r >= 0)
                        return 0;
                w = waitpid(t->pid, &status, WNOHANG);
                if (w == t->pid) {
                        t->pid = 0;
                        trial_drain(t);
                        return -ECHILD; /* QEMU ended before its monitor answered */
                }
                if (now_usec() > deadline)
                        return -ETIMEDOUT;
                (void) usleep(10 * 1000);
        }
}

/* Whether QEMU runs a vCPU of this model on this host: started, continued, still
 * running a moment later. On failure, *ret_why says what QEMU said. */
static int trial_cpu(const char *qemu, const char *dir, ZoneAccel accel, const char *cpu, char **ret_why)
{
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        Trial t;
        char line[512];
        json_object *st = NULL, *s;
        bool running = false;
        int r;

        *ret_why = NULL;
        r = trial_start(&t, qemu, dir, "q35", accel, cpu, &q);
        if (r >= 0)
                r = qmp_sync_execute(q, "cont", NULL, NULL, NULL);
        if (r >= 0) {
                (void) usleep(100 * 1000);
                r = qmp_sync_execute(q, "query-status", NULL, &st, NULL);
        }
        if (r >= 0) {
                running = json_object_object_get_ex(st, "status", &s) && streq(json_object_get_string(s), "running");
                json_object_put(st);
                (void) qmp_sync_execute(q, "quit", NULL, NULL, NULL);
        }
        q = qmp_sync_close(q);
        (void) trial_end(&t, r < 0);
        if (r >= 0 && running && !(t.err && strstr(t.err, "error")))
                r = 0;
        else {
                *ret_why = strdup(last_line(&t, line, sizeof(line)));
                r = -EOPNOTSUPP;
        }
        trial_done(&t);
        return r;
}

/* QEMU's answers about CPU models, from a machine-less QEMU with the accelerator:
 * its models, and the native one expanded ("host" with KVM, "max" with TCG). */
static int query_models(const char *qemu, const char *dir, ZoneAccel accel, json_object **ret_definitions,
                json_object **ret_expansion, KzError *e)
{
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        _cleanup_free_ char *err = NULL;
        Trial t;
        char line[512];
        json_object *args;
        int r;

        r = trial_start(&t, qemu, dir, "none", accel, NULL, &q);
        if (r < 0) {
                r = kz_error_set(e, r, "%s does not start with %s: %s.", qemu, accel == ZONE_ACCEL_TCG ? "TCG" : "KVM",
                        last_line(&t, line, sizeof(line)));
                trial_done(&t);
                return r;
        }
        r = qmp_sync_execute(q, "query-cpu-definitions", NULL, ret_definitions, &err);
        if (r >= 0) {
                args = json_tokener_parse(accel == ZONE_ACCEL_TCG ?
                                "{\"type\": \"full\", \"model\": {\"name\": \"max\"}}" :
                                "{\"type\": \"full\", \"model\": {\"name\": \"host\"}}");
                r = qmp_sync_execute(q, "query-cpu-model-expansion", args, ret_expansion, &err);
                if (r < 0) {
                        json_object_put(*ret_definitions);
                        *ret_definitions = NULL;
                }
        }
        if (r >= 0)
                (void) qmp_sync_execute(q, "quit", NULL, NULL, NULL);
        q = qmp_sync_close(q);
        (void) trial_end(&t, r < 0);
        trial_done(&t);
        if (r < 0)
                return kz_error_set(e, r, "%s did not describe its CPU models: %s.", qemu, err ?: strerror(-r));
        return 0;
}

static int make_scratch_dir(const char *root, char **ret)
{
        _cleanup_free_ char *base = path_join(root, CPU_PROBE_DIR), *dir = NULL;

        if (!base)
                return -ENOMEM;
        (void) mkdir_p(base, 0755);
        if (asprintf(&dir, "%s/.cpu-probe.XXXXXX", base) < 0)
                return -ENOMEM;
        if (!mkdtemp(dir))
                return -errno;
        *ret = TAKE_PTR(dir);
        return 0;
}

int cpu_probe_run(const char *root, const char *qemu, ZoneAccel accel, CpuProbe **ret, KzError *e)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = calloc(1, sizeof(*p));
        _cleanup_free_ char *dir = NULL, *why = NULL, *key = NULL;
        _cleanup_strv_free_ char **refused = NULL;
        json_object *definitions = NULL, *expansion = NULL, *props = NULL, *model;
        int r;

        if (!p)
                return -ENOMEM;
        qemu = qemu ?: "qemu-system-x86_64";
        p->accel = accel;
        r = cpu_probe_cache_key(qemu, accel, &key);
        if (r < 0)
                return kz_error_set(e, r, "cannot find %s: %s.", qemu, strerror(-r));
        r = make_scratch_dir(root, &dir);
        if (r < 0)
                return kz_error_set(e, r, "cannot make a scratch directory under %s" CPU_PROBE_DIR ": %s.", root,
                        strerror(-r));
        r = query_models(qemu, dir, accel, &definitions, &expansion, e);
        if (r < 0)
                goto out;
        if (json_object_object_get_ex(expansion, "model", &model))
                (void) json_object_object_get_ex(model, "props", &props);

        /* native: -cpu host (max with TCG), less each feature whose MSR KVM refuses to set */
        for (unsigned i = 0; i < NATIVE_TRIES; i++) {
                static const char *const fallback[] = { "arch-capabilities", "pdcm", "tsx-ctrl", "core-capability" };
                _cleanup_free_ char *m = cpu_probe_native_model(accel, refused);
                const char *f;
                json_object *v;

                if (!m) {
                        r = -ENOMEM;
                        goto out;
                }
                free(why);
                r = trial_cpu(qemu, dir, accel, m, &why);
                if (r >= 0) {
                        p->native_model = TAKE_PTR(m);
                        break;
                }
                f = cpu_probe_msr_feature(why);
                if (f && strv_contains(refused, f))
                        f = NULL;
                /* an MSR we cannot name: leave out the features known to need one */
                for (size_t k = 0; !f && k < ELEMENTSOF(fallback); k++)
                        if (!strv_contains(refused, fallback[k]) && json_object_object_get_ex(props, fallback[k], &v) &&
                            json_object_get_boolean(v))
                                f = fallback[k];
                if (!f)
                        break;
                if (strv_add_unique(&refused, f) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (!p->native_model && asprintf(&p->native_error, "-cpu %s does not start: %s",
                                        accel == ZONE_ACCEL_TCG ? "max" : "host", why ?: "unknown") < 0) {
                r = -ENOMEM;
                goto out;
        }
        r = cpu_probe_decide(definitions, expansion, refused, p);
        if (r < 0) {
                r = kz_error_set(e, r, "cannot read QEMU's description of its CPU models: %s.", strerror(-r));
                goto out;
        }
        /* each class QEMU says can run: confirmed by a vCPU */
        for (CpuArch a = CPU_ARCH_GENERIC; a < _CPU_ARCH_MAX; a++) {
                _cleanup_free_ char *m = NULL;

                if (!p->missing[a] || p->missing[a][0])
                        continue;
                if (asprintf(&m, "%s,enforce", cpu_arch_model(a)) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                free(why);
                if (trial_cpu(qemu, dir, accel, m, &why) < 0)
                        p->class_error[a] = TAKE_PTR(why);
        }
        p->key = TAKE_PTR(key);
        *ret = TAKE_PTR(p);
        r = 0;
out:
        json_object_put(definitions);
        json_object_put(expansion);
        (void) rmdir(dir);
        return r;
}

int cpu_probe_get(const char *root, const char *qemu, CpuProbe **ret, KzError *e)
{
        _cleanup_free_ char *cache = path_join(root, CPU_PROBE_CACHE), *lock = path_join(root, CPU_PROBE_LOCK);
        _cleanup_free_ char *key = NULL, *text = NULL, *dir = NULL;
        _cleanup_(cpu_probe_freep) CpuProbe *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        ZoneAccel accel;
        size_t size;
        int r;

        if (!cache || !lock)
                return -ENOMEM;
        r = host_config_accel(root, &accel, e);
        if (r < 0)
                return r;
        r = cpu_probe_cache_key(qemu ?: "qemu-system-x86_64", accel, &key);
        if (r < 0)
                return kz_error_set(e, r, "cannot find %s: %s.", qemu ?: "qemu-system-x86_64", strerror(-r));
        r = make_scratch_dir(root, &dir); /* makes ROOT/run/kzones-cpu */
        if (r >= 0)
                (void) rmdir(dir);
        fd = lock_file(lock);
        if (fd < 0)
                return kz_error_set(e, fd, "cannot lock %s: %s.", lock, strerror(-fd));
        if (read_file_bounded(cache, 4 * 1024 * 1024, &text, &size) >= 0 && cpu_probe_from_json(text, &p) >= 0 &&
            streq(p->key, key)) {
                *ret = TAKE_PTR(p);
                return 0;
        }
        p = cpu_probe_free(p);
        r = cpu_probe_run(root, qemu, accel, &p, e);
        if (r < 0)
                return r;
        free(text);
        text = cpu_probe_to_json(p);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(cache, text, strlen(text), 0644);
        if (r < 0)
                return kz_error_set(e, r, "cannot write %s: %s.", cache, strerror(-r));
        *ret = TAKE_PTR(p);
        return 0;
}
