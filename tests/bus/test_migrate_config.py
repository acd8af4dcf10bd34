# SPDX-License-Identifier: LGPL-2.1-or-later
"""The destination of a migration before anything moves, on a private bus: the
restarter's Manager.CheckIncoming (what would stop the zone from migrating here:
a vCPU or memory difference from the configuration here, another key, an
unreachable suspend image, the zone installed here), ImportZone (the source's
configuration written here with its key and UUID, an existing one replaced only
when asked) and ForgetIncoming (only the configuration the import wrote goes);
all refused to anyone but root. And on the source: which kind of migration a
zone's state picks, and what zoneadm migrate refuses."""

import os
import subprocess
import unittest

from bustest import BUILD, MANAGER, BusTest

UUID = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0'
NOBODY = 65534


class Destination(BusTest):

    def setUp(self):
        super().setUp()
        # the source's store: another root, as on another host
        self.source_root = os.path.join(self.tmp, 'source')
        os.mkdir(self.source_root)

    def source_config(self, *cmds):
        """kz1 as the source configures it (a fresh key with 'create'), in the store's XML."""
        self.run_cmd([os.path.join(BUILD, 'cli/zonecfg'), '-R', self.source_root, '-z', 'kz1'] + list(cmds))
        with open(os.path.join(self.source_root, 'etc/zones/kz1.xml')) as f:
            return f.read()

    def export(self, root):
        return self.run_cmd([os.path.join(BUILD, 'cli/zonecfg'), '-R', root, '-z', 'kz1', 'export']).stdout

    def check(self, xml, kind='live', overwrite=False, user=None, check=True):
        return self.call(*MANAGER, 'CheckIncoming', 'ssa{sv}', 'kz1', xml, 2, 'Kind', 's', kind,
                         'Overwrite', 'b', str(overwrite).lower(), user=user, check=check)

    def import_zone(self, xml, overwrite=False, uuid=UUID, user=None, check=True):
        return self.call(*MANAGER, 'ImportZone', 'ssa{sv}', 'kz1', xml, 2, 'Overwrite', 'b', str(overwrite).lower(),
                         'Uuid', 's', uuid, user=user, check=check)

    def index_uuid(self):
        with open(os.path.join(self.root, 'etc/zones/index')) as f:
            for line in f:
                if line.startswith('kz1:'):
                    return line.strip().split(':')[3]
        return None

    def test_import_writes_the_source_configuration_with_its_key_and_uuid(self):
        xml = self.source_config('create -t SYSkz-minimal; set virtual-cpu:ncpus=2; commit')
        self.assertEqual(self.check(xml), [False, []], 'not configured here, nothing in the way')
        self.import_zone(xml)
        path = os.path.join(self.root, 'etc/zones/kz1.xml')
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, 'it holds the key: root only')
        self.assertEqual(self.export(self.root), self.export(self.source_root), 'the same zone, key included')
        self.assertIn('keysource', self.export(self.root))
        self.assertEqual(self.index_uuid(), UUID)
        self.wait_for(lambda: self.zones().get('kz1') == 'configured', what='kz1 configured here')
        self.assertEqual(self.check(xml), [True, []], 'configured now, and the same')

    def test_an_existing_configuration_is_replaced_only_with_overwrite(self):
        self.zonecfg('kz1', 'create -t SYSkz-minimal; commit')
        mine = self.export(self.root)
        xml = self.source_config('create -t SYSkz-minimal; set virtual-cpu:ncpus=2; commit')
        p = self.import_zone(xml, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('configured here already; Overwrite replaces', p.stderr)
        self.assertEqual(self.export(self.root), mine, 'left as it was')
        self.import_zone(xml, overwrite=True)
        self.assertEqual(self.export(self.root), self.export(self.source_root))
        # "" keeps the configuration and only takes the UUID
        self.import_zone('', uuid='1f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0')
        self.assertEqual(self.index_uuid(), '1f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0')
        self.assertEqual(self.export(self.root), self.export(self.source_root))

    def test_vcpu_memory_and_key_differences_are_named(self):
        self.zonecfg('kz1', 'create -t SYSkz-minimal; set virtual-cpu:ncpus=1; commit')
        xml = self.source_config('create -t SYSkz-minimal; set virtual-cpu:ncpus=2; '
                                 'set capped-memory:physical=4G; commit')
        configured, problems = self.check(xml)
        self.assertTrue(configured)
        self.assertIn('virtual-cpu:ncpus is 2 on the source, 1 on the destination', problems)
        self.assertIn('capped-memory:physical is 4G on the source, 2G on the destination', problems)
        self.assertTrue(any('keysource' in p for p in problems), problems)
        # cold: the zone boots afresh, only the key matters; -w: ours replaces theirs
        self.assertEqual([p for p in self.check(xml, kind='cold')[1] if 'ncpus' in p], [])
        self.assertTrue(any('keysource' in p for p in self.check(xml, kind='cold')[1]))
        self.assertEqual(self.check(xml, overwrite=True), [True, []])

    def test_warm_needs_the_suspend_image_reachable_here(self):
        # the path is the same on both hosts; this host's is under its root
        image = '/srv/shared/kz1.suspend'
        xml = self.source_config(f'create -t SYSkz-minimal; add suspend; set path={image}; end; commit')
        problems = self.check(xml, kind='warm')[1]
        self.assertEqual(len(problems), 1, problems)
        self.assertIn('is not reachable from the destination', problems[0])
        os.makedirs(os.path.join(self.root, 'srv/shared'))
        with open(os.path.join(self.root, 'srv/shared/kz1.suspend'), 'w') as f:
            f.write('sealed image')
        self.assertEqual(self.check(xml, kind='warm'), [False, []])

    def test_an_installed_zone_here_takes_no_migration(self):
        self.zonecfg('kz1', 'create -t SYSkz-minimal; '
                     f'select device id=0; set storage=file://{self.tmp}/kz1-disk.img; end; commit')
        self.wait_for(lambda: 'kz1' in self.zones())
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 << 20)
        xml = self.export_xml()
        problems = self.check(xml)[1]
        self.assertIn("zone 'kz1' is installed on the destination", problems[0])
        p = self.import_zone(xml, overwrite=True, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('is installed here', p.stderr)

    def export_xml(self):
        with open(os.path.join(self.root, 'etc/zones/kz1.xml')) as f:
            return f.read()

    def test_forget_removes_only_the_imported_configuration(self):
        xml = self.source_config('create -t SYSkz-minimal; commit')
        self.import_zone(xml)
        p = self.call(*MANAGER, 'ForgetIncoming', 'ss', 'kz1', '1f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0', check=False)
        self.assertIn('not the one the migration imported', p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.root, 'etc/zones/kz1.xml')))
        self.call(*MANAGER, 'ForgetIncoming', 'ss', 'kz1', UUID)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/kz1.xml')))
        self.wait_for(lambda: 'kz1' not in self.zones(), what='kz1 gone')
        self.call(*MANAGER, 'ForgetIncoming', 'ss', 'kz1', UUID)  # gone already: no error

    def test_bad_configurations_refused(self):
        xml = self.source_config('create -t SYSkz-minimal; commit')
        for bad, what in [(xml.replace('<zone ', '<zone zonename="kz2" ', 1) if 'zonename=' not in xml
                           else xml.replace('zonename="kz1"', 'zonename="kz2"'), "not 'kz1'"),
                          ('<zone', 'configuration failed'),
                          (xml.replace('ncpus="1"', 'ncpus="0"'), 'configuration failed')]:
            for method in ('CheckIncoming', 'ImportZone'):
                p = self.call(*MANAGER, method, 'ssa{sv}', 'kz1', bad, 0, check=False)
                self.assertNotEqual(p.returncode, 0, (method, what))
                self.assertIn(what, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/kz1.xml')))

    def test_only_root_configures_a_migration(self):
        xml = self.source_config('create -t SYSkz-minimal; commit')
        for p in (self.check(xml, user=NOBODY, check=False), self.import_zone(xml, user=NOBODY, check=False),
                  self.call(*MANAGER, 'ForgetIncoming', 'ss', 'kz1', UUID, user=NOBODY, check=False)):
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('Access denied', p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/kz1.xml')))


class Source(BusTest):
    """The kind of migration the zone's state picks, on the source."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create -t SYSkz-minimal; '
                     f'select device id=0; set storage=file://{self.tmp}/kz1-disk.img; end; commit')
        self.wait_for(lambda: 'kz1' in self.zones())

    def test_live_refuses_a_zone_that_does_not_run(self):
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 << 20)
        p = self.zoneadm('-z', 'kz1', 'migrate', '-t', 'live', 'ssh://root@127.0.0.1:1')
        self.assertEqual(p.returncode, 1)
        self.assertIn('a live migration (-t live) moves only a running zone: no migration takes place', p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')

    def test_cold_migration_checks_first_and_leaves_the_zone_when_the_destination_is_unreachable(self):
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 << 20)
        p = self.zoneadm('-z', 'kz1', 'migrate', 'ssh://root@127.0.0.1:1')
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('cannot reach the destination 127.0.0.1 over SSH', p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'installed')
        jobs = self.call(*MANAGER, 'ListJobs')[0]
        self.assertEqual([(j[2], j[3]) for j in jobs if j[1] == 'kz1'][-1], ('migrate', 'failed'))

    def test_configured_zone_does_not_migrate(self):
        p = self.zoneadm('-z', 'kz1', 'migrate', 'ssh://root@127.0.0.1:1')
        self.assertEqual(p.returncode, 1)
        self.assertIn('it must be running to migrate it live, or installed to migrate it cold', p.stderr)

    def test_warm_attach_without_a_suspend_image_is_refused_and_leaves_nothing(self):
        # the destination of a warm migration: the host data records no image here
        self.zonecfg('kz1', 'add suspend; set path=/srv/kz1.suspend; end; commit')
        self.zone_call('kz1', 'Install', 'a{sv}', 1, 'install-size', 't', 64 << 20)
        self.zone_call('kz1', 'Detach')
        self.assertEqual(self.prop('kz1', 'State'), 'configured')
        p = self.zone_call('kz1', 'Attach', 'a{sv}', 1, 'resume-suspended', 'b', 'true', check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("the zone's host data records no suspend image", p.stderr)
        self.assertEqual(self.prop('kz1', 'State'), 'configured')
        self.assertEqual(self.prop('kz1', 'AuxiliaryStates'), [])
        self.assertFalse(os.path.exists(os.path.join(self.root, 'var/lib/kzones/kz1.suspended')))
        # and it is not an option for an installed zone (unlike force-takeover)
        self.zone_call('kz1', 'Attach', 'a{sv}', 0)
        p = self.zone_call('kz1', 'Attach', 'a{sv}', 1, 'resume-suspended', 'b', 'true', check=False)
        self.assertIn('only a configured (detached) or unavailable zone can be attached', p.stderr)

    def test_dry_run_and_overwrite_exclude_each_other(self):
        p = self.zoneadm('-z', 'kz1', 'migrate', '-n', '-w', 'host2')
        self.assertEqual(p.returncode, 2)
        self.assertIn('-n and -w exclude each other', p.stderr)
        p = self.zone_call('kz1', 'Migrate', 'sa{sv}', 'host2', 2, 'DryRun', 'b', 'true', 'Overwrite', 'b', 'true',
                           check=False)
        self.assertIn('DryRun and Overwrite exclude each other', p.stderr)
        p = self.zone_call('kz1', 'Migrate', 'sa{sv}', 'host2', 1, 'Type', 's', 'warm', check=False)
        self.assertIn('Type is auto or live', p.stderr)


if __name__ == '__main__':
    unittest.main()
