#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every default-mode zonecfg example of the Kernel Zones guide, run against the built
zonecfg in a scratch root. Interactive examples are typed on a pseudo-terminal and the
whole transcript (prompts, echoed commands, output) must read as the guide prints it;
the guide's Solaris names (SYSsolaris-kz, solaris-kz) are the Linux ones here (SYSkz, kz)."""

import os
import unittest

from kztest import Session, ZoneTest


class GuideExamples(ZoneTest):

    def transcript(self, zone, text):
        """Types the commands of a guide transcript and compares what the terminal shows."""
        expected = text.strip('\n') + '\n'
        s = self.interactive(zone)
        commands = [line.split('> ', 1)[1] for line in expected.splitlines() if line.startswith('zonecfg:')]
        for c in commands[:-1]:
            s.send(c)
        rc = s.close(commands[-1])
        shown = s.transcript.rstrip(' \n') + '\n'
        if shown.startswith("Use 'create'"):
            shown = shown.split('\n', 1)[1]
        self.assertEqual(shown, expected)
        return rc

    def create(self, zone='kzone1', *extra):
        self.zonecfg(zone, ';'.join(('create -t SYSkz',) + extra))

    # Chapter 1

    def test_1_1_enable_ssm(self):
        self.create()
        rc = self.transcript('kzone1', '''
zonecfg:kzone1> info host-compatible
host-compatible: memlzs
zonecfg:kzone1> set host-compatible=adi
zonecfg:kzone1> exit
''')
        self.assertEqual(rc, 0)
        self.assertEqual(self.zonecfg('kzone1', 'info host-compatible').stdout, 'host-compatible: adi\n')
        # The guide then runs "zonecfg -z kzone1 boot": not a zonecfg subcommand.
        p = self.zonecfg('kzone1', 'boot', check=False)
        self.assertRefused(p, 'boot is not a zonecfg command')

    def test_1_3_unset_property_shows_nothing(self):
        self.create('kzone1', 'clear host-compatible')
        rc = self.transcript('kzone1', '''
zonecfg:kzone1> info host-compatible
zonecfg:kzone1> set host-compatible=level1
zonecfg:kzone1> exit
''')
        self.assertEqual(rc, 0)
        self.assertIn(b'host-compatible="level1"', self.stored('kzone1'))

    def test_1_4_clear_host_compatible(self):
        self.create()
        self.zonecfg('kzone1', 'clear', 'host-compatible')
        self.assertEqual(self.zonecfg('kzone1', 'info', 'host-compatible').stdout, '')
        self.assertNotIn(b'host-compatible', self.stored('kzone1'))

    # Chapter 2

    def test_configure_a_kernel_zone(self):
        s = Session([self.zonecfg_bin, '-R', self.root, '-z', 'kzone'])
        first = s.wait_prompt()
        self.assertEqual(first, "Use 'create' to begin configuring a new zone.\nzonecfg:kzone> ")
        s.send('create -t SYSkz')
        s.send('commit')
        self.assertEqual(s.close('exit'), 0)
        info = self.zonecfg('kzone', 'info').stdout
        self.assertTrue(info.startswith('zonename: kzone\nbrand: kz\n'), info)
        self.assertIn('keysource:\n    raw: redacted\n', info)

    def test_2_1_dedicated_cpu(self):
        self.create()
        rc = self.transcript('kzone1', '''
zonecfg:kzone1> info dedicated-cpu
zonecfg:kzone1> add dedicated-cpu
zonecfg:kzone1:dedicated-cpu> set cpus=8-15
zonecfg:kzone1:dedicated-cpu> end
zonecfg:kzone1> info dedicated-cpu
dedicated-cpu:
    cpus: 8-15
zonecfg:kzone1> exit
''')
        self.assertEqual(rc, 0)
        self.assertIn(b'<dedicated-cpu cpus="8-15"/>', self.stored('kzone1'))

    def test_2_2_capped_memory_2048m(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> select capped-memory
zonecfg:kzone1:capped-memory> set physical=2048m
zonecfg:kzone1:capped-memory> end ; exit
''')
        self.assertIn('physical: 2G', self.zonecfg('kzone1', 'info capped-memory').stdout)

    def test_2_3_capped_memory_16g(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> select capped-memory
zonecfg:kzone1:capped-memory> set physical=16g
zonecfg:kzone1:capped-memory> end ; exit
''')
        self.assertIn(b'physical="16G"', self.stored('kzone1'))

    def test_2_4_largest_page_size(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> select capped-memory
zonecfg:kzone1:capped-memory> set physical=8G
zonecfg:kzone1:capped-memory> info
capped-memory:
    physical: 8G
    pagesize-policy: largest-available
zonecfg:kzone1:capped-memory> end ; exit
''')

    def test_2_5_clear_pagesize_policy(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> select capped-memory
zonecfg:kzone1:capped-memory> clear pagesize-policy
zonecfg:kzone1:capped-memory> end
zonecfg:kzone1> commit
zonecfg:kzone1> exit
''')
        self.assertNotIn(b'pagesize-policy', self.stored('kzone1'))

    def test_memory_reservation_pool(self):
        self.create('kz1', 'set capped-memory:physical=16G')
        self.transcript('kz1', '''
zonecfg:kz1> select capped-memory
zonecfg:kz1:capped-memory> clear pagesize-policy
zonecfg:kz1:capped-memory> set memory-reserve=zones
zonecfg:kz1:capped-memory> info
capped-memory:
    physical: 16G
    memory-reserve: zones
zonecfg:kz1:capped-memory> end
zonecfg:kz1> commit
zonecfg:kz1> exit
''')
        # without clearing pagesize-policy first, the guide's rule refuses it
        self.create('kz2')
        p = self.zonecfg('kz2', 'select capped-memory;set memory-reserve=zones;end', check=False)
        self.assertRefused(p, 'memory-reserve and pagesize-policy are mutually exclusive')

    def test_2_6_add_storage_device(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> add device
zonecfg:kzone1:device> set storage=dev:/dev/dsk/c9t0d0
zonecfg:kzone1:device> set bootpri=4
zonecfg:kzone1:device> end
zonecfg:kzone1> exit
''')
        self.assertIn(b'<device storage="dev:/dev/dsk/c9t0d0" id="1" bootpri="4"/>', self.stored('kzone1'))

    def test_2_7_boot_device_on_iscsi(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> select device id=0
zonecfg:kzone1:device> set storage=iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003
zonecfg:kzone1:device> end
zonecfg:kzone1> info device
device:
    storage: iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003
    id: 0
    bootpri: 0
zonecfg:kzone1> exit
''')

    def test_2_8_add_network_device(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> add anet
zonecfg:kzone1:anet> set id=3
zonecfg:kzone1:anet> info
anet 1:
    id: 3
zonecfg:kzone1:anet> end ; exit
''')
        self.assertIn(b'<anet id="3"/>', self.stored('kzone1'))

    def test_2_9_remove_network_device(self):
        self.create('kzone1', 'add anet;set configure-allowed-address=true;end')
        self.assertEqual(self.zonecfg('kzone1', 'info anet').stdout,
                         'anet:\n    configure-allowed-address: true\n    id: 0\n'
                         'anet:\n    configure-allowed-address: true\n    id: 1\n')
        self.zonecfg('kzone1', 'remove anet id=1')
        self.assertEqual(self.zonecfg('kzone1', 'info anet').stdout,
                         'anet:\n    configure-allowed-address: true\n    id: 0\n')

    def test_sriov_single_anet(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> select anet id=0
zonecfg:kzone1:anet> set lower-link=net1
zonecfg:kzone1:anet> set iov=auto
zonecfg:kzone1:anet> end ; exit
''')
        self.assertEqual(self.zonecfg('kzone1', 'info anet id=0').stdout,
                         'anet:\n    lower-link: net1\n    configure-allowed-address: true\n    iov: auto\n    id: 0\n')

    def test_2_10_confirm_iov(self):
        self.create('kzone1', 'select anet id=0;set lower-link=net1;set iov=auto;end')
        self.transcript('kzone1', '''
zonecfg:kzone1> select anet id=0
zonecfg:kzone1:anet> info
anet:
    lower-link: net1
    configure-allowed-address: true
    iov: auto
    id: 0
zonecfg:kzone1:anet> end
zonecfg:kzone1> exit
''')

    def test_2_11_iov_and_vlan(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> select anet id=0
zonecfg:kzone1:anet> set iov=auto
zonecfg:kzone1:anet> set vlan-id=11
zonecfg:kzone1:anet> end ; exit
''')
        self.assertIn(b'vlan-id="11"', self.stored('kzone1'))

    def test_2_12_dlmp_anet(self):
        s = self.interactive('kz1')
        s.send('create -t SYSkz')
        s.send('add anet')
        s.send('set lower-link=dlmp0')
        s.send('set iov=auto')
        s.send('set id=0')
        # The guide adds it with id 0, which the template's anet already has.
        out = s.send('end')
        self.assertIn('anet id=0 already exists.', out)
        s.send('set id=1')
        s.send('end')
        # saved; the exit status still reports the refused 'end'
        self.assertEqual(s.close('exit'), 1)
        self.assertIn(b'<anet lower-link="dlmp0" iov="auto" id="1"/>', self.stored('kz1'))

    def test_2_13_suspend_path(self):
        self.create('kz1')
        self.transcript('kz1', '''
zonecfg:kz1> add suspend
zonecfg:kz1:suspend> set path=/system/zones/kz1/suspend
zonecfg:kz1:suspend> end
zonecfg:kz1> info suspend
suspend:
    path: /system/zones/kz1/suspend
zonecfg:kz1> exit
''')

    def test_2_14_suspend_storage(self):
        self.create('kz1', 'add suspend;set path=/system/zones/kz1/suspend;end')
        self.transcript('kz1', '''
zonecfg:kz1> select suspend
zonecfg:kz1:suspend> clear path
zonecfg:kz1:suspend> set storage=iscsi://system/luname.naa.501337600144f0dbf8af1900
zonecfg:kz1:suspend> end ; exit
''')
        self.assertEqual(self.zonecfg('kz1', 'info suspend').stdout,
                         'suspend:\n    storage: iscsi://system/luname.naa.501337600144f0dbf8af1900\n')
        # path and storage together are refused
        p = self.zonecfg('kz1', 'select suspend;set path=/x;end', check=False)
        self.assertRefused(p, 'path and storage are mutually exclusive')

    def test_2_15_additional_vlans(self):
        rc = self.transcript('kzone0', '''
zonecfg:kzone0> create -t SYSkz
zonecfg:kzone0> select anet id=0
zonecfg:kzone0:anet> set mac-address=0:1:2:3:4:5
zonecfg:kzone0:anet> set vlan-id=11
zonecfg:kzone0:anet> add vlan
zonecfg:kzone0:anet:vlan> set vlan-id=45
zonecfg:kzone0:anet:vlan> end
zonecfg:kzone0:anet> add vlan
zonecfg:kzone0:anet:vlan> set vlan-id=46
zonecfg:kzone0:anet:vlan> end
zonecfg:kzone0:anet> info vlan
    vlan 0:
        vlan-id: 45
    vlan 1:
        vlan-id: 46
zonecfg:kzone0:anet> end
zonecfg:kzone0> commit ; exit
''')
        self.assertEqual(rc, 0)
        xml = self.stored('kzone0')
        self.assertIn(b'mac-address="0:1:2:3:4:5" vlan-id="11"', xml)
        self.assertIn(b'<vlan vlan-id="45"/>', xml)

    def test_dynamic_mac_and_vlan(self):
        self.create('kernel-zone')
        rc = self.transcript('kernel-zone', '''
zonecfg:kernel-zone> add anet
zonecfg:kernel-zone:anet> add mac
zonecfg:kernel-zone:anet:mac> add allowed-mac-address fa:16:3f
zonecfg:kernel-zone:anet:mac> end
zonecfg:kernel-zone:anet> add vlan
zonecfg:kernel-zone:anet:vlan> add allowed-vlan-ids 100-199
zonecfg:kernel-zone:anet:vlan> end
zonecfg:kernel-zone:anet> end ; exit
''')
        self.assertEqual(rc, 0)
        self.assertIn(b'<mac allowed-mac-address="fa:16:3f"/>', self.stored('kernel-zone'))
        self.assertIn(b'<vlan allowed-vlan-ids="100-199"/>', self.stored('kernel-zone'))

    # Chapter 3

    def test_3_7_create_from_another_zone(self):
        self.create('kzone1', 'set capped-memory:physical=8G')
        self.zonecfg('kzone2', 'create -t kzone1')
        one = self.zonecfg('kzone1', 'export').stdout
        two = self.zonecfg('kzone2', 'export').stdout
        self.assertIn('set physical=8G', two)
        # same configuration, but its own key
        strip = lambda s: [l for l in s.splitlines() if not l.startswith('set raw=')]
        self.assertEqual(strip(one), strip(two))
        self.assertNotEqual(one, two)

    def test_3_8_create_from_archive_refused(self):
        p = self.zonecfg('kzone2', 'create -a /var/tmp/kzone1.uar', check=False)
        self.assertRefused(p, 'create -a (from a Unified Archive) is not supported')
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/kzone2.xml')))

    # Chapter 4 (default mode)

    def test_4_batch_virtual_cpu(self):
        self.create('kz1')
        self.zonecfg('kz1', 'select virtual-cpu;set ncpus=8;end')
        self.assertEqual(self.zonecfg('kz1', 'info virtual-cpu').stdout, 'virtual-cpu:\n    ncpus: 8\n')

    def test_4_live_mode_needs_the_restarter_not_an_alternate_root(self):
        # live mode edits what the restarter keeps for a running zone: never ROOT's files
        self.create('kzone')
        p = self.zonecfg('kzone', '-r', 'info', check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('-r and -R exclude each other', p.stderr)

    def test_4_memory_live_reconfiguration_settings(self):
        self.create('somekz')
        self.transcript('somekz', '''
zonecfg:somekz> set host-compatible=level2
zonecfg:somekz> commit
zonecfg:somekz> exit
''')
        self.transcript('somekz', '''
zonecfg:somekz> set capped-memory:pagesize-policy=fixed
zonecfg:somekz> set capped-memory:pagesize=256M
zonecfg:somekz> commit
zonecfg:somekz> exit
''')
        self.transcript('somekz', '''
zonecfg:somekz> set capped-memory:physical=32G
zonecfg:somekz> commit
zonecfg:somekz> exit
''')
        self.assertEqual(self.zonecfg('somekz', 'info capped-memory').stdout,
                         'capped-memory:\n    physical: 32G\n    pagesize-policy: fixed\n    pagesize: 256M\n')

    def test_4_pagesize_too_small(self):
        self.create('kz1', 'set capped-memory:pagesize-policy=fixed', 'set capped-memory:pagesize=1G')
        self.transcript('kz1', '''
zonecfg:kz1> select capped-memory
zonecfg:kz1:capped-memory> set pagesize=1m
pagesize value is too small. It must be at least 2M.
zonecfg:kz1:capped-memory> set pagesize=2m
zonecfg:kz1:capped-memory> end
zonecfg:kz1> verify
zonecfg:kz1> exit
''')
        self.assertIn(b'pagesize="2M"', self.stored('kz1'))

    def test_4_memlzs_strict(self):
        self.create('kz3', 'set capped-memory:physical=16G')
        self.zonecfg('kz3', 'select capped-memory;set memlzs=strict;end')
        self.assertEqual(self.zonecfg('kz3', 'info capped-memory').stdout,
                         'capped-memory:\n    physical: 16G\n    pagesize-policy: largest-available\n'
                         '    memlzs: strict\n')
        self.zonecfg('kz3', 'select capped-memory;set physical=4g;end')
        self.assertIn('physical: 4G', self.zonecfg('kz3', 'info capped-memory').stdout)

    # Chapter 5

    def test_5_1_admin(self):
        self.create()
        self.transcript('kzone1', '''
zonecfg:kzone1> add admin
zonecfg:kzone1:admin> set user=jdoe
zonecfg:kzone1:admin> set auths=migrate
zonecfg:kzone1:admin> end
zonecfg:kzone1> commit
zonecfg:kzone1> exit
''')
        self.assertEqual(self.zonecfg('kzone1', 'info admin').stdout, 'admin:\n    user: jdoe\n    auths: migrate\n')

    def test_5_4_cpu_arch_and_host_compatible(self):
        self.create('kzone1', 'set cpu-arch=generic', 'set host-compatible=native')
        self.transcript('kzone1', '''
zonecfg:kzone1> info cpu-arch host-compatible
cpu-arch: generic
host-compatible: native
zonecfg:kzone1> set cpu-arch=migration-class1
zonecfg:kzone1> set host-compatible=adi
zonecfg:kzone1> info cpu-arch host-compatible
cpu-arch: migration-class1
host-compatible: adi
zonecfg:kzone1> exit
''')

    def test_5_6_migration_class(self):
        self.create('kzone1', 'set cpu-arch=generic')
        self.transcript('kzone1', '''
zonecfg:kzone1> info cpu-arch
cpu-arch: generic
zonecfg:kzone1> set cpu-arch=migration-class4
zonecfg:kzone1> info cpu-arch
cpu-arch: migration-class4
zonecfg:kzone1> exit
''')

    def test_export_to_another_host_keeps_the_key(self):
        self.create('kzone1', 'add suspend;set storage=iscsi://system/luname.naa.501337600144f0dbf8af1900;end')
        path = os.path.join(self.root, 'kzone1.cfg')
        self.zonecfg('kzone1', 'export', '-f', path)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        other = os.path.join(self.root, 'global2')
        os.mkdir(other)
        self.zonecfg('kzone1', '-f', path, root=other)
        self.assertEqual(self.stored('kzone1'), self.stored('kzone1', root=other))

    def test_5_11_remove_device_and_commit(self):
        self.create('z3kz', 'add device;set storage=dev:/dev/zvol/dsk/rpool/VARSHARE/zones/z3kz/disk1;end')
        self.zonecfg('z3kz', 'remove device id=1;commit;exit')
        self.assertNotIn(b'id="1"', self.stored('z3kz'))

    def test_5_17_export_pipe_then_select_anet_0(self):
        self.create('kzone1')
        export = self.zonecfg('kzone1', 'export').stdout
        other = os.path.join(self.root, 'global2')
        os.mkdir(other)
        self.zonecfg('kzone1', '-f', '-', input=export, root=other)
        self.zonecfg('kzone1', 'select anet 0; set lower-link=net1;end', root=other)
        self.assertIn(b'lower-link="net1"', self.stored('kzone1', root=other))

    # Chapter 7

    def test_7_virtual_cdrom_device(self):
        self.create('kzone')
        self.transcript('kzone', '''
zonecfg:kzone> add device
zonecfg:kzone:device> set storage=dev:/dev/lofi/1
zonecfg:kzone:device> end
zonecfg:kzone> exit
''')
        self.assertIn(b'storage="dev:/dev/lofi/1"', self.stored('kzone'))

    def test_7_multiple_mac_addresses(self):
        self.create('kzone')
        self.transcript('kzone', '''
zonecfg:kzone> add anet
zonecfg:kzone:anet> add mac
zonecfg:kzone:anet:mac> end
zonecfg:kzone:anet> add mac
zonecfg:kzone:anet:mac> end
zonecfg:kzone:anet> end
zonecfg:kzone> exit
''')
        self.assertIn(b'<anet id="1">\n    <mac/>\n    <mac/>\n  </anet>', self.stored('kzone'))


if __name__ == '__main__':
    unittest.main(verbosity=2)
