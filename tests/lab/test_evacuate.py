#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Evacuation across three real hosts that share the zones' storage (NBD), as the
guide's chapter 6 does it: host1 in maintenance mode, 'sysadm evacuate -v' moves
two running test guests live, one to the all-zones target host2 and one to its own
target host3 (their heartbeats go on with the same boot ids), '-l' lists them
EVACUATED with their destinations, host1 refuses a boot, an attach and an
incoming migration while in maintenance, and after 'sysadm maintain -e' 'sysadm evacuate
-r' brings both back running on host1 and '-l' says there is no active
evacuation. Then kzones-evacuated is killed mid-evacuation: 'sysadm evacuate' run
again finishes with each zone running on exactly one host, its target."""

import labtest
from kzbus import (RESTARTER_BUS_NAME, RESTARTER_MANAGER_IFACE, RESTARTER_PATH, RESTARTER_ZONE_IFACE,
                   RESTARTER_ZONE_PREFIX, path_encode)

ZONES = {'kza': ('disk2', 'ssh://root@host2'), 'kzb': ('disk3', 'ssh://root@host3')}
HOSTS = ('host1', 'host2', 'host3')
MAINTENANCE_STARTED = '3b9e52d07a144ce19f06b82de451a7c3'


class Evacuate(labtest.ZoneHelpers, labtest.LabTestCase):
    hosts = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for zone, (disk, _) in ZONES.items():
            labtest.lab('exec', 'host1', 'zonecfg', '-z', zone,
                        'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                        f'select device id=0; set storage=nbd://storage:10809/{disk}; end; '
                        f'add boot; set kernel={labtest.GUEST}; set cmdline="dirty=2M rate=32 interval=200"; end',
                        check=True)
            export = labtest.lab('exec', 'host1', 'zonecfg', '-z', zone, 'export', check=True).stdout
            for h in HOSTS[1:]:
                labtest.lab('exec', h, 'zonecfg', '-z', zone, '-f', '-', input=export, check=True)
        for h in HOSTS:
            labtest.lab('exec', h, 'systemctl', 'start', 'kz-migr.socket', check=True)
        for zone in ZONES:
            labtest.lab('exec', 'host1', 'zoneadm', '-z', zone, 'install', check=True, timeout=300)
        # all zones to host2, kzb to host3 (the guide's svccfg setprop evacuation/target)
        labtest.lab('exec', 'host1', 'busctl', 'set-property', RESTARTER_BUS_NAME, RESTARTER_PATH,
                    RESTARTER_MANAGER_IFACE, 'DefaultEvacuationTarget', 's', ZONES['kza'][1], check=True)
        labtest.lab('exec', 'host1', 'busctl', 'set-property', RESTARTER_BUS_NAME,
                    path_encode(RESTARTER_ZONE_PREFIX, 'kzb'), RESTARTER_ZONE_IFACE, 'EvacuationTarget', 's',
                    ZONES['kzb'][1], check=True)

    @classmethod
    def tearDownClass(cls):
        try:
            labtest.lab('exec', 'host1', 'sysadm', 'maintain', '-e', timeout=60)
            cls.halt_zones(*[(h, z) for h in HOSTS for z in ZONES])
            for h in HOSTS:
                labtest.lab('exec', h, 'systemctl', 'stop', 'kz-migr.socket', 'kz-migr.service',
                            'kzones-evacuated.service', timeout=60)
        finally:
            super().tearDownClass()

    def sysadm(self, *args, check=False):
        return self.exec('host1', 'sysadm', *args, check=check, timeout=300)

    def where(self, zone):
        """The hosts where ZONE runs."""
        return [h for h in HOSTS if self.listed(h, zone) == 'running']

    def test_1_evacuate_and_return(self):
        for zone in ZONES:
            self.exec('host1', 'zoneadm', '-z', zone, 'boot')
        before = {z: self.wait_beats('host1', z, 3) for z in ZONES}

        # maintenance: listed as the guide shows it, and audited in the journal
        self.sysadm('maintain', '-s', '-m', 'Updating system to new release', check=True)
        rows = self.sysadm('maintain', '-l').stdout.splitlines()
        self.assertEqual(rows[1].split()[:2], ['admin', 'root'], rows)
        self.assertTrue(rows[1].endswith('Updating system to new release'), rows)
        j = self.exec('host1', 'journalctl', '-o', 'cat', f'MESSAGE_ID={MAINTENANCE_STARTED}').stdout
        self.assertIn('Maintenance mode started by root: Updating system to new release', j)

        # the evacuation
        r = self.sysadm('evacuate', '-v')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for line in ('sysadm: preparing 2 zone(s) for evacuation ...',
                     'sysadm: initializing migration of kza to host2 ...',
                     'sysadm: initializing migration of kzb to host3 ...',
                     'sysadm: evacuating 2 zone(s) ...', 'sysadm: migrating kza to host2 ...',
                     'sysadm: migrating kzb to host3 ...', 'sysadm: evacuation completed successfully.',
                     'sysadm: kza: evacuated to ssh://root@host2', 'sysadm: kzb: evacuated to ssh://root@host3'):
            self.assertIn(line, r.stdout)
        for zone, (_, dest) in ZONES.items():
            host = dest.split('@')[1]
            self.assertEqual(self.listed(host, zone), 'running')
            self.assertEqual(self.listed('host1', zone), 'configured')
            boot, n = self.wait_beats(host, zone, 3)
            self.assertEqual(boot, before[zone][0], f'{zone}: the same boot on {host}, not a fresh one')
            self.assertGreater(n, before[zone][1])
        rows = [l.split() for l in self.sysadm('evacuate', '-l').stdout.splitlines()]
        self.assertEqual(rows, [['ZONENAME', 'STATE', 'DEST', 'ERROR'],
                                ['kza', 'EVACUATED', 'ssh://root@host2', '-'],
                                ['kzb', 'EVACUATED', 'ssh://root@host3', '-']])

        # host1 in maintenance takes no zone: not by boot, attach or migration
        r = self.exec('host1', 'zoneadm', '-z', 'kza', 'boot', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot boot zone 'kza': this host is in maintenance mode", r.stderr)
        r = self.exec('host1', 'zoneadm', '-z', 'kza', 'attach', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot attach zone 'kza': this host is in maintenance mode", r.stderr)
        r = self.exec('host2', 'zoneadm', '-z', 'kza', 'migrate', 'ssh://root@host1', check=False, timeout=300)
        self.assertEqual(r.returncode, 1)
        self.assertIn('maintenance mode', r.stderr)
        self.assertEqual(self.listed('host2', 'kza'), 'running')

        # maintenance over: the zones come back, the same guests
        self.sysadm('maintain', '-e', check=True)
        r = self.sysadm('evacuate', '-rv')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for line in ('sysadm: preparing 2 zone(s) for return ...', 'sysadm: initializing return of kza',
                     'sysadm: returning 2 zone(s) ...', 'sysadm: migrating kzb',
                     'sysadm: return completed successfully.', 'sysadm: kza: returned', 'sysadm: kzb: returned'):
            self.assertIn(line, r.stdout)
        for zone, (_, dest) in ZONES.items():
            self.assertEqual(self.listed('host1', zone), 'running')
            self.assertEqual(self.listed(dest.split('@')[1], zone), 'configured')
            n = len(self.heartbeats('host1', zone))
            boot, _ = self.wait_beats('host1', zone, n + 2)
            self.assertEqual(boot, before[zone][0], f'{zone}: the same boot back on host1')
        r = self.sysadm('evacuate', '-l')
        self.assertEqual(r.stdout, 'sysadm: no active evacuation\n')

    def test_2_killed_mid_evacuation_then_run_again(self):
        before = {z: self.wait_beats('host1', z, len(self.heartbeats('host1', z)) + 1) for z in ZONES}
        self.sysadm('maintain', '-s', '-m', 'crash drill', check=True)
        self.exec('host1', 'systemd-run', '--unit=kz-evacuate-bg', '--collect', 'sysadm', 'evacuate')
        self.wait_for(lambda: 'MIGRATING' in self.sysadm('evacuate', '-l').stdout, timeout=60, interval=0.1,
                      msg='a zone migrating')
        self.exec('host1', 'systemctl', 'kill', '-s', 'KILL', 'kzones-evacuated.service')
        # run again: the service starts, checks the record against the hosts, and finishes
        r = self.sysadm('evacuate')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for zone, (_, dest) in ZONES.items():
            self.assertEqual(self.where(zone), [dest.split('@')[1]], f'{zone} runs on exactly its target')
            boot, _ = self.wait_beats(dest.split('@')[1], zone, 2)
            self.assertEqual(boot, before[zone][0])
        rows = [l.split()[:2] for l in self.sysadm('evacuate', '-l').stdout.splitlines()[1:]]
        self.assertEqual(rows, [['kza', 'EVACUATED'], ['kzb', 'EVACUATED']])
        self.sysadm('maintain', '-e', check=True)
        r = self.sysadm('evacuate', '-r')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for zone in ZONES:
            self.assertEqual(self.where(zone), ['host1'])


if __name__ == '__main__':
    labtest.main()
