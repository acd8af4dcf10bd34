# SPDX-License-Identifier: LGPL-2.1-or-later
"""The target side of a live migration on a private bus: the restarter's
Zone.PrepareIncoming with the real kz-migr beside it, a stand-in for systemd
(fake-systemd: StartUnit makes the unit active at once) and one for the zone's
QEMU monitor (FakeQmp, which says inmigrate until the test lets the guest run).

What a user of zoneadm migrate would notice on the target: the zone runs in
migrating-in mode while the stream is awaited, kz-migr expects exactly that
migration on the zone's own socket, the zone runs plainly once the guest does,
and a failure or a cancel leaves nothing: the unit stopped, kz-migr's record
gone, a zone that was configured configured again."""

import json
import os
import socket
import subprocess
import sys
import unittest

from bustest import BUILD, JOB_IFACE, BusTest
from kzbus import MIGRATION_BUS_NAME, MIGRATION_MANAGER_IFACE, MIGRATION_PATH
from kzbus import SYSTEMD_BUS
from test_crash import FakeQmp

EXEC_WITH_LISTEN_PID = ('import os, sys\n'
                        'os.environ["LISTEN_PID"] = str(os.getpid())\n'
                        'os.execv(sys.argv[1], sys.argv[1:])\n')


class Migration(BusTest):
    """kz1, configured; fake-systemd, kz-migr, the restarter; a QMP stand-in."""

    def start_daemon(self):
        if not getattr(self, 'systemd', None):
            self.systemd_log = open(os.path.join(self.tmp, 'systemd.log'), 'w')
            self.addCleanup(self.systemd_log.close)
            self.systemd = subprocess.Popen([os.path.join(BUILD, 'tests/bus/fake-systemd'), self.tmp], env=self.env,
                                            stderr=self.systemd_log)
            self.addCleanup(self.stop, self.systemd)
            self.wait_for(lambda: self.busctl('status', SYSTEMD_BUS, check=False).returncode == 0,
                          what='fake-systemd on the bus')
            self.start_kz_migr()
        super().start_daemon()

    def start_kz_migr(self):
        """kz-migr as kz-migr.socket starts it, on a free localhost port."""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(16)
        self.addCleanup(self.listener.close)
        rundir = os.path.join(self.tmp, 'run-kz-migr')
        os.mkdir(rundir, 0o755)
        self.migr_log = open(os.path.join(self.tmp, 'kz-migr.log'), 'w')
        self.addCleanup(self.migr_log.close)
        fd = self.listener.fileno()
        self.migr = subprocess.Popen([sys.executable, '-c', EXEC_WITH_LISTEN_PID,
                                      os.path.join(BUILD, 'services/migration/kz-migr')],
                                     env=dict(self.env, LISTEN_FDS='1', RUNTIME_DIRECTORY=rundir),
                                     stderr=self.migr_log, pass_fds=(3,) if fd != 3 else (),
                                     preexec_fn=lambda: os.dup2(fd, 3))
        self.addCleanup(self.stop, self.migr)
        self.wait_for(lambda: self.busctl('status', MIGRATION_BUS_NAME, check=False).returncode == 0,
                      what='kz-migr on the bus')

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.run_dir = os.path.join(self.root, 'run/kzones/kz1')
        self.qmp = FakeQmp(os.path.join(self.run_dir, 'qmp.sock'), 'inmigrate', delay=0)
        self.addCleanup(self.qmp.close)

    def migration(self, mid):
        p = self.busctl('--json=short', 'call', MIGRATION_BUS_NAME, MIGRATION_PATH, MIGRATION_MANAGER_IFACE,
                        'GetMigration', 'ss', 'incoming', mid, check=False)
        return json.loads(p.stdout)['data'] if p.returncode == 0 else None

    def unit_calls(self):
        try:
            with open(os.path.join(self.tmp, 'calls')) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def prepare(self, mid='kz1-00112233', key=None, cipher='aes-128-gcm', channels=1, check=True):
        key = key if key is not None else os.urandom(32)
        return self.zone_call('kz1', 'PrepareIncoming', 'a{sv}', 4, 'MigrationId', 's', mid,
                              'Key', 'ay', len(key), *key, 'Cipher', 's', cipher, 'Channels', 'u', channels,
                              check=check, wait=False)

    def state(self):
        return self.prop('kz1', 'State'), self.prop('kz1', 'AuxiliaryStates')


