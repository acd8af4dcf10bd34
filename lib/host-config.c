/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs-util.h"
#include "host-config.h"
#include "macro.h"

static const char *const accel_names[_ZONE_ACCEL_MAX] = {
        [ZONE_ACCEL_KVM] = "kvm",
        [ZONE_ACCEL_TCG] = "tcg",
};

const char *zone_accel_to_string(ZoneAccel a)
{
        return a >= 0 && a < _ZONE_ACCEL_MAX ? accel_names[a] : NULL;
}

ZoneAccel zone_accel_from_string(const char *s)
{
        for (ZoneAccel a = 0; s && a < _ZONE_ACCEL_MAX; a++)
                if (streq(s, accel_names[a]))
                        return a;
        return _ZONE_ACCEL_INVALID;
}

/* TCG's code buffer is mapped twice, once writable and once executable, never
 * both: zone@.service denies a mapping that is both (MemoryDenyWriteExecute=). */
const char *zone_accel_qemu_option(ZoneAccel a)
{
        return a == ZONE_ACCEL_TCG ? "tcg,split-wx=on" : "kvm";
}

/* The value of KEY under [Host] (a line "KEY=VALUE", blanks around both trimmed);
 * NULL in *ret when it is not set. The last line wins, as in systemd's files. */
static int host_config_get(const char *root, const char *key, char **ret, KzError *e)
{
        _cleanup_free_ char *path = path_join(root, HOST_CONFIG_FILE), *line = NULL, *value = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, klen = strlen(key);
        bool in_host = true; /* settings before any section header count as [Host] */

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f) {
                *ret = NULL;
                return errno == ENOENT ? 0 : kz_error_set(e, errno, "cannot read %s: %s.", path, strerror(errno));
        }
        while (getline(&line, &size, f) >= 0) {
                char *v = line + strspn(line, " \t"), *end;

                v[strcspn(v, "\r\n")] = 0;
                if (*v == 0 || *v == '#' || *v == ';')
                        continue;
                if (*v == '[') {
                        in_host = streq(v, "[Host]");
                        continue;
                }
                if (!in_host || strncmp(v, key, klen) != 0)
                        continue;
                v += klen;
                v += strspn(v, " \t");
                if (*v != '=')
                        continue;
                v++;
                v += strspn(v, " \t");
                for (end = v + strlen(v); end > v && strchr(" \t", end[-1]); end--)
                        ;
                free(value);
                value = strndup(v, end - v);
                if (!value)
                        return -ENOMEM;
        }
        if (ferror(f))
                return kz_error_set(e, EIO, "cannot read %s: %s.", path, strerror(EIO));
        *ret = TAKE_PTR(value);
        return 0;
}

int host_config_accel(const char *root, ZoneAccel *ret, KzError *e)
{
        _cleanup_free_ char *v = NULL;
        int r;

        r = host_config_get(root, "Accelerator", &v, e);
        if (r < 0)
                return r;
        if (!v || !*v) {
                *ret = ZONE_ACCEL_KVM;
                return 0;
        }
        *ret = zone_accel_from_string(v);
        if (*ret < 0) {
                _cleanup_free_ char *path = path_join(root, HOST_CONFIG_FILE);

                return kz_error_set(e, EINVAL, "%s: Accelerator=%s is neither kvm nor tcg.", strna(path), v);
        }
        return 0;
}
