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
import xml.etree.ElementTree as ET

from kzbus import (SYSTEMD_BUS, RESTARTER_BUS_NAME, RESTARTER_JOB_IFACE, RESTARTER_JOB_PREFIX, RESTARTER_MANAGER_IFACE,
                   RESTARTER_PATH, RESTARTER_ZONE_IFACE, RESTARTER_ZONE_PREFIX, path_encode)

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

# what AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                   'SUMMARY: UndefinedBehaviorSanitizer')

MANAGER = (RESTARTER_PATH, RESTARTER_MANAGER_IFACE)
ZONE_IFACE = RESTARTER_ZONE_IFACE
JOB_IFACE = RESTARTER_JOB_IFACE
JOB_PREFIX = RESTARTER_JOB_PREFIX


def zone_path(name):
    return path_encode(RESTARTER_ZONE_PREFIX, name)


def members(iface_element):
    """The comparable shape of an interface: methods with their arguments, signals,
    properties with type and access."""
    out = set()
    for m in iface_element.findall('method'):
        args = tuple((a.get('name'), a.get('type'), a.get('direction', 'in')) for a in m.findall('arg'))
        out.add(('method', m.get('name'), args))
    for s in iface_element.findall('signal'):
        out.add(('signal', s.get('name'), tuple((a.get('name'), a.get('type')) for a in s.findall('arg'))))
    for p in iface_element.findall('property'):
        out.add(('property', p.get('name'), p.get('type'), p.get('access')))
    return out


class PrivateBusTest(unittest.TestCase):
    """A private dbus-daemon, a scratch root and one daemon of ours, per test;
    everything removed afterwards. Subclasses name the daemon and its bus name."""

    daemon_path = None  # below the build directory
    bus_name = None

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
                        KZONES_ZONE_HELPER=os.path.join(BUILD, 'services/zone/kzones-zone'))
        self.daemon = None
        self.start_daemon()

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start_daemon(self):
        self.log = open(os.path.join(self.tmp, 'daemon.log'), 'a')
        self.addCleanup(self.log.close)
        self.daemon = subprocess.Popen([os.path.join(BUILD, self.daemon_path)], env=self.env, stderr=self.log)
        # cleanups run last-in first-out: the daemon stops, then its log is read
        self.addCleanup(self.assert_no_sanitizer_report)
        self.addCleanup(self.stop, self.daemon)
        self.wait_for(lambda: self.busctl('status', self.bus_name, check=False).returncode == 0,
                      what=f'{self.bus_name} on the bus')

    def assert_no_sanitizer_report(self):
        """In the ASan/UBSan build a daemon (or a helper it started) that
        touched bad memory, leaked or hit undefined behaviour says so on its
        stderr, which is the daemon log: that fails the test."""
        log = self.daemon_log()
        for mark in SANITIZER_MARKS:
            if mark in log:
                self.fail(f'{self.daemon_path}: sanitizer report in the daemon log:\n{log}')

    def daemon_log(self):
        with open(os.path.join(self.tmp, 'daemon.log')) as f:
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
            self.fail(f'{" ".join(argv)} failed ({p.returncode}): {p.stderr}\n{self.daemon_log()}')
        return p

    def busctl(self, *args, check=True, user=None):
        return self.run_cmd(['busctl', '--system'] + list(args), check=check, user=user)

    def call(self, path, iface, method, sig='', *args, check=True, user=None):
        a = ['--json=short', 'call', self.bus_name, path, iface, method]
        if sig:
            a += [sig] + [str(x) for x in args]
        p = self.busctl(*a, check=check, user=user)
        if p.returncode == 0 and p.stdout.strip():
            return json.loads(p.stdout)['data']
        return p

    def get_property(self, path, iface, name):
        p = self.busctl('--json=short', 'get-property', self.bus_name, path, iface, name)
        return json.loads(p.stdout)['data']

    def live_interface(self, path, iface):
        p = self.busctl('introspect', '--xml-interface', self.bus_name, path)
        return ET.fromstring(p.stdout).find(f"interface[@name='{iface}']")

    @staticmethod
    def documented_interface(iface):
        tree = ET.parse(os.path.join(SOURCE, 'bus-interfaces', iface + '.xml'))
        return tree.getroot().find(f"interface[@name='{iface}']")


class BusTest(PrivateBusTest):
    """kzones-restarterd on the private bus."""

    daemon_path = 'services/restarter/kzones-restarterd'
    bus_name = RESTARTER_BUS_NAME

    def start_restarter(self):
        self.start_daemon()

    def zone_call(self, zone, method, sig='', *args, check=True, user=None, wait=True):
        """A zone method. One that starts a job returns its path at once; with wait
        (the default) the job is followed to its end, and a failed job reads as a
        failed call (returncode 1, 'Call failed: MESSAGE' on stderr, as busctl says
        it), so a test sees what zoneadm would."""
        out = self.call(zone_path(zone), ZONE_IFACE, method, sig, *args, check=check, user=user)
        if not wait or not isinstance(out, list) or not out or not str(out[0]).startswith(JOB_PREFIX + '/'):
            return out
        state, (name, text) = self.wait_job(out[0])
        if state == 'done':
            return out
        if check:
            self.fail(f'{method} of {zone}: job {state}: {name}: {text}\n{self.daemon_log()}')
        return subprocess.CompletedProcess([method], 1, '', f'Call failed: {text}\n')

    def job_prop(self, job, name):
        return self.get_property(job, JOB_IFACE, name)

    def wait_job(self, job, timeout=60.0):
        """(State, Result) of a job once it ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.job_prop(job, 'State')
            if state != 'running':
                return state, self.job_prop(job, 'Result')
            time.sleep(0.02)
        self.fail(f'job {job} still running after {timeout} s\n{self.daemon_log()}')

    def prop(self, zone, name):
        return self.get_property(zone_path(zone), ZONE_IFACE, name)

    def zonecfg(self, zone, *cmds):
        return self.run_cmd([os.path.join(BUILD, 'cli/zonecfg'), '-R', self.root, '-z', zone] + list(cmds))

    def zoneadm(self, *args, check=False, user=None, input=None):
        return self.run_cmd([os.path.join(BUILD, 'cli/zoneadm')] + list(args), check=check, user=user, input=input)

    def zones(self):
        out = self.call(*MANAGER, 'ListZones')
        return {z[0]: z[1] for z in out[0]}


class FakeSystemdBusTest(BusTest):
    """BusTest with a stand-in for systemd's manager on the private bus
    (tests/bus/fake-systemd), started once before the restarter."""

    def start_daemon(self):
        if not getattr(self, 'systemd', None):
            self.systemd_log = open(os.path.join(self.tmp, 'systemd.log'), 'w')
            self.addCleanup(self.systemd_log.close)
            self.systemd = subprocess.Popen([os.path.join(BUILD, 'tests/bus/fake-systemd'), self.tmp], env=self.env,
                                            stderr=self.systemd_log)
            self.addCleanup(self.stop, self.systemd)
            self.wait_for(lambda: self.busctl('status', SYSTEMD_BUS, check=False).returncode == 0,
                          what='fake-systemd on the bus')
        super().start_daemon()
