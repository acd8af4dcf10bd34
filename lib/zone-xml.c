/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <pthread.h>

#include "zone-config.h"

/* The XML form of a configuration: <zone zonename=… brand=…> with one child element
 * per resource and one attribute per property. Every document is checked against
 * the schema (zone.rng in the data directory) on the way in and on the way out;
 * documents with a DTD or entity declarations are refused before the parser sees
 * them, the parser never touches the network, and sizes are bounded. */

static xmlRelaxNGPtr schema;
static char schema_error[512];
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static void collect_error(void *userdata, xmlErrorPtr err)
{
        char *buf = userdata;
        size_t n;

        if (!buf || buf[0] || !err || !err->message)
                return;
        if (err->line > 0)
                (void) snprintf(buf, 512, "line %d: %s", err->line, err->message);
        else
                (void) snprintf(buf, 512, "%s", err->message);
        n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
}

static void schema_load(void)
{
        _cleanup_free_ char *path = NULL;
        xmlRelaxNGParserCtxtPtr ctxt;

        if (asprintf(&path, "%s/zone.rng", kzones_data_dir()) < 0)
                return;
        if (access(path, R_OK) < 0) {
                (void) snprintf(schema_error, sizeof(schema_error), "cannot read %s: %m", path);
                return;
        }
        ctxt = xmlRelaxNGNewParserCtxt(path);
        if (!ctxt)
                return;
        xmlRelaxNGSetParserStructuredErrors(ctxt, collect_error, schema_error);
        schema = xmlRelaxNGParse(ctxt);
        xmlRelaxNGFreeParserCtxt(ctxt);
        if (!schema && !schema_error[0])
                (void) snprintf(schema_error, sizeof(schema_error), "cannot read %s", path);
}

static int schema_validate(xmlDocPtr doc, const char *origin, KzError *e)
{
        char err[512] = "";
        xmlRelaxNGValidCtxtPtr v;
        int r;

        (void) pthread_once(&schema_once, schema_load);
        if (!schema)
                return kz_error_set(e, ENOENT, "cannot load the zone configuration schema from %s: %s",
                        kzones_data_dir(), schema_error);
        v = xmlRelaxNGNewValidCtxt(schema);
        if (!v)
                return -ENOMEM;
        xmlRelaxNGSetValidStructuredErrors(v, collect_error, err);
        r = xmlRelaxNGValidateDoc(v, doc);
        xmlRelaxNGFreeValidCtxt(v);
        if (r != 0)
                return kz_error_set(e, EBADMSG, "%s does not match the zone configuration schema: %s", origin,
                        err[0] ? err : "invalid document");
        return 0;
}

static void xml_doc_freep(xmlDocPtr *d)
{
        if (*d)
                xmlFreeDoc(*d);
}

static int load_resource(ZoneResource *r, xmlNodePtr node, unsigned depth, size_t *count, const char *origin,
                KzError *e)
{
        int k;

        for (xmlAttrPtr a = node->properties; a; a = a->next) {
                _cleanup_free_ char *v = (char *) xmlNodeGetContent((xmlNodePtr) a);
                KzError sub = {};

                if (!v)
                        return -ENOMEM;
                k = zone_resource_set(r, (const char *) a->name, v, &sub);
                if (k == -ENOMEM)
                        return k;
                if (k < 0)
                        return kz_error_set(e, EBADMSG, "%s, line %d: %s", origin, node->line, sub.message);
        }
        for (xmlNodePtr ch = node->children; ch; ch = ch->next) {
                _cleanup_(zone_resource_freep) ZoneResource *c = NULL;
                const ResourceType *t;

                if (ch->type != XML_ELEMENT_NODE)
                        continue;
                if (++*count > ZONE_CONFIG_MAX_RESOURCES || depth > 4)
                        return kz_error_set(e, E2BIG, "%s: too many resources.", origin);
                t = resource_type_child(r->type, (const char *) ch->name);
                if (!t)
                        return kz_error_set(e, EBADMSG, "%s, line %d: %s is not a resource of %s.", origin,
                                ch->line, (const char *) ch->name, r->type->name);
                c = zone_resource_new(t);
                if (!c)
                        return -ENOMEM;
                k = load_resource(c, ch, depth + 1, count, origin, e);
                if (k < 0)
                        return k;
                k = zone_resource_attach(r, c);
                if (k < 0)
                        return k;
                TAKE_PTR(c);
        }
        return 0;
}