class MigrateIn(Migration):

    def test_waits_in_migrating_in_then_runs(self):
        job = self.prepare(channels=3)[0]
        self.wait_for(lambda: self.job_prop(job, 'Message') == 'waiting for the migration stream',
                      what=f'the zone to wait for the stream\n{self.daemon_log()}')
        self.assertEqual(self.job_prop(job, 'Kind'), 'migrate-in')
        self.assertEqual(self.state(), ('running', ['migrating-in']))
        self.assertEqual(self.unit_calls(), ['StartUnit zone@kz1.service'])
        # kz-migr expects exactly this migration, on the zone's own socket
        self.assertEqual(self.migration('kz1-00112233')[:3], ['waiting', 'aes-128-gcm', 0])
        with open(os.path.join(self.run_dir, 'request')) as f:
            req = json.load(f)
        self.assertEqual(req['incoming'], {'migration-id': 'kz1-00112233', 'channels': 3,
                                           'uri': 'unix:' + os.path.join(self.run_dir, 'incoming/migr.sock')})
        # the stream completes: the guest runs here
        self.qmp.status = 'running'
        self.assertEqual(self.wait_job(job)[0], 'done')
        self.assertEqual(self.state(), ('running', []))
        self.assertEqual(self.unit_calls(), ['StartUnit zone@kz1.service'], 'nothing stopped')

    def test_cancel_leaves_nothing(self):
        job = self.prepare()[0]
        self.wait_for(lambda: self.job_prop(job, 'Message') == 'waiting for the migration stream',
                      what=f'the zone to wait for the stream\n{self.daemon_log()}')
        self.call(job, JOB_IFACE, 'Cancel')
        state, (name, _) = self.wait_job(job)
        self.assertEqual((state, name), ('cancelled', 'org.kzones.Error.Cancelled'))
        self.assertEqual(self.unit_calls(), ['StartUnit zone@kz1.service', 'StopUnit zone@kz1.service'])
        self.assertEqual(self.state(), ('configured', []), 'configured again, as before')
        self.wait_for(lambda: (self.migration('kz1-00112233') or ['gone'])[0] in ('cancelled', 'gone'),
                      what="kz-migr to forget the migration")

    def test_guest_that_does_not_run_after_the_stream_fails_and_stops(self):
        job = self.prepare()[0]
        self.wait_for(lambda: self.job_prop(job, 'Message') == 'waiting for the migration stream',
                      what=f'the zone to wait for the stream\n{self.daemon_log()}')
        self.qmp.status = 'internal-error'
        state, (_, text) = self.wait_job(job)
        self.assertEqual(state, 'failed')
        self.assertIn('internal-error', text)
        self.assertEqual(self.unit_calls()[-1], 'StopUnit zone@kz1.service')
        self.assertEqual(self.state(), ('configured', []))

    def test_cipher_kz_migr_refuses_leaves_nothing(self):
        # kz-migr is told once QEMU listens (it needs QEMU's pid): the unit goes again
        job = self.prepare(cipher='rot13')[0]
        state, (name, text) = self.wait_job(job)
        self.assertEqual((state, name), ('failed', 'org.freedesktop.DBus.Error.InvalidArgs'), text)
        self.assertIn("unknown cipher 'rot13'", text)
        self.assertEqual(self.unit_calls(), ['StartUnit zone@kz1.service', 'StopUnit zone@kz1.service'])
        self.assertEqual(self.state(), ('configured', []))

    def test_bad_options_refused(self):
        for kwargs, what in [({'key': b'short'}, 'Key must be 32 bytes'),
                             ({'mid': '../x'}, 'MigrationId must be'),
                             ({'channels': 0}, 'Channels must be'),
                             ({'channels': 65}, 'Channels must be')]:
            p = self.prepare(check=False, **kwargs)
            self.assertNotEqual(p.returncode, 0, what)
            self.assertIn(what, p.stderr)
        self.assertEqual(self.unit_calls(), [])
        self.assertEqual(self.state(), ('configured', []))

    def test_running_zone_refused(self):
        job = self.prepare()[0]
        self.qmp.status = 'running'
        self.assertEqual(self.wait_job(job)[0], 'done')
        p = self.prepare(mid='again', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('must be configured or installed', p.stderr)


class MigrateOut(Migration):
    """The source's Migrate on the same private bus: what it refuses, and a
    destination that cannot be reached fails the job with the guest running on."""

    def setUp(self):
        super().setUp()
        self.qmp.status = 'running'
        self.busctl('call', SYSTEMD_BUS, '/org/kzones/test', 'org.kzones.Test', 'SetActiveState',
                    'ss', 'zone@kz1.service', 'active')

    def migrate(self, dest, *opts, check=True, user=None):
        return self.zone_call('kz1', 'Migrate', 'sa{sv}', dest, len(opts) // 3, *opts, check=check, wait=False,
                              user=user)

    def test_refusals(self):
        for dest, opts, what in [('ftp://host2', (), "is not ssh://"),
                                 ('host2', ('Cipher', 's', 'AES;rm'), 'is not a cipher name'),
                                 ('host2', ('Channels', 'u', 0), 'Channels must be'),
                                 ('host2', ('Nonsense', 'b', 1), "unknown option 'Nonsense'")]:
            p = self.migrate(dest, *opts, check=False)
            self.assertNotEqual(p.returncode, 0, what)
            self.assertIn(what, p.stderr)

    def test_configured_zone_is_not_migrated_live(self):
        self.busctl('call', SYSTEMD_BUS, '/org/kzones/test', 'org.kzones.Test', 'SetActiveState',
                    'ss', 'zone@kz1.service', 'inactive')
        self.wait_for(lambda: self.prop('kz1', 'State') == 'configured')
        p = self.migrate('host2', check=False)
        self.assertIn('it must be running to migrate it live', p.stderr)

    def test_unreachable_destination_leaves_the_zone_running(self):
        # port 1 of this host: SSH is refused at once
        p = self.zoneadm('-z', 'kz1', 'migrate', '-q', 'ssh://root@127.0.0.1:1')
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('Checking migration compatibility.', p.stdout)
        self.assertIn("cannot reach the destination 127.0.0.1 over SSH: connect to host 127.0.0.1 port 1: Connection refused", p.stderr)
        self.assertEqual(self.state(), ('running', []))
        self.assertEqual(self.unit_calls(), [], 'the unit was neither stopped nor started')
        self.assertNotIn('migrate', self.qmp.commands, 'QEMU was never asked to migrate')


    def test_zone_administrator(self):
        """migrate is an auth of its own; a zone administrator's migration goes over
        the administrator's own SSH connection, which zoneadm makes and hands over."""
        self.zonecfg('kz1', 'add admin; set user=nobody; set auths=manage; end')
        p = self.migrate('host2', check=False, user=65534)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('Access denied', p.stderr)
        self.zonecfg('kz1', 'select admin user=nobody; set auths=manage,migrate; end')
        p = self.migrate('host2', check=False, user=65534)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("the administrator's own connection to the destination", p.stderr)
        # zoneadm as nobody: its own ssh (refused at port 1), the restarter's helper on its end
        p = self.zoneadm('-z', 'kz1', 'migrate', '-q', 'ssh://nobody@127.0.0.1:1', user=65534)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('Connection refused', p.stderr, "ssh's own error, on the administrator's terminal")
        self.assertIn("cannot reach the destination's restarter on 127.0.0.1", p.stderr)
        self.assertEqual(self.state(), ('running', []))
        self.assertEqual(self.unit_calls(), [], 'the unit was neither stopped nor started')
        self.assertNotIn('migrate', self.qmp.commands, 'QEMU was never asked to migrate')


if __name__ == '__main__':
    unittest.main()
