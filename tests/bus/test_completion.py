#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bash completion (packaging/bash-completion/) run by bash as Tab runs it, with the
built commands first on PATH and the real restarter on a private bus: zoneadm -z
offers the configured zones, subcommands and options follow, zonecfg offers the
same zones; what the commands print is offered as text, never run."""

import os
import stat
import subprocess
import unittest

from bustest import BUILD, SOURCE, BusTest

COMPLETIONS = os.path.join(SOURCE, 'packaging', 'bash-completion')

# Loads one command's completion and calls its function with the words given, the
# last one being completed; prints what it offers, one per line. The words are
# arguments of bash, not part of this script.
SCRIPT = '''
source "$1" || exit 3
fn=$(complete -p "$2" | sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p')
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
"$fn"
((${#COMPREPLY[@]})) && printf '%s\\n' "${COMPREPLY[@]}"
exit 0
'''


class Completion(BusTest):

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.zonecfg('kz2', 'create -t SYSkz-minimal')
        self.wait_for(lambda: len(self.zones()) == 2)
        self.path = os.path.join(BUILD, 'cli') + ':' + os.environ.get('PATH', '/usr/bin:/bin')

    def complete(self, *words, path=None):
        env = dict(self.env, PATH=path or self.path)
        p = subprocess.run(['bash', '--norc', '--noprofile', '-c', SCRIPT, 'bash',
                            os.path.join(COMPLETIONS, words[0])] + list(words),
                           env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr), (0, ''), words)
        return sorted(p.stdout.splitlines())

    def test_files_parse(self):
        for name in os.listdir(COMPLETIONS):
            if name != 'meson.build':
                p = subprocess.run(['bash', '-n', os.path.join(COMPLETIONS, name)], capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, name + ': ' + p.stderr)

    def test_zoneadm_offers_configured_zones(self):
        self.assertEqual(self.complete('zoneadm', '-z', ''), ['kz1', 'kz2'])
        self.assertEqual(self.complete('zoneadm', '-z', 'kz2'), ['kz2'])
        # with another host, its zones would need a connection: none are offered
        self.assertEqual(self.complete('zoneadm', '-H', 'elsewhere', '-z', ''), [])

    def test_zoneadm_subcommands_and_options(self):
        self.assertEqual(self.complete('zoneadm', '-z', 'kz1', 'b'), ['boot'])
        self.assertIn('migrate', self.complete('zoneadm', '-z', 'kz1', ''))
        self.assertEqual(self.complete('zoneadm', '-z', 'kz1', 'ap'), ['apply'])
        self.assertEqual(self.complete('zoneadm', '-z', 'kz1', 'apply', '-'), ['--help', '-h', '-n', '-q'])
        self.assertEqual(self.complete('zoneadm', 'list', '--j'), ['--json=pretty', '--json=short'])
        self.assertEqual(self.complete('zoneadm', '-z', 'kz1', 'attach', '-x', ''),
                         ['force-takeover', 'initialize-hostdata'])
        self.assertEqual(self.complete('zoneadm', '-'), ['--help', '--version', '-H', '-h', '-z'])
        # clone offers the installed zones as the source: none yet, then kz1
        self.assertEqual(self.complete('zoneadm', '-z', 'kz2', 'clone', ''), [])
        self.zoneadm('-z', 'kz1', 'install', '-x', 'install-size=1G', check=True)
        self.assertEqual(self.complete('zoneadm', '-z', 'kz2', 'clone', ''), ['kz1'])

    def test_other_commands(self):
        self.assertEqual(self.complete('zonecfg', '-z', 'k'), ['kz1', 'kz2'])
        self.assertIn('select', self.complete('zonecfg', '-z', 'kz1', 's'))
        self.assertIn('-r', self.complete('zonecfg', '-z', 'kz1', '-'))
        # live mode: running zones only, and none runs here
        self.assertEqual(self.complete('zonecfg', '-r', '-z', 'k'), [])
        self.assertEqual(self.complete('mrpstat', '--j'), ['--json=pretty', '--json=short'])
        # zlogin offers running zones: there are none
        self.assertEqual(self.complete('zlogin', ''), [])
        self.assertEqual(self.complete('zlogin', '-'), ['--help', '--version', '-C', '-d', '-e', '-h'])
        self.assertEqual(self.complete('sysadm', 'ev'), ['evacuate'])

    def test_output_is_never_run(self):
        # a zoneadm that prints shell syntax where names go: offered as text, nothing runs
        fake = os.path.join(self.tmp, 'fakebin')
        os.mkdir(fake)
        witness = os.path.join(self.tmp, 'ran')
        with open(os.path.join(fake, 'zoneadm'), 'w') as f:
            f.write(f'#!/bin/sh\necho \'-:$(touch {witness}):configured:/:u:kz:excl:-:kz:\'\n'
                    f'echo \'-:`touch {witness}`:configured:/:u:kz:excl:-:kz:\'\n')
        os.chmod(os.path.join(fake, 'zoneadm'), stat.S_IRWXU)
        offered = self.complete('zoneadm', '-z', '', path=fake + ':' + self.path)
        self.assertEqual(offered, sorted([f'$(touch {witness})', f'`touch {witness}`']))
        self.assertFalse(os.path.exists(witness))


if __name__ == '__main__':
    unittest.main()
