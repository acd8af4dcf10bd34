# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for the lab tests: a unittest base class that brings the lab up
for a test class and always takes it down again, even when the test fails,
times out (meson sends SIGTERM, then SIGKILL half a second later) or is
interrupted.

    class MyTest(labtest.LabTestCase):
        hosts = 2

        def test_something(self):
            r = self.exec('host1', 'ssh', 'root@host2', 'hostname')
            self.assertEqual(r.stdout.strip(), 'host2')

    if __name__ == '__main__':
        labtest.main()

KZLAB_KEEP=1 leaves the lab up after the tests, for a look around
(`tests/lab/lab exec host1 bash`); the next `lab up` or `lab down` removes it.
"""

import atexit
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

# tests/kzbus.py, for callers that put only tests/lab on the path (.ci/run, bench/)
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import kzbus  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, 'lab')
STATE = '/run/kzlab/state.json'
BUILD = os.environ.get('KZONES_BUILD_DIR') or os.path.normpath(os.path.join(HERE, '..', '..', 'build'))
RUN_DIRS = ['/run/netns', '/run/mount', '/run/systemd/nspawn']
TOOLS = ['systemd-nspawn', 'nsenter', 'ip', 'qemu-system-x86_64', 'qemu-storage-daemon',
         'qemu-img', 'qemu-io', 'ssh', 'ssh-keygen', 'busctl']


def lab(*args, check=False, capture=True, timeout=600, **kw):
    """Run tests/lab/lab with ARGS; a CompletedProcess with text output."""
    return subprocess.run([LAB] + [str(a) for a in args], text=True, timeout=timeout,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, check=check, **kw)


def unavailable():
    """Why the lab cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return 'the lab needs root'
    if not os.path.exists('/dev/kvm'):
        return 'no /dev/kvm'
    if not os.path.exists('/dev/net/tun'):
        return 'no /dev/net/tun'
    if not os.path.exists('/usr/sbin/sshd'):
        return 'no sshd (openssh-server)'
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        return 'missing: ' + ' '.join(missing)
    return None


def state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- the machine, before and after

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def hugepage_counts():
    out = {}
    for k in ['/proc/sys/vm/nr_hugepages', '/proc/sys/vm/nr_overcommit_hugepages']:
        out[k] = (_read(k) or '').strip()
    base = '/sys/kernel/mm/hugepages'
    for d in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        for k in ('nr_hugepages', 'nr_overcommit_hugepages', 'resv_hugepages'):
            p = os.path.join(base, d, k)
            out[p] = (_read(p) or '').strip()
    return out


def meminfo(field):
    for line in (_read('/proc/meminfo') or '').splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    return None


def _live_pids(comm_prefix):
    pids = set()
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        stat = _read(f'/proc/{d}/stat')
        if not stat:
            continue
        comm, rest = stat.split('(', 1)[1].rsplit(')', 1)
        if comm.startswith(comm_prefix) and rest.split()[0] not in ('Z', 'X'):
            pids.add(int(d))
    return pids


def machine_snapshot():
    """What the lab must give back: root netns links/addresses/routes,
    hugepage pools, QEMU processes, mounts, cgroups."""
    def ip(*a):
        return subprocess.run(['ip', '-o'] + list(a), stdout=subprocess.PIPE, text=True).stdout
    mounts = [line.split()[4] for line in (_read('/proc/self/mountinfo') or '').splitlines()]
    return {
        'links': ip('link', 'show'), 'addrs': ip('addr', 'show'), 'routes': ip('route', 'show', 'table', 'all'),
        'hugepages': hugepage_counts(), 'qemu': _live_pids('qemu-'),
        'run': {d: os.path.exists(d) for d in RUN_DIRS}, 'netns_mounted': '/run/netns' in mounts,
    }


