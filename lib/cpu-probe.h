/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "host-config.h"
#include "kz-error.h"

/* Which CPU models this host's QEMU/KVM really runs, found the way libvirt finds
 * its host-model: QEMU is asked (query-cpu-definitions names each model's
 * unavailable features, query-cpu-model-expansion the host's own model), and each
 * answer is confirmed by starting a vCPU, because KVM hosts refuse things QEMU
 * believes they offer (an MSR that cannot be set aborts QEMU at vCPU setup).
 *
 * The probe runs QEMU with the host's accelerator (Accelerator= of kzones.conf(5)):
 * with kvm the native model is "host", with tcg QEMU's emulator's "max".
 *
 * The result is cached in ROOT/run/kzones-cpu/cpu-probe.json for the host's boot and
 * probed again when the boot, the kernel, the QEMU binary or the accelerator changes. */

#define CPU_PROBE_DIR "/run/kzones-cpu" /* beside /run/kzones, which holds only zones */
#define CPU_PROBE_CACHE CPU_PROBE_DIR "/cpu-probe.json"
#define CPU_PROBE_LOCK CPU_PROBE_DIR "/.cpu-probe.lock"

/* cpu-arch: the zone's CPU. native (and unset) is the host's own model less what
 * KVM refuses; generic and the migration classes are fixed, vendor-neutral models
 * (x86-64 levels) that every host running them presents identically. */
typedef enum CpuArch {
        CPU_ARCH_NATIVE,
        CPU_ARCH_GENERIC,           /* x86-64 baseline (x86-64-v1) */
        CPU_ARCH_MIGRATION_CLASS1, /* x86-64-v2: SSE3, SSSE3, SSE4.1/4.2, POPCNT, CX16, LAHF */
        CPU_ARCH_MIGRATION_CLASS2, /* class1 plus AES, PCLMULQDQ, XSAVE, AVX */
        CPU_ARCH_MIGRATION_CLASS3, /* x86-64-v3: class2 plus AVX2, BMI1/2, F16C, FMA, LZCNT, MOVBE */
        CPU_ARCH_MIGRATION_CLASS4, /* x86-64-v4: class3 plus AVX-512 F, BW, CD, DQ, VL */
        _CPU_ARCH_MAX,
        _CPU_ARCH_INVALID = -EINVAL,
} CpuArch;

const char *cpu_arch_to_string(CpuArch a);
CpuArch cpu_arch_from_string(const char *s);
/* The QEMU -cpu value of a fixed class (not native). */
const char *cpu_arch_model(CpuArch a);

typedef struct CpuProbe {
        char *key;              /* what the probe is valid for (boot, kernel, QEMU binary, accelerator) */
        ZoneAccel accel;        /* what runs the vCPUs: every model below is for it */
        char *native_model;     /* the -cpu value, e.g. "host,-arch-capabilities"; NULL if none runs */
        char *native_error;     /* why no native model runs */
        char *signature;        /* vendor, family, model and stepping of the native model */
        char **native_features; /* the features the native model shows the guest, sorted */
        char **refused;         /* the host's features that KVM refused (removed from native) */
        char **missing[_CPU_ARCH_MAX]; /* per class, the features this host lacks (none: it runs) */
        char *class_error[_CPU_ARCH_MAX]; /* per class, why it did not run although nothing is missing */
        json_object *models;    /* QEMU's named models: name -> array of unavailable features */
} CpuProbe;

CpuProbe *cpu_probe_free(CpuProbe *p);
static inline void cpu_probe_freep(CpuProbe **p)
{
        if (*p)
                *p = cpu_probe_free(*p);
}

/* Whether the class runs on this host: nothing missing and a vCPU started. */
bool cpu_probe_class_runs(const CpuProbe *p, CpuArch a);

/* ---- decisions on QEMU's answers (no QEMU needed: unit-tested on recorded answers) ---- */

/* From query-cpu-definitions (the "return" array) and query-cpu-model-expansion
 * of "host" (type full, the "return" object): the native features, signature and
 * each class's missing features. refused lists features to leave out of native. */
int cpu_probe_decide(json_object *definitions, json_object *host_expansion, char *const *refused, CpuProbe *p);
/* The feature whose MSR QEMU failed to set at vCPU setup, read from QEMU's
 * stderr ("failed to set MSR 0x10a to 0x69"): the feature to leave out, or NULL. */
const char *cpu_probe_msr_feature(const char *qemu_stderr);
/* The native -cpu value: "host" (kvm) or "max" (tcg) less the refused features. */
char *cpu_probe_native_model(ZoneAccel accel, char *const *refused);

/* ---- the probe itself ---- */

/* What a cached probe must match to be used: the boot, kernel, QEMU binary and accelerator. */
int cpu_probe_cache_key(const char *qemu, ZoneAccel accel, char **ret);
/* Runs the probe with QEMU (default qemu-system-x86_64) and ACCEL in a scratch
 * directory under ROOT/run/kzones-cpu. */
int cpu_probe_run(const char *root, const char *qemu, ZoneAccel accel, CpuProbe **ret, KzError *e);
/* The probe of this host, with the accelerator ROOT/etc/kzones/kzones.conf names:
 * from the cache if it is still valid, else probed now (under a lock, so concurrent
 * callers probe once) and cached. */
int cpu_probe_get(const char *root, const char *qemu, CpuProbe **ret, KzError *e);
/* Read and write the cache's JSON. */
int cpu_probe_from_json(const char *text, CpuProbe **ret);
char *cpu_probe_to_json(const CpuProbe *p);

/* The -cpu value for cpu-arch (NULL: native) on this host, or, with the guide's
 * kind of message, why this host cannot run it (naming the missing features and
 * what does run here). */
int cpu_probe_zone_model(const CpuProbe *p, const char *cpu_arch, char **ret, KzError *e);