int zone_config_from_xml(const char *buf, size_t size, const char *origin, unsigned flags, ZoneConfig **ret,
                KzError *e)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(xml_doc_freep) xmlDocPtr doc = NULL;
        xmlParserCtxtPtr ctxt;
        xmlNodePtr root;
        size_t count = 0;
        KzError sub = {};
        int k;

        if (size > ZONE_CONFIG_MAX_BYTES)
                return kz_error_set(e, EFBIG, "%s is larger than %u bytes.", origin, ZONE_CONFIG_MAX_BYTES);
        if (memmem(buf, size, "<!DOCTYPE", 9) || memmem(buf, size, "<!ENTITY", 8))
                return kz_error_set(e, EBADMSG, "%s has a document type or entity declaration; "
                        "zone configurations may not have one.", origin);
        if (memchr(buf, 0, size))
                return kz_error_set(e, EBADMSG, "%s contains a NUL byte.", origin);

        ctxt = xmlNewParserCtxt();
        if (!ctxt)
                return -ENOMEM;
        doc = xmlCtxtReadMemory(ctxt, buf, (int) size, origin, "UTF-8",
                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS |
                        XML_PARSE_NOCDATA);
        if (!doc) {
                xmlErrorPtr err = xmlCtxtGetLastError(ctxt);
                char msg[512] = "";

                collect_error(msg, err);
                xmlFreeParserCtxt(ctxt);
                return kz_error_set(e, EBADMSG, "%s is not well-formed XML: %s", origin, msg[0] ? msg : "parse error");
        }
        xmlFreeParserCtxt(ctxt);

        k = schema_validate(doc, origin, e);
        if (k < 0)
                return k;

        root = xmlDocGetRootElement(doc);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->root = zone_resource_new(zone_type());
        if (!c->root)
                return -ENOMEM;
        k = load_resource(c->root, root, 0, &count, origin, e);
        if (k < 0)
                return k;
        k = zone_config_verify_full(c, flags & ZONE_XML_TEMPLATE, &sub);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return kz_error_set(e, EBADMSG, "%s: %s", origin, sub.message);

        *ret = TAKE_PTR(c);
        return 0;
}

static int save_resource(const ZoneResource *r, xmlNodePtr node)
{
        for (size_t i = 0; i < r->type->n_props; i++)
                if (r->values[i] && !xmlNewProp(node, BAD_CAST r->type->props[i].name, BAD_CAST r->values[i]))
                        return -ENOMEM;
        for (size_t i = 0; i < r->n_children; i++) {
                xmlNodePtr ch = xmlNewChild(node, NULL, BAD_CAST r->children[i]->type->name, NULL);
                int k;

                if (!ch)
                        return -ENOMEM;
                k = save_resource(r->children[i], ch);
                if (k < 0)
                        return k;
        }
        return 0;
}

int zone_config_to_xml(const ZoneConfig *c, char **ret, size_t *ret_size, KzError *e)
{
        _cleanup_(xml_doc_freep) xmlDocPtr doc = NULL;
        xmlNodePtr root;
        xmlChar *out = NULL;
        int n = 0, k;

        doc = xmlNewDoc(BAD_CAST "1.0");
        if (!doc)
                return -ENOMEM;
        root = xmlNewNode(NULL, BAD_CAST "zone");
        if (!root)
                return -ENOMEM;
        xmlDocSetRootElement(doc, root);
        k = save_resource(c->root, root);
        if (k < 0)
                return k;
        k = schema_validate(doc, "the new configuration", e);
        if (k < 0)
                return k;
        xmlDocDumpFormatMemoryEnc(doc, &out, &n, "UTF-8", 1);
        if (!out || n <= 0)
                return -ENOMEM;
        if ((size_t) n > ZONE_CONFIG_MAX_BYTES) {
                xmlFree(out);
                return kz_error_set(e, EFBIG, "the configuration is larger than %u bytes.", ZONE_CONFIG_MAX_BYTES);
        }
        *ret = strndup((const char *) out, (size_t) n);
        xmlFree(out);
        if (!*ret)
                return -ENOMEM;
        *ret_size = (size_t) n;
        return 0;
}
