#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Zones that run, on real hosts: a zone boots the test guest under KVM as
zone@NAME.service, its heartbeat appears, the states move as the guide says,
the restarter can die without the zone noticing, the evacuation target is unit
configuration, and bad requests get one clear message and a non-zero exit."""

import json
import re
import subprocess
import time

import labtest
from kzbus import (RESTARTER_BUS_NAME, RESTARTER_MANAGER_IFACE, RESTARTER_PATH, RESTARTER_ZONE_IFACE,
                   RESTARTER_ZONE_PREFIX, path_encode)

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
BOOT_LINE = re.compile(r'kzguest: boot id=([0-9a-f]{16}) .*? marker=(\S+)')


class Zones(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.configure(cls, 'host1', 'kz1', 'disk0')

    @classmethod
    def tearDownClass(cls):
        # its zones stop here, whatever the tests did: what is left after that is a leak
        try:
            cls.halt_zones(('host1', 'kz1'), ('host1', 'bad'))
        finally:
            super().tearDownClass()

    def configure(self, host, zone, disk):
        labtest.lab('exec', host, 'zonecfg', '-z', zone,
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    f'select device id=0; set storage=nbd://storage:10809/{disk}; end; '
                    f'add boot; set kernel={GUEST}; set cmdline="dirty=8M rate=256 interval=100"; end', check=True)

    def zoneadm(self, host, *args, check=True):
        return self.exec(host, 'zoneadm', *args, check=check, timeout=300)

    def state(self, host, zone):
        out = self.zoneadm(host, '-z', zone, 'list', '-p').stdout.strip()
        return out.split(':')[2]

    def heartbeats(self, host, zone):
        """(boot id, counter) of every heartbeat in the zone's console log."""
        r = self.exec(host, 'cat', f'/var/log/zones/{zone}.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]

    def last_heartbeat(self, host, zone):
        hb = self.heartbeats(host, zone)
        return hb[-1] if hb else (None, 0)

    def wait_heartbeat_after(self, host, zone, boot, n, timeout=60):
        """Waits for a heartbeat of boot id `boot` (None: any) with a counter above n."""
        found = []

        def newer():
            b, c = self.last_heartbeat(host, zone)
            if b is not None and (boot is None or b == boot) and c > n:
                found[:] = [b, c]
                return True
            return False

        self.wait_for(newer, timeout=timeout, msg=f'a heartbeat of {zone} after {n}')
        return tuple(found)

    def test_1_boot(self):
        self.zoneadm('host1', '-z', 'kz1', 'install')
        self.assertEqual(self.state('host1', 'kz1'), 'installed')
        self.zoneadm('host1', '-z', 'kz1', 'boot')
        self.assertEqual(self.state('host1', 'kz1'), 'running')
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kz1').stdout.strip(), 'active')
        # QEMU itself is the unit's main process
        pid = self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', 'zone@kz1').stdout.strip()
        comm = self.exec('host1', 'cat', f'/proc/{pid}/comm').stdout.strip()
        self.assertTrue(comm.startswith('qemu-system'), comm)
        boot, n = self.wait_heartbeat_after('host1', 'kz1', None, 0)
        # it keeps beating, with the same boot id
        self.assertEqual(self.wait_heartbeat_after('host1', 'kz1', boot, n + 3)[0], boot)
        lines = self.zoneadm('host1', 'list', '-v').stdout.splitlines()
        self.assertEqual(lines[2].split(), ['1', 'kz1', 'running', '-', 'kz', 'excl'])
        # the guest's console is nobody else's business
        self.assertEqual(self.exec('host1', 'stat', '-c', '%a', '/var/log/zones', '/var/log/zones/kz1.console')
                         .stdout.split(), ['700', '600'])

    def test_2_restarter_killed(self):
        boot, n = self.wait_heartbeat_after('host1', 'kz1', None, 0)
        self.exec('host1', 'systemctl', 'kill', '--signal=SIGKILL', 'kzones-restarterd')
        # the guest goes on beating while there is no restarter
        self.assertEqual(self.wait_heartbeat_after('host1', 'kz1', boot, n + 5)[0], boot)
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kz1').stdout.strip(), 'active')
        # and a new restarter (restarted by systemd, or activated by the call) sees it running with its id
        self.wait_for(lambda: self.zoneadm('host1', 'list', '-p', check=False).stdout.startswith('0:global'),
                      timeout=60, msg='the restarter to come back')
        line = [l for l in self.zoneadm('host1', 'list', '-p').stdout.splitlines() if ':kz1:' in l][0]
        self.assertEqual(line.split(':')[:3], ['1', 'kz1', 'running'])
        self.assertEqual(self.last_heartbeat('host1', 'kz1')[0], boot)

    def test_2a_zlogin_on_the_console_of_the_running_zone(self):
        # zlogin -C in the host, on a terminal of its own, against the zone's real console relay
        boot, n = self.wait_heartbeat_after('host1', 'kz1', None, 0)
        # the relay and its supervisor, for the one running zone
        relay = sorted(self.exec('host1', 'pgrep', '-x', 'kz-console').stdout.split())
        self.assertEqual(len(relay), 2, relay)
        r = self.exec('host1', 'python3', '-c', ZLOGIN_SESSION, 'kz1', timeout=90)
        s = json.loads(r.stdout)
        transcript = s['transcript']
        self.assertTrue(s['connected'], transcript)
        self.assertTrue(s['raw'], 'the terminal is not in raw mode while connected')
        # the guest's heartbeats come through as it prints them: its boot, one after the other, newer than
        # what the log held when zlogin connected
        # (whole counters only: the session may begin or end in the middle of a line)
        beats = [(b, int(c)) for b, c in re.findall(HB.pattern + r' sum=', transcript)]
        self.assertGreaterEqual(len(beats), 3, transcript)
        self.assertEqual({b for b, _ in beats}, {boot}, transcript)
        self.assertEqual([c for _, c in beats], list(range(beats[0][1], beats[0][1] + len(beats))), transcript)
        self.assertGreater(beats[0][1], n)
        # ~. leaves: the session closes, zlogin exits 0, the terminal is as it was before
        self.assertTrue(s['left'], transcript)
        self.assertIn("[Connection to zone 'kz1' console closed]", transcript)
        self.assertEqual(s['rc'], '0', transcript)
        self.assertEqual(s['after'], s['before'], 'the terminal settings were not restored')
        self.assertNotIn('~.', transcript.split("console]", 1)[1], 'the escape reached the guest or the terminal')
        # and the zone runs on: the same relay, the same guest, beating after the session
        self.assertEqual(self.state('host1', 'kz1'), 'running')
        self.assertEqual(sorted(self.exec('host1', 'pgrep', '-x', 'kz-console').stdout.split()), relay,
                         'the console relay was started again')
        self.assertEqual(self.wait_heartbeat_after('host1', 'kz1', boot, beats[-1][1] + 2)[0], boot)

    def test_3_halt_boot_reboot(self):
        boot, n = self.wait_heartbeat_after('host1', 'kz1', None, 0)
        self.zoneadm('host1', '-z', 'kz1', 'halt')
        self.assertEqual(self.state('host1', 'kz1'), 'installed')
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kz1', check=False).stdout.strip(),
                         'inactive')
        stopped = self.last_heartbeat('host1', 'kz1')
        time.sleep(1)
        self.assertEqual(self.last_heartbeat('host1', 'kz1'), stopped, 'no heartbeat after halt')
        # boot: a new guest (new boot id); arguments after -- reach the guest kernel's command line
        self.zoneadm('host1', '-z', 'kz1', 'boot', '--', 'marker=KZARG1')
        # the newest guest's own boot line carries the marker: a previous boot's lines do not count
        def marked_new_boot():
            lines = BOOT_LINE.findall(self.exec('host1', 'cat', '/var/log/zones/kz1.console').stdout)
            return lines and lines[-1][0] != boot and lines[-1][1] == 'KZARG1' and lines[-1][0]
        marked = self.wait_for(marked_new_boot, timeout=60, msg='the boot argument in the new guest')
        self.wait_for(lambda: self.last_heartbeat('host1', 'kz1')[0] not in (boot, None), timeout=60,
                      msg='a heartbeat of the new boot')
        boot2 = self.last_heartbeat('host1', 'kz1')[0]
        self.assertNotEqual(boot2, boot)
        self.assertEqual(boot2, marked, 'the guest that beats is the one that got the boot argument')
        # reboot: halt and boot again
        self.zoneadm('host1', '-z', 'kz1', 'reboot')
        self.assertEqual(self.state('host1', 'kz1'), 'running')
        self.wait_for(lambda: self.last_heartbeat('host1', 'kz1')[0] not in (boot, boot2, None), timeout=60,
                      msg='a heartbeat after the reboot')

    def test_4_shutdown(self):
        self.wait_heartbeat_after('host1', 'kz1', None, 0)
        self.assertIn('kzguest: acpi: power button ready', self.exec('host1', 'cat', '/var/log/zones/kz1.console').stdout)
        # the ACPI power button: the guest powers itself off, the zone is installed again
        self.zoneadm('host1', '-z', 'kz1', 'shutdown')
        self.assertEqual(self.state('host1', 'kz1'), 'installed')
        self.assertIn('kzguest: power button: powering off', self.exec('host1', 'cat', '/var/log/zones/kz1.console')
                      .stdout)
        old = self.last_heartbeat('host1', 'kz1')[0]
        self.zoneadm('host1', '-z', 'kz1', 'boot')
        # a press before the guest has set up ACPI is lost: wait for its first heartbeat
        self.wait_for(lambda: self.last_heartbeat('host1', 'kz1')[0] not in (old, None), timeout=60,
                      msg='a heartbeat of the new boot')
        before = self.last_heartbeat('host1', 'kz1')[0]
        self.zoneadm('host1', '-z', 'kz1', 'shutdown', '-r')
        self.assertEqual(self.state('host1', 'kz1'), 'running')
        self.wait_for(lambda: self.last_heartbeat('host1', 'kz1')[0] not in (before, None), timeout=60,
                      msg='a heartbeat after shutdown -r')

    def test_5_evacuation_target(self):
        busctl = ['busctl', 'set-property', RESTARTER_BUS_NAME]
        zone = path_encode(RESTARTER_ZONE_PREFIX, 'kz1')
        self.exec('host1', *busctl, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                  'DefaultEvacuationTarget', 's', 'ssh://root@host2')
        self.exec('host1', 'zonecfg', '-z', 'kz2', 'create -t kz1')

        def target(z):
            return self.exec('host1', 'busctl', 'get-property', RESTARTER_BUS_NAME,
                             path_encode(RESTARTER_ZONE_PREFIX, z), RESTARTER_ZONE_IFACE,
                             'EvacuationTarget').stdout.strip()

        self.wait_for(lambda: self.exec('host1', 'busctl', 'call', RESTARTER_BUS_NAME, RESTARTER_PATH,
                                        RESTARTER_MANAGER_IFACE, 'GetZone', 's', 'kz2',
                                        check=False).returncode == 0, msg='kz2 to appear')
        self.assertEqual(target('kz1'), 's "ssh://root@host2"')
        self.assertEqual(target('kz2'), 's "ssh://root@host2"')
        self.exec('host1', *busctl, zone, RESTARTER_ZONE_IFACE, 'EvacuationTarget', 's', 'ssh://root@host3')
        self.assertEqual(target('kz1'), 's "ssh://root@host3"')
        self.assertEqual(target('kz2'), 's "ssh://root@host2"')
        # by hand, the systemd way: edit the zone's drop-in, then reload the unit
        self.exec('host1', 'sh', '-c', 'sed -i s/host3/host2:2222/ '
                  '/etc/systemd/system/zone@kz1.service.d/50-kzones-evacuation.conf')
        self.exec('host1', 'systemctl', 'reload', 'zone@kz1')
        self.assertEqual(target('kz1'), 's "ssh://root@host2:2222"')
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kz1').stdout.strip(), 'active')
        self.exec('host1', 'zonecfg', '-z', 'kz2', 'delete -F')

    def test_6_refusals(self):
        def refused(args, message, code=1):
            r = self.zoneadm('host1', *args, check=False)
            self.assertEqual(r.returncode, code, r.stdout + r.stderr)
            self.assertIn(message, r.stderr)
            lines = r.stderr.strip().splitlines()
            if code == 1:
                self.assertEqual(len(lines), 1, r.stderr)
            else:
                # a usage error: the message first, then how zoneadm is called
                self.assertIn(message, lines[0])
                self.assertTrue(any(l.startswith('usage: zoneadm') for l in lines[1:]), r.stderr)

        refused(['-z', 'nosuch', 'boot'], "zoneadm: zone 'nosuch': No such zone configured")
        refused(['-z', 'kz1', 'boot'], "zoneadm: zone 'kz1': zone is already running")
        refused(['-z', 'kz1', 'uninstall', '-F'], "zoneadm: zone 'kz1': zone is running")
        refused(['-z', 'kz1', 'dance'], "unknown subcommand 'dance'", code=2)
        # a zone that cannot start says why, and is installed afterwards
        self.exec('host1', 'zonecfg', '-z', 'bad', 'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                  'select anet id=0; set lower-link=nosuchbr; end; select device id=0; '
                  'set storage=nbd://storage:10809/disk1; end')
        self.zoneadm('host1', '-z', 'bad', 'install')
        refused(['-z', 'bad', 'boot'], "zoneadm: zone 'bad': boot failed: anet 0: lower-link 'nosuchbr' does not exist "
                "on this host.")
        self.assertEqual(self.state('host1', 'bad'), 'installed')
        # the running zone did not mind
        self.assertEqual(self.state('host1', 'kz1'), 'running')

    def test_7_halt_leaves_nothing(self):
        self.zoneadm('host1', '-z', 'kz1', 'halt')
        self.assertEqual(self.exec('host1', 'sh', '-c', 'pgrep -c qemu-system || true').stdout.strip(), '0')
        self.assertEqual(self.exec('host1', 'sh', '-c', 'ip -br link | grep -c "^kz[0-9a-f]*\\." || true')
                         .stdout.strip(), '0')
        self.zoneadm('host1', '-z', 'kz1', 'uninstall', '-F')
        self.assertEqual(self.state('host1', 'kz1'), 'configured')

    def test_8_install_from_an_installer_iso(self):
        # any file makes a CD-ROM; the "installer" here is the test guest, which we power off
        self.exec('host1', 'sh', '-c', 'head -c 1048576 /dev/zero > /srv/shared/installer.iso')
        p = subprocess.Popen([labtest.LAB, 'exec', 'host1', 'zoneadm', '-z', 'kz1', 'install', '-b',
                              '/srv/shared/installer.iso'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.wait_for(lambda: self.state('host1', 'kz1') == 'incomplete' and
                          self.exec('host1', 'systemctl', 'is-active', 'zone@kz1', check=False).stdout.strip()
                          == 'active', timeout=60, msg='the installer to run')
            blocks = self.exec('host1', 'python3', '-c', QMP_QUERY_BLOCK).stdout
            # QEMU reads the ISO through a descriptor that zoneadm opened as its user, handed
            # on by the launcher as an fdset (QEMU's own user opens no file)
            self.assertIn('"filename": "/dev/fdset/1000"', blocks)
            sets = json.loads(self.exec('host1', 'python3', '-c', QMP_QUERY_BLOCK.replace('query-block',
                                                                                          'query-fdsets')).stdout)
            fd = [s['fds'][0] for s in sets['return'] if s['fdset-id'] == 1000][0]
            self.assertEqual(fd['opaque'], 'installer')
            pid = self.exec('host1', 'systemctl', 'show', '-P', 'MainPID', 'zone@kz1').stdout.strip()
            self.assertEqual(self.exec('host1', 'readlink', f'/proc/{pid}/fd/{fd["fd"]}').stdout.strip(),
                             '/srv/shared/installer.iso')
            self.wait_for(lambda: 'kzguest: acpi: power button ready' in
                          self.exec('host1', 'cat', '/var/log/zones/kz1.console').stdout.split('boot id=')[-1],
                          timeout=60, msg='the installer guest to be ready')
            # the installer is done: it powers the guest off
            self.exec('host1', 'python3', '-c', QMP_QUERY_BLOCK.replace('query-block', 'system_powerdown'))
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn('Booting the installer from /srv/shared/installer.iso', out)
        self.assertEqual(self.state('host1', 'kz1'), 'installed')


# Run inside a host: `zlogin -C ZONE` on a pseudo-terminal, in a shell that prints
# the terminal's settings before and after; reads three heartbeats through it,
# types ~. and reports what happened as JSON.
ZLOGIN_SESSION = r"""
import json, os, pty, re, select, sys, termios, time
zone = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execvp('sh', ['sh', '-c', 'echo "before=$(stty -g)"; zlogin -C "$0"; echo "rc=$?"; echo "after=$(stty -g)"',
                     zone])
buf = b''
def read_until(pred, timeout):
    global buf
    deadline = time.monotonic() + timeout
    while not pred(buf):
        r, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        if not r:
            return False
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b''
        if not data:
            return pred(buf)
        buf += data
    return True
out = {}
out['connected'] = read_until(lambda b: b"[Connected to zone '%s' console]" % zone.encode() in b, 15)
out['raw'] = not termios.tcgetattr(fd)[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
start = len(buf)
read_until(lambda b: len(re.findall(rb'kzguest: hb boot=\w+ n=\d+', b[start:])) >= 4, 30)
os.write(fd, b'~.')
out['left'] = read_until(lambda b: re.search(rb'after=\S+\r?\n', b), 15)
if not out['left']:
    os.kill(pid, 9)
os.waitpid(pid, 0)
text = buf.decode('utf-8', 'replace').replace('\r\n', '\n')
out['transcript'] = text
for key in ('before', 'rc', 'after'):
    m = re.search('^' + key + r'=(\S*)$', text, re.M)
    out[key] = m.group(1) if m else None
print(json.dumps(out))
"""

QMP_QUERY_BLOCK = """
import json, socket
s = socket.socket(socket.AF_UNIX); s.connect('/run/kzones/kz1/control.sock'); f = s.makefile('rw')
f.readline(); f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\\n'); f.flush(); f.readline()
f.write(json.dumps({'execute': 'query-block'}) + '\\n'); f.flush(); print(f.readline())
"""


if __name__ == '__main__':
    labtest.main()
