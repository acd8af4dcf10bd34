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
import shutil
import signal
import subprocess
import sys
import time
import unittest

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


# ---------------------------------------------------------------- tear-down on every path

_lock_fd = None
_lab_up = False
_handlers_installed = False


def _lock():
    """Hold the lab lock (a flock on /run, as tests/lab/lab takes it) for the
    whole test class, so that no other test run brings the lab down under us."""
    global _lock_fd
    if _lock_fd is None:
        _lock_fd = os.open('/run', os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print('labtest: waiting for another lab user to finish', file=sys.stderr, flush=True)
            fcntl.flock(_lock_fd, fcntl.LOCK_EX)
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


def lab_down():
    r = _down()
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

    @classmethod
    def tearDownClass(cls):
        lab_down()

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


def main():
    """unittest.main() for a lab test file run by hand. meson runs the files
    under tests/taprun.py instead: when the lab cannot run here, each case is
    reported as skipped with the reason (a failure under KZONES_REQUIRE_ALL=1),
    never the whole file as one quiet skip."""
    reason = unavailable()
    if reason:
        print(f'the lab cannot run here: {reason}', file=sys.stderr)
    unittest.main(verbosity=2)
