/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-memory-reserve: what memory-reserve@POOL.service runs. See memory-reserve(8).
 *
 *   kzones-memory-reserve start POOL   ExecStart=: reserves the pool as its unit's drop-ins
 *                                      say (or adopts the pool a previous run left), says
 *                                      READY=1 and waits; on SIGTERM (stop, disable --now)
 *                                      releases it, unless zones use it.
 *   kzones-memory-reserve reload POOL  ExecReload=: resizes the pool to its configuration
 *                                      and returns when that is done or has failed, so
 *                                      'systemctl reload' waits for it.
 *   kzones-memory-reserve release-unused POOL
 *                                      ExecStopPost= of the zones that use the pool: if
 *                                      the pool's unit was stopped while zones used it,
 *                                      releases it once the last of them has stopped.
 *
 * The reservation is the kernel's (hugetlbfs mounts with min_size), not this process's:
 * a crash or a kill leaves it in place, and the next start adopts it. Every change to a
 * pool happens under the pools' lock, in whichever of these processes systemd runs. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "daemon-util.h"
#include "log.h"
#include "pool.h"
#include "size.h"

/* exit codes: systemd restarts on the first, not on the others (RestartPreventExitStatus=) */
#define EXIT_SOFTWARE 70    /* something went wrong here (out of memory, the lock) */
#define EXIT_UNAVAILABLE 69 /* the reservation cannot be made */
#define EXIT_CONFIG 78      /* the configuration is invalid */

static const char *arg_root = "";
static const char *arg_pool;

static void record_and_announce(PoolRecord *rec, PoolState state, const char *status)
{
        int r;

        rec->state = state;
        free(rec->status);
        rec->status = strdup(status);
        r = pool_record_write(arg_root, arg_pool, rec);
        if (r < 0)
                log_warning("cannot write the record of pool '%s': %s", arg_pool, strerror(-r));
        (void) sd_notifyf(false, "STATUS=%s", status);
}

/* Brings the pool to its configuration. Returns 0 when it is as configured, 1 when it
 * is kept as it was (degraded), or an exit code (EXIT_*) when there is no pool. Logs the
 * one line that says what happened. */
