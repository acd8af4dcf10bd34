/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "cpu-probe.h"
#include "fs-util.h"
#include "qmp.h"
#include "strv.h"
#include "zone-store.h"

#define PROBE_TIMEOUT_USEC (20u * 1000000u) /* one QEMU start */
#define PROBE_STDERR_MAX (16u * 1024u)
#define NATIVE_TRIES 6u

static const char *const cpu_arch_table[_CPU_ARCH_MAX] = {
        [CPU_ARCH_NATIVE] = "native",
        [CPU_ARCH_GENERIC] = "generic",
        [CPU_ARCH_MIGRATION_CLASS1] = "migration-class1",
        [CPU_ARCH_MIGRATION_CLASS2] = "migration-class2",
        [CPU_ARCH_MIGRATION_CLASS3] = "migration-class3",
        [CPU_ARCH_MIGRATION_CLASS4] = "migration-class4",
};

DEFINE_STRING_TABLE(cpu_arch, CpuArch, _CPU_ARCH_MAX)

/* The classes are QEMU's qemu64 model with the features of each x86-64 level
 * added, so they are the same on Intel and AMD hosts and on every host that runs
 * them. svm is qemu64's but a nested-virtualization detail: never in a class. */
#define CLASS_BASE "qemu64"
#define CLASS1_ADD "+ssse3,+sse4.1,+sse4.2,+popcnt"
#define CLASS2_ADD CLASS1_ADD ",+aes,+pclmulqdq,+xsave,+avx"
#define CLASS3_ADD CLASS2_ADD ",+avx2,+bmi1,+bmi2,+f16c,+fma,+abm,+movbe"
#define CLASS4_ADD CLASS3_ADD ",+avx512f,+avx512bw,+avx512cd,+avx512dq,+avx512vl"

static const char *const cpu_arch_model_table[_CPU_ARCH_MAX] = {
        [CPU_ARCH_NATIVE] = NULL,
        [CPU_ARCH_GENERIC] = CLASS_BASE ",-svm,-pni,-cx16,-lahf-lm",
        [CPU_ARCH_MIGRATION_CLASS1] = CLASS_BASE ",-svm," CLASS1_ADD,
        [CPU_ARCH_MIGRATION_CLASS2] = CLASS_BASE ",-svm," CLASS2_ADD,
        [CPU_ARCH_MIGRATION_CLASS3] = CLASS_BASE ",-svm," CLASS3_ADD,
        [CPU_ARCH_MIGRATION_CLASS4] = CLASS_BASE ",-svm," CLASS4_ADD,
};

const char *cpu_arch_model(CpuArch a)
{
        if (a < 0 || a >= _CPU_ARCH_MAX)
                return NULL;
        return cpu_arch_model_table[a];
}

/* ---- string lists ---- */

