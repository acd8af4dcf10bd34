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
                     'attach', 'detach', 'suspend', 'apply'):
            with self.subTest(verb=verb):
                p = run(self.zoneadm, '-z', 'kz1', verb, '--help')
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertRegex(p.stdout.splitlines()[0], rf'^usage: zoneadm .*\b{verb}\b')
                self.assertIn('See zoneadm(8).', p.stdout)

    def test_unknown_option_is_still_a_usage_error(self):
        p = run(self.zoneadm, '-z', 'kz1', 'boot', '--frobnicate')
        self.assertEqual(p.returncode, 2)
        self.assertIn("zoneadm: boot: unknown option '--frobnicate'", p.stderr)


class UsageErrors(unittest.TestCase):
    """One style for every command: 'TOOL: what is wrong' on one line, then the short
    usage (a line or two of 'usage:' and where to find more), nothing on stdout, exit 2."""

    def assertUsageError(self, tool, args, message):
        p = run(os.path.join(BUILD, 'cli', tool), *args)
        self.assertEqual((p.returncode, p.stdout), (2, ''), p.stderr)
        lines = p.stderr.splitlines()
        self.assertEqual(lines[0], f'{tool}: {message}')
        self.assertTrue(lines[1].startswith(f'usage: {tool} '), p.stderr)
        self.assertRegex(lines[-1], rf"^Try '{tool} --help'")
        self.assertLessEqual(len(lines), 4, p.stderr)

    def test_unknown_options(self):
        for tool in ('zonecfg', 'zoneadm', 'mrpstat', 'zlogin'):
            with self.subTest(tool=tool):
                self.assertUsageError(tool, ['-x'], 'unknown option -x')
                self.assertUsageError(tool, ['--frobnicate'], "unknown option '--frobnicate'")

    def test_other_mistakes(self):
        self.assertUsageError('zonecfg', ['-z'], 'option -z needs a value')
        self.assertUsageError('zonecfg', ['info'], 'a zone name is required: zonecfg -z ZONENAME …')
        self.assertUsageError('zonecfg', ['-z', 'kz1', '-f', 'cmds', 'info'],
                              'give either -f FILE or subcommands, not both')
        self.assertUsageError('zoneadm', ['list', '--json=yaml'], 'list: --json takes pretty, short or off: --json=pretty')
        self.assertUsageError('mrpstat', ['--json'], '--json takes pretty, short or off: --json=pretty')


class ManPages(unittest.TestCase):
    """Every installed man page ends with SEE ALSO naming its kzones neighbours, and
    every kzones page it names exists; zoneadm(8) is one step away from each."""

    MAN = os.path.join(SOURCE, 'packaging', 'man')

    def pages(self):
        with open(os.path.join(self.MAN, 'meson.build')) as f:
            installed = re.findall(r"'([^']+\.[1-8])'", f.read())
        on_disk = sorted(n for n in os.listdir(self.MAN) if re.search(r'\.[1-8]$', n))
        self.assertEqual(sorted(installed), on_disk, 'a page not installed, or installed but missing')
        return on_disk

    def see_also(self, page):
        with open(os.path.join(self.MAN, page)) as f:
            text = f.read()
        self.assertIn('\n.SH SEE ALSO\n', text, page)
        section = text.split('\n.SH SEE ALSO\n', 1)[1].split('\n.SH ', 1)[0]
        return {f'{m[0]}.{m[1]}'.replace('\\-', '-') for m in re.findall(r'^\.BR (\S+) \((\d)\)', section, re.M)}

    def test_see_also_names_neighbours(self):
        pages = self.pages()
        for page in pages:
            with self.subTest(page=page):
                named = self.see_also(page)
                ours = {n for n in named if n in pages}
                self.assertNotIn(page, named)
                self.assertTrue(ours, f'{page} names no other kzones page')
                # every page leads to zoneadm(8), and zoneadm(8) to zonecfg(8)
                self.assertIn('zonecfg.8' if page == 'zoneadm.8' else 'zoneadm.8', named)
                # a page named after one of ours (kz-…, kzones-…, z…) must exist
                for n in named:
                    if re.match(r'(kz|zone|zlogin|mrpstat|memory-reserve)', n):
                        self.assertIn(n, pages, f'{page} names {n}, which does not exist')

    def test_readme_lists_every_page(self):
        with open(os.path.join(SOURCE, 'README.md')) as f:
            readme = f.read()
        for page in self.pages():
            name, section = page.rsplit('.', 1)
            self.assertIn(f'`{name}({section})`', readme)

    def test_every_page_is_named_by_another(self):
        pages = self.pages()
        named = set().union(*(self.see_also(p) for p in pages))
        self.assertEqual(sorted(set(pages) - named), [])


if __name__ == '__main__':
    unittest.main(verbosity=2)
