#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What every command answers as systemd's tools do: --version with the version of
meson.build's project(), and --help after a zoneadm subcommand with that
subcommand's usage. None of this needs the restarter."""

import os
import re
import subprocess
import unittest

from kztest import BUILD

SOURCE = os.path.join(os.path.dirname(__file__), '..', '..')


def project_version():
    with open(os.path.join(SOURCE, 'meson.build')) as f:
        return re.search(r"project\('kzones',.*?version: '([^']+)'", f.read(), re.S).group(1)


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


class Version(unittest.TestCase):

    def test_every_command(self):
        version = project_version()
        for tool, path in [('zonecfg', 'cli/zonecfg'), ('zoneadm', 'cli/zoneadm'), ('zlogin', 'cli/zlogin'),
                           ('mrpstat', 'cli/mrpstat'), ('kz-migr', 'services/migration/kz-migr'),
                           ('sysadm', 'cli/sysadm')]:
            with self.subTest(tool=tool):
                p = run(os.path.join(BUILD, path), '--version')
                self.assertEqual((p.returncode, p.stdout, p.stderr), (0, f'{tool} (kzones) {version}\n', ''))

    def test_help_mentions_version(self):
        for path in ('cli/zonecfg', 'cli/zoneadm', 'cli/zlogin', 'cli/mrpstat', 'cli/sysadm'):
            with self.subTest(path=path):
                p = run(os.path.join(BUILD, path), '--help')
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn('--version', p.stdout)


class SubcommandHelp(unittest.TestCase):

    zoneadm = os.path.join(BUILD, 'cli/zoneadm')

    def test_help_after_a_subcommand(self):
        for args in (['-z', 'kz1', 'boot', '--help'], ['-z', 'kz1', 'boot', '-h'], ['boot', '--help'],
                     ['-z', 'kz1', 'boot', '-R', '--help']):
            with self.subTest(args=args):
                p = run(self.zoneadm, *args)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stderr, '')
                self.assertTrue(p.stdout.startswith(
                    'usage: zoneadm [-H [USER@]HOST] -z ZONENAME boot [-R] [-- ARGUMENTS...]\n'), p.stdout)
                self.assertIn('installed -> running', p.stdout)

    def test_every_subcommand(self):
        for verb in ('list', 'install', 'uninstall', 'boot', 'halt', 'shutdown', 'reboot', 'verify', 'clone',
                     'attach', 'detach', 'suspend'):
            with self.subTest(verb=verb):
                p = run(self.zoneadm, '-z', 'kz1', verb, '--help')
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertRegex(p.stdout.splitlines()[0], rf'^usage: zoneadm .*\b{verb}\b')
                self.assertIn('See zoneadm(8).', p.stdout)

    def test_unknown_option_is_still_a_usage_error(self):
        p = run(self.zoneadm, '-z', 'kz1', 'boot', '--frobnicate')
        self.assertEqual(p.returncode, 2)
        self.assertIn("zoneadm: boot: unknown option '--frobnicate'", p.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