static int strv_from_json(json_object *a, char ***ret)
{
        char **l = NULL;

        for (size_t i = 0; a && json_object_is_type(a, json_type_array) && i < json_object_array_length(a); i++) {
                json_object *v = json_object_array_get_idx(a, i);

                if (!json_object_is_type(v, json_type_string))
                        continue;
                if (strv_add_unique(&l, json_object_get_string(v)) < 0) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = l;
        return 0;
}

static json_object *strv_to_json(char *const *l)
{
        json_object *a = json_object_new_array();

        for (; a && l && *l; l++)
                json_object_array_add(a, json_object_new_string(*l));
        return a;
}

CpuProbe *cpu_probe_free(CpuProbe *p)
{
        if (!p)
                return NULL;
        free(p->key);
        free(p->native_model);
        free(p->native_error);
        free(p->signature);
        strv_free(p->native_features);
        strv_free(p->refused);
        for (size_t i = 0; i < _CPU_ARCH_MAX; i++) {
                strv_free(p->missing[i]);
                free(p->class_error[i]);
        }
        json_object_put(p->models);
        free(p);
        return NULL;
}

bool cpu_probe_class_runs(const CpuProbe *p, CpuArch a)
{
        if (!p || a < 0 || a >= _CPU_ARCH_MAX)
                return false;
        if (a == CPU_ARCH_NATIVE)
                return p->native_model != NULL;
        return p->missing[a] && !p->missing[a][0] && !p->class_error[a];
}

/* ---- decisions ---- */

static const struct {
        unsigned msr;
        const char *feature;
} msr_features[] = {
        { 0x10a, "arch-capabilities" }, /* IA32_ARCH_CAPABILITIES */
        { 0x345, "pdcm" },              /* IA32_PERF_CAPABILITIES */
        { 0x122, "tsx-ctrl" },          /* IA32_TSX_CTRL */
        { 0x0cf, "core-capability" },   /* IA32_CORE_CAPABILITIES */
        { 0x048, "spec-ctrl" },         /* IA32_SPEC_CTRL */
        { 0x03a, "vmx" },               /* IA32_FEATURE_CONTROL */
};

const char *cpu_probe_msr_feature(const char *qemu_stderr)
{
        const char *p = qemu_stderr ? strstr(qemu_stderr, "failed to set MSR 0x") : NULL;
        unsigned long msr;
        char *end;

        if (!p)
                return NULL;
        msr = strtoul(p + strlen("failed to set MSR 0x"), &end, 16);
        if (end == p + strlen("failed to set MSR 0x"))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(msr_features); i++)
                if (msr_features[i].msr == msr)
                        return msr_features[i].feature;
        return NULL;
}

char *cpu_probe_native_model(char *const *refused)
{
        size_t len = strlen("host") + 1;
        char *s;

        for (char *const *i = refused; i && *i; i++)
                len += strlen(*i) + 2;
        s = calloc(1, len);
        if (!s)
                return NULL;
        strcpy(s, "host");
        for (char *const *i = refused; i && *i; i++)
                strcat(strcat(s, ",-"), *i);
        return s;
}

/* A model's unavailable features, from query-cpu-definitions. */
static json_object *definition(json_object *definitions, const char *name)
{
        for (size_t i = 0; i < json_object_array_length(definitions); i++) {
                json_object *d = json_object_array_get_idx(definitions, i), *n;

                if (json_object_object_get_ex(d, "name", &n) && streq(json_object_get_string(n), name))
                        return d;
        }
        return NULL;
}

/* QEMU's properties of the CPU object that are not CPUID features. */
static bool property_is_feature(const char *name)
{
        static const char *const not_features[] = {
                "check", "enforce", "migratable", "full-cpuid-auto-level", "host-phys-bits", "host-cache-info",
                "l3-cache", "legacy-cache", "tcg-cpuid", "vmware-cpuid-freq", "fill-mtrr-mask", "cpuid-0xb",
                "kvm", "pmu", "hv-passthrough", "hv-enforce-cpuid", "lmce", "realized", "start-powered-off",
        };

        if (strncmp(name, "x-", 2) == 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(not_features); i++)
                if (streq(name, not_features[i]))
                        return false;
        return true;
}

