#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""zonecfg -r and zoneadm apply on a running zone, on a private bus: kz1 runs
kzguest in a real QEMU (test_live.py's Running: 1 vCPU, 256M, memory live
reconfiguration prepared). What the user sees: the live configuration shown and
exported, a dry run's lines and nothing changed, a batch committed at its end
(QEMU counts a second vCPU) and gone again with apply (partially: kzguest keeps
the vCPU), a refusal and a strict memory resize as 'zone 'kz1': error: …' with
exit 1, an externally changed live configuration's three lines and reload, and
a zone administrator reading it without the key but refused a change, and a
stranger refused, each in one line."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'cli'))
import test_live  # noqa: E402  (the Running fixture: QEMU with kzguest, as the launcher builds it)
from bustest import BUILD  # noqa: E402
from kztest import Session  # noqa: E402

NOBODY = 65534    # an admin of kz1 with the manage auth (Running's configuration)
STRANGER = 1      # daemon: no auth on kz1 (a user the bus knows)


class Commands(test_live.Running):
    """Running's own tests run in test_live.py; only the commands' here."""

    def live_zonecfg(self, *args, user=None):
        return self.run_cmd([os.path.join(BUILD, 'cli/zonecfg'), '-z', 'kz1', '-r'] + list(args), check=False,
                            user=user)

    def generation(self):
        return self.prop('kz1', 'LiveGeneration')

    def persistent(self):
        with open(os.path.join(self.root, 'etc/zones/kz1.xml')) as f:
            return f.read()

    def test_info_export_and_a_dry_run(self):
        p = self.live_zonecfg('info virtual-cpu')
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, 'virtual-cpu:\n    ncpus: 1\n', ''))
        p = self.live_zonecfg('export')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('add virtual-cpu\nset ncpus=1\nend\n', p.stdout)
        # a preview left last: its lines, and nothing changed, nothing committed at the end
        p = self.live_zonecfg('select virtual-cpu;set ncpus=2;end;commit -n')
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (0, "zone 'kz1': Checking: Modifying virtual-cpu ncpus=2\n", ''))
        self.assertEqual(self.cpus(), 1)
        self.assertEqual(self.generation(), 1)

    def test_batch_commits_at_its_end_then_apply_goes_back(self):
        before = self.persistent()
        p = self.live_zonecfg('select virtual-cpu;set ncpus=2;end')
        self.assertEqual((p.returncode, p.stderr), (0, ''), self.daemon_log())
        self.assertEqual(p.stdout, "zone 'kz1': Checking: Modifying virtual-cpu ncpus=2\n"
                                   "zone 'kz1': Applying the changes\n")
        self.assertEqual(self.cpus(), 2)
        self.assertEqual(self.generation(), 2)
        self.assertEqual(self.live_zonecfg('info virtual-cpu').stdout, 'virtual-cpu:\n    ncpus: 2\n')
        self.assertEqual(self.persistent(), before, 'live mode wrote the persistent configuration')
        # apply -n: what the persistent configuration would change, nothing changed
        p = self.zoneadm('-z', 'kz1', 'apply', '-n')
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (0, "zone 'kz1': Checking: Modifying virtual-cpu ncpus=1\n", ''))
        self.assertEqual(self.generation(), 2)
        # apply: kzguest keeps the vCPU (QEMU's refusal is a line of the guide's form), a
        # partial success, exit 0
        p = self.zoneadm('-z', 'kz1', 'apply')
        self.assertEqual((p.returncode, p.stderr), (0, ''), self.daemon_log())
        lines = p.stdout.splitlines()
        self.assertEqual(lines[:2], ["zone 'kz1': Checking: Modifying virtual-cpu ncpus=1",
                                     "zone 'kz1': Applying the changes"], p.stdout)
        self.assertEqual(lines[-1], "zone 'kz1': warning: operation succeeded partially for virtual cpus "
                                    "(requested: 1, final: 2)")
        for line in lines[2:-1]:
            self.assertTrue(line.startswith("zone 'kz1': error: cannot remove virtual cpu "), p.stdout)
        # -q: the status only
        p = self.zoneadm('-z', 'kz1', 'apply', '-q')
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, '', ''))

    def test_refusal_and_strict_memory_fail_with_status_1(self):
        p = self.live_zonecfg('set host-compatible=level1')
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "zone 'kz1': error: cannot change host-compatible of a running zone\n")
        self.assertTrue(all(re.match(r"zone 'kz1': Checking: ", l) for l in p.stdout.splitlines()), p.stdout)
        self.assertEqual(self.generation(), 1)
        # kzguest has no virtio-mem driver: 512M cannot be reached, and strict fails
        p = self.live_zonecfg('select capped-memory;set memlzs=strict;set physical=512M;end')
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "zone 'kz1': error: Modifying capped-memory physical=512M failed: operation could "
                         "not reach the required memory settings and the memlzs property was set to 'strict' forcing "
                         "the operation to fail. Clear the capped-memory's memlzs property to accept partial "
                         "success.\n")
        self.assertIn('Applying the changes', p.stdout)
        self.assertEqual(self.vmem('size'), 0)
        self.assertIn('physical: 256M', self.live_zonecfg('info capped-memory').stdout)

    def test_changed_externally_then_reload(self):
        s = Session([os.path.join(BUILD, 'cli/zonecfg'), '-z', 'kz1', '-r'], env=self.env)
        s.wait_prompt()
        s.send('select virtual-cpu;set ncpus=3;end')
        # another administrator commits first
        p = self.live_zonecfg('select virtual-cpu;set ncpus=2;end')
        self.assertEqual(p.returncode, 0, p.stderr)
        out = s.send('commit')
        self.assertIn("zone 'kz1': error: the live configuration has changed externally.\n"
                      "Trying to commit changes to externally changed live configuration\n"
                      "Please use reload to start again. Your local changes will be lost.\n", out)
        self.assertEqual(self.cpus(), 2)
        self.assertIn('Are you sure you want to reload (y/[n])? ', s.send('reload'))
        s.send('y')
        self.assertIn('ncpus: 2', s.send('info virtual-cpu'))
        out = s.send('select virtual-cpu;set ncpus=3;end')
        out = s.send('commit')
        self.assertIn("zone 'kz1': Checking: Modifying virtual-cpu ncpus=3\nzone 'kz1': Applying the changes\n", out)
        self.assertEqual(self.cpus(), 3)
        s.close('exit')
        self.assertEqual(self.generation(), 3)

    def test_a_zone_administrator_and_a_stranger(self):
        # Running makes nobody an admin of kz1 with the manage auth: the live configuration
        # is read without the zone's key, and a change is root's only
        p = self.live_zonecfg('info', user=NOBODY)
        self.assertEqual((p.returncode, p.stderr), (0, ''))
        self.assertIn('ncpus: 1', p.stdout)
        self.assertNotIn('keysource', p.stdout)
        p = self.live_zonecfg('select virtual-cpu;set ncpus=2;end', user=NOBODY)
        self.assertEqual((p.returncode, p.stdout), (1, ''), p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertTrue(p.stderr.startswith("zonecfg: zone 'kz1': "), p.stderr)
        self.assertEqual(self.cpus(), 1)
        # anyone else: refused in one line
        p = self.live_zonecfg('info', user=STRANGER)
        self.assertEqual((p.returncode, p.stdout), (1, ''), p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertTrue(p.stderr.startswith("zonecfg: zone 'kz1': "), p.stderr)
        p = self.zoneadm('-z', 'kz1', 'apply', '-n', user=STRANGER)
        self.assertEqual((p.returncode, p.stdout), (1, ''), p.stderr)
        self.assertTrue(p.stderr.startswith("zoneadm: zone 'kz1': "), p.stderr)

# Running's own tests are test_live.py's: not run again here
for _name in [n for n in dir(test_live.Running) if n.startswith('test_')]:
    setattr(Commands, _name, None)


if __name__ == '__main__':
    unittest.main(verbosity=2)
