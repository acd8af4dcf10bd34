#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""zonecfg -r (live mode) and zoneadm apply without a zone restarter: mistakes on the
command line are usage errors, a restarter that cannot be reached is one line and a
non-zero exit, and the persistent configuration is never touched by live mode.
(With the restarter, on a private bus: tests/bus/test_live_commands.py.)"""

import os
import subprocess
import tempfile
import unittest

from kztest import ZoneTest, binary


class NoRestarter(ZoneTest):
    """A system bus address where nothing listens: as if kzones-restarterd (or the
    bus) were not running."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create -t SYSkz')
        self.before = self.stored('kz1')
        bus_dir = tempfile.mkdtemp(prefix='kzones-nobus-')
        self.addCleanup(os.rmdir, bus_dir)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=' + os.path.join(bus_dir, 'bus'))

    def run_live(self, argv):
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=self.env,
                              stdin=subprocess.DEVNULL)

    def assertUnreachable(self, p, tool):
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(p.stdout, '')
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith(f'{tool}: cannot reach the zone restarter (org.kzones.Restarter1)'),
                        p.stderr)
        self.assertIn('is kzones-restarterd running?', lines[0])

    def test_zonecfg_r_says_the_restarter_is_unreachable(self):
        for args in (['info'], ['export'], ['select virtual-cpu;set ncpus=2;end'], []):
            with self.subTest(args=args):
                p = self.run_live([self.zonecfg_bin, '-z', 'kz1', '-r'] + args)
                self.assertUnreachable(p, 'zonecfg')
        # live mode never wrote the persistent configuration
        self.assertEqual(self.stored('kz1'), self.before)

    def test_zonecfg_r_with_a_command_file(self):
        path = os.path.join(self.root, 'cmds')
        with open(path, 'w') as f:
            f.write('add device\nset storage=file:///var/lib/kzones/x.img\nend\n')
        self.assertUnreachable(self.run_live([self.zonecfg_bin, '-z', 'kz1', '-r', '-f', path]), 'zonecfg')
        self.assertEqual(self.stored('kz1'), self.before)

    def test_zoneadm_apply_says_the_restarter_is_unreachable(self):
        for args in ([], ['-n'], ['-q'], ['-n', '-q'], ['-nq']):
            with self.subTest(args=args):
                p = self.run_live([binary('zoneadm'), '-z', 'kz1', 'apply'] + args)
                self.assertUnreachable(p, 'zoneadm')

    def test_a_bad_zone_name_is_refused_before_the_bus(self):
        p = self.run_live([self.zonecfg_bin, '-z', 'SYSkz', '-r', 'info'])
        self.assertRefused(p, 'SYSkz: invalid zone name')


class UsageErrors(ZoneTest):
    """'TOOL: what is wrong', the short usage, nothing on stdout, exit 2."""

    def assertUsageError(self, argv, tool, message):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual((p.returncode, p.stdout), (2, ''), p.stderr)
        lines = p.stderr.splitlines()
        self.assertEqual(lines[0], f'{tool}: {message}')
        self.assertTrue(lines[1].startswith(f'usage: {tool} '), p.stderr)

    def test_zonecfg_r_and_R_exclude_each_other(self):
        self.assertUsageError([self.zonecfg_bin, '-R', self.root, '-z', 'kz1', '-r', 'info'], 'zonecfg',
                              '-r and -R exclude each other: live mode edits a running zone\'s live configuration, '
                              'which the zone restarter keeps, not a configuration under ROOT')

    def test_zonecfg_r_needs_a_zone(self):
        self.assertUsageError([self.zonecfg_bin, '-r', 'info'], 'zonecfg',
                              'a zone name is required: zonecfg -z ZONENAME …')

    def test_zoneadm_apply(self):
        zoneadm = binary('zoneadm')
        self.assertUsageError([zoneadm, '-z', 'kz1', 'apply', '-x'], 'zoneadm', 'apply: unknown option -x')
        self.assertUsageError([zoneadm, '-z', 'kz1', 'apply', '--dry-run'], 'zoneadm',
                              "apply: unknown option '--dry-run'")
        self.assertUsageError([zoneadm, '-z', 'kz1', 'apply', 'now'], 'zoneadm', "apply: unexpected argument 'now'")
        self.assertUsageError([zoneadm, 'apply'], 'zoneadm', 'apply: name the zone with -z: zoneadm -z ZONENAME apply')

    def test_zoneadm_help_lists_apply(self):
        zoneadm = binary('zoneadm')
        p = subprocess.run([zoneadm, '--help'], capture_output=True, text=True, timeout=30)
        self.assertIn('  apply [-n] [-q] ', p.stdout)
        p = subprocess.run([zoneadm, '-z', 'kz1', 'apply', '--help'], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith('usage: zoneadm [-H [USER@]HOST] -z ZONENAME apply [-n] [-q]\n'), p.stdout)

    def test_zonecfg_help_names_live_mode(self):
        p = subprocess.run([self.zonecfg_bin, '--help'], capture_output=True, text=True, timeout=30)
        self.assertIn('-r           live mode', p.stdout)
        p = self.zonecfg('kz1', 'help usage')
        self.assertIn('zonecfg -z ZONENAME -r [SUBCOMMAND', p.stdout)
        p = self.zonecfg('kz1', 'help commit')
        self.assertIn('usage: commit [-n] [-q]', p.stdout)


class DefaultMode(ZoneTest):
    """What live mode added leaves the default mode as it was, and says so where it
    differs."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create -t SYSkz')
        self.before = self.stored('kz1')

    def test_commit_n_is_for_live_mode(self):
        p = self.zonecfg('kz1', 'set autoboot=true;commit -n', check=False)
        self.assertRefused(p, 'usage: commit (-n and -q are for live mode, zonecfg -r)')
        self.assertEqual(self.stored('kz1'), self.before)

    def test_reload_reads_the_persistent_configuration_again(self):
        s = self.interactive('kz1')
        s.send('set autoboot=true')
        out = s.send('reload')
        self.assertIn('Are you sure you want to reload (y/[n])? ', out)
        s.send('y')
        self.assertIn('autoboot: false', s.send('info autoboot'))
        self.assertEqual(s.close('exit'), 0)
        self.assertEqual(self.stored('kz1'), self.before)


if __name__ == '__main__':
    unittest.main(verbosity=2)
