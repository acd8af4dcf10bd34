/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a host's CPU probe means: the cpu-arch classes, the decisions taken from
 * QEMU's answers, the probe as JSON (its cache), and the -cpu model for a zone.
 * Asking QEMU is cpu-probe-qemu.c. */
#include "cpu-probe.h"
#include "strv.h"

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

char *cpu_probe_native_model(ZoneAccel accel, char *const *refused)
{
        const char *base = accel == ZONE_ACCEL_TCG ? "max" : "host";
        size_t len = strlen(base) + 1;
        char *s;

        for (char *const *i = refused; i && *i; i++)
                len += strlen(*i) + 2;
        s = calloc(1, len);
        if (!s)
                return NULL;
        strcpy(s, base);
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
        p->accel = json_object_object_get_ex(j, "accel", &v) ? zone_accel_from_string(json_object_get_string(v)) :
                                                                ZONE_ACCEL_KVM;
        if (p->accel < 0)
                goto out;
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
        json_object_object_add(j, "accel", json_object_new_string(zone_accel_to_string(p->accel) ?: "kvm"));
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
                        return kz_error_set(e, EOPNOTSUPP, "cpu-arch=native: this host's QEMU/%s cannot run its own "
                                "CPU model (%s). Set cpu-arch to one that runs here (%s) with zonecfg.",
                                p->accel == ZONE_ACCEL_TCG ? "TCG" : "KVM", strna(p->native_error), runs);
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
