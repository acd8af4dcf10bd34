#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kzones-restarterd on a private bus: its interface matches the XML that documents
it, it follows /etc/zones, installs and uninstalls, keeps the evacuation target in
unit drop-ins, refuses what it must, and survives its own restart."""

import json
import os
import socket
import stat
import threading
import unittest

from bustest import BUILD, MANAGER, ZONE_IFACE, BusTest, members, path_encode, zone_path
from kzbus import (DBUS_BUS_NAME, DBUS_IFACE, DBUS_PATH, DBUS_PROPERTIES_IFACE, SYSTEMD_JOB_PREFIX, SYSTEMD_MANAGER,
                   SYSTEMD_PATH, SYSTEMD_UNIT_IFACE, SYSTEMD_UNIT_PREFIX)


class Interface(BusTest):

    def test_manager_matches_its_xml(self):
        self.assertEqual(members(self.live_interface(MANAGER[0], MANAGER[1])),
                         members(self.documented_interface(MANAGER[1])))

    def test_zone_matches_its_xml(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones(), what='kz1 to appear')
        self.assertEqual(members(self.live_interface(zone_path('kz1'), ZONE_IFACE)),
                         members(self.documented_interface(ZONE_IFACE)))


class HostCpu(BusTest):
    """The restarter probes this host's QEMU/KVM once a boot and shows what runs here:
    the native model (less what KVM refuses) and the migration classes."""

    CLASSES = ['generic', 'migration-class1', 'migration-class2', 'migration-class3', 'migration-class4']

    def setUp(self):
        if not os.access('/dev/kvm', os.R_OK | os.W_OK):
            self.skipTest('/dev/kvm is not usable here: nothing to probe')
        super().setUp()

    def manager_prop(self, name):
        return self.get_property(MANAGER[0], MANAGER[1], name)

    def cache(self):
        with open(os.path.join(self.root, 'run/kzones-cpu/cpu-probe.json')) as f:
            return json.load(f)

    def test_native_model_and_classes(self):
        self.wait_for(lambda: self.manager_prop('NativeCpuModel') != '', timeout=60, what='the CPU probe')
        native = self.manager_prop('NativeCpuModel')
        self.assertTrue(native == 'host' or native.startswith('host,-'), native)
        features = self.manager_prop('NativeCpuFeatures')
        self.assertIn('sse2', features, 'every x86-64 host has SSE2')
        self.assertEqual(features, sorted(set(features)))
        for refused in self.cache()['native']['refused']:
            self.assertIn(',-' + refused, native)
            self.assertNotIn(refused, features)
        classes = self.manager_prop('CpuMigrationClasses')
        self.assertIn('generic', classes, 'the x86-64 baseline runs on every x86-64 KVM host')
        self.assertEqual(classes, [c for c in self.CLASSES if c in classes], 'in order, known names only')
        self.assertRegex(self.manager_prop('NativeCpuSignature'), r'^\S+ family \d+ model \d+ stepping \d+ ')
        self.assertEqual(self.cache()['native']['model'], native)
        self.assertEqual(self.manager_prop('Accelerator'), 'kvm', 'without kzones.conf')
        self.assertEqual(self.cache()['accel'], 'kvm')

    def test_tcg_probe_from_kzones_conf(self):
        """Accelerator=tcg: the probe runs QEMU's emulator, whose native model is
        max; the cache says for which accelerator it is; a bad value is one error."""
        helper = os.path.join(BUILD, 'services/zone/kzones-zone')
        self.wait_for(lambda: self.manager_prop('NativeCpuModel') != '', timeout=60, what='the CPU probe')
        kvm = self.cache()
        conf = os.path.join(self.root, 'etc/kzones/kzones.conf')
        os.makedirs(os.path.dirname(conf), exist_ok=True)
        with open(conf, 'w') as f:
            f.write('[Host]\nAccelerator=tcg\n')
        out = json.loads(self.run_cmd([helper, 'cpu-probe']).stdout)
        self.assertEqual(out['accel'], 'tcg')
        self.assertTrue(out['native']['model'] == 'max' or out['native']['model'].startswith('max,-'), out['native'])
        self.assertTrue(out['key'].endswith('; accel tcg'), out['key'])
        self.assertIn('generic', [c for c, v in out['classes'].items() if not v['missing'] and 'error' not in v],
                      'the x86-64 baseline runs under TCG')
        self.assertEqual(self.cache()['accel'], 'tcg')
        with open(conf, 'w') as f:
            f.write('[Host]\nAccelerator=hvf\n')
        p = self.run_cmd([helper, 'cpu-probe'], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('kzones.conf: Accelerator=hvf is neither kvm nor tcg.', p.stderr)
        os.unlink(conf)
        out = json.loads(self.run_cmd([helper, 'cpu-probe']).stdout)
        self.assertEqual((out['accel'], out['native']['model']), ('kvm', kvm['native']['model']))

    def test_cache_is_used_and_refreshed(self):
        helper = os.path.join(BUILD, 'services/zone/kzones-zone')
        self.wait_for(lambda: self.manager_prop('NativeCpuModel') != '', timeout=60, what='the CPU probe')
        path = os.path.join(self.root, 'run/kzones-cpu/cpu-probe.json')
        good = self.cache()
        # a valid cache is believed: the helper does not probe again
        marked = dict(good, native=dict(good['native'], model='host,-kzones-test-marker'))
        with open(path, 'w') as f:
            json.dump(marked, f)
        out = json.loads(self.run_cmd([helper, 'cpu-probe']).stdout)
        self.assertEqual(out['native']['model'], 'host,-kzones-test-marker')
        # one made for another QEMU binary, kernel or boot is probed again
        with open(path, 'w') as f:
            json.dump(dict(marked, key=good['key'].replace('boot ', 'boot 0', 1)), f)
        out = json.loads(self.run_cmd([helper, 'cpu-probe']).stdout)
        self.assertEqual(out['native']['model'], good['native']['model'])
        self.assertEqual(self.cache()['key'], good['key'])


class BadInput(BusTest):
    """Bus input is bounded and typed: one clear InvalidArgs, and nothing written."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())

    def test_install_size_that_would_wrap(self):
        p = self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 2 ** 64 - 1, check=False)
        self.assertIn('install-size 18446744073709551615 is too large', p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'var/lib/zones/kz1')))
        self.assertEqual(self.prop('kz1', 'State'), 'configured')

    def test_wrongly_typed_options(self):
        p = self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 's', '16G', check=False)
        self.assertIn("install option 'install-size' must be of type t, not s", p.stderr)
        p = self.zone_call('kz1', 'Attach', 'a{sv}', 1, 'force-takeover', 's', 'yes', check=False)
        self.assertIn("attach option 'force-takeover' must be of type b, not s", p.stderr)

    def test_boot_arguments_are_bounded(self):
        self.zone_call('kz1', 'Install', 'a{sv}', 0)
        p = self.zone_call('kz1', 'Boot', 'as', 1, 'x' * 100000, check=False)
        self.assertIn('the boot arguments are 100001 bytes long: at most 2048 fit', p.stderr)
        p = self.zone_call('kz1', 'Boot', 'as', 1, 'a\nb', check=False)
        self.assertIn('may not contain a line break', p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'run/kzones/kz1/request')))


