#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A restarter killed at any moment of a suspend, on a real host: the restarter is
SIGKILLed (with its whole cgroup, the suspend helper included) at moments from
0 to 0.5 s into 'zoneadm suspend', again and again. Each time, once systemd has
started it again, 'zoneadm list' matches the unit and QEMU: the guest either runs
on (its heartbeat continues, QEMU says 'running', no half-written image is left)
or is cleanly suspended (unit stopped, auxiliary state 'suspended', the image
resumes where it stopped); and the next suspend and boot work. Then: 'uninstall
-F' of a zone on shared storage releases its host data, so the other host attaches
it without force-takeover."""

import json
import re
import sys
import time

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
ZONE = 'kzc'
IMAGE = f'/var/lib/zones/{ZONE}/suspend.img'
DELAYS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)

# In the host: start 'zoneadm suspend', SIGKILL the restarter's cgroup DELAY s later.
KILL_DURING_SUSPEND = """
import subprocess, sys, time
p = subprocess.Popen(['zoneadm', '-z', sys.argv[1], 'suspend'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
time.sleep(float(sys.argv[2]))
killed = time.time()
subprocess.run(['systemctl', 'kill', '--signal=SIGKILL', 'kzones-restarterd'], check=True)
out, err = p.communicate(timeout=120)
print(f'{killed:.6f}', p.returncode, err.strip().replace('\\n', ' | '))
"""

# What the restarter's reconciliation says it did, as its journal has it.
ACTIONS = (('continuing it', 'continued the paused guest'),
           ('stopping the zone', 'stopped the sealed suspend\'s unit'),
           ('cancelling it', 'cancelled the migration'),
           ('the image of an interrupted suspend', 'removed the .partial image'),
           ('left by an interrupted operation', 'removed a stale note'))

# In the host: QEMU's own word on the guest, on the helpers' monitor.
QMP_STATUS = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(f'/run/kzones/{sys.argv[1]}/control.sock'); f = s.makefile('rw')
f.readline(); f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\\n'); f.flush(); f.readline()
f.write(json.dumps({'execute': 'query-status'}) + '\\n'); f.flush()
while True:
    m = json.loads(f.readline())
    if 'return' in m:
        print(m['return']['status']); break
"""


class RestarterKilled(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        labtest.lab('exec', 'host1', 'zonecfg', '-z', ZONE,
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk0; end; '
                    f'add suspend; set path={IMAGE}; end; '
                    f'add boot; set kernel={GUEST}; set cmdline="dirty=8M rate=256 interval=100"; end',
                    check=True)
        labtest.lab('exec', 'host1', 'zoneadm', '-z', ZONE, 'install', check=True)

    # ---- what the host says

    def zoneadm(self, *args, check=True):
        return self.exec('host1', 'zoneadm', '-z', ZONE, *args, check=check, timeout=300)

    def listed(self):
        """(state, auxiliary states) as 'zoneadm list -cp' shows them."""
        out = self.exec('host1', 'zoneadm', 'list', '-cp').stdout
        line = [l for l in out.splitlines() if f':{ZONE}:' in l][0].split(':')
        return line[2], line[-1]

    def unit(self):
        return self.exec('host1', 'systemctl', 'is-active', f'zone@{ZONE}', check=False).stdout.strip()

    def qemu_runs(self):
        return self.exec('host1', 'pgrep', '-f', f'guest={ZONE},', check=False).returncode == 0

    def guest_status(self):
        return self.exec('host1', 'python3', '-c', QMP_STATUS, ZONE).stdout.strip()

    def heartbeats(self):
        r = self.exec('host1', 'cat', f'/var/log/zones/{ZONE}.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]

    def beat_after(self, boot, n, timeout=60):
        """Waits for a heartbeat of boot id BOOT with a counter above N."""
        def newer():
            return any(b == boot and c > n for b, c in self.heartbeats())
        self.wait_for(newer, timeout=timeout, msg=f'a heartbeat of boot {boot} after {n}')

    def files_left(self):
        r = self.exec('host1', 'sh', '-c', f'ls -d {IMAGE}.partial /run/kzones/{ZONE}/suspending '
                      f'/run/kzones/{ZONE}/request 2>/dev/null || true')
        return r.stdout.split()

    def restarter_back(self):
        self.wait_for(lambda: self.exec('host1', 'zoneadm', 'list', '-p', check=False).returncode == 0,
                      timeout=60, msg='the restarter to come back')

    def settled(self):
        """The unit is active or inactive, and the restarter agrees."""
        unit = self.unit()
        if unit not in ('active', 'inactive'):
            return False
        state, _ = self.listed()
        return (unit, state) in (('active', 'running'), ('inactive', 'installed'))

    # ---- the checks after each kill

    def assert_truth(self, last):
        """The zone is running on, or cleanly suspended; what kzones says is what is."""
        self.wait_for(self.settled, timeout=60, msg='the unit and the restarter to agree')
        state, aux = self.listed()
        self.assertEqual(self.files_left(), [], 'runtime files of the interrupted suspend are left')
        if state == 'running':
            self.assertTrue(self.qemu_runs())
            self.assertEqual(self.guest_status(), 'running', 'a paused guest is reported as running')
            self.assertEqual(aux, '', 'a running guest with an auxiliary state')
            self.beat_after(*last)
            return 'continued'
        self.assertEqual((state, aux), ('installed', 'suspended'))
        self.assertFalse(self.qemu_runs())
        # it resumes where it stopped
        self.zoneadm('boot')
        self.assertEqual(self.listed(), ('running', ''))
        self.beat_after(*last)
        return 'suspended'

    def suspend_and_boot(self):
        """The next suspend and boot work: the guest goes on with the same boot id."""
        self.zoneadm('suspend')
        self.assertEqual(self.listed(), ('installed', 'suspended'))
        self.assertEqual(self.unit(), 'inactive')
        stopped = self.heartbeats()[-1]
        self.zoneadm('boot')
        self.assertEqual(self.listed(), ('running', ''))
        self.beat_after(*stopped)

    def test_1_suspend_killed_at_any_moment(self):
        self.zoneadm('boot')
        self.wait_for(self.heartbeats, timeout=60, msg='a first heartbeat')
        outcomes = {}
        for delay in DELAYS:
            with self.subTest(delay=delay):
                last = self.heartbeats()[-1]
                # systemd starts a unit at most 5 times in 10 s; these kills come faster
                self.exec('host1', 'systemctl', 'reset-failed', 'kzones-restarterd', check=False)
                t0 = time.monotonic()
                r = self.exec('host1', 'python3', '-c', KILL_DURING_SUSPEND, ZONE, str(delay), timeout=180)
                killed, _, said = r.stdout.strip().partition(' ')
                self.restarter_back()
                t_back = time.monotonic() - t0
                outcome = self.assert_truth(last)
                journal = self.exec('host1', 'journalctl', '-q', '-o', 'cat', '-u', 'kzones-restarterd',
                                    f'--since=@{killed}').stdout
                did = [what for needle, what in ACTIONS if needle in journal] or ['nothing to do']
                outcomes.setdefault(outcome, []).append(delay)
                print(f'kill at {delay:.2f} s: {outcome}; the restarter {", ".join(did)}; back and answering '
                      f'{t_back:.1f} s after the suspend began (zoneadm said: {said})', file=sys.stderr)
                t1 = time.monotonic()
                self.suspend_and_boot()
                print(f'  then suspend + boot: {time.monotonic() - t1:.1f} s', file=sys.stderr)
        print(f'outcomes: {json.dumps(outcomes)}', file=sys.stderr)
        self.zoneadm('halt')

    def test_2_uninstall_F_releases_shared_storage(self):
        zone = 'kzr'
        labtest.lab('exec', 'host1', 'zonecfg', '-z', zone,
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk1; end', check=True)
        export = labtest.lab('exec', 'host1', 'zonecfg', '-z', zone, 'export', check=True).stdout
        labtest.lab('exec', 'host2', 'zonecfg', '-z', zone, '-f', '-', input=export, check=True)
        self.exec('host1', 'zoneadm', '-z', zone, 'install')
        r = self.exec('host2', 'zoneadm', '-z', zone, 'attach', check=False)
        self.assertEqual(r.returncode, 1, 'host2 attached a zone host1 holds')
        self.assertIn('is in use by host with hostid', r.stderr)
        self.exec('host1', 'zoneadm', '-z', zone, 'uninstall', '-F')
        self.assertEqual(self.exec('host1', 'zoneadm', '-z', zone, 'list', '-p').stdout.split(':')[2], 'configured')
        # released: host2 takes it without force-takeover
        r = self.exec('host2', 'zoneadm', '-z', zone, 'attach', check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.exec('host2', 'zoneadm', '-z', zone, 'list', '-p').stdout.split(':')[2], 'installed')


if __name__ == '__main__':
    labtest.main()
