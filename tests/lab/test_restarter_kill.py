#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A restarter SIGKILLed at random moments of every operation, on a real host.

Seven zones on one host, each with one job: kb is booted, kh halted, ks
suspended, ki installed from a file image (install -a), kib installed with an
installer ISO (install -b, whose installer the test powers off as a real one
would), kc cloned from ksrc. In each round all six operations run at once and
the restarter (its whole cgroup: the install, clone and suspend helpers die
with it) is SIGKILLed once, at a moment drawn for each operation on its own
(stratified over the rounds, so that every part of each operation is hit: from
its first millisecond to just after it ends). So each kill lands in all six
operations, at six unrelated moments, as a crash with several operations in
flight does.

After each kill, once systemd has started the restarter again and the units
have stopped moving, what 'zoneadm list -cp' says is what is:

  - its state agrees with 'systemctl is-active zone@NAME' and with whether a
    QEMU process runs for the zone; a zone whose unit runs is 'running' (or,
    with its installer running, 'incomplete'), and its guest is running by
    QEMU's own word (query-status): no paused guest is reported as running;
  - running zones have unique ids;
  - an operation that told its caller it succeeded did (a boot that returned
    0 left the zone running, an install installed it, ...);
  - an interrupted install or clone is 'incomplete' with its partial disk
    recorded as created (never a 'configured' zone with a disk left over), or
    'configured' with no disk; an interrupted install -b stays 'incomplete'
    when its installer powers off;
  - ks never reboots: it runs on, or is suspended and resumes (its heartbeat
    keeps its boot id throughout);
  - /run/kzones holds no note of an operation that will not come (a launch
    request, a launch result nobody took, the suspending note, the id of a zone
    not running),
    and no half-written file (*.partial, *.<hex>.tmp) is left anywhere.

Then each operation is tried again and works: boot boots, halt halts,
suspend suspends and boot resumes, install -a, install -b and clone complete
(on every other round, uninstall of the incomplete zone instead, which removes
its partial disk).

Rounds: 14 by default, so 14 kills in each of the six operations, each in its
own fourteenth of the operation's span (169 s for 20 rounds in the last CI run
made make check too long). Figures (the project's 2-core machine, shared with
other users): 20 rounds, so 20 kills in each of the six operations, took 190 s and
230 s under meson (load average 4-11), 250-330 s while the machine's load
was 9-12; a round is 7-20 s: 2-6 s for the operations, the kill and the
check, the rest the retries, mostly install, install -b and clone (a claim of
a zone's storage waits 2 s, docs/decisions.md; the full retries of kib
alternate with those of ki and kc for that). KZ_KILL_ROUNDS sets the number
of rounds, KZ_KILL_SEED the random seed (it is printed, with each round's
moments and outcomes, and a summary of outcomes by moment at the end)."""

import concurrent.futures
import json
import os
import random
import re
import subprocess
import sys
import time

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
IMAGE = '/srv/kzkill-image.raw'
ISO = '/srv/kzkill-installer.iso'
ROUNDS = int(os.environ.get('KZ_KILL_ROUNDS', '14'))

# zone -> (what is done to it, the span in s (after the operation starts) the kill is drawn from)
# The spans are about 1.3 times what each takes on its own here, so that some kills come just after.
OPS = {
    'kb': (['boot'], 0.6),
    'kh': (['halt'], 0.8),
    'ks': (['suspend'], 0.8),
    'ki': (['install', '-a', IMAGE], 3.0),
    'kib': (['install', '-b', ISO], 3.8),
    'kc': (['clone', 'ksrc'], 3.0),
}
ZONES = ('kb', 'kh', 'ks', 'ki', 'kib', 'kc', 'ksrc')
INSTALLS = ('ki', 'kib', 'kc')
# What a zone that is not running may keep in /run/kzones/NAME: its stale sockets
# (zone@.service keeps the directory), the lock of its host data, why it failed.
IDLE_FILES = {'console.sock', 'control.sock', 'qmp.sock', 'hostdata.lock'}
# notes between the restarter and the launcher that a running zone has read already
RUNNING_NOTES = {'request', 'request.taken', 'suspending'}

# In the host: one round. Starts each operation at its moment, SIGKILLs the
# restarter's cgroup at KILL_AT, waits for the restarter to answer again and for
# the units to settle, and prints what is, as JSON.
ROUND = r"""
import json, os, re, socket, subprocess, sys, time
plan = json.loads(sys.argv[1])
zones = plan['zones']

