/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CPU probe's decisions on QEMU's recorded answers: an AMD EPYC host running
 * KVM nested in a VM (it refuses to set IA32_ARCH_CAPABILITIES, so -cpu host
 * aborts, and offers no SSE3), and a host that offers every class. */
#include <criterion/criterion.h>

#include "cpu-probe.h"
#include "zone-store.h"

static json_object *recorded(const char *member)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_object *j, *v;
        size_t size;

        cr_assert(asprintf(&path, "%s/tests/unit/data/qmp-epyc-nested-kvm.json",
                          getenv("KZONES_SOURCE_DIR") ?: ".") > 0);
        cr_assert_geq(read_file_bounded(path, 1 << 20, &text, &size), 0, "cannot read %s", path);
        j = json_tokener_parse(text);
        cr_assert_not_null(j);
        cr_assert(json_object_object_get_ex(j, member, &v), "%s has no %s", path, member);
        v = json_object_get(v);
        json_object_put(j);
        return v;
}

static bool has(char *const *l, const char *s)
{
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

/* The EPYC host, decided as the probe does after -cpu host aborted on MSR 0x10a. */
static CpuProbe *epyc(void)
{
        json_object *defs = recorded("query-cpu-definitions"), *exp = recorded("query-cpu-model-expansion host full");
        json_object *err = recorded("vcpu start -cpu host stderr");
        const char *f = cpu_probe_msr_feature(json_object_get_string(err));
        char *refused[] = { (char *) f, NULL };
        CpuProbe *p = calloc(1, sizeof(*p));

        cr_assert_str_eq(f, "arch-capabilities", "the aborting MSR names the feature to leave out");
        cr_assert_eq(cpu_probe_decide(defs, exp, refused, p), 0);
        p->native_model = cpu_probe_native_model(ZONE_ACCEL_KVM, refused);
        p->key = strdup("recorded");
        json_object_put(defs);
        json_object_put(exp);
        json_object_put(err);
        return p;
}

Test(cpu_probe, msr_names_the_feature)
{
        cr_assert_str_eq(cpu_probe_msr_feature("qemu-system-x86_64: error: failed to set MSR 0x345 to 0x2000"), "pdcm");
        cr_assert_str_eq(cpu_probe_msr_feature("error: failed to set MSR 0x122 to 0x3"), "tsx-ctrl");
        cr_assert_null(cpu_probe_msr_feature("error: failed to set MSR 0x9999 to 0x1"), "an unknown MSR names nothing");
        cr_assert_null(cpu_probe_msr_feature("warning: host doesn't support requested feature: CPUID.01H:ECX.pni"));
        cr_assert_null(cpu_probe_msr_feature("error: failed to set MSR 0x"));
        cr_assert_null(cpu_probe_msr_feature(NULL));
}

Test(cpu_probe, native_is_host_less_what_kvm_refuses)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = epyc();
        _cleanup_free_ char *m = NULL;

        cr_assert_str_eq(p->native_model, "host,-arch-capabilities");
        cr_assert(!has(p->native_features, "arch-capabilities"), "a refused feature is not in the native model");
        cr_assert(has(p->refused, "arch-capabilities"));
        cr_assert(has(p->native_features, "sse2") && has(p->native_features, "lahf-lm"));
        cr_assert(!has(p->native_features, "lahf_lm"), "QEMU's second spelling is not a second feature");
        cr_assert(!has(p->native_features, "pni"), "KVM offers no SSE3 on this host");
        cr_assert(!has(p->native_features, "migratable") && !has(p->native_features, "enforce"),
                "QEMU's switches are not CPU features");
        for (size_t i = 1; p->native_features[i]; i++)
                cr_assert_lt(strcmp(p->native_features[i - 1], p->native_features[i]), 0, "features are sorted, once");
        cr_assert(strstr(p->signature, "AuthenticAMD family 25 model 1 stepping 1"), "%s", p->signature);
        cr_assert_eq(cpu_probe_zone_model(p, NULL, &m, NULL), 0, "an unset cpu-arch is native");
        cr_assert_str_eq(m, "host,-arch-capabilities");
}

