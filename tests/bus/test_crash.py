#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A restarter killed (SIGKILL) in the middle of an install or clone, on a private
bus: the restarted restarter reports what is real. The copy stops with the
restarter (no helper or qemu-img goes on writing unwatched); the zone is
'incomplete' with the partly written disk recorded as created, so a retry works,
uninstall removes it, and a plain install never adopts it. Notes and suspend
images that a killed operation left are removed when the restarter starts.

With a stand-in for systemd (fake-systemd) and for a zone's QEMU monitor (a QMP
server here), what a restarter finds of a suspend that was cut short: a guest
left paused is continued, one whose image was sealed has its unit stopped, a
migration nobody reads is cancelled, a guest paused otherwise is listed as
'paused', and none of it is visible before the restarter has checked."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from bustest import BUILD, BusTest, FakeSystemdBusTest
from kzbus import SYSTEMD_BUS

GIB = 1024 ** 3
MIB = 1024 ** 2
IMAGE_SIZE = 1 * GIB  # copied in about 3 s here: a window to kill the restarter in


def make_image(path):
    """1 GiB of data (a random MiB over and over, each MiB stamped with its number),
    so that qemu-img has every byte to copy and the copy's content can be checked."""
    block = bytearray(os.urandom(MIB))
    with open(path, 'wb') as f:
        for i in range(IMAGE_SIZE // MIB):
            block[:16] = b'kzones MiB %05d' % i
            f.write(block)


class Crash(BusTest):
    image = None

    @classmethod
    def setUpClass(cls):
        cls.image_dir = tempfile.mkdtemp(prefix='kzones-crash-')
        os.chmod(cls.image_dir, 0o755)
        cls.image = os.path.join(cls.image_dir, 'big.img')
        make_image(cls.image)

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.image)
        os.rmdir(cls.image_dir)

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.disk = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')
        self.record = os.path.join(self.root, 'var/lib/kzones/kz1.created')

    # ---- helpers

    def recorded(self, zone='kz1'):
        try:
            with open(os.path.join(self.root, f'var/lib/kzones/{zone}.created')) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def allocated(self, path):
        try:
            return os.stat(path).st_blocks * 512
        except FileNotFoundError:
            return 0

    def writers(self):
        """Processes of this test's root still at work: a helper, or a qemu-img it ran."""
        found = []
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
                with open(f'/proc/{pid}/environ', 'rb') as f:
                    env = f.read()
            except OSError:
                continue
            if ('kzones-zone' in cmd or 'qemu-img' in cmd) and (self.root.encode() in env or self.root in cmd):
                found.append(f'{pid}: {cmd}')
        return found

    def test_a_start_that_failed_meanwhile(self):
        # the zone's unit failed to start while no restarter ran (autoboot at host boot):
        # its launcher found the zone's key wrong; the restarter, which alone writes the
        # index, marks the zone unavailable when it starts, and takes the result once
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        run = os.path.join(self.root, 'run/kzones/kz1')
        os.makedirs(run, exist_ok=True)
        self.kill_restarter()
        with open(os.path.join(run, 'result'), 'w') as f:
            json.dump({'version': 1, 'step': 'exec', 'error': 129, 'unavailable': True,
                       'reason': 'error: Encryption key is incorrect.'}, f)
        self.start_restarter()
        self.assertEqual(self.prop('kz1', 'State'), 'unavailable')
        with open(os.path.join(self.root, 'etc/zones/index')) as f:
            self.assertIn('kz1:unavailable:', f.read())
        self.assertFalse(os.path.exists(os.path.join(run, 'result')), 'the result would be applied again')
        # attached again (the key put right), it stays installed across a restart of the restarter
        self.zone_call('kz1', 'Attach', 'a{sv}', 0)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        self.kill_restarter()
        self.start_restarter()
        self.assertEqual(self.prop('kz1', 'State'), 'installed')

    def kill_restarter(self):
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()

    def kill_during(self, argv, ready, what):
        """Runs zoneadm ARGV, SIGKILLs the restarter once READY() holds, then starts
        a new one; the copy must have stopped with the restarter."""
        p = subprocess.Popen([os.path.join(BUILD, 'cli/zoneadm')] + argv, env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.wait_for(ready, timeout=30, what=what)
            self.kill_restarter()
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertNotEqual(p.returncode, 0, 'the call whose restarter died succeeded: ' + out)
        # the helper and its qemu-img end with the restarter: nothing writes on unwatched
        self.wait_for(lambda: not self.writers(), timeout=5, what='the copy to stop')
        size = self.allocated(self.disk)
        time.sleep(0.3)
        self.assertEqual(self.allocated(self.disk), size, 'the disk still grows')
        self.start_restarter()
        return err

    def copying(self, path):
        return lambda: self.allocated(path) > 64 * MIB

    def assert_incomplete_with_its_disk(self):
        self.assertEqual(self.prop('kz1', 'State'), 'incomplete')
        self.assertIn(':kz1:incomplete:', self.zoneadm('list', '-cp').stdout)
        self.assertTrue(os.path.exists(self.disk))
        self.assertEqual(self.recorded(), [self.disk], 'the partly written disk is recorded as created')

    def assert_copy_of_image(self, disk):
        with open(self.image, 'rb') as a, open(disk, 'rb') as b:
            for mib in (0, 511, 1023):
                a.seek(mib * MIB)
                b.seek(mib * MIB)
                self.assertEqual(a.read(MIB), b.read(MIB), f'MiB {mib} of the copy')

    # ---- install -a

    def test_interrupted_install_is_incomplete_and_uninstalls(self):
        self.kill_during(['-z', 'kz1', 'install', '-q', '-a', self.image], self.copying(self.disk), 'the copy')
        self.assert_incomplete_with_its_disk()
        # the zone cannot boot half installed
        p = self.zone_call('kz1', 'Boot', 'as', 0, check=False)
        self.assertIn('zone is incomplete', p.stderr)
        # uninstall (no -F needed) removes the partial disk and its record
        self.zone_call('kz1', 'Uninstall', 'b', 'false')
        self.assertFalse(os.path.exists(self.disk))
        self.assertEqual(self.recorded(), [])
        self.assertEqual(self.prop('kz1', 'State'), 'configured')

    def test_interrupted_install_is_retried(self):
        self.kill_during(['-z', 'kz1', 'install', '-q', '-a', self.image], self.copying(self.disk), 'the copy')
        self.assert_incomplete_with_its_disk()
        p = self.zoneadm('-z', 'kz1', 'install', '-q', '-a', self.image)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        self.assertEqual(os.stat(self.disk).st_size, IMAGE_SIZE + MIB)
        self.assert_copy_of_image(self.disk)
        self.assertEqual(self.recorded(), [self.disk])
        self.zone_call('kz1', 'Uninstall', 'b', 'false')
        self.assertFalse(os.path.exists(self.disk))

    def test_plain_install_does_not_adopt_a_partial_copy(self):
        self.kill_during(['-z', 'kz1', 'install', '-q', '-a', self.image], self.copying(self.disk), 'the copy')
        self.assert_incomplete_with_its_disk()
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        # a new, empty disk of the size asked for, not the half copied image
        self.assertEqual(os.stat(self.disk).st_size, 64 * MIB + MIB)
        with open(self.disk, 'rb') as f:
            self.assertEqual(f.read(MIB), bytes(MIB))
        self.assertEqual(self.recorded(), [self.disk])

    def test_killed_at_any_moment(self):
        """Early kills too: before the disk exists, between its record and its creation,
        at the start of the copy. Whatever the moment, what is on disk and what the
        restarter says agree, and the zone uninstalls or installs cleanly after."""
        for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.5):
            with self.subTest(delay=delay):
                start = time.monotonic()
                self.kill_during(['-z', 'kz1', 'install', '-q', '-a', self.image],
                                 lambda: time.monotonic() - start >= delay, f'{delay} s')
                state = self.prop('kz1', 'State')
                self.assertIn(state, ('configured', 'incomplete'))
                if os.path.exists(self.disk):
                    self.assertEqual(state, 'incomplete', 'a disk exists, so the zone is not plain configured')
                    self.assertEqual(self.recorded(), [self.disk], 'a disk that exists is recorded')
                # a record of a disk that was never made is forgotten at start
                for path in self.recorded():
                    self.assertTrue(os.path.exists(path), f'{path} is recorded but does not exist')
                if state == 'incomplete':
                    p = self.zoneadm('-z', 'kz1', 'uninstall', '-F')
                    self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(self.prop('kz1', 'State'), 'configured')
                self.assertFalse(os.path.exists(self.disk))
                self.assertEqual(self.recorded(), [])

    # ---- clone

    def test_interrupted_clone_is_incomplete_then_retried(self):
        p = self.zoneadm('-z', 'kz1', 'install', '-q', '-a', self.image)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.zonecfg('kz2', 'create -t kz1')
        self.wait_for(lambda: 'kz2' in self.zones())
        disk2 = os.path.join(self.root, 'var/lib/zones/kz2/disk0.img')
        self.kill_during(['-z', 'kz2', 'clone', 'kz1'], self.copying(disk2), 'the clone')
        self.assertEqual(self.prop('kz2', 'State'), 'incomplete')
        self.assertEqual(self.recorded('kz2'), [disk2])
        # the source is as it was
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        p = self.zoneadm('-z', 'kz2', 'clone', 'kz1')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.prop('kz2', 'State'), 'installed')
        self.assert_copy_of_image(disk2)
        self.zone_call('kz2', 'Uninstall', 'b', 'false')
        self.assertFalse(os.path.exists(disk2))
        self.assertTrue(os.path.exists(self.disk))