class Zones(BusTest):

    def test_follows_etc_zones(self):
        self.assertEqual(self.zones(), {})
        self.zonecfg('kz1', 'create')
        self.zonecfg('kz-2', 'create -t SYSkz-minimal')
        self.wait_for(lambda: self.zones() == {'kz1': 'configured', 'kz-2': 'configured'}, what='two zones')
        self.assertEqual(self.prop('kz-2', 'Name'), 'kz-2')
        self.assertEqual(self.prop('kz-2', 'Brand'), 'kz')
        self.assertEqual(self.prop('kz-2', 'Unit'), 'zone@kz-2.service')
        self.assertEqual(self.prop('kz-2', 'Id'), -1)
        with open(os.path.join(self.root, 'etc/zones/index')) as f:
            uuid = [l.split(':')[3].strip() for l in f if l.startswith('kz-2:')][0]
        self.assertEqual(self.prop('kz-2', 'Uuid'), uuid)
        self.zonecfg('kz1', 'delete -F')
        self.wait_for(lambda: self.zones() == {'kz-2': 'configured'}, what='kz1 to go')
        p = self.call(*MANAGER, 'GetZone', 's', 'kz1', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('No such zone configured', p.stderr)

    def test_list_zones_detailed_says_what_each_zone_object_says(self):
        """zoneadm list's one call: each zone with its Id and AuxiliaryStates, as its object says."""
        self.zonecfg('kz1', 'create')
        self.zonecfg('kz-2', 'create -t SYSkz-minimal')
        self.wait_for(lambda: len(self.zones()) == 2, what='two zones')
        os.makedirs(os.path.join(self.root, 'var/lib/kzones'), exist_ok=True)
        open(os.path.join(self.root, 'var/lib/kzones/kz1.suspended'), 'w').close()
        self.call(*MANAGER, 'Rescan')
        detailed = {z[0]: z[1:] for z in self.call(*MANAGER, 'ListZonesDetailed')[0]}
        plain = {z[0]: z[1:] for z in self.call(*MANAGER, 'ListZones')[0]}
        self.assertEqual(set(detailed), {'kz1', 'kz-2'})
        for name, (state, uuid, brand, zid, aux, path) in detailed.items():
            self.assertEqual([state, uuid, brand, path], plain[name])
            self.assertEqual(zid, self.prop(name, 'Id'))
            self.assertEqual(aux, self.prop(name, 'AuxiliaryStates'))
        self.assertEqual(detailed['kz1'][3:5], [-1, ['suspended']])
        self.assertEqual(detailed['kz-2'][3:5], [-1, []])
        # what zoneadm list shows of them, from that one call
        lines = self.zoneadm('list', '-cp', check=True).stdout.splitlines()
        self.assertEqual([l.split(':')[1] for l in lines], ['global', 'kz-2', 'kz1'])
        self.assertEqual(lines[2].split(':')[-1], 'suspended')
        self.assertEqual(lines[1].split(':')[-1], '')

    def test_install_and_uninstall(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 2 * 1024 ** 3)
        disk = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')
        st = os.stat(disk)
        # the guest's 2G and the host data's 1M at the end
        self.assertEqual(st.st_size, 2 * 1024 ** 3 + 1024 ** 2)
        with open(disk, 'rb') as f:
            f.seek(2 * 1024 ** 3)
            self.assertEqual(f.read(8), b'KZHOSTD2')
        self.assertLess(st.st_blocks * 512, 1024 * 1024, 'the boot disk is sparse')
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        with open(os.path.join(self.root, 'etc/zones/index')) as f:
            self.assertIn('kz1:installed:', f.read())
        # twice is refused, and says why
        p = self.zone_call('kz1', 'Install', 'a{sv}', 0, check=False)
        self.assertIn('zone is installed; it must be configured to install it', p.stderr)
        # deleting the configuration of an installed zone is refused by zonecfg
        p = self.run_cmd([os.path.join(BUILD, 'cli/zonecfg'), '-R', self.root,
                          '-z', 'kz1', 'delete -F'], check=False)
        self.assertIn('uninstall it with zoneadm', p.stderr)
        self.zone_call('kz1', 'Uninstall', 'b', 'false')
        self.assertFalse(os.path.exists(disk))
        self.assertEqual(self.prop('kz1', 'State'), 'configured')

    def test_uninstall_keeps_a_disk_it_did_not_create(self):
        disk = os.path.join(self.root, 'srv/kz1.img')
        os.makedirs(os.path.dirname(disk))
        with open(disk, 'wb') as f:
            f.write(b'precious' * 1000)
        self.zonecfg('kz1', f'create; select device id=0; set storage=file://{disk[len(self.root):]}; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 0)
        # the image keeps every byte; the host data goes after them
        with open(disk, 'rb') as f:
            self.assertEqual(f.read(8000), b'precious' * 1000)
        self.assertEqual(os.stat(disk).st_size, 8000 + 1024 ** 2)
        self.zone_call('kz1', 'Uninstall', 'b', 'false')
        with open(disk, 'rb') as f:
            self.assertEqual(f.read(8000), b'precious' * 1000)

    def test_install_refuses_unreachable_network_storage(self):
        self.zonecfg('kz1', 'create; select device id=0; set storage=nbd://127.0.0.1:1/nothing; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        p = self.zone_call('kz1', 'Install', 'a{sv}', 0, check=False)
        self.assertIn('the boot storage nbd://127.0.0.1:1/nothing cannot be reached', p.stderr)
        self.assertIn('Connection refused', p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'configured')

    def test_detach_attach_and_a_wrong_key(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * 1024 ** 2)
        self.zone_call('kz1', 'Detach')
        self.assertEqual(self.prop('kz1', 'State'), 'configured')
        p = self.zone_call('kz1', 'Detach', check=False)
        self.assertIn('zone is configured; it must be installed to detach it', p.stderr)
        self.zone_call('kz1', 'Attach', 'a{sv}', 0)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        # a key that does not open the host data: unavailable, and it says why
        self.zone_call('kz1', 'Detach')
        self.zonecfg('kz1', 'select keysource; set raw="{base64}AAAAAAAAAAAAAAAAAAAAAA=="; end')
        p = self.zone_call('kz1', 'Attach', 'a{sv}', 0, check=False)
        self.assertIn('error: Encryption key is incorrect.', p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'unavailable')
        p = self.zone_call('kz1', 'Boot', 'as', 0, check=False)
        self.assertIn('zone is unavailable', p.stderr)
        # a new key and new host data
        self.zone_call('kz1', 'Attach', 'a{sv}', 1, 'initialize-hostdata', 'b', 'true')
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        self.assertNotIn('AAAAAAAAAAAAAAAAAAAAAA', self.zonecfg('kz1', 'export').stdout)

    def test_clone_copies_the_disk(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * 1024 ** 2)
        src = os.path.join(self.root, 'var/lib/zones/kz1/disk0.img')
        with open(src, 'r+b') as f:
            f.seek(32 * 1024 ** 2)
            f.write(b'kzones clone marker')
        self.zonecfg('kz2', 'create -t kz1')
        self.wait_for(lambda: 'kz2' in self.zones())
        self.zone_call('kz2', 'Clone', 's', 'kz1')
        self.assertEqual(self.prop('kz2', 'State'), 'installed')
        with open(os.path.join(self.root, 'var/lib/zones/kz2/disk0.img'), 'rb') as f:
            f.seek(32 * 1024 ** 2)
            self.assertEqual(f.read(19), b'kzones clone marker')
        # the clone's disk is its own: uninstall removes it, not the source's
        self.zone_call('kz2', 'Uninstall', 'b', 'false')
        self.assertTrue(os.path.exists(src))
        self.assertFalse(os.path.exists(os.path.join(self.root, 'var/lib/zones/kz2/disk0.img')))

    def test_boot_without_systemd_says_so(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        p = self.zone_call('kz1', 'Boot', 'as', 0, check=False)
        self.assertIn('must be installed to boot it', p.stderr)
        self.zone_call('kz1', 'Install', 'a{sv}', 0)
        p = self.zone_call('kz1', 'Boot', 'as', 0, check=False)
        self.assertIn('systemd is not reachable on this bus', p.stderr)
        p = self.zone_call('kz1', 'Halt', check=False)
        self.assertIn('zone is installed, not running', p.stderr)

    def test_verify_checks_the_host(self):
        self.zonecfg('kz1', 'create; select anet id=0; set lower-link=nosuchbr0; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        p = self.zone_call('kz1', 'Verify', check=False)
        self.assertIn("anet 0: lower-link 'nosuchbr0' does not exist on this host", p.stderr)
        # lower-link=auto is the link of the default route: a host with one needs no setup
        # (one vCPU: SYSkz's 4 are more than a small host has, which verify reports)
        self.zonecfg('kz2', 'create; select virtual-cpu; set ncpus=1; end')
        self.wait_for(lambda: 'kz2' in self.zones())
        p = self.zone_call('kz2', 'Verify', check=False)
        with open('/proc/net/route') as f:
            has_default = any(l.split()[1] == '00000000' and l.split()[7] == '00000000' for l in f.readlines()[1:])
        if has_default:
            self.assertEqual(p.returncode, 0, p.stderr)
        else:
            self.assertIn('lower-link=auto, but this host has no default route', p.stderr)

    def test_state_survives_a_restart(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 0)
        self.stop(self.daemon)
        self.start_restarter()
        self.assertEqual(self.zones(), {'kz1': 'installed'})

    def test_only_root_or_a_zone_admin(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        p = self.zone_call('kz1', 'Install', 'a{sv}', 0, check=False, user=65534)
        # busctl shows any AccessDenied as "Access denied"; zoneadm shows the daemon's sentence
        self.assertIn('Access denied', p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'configured')
        # reading is for everyone
        self.assertEqual(self.call(*MANAGER, 'ListZones', user=65534)[0][0][0], 'kz1')
        # nobody becomes kz1's administrator
        self.zonecfg('kz1', 'add admin; set user=nobody; set auths=manage; end')
        self.zone_call('kz1', 'Install', 'a{sv}', 0, user=65534)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')


class EvacuationTarget(BusTest):

    def dropin(self, unit):
        return os.path.join(self.root, f'etc/systemd/system/{unit}.d/50-kzones-evacuation.conf')

    def test_all_zones_then_one_overridden(self):
        for z in ('kz1', 'kz2'):
            self.zonecfg(z, 'create')
        self.wait_for(lambda: len(self.zones()) == 2)
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), '')
        self.busctl('set-property', self.bus_name, *MANAGER, 'DefaultEvacuationTarget', 's', 'ssh://root@host2')
        self.assertTrue(os.path.exists(self.dropin('zone@.service')))
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'ssh://root@host2')
        self.assertEqual(self.prop('kz2', 'EvacuationTarget'), 'ssh://root@host2')
        self.busctl('set-property', self.bus_name, zone_path('kz2'), ZONE_IFACE, 'EvacuationTarget', 's',
                    'ssh://admin@host3:2222')
        with open(self.dropin('zone@kz2.service')) as f:
            self.assertIn('[X-Kzones]\nEvacuationTarget=ssh://admin@host3:2222\n', f.read())
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'ssh://root@host2')
        self.assertEqual(self.prop('kz2', 'EvacuationTarget'), 'ssh://admin@host3:2222')
        # back to the default for kz2
        self.busctl('set-property', self.bus_name, zone_path('kz2'), ZONE_IFACE, 'EvacuationTarget', 's', '')
        self.assertFalse(os.path.exists(self.dropin('zone@kz2.service')))
        self.assertEqual(self.prop('kz2', 'EvacuationTarget'), 'ssh://root@host2')

    def test_edited_by_hand_then_reloaded(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        os.makedirs(os.path.dirname(self.dropin('zone@kz1.service')))
        with open(os.path.join(os.path.dirname(self.dropin('zone@kz1.service')), '60-mine.conf'), 'w') as f:
            f.write('[Service]\nEnvironment=X=1\n\n[X-Kzones]\n# by hand\nEvacuationTarget = host9\n')
        # what 'systemctl reload zone@kz1' runs: kzones-zone reload kz1
        self.run_cmd([os.path.join(BUILD, 'services/zone/kzones-zone'),
                      'reload', 'kz1'])
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'host9')

    def test_dropins_merge_as_systemd_merges_them(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        etc = os.path.join(self.root, 'etc/systemd/system')
        run = os.path.join(self.root, 'run/systemd/system')

        def write(base, unit, name, value):
            os.makedirs(os.path.join(base, unit + '.d'), exist_ok=True)
            with open(os.path.join(base, unit + '.d', name), 'w') as f:
                f.write(f'[X-Kzones]\nEvacuationTarget={value}\n')

        write(etc, 'zone@.service', '60-site.conf', 'host-a')
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'host-a')
        # the instance's file of the same name hides the template's
        write(etc, 'zone@kz1.service', '60-site.conf', 'host-b')
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'host-b')
        # otherwise file names decide, whichever directory they are in
        write(etc, 'zone@.service', '90-late.conf', 'host-c')
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'host-c')
        # /etc hides /run
        write(run, 'zone@.service', '90-late.conf', 'host-d')
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'host-c')
        self.assertEqual(self.busctl('--json=short', 'get-property', self.bus_name, *MANAGER,
                                     'DefaultEvacuationTarget').stdout.strip(), '{"type":"s","data":"host-c"}')

    def test_bad_target_is_refused_and_nothing_written(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        p = self.busctl('set-property', self.bus_name, zone_path('kz1'), ZONE_IFACE, 'EvacuationTarget',
                        's', 'rads://host2', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("'rads://host2' is not a valid evacuation target", p.stderr)
        self.assertFalse(os.path.exists(self.dropin('zone@kz1.service')))
        p = self.busctl('set-property', self.bus_name, zone_path('kz1'), ZONE_IFACE, 'EvacuationTarget',
                        's', 'ssh://host2', check=False, user=65534)
        self.assertIn('Access denied', p.stderr)
        self.assertFalse(os.path.exists(self.dropin('zone@kz1.service')))

    def test_target_lists_and_host_memory(self):
        """A list of hosts, separated by spaces, is a target (written with single
        spaces); a bad element is named; HostMemory is /proc/meminfo's."""
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        p = self.busctl('set-property', self.bus_name, zone_path('kz1'), ZONE_IFACE, 'EvacuationTarget',
                        's', 'ssh://host2 ftp://host3', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("'ssh://host2 ftp://host3' is not a valid evacuation target list (ssh://[USER@]HOST[:PORT], "
                      "separated by spaces): 'ftp://host3': only ssh:// URIs are supported", p.stderr)
        self.assertFalse(os.path.exists(self.dropin('zone@kz1.service')))
        self.busctl('set-property', self.bus_name, *MANAGER, 'DefaultEvacuationTarget', 's',
                    ' ssh://root@host2   ssh://host3:2222 ')
        with open(self.dropin('zone@.service')) as f:
            self.assertIn('EvacuationTarget=ssh://root@host2 ssh://host3:2222\n', f.read())
        self.assertEqual(self.prop('kz1', 'EvacuationTarget'), 'ssh://root@host2 ssh://host3:2222')
        total, available = json.loads(self.busctl('--json=short', 'get-property', self.bus_name, *MANAGER,
                                                  'HostMemory').stdout)['data']
        with open('/proc/meminfo') as f:
            mem = {line.split(':')[0]: int(line.split()[1]) * 1024 for line in f}
        self.assertEqual(total, mem['MemTotal'])
        self.assertLess(abs(available - mem['MemAvailable']), 256 << 20)


class ExpensiveCalls(BusTest):
    """Calls that make the restarter parse configurations or look at the host as root
    are not for every local user."""

    def test_rescan_is_for_root(self):
        p = self.call(*MANAGER, 'Rescan', check=False, user=65534)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('Access denied', p.stderr)
        self.call(*MANAGER, 'Rescan')

    def test_verify_is_for_root_or_the_zone_admin(self):
        self.zonecfg('kz1', 'create; select anet id=0; set lower-link=nosuchbr0; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        p = self.zone_call('kz1', 'Verify', check=False, user=65534)
        self.assertIn('Access denied', p.stderr)
        self.assertNotIn('nosuchbr0', p.stderr)
        p = self.zoneadm('-z', 'kz1', 'verify', user=65534)
        self.assertIn("permission denied: only root or a zone administrator with the 'manage' auth", p.stderr)
        self.zonecfg('kz1', 'add admin; set user=nobody; set auths=manage; end')
        p = self.zone_call('kz1', 'Verify', check=False, user=65534)
        self.assertIn("lower-link 'nosuchbr0' does not exist on this host", p.stderr)

    def test_get_zone_reads_for_everyone_without_a_rescan(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.assertEqual(self.call(*MANAGER, 'GetZone', 's', 'kz1', user=65534)[0], zone_path('kz1'))
        p = self.call(*MANAGER, 'GetZone', 's', 'kz9', check=False, user=65534)
        self.assertIn('No such zone configured', p.stderr)


class AdminAuths(BusTest):
    """Each auth of a zone's admin resource lets its user do that and nothing else."""

    def fake_relay(self, zone):
        """A console relay's socket, root's alone as the real one is: each client is
        greeted, then the zone 'stops'."""
        d = os.path.join(self.root, 'run/kzones', zone)
        os.makedirs(d)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(os.path.join(d, 'console.sock'))
        os.chmod(os.path.join(d, 'console.sock'), 0o600)
        sock.listen(4)
        self.addCleanup(sock.close)

        def serve():
            while True:
                try:
                    c, _ = sock.accept()
                except OSError:
                    return
                c.sendall(b'kz1 console login: ')
                c.close()
        threading.Thread(target=serve, daemon=True).start()

    def zlogin(self, *args, user=None):
        return self.run_cmd([os.path.join(BUILD, 'cli/zlogin')] + list(args), check=False, user=user, input='')

    def test_console_for_an_admin_with_login_only(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.fake_relay('kz1')
        # nobody at all
        p = self.zlogin('-C', 'kz1', user=65534)
        self.assertEqual(p.returncode, 1)
        self.assertIn("permission denied: only root or a zone administrator with the 'login' auth", p.stderr)
        self.assertNotIn('login:', p.stdout)
        # manage is not login
        self.zonecfg('kz1', 'add admin; set user=nobody; set auths=manage; end')
        p = self.zlogin('-C', 'kz1', user=65534)
        self.assertIn("with the 'login' auth", p.stderr)
        self.assertNotIn('login:', p.stdout)
        # login is
        self.zonecfg('kz1', 'select admin user=nobody; set auths=login; end')
        p = self.zlogin('-C', 'kz1', user=65534)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("[Connected to zone 'kz1' console]\nkz1 console login: ", p.stdout)
        # and root connects to the relay itself
        p = self.zlogin('-C', 'kz1')
        self.assertIn('kz1 console login: ', p.stdout)

    def test_console_of_a_zone_that_does_not_run(self):
        self.zonecfg('kz1', 'create; add admin; set user=nobody; set auths=login; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        os.makedirs(os.path.join(self.root, 'run/kzones'), mode=0o700, exist_ok=True)
        p = self.zlogin('-C', 'kz1', user=65534)
        self.assertIn("zlogin: zone 'kz1': not running", p.stderr)

    def test_clone_with_copyfrom_on_the_source(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 * 1024 ** 2)
        self.zonecfg('kz2', 'create -t kz1; add admin; set user=nobody; set auths=manage; end')
        self.wait_for(lambda: 'kz2' in self.zones())
        p = self.zone_call('kz2', 'Clone', 's', 'kz1', check=False, user=65534)
        self.assertIn('Access denied', p.stderr)
        self.assertEqual(self.prop('kz2', 'State'), 'configured')
        self.zonecfg('kz1', 'add admin; set user=nobody; set auths=copyfrom; end')
        self.zone_call('kz2', 'Clone', 's', 'kz1', user=65534)
        self.assertEqual(self.prop('kz2', 'State'), 'installed')

    def test_attach_of_a_migration_with_the_migrate_auth(self):
        # the destination's half of a cold or warm migration by a zone administrator
        # who may migrate the zone, and no more than that
        self.zonecfg('kz1', 'create; add admin; set user=nobody; set auths=migrate; end')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 0)
        self.zone_call('kz1', 'Detach')
        self.wait_for(lambda: self.prop('kz1', 'State') == 'configured')
        for opts in ((0,), (1, 'force-takeover', 'b', True), (2, 'migration', 'b', True, 'force-takeover', 'b', True),
                     (2, 'migration', 'b', True, 'initialize-hostdata', 'b', True)):
            p = self.zone_call('kz1', 'Attach', 'a{sv}', *opts, check=False, user=65534)
            self.assertIn('Access denied', p.stderr, opts)
            self.assertEqual(self.prop('kz1', 'State'), 'configured')
        self.zone_call('kz1', 'Attach', 'a{sv}', 1, 'migration', 'b', True, user=65534)
        self.wait_for(lambda: self.prop('kz1', 'State') == 'installed')


class SpoofedSystemd(BusTest):
    """Signals on systemd's paths count only when systemd sent them: a local user who
    emits them at the restarter changes nothing."""

    def unique_name(self):
        out = self.busctl('--json=short', 'call', DBUS_BUS_NAME, DBUS_PATH, DBUS_IFACE, 'GetNameOwner', 's', self.bus_name).stdout
        return json.loads(out)['data'][0]

    def emit(self, *args):
        self.busctl('emit', '--destination=' + self.unique_name(), *[str(a) for a in args], user=65534)

    def test_fake_active_state_is_ignored(self):
        self.zonecfg('kz1', 'create')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 0)
        unit = path_encode(SYSTEMD_UNIT_PREFIX, 'zone@kz1.service')
        for state in ('active', 'activating', 'deactivating'):
            self.emit(unit, DBUS_PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as',
                      SYSTEMD_UNIT_IFACE, 1, 'ActiveState', 's', state, 0)
        self.emit(SYSTEMD_PATH, SYSTEMD_MANAGER, 'JobRemoved', 'uoss',
                  1, SYSTEMD_JOB_PREFIX + '/1', 'zone@kz1.service', 'done')
        self.emit(SYSTEMD_PATH, SYSTEMD_MANAGER, 'Reloading', 'b', 'false')
        # a round trip after the signals: the restarter has seen them by now
        self.assertEqual(self.zones(), {'kz1': 'installed'})
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        p = self.zoneadm('list', '-cp')
        self.assertIn(':kz1:installed:', p.stdout)
        self.assertIn('ignored', self.daemon_log())


if __name__ == '__main__':
    unittest.main(verbosity=2)
