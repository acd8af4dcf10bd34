#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A zone boots kzlinux, the Linux test guest (tests/guest/linux): Debian's
kernel from /usr/share/kzones/guest/linux, read by the confined QEMU user,
with the zone's NIC and disk seen by the guest's own drivers, and powers off on
the ACPI power button (zoneadm shutdown)."""

import os
import subprocess
import time
import unittest

import labtest

ZONE = 'kzl'
# A Linux kernel boots in about a second where the host's KVM runs it natively;
# on a host whose KVM emulates the guest kernel (nested kvm-pvm) it takes minutes.
BOOT_TIMEOUT = int(os.environ.get('KZ_LINUX_BOOT_TIMEOUT', '900'))


class LinuxGuest(labtest.LabTestCase, labtest.LinuxGuestHelpers):
    hosts = 1

    @classmethod
    def setUpClass(cls):
        reason = labtest.linux_guest_unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        super().setUpClass()
        try:
            labtest.use_accelerator('host1', labtest.linux_guest_accel())
            labtest.lab('exec', 'host1', 'zonecfg', '-z', ZONE,
                        'create -t SYSkz-minimal; set capped-memory:physical=512M; ' +
                        labtest.linux_guest_boot(interval=200), check=True, stdin=subprocess.DEVNULL)
            labtest.lab('exec', 'host1', 'zoneadm', '-z', ZONE, 'install', check=True, timeout=300,
                        stdin=subprocess.DEVNULL)
        except Exception:
            labtest.lab_down()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(('host1', ZONE))
        finally:
            super().tearDownClass()

    def test_1_boots_and_sees_its_devices(self):
        t0 = time.monotonic()
        self.zoneadm_on('host1', ZONE, 'boot')
        first = self.wait_linux('host1', ZONE, timeout=BOOT_TIMEOUT, msg=f'a first heartbeat of {ZONE}')
        print(f'kzlinux: first heartbeat {time.monotonic() - t0:.1f} s after zoneadm boot', flush=True)
        log = self.exec('host1', 'cat', f'/var/log/zones/{ZONE}.console').stdout
        boots = labtest.LINUX_BOOT.findall(log)
        self.assertEqual(len(boots), 1, log[-2000:])
        self.assertEqual(boots[0][0], first.boot)
        self.assertNotIn('kzlinux: error', log)
        # what the zone has: 1 vCPU, 512M (less what the kernel keeps), its anet and its disk
        self.assertEqual(first.cpus, 1, first)
        self.assertGreater(first.mem, 400 * 1024, first)
        self.assertLessEqual(first.mem, 512 * 1024, first)
        self.assertEqual(first.nics, ('eth0',), first)
        self.assertEqual(first.disks, ('vda',), first)
        # and it goes on beating
        later = self.wait_linux('host1', ZONE, boot=first.boot, after=first.n + 2, timeout=120)
        self.assertEqual(later[2:], first[2:])

    def test_2_power_button(self):
        self.wait_for(lambda: labtest.LINUX_POWER_READY.search(
            self.exec('host1', 'cat', f'/var/log/zones/{ZONE}.console').stdout), timeout=60,
            msg='the power button ready line')
        self.zoneadm_on('host1', ZONE, 'shutdown')
        self.assertEqual(self.listed('host1', ZONE), 'installed')
        log = self.exec('host1', 'cat', f'/var/log/zones/{ZONE}.console').stdout
        self.assertRegex(log, r'kzlinux: power button: powering off \(boot=[0-9a-f]{32} n=\d+\)')


if __name__ == '__main__':
    labtest.main()
