#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Suspend and resume on a real host: the guest's state is sealed to the suspend
path, the zone is installed with the auxiliary state 'suspended', and the next boot
resumes it with the same boot id and a heartbeat counter that goes on where it
stopped. A changed image, or one sealed for another zone, is refused and kept;
boot -R boots afresh."""

import re

import labtest

GUEST = '/usr/share/kzones/guest/kzguest.elf'
HB = re.compile(r'kzguest: hb boot=([0-9a-f]{16}) n=(\d+)')
IMAGE = '/srv/shared/kzsus.img'


class Suspend(labtest.LabTestCase):
    hosts = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for zone, disk, image in (('kzsus', 'disk0', IMAGE), ('other', 'disk1', '/srv/shared/other.img')):
            labtest.lab('exec', 'host1', 'zonecfg', '-z', zone,
                        'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                        f'select device id=0; set storage=nbd://storage:10809/{disk}; end; '
                        f'add suspend; set path={image}; end; '
                        f'add boot; set kernel={GUEST}; set cmdline="dirty=8M rate=256 interval=100"; end',
                        check=True)
            labtest.lab('exec', 'host1', 'zoneadm', '-z', zone, 'install', check=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(('host1', 'kzsus'), ('host1', 'other'))
        finally:
            super().tearDownClass()

    def zoneadm(self, *args, zone='kzsus', check=True):
        return self.exec('host1', 'zoneadm', '-z', zone, *args, check=check, timeout=300)

    def heartbeats(self, zone='kzsus'):
        r = self.exec('host1', 'cat', f'/var/log/zones/{zone}.console', check=False)
        return [(m.group(1), int(m.group(2))) for m in HB.finditer(r.stdout)]

    def wait_beats(self, count, zone='kzsus', boot=None):
        def enough():
            hb = [h for h in self.heartbeats(zone) if boot is None or h[0] == boot]
            return len(hb) >= count
        self.wait_for(enough, timeout=90, msg=f'{count} heartbeats of {zone}')
        return self.heartbeats(zone)[-1]

    def aux(self, zone='kzsus'):
        line = [l for l in self.exec('host1', 'zoneadm', 'list', '-cp').stdout.splitlines() if f':{zone}:' in l][0]
        return line.split(':')[2], line.split(':')[-1]

    def size(self, path):
        return int(self.exec('host1', 'stat', '-c', '%s', path).stdout)

    def test_1_suspend_then_resume(self):
        self.zoneadm('boot')
        boot, n = self.wait_beats(5)
        self.zoneadm('suspend')
        self.assertEqual(self.aux(), ('installed', 'suspended'))
        self.assertEqual(self.exec('host1', 'systemctl', 'is-active', 'zone@kzsus', check=False).stdout.strip(),
                         'inactive')
        self.assertGreater(self.size(IMAGE), 1024 * 1024)
        last = self.heartbeats()[-1]
        # the image is sealed: the guest's memory is not in it in the clear
        self.assertEqual(self.exec('host1', 'sh', '-c', f'grep -c kzguest {IMAGE} || true').stdout.strip(), '0')
        self.zoneadm('boot')
        self.assertEqual(self.aux(), ('running', ''))
        b, m = self.wait_beats(len(self.heartbeats()) + 3)
        self.assertEqual(b, boot, 'resumed, not booted afresh')
        after = [h for h in self.heartbeats() if h[1] > last[1]]
        self.assertEqual(after[0], (boot, last[1] + 1), 'the counter goes on where it stopped')

    def test_2_changed_image_is_refused_and_kept(self):
        self.zoneadm('suspend')
        size = self.size(IMAGE)
        # flip one byte in the middle
        self.exec('host1', 'python3', '-c', f'''
f = open("{IMAGE}", "r+b"); f.seek({size // 2}); b = f.read(1); f.seek({size // 2}); f.write(bytes([b[0] ^ 1])); f.close()''')
        r = self.zoneadm('boot', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f'the suspend image {IMAGE} cannot be resumed: it was not sealed with this zone\'s key for '
                      'this zone, or it was changed; it is kept', r.stderr)
        self.assertEqual(self.size(IMAGE), size)
        self.assertEqual(self.aux(), ('installed', 'suspended'))

    def test_3_another_zones_image_is_refused(self):
        self.zoneadm('boot', zone='other')
        self.wait_beats(3, zone='other')
        self.zoneadm('suspend', zone='other')
        self.exec('host1', 'cp', '/srv/shared/other.img', IMAGE)
        r = self.zoneadm('boot', check=False)
        self.assertEqual(r.returncode, 1)
        # refused before its bytes are read: it is not the image this zone's host data names
        self.assertIn(f'the suspend image {IMAGE} cannot be resumed: it is not the zone\'s latest suspend image; '
                      'it is kept', r.stderr)

    def test_4_cut_short_is_refused(self):
        size = self.size('/srv/shared/other.img')
        self.exec('host1', 'truncate', '-s', str(size - 4096), '/srv/shared/other.img')
        r = self.zoneadm('boot', zone='other', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('it is cut short', r.stderr)

    def test_5_boot_afresh(self):
        old = self.heartbeats()[-1][0]
        self.zoneadm('boot', '-R')
        self.assertEqual(self.aux(), ('running', ''))
        b, _ = self.wait_beats(len(self.heartbeats()) + 2)
        self.assertNotEqual(b, old)
        self.zoneadm('halt')
        self.zoneadm('boot', '-R', zone='other')
        self.zoneadm('halt', zone='other')


if __name__ == '__main__':
    labtest.main()