static int keep_pool(void)
{
        _cleanup_close_ int lock = -EBADF;
        _cleanup_(pool_settings_done) PoolSettings settings = {};
        _cleanup_(pool_record_done) PoolRecord rec = { .state = POOL_STATE_DISABLED };
        _cleanup_free_ char *status = NULL;
        PoolExtent *l = NULL;
        size_t n = 0;
        uint64_t sizes[HUGEPAGE_SIZES_MAX], total = 0, page_size = 0;
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        PoolConfig cfg;
        KzError e = {};
        int r;

        lock = pool_lock(arg_root);
        if (lock < 0) {
                log_error("Cannot lock the memory reservation pools: %s.", strerror(-lock));
                return EXIT_SOFTWARE;
        }
        (void) pool_record_read(arg_root, arg_pool, &rec);
        r = pool_settings_load(arg_root, arg_pool, &settings);
        if (r < 0)
                (void) kz_error_set(&e, r, "Cannot read the configuration of memory-reserve@%s.service: %s.",
                        arg_pool, strerror(-r));
        else
                r = pool_config_parse(&settings, sizes, hugepage_sizes(sizes), &cfg, &e);
        if (r >= 0)
                r = pool_apply(arg_root, arg_pool, &cfg, &rec, &e);

        if (pool_extents(arg_root, arg_pool, &l, &n) >= 0)
                for (size_t i = 0; i < n; i++) {
                        total += l[i].size;
                        page_size = l[i].page_size;
                }
        pool_extents_free(l, n);

        if (r >= 0) {
                if (asprintf(&status, "Reserved %s in %s pages.", size_format(total, a, sizeof(a)),
                            size_format(page_size, b, sizeof(b))) < 0)
                        return EXIT_SOFTWARE;
                log_info("Memory reservation pool '%s': %s", arg_pool, status);
                record_and_announce(&rec, POOL_STATE_ONLINE, status);
                return 0;
        }
        if (total > 0) {
                /* a pool is there: keep it, and say why it is not what the configuration asks */
                if (asprintf(&status, "Degraded: %s Keeping %s in %s pages.", kz_error_message(&e, r),
                            size_format(total, a, sizeof(a)), size_format(page_size, b, sizeof(b))) < 0)
                        return EXIT_SOFTWARE;
                log_error("Memory reservation pool '%s': %s", arg_pool, status);
                record_and_announce(&rec, POOL_STATE_DEGRADED, status);
                return 1;
        }
        /* the one line that says why the unit failed */
        log_error("%s", kz_error_message(&e, r));
        record_and_announce(&rec, POOL_STATE_MAINTENANCE, kz_error_message(&e, r));
        return r == -EINVAL || r == -EOPNOTSUPP ? EXIT_CONFIG : EXIT_UNAVAILABLE;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        _cleanup_close_ int lock = -EBADF;
        _cleanup_(pool_record_done) PoolRecord rec = { .state = POOL_STATE_DISABLED };
        KzError e = {};
        int r;

        (void) sd_notify(false, "STOPPING=1");
        lock = pool_lock(arg_root);
        if (lock < 0) {
                log_error("Cannot lock the memory reservation pools: %s; pool '%s' is kept.", strerror(-lock),
                        arg_pool);
                return sd_event_exit(sd_event_source_get_event(s), EXIT_FAILURE);
        }
        (void) pool_record_read(arg_root, arg_pool, &rec);
        r = pool_release(arg_root, arg_pool, &rec, &e);
        if (r < 0) {
                /* Solaris's "maintenance": the unit fails, the zones keep their memory */
                log_error("%s", kz_error_message(&e, r));
                record_and_announce(&rec, POOL_STATE_MAINTENANCE, kz_error_message(&e, r));
                return sd_event_exit(sd_event_source_get_event(s), EXIT_FAILURE);
        }
        log_info("Memory reservation pool '%s' released.", arg_pool);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int release_unused(void)
{
        _cleanup_close_ int lock = -EBADF;
        _cleanup_(pool_record_done) PoolRecord rec = { .state = POOL_STATE_DISABLED };
        PoolExtent *l = NULL;
        size_t n = 0;
        KzError e = {};
        int r;

        /* A zone's ExecStopPost= runs in the zone's mount namespace, even with "+": the
         * pool's mounts are the host's, PID 1's. */
        if (isempty(arg_root)) {
                _cleanup_close_ int ns = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);

                if (ns < 0 || setns(ns, CLONE_NEWNS) < 0) {
                        log_error("Memory reservation pool '%s': cannot enter the host's mount namespace: %m",
                                arg_pool);
                        return EXIT_FAILURE;
                }
        }
        lock = pool_lock(arg_root);
        if (lock < 0)
                return EXIT_SOFTWARE;
        /* only a pool that is kept for its zones after its unit stopped (a running unit's
         * record says online or degraded; a failed reservation leaves no mounts) */
        if (pool_record_read(arg_root, arg_pool, &rec) < 0 || rec.state != POOL_STATE_MAINTENANCE)
                return 0;
        if (pool_extents(arg_root, arg_pool, &l, &n) < 0 || n == 0) {
                pool_extents_free(l, n);
                return 0;
        }
        pool_extents_free(l, n);
        r = pool_release(arg_root, arg_pool, &rec, &e);
        if (r == -EBUSY)
                return 0; /* other zones still use it */
        if (r < 0) {
                log_error("Memory reservation pool '%s' could not be released: %s", arg_pool, kz_error_message(&e, r));
                return EXIT_FAILURE;
        }
        log_info("Memory reservation pool '%s' released: its unit was stopped while zones used it, and the last of "
                "them has stopped.", arg_pool);
        return 0;
}

static int run_start(void)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        int r;

        r = daemon_event_new(on_terminate, &event);
        if (r < 0)
                return r;
        /* reserving is done before the loop runs: nothing else is waiting on this process */
        r = keep_pool();
        if (r > 1)
                return r;
        (void) sd_notify(false, "READY=1");
        return sd_event_loop(event);
}

int main(int argc, char *argv[])
{
        int r;

        if (getenv("KZONES_ROOT"))
                arg_root = getenv("KZONES_ROOT");
        if (argc != 3 || !(streq(argv[1], "start") || streq(argv[1], "reload") || streq(argv[1], "release-unused"))) {
                fprintf(stderr, "usage: kzones-memory-reserve start|reload|release-unused POOL "
                                "(see memory-reserve(8))\n");
                return 2;
        }
        arg_pool = argv[2];
        if (!pool_name_is_valid(arg_pool)) {
                log_error("'%s' is not a valid memory reservation pool name: use letters, digits, '-', '_' and '.'.",
                        arg_pool);
                return EXIT_CONFIG;
        }
        if (streq(argv[1], "reload"))
                return keep_pool() == 0 ? 0 : EXIT_FAILURE;
        if (streq(argv[1], "release-unused"))
                return release_unused();
        r = run_start();
        if (r < 0) {
                log_error("Memory reservation pool '%s': %s", arg_pool, strerror(-r));
                return EXIT_SOFTWARE;
        }
        return r;
}
