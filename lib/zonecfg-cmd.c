/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zonecfg session: its scopes and errors, the command table, the commands on
 * the whole configuration (info, export, verify, commit, revert, delete, exit,
 * help) and the tokenizer. The commands that edit resources are zonecfg-edit.c. */
#include <ctype.h>
#include <stdarg.h>

#include "zone-store.h"
#include "zonecfg-internal.h"

#define MAX_TOKENS 64
#define MAX_LINE (64u * 1024u)

typedef struct Command {
        const char *name;
        int (*run)(Zonecfg *z, char **argv, size_t argc);
        const char *usage;
        const char *help;
} Command;

int zc_fail(Zonecfg *z, const char *fmt, ...)
{
        va_list ap;

        if (z->o.mode == ZONECFG_FILE)
                fprintf(z->o.err, "On line %u:\n", z->lineno);
        else if (z->o.mode == ZONECFG_BATCH)
                fprintf(z->o.err, "zonecfg:%s: ", z->zonename);
        va_start(ap, fmt);
        vfprintf(z->o.err, fmt, ap);
        va_end(ap);
        fputc('\n', z->o.err);
        return -EINVAL;
}

int zc_fail_error(Zonecfg *z, int r, const KzError *e)
{
        zc_fail(z, "%s", kz_error_message(e, r));
        return r < 0 ? r : -EINVAL;
}

bool zc_confirm(Zonecfg *z, const char *question)
{
        if (!z->o.confirm)
                return false;
        return z->o.confirm(z->o.userdata, question);
}

void zc_scopes_drop(Zonecfg *z)
{
        while (z->depth > 0) {
                z->depth--;
                zone_resource_free(z->scopes[z->depth].scratch);
                z->scopes[z->depth] = (Scope) {};
        }
}

