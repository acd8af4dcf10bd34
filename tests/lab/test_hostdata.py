#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two hosts share a zone's storage: while one runs it, the other is refused with the
guide's message; after a detach the other can attach; force-takeover works; a wrong
key makes the zone unavailable."""

import re

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'


class HostData(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzs',
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk2; end; '
                    f'add boot; set kernel={GUEST}; set cmdline="dirty=4M rate=64 interval=200"; end', check=True)
        # the same zone, key included, on host2 (the guide's export | zonecfg -f)
        export = labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzs', 'export', check=True).stdout
        labtest.lab('exec', 'host2', 'zonecfg', '-z', 'kzs', '-f', '-', input=export, check=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(('host1', 'kzs'), ('host2', 'kzs'))
        finally:
            super().tearDownClass()

    def zoneadm(self, host, *args, check=True):
        return self.exec(host, 'zoneadm', '-z', 'kzs', *args, check=check, timeout=300)

    def state(self, host):
        return self.zoneadm(host, 'list', '-p').stdout.split(':')[2]

    def test_1_in_use_elsewhere(self):
        self.zoneadm('host1', 'install')
        self.zoneadm('host1', 'boot')
        self.assertEqual(self.state('host1'), 'running')
        r = self.zoneadm('host2', 'attach', check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        hostid1 = self.exec('host1', 'sh', '-c', 'echo -n "kzones-hostid:$(cat /etc/machine-id)" | sha256sum | '
                            'cut -c1-8').stdout.strip()
        lines = r.stderr.splitlines()
        self.assertEqual(lines[0], f"zone 'kzs': error: ERROR: zone kzs is in use by host with hostid {hostid1}")
        self.assertEqual(lines[1], "zone 'kzs': error:           last known state: running")
        self.assertEqual(lines[2], "zone 'kzs': error:                   hostname: host1")
        self.assertRegex(lines[4], r"^zone 'kzs': error:           last update time: \w{3} \w{3} [ \d]\d ")
        self.assertEqual(lines[5], "zone 'kzs': error: To fix, detach the zone from the other host then attach it "
                                   "to this host")
        self.assertEqual(lines[7], "zone 'kzs': error:     zoneadm -z kzs attach -x force-takeover")
        self.assertEqual(self.state('host2'), 'configured')
        # installing it on host2 is refused the same way
        r = self.zoneadm('host2', 'install', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('is in use by host with hostid', r.stderr)
        # and host1's zone did not notice
        self.assertEqual(self.state('host1'), 'running')

    def test_2_detach_then_attach_elsewhere(self):
        r = self.zoneadm('host1', 'detach', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('zone is already running', r.stderr)
        self.zoneadm('host1', 'halt')
        self.zoneadm('host1', 'detach')
        self.assertEqual(self.state('host1'), 'configured')
        self.zoneadm('host2', 'attach')
        self.assertEqual(self.state('host2'), 'installed')
        self.zoneadm('host2', 'boot')
        self.assertEqual(self.state('host2'), 'running')
        self.wait_for(lambda: 'kzguest: hb' in self.exec('host2', 'cat', '/var/log/zones/kzs.console',
                                                         check=False).stdout, timeout=60, msg='a heartbeat on host2')
        # now host1 is the one refused
        r = self.zoneadm('host1', 'attach', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('hostname: host2', r.stderr)
        self.zoneadm('host2', 'halt')

    def test_3_force_takeover(self):
        r = self.zoneadm('host1', 'attach', check=False)
        self.assertIn('is in use by host with hostid', r.stderr)
        self.zoneadm('host1', 'attach', '-x', 'force-takeover')
        self.assertEqual(self.state('host1'), 'installed')
        # host2 still thinks it is installed there, but its boot is refused: host1 holds it
        r = self.zoneadm('host2', 'boot', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('hostname: host1', r.stderr)
        self.assertEqual(self.state('host2'), 'installed')

    def test_4_wrong_key(self):
        self.exec('host2', 'zonecfg', '-z', 'kzs', 'select keysource; set raw="{base64}AAAAAAAAAAAAAAAAAAAAAA=="; end')
        r = self.zoneadm('host2', 'boot', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("zone 'kzs': error: Encryption key is incorrect.", r.stderr)
        self.assertEqual(self.state('host2'), 'unavailable')
        self.assertTrue(re.search(r'^-:kzs:unavailable:', self.exec('host2', 'zoneadm', 'list', '-cp').stdout, re.M))


if __name__ == '__main__':
    labtest.main()
