#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""zlogin -C against a fake console relay: the banners, output and input relayed,
the escapes, the end of a session from either side, the messages for a zone that is
not running or not configured, usage errors, and on a pseudo-terminal the raw mode
and the terminal settings given back afterwards."""

import os
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
import unittest

from kztest import Session, ZoneTest, binary

CONNECTED = b"[Connected to zone 'kz1' console]\n"
CLOSED = b"[Connection to zone 'kz1' console closed]\n"
TIMEOUT = 10.0


class FakeRelay:
    """services/zone/console-relay.c in a thread: what the guest prints goes to every
    client, what a client writes goes to the guest. The guest here records what it gets
    and echoes it, as a guest's terminal would. A client that shuts down its side is
    dropped, as the relay drops it; halt() is QEMU ending, which closes every client."""

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.path = path
        self.clients = []
        self.pids = []  # of every client that connected, from SO_PEERCRED
        self.received = b''
        self.cond = threading.Condition()
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _broadcast(self, data):
        for c in self.clients:
            try:
                c.sendall(data)
            except OSError:
                pass

    def _run(self):
        while True:
            with self.cond:
                watched = [self.listener] + self.clients
            ready, _, _ = select.select(watched + [self.stop_r], [], [])
            if self.stop_r in ready:
                break
            with self.cond:
                for s in ready:
                    if s is self.listener:
                        c, _ = self.listener.accept()
                        cred = c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize('3i'))
                        self.pids.append(struct.unpack('3i', cred)[0])
                        self.clients.append(c)
                        continue
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b''
                    if not data:
                        self.clients.remove(s)
                        s.close()
                    else:
                        self.received += data
                        self._broadcast(data)
                    self.cond.notify_all()
                self.cond.notify_all()
        with self.cond:
            for c in self.clients:
                c.close()
            self.clients = []
            self.listener.close()
            os.unlink(self.path)
            self.cond.notify_all()

    def guest_prints(self, data):
        with self.cond:
            self._broadcast(data)

    def wait(self, predicate, what):
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self), TIMEOUT):
                raise TimeoutError(f'relay: {what}; received {self.received!r}, {len(self.clients)} clients')

    def wait_clients(self, n):
        self.wait(lambda r: len(r.clients) == n, f'waiting for {n} clients')

    def wait_received(self, data):
        self.wait(lambda r: r.received == data, f'waiting to receive {data!r}')

    def halt(self):
        if self.stop_w is None:
            return
        os.write(self.stop_w, b'x')
        self.thread.join(TIMEOUT)
        os.close(self.stop_r)
        os.close(self.stop_w)
        self.stop_w = None


class Zlogin:
    """zlogin with pipes for standard input and output, as a script would run it."""

    def __init__(self, test, *args):
        self.p = subprocess.Popen([test.zlogin_bin] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=test.env)
        test.addCleanup(self.kill)
        self.out = b''

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                f.close()
            except OSError:
                pass

    def read_until(self, expected):
        deadline = time.monotonic() + TIMEOUT
        while expected not in self.out:
            ready, _, _ = select.select([self.p.stdout], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f'zlogin printed {self.out!r}, not {expected!r}')
            data = os.read(self.p.stdout.fileno(), 4096)
            if not data:
                raise EOFError(f'zlogin ended after {self.out!r}, without {expected!r}')
            self.out += data
        return self.out

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def finish(self):
        """Waits for the end; returns the exit status and standard error."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            ready, _, _ = select.select([self.p.stdout], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f'zlogin did not end; printed {self.out!r}')
            data = os.read(self.p.stdout.fileno(), 4096)
            if not data:
                break
            self.out += data
        rc = self.p.wait(TIMEOUT)
        return rc, self.p.stderr.read().decode()


class ZloginTest(ZoneTest):

    def setUp(self):
        super().setUp()
        self.zlogin_bin = binary('zlogin')
        self.env = dict(os.environ, KZONES_ROOT=self.root)
        os.makedirs(os.path.join(self.root, 'etc/zones'))
        with open(os.path.join(self.root, 'etc/zones/kz1.xml'), 'w') as f:
            f.write('<zone name="kz1" brand="kz"/>\n')
        self.socket_path = os.path.join(self.root, 'run/kzones/kz1/console.sock')

    def start_relay(self):
        relay = FakeRelay(self.socket_path)
        self.addCleanup(relay.halt)
        return relay

    def zlogin(self, *args, input=None):
        return subprocess.run([self.zlogin_bin] + list(args), input=input, capture_output=True, text=True,
                              env=self.env, timeout=30)