def leftovers(before):
    """Everything the lab left behind, compared with a machine_snapshot()."""
    found = []
    ns = subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE, text=True).stdout
    found += [f'netns {line.split()[0]}' for line in ns.splitlines() if line.startswith('kzlab-')]
    for line in (_read('/proc/self/mountinfo') or '').splitlines():
        mp = line.split()[4]
        if mp.startswith('/run/kzlab') or mp.startswith('/run/netns/kzlab-'):
            found.append(f'mount {mp}')
    for pid in _live_pids('systemd-nspawn'):
        if '/run/kzlab/' in (_read(f'/proc/{pid}/cmdline') or ''):
            found.append(f'nspawn process {pid}')
    my_net = os.stat('/proc/self/ns/net').st_ino
    for pid in _live_pids('qemu-') - before['qemu']:
        try:
            net = os.stat(f'/proc/{pid}/ns/net').st_ino
        except OSError:
            continue
        cmdline = (_read(f'/proc/{pid}/cmdline') or '').replace('\0', ' ')
        if net == my_net and '/run/kzlab' not in cmdline:
            continue                # someone else's QEMU on the machine
        found.append(f'qemu process {pid}: {cmdline[:80]}')
    if os.path.exists('/run/kzlab'):
        found.append('/run/kzlab exists')
    for h in ('/sys/fs/cgroup/systemd/kzlab', '/sys/fs/cgroup/unified/kzlab', '/sys/fs/cgroup/kzlab'):
        if os.path.exists(h):
            found.append(f'cgroup {h}')
    for d in RUN_DIRS:
        if os.path.exists(d) and not before['run'][d]:
            found.append(f'{d} (did not exist before)')
    now = hugepage_counts()
    for k, v in before['hugepages'].items():
        if now.get(k) != v:
            found.append(f'{k} is {now.get(k)}, was {v}')
    after = machine_snapshot()
    if after['netns_mounted'] != before['netns_mounted']:
        found.append('/run/netns mount')
    for k in ('links', 'addrs', 'routes'):
        if after[k] != before[k]:
            found.append(f'root netns {k} changed')
    return found


# ---------------------------------------------------------------- inside the hosts, before and after

# What counts as a leak inside a lab host, checked when a test class ends, after
# its own tear-down has stopped its zones and disabled its pools, and before
# `lab down` (which would hide it: the host's mounts, links and processes die
# with it, and `lab down` puts the machine's huge pages back):
#
#   - a zone unit (zone@NAME.service) active, activating, deactivating or
#     reloading: the class did not stop its zone;
#   - a pool unit (memory-reserve@POOL.service) active: the class did not
#     disable its pool;
#   - a QEMU process (qemu-system-*) or a console relay (kz-console): with no
#     zone running, nothing may be left of one;
#   - a network link that was not there at lab up: a zone's tap (kz…), a
#     macvtap labelled 'kzones zone NAME anet ID' (its ifalias), a VLAN device
#     labelled 'kzones vlan', or anything else a test made;
#   - a macvtap's device node, /dev/.kzones-tap*;
#   - a hugetlbfs mount that was not there at lab up (under
#     /run/kzones-pools/POOL with its pool unit not running, or anywhere else),
#     and any other mount under /run/kzones;
#   - huge pages of any size (nr_hugepages, resv_hugepages, surplus_hugepages
#     in /sys/kernel/mm/hugepages) other than at lab up: the kernel's counts,
#     as the host sees them;
#   - a half-written file: an unfinished suspend image (*.partial) or the
#     temporary file of an atomic write (*.<16 hex digits>.tmp) under
#     /run/kzones, /etc/zones, /var/lib/zones, /var/lib/kzones, /var/log/zones,
#     /etc/systemd/system or /srv (/srv/shared is every host's);
#   - a CPU probe's scratch directory, /run/kzones-cpu/.cpu-probe.XXXXXX (its lock
#     file, .cpu-probe.lock, stays);
#   - anything in /run/kzones but a zone's directory (it holds one directory per
#     zone and nothing else).
#
# Not a leak: /run/kzones/NAME of a zone that is not running, and the files in
# it (its stale sockets, the notes between the restarter and the launcher):
# zone@.service keeps it on purpose (RuntimeDirectoryPreserve=yes).