int zonecfg_new(const ZonecfgOptions *o, Zonecfg **ret)
{
        _cleanup_(zonecfg_freep) Zonecfg *z = calloc(1, sizeof(*z));
        KzError e = {};
        int r;

        if (!z)
                return -ENOMEM;
        z->o = *o;
        z->root = strdup(o->root ?: "");
        z->zonename = strdup(o->zonename);
        if (!z->root || !z->zonename)
                return -ENOMEM;
        if (!zone_name_is_valid(o->zonename)) {
                fprintf(o->err, "zonecfg: %s: invalid zone name: use up to %u letters, digits, '-', '_' and '.', "
                        "starting with a letter or digit; 'global' and names starting with 'SYS' are reserved.\n",
                        o->zonename, ZONE_NAME_MAX);
                return -EINVAL;
        }
        if (zc_live(z)) {
                r = zc_live_load(z, &z->cfg);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(z);
                return 0;
        }
        r = zone_store_load(z->root, o->zonename, &z->cfg, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && r != -ENOENT) {
                /* Only 'delete -F' and 'create -F' can act on a damaged configuration. */
                z->damaged = strdup(kz_error_message(&e, r));
                if (!z->damaged)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(z);
        return 0;
}

Zonecfg *zonecfg_free(Zonecfg *z)
{
        if (!z)
                return NULL;
        zc_scopes_drop(z);
        zone_config_free(z->cfg);
        free(z->damaged);
        free(z->root);
        free(z->zonename);
        free(z);
        return NULL;
}

bool zonecfg_zone_exists(const Zonecfg *z)
{
        return z->cfg != NULL;
}

const char *zonecfg_prompt(Zonecfg *z)
{
        size_t n = (size_t) snprintf(z->prompt, sizeof(z->prompt), "zonecfg:%s", z->zonename);

        for (unsigned i = 0; i < z->depth && n < sizeof(z->prompt); i++)
                n += (size_t) snprintf(z->prompt + n, sizeof(z->prompt) - n, ":%s", z->scopes[i].scratch->type->name);
        if (n < sizeof(z->prompt))
                (void) snprintf(z->prompt + n, sizeof(z->prompt) - n, "> ");
        return z->prompt;
}

Scope *zc_scope(Zonecfg *z)
{
        return z->depth > 0 ? &z->scopes[z->depth - 1] : NULL;
}

/* The resource that commands act on: the innermost scope's, else the zone. */
ZoneResource *zc_current(Zonecfg *z)
{
        return z->depth > 0 ? z->scopes[z->depth - 1].scratch : z->cfg->root;
}

int zc_need_zone(Zonecfg *z)
{
        if (z->cfg)
                return 0;
        return zc_fail(z, "No such zone configured; use 'create' to begin configuring a new zone.");
}

int zc_need_global_scope(Zonecfg *z, const char *cmd)
{
        if (z->depth == 0)
                return 0;
        return zc_fail(z, "%s is not allowed in resource scope (%s); use 'end' or 'cancel' first.", cmd,
                zc_scope(z)->scratch->type->name);
}

static void info_prop(Zonecfg *z, const ZoneResource *r, const char *prop)
{
        const char *v = zone_resource_get(r, prop);
        const PropInfo *p = resource_type_prop(r->type, prop, NULL);

        if (v)
                fprintf(z->o.out, "%s: %s\n", prop, p && (p->flags & PROP_FLAG_SECRET) ? "redacted" : v);
}

static int cmd_info(Zonecfg *z, char **argv, size_t argc)
{
        ZoneResource *cur;
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        cur = zc_current(z);
        if (argc == 0) {
                Scope *s = zc_scope(z);
                char label[64];

                if (!s) {
                        zone_resource_info(z->o.out, z->cfg, cur, 0, NULL);
                        return 0;
                }
                /* a resource being added is shown with the number it will have: "anet 1:" */
                if (!s->original && s->scratch->type->multi)
                        (void) snprintf(label, sizeof(label), "%s %zu", s->scratch->type->name,
                                zone_resource_count(s->parent, s->scratch->type));
                else
                        (void) snprintf(label, sizeof(label), "%s", s->scratch->type->name);
                zone_resource_info(z->o.out, z->cfg, cur, z->depth > 1 ? 1 : 0, label);
                return 0;
        }
        if (resource_type_child(cur->type, argv[0])) {
                const ResourceType *t = resource_type_child(cur->type, argv[0]);
                ZoneResource *found[ZONE_CONFIG_MAX_RESOURCES];
                size_t n, shown = 0;

                k = zc_match_resources(z, cur, t, argv + 1, argc - 1, found, ELEMENTSOF(found), &n);
                if (k < 0)
                        return k;
                for (size_t i = 0; i < n; i++) {
                        char label[64];

                        if (z->depth == 0) {
                                zone_resource_info(z->o.out, z->cfg, found[i], 0, t->name);
                                continue;
                        }
                        for (size_t j = 0; j < cur->n_children; j++)
                                if (cur->children[j] == found[i])
                                        break;
                                else if (cur->children[j]->type == t)
                                        shown++;
                        (void) snprintf(label, sizeof(label), "%s %zu", t->name, shown);
                        shown = 0;
                        zone_resource_info(z->o.out, z->cfg, found[i], 1, label);
                }
                return 0;
        }
        for (size_t i = 0; i < argc; i++) {
                if (!resource_type_prop(cur->type, argv[i], NULL))
                        return cur == z->cfg->root ? zc_fail(z, "unknown resource or property: %s", argv[i])
                                                   : zc_fail(z, "%s has no property or resource %s.", cur->type->name,
                                                             argv[i]);
        }
        for (size_t i = 0; i < argc; i++)
                info_prop(z, cur, argv[i]);
        return 0;
}

static int cmd_export(Zonecfg *z, char **argv, size_t argc)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        if (!(argc == 0 || (argc == 2 && streq(argv[0], "-f"))))
                return zc_fail(z, "usage: export [-f FILE]");
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        zone_config_export(f, z->cfg);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (argc == 0) {
                fwrite(buf, 1, size, z->o.out);
                return 0;
        }
        /* The export holds the zone's key: written atomically, readable by its owner only. */
        k = write_file_atomic(argv[1], buf, size, 0600);
        if (k < 0)
                return zc_fail(z, "cannot write %s: %s", argv[1], strerror(-k));
        return 0;
}

/* What a command on the whole configuration that takes no arguments needs. */
static int need_plain_global_command(Zonecfg *z, size_t argc, const char *cmd)
{
        int k;

        k = zc_need_zone(z);
        if (k < 0)
                return k;
        if (argc != 0)
                return zc_fail(z, "usage: %s", cmd);
        return zc_need_global_scope(z, cmd);
}

