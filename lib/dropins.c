/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>

#include "dropins.h"
#include "zone-store.h"

#define DROPINS_MAX 256u

static const char *const unit_dirs[] = {
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/local/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
};

int unit_dropins(const char *root, const char *instance, const char *template, char ***ret)
{
        const char *units[2] = { instance, template };
        char *names[DROPINS_MAX];
        char **paths;
        size_t n = 0;
        int r = 0;

        paths = calloc(DROPINS_MAX + 1, sizeof(char *));
        if (!paths)
                return -ENOMEM;
        /* every file name once: the first directory that has it wins (/etc over /run over
         * /usr, the instance's over the template's) */
        for (size_t d = 0; d < ELEMENTSOF(unit_dirs) && r >= 0; d++)
                for (size_t u = 0; u < ELEMENTSOF(units) && r >= 0; u++) {
                        _cleanup_free_ char *rel = NULL, *dir = NULL;
                        struct dirent *de;
                        DIR *dp;

                        if (!units[u])
                                continue;
                        if (asprintf(&rel, "%s/%s.d", unit_dirs[d], units[u]) < 0 || !(dir = path_join(root, rel))) {
                                r = -ENOMEM;
                                break;
                        }
                        dp = opendir(dir);
                        if (!dp)
                                continue;
                        while ((de = readdir(dp)) && n < DROPINS_MAX) {
                                size_t len = strlen(de->d_name);
                                bool dup = false;

                                if (len < 6 || !streq(de->d_name + len - 5, ".conf"))
                                        continue;
                                for (size_t i = 0; i < n && !dup; i++)
                                        dup = streq(names[i], de->d_name);
                                if (dup)
                                        continue;
                                names[n] = strdup(de->d_name);
                                if (!names[n] || asprintf(&paths[n], "%s/%s", dir, de->d_name) < 0) {
                                        free(names[n]);
                                        paths[n] = NULL;
                                        r = -ENOMEM;
                                        break;
                                }
                                n++;
                        }
                        closedir(dp);
                }
        /* then all in the order of their names */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                        char *t = names[j];
                        names[j] = names[j - 1];
                        names[j - 1] = t;
                        t = paths[j];
                        paths[j] = paths[j - 1];
                        paths[j - 1] = t;
                }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        if (r < 0) {
                strv_freep(&paths);
                return r;
        }
        *ret = paths;
        return 0;
}

int ini_section_foreach(char *text, const char *section, int (*cb)(const char *key, const char *value, void *userdata),
                void *userdata)
{
        char *save = NULL;
        bool in_section = false;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *l = line + strspn(line, " \t"), *eq, *k, *v;
                size_t len = strlen(l);
                int r;

                while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t' || l[len - 1] == '\r'))
                        l[--len] = 0;
                if (*l == '#' || *l == ';' || *l == 0)
                        continue;
                if (*l == '[') {
                        in_section = len == strlen(section) + 2 && l[len - 1] == ']' &&
                                strncmp(l + 1, section, strlen(section)) == 0;
                        continue;
                }
                if (!in_section || !(eq = strchr(l, '=')))
                        continue;
                k = l;
                v = eq + 1;
                *eq = 0;
                for (size_t kl = strlen(k); kl > 0 && (k[kl - 1] == ' ' || k[kl - 1] == '\t'); kl--)
                        k[kl - 1] = 0;
                v += strspn(v, " \t");
                r = cb(k, v, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int unit_dropins_foreach(const char *root, const char *instance, const char *template, size_t max,
                int (*cb)(char *text, void *userdata), void *userdata)
{
        _cleanup_strv_free_ char **paths = NULL;
        int r;

        r = unit_dropins(root, instance, template, &paths);
        if (r < 0)
                return r;
        for (char **p = paths; *p; p++) {
                _cleanup_free_ char *buf = NULL;
                size_t size;

                if (read_file_bounded(*p, max, &buf, &size) < 0)
                        continue;
                r = cb(buf, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
