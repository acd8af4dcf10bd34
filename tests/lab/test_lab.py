# SPDX-License-Identifier: LGPL-2.1-or-later
"""The lab itself: hosts that boot with their own identity, reach each other
over SSH and D-Bus, run KVM guests, plug taps into kzbr0, share storage and a
directory, have the build installed, and leave nothing behind."""

import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

import labtest
from kzbus import SYSTEMD_BUS

QMP_KVM = ('{"execute":"qmp_capabilities"}\n{"execute":"query-kvm"}\n'
           '{"execute":"quit"}\n')


def qmp_returns(out):
    return [m['return'] for m in map(json.loads, filter(None, out.splitlines())) if 'return' in m]


class Hosts(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        if not labtest.unavailable():
            labtest._lock()     # the machine as it is without anyone's lab
        cls.before = labtest.machine_snapshot()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        failed = []
        try:
            super().tearDownClass()     # leaks inside the hosts, then lab down
        except AssertionError as e:
            failed.append(str(e))
        left = labtest.leftovers(cls.before)
        if left:
            failed.append(f'left behind by the lab: {left}')
        if failed:
            raise AssertionError('\n'.join(failed))

    def test_hosts_boot_with_their_own_name_and_machine_id(self):
        ids = set()
        for h in ('host1', 'host2'):
            self.assertEqual(self.exec(h, 'hostname').stdout.strip(), h)
            self.assertEqual(self.exec(h, 'cat', '/etc/hostname').stdout.strip(), h)
            self.assertEqual(self.exec(h, 'systemctl', 'is-system-running', check=False).stdout.strip(),
                             'running', self.exec(h, 'systemctl', '--failed', check=False).stdout)
            ids.add(self.exec(h, 'cat', '/etc/machine-id').stdout.strip())
        with open('/etc/machine-id') as f:
            ids.add(f.read().strip())
        self.assertEqual(len(ids), 3, 'machine ids of host1, host2 and the machine are not distinct')

    def test_hosts_know_each_other_and_the_storage(self):
        for h in ('host1', 'host2'):
            r = self.exec(h, 'getent', 'hosts', 'host1', 'host2', 'storage').stdout.split()
            self.assertEqual(r, ['10.231.0.11', 'host1', '10.231.0.12', 'host2', '10.231.0.2', 'storage'])
        addrs = self.exec('host1', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0').stdout
        self.assertIn('10.231.0.11/24', addrs)

    def test_ssh_between_hosts(self):
        self.assertEqual(self.exec('host1', 'ssh', 'root@host2', 'hostname').stdout.strip(), 'host2')
        self.assertEqual(self.exec('host2', 'ssh', 'root@host1', 'hostname').stdout.strip(), 'host1')
        self.assertEqual(self.exec('host2', 'ssh', '10.231.0.11', 'hostname').stdout.strip(), 'host1')

    def test_dbus_over_ssh(self):
        r = self.exec('host1', 'busctl', '-H', 'root@host2', 'get-property', 'org.freedesktop.hostname1',
                      '/org/freedesktop/hostname1', 'org.freedesktop.hostname1', 'Hostname')
        self.assertEqual(r.stdout.strip(), 's "host2"')
        r = self.exec('host2', 'busctl', '-H', 'root@host1', 'list', '--no-legend')
        self.assertIn(SYSTEMD_BUS, r.stdout)

    def test_kvm_in_a_host_service(self):
        # from a unit of the host's own systemd: its capabilities, its devices
        r = self.exec('host1', 'systemd-run', '--wait', '--pipe', '--quiet', '--',
                      'qemu-system-x86_64', '-accel', 'kvm', '-machine', 'none', '-S', '-nodefaults',
                      '-display', 'none', '-qmp', 'stdio', input=QMP_KVM)
        self.assertIn({'enabled': True, 'present': True}, qmp_returns(r.stdout), r.stdout + r.stderr)

    def test_qemu_tap_on_kzbr0(self):
        r = self.exec('host2', 'ip', '-o', 'link', 'show', 'eth0').stdout
        self.assertNotIn('master', r, 'eth0 must not be in a bridge')
        self.exec('host2', 'systemd-run', '--unit=kzlab-tap-test', '--service-type=forking',
                  '-p', 'PIDFile=/run/kzlab-tap-test.pid', '--',
                  'qemu-system-x86_64', '-accel', 'kvm', '-machine', 'none', '-S', '-nodefaults',
                  '-display', 'none', '-daemonize', '-pidfile', '/run/kzlab-tap-test.pid',
                  '-netdev', 'tap,id=n0,br=kzbr0,helper=/usr/lib/qemu/qemu-bridge-helper')
        ports = self.wait_for(lambda: self.exec('host2', 'ip', '-o', 'link', 'show', 'master', 'kzbr0').stdout,
                              timeout=10, msg='a tap in kzbr0')
        self.assertIn('tap', ports)
        self.exec('host2', 'systemctl', 'stop', 'kzlab-tap-test')
        self.wait_for(lambda: not self.exec('host2', 'ip', '-o', 'link', 'show', 'master', 'kzbr0').stdout,
                      timeout=10, msg='the tap gone with QEMU')
        # and a persistent tap, by hand, from a unit
        self.addCleanup(self.exec, 'host1', 'ip', 'link', 'del', 'kzt9', check=False)
        self.exec('host1', 'systemd-run', '--wait', '--pipe', '--quiet', '--', 'sh', '-ec',
                  'ip tuntap add mode tap name kzt9; ip link set kzt9 master kzbr0')
        self.assertIn('kzt9', self.exec('host1', 'ip', '-o', 'link', 'show', 'master', 'kzbr0').stdout)

    def test_kzbr0_survives_a_networkd_restart(self):
        self.exec('host1', 'ip', 'link', 'del', 'kzbr0', check=False)
        self.exec('host1', 'systemctl', 'restart', 'systemd-networkd')
        self.wait_for(lambda: self.exec('host1', 'ip', 'link', 'show', 'kzbr0', check=False).returncode == 0,
                      timeout=10, msg='kzbr0 back')

    def test_both_hosts_see_the_same_nbd_storage(self):
        byte = random.randrange(1, 255)
        off = random.randrange(0, 1000) * 1048576
        self.exec('host1', 'qemu-io', '-f', 'raw', '-c', f'write -P {byte} {off} 1M',
                  'nbd://storage:10809/disk0')
        r = self.exec('host2', 'qemu-io', '-f', 'raw', '-c', f'read -P {byte} {off} 1M',
                      'nbd://storage:10809/disk0')
        self.assertNotIn('verification failed', r.stdout + r.stderr)
        r = self.exec('host2', 'qemu-io', '-f', 'raw', '-c', f'read -P {byte ^ 0xff} {off} 1M',
                      'nbd://storage:10809/disk0', check=False)
        self.assertIn('verification failed', r.stdout + r.stderr, 'the read check checks nothing')
        for disk in ('disk0', 'disk3'):
            info = json.loads(self.exec('host2', 'qemu-img', 'info', '--output=json',
                                        f'nbd://storage:10809/{disk}').stdout)
            self.assertEqual(info['virtual-size'], 1 << 30)

    def test_lab_export_adds_a_disk(self):
        r = labtest.lab('export', 'extra', '64M')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), 'nbd://storage:10809/extra')
        info = json.loads(self.exec('host1', 'qemu-img', 'info', '--output=json',
                                    'nbd://storage:10809/extra').stdout)
        self.assertEqual(info['virtual-size'], 64 << 20)

    def test_shared_directory(self):
        token = os.urandom(8).hex()
        self.exec('host1', 'sh', '-c', f'echo {token} > /srv/shared/token')
        self.assertEqual(self.exec('host2', 'cat', '/srv/shared/token').stdout.strip(), token)
        with open('/run/kzlab/shared/token') as f:
            self.assertEqual(f.read().strip(), token)

    def test_build_is_installed(self):
        build = self.lab_state.get('build')
        # meson always brings the lab up with its build: a lab without one is a broken lab, not a skip
        self.assertTrue(build, 'the lab came up without a build installed')
        with open(os.path.join(build, 'meson-info', 'intro-installed.json')) as f:
            installed = sorted(set(json.load(f).values()))
        self.assertTrue(installed)
        r = self.exec('host2', 'ls', '-d', *installed, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_hugepage_pools_are_writable_from_a_host(self):
        # the memory-reserve service sizes the pool from inside a host; `lab down` gives it back
        knob = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
        before = int(labtest._read(knob))
        rsvd = labtest.meminfo('HugePages_Rsvd')
        # given back by the test itself: the class checks the hosts for leaks before `lab down`
        self.addCleanup(self.exec, 'host1', 'systemd-run', '--wait', '--pipe', '--quiet', '--', 'sh', '-c',
                        f'umount /run/kzlab-test-pool; rmdir /run/kzlab-test-pool; echo {before} > {knob}',
                        check=False)
        self.exec('host1', 'systemd-run', '--wait', '--pipe', '--quiet', '--', 'sh', '-ec',
                  f'echo {before + 4} > {knob}; mkdir -p /run/kzlab-test-pool; '
                  'mount -t hugetlbfs -o pagesize=2M,size=8M,min_size=8M none /run/kzlab-test-pool')
        self.assertEqual(int(labtest._read(knob)), before + 4)
        self.assertEqual(labtest.meminfo('HugePages_Rsvd'), rsvd + 4)

    def test_leak_check_sees_what_a_host_holds(self):
        # what the check before `lab down` must see, each made by hand in host2, then given back
        knob = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
        nr = int(labtest._read(knob))
        undo = ('systemctl stop zone@leak.service kzlab-leak-qemu.service kzlab-leak-relay.service; '
                'rm -f /run/systemd/system/zone@leak.service; systemctl daemon-reload; '
                'ip link del kzleak0; umount /run/kzones-pools/leak/0; '
                'rm -rf /run/kzones-pools/leak /run/kzones/leak /run/kzones-cpu/.cpu-probe.leak /dev/.kzones-tap999 '
                f'/etc/zones/leak.xml.0123456789abcdef.tmp /srv/shared/leak.img.partial; echo {nr} > {knob}')
        self.addCleanup(self.exec, 'host2', 'systemd-run', '--wait', '--quiet', '--', 'sh', '-c', undo, check=False)
        self.exec('host2', 'systemd-run', '--wait', '--quiet', '--', 'sh', '-ec',
                  f'echo {nr + 4} > {knob}; mkdir -p /run/kzones-pools/leak/0 /run/kzones/leak '
                  '/run/kzones-cpu/.cpu-probe.leak /etc/zones; '
                  'mount -t hugetlbfs -o pagesize=2M,size=8M,min_size=8M none /run/kzones-pools/leak/0; '
                  'ip tuntap add mode tap name kzleak0; ip link set kzleak0 alias "kzones zone leak anet 0"; '
                  'mknod /dev/.kzones-tap999 c 1 3; touch /run/kzones/leak/suspend.img.partial '
                  '/etc/zones/leak.xml.0123456789abcdef.tmp /srv/shared/leak.img.partial')
        # a zone's unit that runs (an instance's own unit file, so that no QEMU is needed for it)
        self.exec('host2', 'sh', '-ec', 'printf "[Service]\\nExecStart=/bin/sleep 600\\n" '
                  '> /run/systemd/system/zone@leak.service; systemctl daemon-reload; systemctl start zone@leak')
        self.exec('host2', 'systemd-run', '--unit=kzlab-leak-qemu.service', '--', 'qemu-system-x86_64', '-machine',
                  'none', '-S', '-nodefaults', '-display', 'none')
        self.exec('host2', 'systemd-run', '--unit=kzlab-leak-relay.service', '--', 'python3', '-c',
                  'import ctypes, time; ctypes.CDLL(None).prctl(15, b"kz-console"); time.sleep(600)')
        expected = ['zone@leak.service is active', 'a QEMU process', 'a console relay',
                    "link kzleak0 (tun) labelled 'kzones zone leak anet 0'", 'device node /dev/.kzones-tap999',
                    'hugetlbfs mount /run/kzones-pools/leak/0 of pool leak, whose unit is not loaded',
                    'hugepages-2048kB/nr_hugepages is', 'hugepages-2048kB/resv_hugepages is',
                    'half-written file /run/kzones/leak/suspend.img.partial',
                    'half-written file /etc/zones/leak.xml.0123456789abcdef.tmp',
                    'half-written file /srv/shared/leak.img.partial',
                    'CPU probe scratch directory /run/kzones-cpu/.cpu-probe.leak']

        def all_seen():
            found = labtest.host_leaks(self.hosts_at_up['host2'], labtest.host_snapshot('host2'))
            return all(any(e in f for f in found) for e in expected) and found
        found = self.wait_for(all_seen, timeout=20, msg='every leak seen')
        self.assertEqual(len(found), len(expected), found)
        # given back, nothing is left (host1 was not touched)
        self.doCleanups()
        self.assertEqual(labtest.lab_leaks(self.hosts_at_up, settle=10), [])

    def test_root_network_namespace_untouched(self):
        now = labtest.machine_snapshot()
        for k in ('links', 'addrs', 'routes'):
            self.assertEqual(now[k], self.before[k], f'the lab changed the root netns {k}')


class Down(unittest.TestCase):
    """`lab down` leaves nothing behind: after use, and after an interrupted `up`."""

    @classmethod
    def setUpClass(cls):
        # the lab lock for the whole class: the machine as it is without anyone's lab, and no
        # other lab user coming in between its steps (each `lab` command below then skips the lock)
        if not labtest.unavailable():
            labtest._lock()

    @classmethod
    def tearDownClass(cls):
        labtest._unlock()

    def setUp(self):
        reason = labtest.unavailable()
        if reason:
            self.skipTest(reason)
        self.assertEqual(labtest.lab('down').returncode, 0)
        self.before = labtest.machine_snapshot()
        # a process of someone else on the machine: `lab down` must not touch it
        self.bystander = subprocess.Popen(['sleep', '600'], start_new_session=True)
        self.addCleanup(self.bystander.wait)
        self.addCleanup(self.bystander.kill)

    def assertClean(self):
        left = labtest.leftovers(self.before)
        self.assertEqual(left, [], 'left behind by the lab')
        self.assertIsNone(self.bystander.poll(), 'lab down killed a process that is not in the lab')

    def wait_for_in_host(self, host, name):
        deadline = time.monotonic() + 20
        while subprocess.run([labtest.LAB, 'exec', host, 'sh', '-c', f'grep -qx {name} /proc/[0-9]*/comm'],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            self.assertLess(time.monotonic(), deadline, f'no {name} running in {host}')
            time.sleep(0.2)

    def test_down_after_use(self):
        def ex(host, *cmd):
            subprocess.run([labtest.LAB, 'exec', host] + list(cmd), check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

        labtest.lab_up(2, labtest.BUILD)
        shell = None
        try:
            # a zone-like QEMU unit, a QEMU started by hand, a tap, a
            # hugepage reservation, an SSH session left open, a shell in /srv/shared
            ex('host1', 'systemd-run', '--unit=kzlab-fakezone', '--', 'qemu-system-x86_64', '-accel', 'kvm',
               '-machine', 'none', '-S', '-nodefaults', '-display', 'none',
               '-netdev', 'tap,id=n0,br=kzbr0,helper=/usr/lib/qemu/qemu-bridge-helper')
            ex('host2', 'qemu-system-x86_64', '-accel', 'kvm', '-machine', 'none', '-S', '-nodefaults',
               '-display', 'none', '-daemonize')
            rsvd = labtest.meminfo('HugePages_Rsvd')
            ex('host2', 'systemd-run', '--wait', '--quiet', '--', 'sh', '-ec',
               'echo $(( $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) + 8 )) '
               '> /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; mkdir -p /run/pool; '
               'mount -t hugetlbfs -o pagesize=2M,size=16M,min_size=16M none /run/pool')
            ex('host1', 'systemd-run', '--unit=held-ssh', '--', 'ssh', 'root@host2', 'sleep', '600')
            shell = subprocess.Popen([labtest.LAB, 'exec', 'host1', 'sh', '-c', 'cd /srv/shared && sleep 600'],
                                     stdin=subprocess.DEVNULL)
            self.wait_for_in_host('host1', 'sleep')     # the shell's
            self.wait_for_in_host('host2', 'sleep')     # the SSH session's
            self.assertEqual(labtest.meminfo('HugePages_Rsvd'), rsvd + 8)
        finally:
            t = time.monotonic()
            labtest.lab_down(keep_lock=True)
            print(f'\n  lab down after use: {time.monotonic() - t:.1f}s', end=' ', file=sys.stderr, flush=True)
        if shell:
            shell.wait(timeout=10)
        self.assertClean()

    def test_down_after_interrupted_up(self):
        for delay in (0.1, 0.4, 0.8, 1.2):
            for sig in (signal.SIGKILL, signal.SIGTERM):
                with self.subTest(delay=delay, signal=sig.name):
                    up = subprocess.Popen([labtest.LAB, '-q', 'up', '3', '--no-build'],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(delay)
                    up.send_signal(sig)
                    up.wait(timeout=60)
                    r = labtest.lab('down')
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertClean()


def load_tests(loader, tests, pattern):
    # the hosts first, then the tear-down checks
    suite = unittest.TestSuite()
    for cls in (Hosts, Down):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


if __name__ == '__main__':
    labtest.main()
