#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""QEMU confined, on a real host (issue 9, finding 6): each zone's QEMU runs as the
unprivileged user kzones-qemu with no capabilities, under its own seccomp filter
(-sandbox) on top of the unit's, and opens nothing of the host's but /dev/kvm:
its disks (a file:// disk here), the installer's medium, its monitors, its console
and its memory in a pool are descriptors the launcher opened as root. Zones on a
file:// disk, an nbd:// disk and with memory from a reservation pool boot, beat,
suspend and resume, and halt so confined. A host where QEMU's user cannot open
/dev/kvm, or read a zone's boot kernel, gets one clear message."""

import json
import re

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
USER = 'kzones-qemu'
SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'
POOL_DROPIN = '/etc/systemd/system/memory-reserve@conf.service.d/50-pool.conf'

QMP = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rw')
f.readline(); f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\\n'); f.flush(); f.readline()
f.write(json.dumps({'execute': sys.argv[2]}) + '\\n'); f.flush()
while True:
    line = json.loads(f.readline())
    if 'return' in line or 'error' in line:
        print(json.dumps(line)); break
"""


class Confinement(labtest.LabTestCase):
    hosts = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        boot = f'add boot; set kernel={GUEST}; set cmdline="dirty=8M rate=256 interval=100"; end'
        # the templates' own file:// disk, /var/lib/zones/kzf/disk0.img, made by install
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzf',
                    f'create -t SYSkz-minimal; set capped-memory:physical=256M; {boot}', check=True)
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzn',
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk0; end; '
                    f'add suspend; set path=/srv/shared/kzn.img; end; {boot}', check=True)
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzp',
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select capped-memory; clear pagesize-policy; set memory-reserve=conf; end; '
                    'select device id=0; set storage=nbd://storage:10809/disk1; end; '
                    f'{boot}', check=True)
        for z in ('kzf', 'kzn', 'kzp'):
            labtest.lab('exec', 'host1', 'zoneadm', '-z', z, 'install', check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        try:
            for z in ('kzf', 'kzn', 'kzp'):
                labtest.lab('exec', 'host1', 'zoneadm', '-z', z, 'halt', timeout=120)
            labtest.lab('exec', 'host1', 'chmod', '0660', '/dev/kvm')
            labtest.lab('exec', 'host1', 'systemctl', 'disable', '--now', 'memory-reserve@conf.service',
                        timeout=120)
        finally:
            super().tearDownClass()

    # ---------------------------------------------------------------- helpers

    def zoneadm(self, *args, check=True):
        return self.exec('host1', 'zoneadm', *args, check=check, timeout=300)

    def state(self, zone):
        return self.zoneadm('-z', zone, 'list', '-p').stdout.strip().split(':')[2]

    def heartbeats(self, zone):
        r = self.exec('host1', 'cat', f'/var/log/zones/{zone}.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]

    def wait_beats(self, zone, count, boot=None):
        def enough():
            return len([h for h in self.heartbeats(zone) if boot is None or h[0] == boot]) >= count
        self.wait_for(enough, timeout=90, msg=f'{count} heartbeats of {zone}')
        return self.heartbeats(zone)[-1]

    def main_pid(self, zone):
        return int(self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', f'zone@{zone}').stdout.strip())

    def status(self, pid):
        out = self.exec('host1', 'cat', f'/proc/{pid}/status').stdout
        return {k: v.strip() for k, v in (line.split(':', 1) for line in out.splitlines() if ':' in line)}

    def qmp(self, zone, command):
        out = self.exec('host1', 'python3', '-c', QMP, f'/run/kzones/{zone}/control.sock', command).stdout
        return json.loads(out)['return']

    def user_ids(self):
        pw = self.exec('host1', 'getent', 'passwd', USER).stdout.strip().split(':')
        kvm = self.exec('host1', 'getent', 'group', 'kvm').stdout.strip().split(':')
        return int(pw[2]), int(pw[3]), int(kvm[2])

    def assert_confined(self, zone):
        """QEMU of the zone: its user's ids, no capabilities, its own seccomp filter on top
        of the unit's; the console relay beside it stays root; it cannot write the zone's
        directory. Returns QEMU's pid."""
        uid, gid, kvm = self.user_ids()
        self.assertNotEqual(uid, 0)
        pid = self.main_pid(zone)
        self.assertEqual(self.exec('host1', 'cat', f'/proc/{pid}/comm').stdout.strip()[:11], 'qemu-system')
        st = self.status(pid)
        self.assertEqual(st['Uid'].split(), [str(uid)] * 4, st['Uid'])
        self.assertEqual(st['Gid'].split(), [str(gid)] * 4, st['Gid'])
        self.assertIn(str(kvm), st['Groups'].split(), 'QEMU opens /dev/kvm as a member of kvm')
        self.assertNotIn('0', st['Groups'].split())
        for c in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb'):
            self.assertEqual(int(st[c], 16), 0, f'{c} {st[c]}')
        self.assertEqual(st['NoNewPrivs'], '1')
        self.assertEqual(st['Seccomp'], '2', 'a seccomp filter is active')
        cmdline = self.exec('host1', 'cat', f'/proc/{pid}/cmdline').stdout.split('\0')
        self.assertEqual(cmdline[cmdline.index('-sandbox') + 1], SANDBOX)
        # the relay, forked before QEMU was exec'd, has the unit's filters only: QEMU has one more
        relay = self.exec('host1', 'pgrep', '-P', str(pid), '-x', 'kz-console').stdout.split()
        self.assertEqual(len(relay), 1, f'one console relay beside QEMU: {relay}')
        rst = self.status(relay[0])
        self.assertEqual(rst['Uid'].split()[0], '0', 'the console relay stays root')
        self.assertGreater(int(st['Seccomp_filters']), int(rst['Seccomp_filters']),
                           "QEMU's own -sandbox filter is installed")
        # the zone's directory (sockets, the restarter's notes) is root's: QEMU's user cannot write it
        self.assertEqual(self.exec('host1', 'stat', '-c', '%U %a', f'/run/kzones/{zone}').stdout.split(),
                         ['root', '750'])
        self.assertEqual(self.exec('host1', 'stat', '-c', '%U %a', f'/run/kzones/{zone}/qmp.sock').stdout.split(),
                         ['root', '600'])
        return pid

    def fd_target(self, pid, fd):
        return self.exec('host1', 'readlink', f'/proc/{pid}/fd/{fd}').stdout.strip()

    # ---------------------------------------------------------------- tests

    def test_1_file_disk(self):
        self.zoneadm('-z', 'kzf', 'boot')
        self.assertEqual(self.state('kzf'), 'running')
        pid = self.assert_confined('kzf')
        boot, n = self.wait_beats('kzf', 3)
        # the disk is a descriptor the launcher opened: QEMU's block node names its fdset
        disk = '/var/lib/zones/kzf/disk0.img'
        blocks = self.qmp('kzf', 'query-block')
        files = [b['inserted']['file'] for b in blocks if 'inserted' in b]
        self.assertTrue(any('"filename": "/dev/fdset/1"' in f for f in files), files)
        sets = {s['fdset-id']: s['fds'] for s in self.qmp('kzf', 'query-fdsets')}
        self.assertEqual(sets[1][0]['opaque'], 'disk0')
        self.assertEqual(self.fd_target(pid, sets[1][0]['fd']), disk)
        # which QEMU's user could not open itself: the disk is root's, 0600, in a 0700 directory
        self.assertEqual(self.exec('host1', 'stat', '-c', '%U %a', disk, '/var/lib/zones/kzf').stdout.split(),
                         ['root', '600', 'root', '700'])
        self.assertNotEqual(self.exec('host1', 'setpriv', f'--reuid={USER}', f'--regid={USER}', '--init-groups',
                                      'cat', disk, check=False).returncode, 0)
        # its network: a tap the launcher made (on kzbr0), a descriptor too
        self.assertIn('/dev/net/tun', [self.fd_target(pid, f) for f in
                                       self.exec('host1', 'ls', f'/proc/{pid}/fd').stdout.split()])
        self.assertEqual(self.wait_beats('kzf', n + 3, boot)[0], boot)
        self.zoneadm('-z', 'kzf', 'halt')
        self.assertEqual(self.state('kzf'), 'installed')
        self.assertFalse(self.exec('host1', 'test', '-e', '/run/kzones/kzf/qmp.sock', check=False).returncode == 0,
                         'the monitor socket goes with the zone')

    def test_2_nbd_disk_suspend_resume(self):
        self.zoneadm('-z', 'kzn', 'boot')
        self.assert_confined('kzn')
        boot, _ = self.wait_beats('kzn', 5)
        # network storage: QEMU reaches it itself, no descriptor
        self.assertEqual(self.qmp('kzn', 'query-fdsets'), [])
        self.zoneadm('-z', 'kzn', 'suspend')
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kzn', check=False).stdout.strip(),
                         'inactive')
        last = self.heartbeats('kzn')[-1]
        self.zoneadm('-z', 'kzn', 'boot')
        self.assert_confined('kzn')
        b, _ = self.wait_beats('kzn', len(self.heartbeats('kzn')) + 3)
        self.assertEqual(b, boot, 'resumed, not booted afresh')
        after = [h for h in self.heartbeats('kzn') if h[1] > last[1]]
        self.assertEqual(after[0], (boot, last[1] + 1), 'the counter goes on where it stopped')
        self.zoneadm('-z', 'kzn', 'halt')
        self.assertEqual(self.state('kzn'), 'installed')

    def test_3_memory_from_a_pool(self):
        self.exec('host1', 'sh', '-c', f'mkdir -p "$(dirname {POOL_DROPIN})" && printf "[X-Kzones]\\nSize=256M\\n'
                  f'PageSizePolicy=fixed\\nPageSize=2M\\n" > {POOL_DROPIN} && systemctl daemon-reload')
        self.exec('host1', 'systemctl', 'enable', '--now', 'memory-reserve@conf.service', timeout=300)
        self.zoneadm('-z', 'kzp', 'boot')
        pid = self.assert_confined('kzp')
        self.wait_beats('kzp', 3)
        # the guest's RAM: the pool's file, unlinked, handed to QEMU's user
        uid, _, _ = self.user_ids()
        targets = {f: self.fd_target(pid, f) for f in self.exec('host1', 'ls', f'/proc/{pid}/fd').stdout.split()}
        ram = [f for f, t in targets.items() if t.startswith('/run/kzones-pools/conf/')]
        # the launcher's descriptor, and QEMU's own that it opened again through /proc/self/fd;
        # beside it (host-compatible=memlzs) the region memory is plugged into live, also unlinked
        self.assertTrue(ram, targets)
        self.assertEqual({targets[f] for f in ram}, {'/run/kzones-pools/conf/0/kzp (deleted)',
                                                     '/run/kzones-pools/conf/0/kzp@vmem (deleted)'})
        for f in ram:
            self.assertEqual(self.exec('host1', 'stat', '-L', '-c', '%u', f'/proc/{pid}/fd/{f}').stdout.strip(),
                             str(uid))
        self.zoneadm('-z', 'kzp', 'halt')
        self.assertEqual(self.state('kzp'), 'installed')

    def test_4_kvm_closed_to_qemus_user(self):
        # the host's /dev/kvm is the lab's own node: 0600 root here is a host set up wrong
        self.exec('host1', 'chmod', '0600', '/dev/kvm')
        try:
            r = self.zoneadm('-z', 'kzn', 'boot', check=False)
        finally:
            self.exec('host1', 'chmod', '0660', '/dev/kvm')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"boot failed: QEMU runs as the user '{USER}', which cannot open /dev/kvm: Permission denied. "
                      "/dev/kvm must be mode 0660 in group kvm (here it is 0600, group kvm)", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(self.state('kzn'), 'installed')
        # and with /dev/kvm as it should be, the zone boots again
        self.zoneadm('-z', 'kzn', 'boot')
        self.assert_confined('kzn')
        self.zoneadm('-z', 'kzn', 'halt')

    def test_5_kernel_closed_to_qemus_user(self):
        self.exec('host1', 'install', '-m', '0600', GUEST, '/var/lib/kzguest-private.elf')
        self.exec('host1', 'zonecfg', '-z', 'kzn', 'select boot; set kernel=/var/lib/kzguest-private.elf; end')
        try:
            r = self.zoneadm('-z', 'kzn', 'boot', check=False)
        finally:
            self.exec('host1', 'zonecfg', '-z', 'kzn', f'select boot; set kernel={GUEST}; end')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("boot failed: the boot kernel /var/lib/kzguest-private.elf cannot be read by QEMU's user "
                      f"'{USER}': Permission denied.", r.stderr)
        self.assertEqual(self.state('kzn'), 'installed')

    def test_6_nothing_left(self):
        for z in ('kzf', 'kzn', 'kzp'):
            self.assertEqual(self.state(z), 'installed')
        self.assertEqual(self.exec('host1', 'sh', '-c', 'pgrep -c qemu-system || true').stdout.strip(), '0')
        self.assertEqual(self.exec('host1', 'sh', '-c', 'pgrep -c kz-console || true').stdout.strip(), '0')


if __name__ == '__main__':
    labtest.main()
