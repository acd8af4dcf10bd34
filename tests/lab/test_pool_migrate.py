#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A zone whose memory comes from a memory reservation pool, booted with the region
it resizes into live (host-compatible=memlzs) and never resized, migrates live: the
destination builds the same machine, its RAM and its region from its own pool of the
same name, and the guest goes on there with the same boot id; the source's pool
gets every page back, the destination's counts the zone's memory as the zone's, and
nothing of the region is taken from either pool.

Two hosts sharing the zone's storage (NBD), each with a 512M pool of 2M pages.
Nothing stays reserved on the machine afterwards, even when a test fails."""

import re
import subprocess

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
ZONE = 'kzpm'
POOL = 'zones'
M = 1 << 20
DROPIN = f'/etc/systemd/system/memory-reserve@{POOL}.service.d/50-pool.conf'
HOSTS = ('host1', 'host2')


class PoolMigrate(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        cls.machine_before = labtest.hugepage_counts()
        super().setUpClass()

        def run(host, *cmd, **kw):
            return labtest.lab('exec', host, *cmd, check=True, timeout=300, stdin=kw.pop('stdin', subprocess.DEVNULL),
                               **kw)
        try:
            labtest.lab('exec', 'host1', 'zonecfg', '-z', ZONE,
                        'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                        f'select capped-memory; clear pagesize-policy; set memory-reserve={POOL}; end; '
                        'select device id=0; set storage=nbd://storage:10809/disk3; end; '
                        f'add boot; set kernel={GUEST}; set cmdline="dirty=8M rate=256 interval=100"; end',
                        check=True, stdin=subprocess.DEVNULL)
            export = run('host1', 'zonecfg', '-z', ZONE, 'export').stdout
            labtest.lab('exec', 'host2', 'zonecfg', '-z', ZONE, '-f', '-', input=export, check=True)
            for h in HOSTS:
                run(h, 'sh', '-c', f'mkdir -p "$(dirname {DROPIN})" && '
                    f"printf '[X-Kzones]\\nSize=512M\\nPageSizePolicy=fixed\\nPageSize=2M\\n' > {DROPIN} && "
                    f'systemctl daemon-reload && systemctl enable --now memory-reserve@{POOL}.service')
                run(h, 'systemctl', 'start', 'kz-migr.socket')
            run('host1', 'zoneadm', '-z', ZONE, 'install')
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        failed = []
        try:
            cls.halt_zones(('host1', ZONE), ('host2', ZONE))
            for h in HOSTS:
                labtest.lab('exec', h, 'systemctl', 'stop', 'kz-migr.socket', 'kz-migr.service', timeout=60,
                            stdin=subprocess.DEVNULL)
                labtest.lab('exec', h, 'systemctl', 'disable', '--now', f'memory-reserve@{POOL}.service',
                            timeout=120, stdin=subprocess.DEVNULL)
                labtest.lab('exec', h, 'rm', '-f', DROPIN, timeout=60, stdin=subprocess.DEVNULL)
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

    def mrpstat(self, host):
        f = self.exec(host, 'mrpstat', '-p', POOL).stdout.strip().split(':')
        zones = dict(z.split('=') for z in f[6].split(',') if z)
        return int(f[1]), int(f[2]), int(f[3]), {k: int(v) for k, v in zones.items()}

    def heartbeats(self, host):
        r = self.exec(host, 'cat', f'/var/log/zones/{ZONE}.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]

    def wait_beats(self, host, count):
        self.wait_for(lambda: len(self.heartbeats(host)) >= count, timeout=90, msg=f'{count} heartbeats on {host}')
        return self.heartbeats(host)[-1]

    def region_fd(self, host):
        pid = self.exec(host, 'systemctl', 'show', '-P', 'MainPID', f'zone@{ZONE}').stdout.strip()
        return f'/run/kzones-pools/{POOL}/0/{ZONE}@vmem (deleted)' in self.exec(host, 'ls', '-l',
                                                                                f'/proc/{pid}/fd/').stdout

    def test_1_migrates_live_with_its_region_made_from_the_destinations_pool(self):
        self.exec('host1', 'zoneadm', '-z', ZONE, 'boot', timeout=300)
        boot, _ = self.wait_beats('host1', 3)
        self.assertTrue(self.region_fd('host1'), 'no region file in the pool on host1')
        self.assertEqual(self.mrpstat('host1'), (512 * M, 256 * M, 256 * M, {ZONE: 256 * M}))
        r = self.exec('host1', 'zoneadm', '-z', ZONE, 'migrate', 'ssh://root@host2', check=False, timeout=300)
        print(f'figure: migrate: exit {r.returncode}; {r.stdout.strip()!r}', flush=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('Migration successful.', r.stdout)
        n = len(self.heartbeats('host2'))
        b, _ = self.wait_beats('host2', n + 2)
        self.assertEqual(b, boot, 'the same boot on host2, not a fresh one')
        self.assertNotIn('kzguest: error', self.exec('host2', 'cat', f'/var/log/zones/{ZONE}.console').stdout)
        self.assertTrue(self.region_fd('host2'), 'no region file in the pool on host2')
        self.assertEqual(self.mrpstat('host2'), (512 * M, 256 * M, 256 * M, {ZONE: 256 * M}))
        self.wait_for(lambda: self.mrpstat('host1') == (512 * M, 0, 512 * M, {}), timeout=60,
                      msg='every page back in the pool of host1')
