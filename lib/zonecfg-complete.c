/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tab completion for the zonecfg prompt: which words can end the line typed so far,
 * in the session's current scope (the zone, or the resource of an open 'add' or
 * 'select'). Subcommands, resource types, property names and enumerated values. */
#include <stdlib.h>

#include "strv.h"
#include "zone-store.h"
#include "zonecfg-internal.h"

#define MAX_WORDS 16

typedef struct Completion {
        const char *prefix; /* the word being completed, as typed so far */
        char **words;
} Completion;

static int offer(Completion *c, const char *word)
{
        if (!startswith(word, c->prefix))
                return 0;
        return strv_add_unique(&c->words, word) < 0 ? -ENOMEM : 0;
}

/* "prop=value": what is offered for an assignment */
static int offer_assignment(Completion *c, const char *prop, const char *value)
{
        _cleanup_free_ char *s = NULL;

        if (asprintf(&s, "%s=%s", prop, value) < 0)
                return -ENOMEM;
        return offer(c, s);
}

static int offer_children(Completion *c, const ResourceType *t)
{
        for (const ResourceType *const *child = t->children; child && *child; child++)
                if (offer(c, (*child)->name) < 0)
                        return -ENOMEM;
        return 0;
}

/* Property names of t; with list_only, the properties that take several values. */
static int offer_props(Completion *c, const ResourceType *t, bool list_only)
{
        for (size_t i = 0; i < t->n_props; i++)
                if ((!list_only || (t->props[i].flags & PROP_FLAG_LIST)) && offer(c, t->props[i].name) < 0)
                        return -ENOMEM;
        return 0;
}

/* "PROP=" for each property of t, or when the word already names a property and has
 * its '=', "PROP=VALUE" for each value that property can take. */
static int offer_assignments(Completion *c, const ResourceType *t)
{
        const char *eq = strchr(c->prefix, '=');

        if (eq) {
                _cleanup_free_ char *name = strndup(c->prefix, (size_t) (eq - c->prefix));
                const PropInfo *p;

                if (!name)
                        return -ENOMEM;
                p = resource_type_prop(t, name, NULL);
                for (const char *const *v = p ? p->values : NULL; v && *v; v++)
                        if (offer_assignment(c, p->name, *v) < 0)
                                return -ENOMEM;
                return 0;
        }
        for (size_t i = 0; i < t->n_props; i++)
                if (offer_assignment(c, t->props[i].name, "") < 0)
                        return -ENOMEM;
        return 0;
}

static int offer_values(Completion *c, const ResourceType *t, const char *prop)
{
        const PropInfo *p = resource_type_prop(t, prop, NULL);

        for (const char *const *v = p ? p->values : NULL; v && *v; v++)
                if (offer(c, *v) < 0)
                        return -ENOMEM;
        return 0;
}

/* What 'create -t' takes: the installed templates and the configured zones. */
static int offer_templates(Zonecfg *z, Completion *c)
{
        _cleanup_strv_free_ char **templates = zone_template_list();
        ZoneIndexEntry *zones = NULL;
        size_t n = 0;
        KzError e = {};
        int r = 0;

        for (char **t = templates; t && *t && r >= 0; t++)
                r = offer(c, *t);
        if (r >= 0 && zone_index_read(z->root, &zones, &n, &e) >= 0) {
                for (size_t i = 0; i < n && r >= 0; i++)
                        if (!streq(zones[i].name, z->zonename))
                                r = offer(c, zones[i].name);
                zone_index_free(zones, n);
        }
        return r;
}

/* The values of key (as "KEY=VALUE") that the children of type t of the current resource
 * have: 'select anet id=' offers the anets there are. */
