#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One zone, one host, whatever the timing: two hosts that share a zone's storage
race to attach and boot it, and it never runs on both; a host that dies while its
zone runs holds it until its lease expires, and not a moment longer."""

import os
import signal
import subprocess
import sys
import time

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HOSTS = ('host1', 'host2')
LEASE_EXPIRY = 20  # seconds, LEASE_EXPIRY_USEC in lib/hostdata.h


# what a host says of the zone: "yes|no STATE" (pgrep asks the processes, not kzones;
# kz[o] so that it does not find this shell, whose command line holds the pattern)
LOOK = ('if pgrep -f "guest=kz[o]," >/dev/null; then r=yes; else r=no; fi; '
        'echo "$r $(zoneadm -z kzo list -p | cut -d: -f3)"')
# halts and detaches the zone on a host that holds it
RELEASE = ('s=$(zoneadm -z kzo list -p | cut -d: -f3); '
           'if [ "$s" = running ]; then zoneadm -z kzo halt || exit 1; s=installed; fi; '
           'if [ "$s" = installed ]; then zoneadm -z kzo detach || exit 1; fi')


class Ownership(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzo',
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; remove anet; '
                    'select device id=0; set storage=nbd://storage:10809/disk3; end; '
                    f'add boot; set kernel={GUEST}; set cmdline="interval=200"; end', check=True)
        export = labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzo', 'export', check=True).stdout
        labtest.lab('exec', 'host2', 'zonecfg', '-z', 'kzo', '-f', '-', input=export, check=True)
        labtest.lab('exec', 'host1', 'zoneadm', '-z', 'kzo', 'install', check=True)
        labtest.lab('exec', 'host1', 'zoneadm', '-z', 'kzo', 'detach', check=True)

    @classmethod
    def tearDownClass(cls):
        try:
            # a host that was killed boots again, so that the leak check can look inside it
            for h in HOSTS:
                if labtest.lab('exec', h, 'true', stdin=subprocess.DEVNULL, timeout=60).returncode != 0:
                    r = labtest.lab('reboot', h, timeout=300)
                    print(f'tear-down: lab reboot {h}: exit {r.returncode} {r.stderr.strip()}', file=sys.stderr)
            cls.halt_zones(('host1', 'kzo'), ('host2', 'kzo'))
        finally:
            super().tearDownClass()

    def zoneadm(self, host, *args, check=True):
        return self.exec(host, 'zoneadm', '-z', 'kzo', *args, check=check, timeout=300)

    def state(self, host):
        return self.zoneadm(host, 'list', '-p').stdout.split(':')[2]

    def look(self, host):
        """(whether a QEMU of the zone runs in host, asked of the processes; the zone's
        state as zoneadm says), in one command."""
        r = self.exec(host, 'sh', '-c', LOOK, check=False)
        running, _, state = r.stdout.strip().partition(' ')
        return running == 'yes', state

    def test_1_racing_attach_and_boot(self):
        wins = {h: 0 for h in HOSTS}
        for i in range(50):
            offset = (i % 11) * 0.03            # 0 to 300 ms
            first, second = HOSTS if i % 2 == 0 else reversed(HOSTS)
            cmd = 'zoneadm -z kzo attach && zoneadm -z kzo boot'
            p1 = subprocess.Popen([labtest.LAB, 'exec', first, 'sh', '-c', cmd], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(offset)
            p2 = subprocess.Popen([labtest.LAB, 'exec', second, 'sh', '-c', cmd], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out = [p.communicate(timeout=120) for p in (p1, p2)]
            looks = {h: self.look(h) for h in HOSTS}
            on = [h for h in HOSTS if looks[h][0]]
            self.assertLessEqual(len(on), 1, f'try {i} (offset {offset * 1000:.0f} ms): the zone runs on {on}\n'
                                 f'{first}: {out[0][1]}\n{second}: {out[1][1]}')
            for h in on:
                wins[h] += 1
                self.assertEqual(looks[h][1], 'running')
            loser_codes = [p.returncode for p in (p1, p2)]
            self.assertEqual(sorted(c == 0 for c in loser_codes).count(True), len(on),
                             f'try {i}: exit codes {loser_codes} but running on {on}')
            # back to a zone nobody holds (one command per host)
            for h in HOSTS:
                if looks[h][1] in ('running', 'installed'):
                    self.exec(h, 'sh', '-c', RELEASE, timeout=300)
        print(f'\n  races won: {wins}', file=sys.stderr)
        self.assertGreaterEqual(sum(wins.values()), 45, f'most races have a winner: {wins}')

    def test_2_a_dead_hosts_lease_expires(self):
        self.zoneadm('host1', 'attach')
        self.zoneadm('host1', 'boot')
        self.wait_for(lambda: 'kzguest: hb' in self.exec('host1', 'cat', '/var/log/zones/kzo.console',
                                                         check=False).stdout, timeout=60, msg='a heartbeat')
        # host1 dies: its systemd, and with it everything in the container, is killed
        pid = int(labtest.lab('pid', 'host1', check=True).stdout.strip())
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        r = self.zoneadm('host2', 'attach', check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("renews the zone's lease", r.stderr)
        self.assertIn('hostname: host1', r.stderr)
        self.assertLess(time.monotonic() - killed, 5, 'a fresh lease is refused at once')
        # once the lease is older than its expiry, host2 watches it, sees no renewal, and takes the zone
        time.sleep(max(0, killed + LEASE_EXPIRY + 1 - time.monotonic()))
        t = time.monotonic()
        r = self.zoneadm('host2', 'attach', check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(time.monotonic() - t, LEASE_EXPIRY - 1, 'it watched the lease before taking it')
        self.zoneadm('host2', 'boot')
        self.assertEqual(self.state('host2'), 'running')
        self.zoneadm('host2', 'halt')


if __name__ == '__main__':
    labtest.main()
