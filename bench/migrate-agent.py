# SPDX-License-Identifier: LGPL-2.1-or-later
"""The part of bench/migrate that runs inside a lab host (`lab exec HOST python3 -c`
with this file's text): small verbs, each printing what it measured.

  tail FILE STOPFILE          a line "TIME N DIRTIED" for each heartbeat the guest prints
                              from now on (TIME: CLOCK_REALTIME, the lab hosts share it)
  watch SOCK TIMEOUT [STOP]   query-migrate on a zone's monitor every 20 ms until the
                              migration ends: its last answer, as JSON
  migrate SOCK URI PARAMS     a plain QEMU's migration: parameters (JSON), migrate URI,
                              then as watch
  incoming SOCK URI PARAMS    a plain QEMU started with -incoming defer: parameters, listen
  fill PID ELF SKIP_MIB       random data into the guest RAM of QEMU PID, from SKIP_MIB on
                              (the RAM block found by the kernel image at 1 MiB)
  busmigrate NAMES ZONE DEST CIPHER CHANNELS   Zone.Migrate with that many channels, until its job ends
  sink PORT / source HOST PORT MIB   one TCP stream: the receiver prints MB/s
"""

import json
import os
import re
import socket
import struct
import sys
import time

HB = re.compile(rb'kzguest: hb boot=[0-9a-f]{16} n=(\d+) sum=[0-9a-f]{8} dirtied=(\d+)')


def tail(path, stopfile):
    f, ino, pos, buf = None, None, 0, b''
    first = os.path.exists(path)     # what it holds now is history
    deadline = time.monotonic() + 900
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st and (f is None or st.st_ino != ino or st.st_size < pos):
            if f:
                f.close()
            f = open(path, 'rb')
            # the file as it was when we started is history; a new file (the zone
            # started here, a rotation) is read from its start
            pos = st.st_size if first else 0
            first = False
            ino = st.st_ino
            f.seek(pos)
        if f:
            data = f.read()
            if data:
                now = time.time()
                pos += len(data)
                buf += data
                *lines, buf = buf.split(b'\n')
                for line in lines:
                    m = HB.search(line)
                    if m:
                        print(f'{now:.4f} {m.group(1).decode()} {m.group(2).decode()}', flush=True)
        time.sleep(0.005)


class Qmp:
    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile('rb')
        self.read()
        self.call('qmp_capabilities')

    def read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise SystemExit('QMP: the monitor closed')
            msg = json.loads(line)
            if 'event' not in msg:
                return msg

    def call(self, command, args=None):
        msg = {'execute': command}
        if args:
            msg['arguments'] = args
        self.s.sendall(json.dumps(msg).encode() + b'\n')
        r = self.read()
        if 'error' in r:
            raise SystemExit(f'QMP {command}: {r["error"].get("desc")}')
        return r.get('return')


def watch(q, timeout, stopfile=None):
    deadline = time.monotonic() + timeout
    seen = False
    while time.monotonic() < deadline and not (stopfile and os.path.exists(stopfile)):
        st = q.call('query-migrate')
        s = st.get('status')
        if s in ('active', 'setup', 'device', 'pre-switchover'):
            seen = True
        # a QEMU that came in by migration says "completed" (of that one) until this one starts
        if (s == 'completed' and 'total-time' in st) or (seen and s in ('failed', 'cancelled', None)):
            print(json.dumps(st), flush=True)
            return
        time.sleep(0.02)
    print(json.dumps({'status': 'timeout'}), flush=True)