HOST_SNAPSHOT = r"""
import glob, json, os, re, subprocess

def run(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout

def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None

out = {'hugepages': {}, 'mounts': [], 'links': {}, 'nodes': sorted(glob.glob('/dev/.kzones-tap*')),
       'procs': [], 'units': {}, 'halfwritten': [],
       'scratch': sorted(d for d in glob.glob('/run/kzones-cpu/.cpu-probe.*') if os.path.isdir(d)),
       'rundir': sorted(e.name for e in os.scandir('/run/kzones') if not e.is_dir(follow_symlinks=False))
                 if os.path.isdir('/run/kzones') else []}
for d in sorted(glob.glob('/sys/kernel/mm/hugepages/hugepages-*')):
    out['hugepages'][os.path.basename(d)] = {k: read(f'{d}/{k}')
                                            for k in ('nr_hugepages', 'resv_hugepages', 'surplus_hugepages')}
for line in (read('/proc/self/mountinfo') or '').splitlines():
    f = line.split()
    fstype = f[f.index('-') + 1]
    if fstype == 'hugetlbfs' or f[4] == '/run/kzones' or f[4].startswith('/run/kzones/'):
        out['mounts'].append([f[4], fstype])
for l in json.loads(run('ip', '-j', '-d', 'link', 'show') or '[]'):
    out['links'][l['ifname']] = {'kind': (l.get('linkinfo') or {}).get('info_kind', ''), 'alias': l.get('ifalias', '')}
for pid in filter(str.isdigit, os.listdir('/proc')):
    comm = read(f'/proc/{pid}/comm') or ''
    if comm.startswith('qemu-system') or comm == 'kz-console':
        cmd = (read(f'/proc/{pid}/cmdline') or '').replace('\0', ' ')
        out['procs'].append([int(pid), comm, cmd[:100]])
for line in run('systemctl', 'list-units', '--all', '--plain', '--no-legend', '--no-pager',
                'zone@*', 'memory-reserve@*').splitlines():
    f = line.split()
    if len(f) >= 4:
        out['units'][f[0]] = f[2]
half = re.compile(r'(\.partial|\.[0-9a-f]{16}\.tmp)$')
for top in ('/run/kzones', '/etc/zones', '/var/lib/zones', '/var/lib/kzones', '/var/log/zones',
            '/etc/systemd/system', '/srv'):
    for root, dirs, files in os.walk(top):       # /srv/shared, where suspend images go, included
        out['halfwritten'] += [os.path.join(root, f) for f in files if half.search(f)]
print(json.dumps(out))
"""


def host_snapshot(host):
    """What host HOST holds that a test could leak (see above), as a dict."""
    r = lab('exec', host, 'python3', '-c', HOST_SNAPSHOT, timeout=120, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f'{host}: cannot look inside: exit {r.returncode}\n{r.stdout}{r.stderr}')
    return json.loads(r.stdout)


def host_leaks(before, now):
    """What a host holds now that it did not hold at lab up (BEFORE), or should
    not hold at all once its test has stopped its zones: a list of sentences."""
    found = []
    units = now['units']
    for unit, state in sorted(units.items()):
        if unit.startswith('zone@') and state in ('active', 'activating', 'deactivating', 'reloading'):
            found.append(f'{unit} is {state}: the test did not stop its zone')
        if unit.startswith('memory-reserve@') and state in ('active', 'activating', 'reloading'):
            found.append(f'{unit} is {state}: the test did not disable its pool')
    for pid, comm, cmd in now['procs']:
        what = 'a console relay' if comm == 'kz-console' else 'a QEMU process'
        found.append(f'{what}, pid {pid}: {cmd}')
    for name, l in sorted(now['links'].items()):
        if name in before['links']:
            continue
        label = f" labelled '{l['alias']}'" if l['alias'] else ''
        found.append(f"link {name} ({l['kind'] or 'no kind'}){label}, not there at lab up")
    for node in now['nodes']:
        found.append(f'device node {node}')
    for target, fstype in now['mounts']:
        if [target, fstype] in before['mounts']:
            continue
        m = re.match(r'/run/kzones-pools/([^/]+)/', target + '/')
        if m:
            unit = f'memory-reserve@{m.group(1)}.service'
            found.append(f'{fstype} mount {target} of pool {m.group(1)}, whose unit is '
                         f'{units.get(unit, "not loaded")}')
        else:
            found.append(f'{fstype} mount {target}, not there at lab up')
    for size, counts in sorted(now['hugepages'].items()):
        for k, v in counts.items():
            was = before['hugepages'].get(size, {}).get(k)
            if v != was:
                found.append(f'{size}/{k} is {v}, was {was} at lab up')
    for path in now['halfwritten']:
        found.append(f'half-written file {path}')
    for path in now['scratch']:
        found.append(f'CPU probe scratch directory {path}')
    for name in now.get('rundir', []):
        found.append(f'/run/kzones/{name}, which is no zone\'s directory')
    return found