static int cmd_verify(Zonecfg *z, char **argv, size_t argc)
{
        KzError e = {};
        int k;

        (void) argv;
        k = need_plain_global_command(z, argc, "verify");
        if (k < 0)
                return k;
        k = zone_config_verify(z->cfg, &e);
        if (k < 0)
                return zc_fail_error(z, k, &e);
        return 0;
}

static int do_commit(Zonecfg *z)
{
        KzError e = {};
        int k;

        if (zc_live(z))
                return zc_live_commit(z, false, false);
        k = zone_store_commit(z->root, z->cfg, &e);
        if (k < 0)
                return zc_fail_error(z, k, &e);
        z->dirty = false;
        return 0;
}

/* Live mode's commit takes -n (a dry run: what would change, nothing changed) and -q
 * (none of the output, the status only), as "-n -q" or "-nq". */
static int cmd_commit(Zonecfg *z, char **argv, size_t argc)
{
        bool dry_run = false, quiet = false;
        int k;

        if (!zc_live(z)) {
                if (argc > 0)
                        return zc_fail(z, "usage: commit (-n and -q are for live mode, zonecfg -r)");
                k = need_plain_global_command(z, argc, "commit");
                if (k < 0)
                        return k;
                return do_commit(z);
        }
        for (size_t i = 0; i < argc; i++) {
                const char *p = argv[i];

                if (p[0] != '-' || !p[1])
                        return zc_fail(z, "usage: commit [-n] [-q]");
                for (p++; *p; p++)
                        if (*p == 'n')
                                dry_run = true;
                        else if (*p == 'q')
                                quiet = true;
                        else
                                return zc_fail(z, "usage: commit [-n] [-q]");
        }
        k = need_plain_global_command(z, 0, "commit");
        if (k < 0)
                return k;
        k = zc_live_commit(z, dry_run, quiet);
        /* a preview as the last word is not followed by the real thing at the end:
         * zonecfg -r 'add …;end;commit -n' changes nothing */
        z->previewed = k >= 0 && dry_run;
        return k;
}

/* revert and reload: the uncommitted changes dropped, the configuration read again
 * (in live mode the running zone's live configuration, as it is now). */
static int revert(Zonecfg *z, char **argv, size_t argc, const char *cmd)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        char *name, q[64];
        KzError e = {};
        int k;

        if (!(argc == 0 || (argc == 1 && streq(argv[0], "-F"))))
                return zc_fail(z, "usage: %s [-F]", cmd);
        /* nothing to lose, nothing to ask: no pending changes and no resource scope open */
        (void) snprintf(q, sizeof(q), "Are you sure you want to %s", cmd);
        if (argc == 0 && z->o.mode == ZONECFG_INTERACTIVE && (z->dirty || z->depth > 0) && !zc_confirm(z, q))
                return 0;
        if (zc_live(z)) {
                k = zc_live_load(z, &c);
                if (k < 0)
                        return k;
                zc_scopes_drop(z);
                zone_config_free(z->cfg);
                z->cfg = TAKE_PTR(c);
                z->dirty = false;
                return 0;
        }
        /* the name the zone has in the store, which a pending rename has not changed */
        name = strdup(z->cfg && z->cfg->loaded_name ? z->cfg->loaded_name : z->zonename);
        if (!name)
                return -ENOMEM;
        k = zone_store_load(z->root, name, &c, &e);
        if (k < 0 && k != -ENOENT) {
                free(name);
                return zc_fail_error(z, k, &e);
        }
        zc_scopes_drop(z);
        zone_config_free(z->cfg);
        z->cfg = TAKE_PTR(c);
        free(z->zonename);
        z->zonename = name;
        z->dirty = false;
        return 0;
}

static int cmd_revert(Zonecfg *z, char **argv, size_t argc)
{
        return revert(z, argv, argc, "revert");
}

static int cmd_reload(Zonecfg *z, char **argv, size_t argc)
{
        return revert(z, argv, argc, "reload");
}

