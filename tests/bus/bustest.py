# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bus tier: the real daemons on a private dbus-daemon started for each test
class, in a scratch alternate root (KZONES_ROOT), with no systemd on that bus."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get('KZONES_BUILD_DIR', os.path.join(os.path.dirname(__file__), '..', '..', 'build'))
SOURCE = os.environ.get('KZONES_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))

BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
'''

MANAGER = ('/org/kzones/Restarter1', 'org.kzones.Restarter1.Manager')
ZONE_IFACE = 'org.kzones.Restarter1.Zone'


def zone_path(name):
    # sd_bus_path_encode: alphanumerics stay, everything else becomes _xx
    return '/org/kzones/Restarter1/zone/' + ''.join(
        c if c.isalnum() else '_%02x' % ord(c) for c in name)


class BusTest(unittest.TestCase):
    """One private bus and one restarter per test; everything removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='kzones-bus-')
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        os.chmod(self.tmp, 0o755)
        self.root = os.path.join(self.tmp, 'root')
        os.mkdir(self.root)
        conf = os.path.join(self.tmp, 'bus.conf')
        sock = os.path.join(self.tmp, 'bus')
        with open(conf, 'w') as f:
            f.write(BUS_CONFIG.format(path=sock))
        self.bus_log = open(os.path.join(self.tmp, 'dbus.log'), 'w')
        self.addCleanup(self.bus_log.close)
        self.bus = subprocess.Popen(['dbus-daemon', '--config-file=' + conf, '--nofork', '--print-address'],
                                    stdout=subprocess.PIPE, stderr=self.bus_log, text=True)
        self.addCleanup(self.stop, self.bus)
        self.bus.stdout.readline()
        self.bus.stdout.close()
        self.env = dict(os.environ,
                        DBUS_SYSTEM_BUS_ADDRESS='unix:path=' + sock,
                        KZONES_ROOT=self.root,
                        KZONES_DATA_DIR=os.path.join(SOURCE, 'templates'),
                        KZONES_ZONE_HELPER=os.path.join(BUILD, 'services/restarter/kzones-zone'))
        self.daemon = None
        self.start_restarter()

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start_restarter(self):
        self.log = open(os.path.join(self.tmp, 'restarter.log'), 'a')
        self.addCleanup(self.log.close)
        self.daemon = subprocess.Popen([os.path.join(BUILD, 'services/restarter/kzones-restarterd')],
                                       env=self.env, stderr=self.log)
        self.addCleanup(self.stop, self.daemon)
        self.wait_for(lambda: self.busctl('status', 'org.kzones.Restarter1', check=False).returncode == 0)

    def restarter_log(self):
        with open(os.path.join(self.tmp, 'restarter.log')) as f:
            return f.read()

    def wait_for(self, predicate, timeout=10.0, what='condition'):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        self.fail(f'timed out waiting for {what}')

    def run_cmd(self, argv, check=True, user=None, input=None):
        if user is not None:
            argv = ['setpriv', f'--reuid={user}', f'--regid={user}', '--clear-groups'] + argv
        p = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60, input=input)
        if check and p.returncode != 0:
            self.fail(f'{" ".join(argv)} failed ({p.returncode}): {p.stderr}\n{self.restarter_log()}')
        return p

    def busctl(self, *args, check=True, user=None):
        return self.run_cmd(['busctl', '--system'] + list(args), check=check, user=user)

    def call(self, path, iface, method, sig='', *args, check=True, user=None):
        a = ['--json=short', 'call', 'org.kzones.Restarter1', path, iface, method]
        if sig:
            a += [sig] + [str(x) for x in args]
        p = self.busctl(*a, check=check, user=user)
        if p.returncode == 0 and p.stdout.strip():
            return json.loads(p.stdout)['data']
        return p

    def zone_call(self, zone, method, sig='', *args, **kw):
        return self.call(zone_path(zone), ZONE_IFACE, method, sig, *args, **kw)

    def prop(self, zone, name):
        p = self.busctl('--json=short', 'get-property', 'org.kzones.Restarter1', zone_path(zone), ZONE_IFACE, name)
        return json.loads(p.stdout)['data']

    def zonecfg(self, zone, *cmds):
        return self.run_cmd([os.path.join(BUILD, 'cli/zonecfg'), '-R', self.root, '-z', zone] + list(cmds))

    def zoneadm(self, *args, check=False, user=None, input=None):
        return self.run_cmd([os.path.join(BUILD, 'cli/zoneadm')] + list(args), check=check, user=user, input=input)

    def zones(self):
        out = self.call(*MANAGER, 'ListZones')
        return {z[0]: z[1] for z in out[0]}
