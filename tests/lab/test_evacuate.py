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
again finishes with each zone running on exactly one host, its target. An
installed zone stays put without -a and is cold-migrated to its target with it
('-l' lists it EVACUATED; '-n -a' before shows the plan, the live zones at the
rate measured by the earlier migrations to their targets, and kzb, its target
then a list whose first host is in maintenance, placed on the other), and 'sysadm evacuate -r -a' brings it back installed.
Last, Ctrl-C (SIGINT) to 'sysadm evacuate' while a live migration is at work (the
migration streams held to 8 Mbit/s with tc once it started, so that it cannot end
first) cancels the evacuation: that zone rolls back and runs on host1, the others
are where '-l' says, and every zone has exactly one QEMU, on one host."""

import json
import time

import labtest
from kzbus import (RESTARTER_BUS_NAME, RESTARTER_MANAGER_IFACE, RESTARTER_PATH, RESTARTER_ZONE_IFACE,
                   RESTARTER_ZONE_PREFIX, path_encode)

ZONES = {'kza': ('disk2', 'ssh://root@host2'), 'kzb': ('disk3', 'ssh://root@host3')}
COLD = 'kzc'  # installed, not booted: its target is the all-zones one, host2
ALL = (*ZONES, COLD)
# In a host, sysadm evacuate run as from a terminal and interrupted (SIGINT) while
# the migration of the zone argv[1] is at work: as soon as '-l' shows it MIGRATING
# (its destination is still starting QEMU then), this host's migration streams (to
# port 8102) are held to 8 Mbit/s, so that its copy of 256M cannot end before the
# signal 2 s later. Prints {"rc", "stdout", "stderr", "rows"}, the rows of -l just
# before the signal. The throttle stays until THROTTLE_OFF.
CTRL_C = r"""
import json, signal, subprocess, sys, time
zone = sys.argv[1]
p = subprocess.Popen(['sysadm', 'evacuate', '-v'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
rows, deadline = [], time.monotonic() + 120
while time.monotonic() < deadline and p.poll() is None:
    rows = subprocess.run(['sysadm', 'evacuate', '-l'], capture_output=True, text=True).stdout.splitlines()
    if any(r.split()[:2] == [zone, 'MIGRATING'] for r in rows):
        break
    time.sleep(0.05)
for tc in (['qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '10'],
           ['class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit'],
           ['class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '8mbit', 'ceil', '8mbit'],
           ['filter', 'add', 'dev', 'eth0', 'parent', '1:', 'protocol', 'ip', 'u32', 'match', 'ip', 'dport', '8102',
            '0xffff', 'flowid', '1:20']):
    subprocess.run(['tc'] + tc, check=True, capture_output=True)
time.sleep(2)
rows = subprocess.run(['sysadm', 'evacuate', '-l'], capture_output=True, text=True).stdout.splitlines()
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=240)
print(json.dumps({'rc': p.returncode, 'stdout': out, 'stderr': err, 'rows': rows}))
"""
THROTTLE_OFF = ('tc', 'qdisc', 'del', 'dev', 'eth0', 'root')
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
        labtest.lab('exec', 'host1', 'zonecfg', '-z', COLD,
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk1; end; '
                    f'add boot; set kernel={labtest.GUEST}; set cmdline="dirty=8M rate=256 interval=200"; end',
                    check=True)
        export = labtest.lab('exec', 'host1', 'zonecfg', '-z', COLD, 'export', check=True).stdout
        for h in HOSTS[1:]:
            labtest.lab('exec', h, 'zonecfg', '-z', COLD, '-f', '-', input=export, check=True)
        for h in HOSTS:
            labtest.lab('exec', h, 'systemctl', 'start', 'kz-migr.socket', check=True)
        for zone in ALL:
            labtest.lab('exec', 'host1', 'zoneadm', '-z', zone, 'install', check=True, timeout=300)
        # a destination takes a cpu-arch native zone only once its restarter probed its
        # CPU model (a minute at most on a busy machine): the evacuation would fail before
        deadline = time.monotonic() + 120
        for h in HOSTS:
            while labtest.lab('exec', h, 'busctl', 'get-property', RESTARTER_BUS_NAME, RESTARTER_PATH,
                              RESTARTER_MANAGER_IFACE, 'NativeCpuModel').stdout.strip() in ('s ""', ''):
                if time.monotonic() > deadline:
                    raise AssertionError(f'{h}: no native CPU model probed after 120 s')
                time.sleep(0.5)
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
            cls.halt_zones(*[(h, z) for h in HOSTS for z in ALL])
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

    def qemus(self, zone):
        """The hosts with a QEMU of ZONE."""
        return [h for h in HOSTS
                if self.exec(h, 'pgrep', '-f', f'qemu-system.*{zone}', check=False).stdout.strip()]

    def rows(self):
        return [l.split() for l in self.sysadm('evacuate', '-l').stdout.splitlines()]

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
        self.assertIn("cannot boot: this host is in maintenance mode", r.stderr)
        r = self.exec('host1', 'zoneadm', '-z', 'kza', 'attach', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot attach: this host is in maintenance mode", r.stderr)
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

    def test_3_installed_zone_stays_without_a_moves_cold_with_it(self):
        self.assertEqual(self.listed('host1', COLD), 'installed')
        # kzb's target a list whose first host, host3, is in maintenance mode: the
        # plan places it on host2, and -v says why host3 was left out
        self.exec('host3', 'sysadm', 'maintain', '-s', '-m', 'list drill', check=True)
        kzb = path_encode(RESTARTER_ZONE_PREFIX, 'kzb')
        self.exec('host1', 'busctl', 'set-property', RESTARTER_BUS_NAME, kzb, RESTARTER_ZONE_IFACE,
                  'EvacuationTarget', 's', 'ssh://root@host3 ssh://root@host2', check=True)
        try:
            # the plan: the live ones at the rate the earlier migrations to their targets measured
            r = self.sysadm('evacuate', '-n', '-a', '-v')
        finally:
            self.exec('host1', 'busctl', 'set-property', RESTARTER_BUS_NAME, kzb, RESTARTER_ZONE_IFACE,
                      'EvacuationTarget', 's', ZONES['kzb'][1], check=True)
            self.exec('host3', 'sysadm', 'maintain', '-e', check=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('sysadm: note: host3 is left out of the placement: in maintenance mode\n', r.stdout)
        for zone in ZONES:
            self.assertRegex(r.stdout, rf'sysadm: plan: {zone} to host2: 256M of memory, at least \d+\.\d s at '
                             r'\d+ MB/s \(measured rate\)\n')
        self.assertIn(f'sysadm: plan: {COLD} to host2: cold, no memory to copy\n', r.stdout)
        self.sysadm('maintain', '-s', '-m', 'cold drill', check=True)
        r = self.sysadm('evacuate')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.listed('host1', COLD), 'installed', 'without -a an installed zone stays')
        self.assertEqual([h for h in HOSTS[1:] if self.listed(h, COLD) != 'configured'], [])
        self.assertEqual([r[0] for r in self.rows()[1:]], ['kza', 'kzb'])

        # -a: the evacuation goes on with the installed zone, cold, to the all-zones target
        r = self.sysadm('evacuate', '-a', '-v')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('sysadm: kzc: evacuated to ssh://root@host2', r.stdout)
        self.assertEqual(self.listed('host2', COLD), 'installed')
        self.assertEqual(self.listed('host1', COLD), 'configured')
        self.assertEqual(self.listed('host3', COLD), 'configured')
        self.assertEqual(self.rows(), [['ZONENAME', 'STATE', 'DEST', 'ERROR'],
                                       ['kza', 'EVACUATED', 'ssh://root@host2', '-'],
                                       ['kzb', 'EVACUATED', 'ssh://root@host3', '-'],
                                       ['kzc', 'EVACUATED', 'ssh://root@host2', '-']])
        for zone, (_, dest) in ZONES.items():
            self.assertEqual(self.where(zone), [dest.split('@')[1]])

        # -r -a: the running ones come back live, the installed one cold
        self.sysadm('maintain', '-e', check=True)
        r = self.sysadm('evacuate', '-r', '-a')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.listed('host1', COLD), 'installed')
        self.assertEqual(self.listed('host2', COLD), 'configured')
        for zone in ZONES:
            self.assertEqual(self.where(zone), ['host1'])
        self.assertEqual(self.sysadm('evacuate', '-l').stdout, 'sysadm: no active evacuation\n')

    def test_4_ctrl_c_leaves_every_zone_on_exactly_one_host(self):
        self.zoneadm_on('host1', COLD, 'boot')
        boot, _ = self.wait_beats('host1', COLD, 3)
        self.sysadm('maintain', '-s', '-m', 'cancel drill', check=True)
        try:
            r = self.exec('host1', 'python3', '-c', CTRL_C, COLD, timeout=400)
        finally:
            self.exec('host1', *THROTTLE_OFF, check=False)
        out = json.loads(r.stdout)
        self.assertIn([COLD, 'MIGRATING', 'ssh://root@host2', '-'], [l.split() for l in out['rows']],
                      'its migration was at work when Ctrl-C came')
        self.assertEqual(out['rc'], 1, out)
        self.assertIn('sysadm: cancelling; zones that are moving finish or roll back', out['stderr'])
        self.assertIn('sysadm: evacuation cancelled', out['stderr'])
        # every zone runs on exactly one host: a QEMU there and nowhere else
        rows = {l[0]: l for l in self.rows()[1:]}
        for zone in ALL:
            hosts = self.where(zone)
            self.assertEqual(len(hosts), 1, f'{zone} runs on {hosts}')
            self.assertEqual(self.qemus(zone), hosts, f'{zone}: a QEMU only where it runs')
            # where -l says: gone to its target, or (caught moving too) still here
            dest = rows[zone][2].split('@')[1]
            self.assertEqual(hosts, [dest] if rows[zone][1] == 'EVACUATED' else ['host1'], rows[zone])
        # the one caught moving rolled back: the same guest beats on here
        self.assertEqual(rows[COLD][1], 'CANCELLED', rows)
        self.assertEqual(self.where(COLD), ['host1'])
        n = len(self.heartbeats('host1', COLD))
        self.assertEqual(self.wait_beats('host1', COLD, n + 2)[0], boot)
        self.assertEqual(self.listed('host2', COLD), 'configured')
        # those that had gone come back with -r
        self.sysadm('maintain', '-e', check=True)
        if any(row[1] == 'EVACUATED' for row in rows.values()):
            r = self.sysadm('evacuate', '-r')
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for zone in ALL:
            self.assertEqual(self.where(zone), ['host1'])
        self.zoneadm_on('host1', COLD, 'halt')

if __name__ == '__main__':
    labtest.main()
