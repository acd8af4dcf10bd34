/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A pool's record (ROOT/run/kzones-pools/POOL/state): what its service last
 * decided, and the huge pages it added to the host's counts. */
#include <ctype.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "pool.h"
#include "zone-store.h"

static const char *const pool_state_table[_POOL_STATE_MAX] = {
        [POOL_STATE_ONLINE] = "online",
        [POOL_STATE_DEGRADED] = "degraded",
        [POOL_STATE_MAINTENANCE] = "maintenance",
        [POOL_STATE_DISABLED] = "disabled",
};

DEFINE_STRING_TABLE(pool_state, PoolState, _POOL_STATE_MAX)

char *pool_path(const char *root, const char *pool, const char *file)
{
        _cleanup_free_ char *rel = NULL;

        if (asprintf(&rel, ZONE_POOL_DIR "/%s%s%s", pool, file ? "/" : "", file ?: "") < 0)
                return NULL;
        return path_join(root, rel);
}

/* ---- the record --------------------------------------------------------------------------- */

void pool_record_done(PoolRecord *r)
{
        free(r->status);
        *r = (PoolRecord) { .state = POOL_STATE_DISABLED };
}

uint64_t pool_record_added(const PoolRecord *r)
{
        uint64_t n = r->added;

        for (size_t i = 0; i < POOL_NODES_MAX; i++)
                n += r->added_node[i];
        return n;
}

/* A page count or size as the record holds it: decimal digits only. strtoull()
 * alone would take "-1" as 2^64-1 pages to give back, and "12abc" as 12. */
static int parse_count(const char *s, char **ret_end, uint64_t *ret)
{
        unsigned long long v;
        char *end;

        if (!isdigit((unsigned char) *s))
                return -EBADMSG;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -EBADMSG;
        if (ret_end)
                *ret_end = end;
        else if (*end)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* -EBADMSG: a number that is not one (negative, too large, trailing bytes) or a
 * node out of range: the pages a pool gives back must be the pages it added. */
int pool_record_parse(const char *text, PoolRecord *ret)
{
        _cleanup_free_ char *buf = strdup(text);
        PoolRecord r = { .state = POOL_STATE_DISABLED };
        char *save = NULL;
        int k = 0;

        if (!buf)
                return -ENOMEM;
        for (char *line = strtok_r(buf, "\n", &save); line && k >= 0; line = strtok_r(NULL, "\n", &save)) {
                char *v = strchr(line, '=');

                if (!v)
                        continue;
                *v++ = 0;
                if (streq(line, "State")) {
                        PoolState s = pool_state_from_string(v);
                        if (s >= 0)
                                r.state = s;
                } else if (streq(line, "Status")) {
                        free(r.status);
                        r.status = strdup(v);
                        if (!r.status)
                                return -ENOMEM;
                } else if (streq(line, "PageSize"))
                        k = parse_count(v, NULL, &r.page_size);
                else if (streq(line, "Added"))
                        k = parse_count(v, NULL, &r.added);
                else if (streq(line, "AddedNodes"))
                        /* "N:pages N:pages" */
                        for (char *p = v; *p && k >= 0;) {
                                uint64_t node;
                                char *end;

                                k = parse_count(p, &end, &node);
                                if (k >= 0 && (*end != ':' || node >= POOL_NODES_MAX))
                                        k = -EBADMSG;
                                if (k >= 0)
                                        k = parse_count(end + 1, &end, &r.added_node[node]);
                                if (k >= 0 && *end && *end != ' ')
                                        k = -EBADMSG;
                                if (k >= 0)
                                        p = end + strspn(end, " ");
                        }
        }
        if (k < 0) {
                pool_record_done(&r);
                return k;
        }
        *ret = r;
        return 0;
}

int pool_record_format(const PoolRecord *r, char **ret)
{
        char nodes[POOL_NODES_MAX * 24] = "";
        size_t k = 0;

        for (size_t i = 0; i < POOL_NODES_MAX; i++)
                if (r->added_node[i])
                        k += (size_t) snprintf(nodes + k, sizeof(nodes) - k, "%s%zu:%" PRIu64, k ? " " : "", i,
                                r->added_node[i]);
        /* the status is one line */
        if (asprintf(ret, "State=%s\nStatus=%s\nPageSize=%" PRIu64 "\nAdded=%" PRIu64 "\nAddedNodes=%s\n",
                    pool_state_to_string(r->state), r->status ?: "", r->page_size, r->added, nodes) < 0)
                return -ENOMEM;
        for (char *p = strstr(*ret, "Status=") + 7; *p && *p != '\n'; p++)
                if (*p == '\r')
                        *p = ' ';
        return 0;
}

int pool_record_read(const char *root, const char *pool, PoolRecord *ret)
{
        _cleanup_free_ char *path = pool_path(root, pool, POOL_RECORD), *buf = NULL;
        size_t size;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_bounded(path, 16 * 1024, &buf, &size);
        if (r < 0)
                return r;
        return pool_record_parse(buf, ret);
}

int pool_record_write(const char *root, const char *pool, const PoolRecord *rec)
{
        _cleanup_free_ char *dir = pool_path(root, pool, NULL), *path = pool_path(root, pool, POOL_RECORD),
                            *text = NULL;
        int r;

        if (!dir || !path)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        r = pool_record_format(rec, &text);
        if (r < 0)
                return r;
        return write_file_atomic(path, text, strlen(text), 0644);
}