int cpu_probe_decide(json_object *definitions, json_object *host_expansion, char *const *refused, CpuProbe *p)
{
        json_object *model, *props, *v;
        char **features = NULL;

        if (!json_object_is_type(definitions, json_type_array) ||
            !json_object_object_get_ex(host_expansion, "model", &model) ||
            !json_object_object_get_ex(model, "props", &props) || !json_object_is_type(props, json_type_object))
                return -EBADMSG;

        /* the native model: the host's features less what KVM refused; QEMU spells
         * some both ways (lahf-lm, lahf_lm): the dashed name stands for both */
        json_object_object_foreach(props, name, value) {
                _cleanup_free_ char *dashed = NULL;

                if (!json_object_is_type(value, json_type_boolean) || !json_object_get_boolean(value) ||
                    !property_is_feature(name) || strv_contains(refused, name))
                        continue;
                if (strchr(name, '_')) {
                        json_object *twin;

                        dashed = strdup(name);
                        if (!dashed) {
                                strv_freep(&features);
                                return -ENOMEM;
                        }
                        for (char *c = dashed; *c; c++)
                                if (*c == '_')
                                        *c = '-';
                        if (json_object_object_get_ex(props, dashed, &twin))
                                continue;
                }
                if (strv_add_unique(&features, name) < 0) {
                        strv_freep(&features);
                        return -ENOMEM;
                }
        }
        if (features)
                qsort(features, strv_length(features), sizeof(char *), strv_cmp);
        else if (!(features = calloc(1, sizeof(char *))))
                return -ENOMEM;
        strv_freep(&p->native_features);
        p->native_features = features;

        {
                const char *vendor = json_object_object_get_ex(props, "vendor", &v) ? json_object_get_string(v) : "?";
                json_object *fam, *mod, *step, *id;

                free(p->signature);
                if (asprintf(&p->signature, "%s family %d model %d stepping %d (%s)", vendor,
                            json_object_object_get_ex(props, "family", &fam) ? json_object_get_int(fam) : -1,
                            json_object_object_get_ex(props, "model", &mod) ? json_object_get_int(mod) : -1,
                            json_object_object_get_ex(props, "stepping", &step) ? json_object_get_int(step) : -1,
                            json_object_object_get_ex(props, "model-id", &id) ? json_object_get_string(id) : "")
                    < 0) {
                        p->signature = NULL;
                        return -ENOMEM;
                }
        }
        strv_freep(&p->refused);
        for (char *const *i = refused; i && *i; i++)
                if (strv_add_unique(&p->refused, *i) < 0)
                        return -ENOMEM;
        if (!p->refused && !(p->refused = calloc(1, sizeof(char *))))
                return -ENOMEM;

        /* each class: its base model's unavailable features, less those the class
         * removes, plus the features it adds that the host does not offer */
        for (CpuArch a = CPU_ARCH_GENERIC; a < _CPU_ARCH_MAX; a++) {
                _cleanup_free_ char *spec = strdup(cpu_arch_model(a));
                json_object *d = definition(definitions, CLASS_BASE), *un;
                char **missing = NULL, *save = NULL;
                int r = 0;
                char **removed = NULL;

                if (!spec)
                        return -ENOMEM;
                for (char *f = strtok_r(spec, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
                        if (f[0] == '-')
                                r = strv_add_unique(&removed, f + 1);
                        else if (f[0] == '+' &&
                                 (!json_object_object_get_ex(props, f + 1, &v) || !json_object_get_boolean(v)))
                                r = strv_add_unique(&missing, f + 1);
                        else
                                r = 0;
                        if (r < 0)
                                goto oom;
                }
                if (!d)
                        r = strv_add_unique(&missing, "(QEMU has no " CLASS_BASE " model)");
                else if (json_object_object_get_ex(d, "unavailable-features", &un))
                        for (size_t i = 0; r >= 0 && i < json_object_array_length(un); i++) {
                                const char *f = json_object_get_string(json_object_array_get_idx(un, i));
                                if (f && !strv_contains(removed, f))
                                        r = strv_add_unique(&missing, f);
                        }
                if (r < 0)
                        goto oom;
                if (!missing && !(missing = calloc(1, sizeof(char *))))
                        goto oom;
                strv_freep(&removed);
                strv_freep(&p->missing[a]);
                p->missing[a] = missing;
                continue;
        oom:
                strv_freep(&missing);
                strv_freep(&removed);
                return -ENOMEM;
        }

        /* QEMU's named models, for cpu-arch=MODEL */
        json_object_put(p->models);
        p->models = json_object_new_object();
        if (!p->models)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(definitions); i++) {
                json_object *d = json_object_array_get_idx(definitions, i), *n, *un;
                _cleanup_strv_free_ char **l = NULL;

                if (!json_object_object_get_ex(d, "name", &n) || !json_object_is_type(n, json_type_string))
                        continue;
                (void) json_object_object_get_ex(d, "unavailable-features", &un);
                if (strv_from_json(un, &l) < 0)
                        return -ENOMEM;
                json_object_object_add(p->models, json_object_get_string(n), strv_to_json(l));
        }
        return 0;
}