static int offer_keys(Zonecfg *z, Completion *c, const ResourceType *t)
{
        const ZoneResource *cur;

        if (!t->key || !z->cfg)
                return 0;
        cur = zc_current(z);
        for (size_t i = 0; i < cur->n_children; i++) {
                const char *v;

                if (cur->children[i]->type != t || !(v = zone_resource_get(cur->children[i], t->key)))
                        continue;
                if (offer_assignment(c, t->key, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int offer_strings(Completion *c, const char *const *l)
{
        for (; *l; l++)
                if (offer(c, *l) < 0)
                        return -ENOMEM;
        return 0;
}

/* What can follow the words of one command, the last of them being typed. */
static int complete_command(Zonecfg *z, Completion *c, char **w, size_t n)
{
        const ResourceType *here = z->cfg ? zc_current(z)->type : zone_type();
        const char *cmd = w[0];

        if (n == 0) {
                for (size_t i = 0; zc_command_name(i); i++)
                        if (offer(c, zc_command_name(i)) < 0)
                                return -ENOMEM;
                return 0;
        }
        if (streq(cmd, "add")) {
                if (n == 1)
                        return offer_children(c, here) < 0 ? -ENOMEM : offer_props(c, here, true);
                if (n == 2 && resource_type_prop(here, w[1], NULL))
                        return offer_values(c, here, w[1]);
                return 0;
        }
        if (streq(cmd, "select") || streq(cmd, "remove") || streq(cmd, "info")) {
                const ResourceType *t;
                size_t first = 1;

                if (streq(cmd, "remove") && n > 1 && streq(w[1], "-F"))
                        first = 2;
                if (n == first) {
                        if (offer_children(c, here) < 0)
                                return -ENOMEM;
                        if (streq(cmd, "info"))
                                return offer_props(c, here, false);
                        if (streq(cmd, "remove"))
                                return offer_props(c, here, true);
                        return 0;
                }
                t = resource_type_child(here, w[first]);
                if (t && t->key && startswith(c->prefix, t->key) && c->prefix[strlen(t->key)] == '=')
                        return offer_keys(z, c, t);
                if (t)
                        return offer_assignments(c, t);
                if (streq(cmd, "remove") && n == first + 1)
                        return offer_values(c, here, w[first]);
                return 0;
        }
        if (streq(cmd, "set"))
                return n == 1 ? offer_assignments(c, here) : 0;
        if (streq(cmd, "clear"))
                return n == 1 ? offer_props(c, here, false) : 0;
        if (streq(cmd, "help")) {
                static const char *const topics[] = { "usage", "commands", "syntax", NULL };

                if (n != 1)
                        return 0;
                if (offer_strings(c, topics) < 0 || offer_children(c, zone_type()) < 0 ||
                    offer_props(c, here, false) < 0)
                        return -ENOMEM;
                for (size_t i = 0; zc_command_name(i); i++)
                        if (offer(c, zc_command_name(i)) < 0)
                                return -ENOMEM;
                return 0;
        }
        if (streq(cmd, "create")) {
                static const char *const flags[] = { "-F", "-b", "-t", NULL };

                if (streq(w[n - 1], "-t"))
                        return offer_templates(z, c);
                return n < 3 ? offer_strings(c, flags) : 0;
        }
        if (streq(cmd, "revert") || streq(cmd, "reload") || streq(cmd, "exit") || streq(cmd, "delete")) {
                static const char *const force[] = { "-F", NULL };
                return n == 1 ? offer_strings(c, force) : 0;
        }
        if (streq(cmd, "commit") && zc_live(z)) {
                static const char *const live[] = { "-n", "-q", NULL };
                return n < 3 ? offer_strings(c, live) : 0;
        }
        if (streq(cmd, "export")) {
                static const char *const file[] = { "-f", NULL };
                return n == 1 ? offer_strings(c, file) : 0;
        }
        return 0;
}

static bool is_blank(char ch)
{
        return ch == ' ' || ch == '\t';
}

int zonecfg_complete(Zonecfg *z, const char *line, char ***ret, size_t *ret_start)
{
        _cleanup_strv_free_ char **words = NULL;
        const char *cmd = line, *p, *last;
        Completion c = {};
        bool quoted = false;
        size_t n = 0;
        int r;

        /* The command being typed starts after the last ';' outside quotes; inside
         * quotes, or after a comment, there is nothing to complete. */
        for (p = line; *p; p++) {
                if (*p == '"')
                        quoted = !quoted;
                else if (!quoted && *p == ';')
                        cmd = p + 1;
                else if (!quoted && *p == '#')
                        quoted = true;
        }
        if (quoted) {
                *ret = NULL;
                *ret_start = strlen(line);
                return 0;
        }
        last = line + strlen(line);
        while (last > cmd && !is_blank(last[-1]))
                last--;
        words = calloc(MAX_WORDS + 1, sizeof(char *));
        if (!words)
                return -ENOMEM;
        for (p = cmd; p < last;) {
                const char *end;

                while (p < last && is_blank(*p))
                        p++;
                if (p == last)
                        break;
                for (end = p; end < last && !is_blank(*end); end++)
                        ;
                if (n == MAX_WORDS) {
                        *ret = NULL;
                        *ret_start = strlen(line);
                        return 0;
                }
                words[n] = strndup(p, (size_t) (end - p));
                if (!words[n])
                        return -ENOMEM;
                n++;
                p = end;
        }
        c.prefix = last;
        r = complete_command(z, &c, words, n);
        if (r < 0) {
                strv_free(c.words);
                return r;
        }
        if (c.words)
                qsort(c.words, strv_length(c.words), sizeof(char *), strv_cmp);
        *ret = c.words;
        *ret_start = (size_t) (last - line);
        return 0;
}