Test(cpu_probe, classes_that_lack_features_do_not_run)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = epyc();
        _cleanup_free_ char *m = NULL;
        KzError e = {};

        cr_assert(cpu_probe_class_runs(p, CPU_ARCH_GENERIC), "generic is the x86-64 baseline, without SSE3");
        cr_assert(cpu_probe_class_runs(p, CPU_ARCH_NATIVE));
        for (CpuArch a = CPU_ARCH_MIGRATION_CLASS1; a <= CPU_ARCH_MIGRATION_CLASS4; a++)
                cr_assert(!cpu_probe_class_runs(p, a), "%s cannot run without SSE3", cpu_arch_to_string(a));
        cr_assert(has(p->missing[CPU_ARCH_MIGRATION_CLASS1], "pni"), "qemu64's own missing feature counts");
        cr_assert(has(p->missing[CPU_ARCH_MIGRATION_CLASS1], "ssse3"));
        cr_assert(!has(p->missing[CPU_ARCH_MIGRATION_CLASS1], "avx"), "class1 does not ask for AVX");
        cr_assert(has(p->missing[CPU_ARCH_MIGRATION_CLASS4], "avx512f"));
        cr_assert(!has(p->missing[CPU_ARCH_GENERIC], "pni"), "generic removes SSE3 from qemu64");

        cr_assert_eq(cpu_probe_zone_model(p, "generic", &m, NULL), 0);
        cr_assert_str_eq(m, "qemu64,-svm,-pni,-cx16,-lahf-lm,enforce");
        cr_assert_lt(cpu_probe_zone_model(p, "migration-class2", &m, &e), 0);
        cr_assert(strstr(e.message, "cpu-arch=migration-class2 needs CPU features that this host does not offer: "),
                "%s", e.message);
        cr_assert(strstr(e.message, "avx") && strstr(e.message, "pni"), "%s", e.message);
        cr_assert(strstr(e.message, "This host runs cpu-arch native, generic;"), "%s", e.message);
}

Test(cpu_probe, named_qemu_models)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = epyc();
        _cleanup_free_ char *m = NULL;
        KzError e = {};

        cr_assert_eq(cpu_probe_zone_model(p, "pentium3", &m, NULL), 0, "a model with nothing missing runs");
        cr_assert_str_eq(m, "pentium3,enforce");
        cr_assert_lt(cpu_probe_zone_model(p, "Skylake-Server-noTSX-IBRS", &m, &e), 0);
        cr_assert(strstr(e.message, "needs CPU features that this host does not offer") && strstr(e.message, "avx512f"),
                "%s", e.message);
        cr_assert(!strstr(strstr(e.message, "avx512f") + 1, "avx512f, "), "each missing feature once: %s", e.message);
        kz_error_clear(&e);
        cr_assert_lt(cpu_probe_zone_model(p, "NoSuchCPU", &m, &e), 0);
        cr_assert(strstr(e.message, "cpu-arch=NoSuchCPU: this host's QEMU has no fixed CPU model of that name"), "%s",
                e.message);
        kz_error_clear(&e);
        cr_assert_lt(cpu_probe_zone_model(p, "max", &m, &e), 0, "max is not a fixed model");
        free(m);
        m = NULL;
        cr_assert_eq(cpu_probe_zone_model(p, "host", &m, NULL), 0);
        cr_assert_str_eq(m, "host,-arch-capabilities", "host means native, never the model that aborts");
}

Test(cpu_probe, a_host_with_every_class)
{
        json_object *defs = recorded("query-cpu-definitions"), *exp = recorded("query-cpu-model-expansion host full");
        json_object *model, *props, *un;
        CpuProbe *p = calloc(1, sizeof(*p));
        _cleanup_free_ char *m = NULL;
        const char *all[] = { "pni", "ssse3", "sse4.1", "sse4.2", "popcnt", "aes", "pclmulqdq", "xsave", "avx", "avx2",
                "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "avx512f", "avx512bw", "avx512cd", "avx512dq",
                "avx512vl" };

        /* the same answers, from a host whose KVM offers all of it */
        cr_assert(json_object_object_get_ex(exp, "model", &model) && json_object_object_get_ex(model, "props", &props));
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                json_object_object_add(props, all[i], json_object_new_boolean(1));
        for (size_t i = 0; i < json_object_array_length(defs); i++)
                if (json_object_object_get_ex(json_object_array_get_idx(defs, i), "unavailable-features", &un))
                        json_object_array_del_idx(un, 0, json_object_array_length(un));
        cr_assert_eq(cpu_probe_decide(defs, exp, NULL, p), 0);
        p->native_model = cpu_probe_native_model(ZONE_ACCEL_KVM, NULL);
        for (CpuArch a = 0; a < _CPU_ARCH_MAX; a++)
                cr_assert(cpu_probe_class_runs(p, a), "%s runs", cpu_arch_to_string(a));
        cr_assert_str_eq(p->native_model, "host");
        cr_assert(has(p->native_features, "avx512f") && has(p->native_features, "arch-capabilities"));
        /* a class QEMU says runs but whose vCPU did not start does not run */
        p->class_error[CPU_ARCH_MIGRATION_CLASS4] = strdup("error: failed to set MSR 0xda0 to 0x0");
        cr_assert(!cpu_probe_class_runs(p, CPU_ARCH_MIGRATION_CLASS4));
        cr_assert_lt(cpu_probe_zone_model(p, "migration-class4", &m, NULL), 0);
        cpu_probe_free(p);
        json_object_put(defs);
        json_object_put(exp);
}