/* ---- the cache ---- */

int cpu_probe_from_json(const char *text, CpuProbe **ret)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = calloc(1, sizeof(*p));
        json_object *j = json_tokener_parse(text), *n, *v, *classes, *models;
        int r = -EBADMSG;

        if (!p) {
                json_object_put(j);
                return -ENOMEM;
        }
        if (!j || !json_object_object_get_ex(j, "key", &v) || !json_object_object_get_ex(j, "native", &n) ||
            !json_object_object_get_ex(j, "classes", &classes) || !json_object_object_get_ex(j, "models", &models) ||
            !json_object_is_type(models, json_type_object))
                goto out;
        p->key = strdup(json_object_get_string(v));
#define DUP_MEMBER(obj, name, field)                                                                       \
        if (json_object_object_get_ex(obj, name, &v) && json_object_is_type(v, json_type_string) &&        \
            !(field = strdup(json_object_get_string(v))))                                                  \
                goto nomem;
        DUP_MEMBER(n, "model", p->native_model);
        DUP_MEMBER(n, "error", p->native_error);
        DUP_MEMBER(n, "signature", p->signature);
        (void) json_object_object_get_ex(n, "features", &v);
        if (strv_from_json(v, &p->native_features) < 0)
                goto nomem;
        v = NULL;
        (void) json_object_object_get_ex(n, "refused", &v);
        if (strv_from_json(v, &p->refused) < 0)
                goto nomem;
        for (CpuArch a = CPU_ARCH_GENERIC; a < _CPU_ARCH_MAX; a++) {
                json_object *c, *m;

                if (!json_object_object_get_ex(classes, cpu_arch_to_string(a), &c) ||
                    !json_object_object_get_ex(c, "missing", &m))
                        goto out;
                if (strv_from_json(m, &p->missing[a]) < 0)
                        goto nomem;
                DUP_MEMBER(c, "error", p->class_error[a]);
        }
#undef DUP_MEMBER
        p->models = json_object_get(models);
        if (!p->key)
                goto nomem;
        *ret = TAKE_PTR(p);
        r = 0;
        goto out;
nomem:
        r = -ENOMEM;
out:
        json_object_put(j);
        return r;
}

char *cpu_probe_to_json(const CpuProbe *p)
{
        json_object *j = json_object_new_object(), *n = json_object_new_object(), *classes = json_object_new_object();
        char *s = NULL;

        if (!j || !n || !classes) {
                json_object_put(j);
                json_object_put(n);
                json_object_put(classes);
                return NULL;
        }
        json_object_object_add(j, "key", json_object_new_string(p->key ?: ""));
        if (p->native_model)
                json_object_object_add(n, "model", json_object_new_string(p->native_model));
        if (p->native_error)
                json_object_object_add(n, "error", json_object_new_string(p->native_error));
        if (p->signature)
                json_object_object_add(n, "signature", json_object_new_string(p->signature));
        json_object_object_add(n, "features", strv_to_json(p->native_features));
        json_object_object_add(n, "refused", strv_to_json(p->refused));
        json_object_object_add(j, "native", n);
        for (CpuArch a = CPU_ARCH_GENERIC; a < _CPU_ARCH_MAX; a++) {
                json_object *c = json_object_new_object();

                json_object_object_add(c, "model", json_object_new_string(cpu_arch_model(a)));
                json_object_object_add(c, "missing", strv_to_json(p->missing[a]));
                if (p->class_error[a])
                        json_object_object_add(c, "error", json_object_new_string(p->class_error[a]));
                json_object_object_add(classes, cpu_arch_to_string(a), c);
        }
        json_object_object_add(j, "classes", classes);
        json_object_object_add(j, "models", p->models ? json_object_get(p->models) : json_object_new_object());
        s = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        return s;
}

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