class StaleRuntimeFiles(BusTest):
    """Notes a killed restarter left for a start or stop that never came, and a
    suspend image it never finished, are gone once a restarter starts again."""

    def test_removed_at_start(self):
        self.zonecfg('kz1', 'create; add suspend; set path=/var/lib/zones/kz1/suspend.img; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        run = os.path.join(self.root, 'run/kzones/kz1')
        os.makedirs(run, exist_ok=True)
        notes = ['request', 'suspending', 'zoneid']
        for n in notes:
            with open(os.path.join(run, n), 'w') as f:
                f.write('{"version": 1, "halt": true, "installer": {"path": "/proc/1/fd/3", "device": 1, '
                        '"inode": 2}}\n' if n == 'request' else '')
        image = os.path.join(self.root, 'var/lib/zones/kz1/suspend.img')
        with open(image + '.partial', 'wb') as f:
            f.write(b'half a guest')
        with open(image, 'wb') as f:
            f.write(b'a sealed image stays')
        self.kill_restarter()
        self.start_restarter()
        self.assertEqual([n for n in notes if os.path.exists(os.path.join(run, n))], [], 'stale notes remain')
        self.assertFalse(os.path.exists(image + '.partial'))
        self.assertTrue(os.path.exists(image), 'only the unfinished image is removed')
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        self.assertEqual(self.prop('kz1', 'AuxiliaryStates'), [])

    def kill_restarter(self):
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()



class FakeQmp:
    """A zone's QEMU monitor (the restarter's qmp.sock), one client at a time as QEMU
    serves them; each reply a little late, as a busy QEMU's may be."""

    def __init__(self, path, status, migration=None, delay=0.2):
        self.status, self.migration, self.delay = status, migration, delay
        self.commands = []
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        threading.Thread(target=self.serve, daemon=True).start()

    def close(self):
        self.sock.close()

    def reply(self, cmd):
        if cmd == 'query-status':
            return {'status': self.status, 'running': self.status == 'running', 'singlestep': False}
        if cmd == 'query-migrate':
            return {'status': self.migration} if self.migration else {}
        if cmd == 'cont':
            self.status = 'running'
        if cmd == 'migrate_cancel':
            self.migration = 'cancelled'
        return {}

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c, c.makefile('rw') as f:
                f.write(json.dumps({'QMP': {'version': {}, 'capabilities': []}}) + '\n')
                f.flush()
                for line in f:
                    cmd = json.loads(line)['execute']
                    if cmd != 'qmp_capabilities':
                        self.commands.append(cmd)
                        time.sleep(self.delay)
                    f.write(json.dumps({'return': self.reply(cmd)}) + '\n')
                    f.flush()


class Reconcile(FakeSystemdBusTest):
    """kz1, installed, with a suspend resource; its unit 'runs' (fake-systemd) and its
    QEMU monitor is a FakeQmp; the restarter is killed and started again on it."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create; add suspend; set path=/var/lib/zones/kz1/suspend.img; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        self.run_dir = os.path.join(self.root, 'run/kzones/kz1')
        self.image = os.path.join(self.root, 'var/lib/zones/kz1/suspend.img')
        self.marker = os.path.join(self.root, 'var/lib/kzones/kz1.suspended')
        self.qmp = None

    def set_unit(self, state):
        self.busctl('call', SYSTEMD_BUS, '/org/kzones/test', 'org.kzones.Test', 'SetActiveState',
                    'ss', 'zone@kz1.service', state)

    def jobs(self):
        try:
            with open(os.path.join(self.tmp, 'calls')) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def restart_on(self, status, migration=None, suspending=False, sealed=False):
        """The restarter killed while kz1 runs as STATUS says, with what an interrupted
        suspend left, and started again."""
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        self.qmp = FakeQmp(os.path.join(self.run_dir, 'qmp.sock'), status, migration)
        self.addCleanup(self.qmp.close)
        self.set_unit('active')
        with open(os.path.join(self.run_dir, 'zoneid'), 'w') as f:
            f.write('1\n')
        if suspending:
            with open(os.path.join(self.run_dir, 'suspending'), 'w') as f:
                f.write('4242\n')
            with open(self.image + '.partial', 'wb') as f:
                f.write(b'half a guest')
        if sealed:
            with open(self.image, 'wb') as f:
                f.write(b'a sealed guest')
            with open(self.marker, 'w') as f:
                f.write(self.image[len(self.root):] + '\n1\n')
        self.start_restarter()  # returns once the name is on the bus

    def listed(self):
        line = [l for l in self.zoneadm('list', '-cp').stdout.splitlines() if ':kz1:' in l][0].split(':')
        return line[2], line[-1]

    def assert_no_leftovers(self):
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, 'suspending')))
        self.assertFalse(os.path.exists(self.image + '.partial'))

    def test_a_guest_left_paused_is_continued(self):
        self.restart_on('postmigrate', 'completed', suspending=True)
        # checked before the name was taken: the first answer is already the truth
        self.assertEqual(self.qmp.commands, ['query-status', 'query-migrate', 'cont', 'query-status',
                                             'query-migrate'])
        self.assertEqual(self.listed(), ('running', ''))
        self.assertEqual(self.prop('kz1', 'Id'), 1)
        self.assert_no_leftovers()
        self.assertEqual(self.jobs(), [])

    def test_a_sealed_suspend_is_finished(self):
        self.restart_on('postmigrate', 'completed', suspending=True, sealed=True)
        self.assertNotIn('cont', self.qmp.commands, 'a guest whose state was saved ran on')
        self.assertEqual(self.jobs(), ['StopUnit zone@kz1.service'])
        self.wait_for(lambda: self.listed() == ('installed', 'suspended'), what='kz1 installed and suspended')
        self.assertTrue(os.path.exists(self.image))
        self.assert_no_leftovers()

    def test_a_migration_nobody_reads_is_cancelled(self):
        self.restart_on('running', 'active', suspending=True)
        self.assertIn('migrate_cancel', self.qmp.commands)
        self.assertNotIn('cont', self.qmp.commands)
        self.assertEqual(self.listed(), ('running', ''))
        self.assert_no_leftovers()

    def test_another_migration_is_left_alone(self):
        self.restart_on('running', 'active')
        self.assertEqual(self.qmp.commands, ['query-status', 'query-migrate'])
        self.assertEqual(self.listed(), ('running', ''))

    def test_a_paused_guest_is_listed_as_paused(self):
        self.restart_on('paused')
        self.assertNotIn('cont', self.qmp.commands, 'a guest paused by someone else is not continued')
        self.assertEqual(self.listed(), ('running', 'paused'))
        self.assertEqual(self.prop('kz1', 'AuxiliaryStates'), ['paused'])

    def test_a_unit_started_without_us_is_checked(self):
        self.qmp = FakeQmp(os.path.join(self.run_dir, 'qmp.sock'), 'postmigrate', 'completed', delay=0)
        self.addCleanup(self.qmp.close)
        self.set_unit('active')  # systemctl start, or a restarter that died before it heard
        self.wait_for(lambda: 'cont' in self.qmp.commands, what='the guest to be continued')
        self.wait_for(lambda: self.listed() == ('running', ''), what='kz1 running')
        self.set_unit('inactive')
        self.wait_for(lambda: self.listed() == ('installed', ''), what='kz1 installed')

    def launch_request(self):
        with open(os.path.join(self.run_dir, 'request')) as f:
            return json.load(f)

    def test_the_launch_request(self):
        # what zoneadm boot asks of the next start is one record, private, for the launcher
        self.zone_call('kz1', 'Boot', 'as', 2, 'single', 'console=ttyS0 quiet')
        self.assertEqual(self.launch_request(), {'version': 1, 'boot-arguments': ['single', 'console=ttyS0 quiet'],
                                                 'fresh': False, 'halt': False})
        self.assertEqual(os.stat(os.path.join(self.run_dir, 'request')).st_mode & 0o777, 0o600)
        self.assertEqual(sorted(f for f in os.listdir(self.run_dir) if 'request' in f), ['request'])
        # and a halt asks the unit's stop to cut the guest off; a boot -R replaces both
        self.qmp = FakeQmp(os.path.join(self.run_dir, 'qmp.sock'), 'running', delay=0)
        self.addCleanup(self.qmp.close)
        self.set_unit('active')
        self.wait_for(lambda: self.listed()[0] == 'running', what='kz1 running')
        self.zone_call('kz1', 'Halt')
        self.assertEqual(self.launch_request(), {'version': 1, 'fresh': False, 'halt': True})
        self.set_unit('inactive')
        self.wait_for(lambda: self.listed()[0] == 'installed', what='kz1 installed')
        self.zone_call('kz1', 'BootFresh', 'as', 0)
        self.assertEqual(self.launch_request(), {'version': 1, 'fresh': True, 'halt': False})

    def test_a_unit_that_failed_on_its_own(self):
        # started without us (systemctl start, autoboot), its launcher found the zone's
        # key wrong: when the unit has failed, the restarter marks the zone unavailable,
        # takes the result once, and the zone's id goes
        self.qmp = FakeQmp(os.path.join(self.run_dir, 'qmp.sock'), 'running', delay=0)
        self.addCleanup(self.qmp.close)
        self.set_unit('active')
        zoneid = os.path.join(self.run_dir, 'zoneid')
        self.wait_for(lambda: os.path.exists(zoneid), what='kz1 to get an id')
        with open(os.path.join(self.run_dir, 'result'), 'w') as f:
            json.dump({'version': 1, 'step': 'exec', 'error': 129, 'unavailable': True,
                       'reason': 'error: Encryption key is incorrect.'}, f)
        self.set_unit('failed')
        self.wait_for(lambda: self.listed()[0] == 'unavailable', what='kz1 unavailable')
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, 'result')))
        self.assertFalse(os.path.exists(zoneid), 'a stopped zone kept its id')
        self.assertIn('Encryption key is incorrect', self.daemon_log())


if __name__ == '__main__':
    unittest.main(verbosity=2)
