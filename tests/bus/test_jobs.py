#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Restarter jobs on a private bus: a zone method returns its job's path at once
while the work goes on; a second client reads the same job's progress and result;
Cancel of an install leaves no file behind; a job that cannot be cancelled says so;
a failed boot's reason reaches zoneadm through its job; Ctrl-C on zoneadm cancels
an install; the job interface matches its XML."""

import json
import os
import signal
import subprocess
import time

from bustest import BUILD, JOB_IFACE, JOB_PREFIX, MANAGER, BusTest, members, FakeSystemdBusTest
from kzbus import SYSTEMD_BUS

MIB = 1024 * 1024


class Jobs(BusTest):

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones(), what='kz1 to appear')
        self.disk = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')

    def image(self, size):
        """A raw image of size bytes that no copy can skip (no zero blocks), as root
        names it: its path under the alternate root."""
        os.makedirs(os.path.join(self.root, 'srv'), exist_ok=True)
        path = os.path.join(self.root, 'srv/image.raw')
        block = os.urandom(MIB)
        with open(path, 'wb') as f:
            for _ in range(size // MIB):
                f.write(block)
        return '/srv/image.raw'

    def start_install(self, size=768 * MIB):
        image = self.image(size)
        t = time.monotonic()
        out = self.zone_call('kz1', 'Install', 'a{sv}', 1, 'image', 's', image, wait=False)
        return out[0], time.monotonic() - t

    def managed_jobs(self):
        out = self.busctl('--json=short', 'call', self.bus_name, MANAGER[0], 'org.freedesktop.DBus.ObjectManager',
                          'GetManagedObjects').stdout
        return [p for p in json.loads(out)['data'][0] if p.startswith(JOB_PREFIX + '/')]

    def test_job_matches_its_xml(self):
        job, _ = self.start_install(8 * MIB)
        self.assertEqual(members(self.live_interface(job, JOB_IFACE)), members(self.documented_interface(JOB_IFACE)))
        self.wait_job(job)

    def test_install_returns_its_job_at_once_and_a_second_client_follows_it(self):
        job, took = self.start_install()
        self.assertLess(took, 1.0, 'Install held the call while it copied')
        # another client, knowing nothing of the call: the manager lists the job, the
        # object manager has it, its properties tell what it does
        self.assertEqual(self.job_prop(job, 'State'), 'running', 'the copy ended before it could be watched')
        listed = {j[5]: j for j in self.call(*MANAGER, 'ListJobs')[0]}
        self.assertIn(job, listed)
        self.assertEqual(listed[job][1:4], ['kz1', 'install', 'running'])
        self.assertIn(job, self.managed_jobs())
        self.assertEqual(self.prop('kz1', 'Job'), job)
        self.assertEqual(self.zones()['kz1'], 'incomplete')
        self.assertEqual(self.job_prop(job, 'Kind'), 'install')
        self.assertTrue(self.job_prop(job, 'Cancellable'))
        self.wait_for(lambda: self.job_prop(job, 'Progress') > 0, timeout=30, what='progress')
        state, result = self.wait_job(job)
        self.assertEqual((state, result), ('done', ['', '']))
        self.assertEqual(self.job_prop(job, 'Progress'), 1.0)
        # the copy's size, and all of it copied
        self.assertEqual(self.job_prop(job, 'BytesTotal'), 768 * MIB)
        self.assertEqual(self.job_prop(job, 'BytesDone'), 768 * MIB)
        self.assertEqual(self.zones()['kz1'], 'installed')
        self.assertEqual(self.prop('kz1', 'Job'), '/')
        # a finished job stays readable for late readers
        self.assertEqual(self.call(*MANAGER, 'ListJobs')[0][-1][4], 1.0)

    def test_cancel_of_an_install_leaves_no_file_behind(self):
        job, _ = self.start_install()
        p = self.call(job, JOB_IFACE, 'Cancel', check=False)
        self.assertEqual(p.returncode, 0, f'Cancel failed: {p.stderr}')
        state, result = self.wait_job(job)
        self.assertEqual(state, 'cancelled')
        self.assertEqual(result[0], 'org.kzones.Error.Cancelled')
        self.assertFalse(os.path.exists(self.disk), 'the cancelled install left its disk')
        self.assertFalse(os.path.exists(os.path.join(self.root, 'var/lib/kzones/kz1.created')))
        self.assertEqual(self.zones()['kz1'], 'configured')
        # a second Cancel: the job ended already
        p = self.call(job, JOB_IFACE, 'Cancel', check=False)
        self.assertIn('cancelled already', p.stderr)
        # and the zone installs afterwards
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        self.assertEqual(self.zones()['kz1'], 'installed')

    def test_only_root_or_a_zone_admin_cancels(self):
        job, _ = self.start_install()
        p = self.call(job, JOB_IFACE, 'Cancel', check=False, user=65534)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.wait_job(job)[0], 'done')

    def test_ctrl_c_on_zoneadm_cancels_the_install(self):
        image = os.path.join(self.root, self.image(768 * MIB).lstrip('/'))
        p = subprocess.Popen([os.path.join(BUILD, 'cli/zoneadm'), '-z', 'kz1', 'install', '-a', image], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.wait_for(lambda: self.prop('kz1', 'Job') != '/', what='the install job')
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("zoneadm: zone 'kz1': cancelling the install", err)
        self.assertIn("zoneadm: zone 'kz1': cancelled", err)
        self.assertFalse(os.path.exists(self.disk))
        self.assertEqual(self.zones()['kz1'], 'configured')


class BootJobs(FakeSystemdBusTest):
    """With a stand-in for systemd: a failed start, and jobs that cannot be cancelled."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)

    def test_a_failed_boot_says_why_through_its_job(self):
        # the zone's disk is gone: the launcher (what zone@kz1.service runs) cannot
        # start it and leaves its launch result; systemd then reports the start failed
        self.zonecfg('kz2', 'create; remove anet')
        self.wait_for(lambda: 'kz2' in self.zones())
        self.zone_call('kz2', 'Install', 'a{sv}', 1, 'install-size', 't', 4 * MIB)
        disk = os.path.join(self.root, 'var/lib/zones/kz2/disk0.img')
        os.unlink(disk)
        with open(os.path.join(self.tmp, 'launcher.log'), 'w+') as log:
            p = subprocess.run([os.path.join(BUILD, 'services/zone/kzones-zone'), 'exec', 'kz2'],
                               env=dict(self.env, KZONES_QEMU='/bin/false'), stdout=log, stderr=log, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.busctl('call', SYSTEMD_BUS, '/org/kzones/test', 'org.kzones.Test', 'FailNextStart', 's',
                    'zone@kz2.service')
        p = self.zoneadm('-z', 'kz2', 'boot')
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"^zoneadm: zone 'kz2': boot failed: cannot open the boot storage "
                                   r"\S*/var/lib/zones/kz2/disk0.img: No such file or directory\. "
                                   r"\(see 'journalctl -u zone@kz2.service'\)\n$")
        job = [j for j in self.call(*MANAGER, 'ListJobs')[0] if j[2] == 'boot'][-1]
        self.assertEqual(job[3], 'failed')
        self.assertEqual(self.job_prop(job[5], 'Result')[0], 'org.kzones.Error.BootFailed')

    def test_boot_returns_its_job_at_once_and_the_job_tells_the_end(self):
        t = time.monotonic()
        job = self.zone_call('kz1', 'Boot', 'as', 0, wait=False)[0]
        self.assertLess(time.monotonic() - t, 1.0)
        self.assertTrue(job.startswith(JOB_PREFIX + '/'), job)
        self.assertEqual(self.job_prop(job, 'Kind'), 'boot')
        self.assertEqual(self.job_prop(job, 'Zone'), 'kz1')
        self.assertEqual(self.wait_job(job), ('done', ['', '']))
        self.wait_for(lambda: self.zones()['kz1'] == 'running')
        # a second boot is refused by the call itself: nothing was started
        p = self.zone_call('kz1', 'Boot', 'as', 0, check=False, wait=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('already running', p.stderr)

    def test_boot_and_halt_are_jobs_that_cannot_be_cancelled(self):
        self.assertEqual(self.zoneadm('-z', 'kz1', 'boot').returncode, 0)
        self.wait_for(lambda: self.zones()['kz1'] == 'running')
        out = self.zone_call('kz1', 'Halt', wait=False)
        job = out[0]
        self.assertTrue(job.startswith(JOB_PREFIX + '/'))
        # the halt may have ended already: either way it was not cancelled
        p = self.call(job, JOB_IFACE, 'Cancel', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue('cannot be cancelled' in p.stderr or 'done already' in p.stderr, p.stderr)
        self.assertEqual(self.wait_job(job)[0], 'done')
        self.assertFalse(self.job_prop(job, 'Cancellable'))
