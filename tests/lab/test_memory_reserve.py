#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory reservation pools on a real host with real huge pages: enabling a 512 MiB
pool of 2 MiB pages raises the machine's reserved huge pages by 512 MiB and mrpstat
shows it; a zone with memory-reserve=zones boots the test guest from it and USED_MEM
grows by its memory; killing the pool's service keeps the reservation; disabling the
pool while the zone runs keeps both and names the zone; a reload grows the pool to
1 GiB while the zone runs, and a shrink it cannot do leaves it degraded; a misaligned
zone, an oversize zone, an unsupported page size and an impossible reservation each
fail with one clear message; once the zone halts, disabling the pool gives back every
page, and a pool disabled while in use goes by itself when its last zone halts. Nothing stays reserved on the machine afterwards, even when a test fails: the
test disables its pools itself, `lab down` puts the counts back, and the class checks
the machine against what it was before.

Figures (times, HugePages_* before and after) are printed as 'figure:' lines."""

import json
import re
import sys
import time

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
M = 1 << 20
G = 1 << 30
PAGE = 2 * M
DROPIN = '/etc/systemd/system/memory-reserve@{}.service.d/50-pool.conf'
UNSUPPORTED = 'Invalid service configuration: unsupported page size in config/pagesize.'


def figure(text):
    print(f'figure: {text}', file=sys.stderr, flush=True)


def hugepages():
    """The machine's HugePages_* counts (in 2 MiB pages, the default size)."""
    return {k: labtest.meminfo('HugePages_' + k) for k in ('Total', 'Free', 'Rsvd', 'Surp')}