def fill(pid, elf, skip_mib):
    # the kernel image's first loaded segment, which the multiboot loader put at its paddr
    with open(elf, 'rb') as e:
        img = e.read()
    phoff, = struct.unpack_from('<I', img, 28)
    phentsize, phnum = struct.unpack_from('<HH', img, 42)
    sig = None
    for i in range(phnum):
        p_type, p_offset, _, p_paddr, p_filesz = struct.unpack_from('<IIIII', img, phoff + i * phentsize)
        if p_type == 1 and p_filesz >= 256:
            sig = (p_paddr, img[p_offset:p_offset + 256])
            break
    if not sig:
        raise SystemExit('fill: no loaded segment in the kernel image')
    regions = []
    with open(f'/proc/{pid}/maps') as m:
        for line in m:
            f = line.split()
            start, end = (int(x, 16) for x in f[0].split('-'))
            if f[1].startswith('rw') and len(f) == 5 and end - start >= 256 << 20:
                regions.append((start, end))
    fd = os.open(f'/proc/{pid}/mem', os.O_RDWR)
    try:
        for start, end in regions:
            try:
                if os.pread(fd, 256, start + sig[0]) == sig[1]:
                    break
            except OSError:
                pass
        else:
            raise SystemExit(f'fill: no RAM block of QEMU {pid} holds the kernel at {sig[0]:#x}')
        chunk = 16 << 20
        done = 0
        for off in range(start + (skip_mib << 20), end, chunk):
            n = min(chunk, end - off)
            os.pwrite(fd, os.urandom(n), off)
            done += n
        print(done, flush=True)
    finally:
        os.close(fd)


def busctl(*args):
    import subprocess
    r = subprocess.run(['busctl', '--system'] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f'busctl {" ".join(args)}: {r.stderr.strip()}')
    return r.stdout.split(' ', 1)[1].strip().strip('"')


def bus_migrate(names, zone, dest, cipher, channels):
    """The restarter's Zone.Migrate with a channel count (zoneadm does not choose one),
    followed until its job ends: its state and message. NAMES: the restarter's bus name,
    path and manager, zone and job interfaces (JSON, from tests/kzbus.py)."""
    bus, path, manager, zone_iface, job_iface = json.loads(names)
    zpath = busctl('call', bus, path, manager, 'GetZone', 's', zone)
    job = busctl('call', bus, zpath, zone_iface, 'Migrate', 'sa{sv}', dest, '2',
                 'Cipher', 's', cipher, 'Channels', 'u', channels)
    while True:
        state = busctl('get-property', bus, job, job_iface, 'State')
        if state not in ('running', 'queued', 'waiting'):
            break
        time.sleep(0.1)
    print(state, busctl('get-property', bus, job, job_iface, 'Message'), flush=True)
    if state != 'done':
        raise SystemExit(1)


def sink(port):
    srv = socket.create_server(('0.0.0.0', port))
    print('ready', flush=True)
    c, _ = srv.accept()
    buf = bytearray(4 << 20)
    n, t0 = 0, None
    while True:
        k = c.recv_into(buf)
        if t0 is None:
            t0 = time.monotonic()
        if not k:
            break
        n += k
    print(f'{n / (time.monotonic() - t0) / 1e6:.0f}', flush=True)


def source(host, port, mib):
    c = socket.create_connection((host, port))
    chunk = os.urandom(4 << 20)
    for _ in range(mib // 4):
        c.sendall(chunk)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)


def set_caps(q, params):
    """PARAMS without its "capabilities" (a list of names), which are turned on."""
    caps = params.pop('capabilities', [])
    if caps:
        q.call('migrate-set-capabilities', {'capabilities': [{'capability': c, 'state': True} for c in caps]})
    return params


def main(argv):
    verb = argv[0]
    if verb == 'tail':
        tail(argv[1], argv[2])
    elif verb == 'watch':
        watch(Qmp(argv[1]), float(argv[2]), argv[3] if len(argv) > 3 else None)
    elif verb == 'migrate':
        q = Qmp(argv[1])
        params = set_caps(q, json.loads(argv[3]))
        if params:
            q.call('migrate-set-parameters', params)
        q.call('migrate', {'uri': argv[2]})
        watch(q, 600)
    elif verb == 'incoming':
        q = Qmp(argv[1])
        params = set_caps(q, json.loads(argv[3]))
        if params:
            q.call('migrate-set-parameters', params)
        q.call('migrate-incoming', {'uri': argv[2]})
        print('listening', flush=True)
    elif verb == 'fill':
        fill(int(argv[1]), argv[2], int(argv[3]))
    elif verb == 'busmigrate':
        bus_migrate(argv[1], argv[2], argv[3], argv[4], argv[5])
    elif verb == 'sink':
        sink(int(argv[1]))
    elif verb == 'source':
        source(argv[1], int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(f'unknown verb {verb}')


main(sys.argv[1:])
