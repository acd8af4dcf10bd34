#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Issue 9's attacks, made on a private bus by an unprivileged zone administrator
(nobody, with auths=manage on the zone) and by root's mistakes: each is refused
with a clear message and changes nothing.

  - no command a file name carries runs (no shell anywhere);
  - no host file reaches a zone: only root names paths; a zone administrator's
    files are opened by zoneadm as that user, so /etc/shadow, a qcow2 image
    backed by it, and devices are refused;
  - a failed install never removes a file that was there before;
  - zone disks are 0600 in 0700 directories;
  - a zone's runtime files live in its own directory: a zone named 'kz3.fresh'
    does not touch zone kz3."""

import json
import os
import stat
import subprocess
import unittest

from bustest import MANAGER, BUILD, BusTest

NOBODY = 65534


class AsZoneAdmin(BusTest):
    """kz1, administered by nobody with the 'manage' auth."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create; add admin; set user=nobody; set auths=manage; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.disk = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')
        # a directory of the admin's own, for the files it makes
        self.home = os.path.join(self.tmp, 'admin')
        os.mkdir(self.home)
        os.chown(self.home, NOBODY, NOBODY)

    def admin_file(self, name, data=b'', size=None):
        path = os.path.join(self.home, name)
        with open(path, 'wb') as f:
            f.write(data)
            if size:
                f.truncate(size)
        os.chown(path, NOBODY, NOBODY)
        return path

    def assert_nothing_installed(self):
        self.assertEqual(self.prop('kz1', 'State'), 'configured')
        self.assertFalse(os.path.exists(self.disk), 'a boot disk was left behind')

    def test_a_file_name_runs_no_command(self):
        # the name is what a shell would run; the file itself is a fine raw image
        image = self.admin_file("x';cd \"$KZONES_ROOT\";touch pwned;'.img", size=4 * 1024 ** 2)
        p = self.zoneadm('-z', 'kz1', 'install', '-q', '-a', image, user=NOBODY)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'pwned')), 'the file name ran as a command')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')

    def test_etc_shadow_is_not_copied_into_the_zone(self):
        p = self.zoneadm('-z', 'kz1', 'install', '-a', '/etc/shadow', user=NOBODY)
        self.assertEqual(p.returncode, 1)
        self.assertIn("zoneadm: zone 'kz1': cannot read the image /etc/shadow: Permission denied", p.stderr)
        self.assert_nothing_installed()

    def test_only_root_names_a_path(self):
        for key in ('image', 'iso'):
            p = self.zone_call('kz1', 'Install', 'a{sv}', 1, key, 's', '/etc/shadow', check=False, user=NOBODY)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('Access denied', p.stderr)
            self.assert_nothing_installed()
        p = self.zone_call('kz1', 'Install', 'a{sv}', 1, 'image', 'u', 7, check=False)
        self.assertIn("install option 'image' is a file descriptor (h), or for root a path (s)", p.stderr)

    def test_a_qcow2_backed_by_etc_shadow_is_refused(self):
        image = os.path.join(self.home, 'evil.qcow2')
        self.run_cmd(['qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', image, '1M'])
        os.chown(image, NOBODY, NOBODY)
        p = self.zoneadm('-z', 'kz1', 'install', '-a', image, user=NOBODY)
        self.assertEqual(p.returncode, 1)
        self.assertIn('the image has a backing file; only a self-contained image can be installed', p.stderr)
        self.assert_nothing_installed()

    def test_a_qcow2_with_an_external_data_file_is_refused(self):
        image, data = os.path.join(self.home, 'split.qcow2'), os.path.join(self.home, 'split.data')
        self.run_cmd(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', f'data_file={data}', image, '1M'])
        for f in (image, data):
            os.chown(f, NOBODY, NOBODY)
        p = self.zoneadm('-z', 'kz1', 'install', '-a', image, user=NOBODY)
        self.assertEqual(p.returncode, 1)
        self.assertIn('the image keeps its data in an external data file', p.stderr)
        self.assert_nothing_installed()

    def test_devices_and_directories_are_refused(self):
        p = self.zoneadm('-z', 'kz1', 'install', '-a', '/dev/zero', user=NOBODY)
        self.assertIn('the image must be a regular file', p.stderr)
        self.assert_nothing_installed()
        p = self.zoneadm('-z', 'kz1', 'install', '-b', '/dev/null', user=NOBODY)
        self.assertIn('the ISO must be a regular file', p.stderr)
        p = self.zoneadm('-z', 'kz1', 'install', '-b', self.home, user=NOBODY)
        self.assertIn('the ISO must be a regular file', p.stderr)
        self.assert_nothing_installed()

    def test_the_admins_own_image_is_installed(self):
        image = os.path.join(self.home, 'base.qcow2')
        self.run_cmd(['qemu-img', 'create', '-q', '-f', 'qcow2', image, '8M'])
        self.run_cmd(['qemu-io', '-c', 'write -P 0x5a 1M 64k', image])
        os.chown(image, NOBODY, NOBODY)
        os.chmod(image, 0o600)  # root reads it only through the admin's descriptor
        p = self.zoneadm('-z', 'kz1', 'install', '-q', '-a', image, user=NOBODY)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(self.disk, 'rb') as f:
            f.seek(1024 ** 2)
            self.assertEqual(f.read(64 * 1024), b'\x5a' * 64 * 1024)


class DataLoss(BusTest):

    def test_a_failed_install_keeps_a_file_that_was_there(self):
        precious = os.path.join(self.root, 'srv/precious.img')
        os.makedirs(os.path.dirname(precious))
        with open(precious, 'wb') as f:
            f.write(b'precious' * 1000)
        self.zonecfg('kz1', 'create; select device id=0; set storage=file:///srv/precious.img; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        good = os.path.join(self.tmp, 'good.img')
        with open(good, 'wb') as f:
            f.truncate(4 * 1024 ** 2)
        p = self.zoneadm('-z', 'kz1', 'install', '-a', good)
        self.assertEqual(p.returncode, 1)
        self.assertIn('/srv/precious.img exists already; uninstall the zone or remove it first', p.stderr)
        with open(precious, 'rb') as f:
            self.assertEqual(f.read(), b'precious' * 1000)
        self.assertEqual(self.prop('kz1', 'State'), 'configured')

    def test_a_failed_copy_removes_only_the_disk_it_created(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        bad = os.path.join(self.tmp, 'cut.qcow2')
        self.run_cmd(['qemu-img', 'create', '-q', '-f', 'qcow2', bad, '8M'])
        with open(bad, 'r+b') as f:
            f.truncate(64)  # the header, cut short
        p = self.zoneadm('-z', 'kz1', 'install', '-a', bad)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')))
        self.assertEqual(self.prop('kz1', 'State'), 'configured')


class Modes(BusTest):

    def assert_private(self, disk):
        self.assertEqual(stat.S_IMODE(os.stat(disk).st_mode), 0o600, disk)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(disk)).st_mode), 0o700, os.path.dirname(disk))

    def test_installed_and_cloned_disks_are_private(self):
        os.umask(0o022)  # what a careless caller has; the restarter is not careless
        self.zonecfg('kz1', 'create')
        self.zonecfg('kz2', 'create -t kz1')
        self.zonecfg('kz3', 'create -t kz1')
        self.wait_for(lambda: len(self.zones()) == 3)
        image = os.path.join(self.tmp, 'base.img')
        with open(image, 'wb') as f:
            f.truncate(4 * 1024 ** 2)
        p = self.zoneadm('-z', 'kz1', 'install', '-q', '-a', image)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_private(os.path.join(self.root, 'var/lib/zones/kz1/disk0.img'))
        p = self.zoneadm('-z', 'kz2', 'clone', 'kz1')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_private(os.path.join(self.root, 'var/lib/zones/kz2/disk0.img'))
        self.zone_call('kz3', 'Install', 'a{sv}', 1, 'install-size', 't', 4 * 1024 ** 2)
        self.assert_private(os.path.join(self.root, 'var/lib/zones/kz3/disk0.img'))