class MemoryReserve(labtest.LabTestCase):
    hosts = 1

    @classmethod
    def setUpClass(cls):
        cls.machine_before = labtest.hugepage_counts()
        cls.meminfo_before = hugepages()
        figure(f'machine before the lab: {cls.meminfo_before}')
        super().setUpClass()
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kz1',
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select capped-memory; clear pagesize-policy; set memory-reserve=zones; end; '
                    'select device id=0; set storage=nbd://storage:10809/disk0; end; '
                    f'add boot; set kernel={GUEST}; set cmdline="dirty=8M rate=256 interval=100"; end', check=True)
        cls.base = hugepages()
        figure(f'host1 up: {cls.base}')

    @classmethod
    def tearDownClass(cls):
        failed = []
        try:
            # give back what this test reserved with its own code first, then take the lab down
            cls.halt_zones(*[('host1', z) for z in ('kz1', 'kz2', 'kz3', 'kz4')])
            for p in ('zones', 'big', 'odd', 'huge'):
                labtest.lab('exec', 'host1', 'systemctl', 'disable', '--now', f'memory-reserve@{p}.service',
                            timeout=120)
            figure(f'after the pools were disabled: {hugepages()}')
        finally:
            try:
                super().tearDownClass()     # leaks inside the host (huge pages, pool mounts), then lab down
            except AssertionError as e:
                failed.append(str(e))
        after = hugepages()
        figure(f'machine after lab down: {after}')
        left = {k: (v, labtest.hugepage_counts().get(k)) for k, v in cls.machine_before.items()
                if labtest.hugepage_counts().get(k) != v}
        if left or after != cls.meminfo_before:
            failed.append(f'huge pages left reserved on the machine: {left} {after} (before: '
                          f'{cls.meminfo_before})')
        if failed:
            raise AssertionError('\n'.join(failed))

    # ---------------------------------------------------------------- helpers

    def sh(self, cmd, check=True, timeout=120):
        return self.exec('host1', 'sh', '-c', cmd, check=check, timeout=timeout)

    def configure_pool(self, pool, text):
        path = DROPIN.format(pool)
        self.sh(f"mkdir -p \"$(dirname {path})\" && printf '%b' '{text}' > {path} && systemctl daemon-reload")

    def timed(self, *cmd, check=True):
        t0 = time.monotonic()
        r = self.exec('host1', *cmd, check=check, timeout=300)
        return r, time.monotonic() - t0

    def mrpstat(self, pool):
        """POOL:TOTAL:USED:FREE:PAGESIZE:STATE:ZONES of `mrpstat -p POOL`, as a tuple."""
        line = self.exec('host1', 'mrpstat', '-p', pool).stdout.strip()
        f = line.split(':')
        zones = dict(z.split('=') for z in f[6].split(',') if z)
        return (int(f[1]), int(f[2]), int(f[3]), int(f[4]), f[5], {k: int(v) for k, v in zones.items()})

    def unit(self, pool, prop):
        return self.exec('host1', 'systemctl', 'show', '-P', prop, f'memory-reserve@{pool}.service').stdout.strip()

    def journal(self, pool):
        return self.exec('host1', 'journalctl', '-q', '-o', 'cat', '-u', f'memory-reserve@{pool}.service').stdout

    def zoneadm(self, *args, check=True):
        return self.exec('host1', 'zoneadm', *args, check=check, timeout=300)

    def state(self, zone):
        return self.zoneadm('-z', zone, 'list', '-p').stdout.strip().split(':')[2]

    def heartbeat(self, zone):
        r = self.exec('host1', 'cat', f'/var/log/zones/{zone}.console', check=False)
        hb = [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]
        return hb[-1] if hb else (None, 0)

    def wait_beating(self, zone, after=0, timeout=60):
        return self.wait_for(lambda: self.heartbeat(zone)[1] > after and self.heartbeat(zone), timeout=timeout,
                             msg=f'a heartbeat of {zone} after {after}')

    def pool_mounts(self):
        return self.sh('findmnt -rn -t hugetlbfs -o TARGET,OPTIONS || true').stdout.split('\n')

    # ---------------------------------------------------------------- the tests, in order

    def test_1_enable_reserves_512M_of_2M_pages(self):
        self.configure_pool('zones', '[X-Kzones]\\nSize=512M\\nPageSizePolicy=fixed\\nPageSize=2M\\n')
        before = hugepages()
        _, secs = self.timed('systemctl', 'enable', '--now', 'memory-reserve@zones.service')
        after = hugepages()
        figure(f'enable --now a 512M pool of 2M pages: {secs:.2f} s; HugePages_Rsvd {before["Rsvd"]} -> '
               f'{after["Rsvd"]}, HugePages_Total {before["Total"]} -> {after["Total"]}')
        self.assertEqual(after['Rsvd'] - before['Rsvd'], 512 * M // PAGE)
        self.assertEqual(self.unit('zones', 'ActiveState'), 'active')
        self.assertEqual(self.unit('zones', 'StatusText'), 'Reserved 512M in 2M pages.')
        self.assertEqual(self.mrpstat('zones'), (512 * M, 0, 512 * M, PAGE, 'online', {}))
        table = self.exec('host1', 'mrpstat').stdout.splitlines()
        self.assertEqual(table[0].split(), ['POOL', 'TOTAL_MEM', 'USED_MEM', 'FREE_MEM', 'PAGESIZE', 'STATE'])
        self.assertIn(['zones', '512M', '0', '512M', '2M', 'online'], [l.split() for l in table])
        # the kernel holds it: a hugetlbfs mount with min_size, in the host's own mount namespace
        self.assertIn('/run/kzones-pools/zones/0', ' '.join(self.pool_mounts()))
        self.assertIn('min_size=536870912', ' '.join(self.pool_mounts()))
        pid = self.unit('zones', 'MainPID')
        self.assertEqual(self.sh(f'readlink /proc/{pid}/ns/mnt').stdout, self.sh('readlink /proc/1/ns/mnt').stdout)

    def test_2_a_zone_boots_from_the_pool(self):
        self.zoneadm('-z', 'kz1', 'install')
        before = hugepages()
        _, secs = self.timed('zoneadm', '-z', 'kz1', 'boot')
        after = hugepages()
        figure(f'boot of a 256M zone from the pool: {secs:.2f} s; HugePages_Free {before["Free"]} -> '
               f'{after["Free"]}, Rsvd {before["Rsvd"]} -> {after["Rsvd"]}, Total {before["Total"]} -> '
               f'{after["Total"]}')
        self.assertEqual(self.state('kz1'), 'running')
        self.wait_beating('kz1')
        # USED_MEM grows by the zone's memory, which mrpstat attributes to it
        self.assertEqual(self.mrpstat('zones'), (512 * M, 256 * M, 256 * M, PAGE, 'online', {'kz1': 256 * M}))
        # the same as JSON, for scripts
        self.assertEqual(json.loads(self.exec('host1', 'mrpstat', '--json=short', 'zones').stdout),
                         [{'name': 'zones', 'total': 512 * M, 'used': 256 * M, 'free': 256 * M, 'page_size': PAGE,
                           'state': 'online', 'zones': [{'name': 'kz1', 'size': 256 * M}]}])
        # the pages came out of the pool's reservation: none were added, 128 were faulted in
        self.assertEqual(after['Total'], before['Total'])
        self.assertEqual(before['Free'] - after['Free'], 256 * M // PAGE)
        # QEMU maps the zone's file in the pool
        pid = self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', 'zone@kz1').stdout.strip()
        self.assertIn('/run/kzones-pools/zones/0/kz1', self.exec('host1', 'cat', f'/proc/{pid}/maps').stdout)
        # and its unit wants and follows the pool's
        for prop in ('Wants', 'After'):
            self.assertIn('memory-reserve@zones.service',
                          self.exec('host1', 'systemctl', 'show', '-P', prop, 'zone@kz1').stdout.split())

    def test_3_killing_the_pool_service_keeps_the_reservation(self):
        before = hugepages()
        pid = self.unit('zones', 'MainPID')
        self.exec('host1', 'systemctl', 'kill', '--signal=SIGKILL', 'memory-reserve@zones.service')
        self.wait_for(lambda: self.sh(f'test -e /proc/{pid} || echo gone').stdout.strip() == 'gone',
                      msg='the pool service to die')
        self.assertEqual(hugepages(), before, 'the kill released huge pages')
        self.assertIn('/run/kzones-pools/zones/0', ' '.join(self.pool_mounts()))
        # systemd restarts it (Restart=on-failure) and it adopts the pool
        self.wait_for(lambda: self.unit('zones', 'ActiveState') == 'active' and self.unit('zones', 'MainPID') != pid,
                      msg='the pool service to come back')
        self.assertIn('Reserved 512M in 2M pages.', self.unit('zones', 'StatusText'))
        self.assertEqual(hugepages(), before)
        self.assertEqual(self.mrpstat('zones'), (512 * M, 256 * M, 256 * M, PAGE, 'online', {'kz1': 256 * M}))
        figure(f'pool service killed and restarted: HugePages {before} -> {hugepages()}')

    def test_4_disabling_while_the_zone_runs_keeps_both(self):
        before = hugepages()
        boot, n = self.wait_beating('kz1')
        r = self.exec('host1', 'systemctl', 'disable', '--now', 'memory-reserve@zones.service', check=False)
        figure(f'disable --now with a zone running: systemctl exit {r.returncode}; unit '
               f'{self.unit("zones", "ActiveState")}/{self.unit("zones", "Result")}')
        self.assertEqual(self.unit('zones', 'ActiveState'), 'failed')
        self.assertIn("Memory reservation pool 'zones' is in use by zone kz1 (256M): the reservation is kept until "
                      "that zone is halted.", self.journal('zones'))
        self.assertEqual(hugepages(), before)
        total, used, free, page, state, zones = self.mrpstat('zones')
        self.assertEqual((total, used, state, zones), (512 * M, 256 * M, 'maintenance', {'kz1': 256 * M}))
        self.assertEqual(self.state('kz1'), 'running')
        self.assertEqual(self.wait_beating('kz1', n)[0], boot)

    def test_5_reload_grows_the_pool_while_the_zone_runs(self):
        before = hugepages()
        # enabled again, it adopts the pool the zone still uses
        self.exec('host1', 'systemctl', 'enable', '--now', 'memory-reserve@zones.service')
        self.assertEqual(hugepages(), before)
        self.configure_pool('zones', '[X-Kzones]\\nSize=1G\\nPageSizePolicy=fixed\\nPageSize=2M\\n')
        _, secs = self.timed('systemctl', 'reload', 'memory-reserve@zones.service')
        after = hugepages()
        figure(f'reload 512M -> 1G with a zone in the pool: {secs:.2f} s; HugePages_Rsvd {before["Rsvd"]} -> '
               f'{after["Rsvd"]}, Total {before["Total"]} -> {after["Total"]}')
        self.assertEqual(after['Rsvd'] - before['Rsvd'], 512 * M // PAGE)
        self.assertEqual(self.mrpstat('zones'), (G, 256 * M, 768 * M, PAGE, 'online', {'kz1': 256 * M}))
        self.assertEqual(self.unit('zones', 'ActiveState'), 'active')
        self.assertEqual(self.unit('zones', 'StatusText'), 'Reserved 1G in 2M pages.')

    def test_6a_a_shrink_that_cannot_be_done_leaves_the_pool_degraded(self):
        before = hugepages()
        self.configure_pool('zones', '[X-Kzones]\\nSize=256M\\nPageSizePolicy=fixed\\nPageSize=2M\\n')
        r = self.exec('host1', 'systemctl', 'reload', 'memory-reserve@zones.service', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.unit('zones', 'ActiveState'), 'active')
        self.assertEqual(self.unit('zones', 'StatusText'),
                         'Degraded: cannot shrink to 256M while zones hold memory in 512M of it; halt them and reload '
                         'again. Keeping 1G in 2M pages.')
        self.assertEqual(self.mrpstat('zones')[:5], (G, 256 * M, 768 * M, PAGE, 'degraded'))
        self.assertEqual(hugepages(), before)
        self.configure_pool('zones', '[X-Kzones]\\nSize=1G\\nPageSizePolicy=fixed\\nPageSize=2M\\n')
        self.exec('host1', 'systemctl', 'reload', 'memory-reserve@zones.service')
        self.assertEqual(self.mrpstat('zones')[4], 'online')

    def refused_boot(self, zone, message):
        r = self.zoneadm('-z', zone, 'boot', check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(message, r.stderr)
        self.assertEqual(self.state(zone), 'installed')
        return r

    def test_6b_an_oversize_zone_says_so(self):
        self.exec('host1', 'zonecfg', '-z', 'kz2', 'create -t kz1; set capped-memory:physical=1G; '
                  'select device id=0; set storage=nbd://storage:10809/disk1; end')
        self.zoneadm('-z', 'kz2', 'install')
        before = self.mrpstat('zones')
        self.refused_boot('kz2', "zoneadm: zone 'kz2': boot failed: Not enough free memory in memory reservation "
                          "pool 'zones' to allocate capped-memory:physical value of 1G for zone: 768M free of 1G, "
                          "at most 512M in one piece. Consider enlarging the pool (Size= of "
                          "memory-reserve@zones.service, see memory-reserve(8)).")
        self.assertEqual(self.mrpstat('zones'), before)

    def test_6c_a_misaligned_zone_says_so(self):
        self.configure_pool('big', '[X-Kzones]\\nSize=1G\\nPageSizePolicy=fixed\\nPageSize=1G\\n')
        before = hugepages()
        r, secs = self.timed('systemctl', 'start', 'memory-reserve@big.service', check=False)
        if r.returncode != 0:
            # only "no free 1G page on this machine" is a reason to skip (a failure under
            # KZONES_REQUIRE_ALL=1); any other failure to start the pool is a failure
            journal = self.journal('big')
            why = [l for l in journal.splitlines() if l.startswith('Cannot reserve')]
            if not why:
                self.fail(f'memory-reserve@big.service did not start, and not for want of 1G pages:\n{journal}')
            self.skipTest(f'this machine has no free 1G page for a pool: {why}')
        figure(f'start a 1G pool of 1G pages: {secs:.2f} s')
        self.assertEqual(self.mrpstat('big')[:5], (G, 0, G, G, 'online'))
        self.assertEqual(hugepages(), before, '1G pages are not counted in the 2M HugePages_ lines')
        self.exec('host1', 'zonecfg', '-z', 'kz3', 'create -t kz1; select capped-memory; set memory-reserve=big; end; '
                  'select device id=0; set storage=nbd://storage:10809/disk2; end')
        self.zoneadm('-z', 'kz3', 'install')
        self.refused_boot('kz3', "zoneadm: zone 'kz3': boot failed: capped-memory:physical value of 256M is not "
                          "aligned to the page size 1G of memory reservation pool 'big': it must be a multiple of 1G.")
        self.exec('host1', 'systemctl', 'stop', 'memory-reserve@big.service')
        self.assertEqual(self.mrpstat('big')[4], 'disabled')
        self.assertEqual(self.sh('cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages').stdout.strip(),
                         self.machine_before['/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages'])

    def test_6d_an_unsupported_page_size_fails_the_unit(self):
        before = hugepages()
        self.configure_pool('odd', '[X-Kzones]\\nSize=512M\\nPageSize=4M\\n')
        r = self.exec('host1', 'systemctl', 'start', 'memory-reserve@odd.service', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.unit('odd', 'ActiveState'), 'failed')
        self.assertEqual(self.unit('odd', 'ExecMainStatus'), '78')
        self.assertEqual(self.unit('odd', 'NRestarts'), '0')
        lines = self.journal('odd').splitlines()
        self.assertIn(UNSUPPORTED, lines)
        self.assertEqual(self.mrpstat('odd')[4:], ('maintenance', {}))
        self.assertEqual(hugepages(), before)

    def test_6e_a_reservation_the_host_cannot_make_fails_the_unit(self):
        before = hugepages()
        counts = labtest.hugepage_counts()
        self.configure_pool('huge', '[X-Kzones]\\nSize=64G\\nPageSize=2M\\n')
        r = self.exec('host1', 'systemctl', 'start', 'memory-reserve@huge.service', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.unit('huge', 'ExecMainStatus'), '69')
        line = [l for l in self.journal('huge').splitlines() if l.startswith('Cannot reserve 64G')]
        self.assertTrue(line, self.journal('huge'))
        self.assertRegex(line[0], r"^Cannot reserve 64G for memory reservation pool 'huge': 32768 more 2M pages "
                         r"\(64G\) are needed but only \d+[MG] of memory is available on this host\.$")
        self.assertEqual(hugepages(), before)
        self.assertEqual(labtest.hugepage_counts(), counts)

    def test_7_once_the_zone_halts_disable_gives_back_every_page(self):
        self.zoneadm('-z', 'kz1', 'halt')
        # the zone's memory went back to the pool, not to the host
        self.assertEqual(self.mrpstat('zones'), (G, 0, G, PAGE, 'online', {}))
        before = hugepages()
        _, secs = self.timed('systemctl', 'disable', '--now', 'memory-reserve@zones.service')
        after = hugepages()
        figure(f'disable --now of the 1G pool: {secs:.2f} s; HugePages_Rsvd {before["Rsvd"]} -> {after["Rsvd"]}, '
               f'Total {before["Total"]} -> {after["Total"]} (host1 up: {self.base})')
        self.assertEqual(self.unit('zones', 'ActiveState'), 'inactive')
        self.assertEqual(after, self.base)
        self.assertEqual(self.mrpstat('zones'), (0, 0, 0, 0, 'disabled', {}))
        self.assertNotIn('/run/kzones-pools', ' '.join(self.pool_mounts()))
        self.assertEqual(self.sh('cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages').stdout.strip(),
                         self.machine_before['/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'])

    def test_8_a_pool_disabled_in_use_goes_when_its_last_zone_halts(self):
        self.configure_pool('zones', '[X-Kzones]\\nSize=512M\\nPageSize=2M\\n')
        self.exec('host1', 'systemctl', 'enable', '--now', 'memory-reserve@zones.service')
        self.zoneadm('-z', 'kz1', 'boot')
        self.exec('host1', 'systemctl', 'disable', '--now', 'memory-reserve@zones.service', check=False)
        self.assertEqual(self.mrpstat('zones')[4:], ('maintenance', {'kz1': 256 * M}))
        self.assertEqual(self.state('kz1'), 'running')
        t0 = time.monotonic()
        self.zoneadm('-z', 'kz1', 'halt')
        figure(f'halt of the last zone of a pool disabled in use: {time.monotonic() - t0:.2f} s; HugePages '
               f'{hugepages()} (host1 up: {self.base})')
        self.assertEqual(self.mrpstat('zones'), (0, 0, 0, 0, 'disabled', {}))
        self.assertEqual(hugepages(), self.base)
        self.assertIn("Memory reservation pool 'zones' released: its unit was stopped while zones used it, and the "
                      "last of them has stopped.",
                      self.exec('host1', 'journalctl', '-q', '-o', 'cat', '-u', 'zone@kz1.service').stdout)

    def test_9_zones_without_a_pool_follow_their_pagesize_policy(self):
        knob = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
        self.exec('host1', 'zonecfg', '-z', 'kz4', 'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                  'select device id=0; set storage=nbd://storage:10809/disk3; end; '
                  f'add boot; set kernel={GUEST}; set cmdline="interval=100"; end')
        self.zoneadm('-z', 'kz4', 'install')
        # smallest-only: 2M pages or nothing, and the host has none free
        self.exec('host1', 'zonecfg', '-z', 'kz4', 'set capped-memory:pagesize-policy=smallest-only')
        self.refused_boot('kz4', "zoneadm: zone 'kz4': boot failed: Not enough contiguous free memory pages to "
                          "allocate capped-memory:physical value of 256M for zone. Consider using memory-reserve(8) "
                          "to facilitate reserving memory for Kernel Zones")
        # fixed: a size this host does not have
        self.exec('host1', 'zonecfg', '-z', 'kz4', 'select capped-memory; set pagesize-policy=fixed; '
                  'set pagesize=16G; end')
        self.refused_boot('kz4', "zoneadm: zone 'kz4': boot failed: The capped-memory:pagesize value 16G is not "
                          "supported on this host.")
        # largest-available: 2M pages once there are free ones (256M of them, given back below)
        self.exec('host1', 'zonecfg', '-z', 'kz4', 'select capped-memory; clear pagesize; '
                  'set pagesize-policy=largest-available; end')
        count = int(self.sh(f'cat {knob}').stdout)
        self.addCleanup(self.sh, f'echo {count} > {knob}')
        self.sh(f'echo {count + 128} > {knob}')
        before = hugepages()
        self.zoneadm('-z', 'kz4', 'boot')
        after = hugepages()
        pid = self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', 'zone@kz4').stdout.strip()
        cmdline = self.sh(f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout
        self.assertIn('memory-backend-memfd,id=pc.ram,size=256M,hugetlb=on,hugetlbsize=2097152', cmdline)
        self.assertEqual(before['Free'] - after['Free'], 128)
        figure(f'a 256M zone with largest-available and 128 free 2M pages: HugePages {before} -> {after}')
        self.zoneadm('-z', 'kz4', 'halt')
        self.sh(f'echo {count} > {knob}')
        self.assertEqual(hugepages(), self.base)


if __name__ == '__main__':
    labtest.main()
