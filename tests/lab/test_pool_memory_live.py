#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live memory resize of a zone whose memory comes from a memory reservation pool
(issue 17, item 3), on the Linux test guest (kzlinux): a 512M pool of 2M pages feeds
a 256M zone (host-compatible=memlzs); `zonecfg -r` growing capped-memory:physical to
384M grows the guest's MemTotal by 128M and takes 128M from the pool, which mrpstat
counts as the zone's; with memlzs=strict, 768M (512M more than the booted 256M, with
256M left in the pool) fails non-zero and changes neither the guest, the live
configuration nor the pool; without it, 1G gives the guest what the pool has, with a
warning; shrinking back to 256M gives every page back to the pool. Before any
resize, a suspend gives the zone's pages back to the pool and the resume (the same
command line a migration's destination builds) makes the region again from it.

One host, one zone, the cases in order on the same running guest. Nothing stays
reserved on the machine afterwards, even when a test fails: the class halts the
zone and disables the pool, `lab down` puts the counts back, and the class checks
the machine's huge page counts against what they were before.  Figures are printed
as 'figure:' lines."""

import os
import subprocess
import sys
import time
import unittest

import labtest

ZONE = 'kzp'
POOL = 'lzr'
M = 1 << 20
PAGE = 2 * M
KiB_PER_M = 1024    # the heartbeat's mem is in KiB
DROPIN = f'/etc/systemd/system/memory-reserve@{POOL}.service.d/50-pool.conf'
IMAGE = f'/srv/shared/{ZONE}.img'
BOOT_TIMEOUT = int(os.environ.get('KZ_LINUX_BOOT_TIMEOUT', '900'))
STEP_TIMEOUT = int(os.environ.get('KZ_LIVE_STEP_TIMEOUT', '120'))


def figure(text):
    print(f'figure: {text}', file=sys.stderr, flush=True)


class PoolMemoryLive(labtest.LabTestCase, labtest.LinuxGuestHelpers):
    hosts = 1
    boot_id = None

    @classmethod
    def setUpClass(cls):
        reason = labtest.linux_guest_unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        cls.machine_before = labtest.hugepage_counts()
        super().setUpClass()

        def run(*cmd, timeout=300):
            labtest.lab('exec', 'host1', *cmd, check=True, timeout=timeout, stdin=subprocess.DEVNULL)
        try:
            labtest.use_accelerator('host1', labtest.linux_guest_accel())
            run('sh', '-c', f'mkdir -p "$(dirname {DROPIN})" && '
                f"printf '[X-Kzones]\\nSize=512M\\nPageSizePolicy=fixed\\nPageSize=2M\\n' > {DROPIN} && "
                'systemctl daemon-reload')
            # SYSkz-minimal: host-compatible=memlzs (memory can change live)
            run('zonecfg', '-z', ZONE, 'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                f'select capped-memory; clear pagesize-policy; set memory-reserve={POOL}; end; '
                f'add suspend; set path={IMAGE}; end; ' + labtest.linux_guest_boot(interval=200))
            run('zoneadm', '-z', ZONE, 'install')
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        failed = []
        try:
            # give back what this test reserved with its own code first, then take the lab down
            cls.halt_zones(('host1', ZONE))
            labtest.lab('exec', 'host1', 'systemctl', 'disable', '--now', f'memory-reserve@{POOL}.service',
                        timeout=120, stdin=subprocess.DEVNULL)
            labtest.lab('exec', 'host1', 'rm', '-f', DROPIN, IMAGE, IMAGE + '.partial', timeout=60,
                        stdin=subprocess.DEVNULL)
        finally:
            try:
                super().tearDownClass()
            except AssertionError as e:
                failed.append(str(e))
        now = labtest.hugepage_counts()
        left = {k: (v, now.get(k)) for k, v in cls.machine_before.items() if now.get(k) != v}
        if left:
            failed.append(f'huge pages left reserved on the machine (before, after): {left}')
        if failed:
            raise AssertionError('\n'.join(failed))

    # ------------------------------------------------------------ helpers

    def mrpstat(self):
        """TOTAL, USED, FREE and {zone: bytes} of `mrpstat -p POOL`."""
        f = self.exec('host1', 'mrpstat', '-p', POOL).stdout.strip().split(':')
        zones = dict(z.split('=') for z in f[6].split(',') if z)
        return int(f[1]), int(f[2]), int(f[3]), {k: int(v) for k, v in zones.items()}

    def extent_free(self):
        """The free bytes of the pool's hugetlbfs mount, as the kernel counts them (statfs)."""
        out = self.exec('host1', 'stat', '-f', '-c', '%a %S', f'/run/kzones-pools/{POOL}/0').stdout.split()
        return int(out[0]) * int(out[1])

    def cfg_live(self, cmds, check=True):
        return self.exec('host1', 'zonecfg', '-z', ZONE, '-r', cmds, check=check, timeout=300)

    def live_export(self):
        return self.exec('host1', 'zonecfg', '-z', ZONE, '-r', 'export').stdout

    def now(self):
        beats = [b for b in self.linux_beats('host1', ZONE) if b.boot == type(self).boot_id]
        self.assertTrue(beats, 'no heartbeat of this boot')
        return beats[-1]

    def shows(self, cond, msg):
        return self.wait_linux('host1', ZONE, cond, boot=type(self).boot_id, after=self.now().n,
                               timeout=STEP_TIMEOUT, msg=msg)

    def steady(self, beats=5):
        n = self.now().n
        return self.wait_linux('host1', ZONE, boot=type(self).boot_id, after=n + beats - 1, timeout=STEP_TIMEOUT)

    def resize(self, size, check=True):
        t0 = time.monotonic()
        r = self.cfg_live(f'select capped-memory; set physical={size}; end', check=check)
        return r, time.monotonic() - t0

    # ------------------------------------------------------------ the cases, in order

    def test_1_boots_from_the_pool_with_nothing_of_the_region_taken(self):
        self.exec('host1', 'systemctl', 'enable', '--now', f'memory-reserve@{POOL}.service', timeout=300)
        self.assertEqual(self.mrpstat(), (512 * M, 0, 512 * M, {}))
        t0 = time.monotonic()
        self.exec('host1', 'zoneadm', '-z', ZONE, 'boot', timeout=300)
        first = self.wait_linux('host1', ZONE, timeout=BOOT_TIMEOUT, msg=f'a first heartbeat of {ZONE}')
        type(self).boot_id = first.boot
        figure(f'first heartbeat {time.monotonic() - t0:.1f} s after zoneadm boot; guest MemTotal '
               f'{first.mem} KiB; pool {self.mrpstat()}')
        self.assertLessEqual(first.mem, 256 * KiB_PER_M)
        # the RAM is the pool's; the region (768M) is a file beside it, of which nothing is taken
        self.assertEqual(self.mrpstat(), (512 * M, 256 * M, 256 * M, {ZONE: 256 * M}))
        self.assertEqual(self.extent_free(), 256 * M)
        pid = self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', f'zone@{ZONE}').stdout.strip()
        fds = self.exec('host1', 'sh', '-c', f'ls -l /proc/{pid}/fd/').stdout
        self.assertIn(f'/run/kzones-pools/{POOL}/0/{ZONE}@vmem (deleted)', fds)
        self.assertIn('virtio-mem-pci,id=vmem0', self.exec('host1', 'cat', f'/proc/{pid}/cmdline').stdout)

    def test_2_suspend_and_resume_make_the_region_again_from_the_pool(self):
        # what a migration's destination does too: the same command line, the region from its pool
        last = self.steady()
        t0 = time.monotonic()
        self.exec('host1', 'zoneadm', '-z', ZONE, 'suspend', timeout=300)
        suspended = time.monotonic() - t0
        self.assertEqual(self.mrpstat(), (512 * M, 0, 512 * M, {}), 'the suspended zone kept pages of the pool')
        self.exec('host1', 'zoneadm', '-z', ZONE, 'boot', timeout=300)
        b = self.wait_linux('host1', ZONE, boot=type(self).boot_id, after=last.n, timeout=BOOT_TIMEOUT,
                            msg='a heartbeat of the resumed guest')
        figure(f'suspend {suspended:.1f} s, resume {time.monotonic() - t0 - suspended:.1f} s; '
               f'heartbeat {last.n} -> {b.n}, same boot; pool {self.mrpstat()}')
        self.assertEqual(b.mem, last.mem)
        self.assertEqual(self.mrpstat(), (512 * M, 256 * M, 256 * M, {ZONE: 256 * M}))
        pid = self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', f'zone@{ZONE}').stdout.strip()
        self.assertIn(f'{ZONE}@vmem (deleted)', self.exec('host1', 'sh', '-c', f'ls -l /proc/{pid}/fd/').stdout)

    def test_3_grows_from_the_pool(self):
        before = self.steady().mem
        r, secs = self.resize('384M')
        self.assertIn(f"zone '{ZONE}': Checking: Modifying capped-memory physical=384M", r.stdout + r.stderr)
        b = self.shows(lambda b: b.mem >= before + 120 * KiB_PER_M, 'MemTotal grown by 128M in the guest')
        pool = self.mrpstat()
        figure(f'grow 256M -> 384M: {secs:.1f} s; guest MemTotal {before} -> {b.mem} KiB; pool (total, used, free, '
               f'zones) {pool}; extent free {self.extent_free() // M}M')
        self.assertLessEqual(b.mem, 384 * KiB_PER_M)
        self.assertEqual(pool, (512 * M, 384 * M, 128 * M, {ZONE: 384 * M}))
        self.assertEqual(self.extent_free(), 128 * M)
        self.assertIn('physical: 384M', self.cfg_live('info capped-memory').stdout)

    def test_4_strict_beyond_the_pool_fails_and_changes_nothing(self):
        self.cfg_live('select capped-memory; set memlzs=strict; end')
        before, live, pool = self.steady(), self.live_export(), self.mrpstat()
        r, _ = self.resize('768M', check=False)
        out = r.stdout + r.stderr
        figure(f'strict 384M -> 768M with 128M free: exit {r.returncode}: {out.strip()!r}')
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn(f"Not enough free memory in memory reservation pool '{POOL}'", out)
        self.assertIn('128M free of 512M, 384M more needed', out)
        self.assertEqual(self.live_export(), live, 'the live configuration changed')
        self.assertEqual(self.mrpstat(), pool, 'the pool changed')
        self.assertEqual(self.steady().mem, before.mem, 'the guest changed')
        self.cfg_live('select capped-memory; clear memlzs; end')

    def test_5_without_strict_the_guest_gets_what_the_pool_has(self):
        before = self.steady().mem
        r, secs = self.resize('1G')
        out = r.stdout + r.stderr
        self.assertIn(f"Not enough free memory in memory reservation pool '{POOL}'", out)
        self.assertIn('operation succeeded partially for capped memory (requested: 1G, final: 512M)', out)
        b = self.shows(lambda b: b.mem >= before + 120 * KiB_PER_M, 'MemTotal grown by the last 128M of the pool')
        pool = self.mrpstat()
        figure(f'grow 384M -> 1G with 128M free: {secs:.1f} s; guest MemTotal {before} -> {b.mem} KiB; pool {pool}')
        self.assertEqual(pool, (512 * M, 512 * M, 0, {ZONE: 512 * M}))
        self.assertIn('physical: 512M', self.cfg_live('info capped-memory').stdout)

    def test_6_shrinking_gives_it_back_to_the_pool(self):
        before = self.steady().mem
        r, secs = self.resize('256M')
        b = self.shows(lambda b: b.mem <= before - 250 * KiB_PER_M, 'MemTotal shrunk by 256M in the guest')
        pool = self.mrpstat()
        figure(f'shrink 512M -> 256M: {secs:.1f} s; guest MemTotal {before} -> {b.mem} KiB; pool {pool}; '
               f'extent free {self.extent_free() // M}M')
        self.assertEqual(pool, (512 * M, 256 * M, 256 * M, {ZONE: 256 * M}))
        self.assertEqual(self.extent_free(), 256 * M)
        self.assertEqual(self.listed('host1', ZONE), 'running')


if __name__ == '__main__':
    unittest.main()