def lab_leaks(before, settle=10):
    """Leaks inside every host of the lab, compared with BEFORE ({host:
    host_snapshot}); things on their way out (a unit stopping, a relay
    exiting) get SETTLE seconds to go."""
    deadline = time.monotonic() + settle
    while True:
        found = []
        for host in sorted(before):
            try:
                found += [f'{host}: {x}' for x in host_leaks(before[host], host_snapshot(host))]
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                found.append(f'{host}: {e}')
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(1)


# ---------------------------------------------------------------- tear-down on every path

_lock_fd = None
_lab_up = False
_handlers_installed = False


def _lock():
    """Hold the lab lock (a flock on /run, as tests/lab/lab takes it) for the
    whole test class, so that no other test run brings the lab down under us."""
    global _lock_fd
    if _lock_fd is None and os.environ.get('KZLAB_LOCK_HELD'):
        # the caller holds the lock for the whole run (.ci/run: flock /run … KZLAB_LOCK_HELD=1),
        # so that no test's timeout is spent waiting for another lab user
        os.environ['KZLAB_LOCKED'] = '1'
        return
    if _lock_fd is None:
        _lock_fd = os.open('/run', os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print('labtest: waiting for another lab user to finish', file=sys.stderr, flush=True)
            t0 = time.monotonic()
            fcntl.flock(_lock_fd, fcntl.LOCK_EX)
            # counted in the test's time (and its timeout): say how much of it was waiting
            print(f'labtest: waited {time.monotonic() - t0:.1f} s for the lab', file=sys.stderr, flush=True)
        os.environ['KZLAB_LOCKED'] = '1'


def _unlock():
    global _lock_fd
    if _lock_fd is not None:
        os.environ.pop('KZLAB_LOCKED', None)
        os.close(_lock_fd)
        _lock_fd = None


def _down():
    global _lab_up
    if os.environ.get('KZLAB_KEEP'):
        print('labtest: KZLAB_KEEP is set: the lab stays up', file=sys.stderr)
        _lab_up = False
        return None
    # its report goes to our stderr, i.e. into the test log
    r = subprocess.run([LAB, 'down'], text=True, stdout=subprocess.PIPE, stderr=sys.stderr, timeout=600)
    _lab_up = False
    return r


def _atexit():
    if _lab_up:
        _down()
    _unlock()


def _on_signal(signum, frame):
    # meson kills the whole process group 0.5 s after SIGTERM: take the lab
    # down from a process in its own session, and leave at once.
    if _lab_up and not os.environ.get('KZLAB_KEEP'):
        env = dict(os.environ)
        if not env.get('KZLAB_LOCK_HELD'):
            env.pop('KZLAB_LOCKED', None)     # it takes the lock once we are gone
        subprocess.Popen([LAB, 'down'], start_new_session=True, env=env,
                         stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr)
    print(f'labtest: {signal.Signals(signum).name}: lab down started', file=sys.stderr, flush=True)
    os._exit(128 + signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    atexit.register(_atexit)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    _handlers_installed = True


def lab_up(n, build=None, plain=False):
    """Bring the lab up with N hosts (taking the lock, installing the
    tear-down handlers); plain hosts have no bridge for zones.  Raises
    RuntimeError with lab's output on failure."""
    global _lab_up
    _lock()
    _install_handlers()
    args = ['up', str(n)] + (['--plain'] if plain else [])
    if build and os.path.exists(os.path.join(build, 'meson-private', 'install.dat')):
        args += ['--build', build]
    else:
        args += ['--no-build']
    _lab_up = True
    # its own session: a SIGTERM to our process group must not cut it half-way
    r = lab(*args, start_new_session=True)
    if r.returncode != 0:
        _down()
        raise RuntimeError(f'lab up {n} failed:\n{r.stdout}{r.stderr}')
    sys.stderr.write(r.stderr)
    return state()


def lab_down(keep_lock=False):
    """`lab down`, then the lock goes (unless KEEP_LOCK: a class that holds it throughout)."""
    r = _down()
    if not keep_lock:
        _unlock()
    if r is not None and r.returncode != 0:
        raise RuntimeError(f'lab down failed:\n{r.stdout}{r.stderr}')


class LabTestCase(unittest.TestCase):
    """Brings up `hosts` lab hosts (host1..hostN) for the class; `build` is
    the meson build installed into them (None: the default build); `plain`
    hosts have no bridge for zones (lower-link=auto is a macvtap)."""

    hosts = 2
    build = None
    plain = False

    @classmethod
    def setUpClass(cls):
        reason = unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        cls.lab_state = lab_up(cls.hosts, cls.build or BUILD, plain=cls.plain)
        cls.hosts_at_up = None
        try:
            cls.hosts_at_up = {h: host_snapshot(h) for h in sorted(cls.lab_state['hosts'])}
        except Exception:
            lab_down()
            raise

    @classmethod
    def tearDownClass(cls):
        """Checks the hosts for leaks (see HOST_SNAPSHOT), then takes the lab
        down whatever it found; a leak fails the class, as its own result.
        A class that overrides this stops its zones and disables its pools
        first, then calls it."""
        left = []
        try:
            if cls.hosts_at_up is not None:
                left = lab_leaks(cls.hosts_at_up)
        finally:
            lab_down()
        if left:
            raise AssertionError('left behind inside the lab hosts, after the tests stopped their zones:\n  ' +
                                 '\n  '.join(left))

    @classmethod
    def halt_zones(cls, *zones):
        """zoneadm halt of each (host, zone) that is not installed or configured,
        for a class's tear-down: what went wrong is printed, not raised, so the
        leak check that follows says what was left."""
        for host, zone in zones:
            r = lab('exec', host, 'systemctl', 'is-active', f'zone@{zone}.service', timeout=60,
                    stdin=subprocess.DEVNULL)
            if r.stdout.strip() in ('inactive', 'failed', ''):
                continue
            r = lab('exec', host, 'zoneadm', '-z', zone, 'halt', timeout=300, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                print(f'tear-down: {host}: zoneadm -z {zone} halt: exit {r.returncode}: {r.stderr.strip()}',
                      file=sys.stderr)

    def exec(self, host, *cmd, check=True, input=None, timeout=120):
        """Run CMD in HOST; a CompletedProcess with text stdout/stderr.
        With check, a non-zero exit fails the test and shows the output."""
        r = lab('exec', host, *cmd, input=input, timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            self.fail(f'{host}: {" ".join(cmd)}: exit {r.returncode}\n'
                      f'--- stdout\n{r.stdout}--- stderr\n{r.stderr}')
        return r

    def wait_for(self, predicate, timeout=30, interval=0.2, msg=None):
        """Call PREDICATE until it returns something true (returned) or
        TIMEOUT seconds pass (the test fails).  Exceptions count as false."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
                last = value
            except Exception as e:          # noqa: BLE001 - reported on timeout
                last = e
            if time.monotonic() > deadline:
                self.fail(f'{msg or getattr(predicate, "__name__", "condition")} not reached in '
                          f'{timeout}s (last: {last!r})')
            time.sleep(interval)


# The test guest (tests/guest): its console prints a heartbeat line with its boot id
# and a counter, which go on across a resume or a live migration.
GUEST = '/usr/share/kzones/guest/kzguest.elf'
HEARTBEAT = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')


class ZoneHelpers:
    """What zone tests on several hosts share (a mixin for LabTestCase): zoneadm on a
    host, a zone's state and auxiliary state there, its guest's heartbeats there."""

    def zoneadm_on(self, host, zone, *args, check=True):
        return self.exec(host, 'zoneadm', '-z', zone, *args, check=check, timeout=300)

    def zone_state(self, host, zone):
        """(state, auxiliary state) as 'zoneadm list -cp' says, or (None, None) if not configured there."""
        for line in self.exec(host, 'zoneadm', 'list', '-cp').stdout.splitlines():
            f = line.split(':')
            if len(f) > 2 and f[1] == zone:
                return f[2], f[-1]
        return None, None

    def heartbeats(self, host, zone):
        r = self.exec(host, 'cat', f'/var/log/zones/{zone}.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HEARTBEAT.finditer(r.stdout)]

    def wait_beats(self, host, zone, count, boot=None, timeout=90):
        """The last (boot id, counter) once COUNT heartbeats (of boot BOOT, if given)
        were seen on HOST's console of ZONE."""
        def enough():
            return len([h for h in self.heartbeats(host, zone) if boot is None or h[0] == boot]) >= count
        self.wait_for(enough, timeout=timeout, msg=f'{count} heartbeats of {zone} on {host}')
        return self.heartbeats(host, zone)[-1]

    def listed(self, host, zone):
        """The zone's state as zoneadm list -p says it on HOST."""
        return self.exec(host, 'zoneadm', '-z', zone, 'list', '-p').stdout.strip().split(':')[2]


def main():
    """unittest.main() for a lab test file run by hand. meson runs the files
    under tests/taprun.py instead: when the lab cannot run here, each case is
    reported as skipped with the reason (a failure under KZONES_REQUIRE_ALL=1),
    never the whole file as one quiet skip."""
    reason = unavailable()
    if reason:
        print(f'the lab cannot run here: {reason}', file=sys.stderr)
    unittest.main(verbosity=2)


# ---------------------------------------------------------------- the Linux test guest

# kzlinux (tests/guest/linux): Debian's kernel and a busybox initramfs, for what
# needs a real guest's drivers (hot-plugged NICs and disks, vCPUs, virtio-mem).
# Its heartbeat says what the guest sees: MemTotal in KiB, online CPUs, NICs, disks.
LINUX_GUEST_DIR = '/usr/share/kzones/guest/linux'
LINUX_KERNEL = LINUX_GUEST_DIR + '/vmlinux'
LINUX_INITRD = LINUX_GUEST_DIR + '/initrd.img'
# quiet: no kernel lines between the heartbeats; memhp_default_state: hot-added
# memory is used at once (and can go again: movable); clearcpuid … mitigations=off:
# instructions that a KVM which emulates the guest's kernel (nested kvm_pvm)
# cannot execute, or might not; the rest spares such an emulated kernel work it
# does not need at boot (tests/guest/linux/README.md)
LINUX_CMDLINE = ('console=ttyS0 quiet memhp_default_state=online_movable '
                 'clearcpuid=cx16,rdrand,rdseed,popcnt,smap noxsave nofsgsbase nopcid mitigations=off '
                 'init_on_alloc=0 cryptomgr.notests swiotlb=noforce tsc=reliable nowatchdog')
LINUX_BOOT = re.compile(r'^kzlinux: boot id=([0-9a-f]{32}) kernel=(\S+) uptime=([\d.]+) interval=(\d+)\r?$', re.M)
LINUX_HEARTBEAT = re.compile(r'^kzlinux: hb boot=([0-9a-f]{32}) n=(\d+) mem=(\d+) cpus=(\d+) '
                             r'nics=(\S+) disks=(\S+)\r?$', re.M)
LINUX_POWER_READY = re.compile(r'^kzlinux: acpi: power button ready \((event\d+)\)\r?$', re.M)


class LinuxBeat(tuple):
    """One heartbeat of kzlinux: boot (32 hex), n, mem (KiB), cpus, nics and
    disks (tuples of names, in the guest's order)."""
    __slots__ = ()
    _fields = ('boot', 'n', 'mem', 'cpus', 'nics', 'disks')

    def __new__(cls, m):
        names = [tuple(() if v == '-' else v.split(',')) for v in (m.group(5), m.group(6))]
        return super().__new__(cls, (m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), *names))

    boot = property(lambda self: self[0])
    n = property(lambda self: self[1])
    mem = property(lambda self: self[2])
    cpus = property(lambda self: self[3])
    nics = property(lambda self: self[4])
    disks = property(lambda self: self[5])


def linux_guest_unavailable():
    """Why zones cannot boot kzlinux here, or None."""
    built = os.path.join(BUILD, 'tests', 'guest', 'linux', 'vmlinux')
    if not os.path.exists(built):
        return f'the Linux test guest is not built ({built}; meson option linux_guest)'
    return None


def linux_guest_accel():
    """What the lab's hosts run kzlinux zones with: kvm, or tcg (QEMU's own
    emulator, Accelerator=tcg in kzones.conf(5)) where this machine's KVM is
    kvm_pvm, which runs a guest's kernel in its instruction emulator and cannot
    boot Debian's (tests/guest/linux/README.md).  KZ_LINUX_GUEST_ACCEL=kvm|tcg
    chooses."""
    chosen = os.environ.get('KZ_LINUX_GUEST_ACCEL')
    if chosen:
        return chosen
    return 'tcg' if os.path.exists('/sys/module/kvm_pvm') else 'kvm'


def use_accelerator(host, accel, timeout=120):
    """Makes HOST run its zones with ACCEL, as an administrator does: Accelerator=
    in /etc/kzones/kzones.conf, then a restart of kzones-restarterd, whose CPU
    probe runs again for it; waits until the restarter's Accelerator property
    says so (an AssertionError after TIMEOUT s)."""
    def ex(*cmd, **kw):
        return lab('exec', host, *cmd, check=True, timeout=120, **kw)
    ex('mkdir', '-p', '/etc/kzones', stdin=subprocess.DEVNULL)
    ex('tee', HOST_CONFIG, input=f'[Host]\nAccelerator={accel}\n')
    ex('systemctl', 'restart', 'kzones-restarterd.service', stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        r = lab('exec', host, 'busctl', 'get-property', kzbus.RESTARTER_BUS_NAME, kzbus.RESTARTER_PATH,
                kzbus.RESTARTER_MANAGER_IFACE, 'Accelerator', timeout=60, stdin=subprocess.DEVNULL)
        seen = r.stdout.strip()
        if seen == f's "{accel}"':
            return
        time.sleep(0.5)
    raise AssertionError(f'{host}: the restarter\'s Accelerator is {seen!r}, not {accel!r}, {timeout} s after '
                         f'Accelerator={accel} and a restart')


HOST_CONFIG = '/etc/kzones/kzones.conf'


def linux_guest_boot(interval=200, cmdline=''):
    """The zonecfg subcommands that make a zone boot kzlinux, with a heartbeat
    every INTERVAL ms and CMDLINE added to the kernel's command line."""
    line = f'{LINUX_CMDLINE} kzlinux.interval={int(interval)}' + (f' {cmdline}' if cmdline else '')
    return f'add boot; set kernel={LINUX_KERNEL}; set initrd={LINUX_INITRD}; set cmdline="{line}"; end'


def linux_beats(text):
    """The LinuxBeat of every kzlinux heartbeat in a console log's TEXT, in order."""
    return [LinuxBeat(m) for m in LINUX_HEARTBEAT.finditer(text)]


class LinuxGuestHelpers(ZoneHelpers):
    """ZoneHelpers for zones that boot kzlinux: its heartbeats, read from the
    zone's console log, and waits on what they show."""

    def linux_beats(self, host, zone):
        r = self.exec(host, 'cat', f'/var/log/zones/{zone}.console', check=False)
        return linux_beats(r.stdout)

    def wait_linux(self, host, zone, cond=lambda b: True, boot=None, after=0, timeout=300, msg=None):
        """The first heartbeat of ZONE on HOST with a counter above AFTER (and of
        boot BOOT, if given) for which COND is true: the guest's view once a
        change reached it.  A guest that stops beating fails the wait."""
        def seen():
            for b in reversed(self.linux_beats(host, zone)):
                if (boot is None or b.boot == boot) and b.n > after and cond(b):
                    return b
            return None
        return self.wait_for(seen, timeout=timeout, interval=0.5,
                             msg=msg or f'a heartbeat of {zone} on {host} that shows the change')

    def watch_console(self, host, zone, unit='kzlinux-watch'):
        """Starts a transient unit in HOST that writes each new line of ZONE's
        console log with the host's time of arrival (CLOCK_MONOTONIC seconds)
        to /run/UNIT.log: what a heartbeat gap is measured on.  Stop it with
        unwatch_console()."""
        prog = ('import os,sys,time\n'
                'src=sys.argv[1]; out=open(sys.argv[2],"a",buffering=1)\n'
                'f=open(src,"rb"); f.seek(0,2); buf=b""\n'
                'while True:\n'
                '    d=f.read()\n'
                '    if not d:\n'
                '        time.sleep(0.05); continue\n'
                '    buf+=d\n'
                '    *lines,buf=buf.split(b"\\n")\n'
                '    t=time.monotonic()\n'
                '    for l in lines: out.write("%.3f %s\\n" % (t, l.decode(errors="replace")))\n')
        self.exec(host, 'systemd-run', '--quiet', f'--unit={unit}', '--collect', 'python3', '-c', prog,
                  f'/var/log/zones/{zone}.console', f'/run/{unit}.log')

    def watched_beats(self, host, unit='kzlinux-watch'):
        """[(arrival time, LinuxBeat)] of the heartbeats watch_console() saw so far."""
        r = self.exec(host, 'cat', f'/run/{unit}.log', check=False)
        out = []
        for line in r.stdout.splitlines():
            t, _, text = line.partition(' ')
            m = LINUX_HEARTBEAT.match(text)
            if m:
                out.append((float(t), LinuxBeat(m)))
        return out

    def unwatch_console(self, host, unit='kzlinux-watch'):
        self.exec(host, 'systemctl', 'stop', f'{unit}.service', check=False)
        self.exec(host, 'rm', '-f', f'/run/{unit}.log', check=False)