static int cmd_delete(Zonecfg *z, char **argv, size_t argc)
{
        KzError e = {};
        bool force = false;
        int k;

        if (zc_live(z))
                return zc_live_refuse(z, "delete");
        if (!(argc == 0 || (argc == 1 && streq(argv[0], "-F"))))
                return zc_fail(z, "usage: delete [-F]");
        force = argc == 1;
        k = zc_need_global_scope(z, "delete");
        if (k < 0)
                return k;
        if (z->damaged) {
                _cleanup_(zone_config_freep) ZoneConfig *shell = zone_config_new(NULL);

                if (!force)
                        return zc_fail(z, "%s Use 'delete -F' to remove it.", z->damaged);
                if (!shell || !(shell->loaded_name = strdup(z->zonename)))
                        return -ENOMEM;
                shell->exists = true;
                k = zone_store_delete(z->root, shell, true, &e);
                if (k < 0)
                        return zc_fail_error(z, k, &e);
                z->damaged = mfree_str(z->damaged);
                return 0;
        }
        if (!z->cfg || !z->cfg->exists)
                return zc_fail(z, "No such zone configured.");
        if (!force) {
                char q[256];

                (void) snprintf(q, sizeof(q), "Are you sure you want to delete zone %s", z->zonename);
                if (!z->o.confirm)
                        return zc_fail(z, "use 'delete -F' to delete zone %s without being asked.", z->zonename);
                if (!zc_confirm(z, q))
                        return 0;
        }
        k = zone_store_delete(z->root, z->cfg, force, &e);
        if (k < 0)
                return zc_fail_error(z, k, &e);
        z->cfg = zone_config_free(z->cfg);
        z->dirty = false;
        return 0;
}