class RuntimeFiles(BusTest):

    def test_a_zone_named_kz3_fresh_leaves_kz3_suspended(self):
        self.zonecfg('kz3', 'create; remove anet; add suspend; set path=/var/lib/zones/kz3/suspend.img; end')
        self.zonecfg('kz3.fresh', 'create -t kz3')
        self.wait_for(lambda: len(self.zones()) == 2)
        self.zone_call('kz3', 'Install', 'a{sv}', 1, 'install-size', 't', 4 * 1024 ** 2)
        # kz3 was suspended (its image is gone here, so its launcher must refuse to boot)
        marker = os.path.join(self.root, 'var/lib/kzones/kz3.suspended')
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, 'w') as f:
            f.write('/var/lib/zones/kz3/suspend.img\n')
        # the marker is not watched: the restarter reads it when it looks at its zones again
        self.call(*MANAGER, 'Rescan')
        self.wait_for(lambda: self.zones() and self.prop('kz3', 'AuxiliaryStates') == ['suspended'],
                      what='kz3 to read suspended')
        # zone kz3.fresh's runtime directory exists, as it does once that zone ran
        os.makedirs(os.path.join(self.root, 'run/kzones/kz3.fresh'))
        # what zone@kz3.service runs (its output in a file: a console relay it may start keeps pipes open)
        with open(os.path.join(self.tmp, 'launcher.log'), 'w+') as log:
            p = subprocess.run([os.path.join(BUILD, 'services/zone/kzones-zone'), 'exec', 'kz3'],
                               env=dict(self.env, KZONES_QEMU='/bin/false'), stdout=log, stderr=log, timeout=60)
            log.seek(0)
            out = log.read()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn('the suspend image', out)
        self.assertTrue(os.path.exists(marker), "kz3 forgot its suspended state because of zone 'kz3.fresh'")
        # why it did not start is kz3's launch result, in kz3's own directory
        with open(os.path.join(self.root, 'run/kzones/kz3/result')) as f:
            result = json.load(f)
        self.assertIn('the suspend image', result['reason'])
        self.assertEqual((result['step'], result['unavailable']), ('exec', False))
        self.assertEqual(os.listdir(os.path.join(self.root, 'run/kzones/kz3.fresh')), [])


if __name__ == '__main__':
    unittest.main(verbosity=2)
