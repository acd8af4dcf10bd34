/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any bytes as a launch request (first byte even) or a launch result (odd), as the
 * launcher and the restarter read them from a zone's runtime directory: the readers
 * never crash, refuse with a reason, and what they accept is written back and read
 * again to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launch-request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool strv_equal(char **a, char **b)
{
        for (; a && b && *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return (!a || !*a) && (!b || !*b);
}

static void request(const char *buf, size_t size)
{
        LaunchRequest r = {}, back = {};
        _cleanup_free_ char *json = NULL;
        KzError e = {};

        if (launch_request_from_json(buf, size, &r, &e) < 0) {
                if (!e.message[0] || r.boot_args || r.installer.path || r.incoming.migration_id)
                        abort();
                return;
        }
        if (launch_request_to_json(&r, &json) < 0 || launch_request_from_json(json, strlen(json), &back, NULL) < 0)
                abort();
        if (!strv_equal(r.boot_args, back.boot_args) || r.fresh != back.fresh || r.halt != back.halt ||
            !streq_ptr(r.installer.path, back.installer.path) || r.installer.dev != back.installer.dev ||
            r.installer.ino != back.installer.ino || !streq_ptr(r.incoming.migration_id, back.incoming.migration_id) ||
            !streq_ptr(r.incoming.uri, back.incoming.uri))
                abort();
        launch_request_done(&r);
        launch_request_done(&back);
}

static void result(const char *buf, size_t size)
{
        LaunchResult r = {}, back = {};
        _cleanup_free_ char *json = NULL;
        KzError e = {};

        if (launch_result_from_json(buf, size, &r, &e) < 0) {
                if (!e.message[0] || r.reason || r.step)
                        abort();
                return;
        }
        if (!r.reason || launch_result_to_json(&r, &json) < 0 ||
            launch_result_from_json(json, strlen(json), &back, NULL) < 0)
                abort();
        if (!streq(r.reason, back.reason) || !streq_ptr(r.step, back.step) || r.error != back.error ||
            r.unavailable != back.unavailable)
                abort();
        launch_result_done(&r);
        launch_result_done(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        if (data[0] % 2 == 0)
                request((const char *) data + 1, size - 1);
        else
                result((const char *) data + 1, size - 1);
        return 0;
}