int cpu_probe_cache_key(const char *qemu, char **ret)
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
        if (asprintf(ret, "boot %s; kernel %s %s; qemu %s %lld bytes, inode %llu, changed %lld.%09ld", boot, u.release,
                    u.version, exe, (long long) st.st_size, (unsigned long long) st.st_ino,
                    (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec) < 0)
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

/* Starts QEMU, stopped (-S), with a monitor on sock and the given machine and
 * CPU, and connects to the monitor. */
static int trial_start(Trial *t, const char *qemu, const char *dir, const char *machine, const char *cpu,
                QmpSync **ret)
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
                const char *argv[] = { qemu, "-machine", machine, "-nodefaults", "-no-user-config", "-display", "none",
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
static int trial_cpu(const char *qemu, const char *dir, const char *cpu, char **ret_why)
{
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        Trial t;
        char line[512];
        json_object *st = NULL, *s;
        bool running = false;
        int r;

        *ret_why = NULL;
        r = trial_start(&t, qemu, dir, "q35,accel=kvm", cpu, &q);
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

/* QEMU's answers about CPU models, from a machine-less QEMU with KVM. */
static int query_models(const char *qemu, const char *dir, json_object **ret_definitions,
                json_object **ret_expansion, KzError *e)
{
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        _cleanup_free_ char *err = NULL;
        Trial t;
        char line[512];
        json_object *args;
        int r;

        r = trial_start(&t, qemu, dir, "none,accel=kvm", NULL, &q);
        if (r < 0) {
                r = kz_error_set(e, r, "%s does not start with KVM: %s.", qemu, last_line(&t, line, sizeof(line)));
                trial_done(&t);
                return r;
        }
        r = qmp_sync_execute(q, "query-cpu-definitions", NULL, ret_definitions, &err);
        if (r >= 0) {
                args = json_tokener_parse("{\"type\": \"full\", \"model\": {\"name\": \"host\"}}");
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
        _cleanup_free_ char *base = path_join(root, "/run/kzones"), *dir = NULL;

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

int cpu_probe_run(const char *root, const char *qemu, CpuProbe **ret, KzError *e)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = calloc(1, sizeof(*p));
        _cleanup_free_ char *dir = NULL, *why = NULL, *key = NULL;
        _cleanup_strv_free_ char **refused = NULL;
        json_object *definitions = NULL, *expansion = NULL, *props = NULL, *model;
        int r;

        if (!p)
                return -ENOMEM;
        qemu = qemu ?: "qemu-system-x86_64";
        r = cpu_probe_cache_key(qemu, &key);
        if (r < 0)
                return kz_error_set(e, r, "cannot find %s: %s.", qemu, strerror(-r));
        r = make_scratch_dir(root, &dir);
        if (r < 0)
                return kz_error_set(e, r, "cannot make a scratch directory under %s/run/kzones: %s.", root,
                        strerror(-r));
        r = query_models(qemu, dir, &definitions, &expansion, e);
        if (r < 0)
                goto out;
        if (json_object_object_get_ex(expansion, "model", &model))
                (void) json_object_object_get_ex(model, "props", &props);

        /* native: -cpu host, less each feature whose MSR KVM refuses to set */
        for (unsigned i = 0; i < NATIVE_TRIES; i++) {
                static const char *const fallback[] = { "arch-capabilities", "pdcm", "tsx-ctrl", "core-capability" };
                _cleanup_free_ char *m = cpu_probe_native_model(refused);
                const char *f;
                json_object *v;

                if (!m) {
                        r = -ENOMEM;
                        goto out;
                }
                free(why);
                r = trial_cpu(qemu, dir, m, &why);
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
        if (!p->native_model && asprintf(&p->native_error, "-cpu host does not start: %s", why ?: "unknown") < 0) {
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
                if (trial_cpu(qemu, dir, m, &why) < 0)
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
        size_t size;
        int r;

        if (!cache || !lock)
                return -ENOMEM;
        r = cpu_probe_cache_key(qemu ?: "qemu-system-x86_64", &key);
        if (r < 0)
                return kz_error_set(e, r, "cannot find %s: %s.", qemu ?: "qemu-system-x86_64", strerror(-r));
        r = make_scratch_dir(root, &dir); /* makes ROOT/run/kzones */
        if (r >= 0)
                (void) rmdir(dir);
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
                return kz_error_set(e, errno, "cannot lock %s: %m.", lock);
        if (read_file_bounded(cache, 4 * 1024 * 1024, &text, &size) >= 0 && cpu_probe_from_json(text, &p) >= 0 &&
            streq(p->key, key)) {
                *ret = TAKE_PTR(p);
                return 0;
        }
        p = cpu_probe_free(p);
        r = cpu_probe_run(root, qemu, &p, e);
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

/* "native, generic, migration-class1" */
static char *runs_here(const CpuProbe *p)
{
        _cleanup_strv_free_ char **l = NULL;

        for (CpuArch a = 0; a < _CPU_ARCH_MAX; a++)
                if (cpu_probe_class_runs(p, a) && strv_add_unique(&l, cpu_arch_to_string(a)) < 0)
                        return NULL;
        return l ? strv_join(l, ", ") : strdup("none");
}

int cpu_probe_zone_model(const CpuProbe *p, const char *cpu_arch, char **ret, KzError *e)
{
        _cleanup_free_ char *runs = runs_here(p), *list = NULL;
        CpuArch a = cpu_arch && !streq(cpu_arch, "host") ? cpu_arch_from_string(cpu_arch) : CPU_ARCH_NATIVE;
        char *m = NULL;

        if (!runs)
                return -ENOMEM;
        if (a == CPU_ARCH_NATIVE) {
                if (!p->native_model)
                        return kz_error_set(e, EOPNOTSUPP, "cpu-arch=native: this host's QEMU/KVM cannot run its own "
                                "CPU model (%s). Set cpu-arch to one that runs here (%s) with zonecfg.",
                                strna(p->native_error), runs);
                m = strdup(p->native_model);
        } else if (a >= 0) {
                if (p->missing[a] && p->missing[a][0]) {
                        list = strv_join(p->missing[a], ", ");
                        return kz_error_set(e, EOPNOTSUPP, "cpu-arch=%s needs CPU features that this host does not "
                                "offer: %s. This host runs cpu-arch %s; change cpu-arch with zonecfg.", cpu_arch,
                                strna(list), runs);
                }
                if (!p->missing[a] || p->class_error[a])
                        return kz_error_set(e, EOPNOTSUPP, "cpu-arch=%s does not start on this host: %s. This host "
                                "runs cpu-arch %s; change cpu-arch with zonecfg.", cpu_arch,
                                strna(p->class_error[a]), runs);
                if (asprintf(&m, "%s,enforce", cpu_arch_model(a)) < 0)
                        m = NULL;
        } else {
                json_object *un;
                _cleanup_strv_free_ char **l = NULL;

                if (streq(cpu_arch, "max") || streq(cpu_arch, "base") ||
                    !json_object_object_get_ex(p->models, cpu_arch, &un))
                        return kz_error_set(e, EINVAL, "cpu-arch=%s: this host's QEMU has no fixed CPU model of that "
                                "name ('qemu-system-x86_64 -cpu help' lists them); or use native, generic or "
                                "migration-class1 to migration-class4.", cpu_arch);
                if (strv_from_json(un, &l) < 0)
                        return -ENOMEM;
                if (l[0]) {
                        list = strv_join(l, ", ");
                        return kz_error_set(e, EOPNOTSUPP, "cpu-arch=%s needs CPU features that this host does not "
                                "offer: %s. This host runs cpu-arch %s; change cpu-arch with zonecfg.", cpu_arch,
                                strna(list), runs);
                }
                if (asprintf(&m, "%s,enforce", cpu_arch) < 0)
                        m = NULL;
        }
        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}
