/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zonecfg's live mode (-r): the session edits the running zone's live configuration,
 * which the zone restarter keeps, with the commands of the default mode. What is
 * different is where the configuration comes from and goes to (the ZonecfgLive
 * calls the command gives us), the commit (a reconfiguration of the running zone,
 * -n for a dry run, -q for none of its output) and the commands that make no
 * sense on a running zone (create, delete). The generation the configuration was
 * read at goes with each commit: a live configuration that changed since is not
 * overwritten, and 'reload' starts again from the new one. */
#include "zonecfg-internal.h"

int zc_live_load(Zonecfg *z, ZoneConfig **ret)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *xml = NULL;
        char origin[128];
        uint64_t generation = 0;
        KzError e = {};
        int r;

        r = z->o.live->load(z->o.live->userdata, &xml, &generation);
        if (r < 0)
                return r;
        (void) snprintf(origin, sizeof(origin), "the live configuration of zone '%s'", z->zonename);
        r = zone_config_from_xml(xml, strlen(xml), origin, 0, &c, &e);
        if (r < 0) {
                fprintf(z->o.err, "zonecfg: zone '%s': cannot read the live configuration: %s\n", z->zonename,
                        kz_error_message(&e, r));
                return r;
        }
        if (!streq_ptr(zone_config_name(c), z->zonename)) {
                fprintf(z->o.err, "zonecfg: zone '%s': the zone restarter sent the live configuration of zone "
                        "'%s'.\n", z->zonename, strna(zone_config_name(c)));
                return -EBADMSG;
        }
        c->exists = true;
        z->live_generation = generation;
        *ret = TAKE_PTR(c);
        return 0;
}

/* After a commit the live configuration is what the zone runs now (a partial
 * success included) at a new generation: the session goes on from there. */
static int reread(Zonecfg *z)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        int r;

        r = zc_live_load(z, &c);
        if (r < 0)
                return r;
        zc_scopes_drop(z);
        zone_config_free(z->cfg);
        z->cfg = TAKE_PTR(c);
        z->dirty = false;
        return 0;
}

int zc_live_commit(Zonecfg *z, bool dry_run, bool quiet)
{
        _cleanup_free_ char *xml = NULL;
        size_t size = 0;
        KzError e = {};
        int r;

        r = zone_config_verify(z->cfg, &e);
        if (r < 0)
                return zc_fail_error(z, r, &e);
        r = zone_config_to_xml(z->cfg, &xml, &size, &e);
        if (r < 0)
                return zc_fail_error(z, r, &e);
        r = z->o.live->commit(z->o.live->userdata, xml, z->live_generation, dry_run, quiet);
        if (r == -ESTALE) {
                /* the guide's words (example 4-2); the changes stay until 'reload' */
                if (!quiet)
                        fprintf(z->o.err, "zone '%s': error: the live configuration has changed externally.\n"
                                "Trying to commit changes to externally changed live configuration\n"
                                "Please use reload to start again. Your local changes will be lost.\n",
                                z->zonename);
                return r;
        }
        if (r < 0 || dry_run)
                return r;
        /* committed: what is live now, read back (a failure to read it is said, and the
         * session keeps what it has; a later commit then meets the new generation) */
        z->dirty = false;
        (void) reread(z);
        return 0;
}

int zc_live_refuse(Zonecfg *z, const char *cmd)
{
        return zc_fail(z, "%s is not available in live mode (-r), which edits a running zone's live configuration; "
                "run zonecfg without -r to %s the zone's configuration.", cmd, cmd);
}
