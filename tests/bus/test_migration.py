#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kz-migr on a private bus, with a listening socket on a free localhost port handed
over by the LISTEN_FDS protocol, as kz-migr.socket hands it 8102.

The one daemon plays both hosts: StartOutgoing relays what a stand-in for the
source QEMU writes to its socket over TCP to the same daemon's port, where
PrepareIncoming made it wait for that migration, and on into a stand-in for the
target QEMU (a unix socket server). What the target's stand-in receives must be
exactly what the source's stand-in sent, and the answers must come back. Hostile
peers (no key, a wrong key, a replayed proof, garbage, a silent client, a flood)
are each refused with their one log line while a real migration runs beside them."""

import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import threading
import time

from bustest import BUILD, SOURCE, PrivateBusTest, members
from kzbus import MIGRATION_BUS_NAME, MIGRATION_MANAGER_IFACE, MIGRATION_PATH

SERVICE = MIGRATION_BUS_NAME
MANAGER = (MIGRATION_PATH, MIGRATION_MANAGER_IFACE)
TLS_CIPHERS = ['aes-128-gcm', 'aes-128-ccm', 'chacha20-poly1305']
PSK_PRIORITY = 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+PSK'

EXEC_WITH_LISTEN_PID = ('import os, sys\n'
                        'os.environ["LISTEN_PID"] = str(os.getpid())\n'
                        'os.execv(sys.argv[1], sys.argv[1:])\n')


def ay(data):
    return ['ay', len(data)] + list(data)


class TargetQemu:
    """A unix socket server standing in for the target's QEMU: it accepts channels,
    reads each to its end, answers with a digest of what it read, and closes."""

    def __init__(self, path, channels=1):
        self.path = path
        self.received = {}
        self.first = {}         # the first bytes of each channel, by the order they were accepted
        self.errors = {}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.threads = []
        self.acceptor = threading.Thread(target=self.accept, args=(channels,), daemon=True)
        self.acceptor.start()

    def accept(self, channels):
        for i in range(channels):
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self.serve, args=(i, c), daemon=True)
            t.start()
            self.threads.append(t)

    def serve(self, i, c):
        h = hashlib.sha256()
        n = 0
        try:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                if n == 0:
                    self.first[i] = b[:4]
                h.update(b)
                n += len(b)
            self.received[i] = (n, h.hexdigest())
            c.sendall(b'target got ' + h.hexdigest().encode())
        except OSError as e:
            # kept for the test's message: a channel cut short by the relay
            self.errors[i] = f'channel {i} after {n} bytes: {e!r}'
        finally:
            c.close()

    def wait(self, timeout=60):
        self.acceptor.join(timeout)
        for t in self.threads:
            t.join(timeout)
        self.sock.close()


def source_qemu(path, datas):
    """What the source's QEMU does: opens its main channel and its multifd channels,
    writes each channel's data, ends it, reads the answer. The multifd channels
    connect and send first, the main channel a moment later: the target must still
    be given the main channel first (QEMU 7.2 takes its first connection for it)."""
    single = isinstance(datas, bytes)
    if single:
        datas = [datas]
    socks = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in datas]
    # the main channel connects last here (QEMU's comes first, but its handshake may end last)
    for c in socks[1:]:
        c.connect(path)
    if len(socks) > 1:
        time.sleep(0.3)
    socks[0].connect(path)
    answers = [None] * len(datas)

    def run(i):
        socks[i].sendall(datas[i])
        socks[i].shutdown(socket.SHUT_WR)
        answers[i] = recv_all(socks[i])
        socks[i].close()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(1, len(datas))]
    for t in threads:
        t.start()
    run(0)
    for t in threads:
        t.join(60)
    return answers[0] if single else answers


class MigrBus(PrivateBusTest):
    daemon_path = 'services/migration/kz-migr'
    bus_name = SERVICE

    def start_daemon(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(128)
        self.addCleanup(self.listener.close)
        self.port = self.listener.getsockname()[1]
        self.rundir = os.path.join(self.tmp, 'run-kz-migr')
        os.mkdir(self.rundir, 0o755)
        self.log = open(os.path.join(self.tmp, 'daemon.log'), 'a')
        self.addCleanup(self.log.close)
        fd = self.listener.fileno()

        def hand_over():
            os.dup2(fd, 3)

        env = dict(self.env, LISTEN_FDS='1', RUNTIME_DIRECTORY=self.rundir)
        self.daemon = subprocess.Popen([sys.executable, '-c', EXEC_WITH_LISTEN_PID,
                                        os.path.join(BUILD, self.daemon_path)],
                                       env=env, stderr=self.log, pass_fds=(3,) if fd != 3 else (), preexec_fn=hand_over)
        self.addCleanup(self.assert_no_sanitizer_report)
        self.addCleanup(self.stop, self.daemon)
        self.wait_for(lambda: self.busctl('status', self.bus_name, check=False).returncode == 0,
                      what=f'{self.bus_name} on the bus')

    def call(self, method, *args, check=True, user=None):
        sig, values = '', []
        for a in args:
            if isinstance(a, tuple):  # (signature, values...)
                sig += a[0]
                values += list(a[1:])
            elif isinstance(a, (bytes, bytearray)):
                sig += 'ay'
                values += ay(a)[1:]
            elif isinstance(a, str):
                sig += 's'
                values.append(a)
            else:
                raise TypeError(a)
        return super().call(*MANAGER, method, sig, *values, check=check, user=user)

    def prepare(self, mid, key, cipher, path, timeout_usec=60_000_000, channels=1, check=True, user=None,
                peer_pid=None):
        opts = ('a{sv}', 1, 'Channels', 'u', channels)
        if peer_pid is not None:
            opts = ('a{sv}', 2, 'Channels', 'u', channels, 'PeerPid', 'u', peer_pid)
        return self.call('PrepareIncoming', mid, key, cipher, path, ('t', timeout_usec), opts, check=check,
                         user=user)

    def start_out(self, mid, key, cipher, port=None, timeout_usec=60_000_000, channels=1, check=True, user=None):
        out = self.call('StartOutgoing', mid, key, cipher, '127.0.0.1', ('q', port or self.port),
                        ('t', timeout_usec), ('a{sv}', 1, 'Channels', 'u', channels), check=check, user=user)
        return out[0] if isinstance(out, list) else out

    def migration(self, direction, mid):
        return self.call('GetMigration', direction, mid)

    def wait_state(self, direction, mid, states, timeout=30):
        self.wait_for(lambda: self.migration(direction, mid)[0] in states, timeout=timeout,
                      what=f'{direction} migration {mid} to be {states}: {self.migration(direction, mid)}\n'
                           f'{self.daemon_log()}')
        return self.migration(direction, mid)

    def migrate(self, mid, cipher, channels=1, size=4 << 20):
        """One whole migration through the daemon: prepared, started, each channel's
        bytes checked at the target and the target's answers at the source."""
        key = os.urandom(32)
        target = TargetQemu(os.path.join(self.tmp, f'{mid}-target.sock'), channels)
        self.prepare(mid, key, cipher, target.path, channels=channels)
        path = self.start_out(mid, key, cipher, channels=channels)
        self.assertTrue(path.startswith(self.rundir + '/'), path)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, 'only its QEMU may connect')
        # QEMU's magics: the main channel's stream starts "QEVM", a multifd channel's 0x11223344
        datas = [(b'QEVM' if i == 0 else b'\x11\x22\x33\x44') + os.urandom(size + i) for i in range(channels)]
        answers = source_qemu(path, datas)
        target.wait()
        if channels > 1:
            self.assertEqual(target.first.get(0), b'QEVM', 'the target QEMU was given the main channel first\n' +
                             self.daemon_log())
        sent = sorted((len(d), hashlib.sha256(d).hexdigest()) for d in datas)
        self.assertEqual(sorted(target.received.values()), sent,
                         f'the target got exactly what the source sent (errors: {target.errors})\n' +
                         self.daemon_log())
        self.assertEqual(sorted(answers), sorted(b'target got ' + h.encode() for _, h in sent),
                         'the answers came back')
        total = sum(len(d) for d in datas)
        out = self.wait_state('outgoing', mid, ['done', 'failed'])
        inc = self.wait_state('incoming', mid, ['done', 'failed'])
        self.assertEqual(out[0], 'done', out)
        self.assertEqual(inc[0], 'done', inc)
        self.assertEqual((out[3], out[4]), (channels, total), out)
        self.assertEqual((inc[3], inc[5]), (channels, total), inc)
        self.assertFalse(os.path.exists(path), 'the source socket is gone')
        return key

    def log_lines(self, pattern):
        return [l for l in self.daemon_log().splitlines() if re.search(pattern, l)]


