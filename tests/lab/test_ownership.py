#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One zone, one host, whatever the timing: two hosts that share a zone's storage
race to attach and boot it (fifty races, five zones at a time), and it never runs on both; a host that dies while its
zone runs holds it until its lease expires, and not a moment longer."""

import collections
import os
import re
import signal
import subprocess
import sys
import time

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HOSTS = ('host1', 'host2')
LEASE_EXPIRY = 20  # seconds, LEASE_EXPIRY_USEC in lib/hostdata.h


# The races run five zones at a time, each on its own shared disk: ten rounds of five
# races are the fifty races of the test, and five zones racing at once on two hosts
# press the hosts' restarters and the storage harder than one zone racing alone.
RACERS = tuple(f'kzo{i}' for i in range(5))
ROUNDS = 10

# what a host says of each racing zone: "ZONE yes|no STATE" per line (pgrep asks the
# processes, not kzones; kz[o] so that it does not find this shell, whose command line
# holds the pattern)
LOOK = ('for n in 0 1 2 3 4; do '
        'if pgrep -f "guest=kz[o]$n," >/dev/null; then r=yes; else r=no; fi; '
        'echo "kzo$n $r $(zoneadm -z kzo$n list -p | cut -d: -f3)"; done')
# halts and detaches each racing zone a host holds, the zones side by side
RELEASE = ('release() { s=$(zoneadm -z $1 list -p | cut -d: -f3); '
           'if [ "$s" = running ]; then zoneadm -z $1 halt || return 1; s=installed; fi; '
           'if [ "$s" = installed ]; then zoneadm -z $1 detach || return 1; fi; }; '
           'rc=0; for z in "$@"; do release $z & done; '
           'for j in $(jobs -p); do wait $j || rc=1; done; exit $rc')


def configure(host, zone, storage):
    labtest.lab('exec', host, 'zonecfg', '-z', zone,
                'create -t SYSkz-minimal; set capped-memory:physical=128M; remove anet; '
                f'select device id=0; set storage={storage}; end; '
                f'add boot; set kernel={GUEST}; set cmdline="interval=200"; end', check=True)


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
        for z in RACERS:
            labtest.lab('export', f'race-{z}', '256M', check=True)
            configure('host1', z, f'nbd://storage:10809/race-{z}')
            # the same configuration, key included, on both hosts
            export = labtest.lab('exec', 'host1', 'zonecfg', '-z', z, 'export', check=True).stdout
            labtest.lab('exec', 'host2', 'zonecfg', '-z', z, '-f', '-', input=export, check=True)
            labtest.lab('exec', 'host1', 'zoneadm', '-z', z, 'install', check=True)
            labtest.lab('exec', 'host1', 'zoneadm', '-z', z, 'detach', check=True)

    @classmethod
    def tearDownClass(cls):
        try:
            # a host that was killed boots again, so that the leak check can look inside it
            for h in HOSTS:
                if labtest.lab('exec', h, 'true', stdin=subprocess.DEVNULL, timeout=60).returncode != 0:
                    r = labtest.lab('reboot', h, timeout=300)
                    print(f'tear-down: lab reboot {h}: exit {r.returncode} {r.stderr.strip()}', file=sys.stderr)
            cls.halt_zones(*[(h, z) for z in ('kzo',) + RACERS for h in HOSTS])
        finally:
            super().tearDownClass()

    def zoneadm(self, host, *args, check=True):
        return self.exec(host, 'zoneadm', '-z', 'kzo', *args, check=check, timeout=300)

    def state(self, host):
        return self.zoneadm(host, 'list', '-p').stdout.split(':')[2]

    def look(self, host):
        """{zone: (whether a QEMU of the zone runs in host, asked of the processes; the
        zone's state as zoneadm says)} for every racing zone, in one command."""
        r = self.exec(host, 'sh', '-c', LOOK, check=False)
        looks = {}
        for line in r.stdout.splitlines():
            zone, running, state = (line.split() + ['', '', ''])[:3]
            looks[zone] = (running == 'yes', state)
        self.assertEqual(set(looks), set(RACERS), f'{host}: {r.stdout!r} {r.stderr!r}')
        return looks

    def test_1_racing_attach_and_boot(self):
        wins = {h: 0 for h in HOSTS}
        reasons = collections.Counter()   # why the losers lost, for the log
        cmd = 'zoneadm -z $0 attach && zoneadm -z $0 boot'
        began = time.monotonic()
        for rnd in range(ROUNDS):
            procs = {}
            # each zone of the round gets its own offset between the hosts (0 to 300 ms,
            # spread over the rounds) and its own host to go first
            starts = []
            for k, z in enumerate(RACERS):
                i = rnd * len(RACERS) + k
                offset = (i % 11) * 0.03
                first, second = HOSTS if i % 2 == 0 else tuple(reversed(HOSTS))
                starts += [(0.0, first, z, i, offset), (offset, second, z, i, offset)]
            t0 = time.monotonic()
            for at, host, z, i, offset in sorted(starts, key=lambda s: s[0]):
                time.sleep(max(0, t0 + at - time.monotonic()))
                procs[(z, host)] = subprocess.Popen(
                    [labtest.LAB, 'exec', host, 'sh', '-c', cmd, z], stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out = {key: p.communicate(timeout=180) for key, p in procs.items()}
            looks = {h: self.look(h) for h in HOSTS}
            for k, z in enumerate(RACERS):
                i = rnd * len(RACERS) + k
                on = [h for h in HOSTS if looks[h][z][0]]
                why = '\n'.join(f'{h}: exit {procs[(z, h)].returncode} {out[(z, h)][1]}' for h in HOSTS)
                self.assertLessEqual(len(on), 1, f'race {i} ({z}): the zone runs on {on}\n{why}')
                for h in on:
                    wins[h] += 1
                    self.assertEqual(looks[h][z][1], 'running', f'race {i} ({z})')
                codes = [procs[(z, h)].returncode for h in HOSTS]
                for h in HOSTS:
                    if procs[(z, h)].returncode != 0:
                        lines = out[(z, h)][1].strip().splitlines()
                        reasons[f'{h}: ' + re.sub(r"'kzo\d'", "'kzoN'", lines[-1] if lines else '')] += 1
                self.assertEqual([c == 0 for c in codes].count(True), len(on),
                                 f'race {i} ({z}): exit codes {codes} but running on {on}\n{why}')
            # back to zones nobody holds (one command per host)
            for h in HOSTS:
                held = [z for z in RACERS if looks[h][z][1] in ('running', 'installed')]
                if held:
                    self.exec(h, 'sh', '-c', RELEASE, 'release', *held, timeout=300)
        print(f'\n  {ROUNDS * len(RACERS)} races in {time.monotonic() - began:.0f} s; won: {wins}', file=sys.stderr)
        for why, n in reasons.most_common():
            print(f'  lost {n}×: {why}', file=sys.stderr)
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
