#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""zonecfg -r and zoneadm apply against the real restarter on a private bus, for
zones that are not running: one clear line and a non-zero exit, nothing changed.
(A running zone's live reconfiguration needs QEMU and a guest: tests/lab.)"""

import os
import unittest

from bustest import BUILD, BusTest

MIB = 1024 * 1024
LIVE_MODE = ("live mode (-r) edits a running zone's live configuration; without -r, zonecfg edits the "
             "configuration the zone boots with")
APPLY = "apply changes a running zone; its persistent configuration is used when it boots"


class NotRunning(BusTest):

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.xml = os.path.join(self.root, 'etc/zones/kz1.xml')
        with open(self.xml, 'rb') as f:
            self.before = f.read()

    def unchanged(self):
        with open(self.xml, 'rb') as f:
            self.assertEqual(f.read(), self.before)
        self.assertEqual(self.prop('kz1', 'Job'), '/')

    def live_zonecfg(self, zone, *args, input=None):
        # no -R: live mode asks the restarter, whose root is the test's
        return self.run_cmd([os.path.join(BUILD, 'cli/zonecfg'), '-z', zone, '-r'] + list(args), check=False,
                            input=input)

    def assertOneLine(self, p, line):
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(p.stdout, '')
        self.assertEqual(p.stderr, line + '\n')

    def test_zonecfg_r_on_a_configured_zone(self):
        for args in (['info'], ['select virtual-cpu;set ncpus=2;end'], ['commit -n']):
            with self.subTest(args=args):
                p = self.live_zonecfg('kz1', *args)
                self.assertOneLine(p, f"zonecfg: zone 'kz1': not running (configured); {LIVE_MODE}")
        # interactive input from a pipe: the same, before any prompt
        p = self.live_zonecfg('kz1', input='info\nexit\n')
        self.assertOneLine(p, f"zonecfg: zone 'kz1': not running (configured); {LIVE_MODE}")
        self.unchanged()

    def test_zonecfg_r_on_an_installed_zone(self):
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        with open(self.xml, 'rb') as f:
            self.before = f.read()
        p = self.live_zonecfg('kz1', 'info')
        self.assertOneLine(p, f"zonecfg: zone 'kz1': not running (installed); {LIVE_MODE}")
        self.unchanged()

    def test_zonecfg_r_on_an_unknown_zone(self):
        p = self.live_zonecfg('nosuch', 'info')
        self.assertOneLine(p, "zonecfg: zone 'nosuch': No such zone configured")

    def test_zoneadm_apply_on_a_configured_zone(self):
        for args in ([], ['-n'], ['-q']):
            with self.subTest(args=args):
                p = self.zoneadm('-z', 'kz1', 'apply', *args)
                # -q silences the job; a request refused is still said
                self.assertOneLine(p, f"zoneadm: zone 'kz1': not running (configured); {APPLY}")
        self.unchanged()

    def test_zoneadm_apply_on_an_installed_zone_as_another_user(self):
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * MIB)
        for user in (None, 65534):
            with self.subTest(user=user):
                p = self.zoneadm('-z', 'kz1', 'apply', user=user)
                self.assertOneLine(p, f"zoneadm: zone 'kz1': not running (installed); {APPLY}")
        self.assertEqual(self.prop('kz1', 'State'), 'installed')

    def test_zoneadm_apply_on_an_unknown_zone(self):
        p = self.zoneadm('-z', 'nosuch', 'apply', '-n')
        self.assertOneLine(p, "zoneadm: zone 'nosuch': No such zone configured")


if __name__ == '__main__':
    unittest.main(verbosity=2)
