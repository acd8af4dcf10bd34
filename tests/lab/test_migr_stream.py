#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kz-migr between two real hosts, as systemd runs it: kz-migr.socket on TCP
8102 starts the confined kz-migr.service, a stream prepared on host2 and started
on host1 crosses the hosts' network encrypted and arrives whole, and a stranger's
connection to host2's port is refused with its log line. (Stand-ins for the two
QEMUs: zoneadm migrate builds on this.)"""

import json
import os

import labtest
from kzbus import MIGRATION_BUS_NAME, MIGRATION_MANAGER_IFACE, MIGRATION_PATH

MANAGER = [MIGRATION_BUS_NAME, MIGRATION_PATH, MIGRATION_MANAGER_IFACE]

# host2: the target QEMU's stand-in, a unix socket server that reads one channel
# to its end and writes its size and digest
TARGET = r'''
import hashlib, os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("/run/migr-test-target.sock")
s.listen(1)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
c.sendall(b"ok")
c.close()
with open("/run/migr-test-target.out.tmp", "w") as f:
    f.write(f"{n} {h.hexdigest()}")
os.rename("/run/migr-test-target.out.tmp", "/run/migr-test-target.out")
'''

# host1: the source QEMU's stand-in: 64 MiB of random data into kz-migr's socket
SOURCE = r'''
import hashlib, os, socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
h, n = hashlib.sha256(), 0
for _ in range(64):
    b = os.urandom(1 << 20)
    h.update(b)
    n += len(b)
    c.sendall(b)
c.shutdown(socket.SHUT_WR)
answer = c.recv(16)
print(f"{n} {h.hexdigest()} {answer.decode()}")
'''

# a stranger on host1 knocks on host2's port with garbage
STRANGER = r'''
import socket
s = socket.create_connection(("host2", 8102), timeout=30)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
try:
    print(repr(s.recv(100)))
except ConnectionResetError:  # closed with the request unread
    print(repr(b""))
'''


class MigrationStream(labtest.LabTestCase):
    hosts = 2

    @classmethod
    def tearDownClass(cls):
        try:
            for h in ('host1', 'host2'):
                labtest.lab('exec', h, 'systemctl', 'stop', 'kz-migr.socket', 'kz-migr.service', 'migr-test-target',
                            timeout=60)
                labtest.lab('exec', h, 'rm', '-f', '/run/migr-test-target.sock', '/run/migr-test-target.out',
                            timeout=60)
        finally:
            super().tearDownClass()

    def busctl(self, host, *args):
        out = self.exec(host, 'busctl', '--json=short', 'call', *MANAGER, *args).stdout
        return json.loads(out)['data'] if out.strip() else None

    def test_a_stream_between_hosts(self):
        for h in ('host1', 'host2'):
            self.exec(h, 'systemctl', 'start', 'kz-migr.socket')
        self.assertEqual(self.exec('host2', 'systemctl', 'is-active', 'kz-migr.service', check=False).stdout.strip(),
                         'inactive', 'started by its socket or its bus name, not before')
        # the unit's confinement lets it do its work: the ciphers, from GnuTLS
        ciphers = self.busctl('host2', 'ListCiphers')[0]
        self.assertEqual(ciphers[0], 'aes-128-gcm')
        self.assertEqual(self.exec('host2', 'systemctl', 'is-active', 'kz-migr.service').stdout.strip(), 'active')

        self.exec('host2', 'systemd-run', '--unit=migr-test-target', '--service-type=exec', 'python3', '-c', TARGET)
        self.wait_for(lambda: self.exec('host2', 'test', '-S', '/run/migr-test-target.sock', check=False)
                      .returncode == 0, msg='the target stand-in')
        key = [str(b) for b in os.urandom(32)]
        self.busctl('host2', 'PrepareIncoming', 'sayssta{sv}', 'lab-1', '32', *key, 'aes-128-gcm',
                    '/run/migr-test-target.sock', '60000000', '1', 'Channels', 'u', '1')
        path = self.busctl('host1', 'StartOutgoing', 'sayssqta{sv}', 'lab-1', '32', *key, 'aes-128-gcm', 'host2',
                           '8102', '60000000', '1', 'Channels', 'u', '1')[0]
        self.assertEqual(path, '/run/kz-migr/lab-1.sock')
        sent = self.exec('host1', 'python3', '-c', SOURCE, path, timeout=120).stdout.split()
        self.assertEqual(sent[2], 'ok', 'the target answered through both relays')
        got = self.wait_for(lambda: self.exec('host2', 'cat', '/run/migr-test-target.out', check=False).stdout,
                            msg="the target's digest").split()
        self.assertEqual(got, sent[:2], 'host2 received exactly what host1 sent')
        for h, d in (('host1', 'outgoing'), ('host2', 'incoming')):
            st = self.wait_for(lambda: (lambda s: s if s[0] == 'done' else None)(self.busctl(h, 'GetMigration', 'ss',
                                                                                               d, 'lab-1')),
                               msg=f'{h}: done')
            self.assertEqual(st[3], 1)
        self.assertNotEqual(self.exec('host1', 'test', '-e', path, check=False).returncode, 0, 'the socket went')

        out = self.exec('host1', 'python3', '-c', STRANGER).stdout.strip()
        self.assertEqual(out, "b''", 'closed without a word')
        self.wait_for(lambda: 'refused: not a migration hello (its first byte is 0x47)' in
                      self.exec('host2', 'journalctl', '-u', 'kz-migr', '--no-pager', '-o', 'cat').stdout,
                      msg="the stranger's log line")
        log = self.exec('host2', 'journalctl', '-u', 'kz-migr', '--no-pager', '-o', 'cat').stdout
        self.assertIn("migration 'lab-1' (incoming): channel from 10.231.0.11:", log)
        self.assertNotIn('SECCOMP', log)


if __name__ == '__main__':
    labtest.main()