class Interface(MigrBus):

    def test_manager_matches_its_xml(self):
        self.assertEqual(members(self.live_interface(*MANAGER)), members(self.documented_interface(MANAGER[1])))


class Ciphers(MigrBus):

    def test_list_in_preference_order(self):
        ciphers = self.call('ListCiphers')[0]
        self.assertEqual(ciphers[0], 'aes-128-gcm', 'AES-GCM first')
        self.assertEqual(ciphers[-1], 'none')
        for c in TLS_CIPHERS:
            self.assertIn(c, ciphers)
        # GnuTLS 3.7 binds an external PSK to SHA-256 only: no TLS_AES_256_GCM_SHA384
        self.assertNotIn('aes-256-gcm', ciphers)

    def test_host_configuration_narrows_the_list(self):
        os.makedirs(os.path.join(self.root, 'etc/kzones'))
        with open(os.path.join(self.root, 'etc/kzones/migration.conf'), 'w') as f:
            f.write('# no ChaCha20 or CCM here\n[Migration]\nCiphers=none aes-128-gcm\n')
        self.assertEqual(self.call('ListCiphers')[0], ['aes-128-gcm', 'none'], 'in the preference order')
        key = os.urandom(32)
        for cipher in ('chacha20-poly1305', 'aes-256-gcm'):
            p = self.prepare('m1', key, cipher, os.path.join(self.tmp, 'x.sock'), check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(f'cipher {cipher} not supported by this host', p.stderr)
            p = self.start_out('m1', key, cipher, check=False)
            self.assertIn(f'cipher {cipher} not supported by this host', p.stderr)
        p = self.prepare('m1', key, 'rc4', os.path.join(self.tmp, 'x.sock'), check=False)
        self.assertIn("unknown cipher 'rc4'", p.stderr)
        self.assertEqual(self.call('ListMigrations')[0], [], 'nothing was prepared')

    def test_a_source_with_another_cipher_is_refused(self):
        key = os.urandom(32)
        target = TargetQemu(os.path.join(self.tmp, 't.sock'))
        self.prepare('m1', key, 'aes-128-gcm', target.path)
        path = self.start_out('m1', key, 'chacha20-poly1305')
        source_qemu(path, b'x' * 1000)
        self.wait_for(lambda: self.log_lines("refused: cipher chacha20-poly1305, but migration 'm1' was prepared "
                                             "for aes-128-gcm"), what='the refusal')
        self.assertEqual(self.migration('incoming', 'm1')[0], 'waiting', 'no byte reached the target')
        self.assertEqual(target.received, {})
        target.sock.close()


class Migrate(MigrBus):

    def test_each_cipher_end_to_end(self):
        for cipher in TLS_CIPHERS + ['none']:
            with self.subTest(cipher=cipher):
                self.migrate('m-' + cipher, cipher)
                self.assertTrue(self.log_lines(f"migration 'm-{cipher}' \\(incoming\\): channel from .*, {cipher}$"))

    def test_several_channels(self):
        self.migrate('multifd', 'aes-128-gcm', channels=4, size=1 << 20)

    def test_only_the_named_process_gets_the_stream(self):
        """PeerPid: the target QEMU's pid. The stand-in listens in this process: named,
        it gets the stream; another pid named (the daemon's own), it gets nothing."""
        key = os.urandom(32)
        target = TargetQemu(os.path.join(self.tmp, 'pid-ok.sock'))
        self.prepare('pid-ok', key, 'aes-128-gcm', target.path, peer_pid=os.getpid())
        path = self.start_out('pid-ok', key, 'aes-128-gcm')
        source_qemu(path, b'x' * 4096)
        target.wait()
        self.assertEqual(list(target.received.values())[0][0], 4096)
        self.assertEqual(self.wait_state('incoming', 'pid-ok', ['done', 'failed'])[0], 'done')

        impostor = TargetQemu(os.path.join(self.tmp, 'pid-bad.sock'))
        self.prepare('pid-bad', key, 'aes-128-gcm', impostor.path, peer_pid=self.daemon.pid)
        path = self.start_out('pid-bad', key, 'aes-128-gcm')
        try:
            source_qemu(path, b'secret' * 1000)
        except OSError:  # the channel is closed under it
            pass
        refusal = f"is pid {os.getpid()}, not the zone's QEMU \\(pid {self.daemon.pid}\\)"
        self.wait_for(lambda: self.log_lines(refusal), what='the refusal')
        impostor.wait(2)
        self.assertEqual([n for n, _ in impostor.received.values() if n], [], 'the impostor read nothing')

    def test_only_root_hands_over_keys(self):
        key = os.urandom(32)
        for call in (lambda: self.prepare('m1', key, 'none', os.path.join(self.tmp, 'x.sock'), check=False,
                                          user=65534),
                     lambda: self.start_out('m1', key, 'none', check=False, user=65534)):
            p = call()
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('Access denied', p.stderr)
        self.assertEqual(self.call('ListMigrations')[0], [])
        # reading is for everyone
        self.assertEqual(self.busctl('call', SERVICE, *MANAGER, 'ListCiphers', user=65534).returncode, 0)

    def test_bad_arguments(self):
        key = os.urandom(32)
        path = os.path.join(self.tmp, 'x.sock')
        for mid, k, p, t, msg in (('../x', key, path, 1000000, 'not a valid migration id'),
                                  ('m1', key[:16], path, 1000000, 'a migration key has 32 bytes, not 16'),
                                  ('m1', key, 'relative.sock', 1000000, 'absolute path'),
                                  ('m1', key, path, 0, 'a timeout of 0')):
            out = self.prepare(mid, k, 'none', p, timeout_usec=t, check=False)
            self.assertIn(msg, out.stderr)
        self.prepare('m1', key, 'none', path)
        out = self.prepare('m1', key, 'none', path, check=False)
        self.assertIn("migration 'm1' is prepared already", out.stderr)
        self.call('CancelIncoming', 'm1')
        self.assertEqual(self.migration('incoming', 'm1')[0], 'cancelled')
        out = self.call('CancelIncoming', 'm2', check=False)
        self.assertIn("no incoming migration 'm2'", out.stderr)

    def test_expiry(self):
        key = os.urandom(32)
        self.prepare('late', key, 'aes-128-gcm', os.path.join(self.tmp, 'x.sock'), timeout_usec=500_000)
        st = self.wait_state('incoming', 'late', ['expired'], timeout=5)
        self.assertIn('no channel came within', st[6])
        self.assertTrue(self.log_lines("migration 'late' \\(incoming\\): expired"))
        # the expired preparation's key is gone: a source that comes now is refused
        path = self.start_out('late', key, 'aes-128-gcm')
        source_qemu(path, b'x')
        self.wait_for(lambda: self.log_lines("refused: no migration 'late' is prepared here"), what='the refusal')
        self.wait_state('outgoing', 'late', ['failed'])


class Hostile(MigrBus):
    """Each hostile peer is refused with one log line naming why, while a real
    migration beside it completes."""

    def connect(self):
        return socket.create_connection(('127.0.0.1', self.port), timeout=30)

    def beside_a_migration(self, attack, pattern, count=1, most=None):
        done = threading.Event()
        errors = []

        def legit():
            try:
                self.migrate('legit', 'aes-128-gcm', channels=2, size=8 << 20)
            except BaseException as e:  # noqa: B902 - reported below
                errors.append(e)
            done.set()
        t = threading.Thread(target=legit)
        t.start()
        attack()
        t.join(120)
        if errors:
            self.fail(f'the migration beside failed: {errors[0]!r}\n{self.daemon_log()}')
        self.wait_for(lambda: len(self.log_lines(pattern)) >= count, timeout=20,
                      what=f'{count} log line(s) {pattern!r}\n{self.daemon_log()}')
        self.assertGreaterEqual(len(self.log_lines(pattern)), count, self.daemon_log())
        self.assertLessEqual(len(self.log_lines(pattern)), most or count, self.daemon_log())

    def gnutls_cli(self, identity, key):
        return subprocess.run(['gnutls-cli', '--logfile=/dev/null', '--priority=' + PSK_PRIORITY,
                               '--pskusername=' + identity, '--pskkey=' + key.hex(), '-p', str(self.port),
                               '127.0.0.1'], input=b'stolen?', capture_output=True, timeout=30)

    def test_no_key(self):
        """A TLS client without a pre-shared key (a certificate handshake)."""
        def attack():
            p = subprocess.run(['gnutls-cli', '--logfile=/dev/null', '--insecure', '-p', str(self.port), '127.0.0.1'],
                               input=b'x', capture_output=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
        self.beside_a_migration(attack, r'refused: not a migration hello \(TLS handshake failed')

    def test_wrong_key(self):
        key = os.urandom(32)
        self.prepare('victim', key, 'aes-128-gcm', os.path.join(self.tmp, 'victim.sock'))
        def attack():
            self.assertNotEqual(self.gnutls_cli('victim', os.urandom(32)).returncode, 0)
        self.beside_a_migration(attack, r"refused: wrong key for migration 'victim'")
        self.assertEqual(self.migration('incoming', 'victim')[0], 'waiting', 'the victim still waits, untouched')

    def test_stale_key(self):
        """The key of a migration that ended is worth nothing."""
        key = os.urandom(32)
        self.prepare('old', key, 'aes-128-gcm', os.path.join(self.tmp, 'old.sock'))
        self.call('CancelIncoming', 'old')
        def attack():
            self.assertNotEqual(self.gnutls_cli('old', key).returncode, 0)
        self.beside_a_migration(attack, r"refused: no migration 'old' is prepared here")

    def test_replayed_proof(self):
        """-c none: a proof recorded from a real connection does not open another."""
        key = os.urandom(32)
        target = TargetQemu(os.path.join(self.tmp, 'plain.sock'), channels=1)
        self.prepare('plain', key, 'none', target.path)
        mid = b'plain'
        nc = os.urandom(32)
        hello = b'KZMIGRP1' + bytes([len(mid)]) + mid + nc
        s = self.connect()
        s.sendall(hello)
        ns = recv_exact(s, 32)
        proof = hmac.new(key, b'kz-migr none client' + bytes([len(mid)]) + mid + nc + ns, 'sha256').digest()
        s.sendall(proof)
        server_proof = recv_exact(s, 32)
        self.assertEqual(server_proof,
                         hmac.new(key, b'kz-migr none server' + bytes([len(mid)]) + mid + nc + ns, 'sha256').digest(),
                         'the target proved the key too')

        def attack():
            r = self.connect()
            r.sendall(hello)
            recv_exact(r, 32)  # a fresh nonce: the recorded proof is for another
            r.sendall(proof + b'replayed data')
            self.assertEqual(recv_all(r), b'', 'closed without a byte')
            r.close()
        # replayed while the real channel still runs (a migration that ended refuses any)
        self.beside_a_migration(attack, r"refused: wrong key for migration 'plain' \(a wrong key \(or a replayed proof\)")
        s.sendall(b'memory')
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(recv_all(s).startswith(b'target got'))
        s.close()
        target.wait()
        self.assertEqual(target.received[0][0], 6, 'the real channel was not disturbed')
        self.assertEqual(self.wait_state('incoming', 'plain', ['done'])[3], 1, 'one channel only')

    def test_replayed_tls_handshake(self):
        """The bytes a real source sent to open its channel, recorded on the wire and
        sent again while that channel runs, do not open another: the target's
        random and key share are new, the recorded Finished does not match."""
        key = os.urandom(32)
        target = TargetQemu(os.path.join(self.tmp, 'tls.sock'))
        self.prepare('tlsreplay', key, 'aes-128-gcm', target.path)
        wire = socket.create_server(('127.0.0.1', 0))
        recorded = bytearray()

        def tap():
            """a man in the middle that records what the source sends"""
            a, _ = wire.accept()
            b = socket.create_connection(('127.0.0.1', self.port))

            def back():
                while d := b.recv(65536):
                    a.sendall(d)
                a.shutdown(socket.SHUT_WR)
            t = threading.Thread(target=back)
            t.start()
            while d := a.recv(65536):
                recorded.extend(d)
                b.sendall(d)
            b.shutdown(socket.SHUT_WR)
            t.join()
            a.close()
            b.close()
        tapper = threading.Thread(target=tap)
        tapper.start()
        path = self.start_out('tlsreplay', key, 'aes-128-gcm', port=wire.getsockname()[1])
        src = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        src.connect(path)
        src.sendall(b'first pages')
        self.wait_state('incoming', 'tlsreplay', ['running'])

        def attack():
            r = self.connect()
            r.sendall(bytes(recorded))
            recv_all(r)
            r.close()
        self.beside_a_migration(attack, r"refused: wrong key for migration 'tlsreplay' \(TLS handshake failed")
        src.shutdown(socket.SHUT_WR)
        self.assertTrue(recv_all(src).startswith(b'target got'))
        src.close()
        target.wait()
        tapper.join(30)
        wire.close()
        self.assertEqual(list(target.received.values()),
                         [(11, hashlib.sha256(b'first pages').hexdigest())], 'the real channel only')
        self.assertEqual(self.wait_state('incoming', 'tlsreplay', ['done'])[3], 1)

    def test_garbage(self):
        def attack():
            s = self.connect()
            s.sendall(b'GET / HTTP/1.0\r\n\r\n')
            self.assertEqual(recv_all(s), b'')
            s.close()
            s = self.connect()
            s.sendall(b'\x16\x03\x03\x00\x04abcd' + os.urandom(100))
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_all(s), b'')
            s.close()
        self.beside_a_migration(attack, r'refused: not a migration hello \(its first byte is 0x47\)')
        self.assertEqual(len(self.log_lines(r'refused: not a migration hello \(TLS handshake failed')), 1)

    def test_silent_client(self):
        """One that connects and never finishes its hello is closed at the handshake timeout."""
        def attack():
            s = self.connect()
            s.sendall(b'\x16\x03\x01')  # the start of a record, never its end
            start = time.monotonic()
            self.assertEqual(recv_all(s), b'')
            took = time.monotonic() - start
            self.assertGreater(took, 8)
            self.assertLess(took, 15)
            s.close()
        self.beside_a_migration(attack, r'refused: no complete hello within 10 s')

    def test_flood(self):
        """200 connections that say nothing: at most 64 wait at once, the oldest make
        room, the daemon's memory stays bounded, a migration still gets through."""
        flood = []

        def attack():
            for _ in range(200):
                flood.append(self.connect())
        # each connection beyond 64 makes the oldest close to make room; while 128
        # are still closing, the newcomer is refused too (how many depends on how fast
        # the closing threads run): at least 136 refusals, each of a flood connection
        # and at most once (the legit migration beside gets through)
        self.beside_a_migration(attack, r'refused: (closed to make room, 64 unauthenticated connections at once|'
                                        r'\d+ unauthenticated connections are closing already)',
                                count=200 - 64, most=200)
        with open(f'/proc/{self.daemon.pid}/status') as f:
            rss = int(re.search(r'VmRSS:\s+(\d+) kB', f.read()).group(1))
        # about 16 MiB of handshake buffers at most, and the sanitizers' shadow and
        # quarantine in the ASan build
        with open(os.path.join(BUILD, self.daemon_path), 'rb') as f:
            sanitized = b'AddressSanitizer' in f.read()
        self.assertLess(rss, (256 if sanitized else 64) * 1024, f'{rss} kB')
        for s in flood:
            s.close()


def recv_exact(s, n):
    b = b''
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            raise EOFError(f'{len(b)} of {n} bytes')
        b += k
    return b


def recv_all(s):
    b = b''
    while True:
        try:
            k = s.recv(65536)
        except ConnectionResetError:
            return b
        if not k:
            return b
        b += k


if __name__ == '__main__':
    import unittest
    unittest.main()