static int end_all_scopes(Zonecfg *z)
{
        while (z->depth > 0) {
                int k = zc_cmd_end(z, NULL, 0);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int cmd_exit(Zonecfg *z, char **argv, size_t argc)
{
        int k;

        if (!(argc == 0 || (argc == 1 && streq(argv[0], "-F"))))
                return zc_fail(z, "usage: exit [-F]");
        if (argc == 1) {
                zc_scopes_drop(z);
                z->dirty = false;
                return ZONECFG_EXIT;
        }
        k = zonecfg_finish(z);
        if (k < 0) {
                if (z->o.mode == ZONECFG_INTERACTIVE &&
                    zc_confirm(z, "Configuration not saved; really quit")) {
                        zc_scopes_drop(z);
                        z->dirty = false;
                        return ZONECFG_EXIT;
                }
                return k;
        }
        return ZONECFG_EXIT;
}

static int cmd_help(Zonecfg *z, char **argv, size_t argc);

static const Command commands[] = {
        { "add", zc_cmd_add, "add RESOURCE | add PROPERTY VALUE",
                "Adds a resource (and enters its scope), or in resource scope one value to a list property." },
        { "cancel", zc_cmd_cancel, "cancel", "Leaves resource scope, discarding the changes made in it." },
        { "clear", zc_cmd_clear, "clear [RESOURCE:]PROPERTY", "Unsets a property." },
        { "commit", cmd_commit, "commit [-n] [-q]",
                "Verifies the configuration and saves it. In live mode (-r), makes it the running zone's at once, "
                "printing each change; -n shows what would change and changes nothing, -q prints none of it." },
        { "create", zc_cmd_create, "create [-F] [-b | -t TEMPLATE]",
                "Creates a configuration: from SYSkz by default, from a template or an existing zone with -t, "
                "blank with -b. -F overwrites an existing configuration." },
        { "delete", cmd_delete, "delete [-F]", "Deletes the zone's configuration." },
        { "end", zc_cmd_end, "end", "Checks the resource and leaves its scope, keeping the changes." },
        { "exit", cmd_exit, "exit [-F]", "Commits pending changes and leaves; -F leaves without saving." },
        { "export", cmd_export, "export [-f FILE]", "Prints the configuration as zonecfg commands." },
        { "help", cmd_help, "help [usage | commands | syntax | COMMAND | RESOURCE | PROPERTY]",
                "Prints this help, how zonecfg is run, every command, the resources and their properties, or "
                "about one command, resource type or property." },
        { "info", cmd_info, "info [RESOURCE [PROPERTY=VALUE …] | PROPERTY …]",
                "Shows the configuration, a resource type or properties." },
        { "reload", cmd_reload, "reload [-F]",
                "Discards uncommitted changes and reads the configuration again: in live mode (-r), the running "
                "zone's live configuration as it is now." },
        { "remove", zc_cmd_remove, "remove [-F] RESOURCE [PROPERTY=VALUE …] | remove PROPERTY VALUE",
                "Removes resources, or in resource scope one value from a list property." },
        { "revert", cmd_revert, "revert [-F]", "Discards uncommitted changes and reloads the saved configuration." },
        { "select", zc_cmd_select, "select RESOURCE [PROPERTY=VALUE …]", "Enters the scope of an existing resource." },
        { "set", zc_cmd_set, "set [RESOURCE:]PROPERTY=VALUE", "Sets a property." },
        { "verify", cmd_verify, "verify", "Checks the configuration." },
};

const char *zc_command_name(size_t i)
{
        return i < ELEMENTSOF(commands) ? commands[i].name : NULL;
}

static void help_resource(Zonecfg *z, const ResourceType *t)
{
        fprintf(z->o.out, "%s properties:", t->name);
        for (size_t i = 0; i < t->n_props; i++)
                fprintf(z->o.out, " %s", t->props[i].name);
        fputc('\n', z->o.out);
        if (t->children) {
                fprintf(z->o.out, "%s resources:", t->name);
                for (const ResourceType *const *c = t->children; *c; c++)
                        fprintf(z->o.out, " %s", (*c)->name);
                fputc('\n', z->o.out);
        }
}

static bool help_property_of(Zonecfg *z, const ResourceType *t, const char *name)
{
        const PropInfo *p = resource_type_prop(t, name, NULL);

        if (!p)
                return false;
        fprintf(z->o.out, "%s%s%s: %s", t == zone_type() ? "" : t->name, t == zone_type() ? "" : " ", p->name,
                prop_type_to_string(p->type));
        if (p->values) {
                fputs(", one of:", z->o.out);
                for (const char *const *v = p->values; *v; v++)
                        fprintf(z->o.out, " %s", *v);
        }
        fputc('\n', z->o.out);
        return true;
}

/* A property: of the current scope if it has one by that name, else of every resource
 * type that has one; its type and, if enumerated, its values. */
static bool help_property(Zonecfg *z, const char *name)
{
        bool found = false;

        if (z->cfg && help_property_of(z, zc_current(z)->type, name))
                return true;
        if (help_property_of(z, zone_type(), name))
                return true;
        for (const ResourceType *const *c = zone_type()->children; c && *c; c++) {
                found = help_property_of(z, *c, name) || found;
                for (const ResourceType *const *g = (*c)->children; g && *g; g++)
                        found = help_property_of(z, *g, name) || found;
        }
        return found;
}

static void help_usage(Zonecfg *z)
{
        fputs("usage: zonecfg -z ZONENAME                  (interactive)\n"
              "       zonecfg -z ZONENAME SUBCOMMAND[;SUBCOMMAND...]\n"
              "       zonecfg -z ZONENAME -f COMMAND-FILE|-\n"
              "       zonecfg -z ZONENAME -r [SUBCOMMAND[;SUBCOMMAND...] | -f COMMAND-FILE|-]\n"
              "       zonecfg -h | --help | --version\n"
              "Options: -R ROOT (an alternate root), -r (live mode: the running zone's live\n"
              "configuration). Type 'help commands' for the subcommands.\n",
                z->o.out);
}

static void help_syntax(Zonecfg *z)
{
        fputs("Resources are added with 'add RESOURCE' or chosen with 'select RESOURCE PROPERTY=VALUE',\n"
              "changed with 'set PROPERTY=VALUE' and closed with 'end'. Lists are written [a,b].\n",
                z->o.out);
        help_resource(z, zone_type());
        for (const ResourceType *const *c = zone_type()->children; c && *c; c++)
                help_resource(z, *c);
}

static int cmd_help(Zonecfg *z, char **argv, size_t argc)
{
        const ResourceType *t;

        if (argc > 1)
                return zc_fail(z, "usage: help [usage | commands | syntax | COMMAND | RESOURCE | PROPERTY]");
        if (argc == 1) {
                if (streq(argv[0], "usage")) {
                        help_usage(z);
                        return 0;
                }
                if (streq(argv[0], "commands")) {
                        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                                fprintf(z->o.out, "%s\n    %s\n", commands[i].usage, commands[i].help);
                        return 0;
                }
                if (streq(argv[0], "syntax")) {
                        help_syntax(z);
                        return 0;
                }
                for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                        if (streq(commands[i].name, argv[0])) {
                                fprintf(z->o.out, "usage: %s\n    %s\n", commands[i].usage, commands[i].help);
                                return 0;
                        }
                t = resource_type_child(zone_type(), argv[0]);
                if (!t)
                        t = resource_type_child(resource_type_child(zone_type(), "anet"), argv[0]);
                if (t) {
                        help_resource(z, t);
                        return 0;
                }
                if (help_property(z, argv[0]))
                        return 0;
                return zc_fail(z, "help: %s is no command, resource or property; type 'help' for the list.",
                        argv[0]);
        }
        fputs("Commands:\n", z->o.out);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(z->o.out, "    %s\n", commands[i].usage);
        t = z->cfg ? zc_current(z)->type : zone_type();
        fprintf(z->o.out, "Properties here:");
        for (size_t i = 0; i < t->n_props; i++)
                fprintf(z->o.out, " %s", t->props[i].name);
        fputc('\n', z->o.out);
        if (t->children) {
                fprintf(z->o.out, "Resources here:");
                for (const ResourceType *const *c = t->children; *c; c++)
                        fprintf(z->o.out, " %s", (*c)->name);
                fputc('\n', z->o.out);
        }
        fputs("Type 'help usage', 'help commands', 'help syntax' or 'help NAME' for more.\n", z->o.out);
        return 0;
}

int zonecfg_finish(Zonecfg *z)
{
        int k;

        k = end_all_scopes(z);
        if (k < 0)
                return k;
        if (z->dirty && z->cfg && !(zc_live(z) && z->previewed))
                return do_commit(z);
        return 0;
}

/* ---- the tokenizer ------------------------------------------------------------------------ */

static void free_tokens(char **t, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(t[i]);
}

static int run_command(Zonecfg *z, char **argv, size_t argc)
{
        if (z->damaged && !streq(argv[0], "delete") && !streq(argv[0], "create") && !streq(argv[0], "help") &&
            !streq(argv[0], "exit"))
                return zc_fail(z, "%s", z->damaged);
        /* what only looks leaves a preview the last word; anything else may change */
        if (!streq(argv[0], "info") && !streq(argv[0], "export") && !streq(argv[0], "help") &&
            !streq(argv[0], "verify") && !streq(argv[0], "exit"))
                z->previewed = false;
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, argv[0]))
                        return commands[i].run(z, argv + 1, argc - 1);
        return zc_fail(z, "%s is not a zonecfg command; type 'help' for the list.", argv[0]);
}

