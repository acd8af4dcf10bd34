/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any bytes as a memory reservation pool's record (ROOT/run/kzones-pools/POOL/state):
 * the parser never crashes, and a record it accepts writes back and reads back the
 * same, so the pages a pool gives back are the pages it recorded. */
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *text = NULL, *again = NULL;
        PoolRecord r = {}, back = {};

        if (size > 16384)
                return 0;
        text = strndup((const char *) data, size);
        if (!text)
                return 0;
        if (pool_record_parse(text, &r) < 0)
                return 0;
        if (pool_record_format(&r, &again) < 0 || pool_record_parse(again, &back) < 0)
                abort();
        if (back.state != r.state || back.page_size != r.page_size || back.added != r.added ||
            memcmp(back.added_node, r.added_node, sizeof(r.added_node)) != 0 || pool_record_added(&back) != pool_record_added(&r))
                abort();
        pool_record_done(&r);
        pool_record_done(&back);
        return 0;
}