class Console(ZloginTest):

    def setUp(self):
        super().setUp()
        self.relay = self.start_relay()

    def connect(self, *options):
        z = Zlogin(self, '-C', *options, 'kz1')
        self.assertEqual(z.read_until(CONNECTED), CONNECTED)
        self.relay.wait_clients(1)
        return z

    def assertClosed(self, z):
        rc, err = z.finish()
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, '')
        self.assertTrue(z.out.endswith(b'\n' + CLOSED), z.out)
        self.relay.wait_clients(0)

    def test_guest_output_is_shown(self):
        z = self.connect()
        self.relay.guest_prints(b'Hostname: kz1\r\n\r\nkz1 console login: ')
        self.assertEqual(z.read_until(b'login: '), CONNECTED + b'Hostname: kz1\r\n\r\nkz1 console login: ')

    def test_input_reaches_the_guest(self):
        z = self.connect()
        z.send(b'root\n')
        self.relay.wait_received(b'root\n')
        z.read_until(CONNECTED + b'root\n')  # the guest's echo

    def test_escape_at_line_start_disconnects(self):
        z = self.connect()
        z.send(b'~.')
        self.assertClosed(z)
        self.assertEqual(z.out, CONNECTED + CLOSED)
        self.assertEqual(self.relay.received, b'')

    def test_escape_after_a_line_disconnects(self):
        z = self.connect()
        z.send(b'uptime\n')
        self.relay.wait_received(b'uptime\n')
        # the escape held back across two reads
        z.send(b'~')
        time.sleep(0.2)
        z.send(b'.never sent\n')
        self.assertClosed(z)
        self.assertEqual(self.relay.received, b'uptime\n')

    def test_escape_after_carriage_return_disconnects(self):
        z = self.connect()
        z.send(b'date\r~.')
        self.assertClosed(z)
        self.assertEqual(self.relay.received, b'date\r')

    def test_escape_in_mid_line_is_sent(self):
        z = self.connect()
        z.send(b'echo a~.b\n')
        self.relay.wait_received(b'echo a~.b\n')
        self.assertIsNone(z.p.poll(), 'a ~. in mid-line ended the session')
        z.send(b'~.')
        self.assertClosed(z)

    def test_double_escape_sends_one(self):
        z = self.connect()
        z.send(b'~~x\n~y\n')
        self.relay.wait_received(b'~x\n~y\n')
        z.send(b'~.')
        self.assertClosed(z)
        self.assertEqual(self.relay.received, b'~x\n~y\n')

    def test_other_escape_character(self):
        z = self.connect('-e', '#')
        z.send(b'~.\n##\n')
        self.relay.wait_received(b'~.\n#\n')
        self.assertIsNone(z.p.poll(), '~. ended the session despite -e #')
        z.send(b'#.')
        self.assertClosed(z)
        self.assertEqual(self.relay.received, b'~.\n#\n')

    def test_zone_stops(self):
        z = self.connect('-d')
        self.relay.guest_prints(b'reboot: Power down')
        z.read_until(b'Power down')
        self.relay.halt()
        rc, err = z.finish()
        self.assertEqual((rc, err), (0, ''))
        # the guest left its line open: the banner starts a new one
        self.assertEqual(z.out, CONNECTED + b'reboot: Power down\n' + CLOSED)

    def test_end_of_input(self):
        z = self.connect()
        z.send(b'poweroff\n')
        self.relay.wait_received(b'poweroff\n')
        z.p.stdin.close()
        self.assertClosed(z)

    def test_several_watchers(self):
        a = self.connect()
        b = Zlogin(self, '-C', 'kz1')
        b.read_until(CONNECTED)
        self.relay.wait_clients(2)
        self.relay.guest_prints(b'kz1 console login: ')
        a.read_until(b'login: ')
        b.read_until(b'login: ')
        b.send(b'~.')
        rc, _ = b.finish()
        self.assertEqual(rc, 0)
        self.relay.wait_clients(1)
        self.assertIsNone(a.p.poll(), 'one client leaving ended the other session')
        a.send(b'~.')
        self.assertClosed(a)