int zonecfg_run_line(Zonecfg *z, const char *line, unsigned lineno)
{
        char *tokens[MAX_TOKENS];
        size_t n = 0, len;
        const char *p = line;
        int r = ZONECFG_CONTINUE;

        z->lineno = lineno;
        len = strlen(line);
        if (len > MAX_LINE)
                return zc_fail(z, "line too long (at most %u bytes).", MAX_LINE);

        for (;;) {
                _cleanup_free_ char *tok = NULL;
                size_t tl = 0;
                bool quoted = false, any = false;

                while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                        p++;
                if (*p == 0 || *p == ';' || *p == '#') {
                        if (n > 0) {
                                r = run_command(z, tokens, n);
                                free_tokens(tokens, n);
                                n = 0;
                                if (r != ZONECFG_CONTINUE)
                                        return r;
                        }
                        if (*p == ';') {
                                p++;
                                continue;
                        }
                        return r;
                }
                tok = malloc(len + 1);
                if (!tok) {
                        free_tokens(tokens, n);
                        return -ENOMEM;
                }
                while (*p && (quoted || !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ';'))) {
                        if (*p == '"') {
                                quoted = !quoted;
                                any = true;
                                p++;
                                continue;
                        }
                        if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                p++;
                        tok[tl++] = *p++;
                }
                if (quoted) {
                        free_tokens(tokens, n);
                        return zc_fail(z, "unterminated quoted string.");
                }
                tok[tl] = 0;
                (void) any;
                if (n >= MAX_TOKENS) {
                        free_tokens(tokens, n);
                        return zc_fail(z, "too many words in one command.");
                }
                tokens[n++] = TAKE_PTR(tok);
        }
}
