/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A configuration as people read it: zonecfg info and export. */
#include <ctype.h>

#include "zone-config.h"

/* ---- info and export ------------------------------------------------------------------- */

static void print_indent(FILE *f, unsigned indent)
{
        for (unsigned i = 0; i < indent; i++)
                fputs("    ", f);
}

void zone_resource_info(FILE *f, const ZoneConfig *c, const ZoneResource *r, unsigned indent, const char *label)
{
        unsigned props_indent = indent;

        if (label) {
                print_indent(f, indent);
                fprintf(f, "%s:\n", label);
                props_indent++;
        }
        for (size_t i = 0; i < r->type->n_props; i++) {
                const PropInfo *p = &r->type->props[i];
                const char *v = r->values[i];

                if (!v)
                        continue;
                if (p->flags & PROP_FLAG_SECRET) {
                        print_indent(f, props_indent);
                        fprintf(f, "%s: redacted\n", p->name);
                        continue;
                }
                if (p->type == PROP_STORAGE && strstr(v, "%{")) {
                        _cleanup_free_ char *x = zone_config_expand(c, r, v);
                        print_indent(f, props_indent);
                        fprintf(f, "%s.template: %s\n", p->name, v);
                        print_indent(f, props_indent);
                        fprintf(f, "%s: %s\n", p->name, x ?: v);
                        continue;
                }
                print_indent(f, props_indent);
                fprintf(f, "%s: %s\n", p->name, v);
        }
        for (size_t i = 0; i < r->n_children; i++) {
                const ZoneResource *ch = r->children[i];
                char buf[64];

                if (r->type == zone_type())
                        zone_resource_info(f, c, ch, 0, ch->type->name);
                else {
                        /* nested resources are numbered: "vlan 0:", "vlan 1:" */
                        size_t n = 0;
                        for (size_t j = 0; j < i; j++)
                                if (r->children[j]->type == ch->type)
                                        n++;
                        (void) snprintf(buf, sizeof(buf), "%s %zu", ch->type->name, n);
                        zone_resource_info(f, c, ch, props_indent, buf);
                }
        }
}

char *zonecfg_quote(const char *s)
{
        bool plain = !isempty(s);
        char *out, *o;

        for (const char *p = s; *p && plain; p++)
                if (isspace((unsigned char) *p) || strchr(";\"'\\#=", *p))
                        plain = false;
        if (plain && strstr(s, "=") == NULL)
                return strdup(s);
        out = malloc(strlen(s) * 2 + 3);
        if (!out)
                return NULL;
        o = out;
        *o++ = '"';
        for (const char *p = s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        *o++ = '\\';
                *o++ = *p;
        }
        *o++ = '"';
        *o = 0;
        return out;
}

static void export_props(FILE *f, const ZoneResource *r)
{
        for (size_t i = 0; i < r->type->n_props; i++) {
                _cleanup_free_ char *q = NULL;

                if (!r->values[i] || (r->type == zone_type() && streq(r->type->props[i].name, "zonename")))
                        continue;
                q = zonecfg_quote(r->values[i]);
                fprintf(f, "set %s=%s\n", r->type->props[i].name, q ?: r->values[i]);
        }
}

static void export_resource(FILE *f, const ZoneResource *r)
{
        fprintf(f, "add %s\n", r->type->name);
        export_props(f, r);
        for (size_t i = 0; i < r->n_children; i++)
                export_resource(f, r->children[i]);
        fputs("end\n", f);
}

void zone_config_export(FILE *f, const ZoneConfig *c)
{
        fputs("create -b\n", f);
        export_props(f, c->root);
        for (size_t i = 0; i < c->root->n_children; i++)
                export_resource(f, c->root->children[i]);
}
