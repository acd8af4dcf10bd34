# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for the command-line tests: the built binaries, a scratch root, and an
interactive session on a pseudo-terminal that records a transcript like the ones in
the guide ("zonecfg:kz1> set physical=8G")."""

import codecs
import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import tempfile
import termios
import unittest

BUILD = os.environ.get('KZONES_BUILD_DIR', os.path.join(os.path.dirname(__file__), '..', '..', 'build'))


def binary(name):
    for sub in ('cli', 'services'):
        path = os.path.join(BUILD, sub, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(name)


class Session:
    """zonecfg on a pseudo-terminal, driven one line at a time. The terminal is wide
    (200 columns), so that a long line typed at zonecfg's prompt reads as one line."""

    def __init__(self, argv, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
                os.execve(argv[0], argv, env or os.environ)
            finally:
                os._exit(127)
        self.transcript = ''
        self.decoder = codecs.getincrementaldecoder('utf-8')('replace')

    def read_until(self, predicate, timeout=10.0):
        buf = ''
        while not predicate(buf):
            r, _, _ = select.select([self.fd], [], [], timeout)
            if not r:
                raise TimeoutError(f'no prompt; got {buf!r}')
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += self.decoder.decode(data).replace('\r\n', '\n')
        self.transcript += buf
        return buf

    def wait_prompt(self):
        return self.read_until(lambda b: b.endswith('> ') or b.endswith('? '))

    def send(self, line):
        os.write(self.fd, (line + '\n').encode())
        return self.wait_prompt()

    def type(self, keys):
        """Keys without a newline (a Tab, an arrow): what the terminal shows afterwards,
        once it has been quiet for a moment."""
        os.write(self.fd, keys.encode())
        shown = ''
        while True:
            r, _, _ = select.select([self.fd], [], [], 0.5)
            data = os.read(self.fd, 4096) if r else b''
            if not data:
                self.transcript += shown
                return shown
            shown += self.decoder.decode(data).replace('\r\n', '\n')

    def close(self, line='exit'):
        os.write(self.fd, (line + '\n').encode())
        self.read_until(lambda b: False)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


class ZoneTest(unittest.TestCase):
    """A scratch alternate root for each test, removed afterwards."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix='kzones-test-')
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.zonecfg_bin = binary('zonecfg')

    def zonecfg(self, zone, *args, input=None, root=None, check=True):
        argv = [self.zonecfg_bin, '-R', root or self.root]
        if zone is not None:
            argv += ['-z', zone]
        p = subprocess.run(argv + list(args), input=input, capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            self.fail(f'zonecfg {" ".join(args)} failed ({p.returncode}): {p.stderr}')
        return p

    def interactive(self, zone, root=None):
        s = Session([self.zonecfg_bin, '-R', root or self.root, '-z', zone])
        s.wait_prompt()
        return s

    def stored(self, zone, root=None):
        path = os.path.join(root or self.root, 'etc', 'zones', zone + '.xml')
        with open(path, 'rb') as f:
            return f.read()

    def assertRefused(self, p, message):
        """One clear message and a non-zero exit."""
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn(message, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1 if 'On line' not in p.stderr else 2, p.stderr)
