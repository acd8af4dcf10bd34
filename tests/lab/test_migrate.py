#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live migration between two real hosts that share the zone's storage (NBD): the
guest's heartbeat goes on on host2 with the same boot id and a counter that goes
on, the source ends with the zone configured and its unit stopped, and the host
data names host2 (host1 is refused an attach); a cipher the hosts lack fails before
anything moves and the zone runs on at the source; -c list names both hosts'
ciphers; a dry run (-n) starts the zone in migrating-in mode on host2 and changes
nothing on either host; strangers on 8102 (garbage, TLS without a key, a stale
migration's identity) are refused while the zone runs on; the target's QEMU killed
mid-stream, and a target whose migration listener is stopped, leave the zone running
on the source alone; the stream between the hosts never holds the guest's marker
with a cipher, and does with -c none (the capture can see it), as a zone
administrator brings the zone back to host1 over its own SSH connection (the
destination checks its migrate auth); a restarter killed at the migration's end, and
a source that dies before the handover, leave the zone running on one host."""

import os
import re
import threading

import labtest
from kzbus import MIGRATION_BUS_NAME, MIGRATION_MANAGER_IFACE, MIGRATION_PATH

# what the scripts run inside a host call kz-migr with: busctl call BUS PATH IFACE
MIGR = (MIGRATION_BUS_NAME, MIGRATION_PATH, MIGRATION_MANAGER_IFACE)

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
# in every 64 KiB of the guest's dirty area (kzguest's marker=)
PSK_PRIORITY = 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+PSK'
MARKER = 'KZMARK-' + os.urandom(6).hex()

# Run inside the target host: once kz-migr has received STOP_AFTER bytes of the
# zone's incoming migration, stops the target's QEMU, and kills it a moment later.
# Prints what it did.
KILL_TARGET_QEMU = r"""
import json, os, signal, subprocess, sys, time
STOP_AFTER = 4 << 20
deadline = time.monotonic() + 120
def call(*a):
    r = subprocess.run(['busctl', '--json=short', 'call', *sys.argv[1:4], *a], capture_output=True, text=True)
    return json.loads(r.stdout)['data'] if r.returncode == 0 else None
mid = None
while mid is None:
    if time.monotonic() > deadline:
        sys.exit('no incoming migration of kzm began')
    for d, i, state, _ in (call('ListMigrations') or [[]])[0]:
        if d == 'incoming' and i.startswith('kzm-') and state == 'running':
            mid = i
    time.sleep(0.01)
while True:
    info = call('GetMigration', 'ss', 'incoming', mid)
    if info and info[5] >= STOP_AFTER:
        break
    if time.monotonic() > deadline or (info and info[0] != 'running'):
        sys.exit(f'the stream never reached {STOP_AFTER} bytes: {info}')
    time.sleep(0.005)
pid = int(subprocess.run(['systemctl', 'show', '-P', 'MainPID', 'zone@kzm'], capture_output=True,
                         text=True).stdout)
os.kill(pid, signal.SIGSTOP)
time.sleep(1)
os.kill(pid, signal.SIGKILL)
print(f'killed qemu {pid} after {info[5]} bytes of the stream')
"""

# Run inside each host: a zone administrator, zadm, with an SSH identity that
# every host's zadm accepts (the lab's), and no other privilege.
ZONE_ADMIN_SETUP = r"""
set -e
id zadm >/dev/null 2>&1 || useradd -m -s /bin/bash zadm
install -d -m 700 -o zadm -g zadm /home/zadm/.ssh
install -m 600 -o zadm -g zadm /root/.ssh/id_ed25519 /home/zadm/.ssh/id_ed25519
install -m 600 -o zadm -g zadm /root/.ssh/id_ed25519.pub /home/zadm/.ssh/authorized_keys
printf 'Host *\n\tBatchMode yes\n\tStrictHostKeyChecking accept-new\n\tConnectTimeout 10\n\tLogLevel ERROR\n' \
    > /home/zadm/.ssh/config
chown zadm:zadm /home/zadm/.ssh/config
chmod 600 /home/zadm/.ssh/config
"""
AS_ZADM = ('setpriv', '--reuid=zadm', '--regid=zadm', '--init-groups')

# Run inside the source host: once kz-migr sends the zone's migration, freezes the
# restarter and its migration helper (SIGSTOP to the unit's processes; QEMU, in the
# zone's unit, goes on migrating).
FREEZE_SOURCE_RESTARTER = r"""
import json, subprocess, sys, time
deadline = time.monotonic() + 120
def migrations():
    r = subprocess.run(['busctl', '--json=short', 'call', *sys.argv[1:4], 'ListMigrations'], capture_output=True,
                       text=True)
    return json.loads(r.stdout)['data'][0] if r.returncode == 0 else []
while not any(d == 'outgoing' and i.startswith('kzm-') and s == 'running' for d, i, s, _ in migrations()):
    if time.monotonic() > deadline:
        sys.exit('no outgoing migration of kzm began')
    time.sleep(0.01)
subprocess.run(['systemctl', 'kill', '--signal=SIGSTOP', 'kzones-restarterd'], check=True)
print('froze the restarter')
"""

# Run inside a host: the payload of every TCP segment to or from port 8102 on
# eth0 (an AF_PACKET socket: what crosses the hosts' link), for SECONDS or until
# the file STOP appears; prints how many bytes were seen and how many times
# MARKER occurs in them.
CAPTURE = r"""
import os, socket, struct, sys, time
marker, seconds, stop = sys.argv[1].encode(), float(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind(('eth0', 0))
s.settimeout(0.2)
seen = hits = 0
tail = b''
end = time.monotonic() + seconds
print('capturing', flush=True)
while time.monotonic() < end and not os.path.exists(stop):
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if len(f) < 14 or f[12:14] != b'\x08\x00':
        continue
    ip = f[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 6:
        continue
    tcp = ip[ihl:]
    sport, dport = struct.unpack('!HH', tcp[:4])
    if 8102 not in (sport, dport):
        continue
    data = tcp[(tcp[12] >> 4) * 4:]
    seen += len(data)
    hits += (tail + data).count(marker)
    tail = data[-len(marker) + 1:]
print(f'seen {seen} hits {hits}')
"""


class LiveMigration(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzm',
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk2; end; '
                    f'add boot; set kernel={GUEST}; set cmdline="dirty=160M rate=2560 interval=200 marker={MARKER}"; end; '
                    'add admin; set user=zadm; set auths=migrate; end', check=True)
        export = labtest.lab('exec', 'host1', 'zonecfg', '-z', 'kzm', 'export', check=True).stdout
        labtest.lab('exec', 'host2', 'zonecfg', '-z', 'kzm', '-f', '-', input=export, check=True)
        for h in ('host1', 'host2'):
            labtest.lab('exec', h, 'systemctl', 'start', 'kz-migr.socket', check=True)
            labtest.lab('exec', h, 'bash', '-c', ZONE_ADMIN_SETUP, check=True)
        labtest.lab('exec', 'host1', 'zoneadm', '-z', 'kzm', 'install', check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(('host1', 'kzm'), ('host2', 'kzm'))
            for h in ('host1', 'host2'):
                labtest.lab('exec', h, 'systemctl', 'stop', 'kz-migr.socket', 'kz-migr.service', timeout=60)
        finally:
            super().tearDownClass()

    def zoneadm(self, host, *args, check=True):
        return self.exec(host, 'zoneadm', '-z', 'kzm', *args, check=check, timeout=300)

    def listed(self, host):
        line = self.zoneadm(host, 'list', '-p').stdout.strip().split(':')
        return line[2]

    def heartbeats(self, host):
        r = self.exec(host, 'cat', '/var/log/zones/kzm.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]

    def wait_beats(self, host, count):
        self.wait_for(lambda: len(self.heartbeats(host)) >= count, timeout=90, msg=f'{count} heartbeats on {host}')
        return self.heartbeats(host)[-1]

    def beating_on(self, host, boot):
        """The guest goes on on HOST: two more heartbeats of the same boot, and its
        memory check never failed."""
        n = len(self.heartbeats(host))
        b, _ = self.wait_beats(host, n + 2)
        self.assertEqual(b, boot, f'the same boot on {host}, not a fresh one')
        console = self.exec(host, 'cat', '/var/log/zones/kzm.console', check=False).stdout
        self.assertNotIn('kzguest: error', console, 'the guest found its memory damaged')

    def runs_on_host1_alone(self, boot):
        """After a failed migration: running on host1 with no auxiliary state, the
        same guest beating on; nothing of it left running or half-made on host2."""
        self.assertEqual(self.zoneadm('host1', 'list', '-p').stdout.strip().split(':')[9], '',
                         'no auxiliary state (migrating-out) left on the source')
        self.assertEqual(self.listed('host1'), 'running')
        self.beating_on('host1', boot)
        self.wait_for(lambda: self.listed('host2') == 'configured', timeout=60, msg='host2 back to configured')
        self.assertNotIn(self.exec('host2', 'systemctl', 'is-active', 'zone@kzm', check=False).stdout.strip(),
                         ('active', 'activating', 'deactivating'))
        self.assertEqual(self.exec('host2', 'pgrep', '-f', 'qemu-system.*kzm', check=False).stdout, '',
                         "no QEMU of the zone on host2")
        self.exec('host2', 'systemctl', 'reset-failed', 'zone@kzm', check=False)

    def kz_migr_log(self, host):
        return self.exec(host, 'journalctl', '-u', 'kz-migr', '--no-pager', '-o', 'cat', check=False).stdout

    def capture(self, host, seconds=240):
        """Starts capturing the migration port's traffic on HOST; returns a function
        that stops it and returns (bytes seen, marker hits)."""
        stop = f'/run/kzm-capture-stop-{os.urandom(4).hex()}'
        result = {}

        def run():
            result['r'] = labtest.lab('exec', host, 'python3', '-c', CAPTURE, MARKER, str(seconds), stop,
                                      timeout=seconds + 60)
        t = threading.Thread(target=run)
        t.start()
        self.wait_for(lambda: self.exec(host, 'pgrep', '-f', 'AF_PACKET', check=False).returncode == 0, timeout=30,
                      msg='the capture started')

        def finish():
            self.exec(host, 'touch', stop)
            t.join(seconds + 60)
            self.exec(host, 'rm', '-f', stop)
            out = result['r'].stdout + result['r'].stderr
            m = re.search(r'seen (\d+) hits (\d+)', out)
            self.assertIsNotNone(m, out)
            return int(m.group(1)), int(m.group(2))
        return finish

    def test_1_unknown_cipher_fails_before_anything_moves(self):
        self.zoneadm('host1', 'boot')
        self.wait_beats('host1', 3)
        r = self.zoneadm('host1', 'migrate', '-c', 'rot13', 'ssh://root@host2', check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('cipher rot13 not supported by this host', r.stderr)
        self.assertEqual(self.listed('host1'), 'running')
        self.assertEqual(self.listed('host2'), 'configured')
        n = len(self.heartbeats('host1'))
        self.wait_beats('host1', n + 2)

    def test_2_dry_run_changes_nothing(self):
        n = len(self.heartbeats('host1'))
        r = self.zoneadm('host1', 'migrate', '-n', 'ssh://root@host2', check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Booting zone in 'migrating-in' mode.", r.stdout)
        self.assertIn('Dry run: the zone can migrate; nothing was changed on either host.', r.stdout)
        self.assertEqual(self.listed('host2'), 'configured')
        self.assertEqual(self.exec('host2', 'systemctl', 'is-active', 'zone@kzm', check=False).stdout.strip(),
                         'inactive')
        self.assertEqual(self.listed('host1'), 'running')
        self.wait_beats('host1', n + 2)

    def test_1b_cipher_list(self):
        r = self.zoneadm('host1', 'migrate', '-c', 'list', 'ssh://root@host2', check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual([l.split(':')[0] for l in lines], ['source ciphers', 'destination ciphers'], r.stdout)
        for l in lines:
            self.assertIn('aes-128-gcm', l)
            self.assertIn('none', l)
        self.assertEqual(self.listed('host1'), 'running')

    def test_2b_strangers_on_8102_are_refused_while_the_zone_runs(self):
        boot, _ = self.wait_beats('host1', 1)
        before = len(self.kz_migr_log('host2').splitlines())
        garbage = self.exec('host1', 'python3', '-c',
                            'import socket; s = socket.create_connection(("host2", 8102), 10)\n'
                            'try: s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); s.settimeout(30); '
                            'print(len(s.recv(100)))\n'
                            'except ConnectionResetError: print(0)', check=False)
        self.assertEqual(garbage.stdout.strip(), '0', 'closed without an answer: ' + garbage.stdout + garbage.stderr)
        no_key = self.exec('host1', 'gnutls-cli', '--logfile=/dev/null', '--insecure', '-p', '8102', 'host2',
                           input='x', check=False, timeout=60)
        self.assertNotEqual(no_key.returncode, 0)
        stale = self.exec('host1', 'gnutls-cli', '--logfile=/dev/null', '--priority=' + PSK_PRIORITY,
                          '--pskusername=kzm-00112233deadbeef', '--pskkey=' + os.urandom(32).hex(), '-p', '8102',
                          'host2', input='stolen?', check=False, timeout=60)
        self.assertNotEqual(stale.returncode, 0)

        def refusals():
            return [l for l in self.kz_migr_log('host2').splitlines()[before:] if 'refused' in l]
        self.wait_for(lambda: len(refusals()) >= 3, timeout=30, msg='three refusals in kz-migr\'s log')
        log = '\n'.join(refusals())
        self.assertIn('not a migration hello (its first byte is 0x47)', log)
        self.assertIn('not a migration hello (TLS handshake failed', log)
        self.assertIn("no migration 'kzm-00112233deadbeef' is prepared here", log)
        self.assertEqual(self.listed('host1'), 'running')
        self.beating_on('host1', boot)

    def test_3_target_qemu_killed_mid_stream(self):
        boot, _ = self.wait_beats('host1', 1)
        killer = {}

        def kill():
            killer['r'] = labtest.lab('exec', 'host2', 'python3', '-c', KILL_TARGET_QEMU, *MIGR, timeout=180)
        t = threading.Thread(target=kill)
        t.start()
        r = self.zoneadm('host1', 'migrate', 'ssh://root@host2', check=False)
        t.join(200)
        self.assertIn('killed qemu', killer['r'].stdout, killer['r'].stdout + killer['r'].stderr)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("zoneadm: zone 'kzm':", r.stderr)
        self.assertNotIn('Migration successful.', r.stdout)
        self.runs_on_host1_alone(boot)

    def test_4_target_listener_stopped(self):
        boot, _ = self.wait_beats('host1', 1)
        self.exec('host2', 'systemctl', 'mask', '--runtime', '--now', 'kz-migr.socket', 'kz-migr.service')
        try:
            r = self.zoneadm('host1', 'migrate', 'ssh://root@host2', check=False)
        finally:
            self.exec('host2', 'systemctl', 'unmask', '--runtime', 'kz-migr.socket', 'kz-migr.service')
            self.exec('host2', 'systemctl', 'start', 'kz-migr.socket')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("destination's kz-migr", r.stderr)
        self.runs_on_host1_alone(boot)

    def test_5_live_migration(self):
        boot, n = self.wait_beats('host1', 3)
        finish = self.capture('host2')
        r = self.zoneadm('host1', 'migrate', 'ssh://root@host2', check=False)
        seen, hits = finish()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreater(seen, 8 << 20, 'the capture saw the stream')
        self.assertEqual(hits, 0, 'the guest\'s marker never crosses the link with the default cipher')
        for step in ('Checking migration compatibility.', "Booting zone in 'migrating-in' mode.",
                     'Starting migration.', 'Migration successful.', 'Halting and detaching zone on source host.'):
            self.assertIn(step, r.stdout)
        self.assertEqual(self.listed('host2'), 'running')
        self.assertEqual(self.listed('host1'), 'configured')
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kzm', check=False).stdout.strip(),
                         'inactive')
        # the same guest goes on on host2: its boot id, its counter
        b, m = self.wait_beats('host2', 3)
        self.assertEqual(b, boot, 'the same boot, not a fresh one')
        self.assertGreater(m, n)
        # the host data names host2, which renews it: host1 cannot take the zone
        def refused_for_host2():
            r = self.zoneadm('host1', 'attach', check=False)
            return r.returncode == 1 and 'is in use by host with hostid' in r.stderr and 'hostname: host2' in r.stderr
        self.wait_for(refused_for_host2, timeout=30, msg="host1's attach refused: host2 holds the zone")
        self.assertEqual(self.listed('host2'), 'running')


    def test_6_back_by_the_zone_administrator_with_no_cipher(self):
        """host2 -> host1 by zadm, a zone administrator with the migrate auth, over
        zadm's own SSH connection: refused while host1's configuration denies zadm
        that auth, done once it grants it; with -c none the marker crosses the link
        in the clear (which shows the capture of test 5 could have seen it), and the
        same guest runs on host1 again."""
        boot, _ = self.wait_beats('host2', 1)
        self.exec('host1', 'zonecfg', '-z', 'kzm', 'select admin user=zadm; set auths=manage; end')
        r = self.exec('host2', *AS_ZADM, 'zoneadm', '-z', 'kzm', 'migrate', '-c', 'none', 'ssh://zadm@host1',
                      check=False, timeout=300)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("'migrate' auth", r.stderr, 'the destination checked zadm, not root')
        self.assertEqual(self.listed('host2'), 'running')
        self.assertEqual(self.listed('host1'), 'configured')
        self.exec('host1', 'zonecfg', '-z', 'kzm', 'select admin user=zadm; set auths=migrate; end')

        finish = self.capture('host1')
        r = self.exec('host2', *AS_ZADM, 'zoneadm', '-z', 'kzm', 'migrate', '-c', 'none', 'ssh://zadm@host1',
                      check=False, timeout=300)
        seen, hits = finish()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreater(seen, 8 << 20, 'the capture saw the stream')
        self.assertGreater(hits, 0, 'the guest\'s marker in the clear with -c none')
        self.assertEqual(self.listed('host1'), 'running')
        self.assertEqual(self.listed('host2'), 'configured')
        self.beating_on('host1', boot)

    def test_7_restarter_dies_at_the_migrations_end(self):
        """The source's restarter (and its helper) stop during the stream and are
        killed once the guest runs on host2: QEMU on host1 paused the guest for good
        at the stream's end, and the restarter that starts again must not continue
        it (two copies on shared storage) but ask host2, which runs it, and hand the
        zone over."""
        boot, _ = self.wait_beats('host1', 1)
        result = {}

        def migrate():
            result['r'] = self.zoneadm('host1', 'migrate', 'ssh://root@host2', check=False)
        t = threading.Thread(target=migrate)
        t.start()
        try:
            self.exec('host1', 'python3', '-c', FREEZE_SOURCE_RESTARTER, *MIGR, timeout=180)

            def settled_on_host2():
                f = self.zoneadm('host2', 'list', '-p', check=False).stdout.strip().split(':')
                return len(f) > 9 and f[2] == 'running' and f[9] == ''
            self.wait_for(settled_on_host2, timeout=120, msg='the guest runs on host2, its migrate-in job done')
        finally:
            self.exec('host1', 'systemctl', 'kill', '--signal=SIGKILL', 'kzones-restarterd', check=False)
            t.join(300)
        self.assertNotEqual(result['r'].returncode, 0, 'zoneadm lost its restarter: ' + result['r'].stdout)
        # the restarter starts again, asks host2 and hands the zone over
        self.wait_for(lambda: self.listed('host1') == 'configured', timeout=120,
                      msg='host1 halted its paused copy and detached it')
        self.assertIn('asking the destination whether it runs there',
                      self.exec('host1', 'journalctl', '-u', 'kzones-restarterd', '--no-pager', '-o', 'cat').stdout)
        self.assertEqual(self.listed('host2'), 'running')
        self.beating_on('host2', boot)

        def refused_for_host2():
            r = self.zoneadm('host1', 'attach', check=False)
            return r.returncode == 1 and 'hostname: host2' in r.stderr
        self.wait_for(refused_for_host2, timeout=60, msg="host1's attach refused: host2 took the handed-over zone")


    def test_8_source_dies_before_the_handover(self):
        """host2 -> host1, and host2 dies as a host would between the stream's end and
        the handover: its restarter and helper frozen during the stream, then, once
        host1 runs the guest, its zone's QEMU and lease keeper killed (no handover is
        written). host1's keeper takes the lease once it expired, so the zone runs
        on host1 alone and holds it: host2 cannot take it back."""
        boot, _ = self.wait_beats('host2', 1)
        result = {}

        def migrate():
            result['r'] = self.exec('host2', 'zoneadm', '-z', 'kzm', 'migrate', 'ssh://root@host1', check=False,
                                    timeout=300)
        t = threading.Thread(target=migrate)
        t.start()
        try:
            self.exec('host2', 'python3', '-c', FREEZE_SOURCE_RESTARTER, *MIGR, timeout=180)

            def settled_on_host1():
                f = self.zoneadm('host1', 'list', '-p', check=False).stdout.strip().split(':')
                return len(f) > 9 and f[2] == 'running' and f[9] == ''
            self.wait_for(settled_on_host1, timeout=120, msg='the guest runs on host1, its migrate-in job done')
            self.exec('host2', 'systemctl', 'kill', '--signal=SIGKILL', 'zone@kzm')
        finally:
            self.exec('host2', 'systemctl', 'kill', '--signal=SIGKILL', 'kzones-restarterd', check=False)
            t.join(300)
        self.wait_for(lambda: 'this host took it after' in
                      self.exec('host1', 'journalctl', '-u', 'zone@kzm', '--no-pager', '-o', 'cat').stdout,
                      timeout=90, msg="host1's lease keeper took the expired lease")
        self.assertEqual(self.listed('host1'), 'running')
        self.beating_on('host1', boot)
        self.assertNotIn(self.exec('host2', 'systemctl', 'is-active', 'zone@kzm', check=False).stdout.strip(),
                         ('active', 'activating'))
        self.exec('host2', 'systemctl', 'reset-failed', 'zone@kzm', check=False)
        r = self.exec('host2', 'zoneadm', '-z', 'kzm', 'boot', check=False, timeout=300)
        self.assertNotEqual(r.returncode, 0, 'host2 must not boot a zone host1 runs: ' + r.stdout)
        self.assertEqual(self.listed('host1'), 'running')
        self.beating_on('host1', boot)


if __name__ == '__main__':
    labtest.main()
