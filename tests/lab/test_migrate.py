#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live migration between two real hosts that share the zone's storage (NBD): the
guest's heartbeat goes on on host2 with the same boot id and a counter that goes
on, the source ends with the zone configured and its unit stopped, and the host
data names host2 (host1 is refused an attach); a cipher the hosts lack fails before
anything moves and the zone runs on at the source; a dry run (-n) starts the zone
in migrating-in mode on host2 and changes nothing on either host."""

import re

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')


class LiveMigration(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzm',
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk2; end; '
                    f'add boot; set kernel={GUEST}; set cmdline="dirty=4M rate=64 interval=200"; end', check=True)
        export = labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzm', 'export', check=True).stdout
        labtest.lab('exec', 'host2', 'zonecfg', '-z', 'kzm', '-f', '-', input=export, check=True)
        for h in ('host1', 'host2'):
            labtest.lab('exec', h, 'systemctl', 'start', 'kz-migr.socket', check=True)
        labtest.lab('exec', 'host1', 'zoneadm', '-z', 'kzm', 'install', check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(('host1', 'kzm'), ('host2', 'kzm'))
            for h in ('host1', 'host2'):
                labtest.lab('exec', h, 'systemctl', 'stop', 'kz-migr.socket', 'kz-migr.service', timeout=60)
        finally:
            super().tearDownClass()

    def zoneadm(self, host, *args, check=True):
        return self.exec(host, 'zoneadm', '-z', 'kzm', *args, check=check, timeout=300)

    def listed(self, host):
        line = self.zoneadm(host, 'list', '-p').stdout.strip().split(':')
        return line[2]

    def heartbeats(self, host):
        r = self.exec(host, 'cat', '/var/log/zones/kzm.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]

    def wait_beats(self, host, count):
        self.wait_for(lambda: len(self.heartbeats(host)) >= count, timeout=90, msg=f'{count} heartbeats on {host}')
        return self.heartbeats(host)[-1]

    def test_1_unknown_cipher_fails_before_anything_moves(self):
        self.zoneadm('host1', 'boot')
        self.wait_beats('host1', 3)
        r = self.zoneadm('host1', 'migrate', '-c', 'rot13', 'ssh://root@host2', check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('cipher rot13 not supported by this host', r.stderr)
        self.assertEqual(self.listed('host1'), 'running')
        self.assertEqual(self.listed('host2'), 'configured')
        n = len(self.heartbeats('host1'))
        self.wait_beats('host1', n + 2)

    def test_2_dry_run_changes_nothing(self):
        n = len(self.heartbeats('host1'))
        r = self.zoneadm('host1', 'migrate', '-n', 'ssh://root@host2', check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Booting zone in 'migrating-in' mode.", r.stdout)
        self.assertIn('Dry run: the zone can migrate; nothing was changed on either host.', r.stdout)
        self.assertEqual(self.listed('host2'), 'configured')
        self.assertEqual(self.exec('host2', 'systemctl', 'is-active', 'zone@kzm', check=False).stdout.strip(),
                         'inactive')
        self.assertEqual(self.listed('host1'), 'running')
        self.wait_beats('host1', n + 2)

    def test_3_live_migration(self):
        boot, n = self.wait_beats('host1', 3)
        r = self.zoneadm('host1', 'migrate', 'ssh://root@host2', check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for step in ('Checking migration compatibility.', "Booting zone in 'migrating-in' mode.",
                     'Starting migration.', 'Migration successful.', 'Halting and detaching zone on source host.'):
            self.assertIn(step, r.stdout)
        self.assertEqual(self.listed('host2'), 'running')
        self.assertEqual(self.listed('host1'), 'configured')
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kzm', check=False).stdout.strip(),
                         'inactive')
        # the same guest goes on on host2: its boot id, its counter
        b, m = self.wait_beats('host2', 3)
        self.assertEqual(b, boot, 'the same boot, not a fresh one')
        self.assertGreater(m, n)
        # the host data names host2, which renews it: host1 cannot take the zone
        def refused_for_host2():
            r = self.zoneadm('host1', 'attach', check=False)
            return r.returncode == 1 and 'is in use by host with hostid' in r.stderr and 'hostname: host2' in r.stderr
        self.wait_for(refused_for_host2, timeout=30, msg="host1's attach refused: host2 holds the zone")
        self.assertEqual(self.listed('host2'), 'running')


if __name__ == '__main__':
    labtest.main()
