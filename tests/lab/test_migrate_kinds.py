#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Migration kinds other than live, and what every kind checks first, between two
real hosts that share the zone's storage (NBD) and a directory for its suspend
image (/srv/shared): a zone on local storage is refused before anything moves
with the guide's message; a dry run of a cold migration changes nothing on either
host; a vCPU difference from the destination's own configuration stops a live
migration before anything moves, with the difference named, and the guest beats
on, and so does a destination whose zones run under another accelerator; a warm migration of a suspended zone imports its configuration (key and UUID
included) onto a host that had none, and 'zoneadm boot' there resumes the same
guest (same boot id, counter going on); a cold migration back uses the
configuration the host has, and the host data follows the zone."""

import labtest

ZONE = 'kzk'
IMAGE = '/srv/shared/kzk.suspend'


class MigrationKinds(labtest.LabTestCase, labtest.ZoneHelpers):
    hosts = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        labtest.lab('exec', 'host1', 'zonecfg', '-z', ZONE,
                    'create -t SYSkz-minimal; set capped-memory:physical=256M; '
                    'select device id=0; set storage=nbd://storage:10809/disk3; end; '
                    f'add suspend; set path={IMAGE}; end; '
                    f'add boot; set kernel={labtest.GUEST}; set cmdline="dirty=4M rate=64 interval=200"; end',
                    check=True)
        for h in ('host1', 'host2'):
            labtest.lab('exec', h, 'systemctl', 'start', 'kz-migr.socket', check=True)
        labtest.lab('exec', 'host1', 'zoneadm', '-z', ZONE, 'install', check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.halt_zones(('host1', ZONE), ('host2', ZONE))
            for h in ('host1', 'host2'):
                labtest.lab('exec', h, 'systemctl', 'stop', 'kz-migr.socket', 'kz-migr.service', timeout=60)
                labtest.lab('exec', h, 'rm', '-f', IMAGE, timeout=60)
        finally:
            super().tearDownClass()

    def migrate(self, host, *args):
        return self.migrate_zone(host, ZONE, *args)

    def migrate_zone(self, host, zone, *args):
        return self.zoneadm_on(host, zone, 'migrate', *args, check=False)

    def test_0_local_storage_is_refused_before_anything_moves(self):
        self.exec('host1', 'zonecfg', '-z', 'kzl', 'create -t SYSkz-minimal; set capped-memory:physical=256M')
        try:
            self.zoneadm_on('host1', 'kzl', 'install', '-x', 'install-size=64M')
            r = self.migrate_zone('host1', 'kzl', 'ssh://root@host2')
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn('configuration check failed: The storage property file:///var/lib/zones/kzl/disk0.img '
                          'is not a shared storage URI.', r.stderr)
            self.assertEqual(self.zone_state('host1', 'kzl')[0], 'installed')
            self.assertEqual(self.zone_state('host2', 'kzl'), (None, None))
        finally:
            self.zoneadm_on('host1', 'kzl', 'uninstall', '-F', check=False)
            self.exec('host1', 'zonecfg', '-z', 'kzl', 'delete -F', check=False)

    def test_1_cold_dry_run_changes_nothing(self):
        r = self.migrate('host1', '-n', 'ssh://root@host2')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('Checking migration compatibility.', r.stdout)
        self.assertIn('Dry-run migration successful.', r.stdout)
        self.assertEqual(self.zone_state('host2', ZONE), (None, None), 'nothing configured on host2')
        self.assertEqual(self.zone_state('host1', ZONE)[0], 'installed')

    def test_2_vcpu_mismatch_stops_a_live_migration_before_anything_moves(self):
        self.zoneadm_on('host1', ZONE, 'boot')
        self.wait_beats('host1', ZONE, 3)
        export = self.exec('host1', 'zonecfg', '-z', ZONE, 'export').stdout
        self.exec('host2', 'zonecfg', '-z', ZONE, '-f', '-', input=export)
        self.exec('host2', 'zonecfg', '-z', ZONE, 'set virtual-cpu:ncpus=2')
        try:
            r = self.migrate('host1', 'ssh://root@host2')
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn('configuration check failed: virtual-cpu:ncpus is 1 on the source, 2 on the destination',
                          r.stderr)
            self.assertNotIn("Booting zone in 'migrating-in' mode.", r.stdout)
            self.assertEqual(self.zone_state('host1', ZONE)[0], 'running')
            self.assertEqual(self.zone_state('host2', ZONE)[0], 'configured')
            n = len(self.heartbeats('host1', ZONE))
            self.wait_beats('host1', ZONE, n + 2)
        finally:
            self.exec('host2', 'zonecfg', '-z', ZONE, 'delete -F')

    def test_2b_a_destination_with_another_accelerator_is_refused_before_anything_moves(self):
        """host2 runs its zones under QEMU's emulator (Accelerator=tcg in
        kzones.conf): a running guest cannot move there from KVM."""
        if self.zone_state('host1', ZONE)[0] != 'running':
            self.zoneadm_on('host1', ZONE, 'boot')
        self.wait_beats('host1', ZONE, 3)
        labtest.use_accelerator('host2', 'tcg')
        try:
            r = self.migrate('host1', 'ssh://root@host2')
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn('configuration check failed: the zone runs with kvm here and the destination runs zones '
                          'with tcg (Accelerator= in /etc/kzones/kzones.conf): a running guest cannot move between '
                          'them.', r.stderr)
            self.assertNotIn("Booting zone in 'migrating-in' mode.", r.stdout)
            self.assertEqual(self.zone_state('host1', ZONE)[0], 'running')
            self.assertEqual(self.zone_state('host2', ZONE), (None, None), 'nothing configured on host2')
            n = len(self.heartbeats('host1', ZONE))
            self.wait_beats('host1', ZONE, n + 2)
        finally:
            labtest.use_accelerator('host2', 'kvm')

    def test_3_warm_migration_imports_the_configuration_and_boot_resumes(self):
        if self.zone_state('host1', ZONE)[0] != 'running':
            self.zoneadm_on('host1', ZONE, 'boot')
        boot, n = self.wait_beats('host1', ZONE, 3)
        self.zoneadm_on('host1', ZONE, 'suspend')
        self.assertEqual(self.zone_state('host1', ZONE), ('installed', 'suspended'))
        _, n = self.heartbeats('host1', ZONE)[-1]
        r = self.migrate('host1', 'ssh://root@host2')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for step in ('Checking migration compatibility.', 'Importing zone configuration on destination.',
                     'Detaching zone on source host.', 'Attaching zone.', 'Migration successful.'):
            self.assertIn(step, r.stdout)
        state, aux = self.zone_state('host1', ZONE)
        self.assertEqual(state, 'configured')
        self.assertNotIn('suspended', aux, 'its suspended state went with it')
        self.assertEqual(self.zone_state('host2', ZONE), ('installed', 'suspended'))
        # the same configuration, key included
        self.assertEqual(self.exec('host2', 'zonecfg', '-z', ZONE, 'export').stdout,
                         self.exec('host1', 'zonecfg', '-z', ZONE, 'export').stdout)
        self.zoneadm_on('host2', ZONE, 'boot')
        b, m = self.wait_beats('host2', ZONE, 2, boot=boot)
        self.assertEqual(b, boot, 'resumed, not booted afresh')
        self.assertGreater(m, n)

    def test_4_cold_migration_uses_the_existing_configuration(self):
        self.zoneadm_on('host2', ZONE, 'halt')
        boot = self.heartbeats('host2', ZONE)[-1][0]
        r = self.migrate('host2', 'ssh://root@host1')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('Using existing zone configuration on destination.', r.stdout)
        self.assertIn('Migration successful.', r.stdout)
        self.assertEqual(self.zone_state('host1', ZONE)[0], 'installed')
        self.assertEqual(self.zone_state('host2', ZONE)[0], 'configured')
        # the host data names host1 now: host2 cannot take the zone back by itself
        r = self.zoneadm_on('host2', ZONE, 'attach', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('is in use by host', r.stderr)
        self.zoneadm_on('host1', ZONE, 'boot')
        self.wait_for(lambda: [h for h in self.heartbeats('host1', ZONE) if h[0] != boot], timeout=90,
                      msg='heartbeats of a fresh boot on host1 (a cold migration boots afresh)')


if __name__ == '__main__':
    labtest.main()
