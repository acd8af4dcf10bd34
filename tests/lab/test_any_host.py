#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Zones boot on a host nobody prepared for them: no bridge, no kzones
configuration, a default route as every real host has, and whatever CPU its
KVM offers. A zone made by plain 'create -t SYSkz' gets a macvtap on the
default route's link and the CPU model the restarter probed."""

import json
import re
import sys

import labtest
from kzbus import RESTARTER_BUS_NAME, RESTARTER_MANAGER_IFACE, RESTARTER_PATH

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
MANAGER = [RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE]
CLASSES = ['generic', 'migration-class1', 'migration-class2', 'migration-class3', 'migration-class4']


class PlainHost(labtest.LabTestCase):
    hosts = 1
    plain = True

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(*[('host1', z) for z in ('z', 'badlink', 'gen', 'big', 'v', 't')])
        finally:
            super().tearDownClass()

    def zoneadm(self, *args, check=True):
        return self.exec('host1', 'zoneadm', *args, check=check, timeout=300)

    def manager_prop(self, name):
        r = self.exec('host1', 'busctl', '--json=short', 'get-property', *MANAGER, name)
        return json.loads(r.stdout)['data']

    def macvtaps(self):
        """{name: (lower link, MAC)} of the host's macvtaps."""
        r = self.exec('host1', 'ip', '-j', '-d', 'link', 'show', 'type', 'macvtap')
        return {l['ifname']: (l.get('link'), l.get('address')) for l in json.loads(r.stdout or '[]')}

    def heartbeat(self, zone):
        r = self.exec('host1', 'cat', f'/var/log/zones/{zone}.console', check=False)
        return HB.search(r.stdout)

    def qemu_argv(self, zone):
        pid = self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', f'zone@{zone}').stdout.strip()
        return self.exec('host1', 'cat', f'/proc/{pid}/cmdline').stdout.split('\0')

    def create(self, zone, *extra):
        self.exec('host1', 'zonecfg', '-z', zone,
                  'create -t SYSkz; set capped-memory:physical=256m; '
                  f'add boot; set kernel={GUEST}; set cmdline="interval=100"; end' +
                  ''.join('; ' + e for e in extra))

    def test_1_a_plain_host(self):
        self.assertNotEqual(self.exec('host1', 'ip', 'link', 'show', 'kzbr0', check=False).returncode, 0,
                            'a plain host has no bridge')
        self.assertIn('default via', self.exec('host1', 'ip', 'route', 'show', 'default').stdout)
        self.assertEqual(self.exec('host1', 'ls', '/etc/systemd/system/zone@.service.d', check=False).stdout, '')

    def test_2_template_zone_boots_on_a_macvtap(self):
        self.create('z')
        # verify looks at the default route's link from inside the restarter's sandbox and
        # finds nothing wrong with it (SYSkz's 4 vCPUs may be more than a small host has)
        problems = self.zoneadm('-z', 'z', 'verify', check=False).stderr.splitlines()
        self.assertEqual([p for p in problems if 'ncpus=4 is more than' not in p], [])
        self.zoneadm('-z', 'z', 'install')
        self.zoneadm('-z', 'z', 'boot')
        self.assertEqual(self.zoneadm('-z', 'z', 'list', '-p').stdout.split(':')[2], 'running')
        self.wait_for(lambda: self.heartbeat('z'), timeout=60, msg='a heartbeat of z')
        taps = self.macvtaps()
        self.assertEqual(len(taps), 1, taps)
        name, (link, mac) = taps.popitem()
        self.assertEqual(link, 'eth0', 'the link of the default route')
        # the guest's NIC has the macvtap's MAC (else the macvtap drops its frames)
        argv = self.qemu_argv('z')
        nic = [a for a in argv if a.startswith('virtio-net-pci,')]
        self.assertEqual(len(nic), 1, argv)
        self.assertIn(f'mac={mac}', nic[0])
        log = self.exec('host1', 'journalctl', '-u', 'zone@z', '--no-pager', '-o', 'cat').stdout
        self.assertIn("zone 'z': anet 0: a macvtap on eth0 (the default route's link), MAC " + mac, log)
        # its CPU is the native model the restarter probed
        native = self.manager_prop('NativeCpuModel')
        self.assertTrue(native.startswith('host'), native)
        self.assertEqual(argv[argv.index('-cpu') + 1], native)

    def test_3_halt_removes_the_macvtap(self):
        self.zoneadm('-z', 'z', 'halt')
        self.assertEqual(self.macvtaps(), {}, 'nothing left on the host')
        # and it boots again on a new one
        self.zoneadm('-z', 'z', 'boot')
        self.assertEqual(len(self.macvtaps()), 1)
        self.zoneadm('-z', 'z', 'halt')
        self.assertEqual(self.macvtaps(), {})

    def test_4_lower_link_that_does_not_exist(self):
        self.create('badlink', 'select anet id=0; set lower-link=nosuch0; end')
        self.zoneadm('-z', 'badlink', 'install')
        r = self.zoneadm('-z', 'badlink', 'boot', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("anet 0: lower-link 'nosuch0' does not exist on this host", r.stderr)
        self.assertEqual(self.macvtaps(), {})

    def test_5_cpu_classes(self):
        classes = self.manager_prop('CpuMigrationClasses')
        self.assertIn('generic', classes)
        self.create('gen', 'set cpu-arch=generic')
        self.zoneadm('-z', 'gen', 'install')
        self.zoneadm('-z', 'gen', 'boot')
        self.wait_for(lambda: self.heartbeat('gen'), timeout=60, msg='a heartbeat of gen')
        argv = self.qemu_argv('gen')
        self.assertTrue(argv[argv.index('-cpu') + 1].endswith(',enforce'), argv)
        self.zoneadm('-z', 'gen', 'halt')
        missing = [c for c in CLASSES if c not in classes]
        if not missing:
            self.skipTest('this host runs every migration class: none to refuse')
        self.create('big', f'set cpu-arch={missing[-1]}')
        self.zoneadm('-z', 'big', 'install')
        r = self.zoneadm('-z', 'big', 'boot', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f'cpu-arch={missing[-1]} needs CPU features that this host does not offer: ', r.stderr)
        self.assertIn('This host runs cpu-arch native, generic', r.stderr)
        self.assertEqual(self.zoneadm('-z', 'big', 'list', '-p').stdout.split(':')[2], 'installed')


    def links(self, kind):
        r = self.exec('host1', 'ip', '-j', '-d', 'link', 'show', 'type', kind)
        return json.loads(r.stdout or '[]')

    def kernel_can(self, *ip):
        """Whether this kernel makes such a link (some have no VLAN devices or VLAN filtering)."""
        r = self.exec('host1', 'ip', 'link', 'add', *ip, check=False)
        if r.returncode == 0:
            self.exec('host1', 'ip', 'link', 'del', ip[ip.index('name') + 1] if 'name' in ip else ip[0])
        return r.returncode == 0, r.stderr.strip()

    def test_6_vlan_on_a_macvtap(self):
        self.create('v', 'select anet id=0; set vlan-id=45; end')
        self.zoneadm('-z', 'v', 'install')
        can, why = self.kernel_can('link', 'eth0', 'name', 'kzt.45', 'type', 'vlan', 'id', '45')
        if not can:
            r = self.zoneadm('-z', 'v', 'boot', check=False)
            self.assertIn("anet 0: cannot make VLAN 45 on 'eth0': this host's kernel has no 802.1Q VLAN devices",
                          r.stderr)
            self.assertEqual(self.macvtaps(), {})
            # what a user of this host sees; on a kernel with 802.1Q the VLAN device is checked below
            print(f'this kernel makes no VLAN devices ({why}): its refusal was checked', file=sys.stderr)
            return
        # a macvtap on the anet's VLAN: a VLAN device on the default route's link, gone with the zone
        self.zoneadm('-z', 'v', 'boot')
        vlans = [l for l in self.links('vlan') if l['linkinfo']['info_data']['id'] == 45]
        self.assertEqual(len(vlans), 1, vlans)
        self.assertEqual(vlans[0]['link'], 'eth0')
        self.assertEqual([link for link, mac in self.macvtaps().values()], [vlans[0]['ifname']])
        self.zoneadm('-z', 'v', 'halt')
        self.assertEqual(self.macvtaps(), {})
        self.assertEqual(self.links('vlan'), [], 'the VLAN device made for the zone goes with it')

    def test_7_vlans_on_a_bridge(self):
        # tagged VLANs need a bridge
        self.create('t', 'select anet id=0; set vlan-id=45; add vlan; set vlan-id=46; end; end')
        self.zoneadm('-z', 't', 'install')
        r = self.zoneadm('-z', 't', 'boot', check=False)
        self.assertIn('anet 0: tagged VLANs (vlan resources) need a bridge as lower-link', r.stderr)
        # on a bridge: the untagged VLAN and the tagged ones, when the bridge filters VLANs
        self.exec('host1', 'ip', 'link', 'add', 'kzt-br', 'type', 'bridge')
        self.addCleanup(self.exec, 'host1', 'ip', 'link', 'del', 'kzt-br', check=False)
        self.exec('host1', 'ip', 'link', 'set', 'kzt-br', 'up')
        self.exec('host1', 'zonecfg', '-z', 't', 'select anet id=0; set lower-link=kzt-br; end')
        r = self.zoneadm('-z', 't', 'boot', check=False)
        self.assertIn("anet 0: VLANs on bridge 'kzt-br' need VLAN filtering on it", r.stderr)
        r = self.exec('host1', 'ip', 'link', 'set', 'kzt-br', 'type', 'bridge', 'vlan_filtering', '1', check=False)
        if r.returncode != 0:
            # a kernel without bridge VLAN filtering: the refusal above is what its users see
            print(f'this kernel has no bridge VLAN filtering ({r.stderr.strip()}): its refusal was checked',
                  file=sys.stderr)
            return
        self.zoneadm('-z', 't', 'boot')
        ports = json.loads(self.exec('host1', 'bridge', '-j', 'vlan', 'show').stdout)
        tap = [p for p in ports if p['ifname'].startswith('kz')]
        self.assertEqual(len(tap), 1, ports)
        vids = {v['vlan']: v.get('flags', []) for v in tap[0]['vlans']}
        self.assertEqual(set(vids), {45, 46}, vids)
        self.assertIn('PVID', vids[45])
        self.assertIn('Egress Untagged', vids[45])
        self.assertNotIn('PVID', vids[46])
        self.zoneadm('-z', 't', 'halt')


    def test_8_console_relay_comes_back(self):
        self.zoneadm('-z', 'z', 'boot')
        self.wait_for(lambda: self.heartbeat('z'), timeout=60, msg='a heartbeat of z')
        # the relay is the youngest kz-console (its supervisor is the other)
        relay = self.exec('host1', 'pgrep', '-n', '-x', 'kz-console').stdout.strip()
        self.exec('host1', 'kill', '-9', relay)
        self.wait_for(lambda: self.exec('host1', 'pgrep', '-n', '-x', 'kz-console').stdout.strip() not in ('', relay),
                      timeout=10, msg='a new relay')
        size = len(self.exec('host1', 'cat', '/var/log/zones/z.console').stdout)
        self.wait_for(lambda: len(self.exec('host1', 'cat', '/var/log/zones/z.console').stdout) > size + 100,
                      timeout=30, msg='the console log growing again')
        # a console client is served again: it reads the guest's heartbeat
        r = self.exec('host1', 'python3', '-c', """
import socket, time
s = socket.socket(socket.AF_UNIX); s.connect('/run/kzones/z/console.sock'); s.settimeout(10)
buf = b''
end = time.monotonic() + 10
while b'kzguest: hb' not in buf and time.monotonic() < end:
    buf += s.recv(4096)
print('heartbeat' if b'kzguest: hb' in buf else 'nothing')
""")
        self.assertEqual(r.stdout.strip(), 'heartbeat')
        log = self.exec('host1', 'journalctl', '-u', 'zone@z', '--no-pager', '-o', 'cat').stdout
        self.assertIn("zone 'z': the console relay was killed by signal 9; starting it again", log)
        self.zoneadm('-z', 'z', 'halt')


if __name__ == '__main__':
    labtest.main()
