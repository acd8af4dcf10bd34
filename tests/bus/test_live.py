#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live zone reconfiguration on a private bus: GetLiveConfiguration,
ReconfigureLive and Apply on kz1, whose unit 'runs' (fake-systemd) a real QEMU
with the kzguest kernel, built as the launcher builds it (maxcpus, virtio-mem).
kzguest has no virtio-mem driver and ignores extra vCPUs, but QEMU shows what
was done: query-cpus-fast counts the vCPUs added, and virtio-mem's size stays 0,
which makes memlzs=strict fail and leave the zone as it was."""

import json
import os
import shutil
import socket
import subprocess
import time
import unittest
import xml.etree.ElementTree as ET

from bustest import BUILD, ZONE_IFACE, FakeSystemdBusTest, zone_path
from kzbus import SYSTEMD_BUS

MIB = 1024 ** 2
NOBODY = 65534
KZGUEST = os.path.join(BUILD, 'tests/guest/kzguest.elf')


class Qmp:
    """A QMP client on the test's own monitor of the zone's QEMU."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.f = self.sock.makefile('rw')
        self.f.readline()
        self.cmd('qmp_capabilities')

    def cmd(self, name, **args):
        self.f.write(json.dumps({'execute': name, 'arguments': args}) + '\n')
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if 'event' in m:
                continue
            return m

    def close(self):
        self.sock.close()