Test(cpu_probe, no_native_model)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = epyc();
        _cleanup_free_ char *m = NULL;
        KzError e = {};

        p->native_model = mfree_str(p->native_model);
        p->native_error = strdup("-cpu host does not start: error: failed to set MSR 0x9999 to 0x1");
        cr_assert_lt(cpu_probe_zone_model(p, NULL, &m, &e), 0);
        cr_assert(strstr(e.message, "cpu-arch=native: this host's QEMU/KVM cannot run its own CPU model"), "%s",
                e.message);
        cr_assert(strstr(e.message, "Set cpu-arch to one that runs here (generic) with zonecfg."), "%s", e.message);
}

Test(cpu_probe, cache_round_trip)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = epyc(), *q = NULL;
        _cleanup_free_ char *a = cpu_probe_to_json(p), *b = NULL;

        cr_assert_not_null(a);
        cr_assert_eq(cpu_probe_from_json(a, &q), 0);
        b = cpu_probe_to_json(q);
        cr_assert_str_eq(a, b, "the cache reads back as written");
        cr_assert_str_eq(q->native_model, "host,-arch-capabilities");
        cr_assert(!cpu_probe_class_runs(q, CPU_ARCH_MIGRATION_CLASS1) && cpu_probe_class_runs(q, CPU_ARCH_GENERIC));
        cr_assert_eq(q->accel, ZONE_ACCEL_KVM);
        cr_assert_lt(cpu_probe_from_json("{\"key\": \"x\"}", &q), 0, "a cut cache is not used");
        cr_assert_lt(cpu_probe_from_json("not json", &q), 0);
}

Test(cpu_probe, arch_names_both_ways)
{
        for (CpuArch a = 0; a < _CPU_ARCH_MAX; a++) {
                cr_assert_eq(cpu_arch_from_string(cpu_arch_to_string(a)), a);
                cr_assert((a == CPU_ARCH_NATIVE) == (cpu_arch_model(a) == NULL));
        }
        cr_assert_eq(cpu_arch_from_string("migration-class5"), _CPU_ARCH_INVALID);
        cr_assert_null(cpu_arch_to_string(_CPU_ARCH_MAX));
}

Test(cpu_probe, with_tcg_native_is_max_and_the_cache_says_so)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = epyc(), *q = NULL;
        _cleanup_free_ char *a = NULL, *m = NULL, *plain = cpu_probe_native_model(ZONE_ACCEL_TCG, NULL);
        char *refused[] = { (char *) "pdcm", NULL };
        KzError e = {};

        cr_assert_str_eq(plain, "max");
        m = cpu_probe_native_model(ZONE_ACCEL_TCG, refused);
        cr_assert_str_eq(m, "max,-pdcm");
        p->accel = ZONE_ACCEL_TCG;
        a = cpu_probe_to_json(p);
        cr_assert(strstr(a, "\"accel\":\"tcg\"") || strstr(a, "\"accel\": \"tcg\""), "%s", a);
        cr_assert_eq(cpu_probe_from_json(a, &q), 0);
        cr_assert_eq(q->accel, ZONE_ACCEL_TCG);
        /* a probe that found no native model names the emulator in its message */
        q->native_model = mfree_str(q->native_model);
        q->native_error = strdup("-cpu max does not start: x");
        free(m);
        m = NULL;
        cr_assert_lt(cpu_probe_zone_model(q, "native", &m, &e), 0);
        cr_assert(strstr(e.message, "this host's QEMU/TCG cannot run its own CPU model"), "%s", e.message);
}