class NotConnected(ZloginTest):

    def assertOneMessage(self, p, message, status=1):
        self.assertEqual(p.returncode, status, p.stderr)
        self.assertEqual(p.stderr, message + '\n')
        self.assertEqual(p.stdout, '')

    def test_not_running(self):
        self.assertOneMessage(self.zlogin('-C', 'kz1', input=''), "zlogin: zone 'kz1': not running")

    def test_stale_socket(self):
        # a relay that died: the socket is there, nobody listens
        os.makedirs(os.path.dirname(self.socket_path))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.socket_path)
        s.close()
        self.assertOneMessage(self.zlogin('-C', 'kz1', input=''), "zlogin: zone 'kz1': not running")

    def test_not_configured(self):
        self.assertOneMessage(self.zlogin('-C', 'kz2', input=''), "zlogin: zone 'kz2': No such zone configured")
        self.assertOneMessage(self.zlogin('-C', '../kz1', input=''),
                              "zlogin: zone '../kz1': No such zone configured")

    def test_login_needs_an_agent(self):
        message = ("zlogin: zone 'kz1': logging in to a kernel zone needs an agent in the guest, which kzones does "
                   "not have yet; use 'zlogin -C kz1' for the console")
        self.assertOneMessage(self.zlogin('kz1'), message)
        self.assertOneMessage(self.zlogin('kz1', 'uname', '-a'), message)
        self.assertOneMessage(self.zlogin('kz2', 'uname'), "zlogin: zone 'kz2': No such zone configured")

    def test_usage(self):
        for args in ([], ['-C'], ['-x', 'kz1'], ['-C', '-e'], ['-C', '-e', 'ab', 'kz1'], ['-C', '-e', '.', 'kz1'],
                     ['-C', 'kz1', 'uname'], ['-d', 'kz1']):
            with self.subTest(args=args):
                p = self.zlogin(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn('usage: zlogin -C', p.stderr)
                self.assertTrue(p.stderr.startswith('zlogin: '), p.stderr)
        p = self.zlogin('--help')
        self.assertEqual(p.returncode, 0)
        self.assertIn('~.', p.stdout)


class Terminal(ZloginTest):
    """zlogin on a pseudo-terminal, in a shell that prints 'stty -g' before and after."""

    def setUp(self):
        super().setUp()
        self.relay = self.start_relay()
        script = f'echo "before=$(stty -g)"; "{self.zlogin_bin}" -C kz1; echo "rc=$?"; echo "after=$(stty -g)"'
        self.session = Session(['/bin/sh', '-c', script], env=self.env)
        self.addCleanup(self.end_session)
        self.session.read_until(lambda b: "[Connected to zone 'kz1' console]\n" in b)
        self.relay.wait_clients(1)

    def end_session(self):
        try:
            os.kill(self.session.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.session.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.session.fd)

    def assertRaw(self):
        lflag = termios.tcgetattr(self.session.fd)[3]
        self.assertFalse(lflag & (termios.ICANON | termios.ECHO | termios.ISIG), 'the terminal is not in raw mode')

    def finish(self):
        """The shell's report: zlogin's exit status, and whether the settings are as before."""
        self.session.read_until(lambda b: 'after=' in b and b.endswith('\n'))
        lines = dict(line.split('=', 1) for line in self.session.transcript.splitlines() if '=' in line)
        self.assertEqual(lines['after'], lines['before'], 'the terminal settings were not restored')
        return int(lines['rc'])

    def test_raw_mode_and_disconnect(self):
        self.assertRaw()
        # ^C and ^D are bytes for the guest, Enter is a carriage return
        os.write(self.session.fd, b'sleep 9\x03\x04\r')
        self.relay.wait_received(b'sleep 9\x03\x04\r')
        self.assertRaw()
        os.write(self.session.fd, b'~.')
        self.assertEqual(self.finish(), 0)
        self.assertIn("\n[Connection to zone 'kz1' console closed]\n", self.session.transcript)
        self.assertEqual(self.relay.received, b'sleep 9\x03\x04\r')

    def test_zone_stops(self):
        self.relay.guest_prints(b'[  OK  ] Reached target Power-Off.\r\n')
        self.session.read_until(lambda b: 'Power-Off' in b)
        self.relay.halt()
        self.assertEqual(self.finish(), 0)
        self.assertIn("Power-Off.\n[Connection to zone 'kz1' console closed]\n", self.session.transcript)

    def test_sigterm(self):
        self.assertRaw()
        os.kill(self.relay.pids[0], signal.SIGTERM)
        self.assertEqual(self.finish(), 128 + signal.SIGTERM)


if __name__ == '__main__':
    unittest.main()
