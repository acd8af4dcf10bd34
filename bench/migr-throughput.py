#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One migration channel through kz-migr on loopback, side by side with its anchors.

A source stand-in writes SIZE bytes into the socket StartOutgoing gave it; kz-migr
relays them over TCP to its own port (8102's stand-in), where PrepareIncoming made
it wait, and on into a target stand-in's unix socket. Both relays run in the one
kz-migr (one thread per channel on each side), on the same machine as the
stand-ins, so the figure is what one channel costs with both ends on one host.

Anchors: the same stand-ins over a plain loopback TCP connection (the raw socket),
and GnuTLS's single-core AEAD speed on 16 KiB records (gnutls-cli
--benchmark-ciphers)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get('KZONES_BUILD_DIR', os.path.join(os.path.dirname(__file__), '..', 'build'))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
from kzbus import MIGRATION_BUS_NAME, MIGRATION_MANAGER_IFACE, MIGRATION_PATH  # noqa: E402
SIZE = int(os.environ.get('KZ_BENCH_BYTES', str(1 << 30)))
CHUNK = os.urandom(4 << 20)
MANAGER = [MIGRATION_PATH, MIGRATION_MANAGER_IFACE]
BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={path}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
'''


def send(sock):
    left = SIZE
    while left > 0:
        n = min(left, len(CHUNK))
        sock.sendall(CHUNK[:n] if n < len(CHUNK) else CHUNK)
        left -= n
    sock.shutdown(socket.SHUT_WR)


def drain(sock, out):
    buf = bytearray(4 << 20)
    n = 0
    while True:
        k = sock.recv_into(buf)
        if not k:
            break
        n += k
    out.append(n)


def timed(connect_source, server):
    got = []

    def target():
        c, _ = server.accept()
        drain(c, got)
        c.close()
    t = threading.Thread(target=target)
    t.start()
    src = connect_source()
    start = time.monotonic()
    send(src)
    t.join()
    took = time.monotonic() - start
    src.close()
    if got != [SIZE]:
        raise SystemExit(f'the target got {got} bytes of {SIZE}')
    return SIZE / took / 1e6


def raw():
    server = socket.create_server(('127.0.0.1', 0))
    port = server.getsockname()[1]
    mbs = timed(lambda: socket.create_connection(('127.0.0.1', port)), server)
    server.close()
    return mbs


def gnutls_anchor():
    """GB/s of each AEAD on one core, from the first section of gnutls-cli's benchmark."""
    p = subprocess.Popen(['gnutls-cli', '--benchmark-ciphers'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    out = {}
    for line in p.stdout:
        if line.startswith('Checking cipher-MAC'):
            break
        f = line.split()
        if len(f) == 3 and f[2] in ('GB/sec', 'MB/sec'):
            out[f[0].lower()] = float(f[1]) * (1000 if f[2] == 'GB/sec' else 1)
    p.kill()
    p.wait()
    return out


class KzMigr:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='kz-migr-bench-')
        conf = os.path.join(self.tmp, 'bus.conf')
        sock = os.path.join(self.tmp, 'bus')
        with open(conf, 'w') as f:
            f.write(BUS_CONFIG.format(path=sock))
        self.bus = subprocess.Popen(['dbus-daemon', '--config-file=' + conf, '--nofork', '--print-address'],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.bus.stdout.readline()
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=' + sock)
        self.listener = socket.create_server(('127.0.0.1', 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        fd = self.listener.fileno()
        env = dict(self.env, LISTEN_FDS='1', RUNTIME_DIRECTORY=self.tmp)
        self.log = open(os.path.join(self.tmp, 'log'), 'w')
        self.daemon = subprocess.Popen(
            [sys.executable, '-c', 'import os, sys\nos.environ["LISTEN_PID"] = str(os.getpid())\n'
             'os.execv(sys.argv[1], sys.argv[1:])\n', os.path.join(BUILD, 'services/migration/kz-migr')],
            env=env, pass_fds=(3,) if fd != 3 else (), preexec_fn=lambda: os.dup2(fd, 3), stderr=self.log)
        for _ in range(500):
            if self.busctl('status', MIGRATION_BUS_NAME).returncode == 0:
                break
            time.sleep(0.02)

    def busctl(self, *args):
        return subprocess.run(['busctl', '--system'] + list(args), env=self.env, capture_output=True, text=True)

    def call(self, method, sig, *args):
        p = self.busctl('call', MIGRATION_BUS_NAME, *MANAGER, method, sig, *[str(a) for a in args])
        if p.returncode != 0:
            raise SystemExit(f'{method}: {p.stderr}')
        return p.stdout

    def channel(self, cipher, n):
        key = list(os.urandom(32))
        mid = f'bench-{n}'
        target = os.path.join(self.tmp, f'{mid}-target.sock')
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(target)
        server.listen(1)
        self.call('PrepareIncoming', 'sayssta{sv}', mid, 32, *key, cipher, target, 60_000_000, 0)
        out = self.call('StartOutgoing', 'sayssqta{sv}', mid, 32, *key, cipher, '127.0.0.1', self.port, 60_000_000, 0)
        path = out.split('"')[1]

        def connect():
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            return c
        cpu = self.cpu_seconds()
        try:
            mbs = timed(connect, server)
        except OSError as e:
            with open(os.path.join(self.tmp, 'log')) as f:
                raise SystemExit(f'{cipher}: {e}\n{f.read()}')
        server.close()
        # both relays are this one process: per side, each byte costs half of it
        per_side = SIZE / ((self.cpu_seconds() - cpu) / 2) / 1e6
        return mbs, per_side

    def cpu_seconds(self):
        with open(f'/proc/{self.daemon.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def close(self):
        for p in (self.daemon, self.bus):
            p.send_signal(signal.SIGTERM)
            p.wait()
        self.log.close()
        self.listener.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    anchor = gnutls_anchor()
    base = raw()
    print(f'{SIZE >> 20} MiB through one channel, both ends and both relays on this host')
    print(f'{"":44s} {"MB/s":>8s}')
    print('(the relay\'s own cost: MB it moves per second of CPU on one side, encrypting or decrypting)')
    print(f'{"anchor: the raw loopback TCP socket":44s} {base:8.0f}')
    k = KzMigr()
    try:
        for i, (cipher, gnutls) in enumerate((('aes-128-gcm', 'aes-128-gcm'), ('aes-128-ccm', 'aes-128-ccm'),
                                              ('chacha20-poly1305', 'chacha20-poly1305'), ('none', None))):
            mbs, per_side = k.channel(cipher, i)
            line = f'{"kz-migr, " + cipher:44s} {mbs:8.0f}  ({100 * mbs / base:.0f}% of the raw socket'
            if gnutls in anchor:
                line += f', {100 * mbs / anchor[gnutls]:.0f}% of GnuTLS {cipher} on one core: {anchor[gnutls]:.0f}'
            print(line + ')')
            line = f'{"  per relay side, per CPU second":44s} {per_side:8.0f}'
            if gnutls in anchor:
                line += f'  ({100 * per_side / anchor[gnutls]:.0f}% of GnuTLS on one core)'
            print(line)
    finally:
        k.close()


if __name__ == '__main__':
    main()
