#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Autoboot across a real host reboot: a zone with autoboot=true comes back by
itself when its host reboots (the generator wants it from multi-user.target),
with a new guest whose heartbeat goes on; a zone without autoboot stays
installed; at the host's shutdown running zones are stopped with the ACPI power
button (autoshutdown's default); with autoboot=false again nothing comes back."""

import re
import sys
import time

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
BOOT = re.compile(r'^kzguest: boot id=([0-9a-f]{16})', re.M)
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
ACPI_READY = 'kzguest: acpi: power button ready'
WANTS = '/run/systemd/generator/multi-user.target.wants'


class Autoboot(labtest.LabTestCase):
    hosts = 1

    @classmethod
    def setUpClass(cls):
        if not labtest.unavailable():
            labtest._lock()     # the machine as it is without anyone's lab
        cls.before = labtest.machine_snapshot()
        super().setUpClass()
        for zone, disk in (('kza', 'disk0'), ('kzb', 'disk1')):
            labtest.lab('exec', 'host1', 'zonecfg', '-z', zone,
                        'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                        f'select device id=0; set storage=nbd://storage:10809/{disk}; end; '
                        f'add boot; set kernel={GUEST}; set cmdline="dirty=4M rate=64 interval=200"; end',
                        check=True)
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kza', 'set autoboot=true', check=True)
        for zone in ('kza', 'kzb'):
            labtest.lab('exec', 'host1', 'zoneadm', '-z', zone, 'install', check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        failed = []
        try:
            cls.halt_zones(('host1', 'kza'), ('host1', 'kzb'))
        finally:
            try:
                super().tearDownClass()     # leaks inside the host, then lab down
            except AssertionError as e:
                failed.append(str(e))
        left = labtest.leftovers(cls.before)
        if left:
            failed.append(f'left behind by the lab: {left}')
        if failed:
            raise AssertionError('\n'.join(failed))

    # ------------------------------------------------------------ helpers

    def zoneadm(self, *args, check=True):
        return self.exec('host1', 'zoneadm', *args, check=check, timeout=300)

    def state(self, zone):
        return self.zoneadm('-z', zone, 'list', '-p').stdout.strip().split(':')[2]

    def active(self, zone):
        return self.exec('host1', 'systemctl', 'is-active', f'zone@{zone}', check=False).stdout.strip()

    def console(self, zone):
        return self.exec('host1', 'cat', f'/var/log/zones/{zone}.console', check=False).stdout

    def boots(self, zone):
        """Boot ids of the zone's guests, oldest first."""
        return BOOT.findall(self.console(zone))

    def last_heartbeat(self, zone):
        hb = [(m.group(1), int(m.group(2))) for m in HB.finditer(self.console(zone))]
        return hb[-1] if hb else (None, 0)

    def wait_heartbeat(self, zone, boot, above=0, timeout=60):
        """Waits for a heartbeat of boot id BOOT with a counter above ABOVE."""
        def beat():
            b, n = self.last_heartbeat(zone)
            return n if b == boot and n > above else None
        return self.wait_for(beat, timeout=timeout, msg=f'a heartbeat of {zone} boot {boot} above {above}')

    def wait_new_boot(self, zone, old, timeout=60):
        """Waits for a guest of ZONE whose boot id is not in OLD; returns it."""
        def new():
            b = self.boots(zone)
            return b[-1] if b and b[-1] not in old else None
        return self.wait_for(new, timeout=timeout, msg=f'a new guest of {zone}')

    def qemus(self):
        r = self.exec('host1', 'sh', '-c', 'pgrep -a qemu-system || true')
        return sorted(re.findall(r'-name guest=(\w+)', r.stdout))

    def reboot(self):
        """`lab reboot host1`; returns how long it took, as lab measured it."""
        pid = labtest.state()['hosts']['host1']['pid']
        t0 = time.monotonic()
        r = labtest.lab('reboot', 'host1', timeout=400)
        took = time.monotonic() - t0
        sys.stderr.write(r.stderr)
        self.assertEqual(r.returncode, 0, f'lab reboot host1 failed:\n{r.stdout}{r.stderr}')
        h = labtest.state()['hosts']['host1']
        self.assertNotEqual(h['pid'], pid, 'the host has the systemd it had before the reboot')
        self.assertTrue(h['last_reboot']['clean'], h)
        # the host really booted again: its PID 1 is younger than the reboot
        age = int(self.exec('host1', 'ps', '-o', 'etimes=', '-p', '1').stdout)
        self.assertLessEqual(age, took + 1)
        self.assertEqual(self.exec('host1', 'hostname').stdout.strip(), 'host1')
        self.assertEqual(self.exec('host1', 'cat', '/etc/machine-id').stdout.strip(), h['machine_id'])
        self.assertIn(self.exec('host1', 'systemctl', 'is-system-running', check=False).stdout.strip(),
                      ('running', 'degraded'))
        return h['last_reboot']

    def assert_stays_down(self, zone, boots_before, hb_before):
        self.assertEqual(self.state(zone), 'installed')
        self.assertEqual(self.active(zone), 'inactive')
        self.assertEqual(self.boots(zone), boots_before, f'{zone} booted a guest')
        self.assertEqual(self.last_heartbeat(zone), hb_before, f'{zone} has a heartbeat')

    # ------------------------------------------------------------ tests

    def test_1_autoboot_zone_comes_back_after_a_host_reboot(self):
        self.assertEqual(self.exec('host1', 'zonecfg', '-z', 'kza', 'info', 'autoboot').stdout.split(),
                         ['autoboot:', 'true'])
        self.assertEqual(self.exec('host1', 'zonecfg', '-z', 'kzb', 'info', 'autoboot').stdout.split(),
                         ['autoboot:', 'false'])
        old = {}
        for zone in ('kza', 'kzb'):
            self.zoneadm('-z', zone, 'boot')
            self.assertEqual(self.state(zone), 'running')
            old[zone] = self.wait_new_boot(zone, [])
            self.wait_heartbeat(zone, old[zone], 1)
        self.assertEqual(self.qemus(), ['kza', 'kzb'])
        acpi = {zone: ACPI_READY in self.console(zone) for zone in ('kza', 'kzb')}

        took = self.reboot()
        print(f'\nlab reboot host1 with two running zones: {took}', file=sys.stderr)

        # kza: started by the host's boot, a new guest, beating on
        self.wait_for(lambda: self.state('kza') == 'running', timeout=60, msg='kza running')
        self.assertEqual(self.active('kza'), 'active')
        new = self.wait_new_boot('kza', [old['kza']])
        n = self.wait_heartbeat('kza', new)
        self.wait_heartbeat('kza', new, n + 2)
        self.assertEqual(self.boots('kza')[-2:], [old['kza'], new], 'one new guest of kza, not more')
        # ... because the generator wants it from multi-user.target
        self.exec('host1', 'test', '-L', f'{WANTS}/zone@kza.service')
        self.assertEqual(self.exec('host1', 'systemctl', 'is-enabled', 'zone@kza', check=False).stdout.strip(),
                         'enabled-runtime')
        deps = self.exec('host1', 'systemctl', 'list-dependencies', '--plain', '--no-legend',
                         'multi-user.target').stdout.split()
        self.assertIn('zone@kza.service', deps)
        self.assertNotIn('zone@kzb.service', deps)

        # kzb: installed, not running, no guest since the reboot
        self.exec('host1', 'test', '!', '-e', f'{WANTS}/zone@kzb.service')
        boots_kzb, hb_kzb = self.boots('kzb'), self.last_heartbeat('kzb')
        # time passes while kza beats three more times: kzb must not have started meanwhile
        self.wait_heartbeat('kza', new, self.wait_heartbeat('kza', new) + 3)
        self.assert_stays_down('kzb', boots_kzb, hb_kzb)
        self.assertEqual(self.boots('kzb')[-1], old['kzb'])
        self.assertEqual(self.qemus(), ['kza'])

        # the host's shutdown stopped both guests with the ACPI power button
        # (autoshutdown=shutdown, the default); only a guest that has one can say so
        for zone in ('kza', 'kzb'):
            line = f'kzguest: power button: powering off (boot={old[zone]}'
            # the test guest and its QEMU command line are ours: a guest without the button is a bug
            self.assertTrue(acpi[zone], f'{zone}: the guest found no ACPI power button, so the power-off '
                            'by the host\'s shutdown cannot be checked')
            self.assertIn(line, self.console(zone), f'{zone} was not powered off by the power button')

        # the zone behaves as any booted zone: zoneadm halts it
        self.zoneadm('-z', 'kza', 'halt')
        self.assertEqual(self.state('kza'), 'installed')
        self.assertEqual(self.qemus(), [])
        self.zoneadm('-z', 'kza', 'boot')
        self.wait_heartbeat('kza', self.wait_new_boot('kza', [old['kza'], new]))

    def test_2_autoboot_false_nothing_comes_back(self):
        self.exec('host1', 'zonecfg', '-z', 'kza', 'set autoboot=false')
        self.assertEqual(self.exec('host1', 'zonecfg', '-z', 'kza', 'info', 'autoboot').stdout.split(),
                         ['autoboot:', 'false'])
        if self.state('kzb') != 'running':
            self.zoneadm('-z', 'kzb', 'boot')
        for zone in ('kza', 'kzb'):
            self.assertEqual(self.state(zone), 'running')
            self.wait_heartbeat(zone, self.boots(zone)[-1])

        took = self.reboot()
        print(f'\nlab reboot host1, autoboot=false: {took}', file=sys.stderr)

        boots = {zone: self.boots(zone) for zone in ('kza', 'kzb')}
        beats = {zone: self.last_heartbeat(zone) for zone in ('kza', 'kzb')}
        self.exec('host1', 'test', '!', '-e', f'{WANTS}/zone@kza.service')
        self.assertNotIn('zone@kza.service', self.exec('host1', 'systemctl', 'list-dependencies', '--plain',
                                                       '--no-legend', 'multi-user.target').stdout.split())
        # the host has finished booting; give a late start every chance to show
        time.sleep(5)
        for zone in ('kza', 'kzb'):
            self.assert_stays_down(zone, boots[zone], beats[zone])
        self.assertEqual(self.qemus(), [])
        self.assertEqual(self.zoneadm('list').stdout.split(), ['global'])


if __name__ == '__main__':
    labtest.main()
