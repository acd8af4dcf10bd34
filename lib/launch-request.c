/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch-request.h"
#include "zone-store.h"

#define BOOT_ARGS_COUNT_MAX 1024u
#define STRING_MAX 8192u
#define JSON_DEPTH_MAX 4

void launch_request_done(LaunchRequest *r)
{
        if (!r)
                return;
        strv_freep(&r->boot_args);
        free(r->installer.path);
        free(r->incoming.migration_id);
        free(r->incoming.uri);
        free(r->handover);
        *r = (LaunchRequest) {};
}

void launch_result_done(LaunchResult *r)
{
        if (!r)
                return;
        free(r->step);
        free(r->reason);
        *r = (LaunchResult) {};
}

static void json_putp(json_object **j)
{
        json_object_put(*j);
}

#define _cleanup_json_ _cleanup_(json_putp)

/* ---- writing ---------------------------------------------------------------------------- */

static int add(json_object *o, const char *key, json_object *v)
{
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_string(json_object *o, const char *key, const char *s)
{
        return s ? add(o, key, json_object_new_string(s)) : 0;
}

static int to_string(json_object *j, char **ret)
{
        const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *copy;

        if (!s)
                return -ENOMEM;
        if (asprintf(&copy, "%s\n", s) < 0)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

int launch_request_to_json(const LaunchRequest *r, char **ret)
{
        _cleanup_json_ json_object *j = json_object_new_object();
        int k;

        if (!j)
                return -ENOMEM;
        k = add(j, "version", json_object_new_int(LAUNCH_VERSION));
        if (k >= 0 && r->boot_args) {
                json_object *a = json_object_new_array();

                k = add(j, "boot-arguments", a);
                for (char **s = r->boot_args; k >= 0 && *s; s++)
                        k = json_object_array_add(a, json_object_new_string(*s)) < 0 ? -ENOMEM : 0;
        }
        if (k >= 0)
                k = add(j, "fresh", json_object_new_boolean(r->fresh));
        if (k >= 0)
                k = add(j, "halt", json_object_new_boolean(r->halt));
        if (k >= 0 && r->installer.path) {
                json_object *i = json_object_new_object();

                k = add(j, "installer", i);
                if (k >= 0)
                        k = add_string(i, "path", r->installer.path);
                if (k >= 0)
                        k = add(i, "device", json_object_new_uint64(r->installer.dev));
                if (k >= 0)
                        k = add(i, "inode", json_object_new_uint64(r->installer.ino));
        }
        if (k >= 0 && r->incoming.migration_id) {
                json_object *i = json_object_new_object();

                k = add(j, "incoming", i);
                if (k >= 0)
                        k = add_string(i, "migration-id", r->incoming.migration_id);
                if (k >= 0)
                        k = add_string(i, "uri", r->incoming.uri);
                if (k >= 0)
                        k = add(i, "channels", json_object_new_uint64(r->incoming.channels ?: 1));
        }
        if (k >= 0)
                k = add_string(j, "handover", r->handover);
        if (k < 0)
                return k;
        return to_string(j, ret);
}

int launch_result_to_json(const LaunchResult *r, char **ret)
{
        _cleanup_json_ json_object *j = json_object_new_object();
        int k;

        if (!j)
                return -ENOMEM;
        k = add(j, "version", json_object_new_int(LAUNCH_VERSION));
        if (k >= 0)
                k = add_string(j, "step", r->step);
        if (k >= 0)
                k = add(j, "error", json_object_new_int(r->error));
        if (k >= 0)
                k = add_string(j, "reason", r->reason);
        if (k >= 0)
                k = add(j, "unavailable", json_object_new_boolean(r->unavailable));
        if (k < 0)
                return k;
        return to_string(j, ret);
}

/* ---- reading: every member checked, anything else refused ------------------------------------ */

static int parse(const char *buf, size_t size, const char *what, json_object **ret, KzError *e)
{
        json_tokener *tok;
        json_object *j;
        size_t end;

        if (size > LAUNCH_FILE_MAX)
                return kz_error_set(e, EFBIG, "the %s is larger than %u bytes.", what, LAUNCH_FILE_MAX);
        if (memchr(buf, 0, size))
                return kz_error_set(e, EBADMSG, "the %s holds a NUL byte.", what);
        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        j = json_tokener_parse_ex(tok, buf, (int) size);
        end = json_tokener_get_parse_end(tok);
        if (!j || json_tokener_get_error(tok) != json_tokener_success) {
                const char *why = json_tokener_error_desc(json_tokener_get_error(tok));

                json_tokener_free(tok);
                json_object_put(j);
                return kz_error_set(e, EBADMSG, "the %s is not JSON: %s.", what,
                        size == 0 ? "it is empty" : why);
        }
        json_tokener_free(tok);
        for (; end < size; end++)
                if (!strchr(" \t\r\n", buf[end])) {
                        json_object_put(j);
                        return kz_error_set(e, EBADMSG, "the %s goes on after its JSON object.", what);
                }
        if (!json_object_is_type(j, json_type_object)) {
                json_object_put(j);
                return kz_error_set(e, EBADMSG, "the %s is not a JSON object.", what);
        }
        *ret = j;
        return 0;
}

static int get_string(json_object *v, const char *what, const char *key, size_t max, char **ret, KzError *e)
{
        const char *s;
        size_t len;

        if (!json_object_is_type(v, json_type_string))
                return kz_error_set(e, EBADMSG, "the %s's \"%s\" is not a string.", what, key);
        s = json_object_get_string(v);
        len = (size_t) json_object_get_string_len(v);
        if (len != strlen(s))
                return kz_error_set(e, EBADMSG, "the %s's \"%s\" holds a NUL character.", what, key);
        if (len > max)
                return kz_error_set(e, EBADMSG, "the %s's \"%s\" is longer than %zu bytes.", what, key, max);
        free(*ret);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int get_bool(json_object *v, const char *what, const char *key, bool *ret, KzError *e)
{
        if (!json_object_is_type(v, json_type_boolean))
                return kz_error_set(e, EBADMSG, "the %s's \"%s\" is not true or false.", what, key);
        *ret = json_object_get_boolean(v);
        return 0;
}

static int get_uint(json_object *v, const char *what, const char *key, uint64_t max, uint64_t *ret, KzError *e)
{
        uint64_t u;

        if (!json_object_is_type(v, json_type_int))
                return kz_error_set(e, EBADMSG, "the %s's \"%s\" is not an integer.", what, key);
        /* a negative number reads as 0 here, and as itself below */
        u = json_object_get_uint64(v);
        if ((u == 0 && json_object_get_int64(v) != 0) || u > max)
                return kz_error_set(e, EBADMSG, "the %s's \"%s\" is out of range.", what, key);
        *ret = u;
        return 0;
}

static int check_version(json_object *j, const char *what, KzError *e)
{
        json_object *v;
        uint64_t version;
        int r;

        if (!json_object_object_get_ex(j, "version", &v))
                return kz_error_set(e, EBADMSG, "the %s has no version.", what);
        r = get_uint(v, what, "version", UINT32_MAX, &version, e);
        if (r < 0)
                return r;
        if (version != LAUNCH_VERSION)
                return kz_error_set(e, EPROTONOSUPPORT, "the %s is of version %" PRIu64 "; this launcher reads "
                        "version %d.", what, version, LAUNCH_VERSION);
        return 0;
}

/* A JSON object of our version, whose members but "version" the caller reads. */
static int parse_record(const char *buf, size_t size, const char *what, json_object **ret, KzError *e)
{
        json_object *j = NULL;
        int r;

        r = parse(buf, size, what, &j, e);
        if (r >= 0)
                r = check_version(j, what, e);
        if (r < 0) {
                json_object_put(j);
                return r;
        }
        json_object_object_del(j, "version");
        *ret = j;
        return 0;
}

/* /proc/PID/fd/N, and nothing else */
static bool installer_path_is_valid(const char *p)
{
        unsigned pid, fd;
        int n = 0;

        return strlen(p) < 64 && sscanf(p, "/proc/%u/fd/%u%n", &pid, &fd, &n) == 2 && (size_t) n == strlen(p) &&
                strspn(p + 6, "0123456789/fd") == strlen(p + 6);
}

static int parse_boot_args(json_object *v, const char *what, char ***ret, KzError *e)
{
        _cleanup_strv_free_ char **l = NULL;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return kz_error_set(e, EBADMSG, "the %s's \"boot-arguments\" is not an array.", what);
        n = json_object_array_length(v);
        if (n > BOOT_ARGS_COUNT_MAX)
                return kz_error_set(e, EBADMSG, "the %s has more than %u boot arguments.", what, BOOT_ARGS_COUNT_MAX);
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int r = get_string(json_object_array_get_idx(v, i), what, "boot-arguments", STRING_MAX, &l[i], e);

                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int parse_installer(json_object *v, const char *what, LaunchInstaller *ret, KzError *e)
{
        bool have_dev = false, have_ino = false;
        int r = 0;

        if (!json_object_is_type(v, json_type_object))
                return kz_error_set(e, EBADMSG, "the %s's \"installer\" is not an object.", what);
        json_object_object_foreach(v, key, m) {
                if (streq(key, "path"))
                        r = get_string(m, what, "installer path", 64, &ret->path, e);
                else if (streq(key, "device")) {
                        r = get_uint(m, what, "installer device", UINT64_MAX, &ret->dev, e);
                        have_dev = true;
                } else if (streq(key, "inode")) {
                        r = get_uint(m, what, "installer inode", UINT64_MAX, &ret->ino, e);
                        have_ino = true;
                } else
                        r = kz_error_set(e, EBADMSG, "the %s's installer has an unknown member \"%s\".", what, key);
                if (r < 0)
                        return r;
        }
        if (!ret->path || !have_dev || !have_ino)
                return kz_error_set(e, EBADMSG, "the %s's installer lacks its path, device or inode.", what);
        if (!installer_path_is_valid(ret->path))
                return kz_error_set(e, EBADMSG, "the %s's installer is not a descriptor in /proc.", what);
        return 0;
}

static int parse_incoming(json_object *v, const char *what, LaunchIncoming *ret, KzError *e)
{
        int r = 0;

        if (!json_object_is_type(v, json_type_object))
                return kz_error_set(e, EBADMSG, "the %s's \"incoming\" is not an object.", what);
        json_object_object_foreach(v, key, m) {
                if (streq(key, "migration-id"))
                        r = get_string(m, what, "migration-id", 128, &ret->migration_id, e);
                else if (streq(key, "uri"))
                        r = get_string(m, what, "uri", 4096, &ret->uri, e);
                else if (streq(key, "channels")) {
                        uint64_t n;

                        r = get_uint(m, what, "channels", LAUNCH_INCOMING_CHANNELS_MAX, &n, e);
                        if (r >= 0 && n == 0)
                                r = kz_error_set(e, EBADMSG, "the %s's incoming migration has no channel.", what);
                        ret->channels = (uint32_t) n;
                } else
                        r = kz_error_set(e, EBADMSG, "the %s's incoming migration has an unknown member \"%s\".",
                                what, key);
                if (r < 0)
                        return r;
        }
        if (isempty(ret->migration_id))
                return kz_error_set(e, EBADMSG, "the %s's incoming migration has no id.", what);
        if (ret->channels == 0)
                ret->channels = 1;
        return 0;
}

int launch_request_from_json(const char *buf, size_t size, LaunchRequest *ret, KzError *e)
{
        static const char what[] = "launch request";
        _cleanup_json_ json_object *j = NULL;
        LaunchRequest req = {};
        int r;

        r = parse_record(buf, size, what, &j, e);
        if (r < 0)
                return r;
        json_object_object_foreach(j, key, v) {
                if (streq(key, "boot-arguments")) {
                        strv_freep(&req.boot_args);
                        r = parse_boot_args(v, what, &req.boot_args, e);
                } else if (streq(key, "fresh"))
                        r = get_bool(v, what, key, &req.fresh, e);
                else if (streq(key, "halt"))
                        r = get_bool(v, what, key, &req.halt, e);
                else if (streq(key, "installer") && !req.installer.path)
                        r = parse_installer(v, what, &req.installer, e);
                else if (streq(key, "incoming") && !req.incoming.migration_id)
                        r = parse_incoming(v, what, &req.incoming, e);
                else if (streq(key, "handover") && !req.handover) {
                        r = get_string(v, what, key, 8, &req.handover, e);
                        if (r >= 0 && (strlen(req.handover) != 8 ||
                                       strspn(req.handover, "0123456789abcdef") != 8))
                                r = kz_error_set(e, EBADMSG, "the %s's handover is not a hostid.", what);
                } else
                        r = kz_error_set(e, EBADMSG, "the %s has an unknown or repeated member \"%s\".", what, key);
                if (r < 0) {
                        launch_request_done(&req);
                        return r;
                }
        }
        *ret = req;
        return 0;
}

int launch_result_from_json(const char *buf, size_t size, LaunchResult *ret, KzError *e)
{
        static const char what[] = "launch result";
        _cleanup_json_ json_object *j = NULL;
        LaunchResult res = {};
        int r;

        r = parse_record(buf, size, what, &j, e);
        if (r < 0)
                return r;
        json_object_object_foreach(j, key, v) {
                uint64_t error;

                if (streq(key, "step"))
                        r = get_string(v, what, key, 16, &res.step, e);
                else if (streq(key, "error")) {
                        r = get_uint(v, what, key, 4095, &error, e);
                        res.error = (int) error;
                } else if (streq(key, "reason"))
                        r = get_string(v, what, key, STRING_MAX, &res.reason, e);
                else if (streq(key, "unavailable"))
                        r = get_bool(v, what, key, &res.unavailable, e);
                else
                        r = kz_error_set(e, EBADMSG, "the %s has an unknown member \"%s\".", what, key);
                if (r < 0) {
                        launch_result_done(&res);
                        return r;
                }
        }
        if (isempty(res.reason)) {
                launch_result_done(&res);
                return kz_error_set(e, EBADMSG, "the %s gives no reason.", what);
        }
        *ret = res;
        return 0;
}

/* ---- files -------------------------------------------------------------------------------- */

static int write_json(const char *dir, const char *file, char *json)
{
        _cleanup_free_ char *path = NULL, *buf = json;

        if (!buf)
                return -ENOMEM;
        if (strlen(buf) > LAUNCH_FILE_MAX)
                return -EFBIG;
        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        return write_file_atomic(path, buf, strlen(buf), 0600);
}

int launch_request_write(const char *dir, const LaunchRequest *r)
{
        char *json = NULL;
        int k = launch_request_to_json(r, &json);

        return k < 0 ? k : write_json(dir, LAUNCH_REQUEST_FILE, json);
}

int launch_result_write(const char *dir, const LaunchResult *r)
{
        char *json = NULL;
        int k = launch_result_to_json(r, &json);

        return k < 0 ? k : write_json(dir, LAUNCH_RESULT_FILE, json);
}

/* Reads dir/file, or with take first renames it to dir/file.taken (atomic: a file
 * written meanwhile is the next one, never lost or read twice) and removes that. */
static int read_json(const char *dir, const char *file, bool take, const char *what, char **ret, size_t *ret_size,
                KzError *e)
{
        _cleanup_free_ char *path = NULL, *taken = NULL;
        int r;

        if (asprintf(&path, "%s/%s", dir, file) < 0 || asprintf(&taken, "%s/%s.taken", dir, file) < 0)
                return -ENOMEM;
        if (take) {
                if (rename(path, taken) < 0)
                        return errno == ENOENT ? -ENOENT : kz_error_set(e, errno, "cannot take the %s %s: %m.", what,
                                                                   path);
                free(path);
                path = TAKE_PTR(taken);
        }
        r = read_file_bounded(path, LAUNCH_FILE_MAX, ret, ret_size);
        if (take && unlink(path) < 0 && errno == EISDIR)
                (void) rmdir(path);
        if (r == -ENOENT && !take)
                return r;
        if (r == -EFBIG)
                return kz_error_set(e, EFBIG, "the %s %s is larger than %u bytes.", what, path, LAUNCH_FILE_MAX);
        if (r < 0)
                return kz_error_set(e, r, "cannot read the %s %s: %s.", what, path,
                        r == -EBADFD ? "it is not a regular file" : strerror(-r));
        return 0;
}

static int request_load(const char *dir, bool take, LaunchRequest *ret, KzError *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        int r = read_json(dir, LAUNCH_REQUEST_FILE, take, "launch request", &buf, &size, e);

        return r < 0 ? r : launch_request_from_json(buf, size, ret, e);
}

static int result_load(const char *dir, bool take, LaunchResult *ret, KzError *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        int r = read_json(dir, LAUNCH_RESULT_FILE, take, "launch result", &buf, &size, e);

        return r < 0 ? r : launch_result_from_json(buf, size, ret, e);
}

int launch_request_read(const char *dir, LaunchRequest *ret, KzError *e)
{
        return request_load(dir, false, ret, e);
}

int launch_request_take(const char *dir, LaunchRequest *ret, KzError *e)
{
        return request_load(dir, true, ret, e);
}

int launch_result_read(const char *dir, LaunchResult *ret, KzError *e)
{
        return result_load(dir, false, ret, e);
}

int launch_result_take(const char *dir, LaunchResult *ret, KzError *e)
{
        return result_load(dir, true, ret, e);
}