class NotRunning(FakeSystemdBusTest):
    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())

    def test_get_live_configuration_of_a_zone_that_is_not_running(self):
        p = self.zone_call('kz1', 'GetLiveConfiguration', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("zone 'kz1' is not running", p.stderr)
        self.assertEqual(self.prop('kz1', 'LiveGeneration'), 0)

    def test_reconfigure_live_is_root_only(self):
        p = self.zone_call('kz1', 'ReconfigureLive', 'sta{sv}', '<zone/>', 1, 0, check=False, user=NOBODY)
        self.assertNotEqual(p.returncode, 0)
        # busctl shows any AccessDenied so
        self.assertIn('Access denied', p.stderr)

    def test_apply_of_a_zone_that_is_not_running(self):
        p = self.zone_call('kz1', 'Apply', 'a{sv}', 0, check=False)
        self.assertIn("zone 'kz1' is not running", p.stderr)


@unittest.skipUnless(os.access('/dev/kvm', os.R_OK | os.W_OK) and os.path.exists(KZGUEST) and
                     shutil.which('qemu-system-x86_64'), 'needs /dev/kvm, QEMU and kzguest')
class Running(FakeSystemdBusTest):
    """kz1 with 1 vCPU and 256M, running kzguest in a real QEMU."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create; set autoshutdown=halt; select virtual-cpu; set ncpus=1; end; '
                     'select capped-memory; set physical=256M; end; '
                     'add suspend; set path=/var/lib/zones/kz1/suspend.img; end; '
                     'add admin; set user=nobody; set auths=manage; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        self.run_dir = os.path.join(self.root, 'run/kzones/kz1')
        disk = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')
        test_sock = os.path.join(self.tmp, 'test-qmp.sock')
        # as zone_qemu_argv() builds it for this configuration (the unit tests hold
        # that), less the launcher's descriptors
        argv = ['qemu-system-x86_64', '-machine', 'q35,accel=kvm', '-cpu', 'qemu64',
                '-m', '256M,maxmem=1024M', '-smp', '1,maxcpus=16',
                '-object', 'memory-backend-ram,id=vmem0-mem,size=768M',
                '-device', 'virtio-mem-pci,id=vmem0,memdev=vmem0-mem,block-size=2097152,requested-size=0',
                '-nodefaults', '-no-user-config', '-display', 'none',
                '-chardev', f'socket,id=qmp,path={self.run_dir}/qmp.sock,server=on,wait=off',
                '-mon', 'chardev=qmp,mode=control',
                '-chardev', f'socket,id=control,path={self.run_dir}/control.sock,server=on,wait=off',
                '-mon', 'chardev=control,mode=control',
                '-chardev', f'socket,id=test,path={test_sock},server=on,wait=off',
                '-mon', 'chardev=test,mode=control',
                '-blockdev', json.dumps({'driver': 'raw', 'node-name': 'disk0',
                                         'file': {'driver': 'file', 'filename': disk}}),
                '-device', 'virtio-blk-pci,drive=disk0,id=disk0-dev',
                '-netdev', 'user,id=net0,restrict=on', '-device', 'virtio-net-pci,netdev=net0,id=net0-dev',
                '-kernel', KZGUEST]
        os.makedirs(self.run_dir, exist_ok=True)
        self.qemu_log = open(os.path.join(self.tmp, 'qemu.log'), 'w')
        self.addCleanup(self.qemu_log.close)
        self.qemu = subprocess.Popen(argv, stdout=self.qemu_log, stderr=self.qemu_log)
        self.addCleanup(self.stop, self.qemu)
        self.wait_for(lambda: self.connect(test_sock), what='QEMU to listen')
        self.addCleanup(self.qmp.close)
        self.busctl('call', SYSTEMD_BUS, '/org/kzones/test', 'org.kzones.Test', 'SetActiveState',
                    'ss', 'zone@kz1.service', 'active')
        self.wait_for(lambda: self.prop('kz1', 'State') == 'running', what='kz1 running')
        # QEMU was started here, not by kzones-zone exec, which writes live.xml: the
        # restarter takes the persistent configuration as generation 1 when it is missing
        self.assertEqual(self.live()[1], 1)

    def connect(self, path):
        try:
            self.qmp = Qmp(path)
            return True
        except (FileNotFoundError, ConnectionRefusedError):
            return False

    def cpus(self):
        return len(self.qmp.cmd('query-cpus-fast')['return'])

    def vmem(self, prop):
        return self.qmp.cmd('qom-get', path='/machine/peripheral/vmem0', property=prop)['return']

    def live(self):
        xml, gen = self.zone_call('kz1', 'GetLiveConfiguration')
        return ET.fromstring(xml), gen

    def live_file(self):
        with open(os.path.join(self.run_dir, 'live.xml')) as f:
            return f.read()

    @staticmethod
    def changed(tree, path, attr, value):
        tree.find(path).set(attr, value)
        return ET.tostring(tree, encoding='unicode')

    def reconfigure(self, xml, gen, dry_run=False, check=True):
        """ReconfigureLive's job: (state, error name, message)."""
        args = ['sta{sv}', xml, gen] + ([1, 'DryRun', 'b', 'true'] if dry_run else [0])
        out = self.call(zone_path('kz1'), ZONE_IFACE, 'ReconfigureLive', *args, check=check)
        if not isinstance(out, list):
            return None, None, out.stderr
        state, (name, text) = self.wait_job(out[0])
        return state, name, self.job_prop(out[0], 'Message')

    def test_live_configuration_as_launched(self):
        tree, gen = self.live()
        self.assertEqual(gen, 1)
        self.assertEqual(tree.get('zonename'), 'kz1')
        self.assertEqual(tree.find('virtual-cpu').get('ncpus'), '1')
        self.assertEqual(self.prop('kz1', 'LiveGeneration'), 1)
        self.assertEqual(os.stat(os.path.join(self.run_dir, 'live.xml')).st_mode & 0o777, 0o600)

    def test_a_zone_administrator_reads_it_without_the_key(self):
        self.assertIsNotNone(self.live()[0].find('keysource'))
        xml, gen = self.zone_call('kz1', 'GetLiveConfiguration', user=NOBODY)
        self.assertEqual(gen, 1)
        self.assertIsNone(ET.fromstring(xml).find('keysource'))
        self.assertEqual(ET.fromstring(xml).find('virtual-cpu').get('ncpus'), '1')
        # but does not change it
        p = self.zone_call('kz1', 'ReconfigureLive', 'sta{sv}', xml, gen, 0, check=False, user=NOBODY)
        self.assertIn('Access denied', p.stderr)

    def test_dry_run_changes_nothing(self):
        tree, gen = self.live()
        before = self.live_file()
        state, name, msg = self.reconfigure(self.changed(tree, 'virtual-cpu', 'ncpus', '2'), gen, dry_run=True)
        self.assertEqual(state, 'done')
        self.assertEqual(msg, 'Checking: Modifying virtual-cpu ncpus=2')
        self.assertEqual(self.cpus(), 1)
        self.assertEqual(self.prop('kz1', 'LiveGeneration'), 1)
        self.assertEqual(self.live_file(), before)

    def test_ncpus_up_then_suspend_refused_and_stale_generation(self):
        tree, gen = self.live()
        state, name, msg = self.reconfigure(self.changed(tree, 'virtual-cpu', 'ncpus', '2'), gen)
        self.assertEqual((state, msg), ('done', 'Applying the changes'), self.daemon_log())
        self.assertEqual(self.cpus(), 2)
        tree2, gen2 = self.live()
        self.assertEqual(gen2, 2)
        self.assertEqual(tree2.find('virtual-cpu').get('ncpus'), '2')
        # its virtual machine is no longer what its configuration starts: no suspend (a
        # resume could not build it), nor a migration, until a reboot
        p = self.zone_call('kz1', 'Suspend', check=False)
        self.assertIn("zone 'kz1' was reconfigured live since it booted", p.stderr)
        self.assertIn('reboot it first, then suspend it', p.stderr)
        # the old generation is refused, and nothing changes
        state, name, msg = self.reconfigure(self.changed(tree, 'virtual-cpu', 'ncpus', '3'), gen, check=False)
        self.assertIn('the live configuration has changed externally', msg)
        self.assertEqual(self.cpus(), 2)
        # apply: the persistent configuration again (the guest keeps its boot vCPU; the
        # one added goes only if the guest lets it: kzguest does not, so partially)
        out = self.zone_call('kz1', 'Apply', 'a{sv}', 0, wait=False)
        state, _ = self.wait_job(out[0])
        self.assertEqual(state, 'done')
        self.assertEqual(self.job_prop(out[0], 'Message'),
                         'warning: operation succeeded partially for virtual cpus (requested: 1, final: 2)')

    def test_change_behind_our_back_is_found(self):
        tree, gen = self.live()
        slot = [s for s in self.qmp.cmd('query-hotpluggable-cpus')['return'] if 'qom-path' not in s][-1]
        r = self.qmp.cmd('device_add', driver=slot['type'], id='theirs', **slot['props'])
        self.assertIn('return', r, r)
        state, name, msg = self.reconfigure(self.changed(tree, 'capped-memory', 'memlzs', 'strict'), gen, check=False)
        self.assertEqual((state, name), ('failed', 'org.kzones.Error.LiveConfigChanged'))
        self.assertEqual(msg, 'the live configuration has changed externally')
        tree2, gen2 = self.live()
        self.assertEqual(gen2, 2)
        self.assertEqual(tree2.find('virtual-cpu').get('ncpus'), '2')

    def test_strict_memory_that_cannot_be_reached_fails_unchanged(self):
        tree, gen = self.live()
        tree.find('capped-memory').set('memlzs', 'strict')
        state, name, msg = self.reconfigure(self.changed(tree, 'capped-memory', 'physical', '512M'), gen,
                                            check=False)
        self.assertEqual(state, 'failed')
        self.assertEqual(msg, "Modifying capped-memory physical=512M failed: operation could not reach the "
                         "required memory settings and the memlzs property was set to 'strict' forcing the "
                         "operation to fail. Clear the capped-memory's memlzs property to accept partial success.")
        self.assertEqual(self.vmem('requested-size'), 0)
        self.assertEqual(self.vmem('size'), 0)
        tree2, _ = self.live()
        self.assertEqual(tree2.find('capped-memory').get('physical'), '256M')

    def test_memory_not_reached_is_a_partial_success(self):
        tree, gen = self.live()
        state, name, msg = self.reconfigure(self.changed(tree, 'capped-memory', 'physical', '512M'), gen)
        self.assertEqual((state, msg), ('done', 'warning: operation succeeded partially for capped memory '
                                         '(requested: 512M, final: 256M)'))
        # kzguest never plugs it: QEMU no longer asks it to
        self.assertEqual(self.vmem('requested-size'), 0)
        tree2, gen2 = self.live()
        self.assertEqual((tree2.find('capped-memory').get('physical'), gen2), ('256M', 1))

    def test_apply_dry_run_and_nothing_to_apply(self):
        self.zonecfg('kz1', 'select virtual-cpu; set ncpus=3; end')
        out = self.zone_call('kz1', 'Apply', 'a{sv}', 1, 'DryRun', 'b', 'true', wait=False)
        self.assertEqual(self.wait_job(out[0])[0], 'done')
        self.assertEqual(self.job_prop(out[0], 'Message'), 'Checking: Modifying virtual-cpu ncpus=3')
        self.assertEqual(self.cpus(), 1)
        self.zonecfg('kz1', 'select virtual-cpu; set ncpus=1; end')
        out = self.zone_call('kz1', 'Apply', 'a{sv}', 0, wait=False)
        self.assertEqual(self.wait_job(out[0])[0], 'done')
        self.assertEqual(self.job_prop(out[0], 'Message'), 'No changes to apply')
        self.assertEqual(self.prop('kz1', 'LiveGeneration'), 1)

    def test_refused_changes_apply_nothing(self):
        tree, gen = self.live()
        tree.find('virtual-cpu').set('ncpus', '2')
        state, name, msg = self.reconfigure(self.changed(tree, '.', 'host-compatible', 'level1'), gen, check=False)
        self.assertEqual(state, 'failed')
        self.assertEqual(msg, 'cannot change host-compatible of a running zone')
        self.assertEqual(self.cpus(), 1)
        self.assertEqual(self.prop('kz1', 'LiveGeneration'), 1)


if __name__ == '__main__':
    unittest.main()
