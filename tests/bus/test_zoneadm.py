#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""zoneadm against the real restarter on a private bus: the guide's list layouts,
install/uninstall/clone/verify, and one clear message with an exit code scripts
can trust for everything it refuses."""

import json
import os
import re
import shutil
import unittest

from bustest import BusTest
from kzbus import RESTARTER_BUS_NAME


class Zoneadm(BusTest):

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.zonecfg('kz2', 'create -t SYSkz-minimal')
        self.wait_for(lambda: len(self.zones()) == 2)
        with open(os.path.join(self.root, 'etc/zones/index')) as f:
            self.uuid = {l.split(':')[0]: l.split(':')[3].strip() for l in f if not l.startswith('#')}

    def ok(self, *args, **kw):
        p = self.zoneadm(*args, **kw)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, '')
        return p.stdout

    def refused(self, args, message, code=1, **kw):
        p = self.zoneadm(*args, **kw)
        self.assertEqual(p.returncode, code, p.stdout + p.stderr)
        self.assertIn(message, p.stderr)
        return p

    def test_list_layouts(self):
        self.ok('-z', 'kz1', 'install', '-x', 'install-size=1G')
        # running zones only by default: here, just the host
        self.assertEqual(self.ok('list'), 'global\n')
        self.assertEqual(self.ok('list', '-i'), 'global\nkz1\n')
        self.assertEqual(self.ok('list', '-c'), 'global\nkz1\nkz2\n')
        lines = self.ok('list', '-cv').splitlines()
        self.assertEqual(lines[0].split(), ['ID', 'NAME', 'STATUS', 'PATH', 'BRAND', 'IP'])
        self.assertEqual(lines[1].split(), ['0', 'global', 'running', '/', 'linux', 'shared'])
        self.assertEqual(lines[2].split(), ['-', 'kz1', 'installed', '-', 'kz', 'excl'])
        self.assertEqual(lines[3].split(), ['-', 'kz2', 'configured', '-', 'kz', 'excl'])
        # columns line up under the header
        self.assertEqual(lines[2].index('installed'), lines[0].index('STATUS'))
        self.assertEqual(self.ok('list', '-cp').splitlines(), [
            '0:global:running:/::linux:shared:-:none:',
            f'-:kz1:installed:/run/kzones/kz1:{self.uuid["kz1"]}:kz:excl:-:kz:',
            f'-:kz2:configured:/run/kzones/kz2:{self.uuid["kz2"]}:kz:excl:-:kz:',
        ])
        s = self.ok('list', '-cs').splitlines()
        self.assertEqual(re.split(r'\s{2,}', s[0].strip()), ['NAME', 'STATUS', 'AUXILIARY STATE'])
        self.assertEqual(s[2].split(), ['kz1', 'installed', '-'])
        self.assertEqual(self.ok('-z', 'kz2', 'list', '-v').splitlines()[1].split(),
                         ['-', 'kz2', 'configured', '-', 'kz', 'excl'])

    def test_list_json(self):
        self.ok('-z', 'kz1', 'install', '-x', 'install-size=1G')
        short = self.ok('list', '-c', '--json=short')
        # one line, one array, an object per zone with what -v and -p show
        self.assertEqual(short.count('\n'), 1)
        zones = json.loads(short)
        self.assertEqual([z['name'] for z in zones], ['global', 'kz1', 'kz2'])
        self.assertEqual(zones[0], {'id': 0, 'name': 'global', 'state': 'running', 'path': '/', 'uuid': None,
                                    'brand': 'linux', 'ip': 'shared', 'auxiliary_states': []})
        self.assertEqual(zones[1], {'id': None, 'name': 'kz1', 'state': 'installed', 'path': None,
                                    'uuid': self.uuid['kz1'], 'brand': 'kz', 'ip': 'excl', 'auxiliary_states': []})
        self.assertEqual((zones[2]['state'], zones[2]['uuid']), ('configured', self.uuid['kz2']))
        # pretty: the same, indented; the options in any order, and with -z one zone
        pretty = self.ok('list', '--json=pretty', '-c')
        self.assertGreater(pretty.count('\n'), 10)
        self.assertEqual(json.loads(pretty), zones)
        self.assertEqual(json.loads(self.ok('-z', 'kz2', 'list', '--json=short')), [zones[2]])
        # running zones only without -c or -i, as the other layouts
        self.assertEqual([z['name'] for z in json.loads(self.ok('list', '--json=short'))], ['global'])
        self.refused(['list', '--json=yaml'], 'zoneadm: list: --json takes pretty, short or off', code=2)
        self.refused(['list', '-v', '--json=short'], 'give only one of them', code=2)

    def test_install_uninstall_clone(self):
        self.ok('-z', 'kz1', 'install', '-x', 'install-size=64M')
        disk = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')
        self.assertEqual(os.stat(disk).st_size, 64 * 1024 ** 2 + 1024 ** 2)  # and the host data
        self.refused(['-z', 'kz1', 'install'], "zoneadm: zone 'kz1': zone is installed; it must be configured")
        self.zonecfg('kz3', 'create -t kz1')
        self.wait_for(lambda: 'kz3' in self.zones())
        self.assertEqual(self.ok('-z', 'kz3', 'clone', 'kz1').splitlines()[-1], 'clone: 100%')
        self.assertEqual(self.zones()['kz3'], 'installed')
        self.refused(['-z', 'kz1', 'uninstall'], '-F')          # no terminal: must say -F
        self.assertEqual(self.zones()['kz1'], 'installed')
        self.ok('-z', 'kz1', 'uninstall', '-F')
        self.assertFalse(os.path.exists(disk))
        self.assertEqual(self.zones()['kz1'], 'configured')

    def test_install_from_an_image(self):
        image = os.path.join(self.tmp, 'base.qcow2')
        self.run_cmd(['qemu-img', 'create', '-q', '-f', 'qcow2', image, '96M'])
        self.run_cmd(['qemu-io', '-c', 'write -P 0x5a 40M 1M', image])
        out = self.ok('-z', 'kz1', 'install', '-a', image)
        # progress, one line each 10% when not on a terminal, ending at 100%
        self.assertEqual(out.splitlines()[-1], 'install: 100%')
        disk = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')
        self.assertEqual(os.stat(disk).st_size, 96 * 1024 ** 2 + 1024 ** 2)
        with open(disk, 'rb') as f:
            f.seek(40 * 1024 ** 2)
            self.assertEqual(f.read(1024 ** 2), b'\x5a' * 1024 ** 2)
            f.seek(96 * 1024 ** 2)
            self.assertEqual(f.read(8), b'KZHOSTD2')
        self.assertEqual(self.zones()['kz1'], 'installed')
        self.assertEqual(self.ok('-z', 'kz1', 'uninstall', '-F'), '')
        self.assertFalse(os.path.exists(disk))
        # -q: no progress; a file that is no image: one message
        self.assertEqual(self.ok('-z', 'kz1', 'install', '-q', '-a', image), '')
        self.ok('-z', 'kz1', 'uninstall', '-F')
        self.refused(['-z', 'kz1', 'install', '-a', '/nonexistent.img'], 'cannot read the image /nonexistent.img')
        self.assertEqual(self.zones()['kz1'], 'configured')

    def test_refusals(self):
        self.refused(['-z', 'nosuch', 'boot'], "zoneadm: zone 'nosuch': No such zone configured")
        self.refused(['-z', 'kz1', 'boot'], "zoneadm: zone 'kz1': zone is configured; it must be installed to boot it")
        self.refused(['-z', 'kz1', 'halt'], "zoneadm: zone 'kz1': zone is configured, not running")
        self.refused(['-z', 'kz1', 'install', '-x', 'install-size=lots'], "'lots' is not a size", code=2)
        self.refused(['-z', 'kz1', 'frobnicate'], 'frobnicate', code=2)
        # after '--', -h is the guest's: it goes to the restarter, which refuses the boot
        p = self.refused(['-z', 'kz1', 'boot', '--', '-h'], "zoneadm: zone 'kz1': zone is configured; it must be "
                         "installed to boot it")
        self.assertEqual(p.stdout, '')
        self.refused(['kz1', 'reboot'], 'zoneadm -z kz1 reboot', code=2)
        self.refused(['-z', 'kz1', 'install'], "zoneadm: zone 'kz1': permission denied: only root or a zone "
                     "administrator with the 'manage' auth may do this", user=65534)
        # lower-link=auto takes DefaultLowerLink= of the zone units' drop-ins when one sets it
        dropin = os.path.join(self.root, 'etc/systemd/system/zone@.service.d')
        os.makedirs(dropin)
        with open(os.path.join(dropin, '50-lower-link.conf'), 'w') as f:
            f.write('[X-Kzones]\nDefaultLowerLink=nosuchlink0\n')
        self.refused(['-z', 'kz1', 'verify'], "zoneadm: zone 'kz1': anet 0: lower-link 'nosuchlink0' "
                     "(DefaultLowerLink=) does not exist on this host")
        os.unlink(os.path.join(dropin, '50-lower-link.conf'))
        self.ok('-z', 'kz1', 'install')
        self.refused(['-z', 'kz1', 'boot'], "zoneadm: zone 'kz1': systemd is not reachable on this bus")

    def test_verify_reports_every_problem(self):
        # what the host cannot give, each on its own line, all at once
        os.makedirs(os.path.join(self.root, 'dev'))
        open(os.path.join(self.root, 'dev/notablock'), 'w').close()
        self.zonecfg('kz1', 'select capped-memory; set physical=2T; end; select virtual-cpu; set ncpus=512; end; '
                     'add device; set storage=dev:/dev/nosuchdisk0; end; '
                     'add device; set storage=dev:/dev/notablock; end; '
                     'select anet id=0; set lower-link=nosuchlink0; end')
        p = self.refused(['-z', 'kz1', 'verify'], '')
        self.assertEqual(p.stdout, '')
        lines = p.stderr.splitlines()
        self.assertRegex(lines[0], r"^zoneadm: zone 'kz1': capped-memory: physical=2T is more than this host's "
                         r"memory \(\d+\.\dG\)$")
        self.assertEqual(lines[1:], [
            f"zoneadm: zone 'kz1': virtual-cpu: ncpus=512 is more than this host's {len(os.sched_getaffinity(0))} "
            "CPU" + ('s' if len(os.sched_getaffinity(0)) > 1 else ''),
            "zoneadm: zone 'kz1': device 1: storage dev:/dev/nosuchdisk0: no such device on this host",
            "zoneadm: zone 'kz1': device 2: storage dev:/dev/notablock is not a block device",
            "zoneadm: zone 'kz1': anet 0: lower-link 'nosuchlink0' does not exist on this host.",
        ])
        # what fits: nothing printed, exit 0
        self.zonecfg('kz1', 'select capped-memory; set physical=64M; end; select virtual-cpu; set ncpus=1; end; '
                     'remove device id=1; remove device id=2; select anet id=0; set lower-link=lo; end')
        self.assertEqual(self.ok('-z', 'kz1', 'verify'), '')

    def test_restarter_not_running(self):
        self.stop(self.daemon)
        p = self.refused(['list'], f'zoneadm: cannot reach the zone restarter ({RESTARTER_BUS_NAME}): ')
        # one line, with the next step
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertTrue(p.stderr.endswith("; is kzones-restarterd running? See 'systemctl status "
                                          "kzones-restarterd'.\n"), p.stderr)

    @unittest.skipUnless(shutil.which('ssh'), 'needs ssh')
    def test_host_that_does_not_answer(self):
        # nothing listens on port 1: one line naming the host and ssh's reason, not ssh's
        # own message followed by "Transport endpoint is not connected"
        p = self.refused(['-H', '127.0.0.1:1', '-z', 'kz1', 'halt'], '')
        self.assertEqual(p.stderr, "zoneadm: cannot reach host '127.0.0.1:1' over SSH: connect to host 127.0.0.1 "
                         "port 1: Connection refused\n")


if __name__ == '__main__':
    unittest.main(verbosity=2)