def run(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def qmp(zone, command, timeout=5):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(f'/run/kzones/{zone}/control.sock')
    f = s.makefile('rw')
    f.readline()
    f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\n'); f.flush(); f.readline()
    f.write(json.dumps({'execute': command}) + '\n'); f.flush()
    while True:
        m = json.loads(f.readline())
        if 'return' in m or 'error' in m:
            s.close()
            return m

def units():
    r = run('systemctl', 'show', '-p', 'Id,ActiveState', *[f'zone@{z}.service' for z in zones])
    out, cur = {}, {}
    for line in r.stdout.splitlines() + ['']:
        if not line:
            if cur:
                out[cur['Id'][len('zone@'):-len('.service')]] = cur['ActiveState']
            cur = {}
            continue
        k, _, v = line.partition('=')
        cur[k] = v
    return out

def listed():
    r = run('zoneadm', 'list', '-cp')
    if r.returncode != 0:
        return None
    out = {}
    for line in r.stdout.splitlines():
        f = line.split(':')
        if len(f) > 3 and f[1] in zones:
            out[f[1]] = {'id': f[0], 'state': f[2], 'aux': f[-1]}
    return out

def qemus():
    out = {}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                argv = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if argv and os.path.basename(argv[0]).startswith('qemu-system') and '-name' in argv:
            name = argv[argv.index('-name') + 1].split(',')[0]
            if name.startswith('guest='):
                out.setdefault(name[len('guest='):], []).append(int(pid))
    return out

def agrees(u, l):
    for z in zones:
        a, s = u.get(z), l[z]['state']
        if a not in ('active', 'inactive', 'failed'):
            return False
        if a == 'active' and not (s == 'running' or (s == 'incomplete' and z == 'kib')):
            return False
        if a != 'active' and s not in ('installed', 'configured', 'incomplete'):
            return False
    return True

def restarter_pid():
    return run('systemctl', 'show', '-P', 'MainPID', 'kzones-restarterd').stdout.strip()

def console_size(zone):
    try:
        return os.path.getsize(f'/var/log/zones/{zone}.console')
    except OSError:
        return 0

# the restarter of the last round still runs (it did not crash meanwhile); the ids before
out = {'said': {}, 'pid_before': restarter_pid(), 'before': listed()}
console_at = {z: console_size(z) for z in zones}
events = [(at, 'op', z, argv) for z, (at, argv) in plan['ops'].items()]
events += [(at, 'powerdown', z, None) for z, at in plan.get('powerdown', {}).items()]
events.append((plan['kill_at'], 'kill', None, None))
events.sort(key=lambda e: e[0])
run('systemctl', 'reset-failed', 'kzones-restarterd')   # at most 5 starts in 10 s otherwise
procs = {}
t0 = time.monotonic()
for at, kind, zone, argv in events:
    d = t0 + at - time.monotonic()
    if d > 0:
        time.sleep(d)
    if kind == 'op':
        procs[zone] = subprocess.Popen(['zoneadm', '-z', zone] + argv, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
    elif kind == 'powerdown':
        try:
            qmp(zone, 'system_powerdown', timeout=1)
        except (OSError, ValueError):
            pass
    else:
        out['killed_wall'] = time.time()
        t_kill = time.monotonic()
        r = run('systemctl', 'kill', '--signal=SIGKILL', 'kzones-restarterd')
        out['kill_rc'] = r.returncode
for zone, p in procs.items():
    try:
        o, e = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        o, e = p.communicate()
    out['said'][zone] = [p.returncode, e.strip().replace('\n', ' | ')]
# the restarter answers again
deadline = time.monotonic() + 60
while run('zoneadm', 'list', '-p').returncode != 0 and time.monotonic() < deadline:
    time.sleep(0.05)
out['back'] = time.monotonic() - t_kill
out['pid_back'] = restarter_pid()
# the units stop moving, and the restarter says what they are
deadline = time.monotonic() + 60
while True:
    u, l = units(), listed()
    if l is not None and agrees(u, l):
        out['settled'] = True
        break
    if time.monotonic() > deadline:
        out['settled'] = False
        break
    time.sleep(0.1)
out['settle'] = time.monotonic() - t_kill
u, l, q = units(), listed(), qemus()
out['zones'] = {}
for z in zones:
    d = {'unit': u.get(z), 'qemu': q.get(z, []), **(l or {}).get(z, {})}
    try:
        d['files'] = sorted(os.listdir(f'/run/kzones/{z}'))
    except OSError:
        d['files'] = []
    if d['qemu']:
        try:
            m = qmp(z, 'query-status')
            d['guest'] = m['return']['status'] if 'return' in m else 'error: ' + json.dumps(m['error'])
        except (OSError, ValueError) as e:
            d['guest'] = f'no answer: {e}'
    try:
        with open(f'/var/lib/kzones/{z}.created') as f:
            d['created'] = f.read().split()
    except OSError:
        d['created'] = []
    d['disk'] = os.path.exists(f'/var/lib/zones/{z}/disk0.img')
    try:
        with open(f'/var/log/zones/{z}.console', 'rb') as f:
            f.seek(console_at[z])
            d['powered_off'] = b'kzguest: power button: powering off' in f.read()
    except OSError:
        d['powered_off'] = False
    out['zones'][z] = d
half = re.compile(r'(\.partial|\.[0-9a-f]{16}\.tmp)$')
out['halfwritten'] = []
for top in ('/run/kzones', '/etc/zones', '/var/lib/zones', '/var/lib/kzones', '/etc/systemd/system', '/srv'):
    for root, dirs, files in os.walk(top):
        out['halfwritten'] += [os.path.join(root, f) for f in files if half.search(f)]
out['pid_after'] = restarter_pid()
out['journal'] = run('journalctl', '-q', '-o', 'cat', '-u', 'kzones-restarterd',
                     f'--since=@{out["killed_wall"]:.6f}').stdout.splitlines()[-100:]
print(json.dumps(out))
"""

# In the host: QMP on a zone's control socket; prints the reply.
QMP = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(f'/run/kzones/{sys.argv[1]}/control.sock')
f = s.makefile('rw')
f.readline(); f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\n'); f.flush(); f.readline()
f.write(json.dumps({'execute': sys.argv[2]}) + '\n'); f.flush()
while True:
    m = json.loads(f.readline())
    if 'return' in m or 'error' in m:
        print(json.dumps(m)); break
"""


# In the host: 'zoneadm -z ZONE uninstall' on a terminal, answering its question with y
# (without -F, which would uninstall whatever failed); prints its exit status and output.
UNINSTALL = r"""
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp('zoneadm', ['zoneadm', '-z', sys.argv[1], 'uninstall'])
out = b''
asked = False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not asked and b'(y/[n])?' in out:
        os.write(fd, b'y\n')
        asked = True
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
print(out.decode(errors='replace'))
"""


class RestarterKilledAnywhere(labtest.LabTestCase):
    hosts = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        boot = f'add boot; set kernel={GUEST}; set cmdline="dirty=4K rate=0 interval=100"; end'
        for z in ZONES:
            extra = '; add suspend; set path=/var/lib/zones/ks/suspend.img; end' if z == 'ks' else ''
            labtest.lab('exec', 'host1', 'zonecfg', '-z', z,
                        f'create -t SYSkz-minimal; set capped-memory:physical=128M; {boot}{extra}', check=True)
        labtest.lab('exec', 'host1', 'sh', '-c', f'head -c 67108864 /dev/urandom > {IMAGE} && '
                    f'head -c 1048576 /dev/zero > {ISO}', check=True)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(labtest.lab, 'exec', 'host1', 'zoneadm', '-z', z, 'install', check=True,
                                  timeout=300) for z in ('kb', 'kh', 'ks', 'ksrc')]:
                f.result()
        for z in ('kh', 'ks'):
            labtest.lab('exec', 'host1', 'zoneadm', '-z', z, 'boot', check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(*[('host1', z) for z in ZONES])
            # an installer (install -b) that still runs: the zone is incomplete, halt refuses it
            for z in ZONES:
                labtest.lab('exec', 'host1', 'systemctl', 'stop', f'zone@{z}.service', timeout=120)
            labtest.lab('exec', 'host1', 'rm', '-f', IMAGE, ISO, timeout=60)
        finally:
            super().tearDownClass()

    # ---- what the host says

    def zoneadm(self, zone, *args, check=True):
        return self.exec('host1', 'zoneadm', '-z', zone, *args, check=check, timeout=300)

    def listed(self, zone):
        """(id, state, auxiliary states) as 'zoneadm list -p' shows them."""
        f = self.zoneadm(zone, 'list', '-p').stdout.strip().split(':')
        return f[0], f[2], f[-1]

    def state(self, zone):
        return self.listed(zone)[1]

    def unit(self, zone):
        return self.exec('host1', 'systemctl', 'is-active', f'zone@{zone}', check=False).stdout.strip()

    def qmp(self, zone, command):
        return json.loads(self.exec('host1', 'python3', '-c', QMP, zone, command).stdout)

    def console(self, zone):
        return self.exec('host1', 'cat', f'/var/log/zones/{zone}.console', check=False).stdout

    def last_beat(self, zone):
        beats = HB.findall(self.console(zone))
        return (beats[-1][0], int(beats[-1][1])) if beats else (None, 0)

    def beat_after(self, zone, boot, n, timeout=60):
        """Waits for a heartbeat of boot id BOOT with a counter above N."""
        def newer():
            return any(b == boot and int(c) > n for b, c in HB.findall(self.console(zone)))
        self.wait_for(newer, timeout=timeout, msg=f'a heartbeat of {zone} boot {boot} after {n}')

    # ---- the checks after each kill

    def assert_truth(self, rnd, out):
        """What zoneadm says after the kill is what is (see the module's docstring)."""
        where = f'round {rnd}'
        zones = out['zones']
        self.assertTrue(out['settled'], f'{where}: the units and the restarter do not agree 60 s after the kill '
                        f'(the restarter answered after {out["back"]:.1f} s): '
                        f'{json.dumps(zones)}\n' + '\n'.join(out['journal']))
        running_ids = []
        for z, d in zones.items():
            what = f'{where}: zone {z} ({d})'
            self.assertIn(d['unit'], ('active', 'inactive', 'failed'), what)
            if d['unit'] == 'active':
                self.assertEqual(len(d['qemu']), 1, f'{what}: its unit runs, but not one QEMU')
                self.assertEqual(d.get('guest'), 'running', f'{what}: its guest is not running')
                self.assertEqual(d['aux'], '', f'{what}: a running guest with an auxiliary state')
                if d['state'] == 'incomplete':
                    self.assertEqual(z, 'kib', f'{what}: incomplete, with a unit that runs')
                else:
                    self.assertEqual(d['state'], 'running', what)
                    self.assertRegex(d['id'], r'^[0-9]+$', what)
                    running_ids.append(d['id'])
                self.assertEqual(sorted(set(d['files']) & RUNNING_NOTES), [], f'{what}: notes left in /run/kzones')
            else:
                self.assertEqual(d['qemu'], [], f'{what}: its unit is {d["unit"]}, but QEMU runs')
                self.assertIn(d['state'], ('installed', 'configured', 'incomplete'), what)
                self.assertEqual(d['id'], '-', what)
                self.assertEqual(sorted(set(d['files']) - IDLE_FILES), [],
                                 f'{what}: stale files in /run/kzones/{z}')
        self.assertEqual(len(running_ids), len(set(running_ids)), f'{where}: zone ids not unique: {zones}')
        # a zone that ran before the kill and runs on keeps its id
        for z, d in zones.items():
            was = (out['before'] or {}).get(z, {})
            if was.get('state') == 'running' and d['state'] == 'running':
                self.assertEqual(d['id'], was['id'], f'{where}: zone {z} ran on, with another id')
        self.assertEqual(out['pid_after'], out['pid_back'], f'{where}: the restarter died again after the kill')
        self.assertEqual(out['halfwritten'], [], f'{where}: half-written files left')

        # each zone: only what its operation can have left, and a success that was said is real
        said = {z: rc for z, (rc, _) in out['said'].items()}
        st = {z: (d['state'], d['aux']) for z, d in zones.items()}
        self.assertIn(st['kb'], (('running', ''), ('installed', '')), where)
        self.assertIn(st['kh'], (('running', ''), ('installed', '')), where)
        self.assertIn(st['ks'], (('running', ''), ('installed', 'suspended')), where)
        self.assertEqual(st['ksrc'], ('installed', ''), where)
        if said['kb'] == 0:
            self.assertEqual(st['kb'][0], 'running', f'{where}: boot said it booted kb')
        if said['kh'] == 0:
            self.assertEqual(st['kh'][0], 'installed', f'{where}: halt said it halted kh')
        if said['ks'] == 0:
            self.assertEqual(st['ks'], ('installed', 'suspended'), f'{where}: suspend said it suspended ks')
        for z in INSTALLS:
            d = zones[z]
            disk = f'/var/lib/zones/{z}/disk0.img'
            what = f'{where}: zone {z} ({d})'
            if said[z] == 0:
                self.assertEqual(d['state'], 'installed', f'{what}: its install or clone said it was done')
            if z == 'kib' and d['state'] == 'installed':
                self.assertTrue(d['powered_off'], f'{what}: installed, but its installer did not run to the end')
            if d['state'] == 'configured':
                self.assertFalse(d['disk'], f'{what}: configured, with a disk left behind')
                self.assertEqual(d['created'], [], what)
            elif d['disk']:
                # incomplete or installed: the disk is this zone's, recorded, so uninstall removes it
                self.assertIn(disk, d['created'], f'{what}: a disk not recorded as created')
            else:
                self.assertEqual(d['state'], 'incomplete', f'{what}: installed without its disk')

    # ---- the operations again

    def install_b(self, zone):
        """install -b, with the installer powered off once it runs (as a real one powers off when done)."""
        p = subprocess.Popen([labtest.LAB, 'exec', 'host1', 'zoneadm', '-z', zone, 'install', '-b', ISO],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.power_off_installer(zone, lambda: p.poll() is None)
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 0, f'install -b of {zone}: {err}')

    def power_off_installer(self, zone, still=lambda: True):
        """Waits for the installer's guest to be ready and presses its power button."""
        self.wait_for(lambda: not still() or (self.unit(zone) == 'active' and 'kzguest: acpi: power button ready'
                                              in self.console(zone).split('boot id=')[-1]),
                      timeout=60, msg=f'the installer of {zone} to run')
        if still():
            self.qmp(zone, 'system_powerdown')
        self.wait_for(lambda: self.unit(zone) in ('inactive', 'failed'), timeout=60,
                      msg=f'the installer of {zone} to power off')

    def install(self, zone):
        if zone == 'kib':
            self.install_b(zone)
        else:
            self.zoneadm(zone, *OPS[zone][0])
        self.assertEqual(self.listed(zone), ('-', 'installed', ''))
        created = self.exec('host1', 'cat', f'/var/lib/kzones/{zone}.created').stdout.split()
        self.assertIn(f'/var/lib/zones/{zone}/disk0.img', created)

    def uninstall(self, zone):
        r = self.exec('host1', 'python3', '-c', UNINSTALL, zone, timeout=300)
        rc, _, said = r.stdout.partition('\n')
        self.assertEqual(rc, '0', f'uninstall of {zone}: {said}')
        self.assertEqual(self.state(zone), 'configured')
        r = self.exec('host1', 'ls', f'/var/lib/zones/{zone}/disk0.img', f'/var/lib/kzones/{zone}.created',
                      check=False)
        self.assertEqual(r.stdout, '', f'uninstall of {zone} left its disk or its record')

    def again(self, rnd, zone, d):
        """Tries ZONE's operation again (it works), and makes the zone ready for the next round."""
        state = d['state']
        if zone == 'kb':
            if state != 'running':
                self.zoneadm(zone, 'boot')
                self.assertEqual(self.listed(zone)[1:], ('running', ''))
                self.assertEqual(self.qmp(zone, 'query-status')['return']['status'], 'running')
            self.zoneadm(zone, 'halt')
            self.assertEqual(self.listed(zone), ('-', 'installed', ''))
        elif zone == 'kh':
            if state == 'running':
                self.zoneadm(zone, 'halt')
                self.assertEqual(self.listed(zone), ('-', 'installed', ''))
                self.assertEqual(self.unit(zone), 'inactive')
            self.zoneadm(zone, 'boot')
            self.assertEqual(self.listed(zone)[1:], ('running', ''))
        elif zone == 'ks':
            if state == 'running':
                self.zoneadm(zone, 'suspend')
                self.assertEqual(self.listed(zone), ('-', 'installed', 'suspended'))
            last = self.last_beat(zone)
            # it resumes where it stopped: the same boot, on
            self.zoneadm(zone, 'boot')
            self.assertEqual(self.listed(zone)[1:], ('running', ''))
            self.beat_after(zone, *last)
        elif zone in INSTALLS:
            if zone == 'kib' and d['unit'] == 'active':
                # the installer of the interrupted install -b finishes: the zone stays incomplete,
                # for nobody knows whether the install that was cut short did all it should
                self.power_off_installer(zone)
                self.assertEqual(self.state(zone), 'incomplete')
            # kib's full retry on the rounds where ki's and kc's are uninstalls, and the other
            # way round, so that no round waits for all three
            if state == 'incomplete' and (rnd + (zone == 'kib')) % 2:
                self.uninstall(zone)
            elif state != 'installed':
                self.install(zone)
            if self.state(zone) != 'configured':
                self.uninstall(zone)

    def test_restarter_killed_in_every_operation(self):
        seed = int(os.environ.get('KZ_KILL_SEED') or time.time())
        print(f'seed {seed} (KZ_KILL_SEED), {ROUNDS} rounds', file=sys.stderr)
        rng = random.Random(seed)
        # stratified: round i of each operation hits the i-th slice of its span, the slices shuffled
        # for each operation on its own, so that the six moments of one kill are unrelated
        slices = {z: rng.sample(range(ROUNDS), ROUNDS) for z in OPS}
        ks_boot = self.wait_for(lambda: self.last_beat('ks')[0], timeout=60, msg='a first heartbeat of ks')
        outcomes = {z: {} for z in OPS}
        t_start = time.monotonic()
        for rnd in range(ROUNDS):
            t0 = time.monotonic()
            delay = {z: (slices[z][rnd] + rng.random()) / ROUNDS * span for z, (_, span) in OPS.items()}
            kill_at = max(delay.values()) + 0.05
            plan = {'zones': list(ZONES), 'kill_at': kill_at,
                    'ops': {z: [kill_at - delay[z], argv] for z, (argv, _) in OPS.items()}}
            # half the time, the installer of install -b is powered off shortly before the kill, so
            # that the kill also lands while it powers off and its install completes
            if rnd % 2 and delay['kib'] > 2.5:
                plan['powerdown'] = {'kib': kill_at - rng.uniform(0, 0.5)}
            r = self.exec('host1', 'python3', '-c', ROUND, json.dumps(plan), timeout=300)
            out = json.loads(r.stdout)
            self.assertEqual(out['kill_rc'], 0)
            if rnd > 0:
                self.assertEqual(out['pid_before'], pid, f'round {rnd - 1}: the restarter died (not killed) '
                                 'while the operations were tried again')
            pid = out['pid_after']
            zones = out['zones']
            try:
                self.assert_truth(rnd, out)
            except AssertionError:
                print(f'round {rnd}: plan {json.dumps(plan)}\nzoneadm said: {json.dumps(out["said"])}\n'
                      'the restarter:\n  ' + '\n  '.join(out['journal']), file=sys.stderr)
                raise
            t_check = time.monotonic() - t0
            for z in OPS:
                key = '/'.join(x for x in (zones[z]['state'], zones[z]['aux'],
                                           'installer runs' if z == 'kib' and zones[z]['unit'] == 'active'
                                           else '') if x)
                outcomes[z].setdefault(key, []).append(round(delay[z], 2))
            print(f'round {rnd}: kill at ' + ', '.join(f'{z} {delay[z]:.2f} s' for z in OPS) +
                  f'; back {out["back"]:.1f} s, settled {out["settle"]:.1f} s; ' +
                  ', '.join(f'{z} {zones[z]["state"]}{"+" + zones[z]["aux"] if zones[z]["aux"] else ""}'
                            for z in OPS), file=sys.stderr)
            took = {}

            def again(z):
                t = time.monotonic()
                self.again(rnd, z, zones[z])
                took[z] = time.monotonic() - t
            with concurrent.futures.ThreadPoolExecutor(len(OPS)) as pool:
                for f in [pool.submit(again, z) for z in OPS]:
                    f.result()
            ids = [l.split(':')[0] for l in self.exec('host1', 'zoneadm', 'list', '-p').stdout.splitlines()]
            self.assertEqual(len(ids), len(set(ids)), f'round {rnd}: zone ids not unique after the retries: {ids}')
            # ks was never rebooted: suspended and resumed, or running on
            self.assertEqual(self.last_beat('ks')[0], ks_boot, f'round {rnd}: ks rebooted')
            print(f'  check {t_check:.1f} s, again {time.monotonic() - t0 - t_check:.1f} s (' +
                  ', '.join(f'{z} {t:.1f}' for z, t in took.items()) + ')', file=sys.stderr)
        self.assertEqual(self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', 'kzones-restarterd').stdout.strip(),
                         pid, 'the restarter died (not killed) while the operations were tried again')
        print(f'{ROUNDS} kills in {time.monotonic() - t_start:.0f} s; outcomes (kill moments in s after each '
              f'operation began):\n' + '\n'.join(f'  {z} {OPS[z][0][0]}: {json.dumps(o)}' for z, o in
                                                 outcomes.items()), file=sys.stderr)


if __name__ == '__main__':
    labtest.main()
