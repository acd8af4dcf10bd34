# SPDX-License-Identifier: LGPL-2.1-or-later
"""kzones-evacuated and sysadm on a private bus, beside the real restarter (with
fake-systemd and, for a running zone, a stand-in for its QEMU monitor).

What an administrator would notice: maintenance mode is listed as the guide shows
it, survives a restart of the service, is root's, and makes the restarter refuse
boot, attach and incoming migrations with a clear message; 'sysadm evacuate'
reports each zone (a zone without a target or whose migration fails is FAILED, a
zone of another brand SKIPPED) and exits 1; '-l' lists the record or says there is
no active evacuation; bad requests are refused and change nothing."""

import json
import os
import socket
import stat
import subprocess
import time
import unittest
import xml.etree.ElementTree as ET

from bustest import BUILD, SANITIZER_MARKS, members
from kzbus import (EVACUATION_BUS_NAME, EVACUATION_JOB_IFACE, EVACUATION_MANAGER_IFACE, EVACUATION_PATH,
                   RESTARTER_BUS_NAME, RESTARTER_MANAGER_IFACE, RESTARTER_PATH, SYSTEMD_BUS)
from test_migrate_in import Migration

EVAC = (EVACUATION_PATH, EVACUATION_MANAGER_IFACE)


class Evacuation(Migration):
    """The restarter (fake-systemd, kz-migr) with kz1 configured, and kzones-evacuated."""

    def setUp(self):
        super().setUp()
        self.start_evacuated()

    def start_evacuated(self):
        self.evac_log = open(os.path.join(self.tmp, 'evacuated.log'), 'a')
        self.addCleanup(self.evac_log.close)
        self.evac = subprocess.Popen([os.path.join(BUILD, 'services/evacuation/kzones-evacuated')], env=self.env,
                                     stderr=self.evac_log)
        # last-in first-out: the service stops, then its log is read
        self.addCleanup(self.assert_no_evac_sanitizer_report)
        self.addCleanup(self.stop, self.evac)
        self.wait_for(lambda: self.busctl('status', EVACUATION_BUS_NAME, check=False).returncode == 0,
                      what='kzones-evacuated on the bus')

    def assert_no_evac_sanitizer_report(self):
        for mark in SANITIZER_MARKS:
            if mark in self.evac_text():
                self.fail(f'kzones-evacuated: sanitizer report in its log:\n{self.evac_text()}')

    def evac_text(self):
        with open(os.path.join(self.tmp, 'evacuated.log')) as f:
            return f.read()

    def sysadm(self, *args, user=None):
        return self.run_cmd([os.path.join(BUILD, 'cli/sysadm')] + list(args), check=False, user=user)

    def ecall(self, path, iface, method, sig='', *args, check=True, user=None):
        a = ['--json=short', 'call', EVACUATION_BUS_NAME, path, iface, method]
        if sig:
            a += [sig] + [str(x) for x in args]
        p = self.busctl(*a, check=check, user=user)
        if p.returncode == 0 and p.stdout.strip():
            return json.loads(p.stdout)['data']
        return p

    def maintenance_file(self):
        return os.path.join(self.root, 'var/lib/kzones/maintenance')

    def record_file(self):
        return os.path.join(self.root, 'var/lib/kzones/evacuation.json')

    def install(self, zone):
        self.zonecfg(zone, 'create')
        self.wait_for(lambda: zone in self.zones())
        self.zone_call(zone, 'Install', 'a{sv}', 1, 'install-size', 't', 2 * 1024 ** 3)
        self.assertEqual(self.prop(zone, 'State'), 'installed')

    def set_running(self):
        self.qmp.status = 'running'
        self.busctl('call', SYSTEMD_BUS, '/org/kzones/test', 'org.kzones.Test', 'SetActiveState',
                    'ss', 'zone@kz1.service', 'active')
        self.wait_for(lambda: self.prop('kz1', 'State') == 'running', what='kz1 running')


class Interface(Evacuation):

    def test_manager_and_job_match_their_xml(self):
        self.assertEqual(self.members_of(EVACUATION_PATH, EVACUATION_MANAGER_IFACE),
                         self.documented(EVACUATION_MANAGER_IFACE))
        job = self.ecall(*EVAC, 'Evacuate', 'a{sv}', 0)[0]
        self.assertEqual(self.members_of(job, EVACUATION_JOB_IFACE), self.documented(EVACUATION_JOB_IFACE))

    def members_of(self, path, iface):
        p = self.busctl('introspect', '--xml-interface', EVACUATION_BUS_NAME, path)
        return members(ET.fromstring(p.stdout).find(f"interface[@name='{iface}']"))

    def documented(self, iface):
        return members(self.documented_interface(iface))


class Maintain(Evacuation):

    def test_start_list_survives_restart_and_end(self):
        p = self.sysadm('maintain', '-l')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ['TYPE', 'USER', 'DATE', 'MESSAGE'])
        p = self.sysadm('maintain', '-s', '-m', 'Updating system to new release')
        self.assertEqual(p.returncode, 0, p.stderr)
        st = os.stat(self.maintenance_file())
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        lines = self.sysadm('maintain', '-l').stdout.splitlines()
        self.assertEqual(len(lines), 2, lines)
        f = lines[1].split()
        self.assertEqual(f[:2], ['admin', 'root'])
        self.assertRegex(f[2] + ' ' + f[3], r'^\d{4}-\d\d-\d\d \d\d:\d\d$')
        self.assertEqual(' '.join(f[4:]), 'Updating system to new release')
        # the state outlives the service
        self.stop(self.evac)
        self.start_evacuated()
        self.assertTrue(self.get_evac('Maintenance'))
        self.assertEqual(self.get_evac('MaintenanceMessage'), 'Updating system to new release')
        self.assertEqual(self.sysadm('maintain', '-e').returncode, 0)
        self.assertFalse(os.path.exists(self.maintenance_file()))
        self.assertEqual(len(self.sysadm('maintain', '-l').stdout.splitlines()), 1)
        p = self.sysadm('maintain', '-e')
        self.assertEqual(p.returncode, 1)
        self.assertIn('not in maintenance mode', p.stderr)

    def get_evac(self, name):
        p = self.busctl('--json=short', 'get-property', EVACUATION_BUS_NAME, EVACUATION_PATH,
                        EVACUATION_MANAGER_IFACE, name)
        return json.loads(p.stdout)['data']

    def test_only_root_and_clean_messages(self):
        p = self.sysadm('maintain', '-s', '-m', 'mine', user=65534)
        self.assertEqual(p.returncode, 1)
        self.assertIn('permission denied', p.stderr)
        for bad in ('two\nlines', 'esc\x1b[2J', 'x' * 513):
            p = self.ecall(*EVAC, 'StartMaintenance', 's', bad, check=False)
            self.assertNotEqual(p.returncode, 0, repr(bad))
            self.assertIn('one line of at most 512 bytes', p.stderr)
        self.assertFalse(os.path.exists(self.maintenance_file()))

    def test_usage_errors(self):
        for args, what in [(['maintain'], 'one of -s, -e or -l'), (['maintain', '-s', '-e'], 'exclude'),
                           (['maintain', '-e', '-m', 'x'], '-m goes with -s'),
                           (['evacuate', '-n', '-W'], '-n and -W exclude'),
                           (['evacuate', '-l', '-a'], '-l goes alone'), (['evacuate', '-x'], ''),
                           (['evacuate', '-l', '--json=long'], 'pretty or short'), (['evacuate', '--json=short'], '-l'),
                           (['frobnicate'], "unknown subcommand 'frobnicate'")]:
            p = self.sysadm(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(what, p.stderr)
            self.assertIn('usage: sysadm', p.stderr)

    def test_restarter_refuses_boot_attach_and_incoming_while_on(self):
        self.assertEqual(self.sysadm('maintain', '-s', '-m', 'disk swap').returncode, 0)
        # attach of a configured zone
        p = self.zoneadm('-z', 'kz1', 'attach')
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot attach: this host is in maintenance mode (admin, by root since", p.stderr)
        self.assertIn("disk swap); end it with 'sysadm maintain -e'", p.stderr)
        # an incoming migration
        p = self.prepare(check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot migrate in: this host is in maintenance mode", p.stderr)
        self.assertEqual(self.unit_calls(), [])
        # boot of an installed zone
        self.install('kz2')
        p = self.zoneadm('-z', 'kz2', 'boot')
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot boot: this host is in maintenance mode", p.stderr)
        self.assertEqual(self.prop('kz2', 'State'), 'installed')
        # over: the refusals go
        self.assertEqual(self.sysadm('maintain', '-e').returncode, 0)
        p = self.prepare(check=False)
        self.assertNotIn('maintenance', p.stderr if hasattr(p, 'stderr') else '')


class Evacuate(Evacuation):

    def test_no_active_evacuation(self):
        p = self.sysadm('evacuate', '-l')
        self.assertEqual((p.returncode, p.stdout), (0, 'sysadm: no active evacuation\n'))
        p = self.sysadm('evacuate', '-l', '--json=pretty')
        self.assertEqual((p.returncode, json.loads(p.stdout)), (0, []))
        p = self.sysadm('evacuate', '-r')
        self.assertEqual(p.returncode, 1)
        self.assertIn('sysadm: no active evacuation', p.stderr)

    def test_nothing_running_completes(self):
        p = self.sysadm('evacuate', '-v')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('sysadm: preparing 0 zone(s) for evacuation ...', p.stdout)
        self.assertIn('sysadm: evacuation completed successfully.', p.stdout)
        self.assertFalse(os.path.exists(self.record_file()))
        self.assertEqual(self.sysadm('evacuate', '-l').stdout, 'sysadm: no active evacuation\n')

    def test_running_zone_without_target_fails_and_is_listed(self):
        self.set_running()
        p = self.sysadm('evacuate')
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('sysadm: evacuation failed.', p.stderr)
        self.assertIn('sysadm: kz1: evacuation failed: no evacuation target', p.stderr)
        rows = self.sysadm('evacuate', '-l').stdout.splitlines()
        self.assertEqual(rows[0].split(), ['ZONENAME', 'STATE', 'DEST', 'ERROR'])
        self.assertEqual(rows[1].split()[:3], ['kz1', 'FAILED', '-'])
        p = self.sysadm('evacuate', '-l', '--json=short')
        self.assertEqual(json.loads(p.stdout), [{'zone': 'kz1', 'state': 'FAILED', 'destination': None,
                                                 'progress': 0.0, 'error': rows[1].split(None, 3)[3]}])
        with open(self.record_file()) as f:
            rec = json.load(f)
        self.assertEqual([(z['zone'], z['state']) for z in rec['zones']], [('kz1', 'FAILED')])
        self.assertEqual(stat.S_IMODE(os.stat(self.record_file()).st_mode), 0o600)
        self.assertEqual(self.state(), ('running', []))

    def test_unreachable_target_fails_zone_keeps_running_and_rerun_retries(self):
        self.set_running()
        self.busctl('set-property', RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                    'DefaultEvacuationTarget', 's', 'ssh://root@127.0.0.1:1')
        self.zonecfg('ngz', 'create; set brand=solaris')
        self.wait_for(lambda: 'ngz' in self.zones())
        self.busctl('call', SYSTEMD_BUS, '/org/kzones/test', 'org.kzones.Test', 'SetActiveState',
                    'ss', 'zone@ngz.service', 'active')
        self.wait_for(lambda: self.prop('ngz', 'State') == 'running', what='ngz running')
        for attempt in (1, 2):
            p = self.sysadm('evacuate', '-v')
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn('sysadm: initializing migration of kz1 to 127.0.0.1:1 ...', p.stdout)
            self.assertIn('sysadm: migrating kz1 to 127.0.0.1:1 ...', p.stdout)
            self.assertIn('sysadm: kz1: evacuation failed: cannot reach the destination 127.0.0.1 over SSH',
                          p.stderr)
            rows = {r.split()[0]: r.split() for r in self.sysadm('evacuate', '-l').stdout.splitlines()[1:]}
            self.assertEqual(rows['kz1'][1:3], ['FAILED', 'ssh://root@127.0.0.1:1'])
            self.assertEqual(rows['ngz'][1:], ['SKIPPED', '-', 'cannot', 'evacuate', 'solaris-brand', 'zones'])
            self.assertIn('sysadm: ngz: evacuation skipped: cannot evacuate solaris-brand zones', p.stderr)
            self.assertEqual(self.state(), ('running', []))
        self.assertNotIn('migrate', self.qmp.commands)

    def test_list_target_none_reachable_fails_naming_each_host(self):
        """A target written as a list: each host is asked for its room; hosts that
        cannot be reached are left out (-v says so) and, none left, the zone is
        FAILED naming each host's reason, without a migration asked for."""
        self.set_running()
        self.busctl('set-property', RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                    'DefaultEvacuationTarget', 's', 'ssh://root@127.0.0.1:1 ssh://root@127.0.0.1:2')
        for args in (('-v',), ('-n', '-v')):
            p = self.sysadm('evacuate', *args)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            for port in (1, 2):
                self.assertIn(f'sysadm: note: 127.0.0.1:{port} is left out of the placement: cannot be reached: '
                              f'connect to host 127.0.0.1 port {port}: Connection refused\n', p.stdout)
            self.assertIn('sysadm: kz1: ' + ('dry-run' if '-n' in args else 'evacuation') + ' failed: no target '
                          'can take it: 127.0.0.1:1: cannot be reached: connect to host 127.0.0.1 port 1: Connection '
                          'refused; 127.0.0.1:2: cannot be reached: connect to host 127.0.0.1 port 2: Connection '
                          'refused\n', p.stderr)
            self.assertNotIn('migrating kz1', p.stdout)
        rows = self.sysadm('evacuate', '-l').stdout.splitlines()
        self.assertEqual(rows[1].split()[:3], ['kz1', 'FAILED', '-'])
        self.assertEqual(self.state(), ('running', []))
        self.assertNotIn('migrate', self.qmp.commands)

    def test_overwrite_goes_to_the_restarter(self):
        """-W is the restarter's Overwrite: accepted, the migration then fails at the
        unreachable destination and the zone runs on."""
        self.set_running()
        self.busctl('set-property', RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                    'DefaultEvacuationTarget', 's', 'ssh://root@127.0.0.1:1')
        p = self.sysadm('evacuate', '-W')
        self.assertEqual(p.returncode, 1)
        self.assertIn("sysadm: kz1: evacuation failed: ", p.stderr)
        self.assertIn('cannot reach the destination', p.stderr)
        self.assertEqual(self.state(), ('running', []))

    def test_dry_run_touches_no_record(self):
        self.set_running()
        p = self.sysadm('evacuate', '-n')
        self.assertEqual(p.returncode, 1)
        self.assertIn('sysadm: preparing zones for evacuation ... 0/1', p.stdout)
        self.assertIn('sysadm: dry-run failed', p.stderr)
        self.assertFalse(os.path.exists(self.record_file()))

    def test_dry_run_prints_each_zones_estimate(self):
        """-n prints each zone's memory and the least time it takes at the link rate:
        the default (1 Gbit/s), the unit's KZONES_EVACUATION_LINK_RATE, then the rate
        measured by the last migration to that destination; a cold one copies none."""
        self.zonecfg('kz1', 'set capped-memory:physical=2G')
        self.set_running()
        self.install('kz3')
        self.busctl('set-property', RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                    'DefaultEvacuationTarget', 's', 'ssh://root@127.0.0.1:1')
        p = self.sysadm('evacuate', '-n', '-a')
        self.assertEqual(p.returncode, 1, 'the destination cannot be reached: ' + p.stdout + p.stderr)
        self.assertIn('sysadm: plan: kz1 to 127.0.0.1:1: 2G of memory, at least 17.2 s at 125 MB/s (default rate)\n', p.stdout)
        self.assertIn('sysadm: plan: kz3 to 127.0.0.1:1: cold, no memory to copy\n', p.stdout)
        self.assertIn('sysadm: plan: at least 17.2 s for 2 zones one at a time\n', p.stdout)
        self.assertEqual(self.sysadm('evacuate', '-n', '-q').stdout, '', '-q prints no plan')

        self.stop(self.evac)
        self.env['KZONES_EVACUATION_LINK_RATE'] = '1G'
        self.start_evacuated()
        p = self.sysadm('evacuate', '-n')
        self.assertIn('sysadm: plan: kz1 to 127.0.0.1:1: 2G of memory, at least 2.0 s at 1074 MB/s (configured rate)\n', p.stdout)
        self.assertNotIn('kz3', p.stdout, 'without -a the installed zone is not in the plan')

        rates = os.path.join(self.root, 'var/lib/kzones/evacuation-rates.json')
        os.makedirs(os.path.dirname(rates), exist_ok=True)
        with open(rates, 'w') as f:
            json.dump({'ssh://root@127.0.0.1:1': {'rate': 400 * 1000 * 1000, 'time': 0}}, f)
        p = self.sysadm('evacuate', '-n')
        self.assertIn('sysadm: plan: kz1 to 127.0.0.1:1: 2G of memory, at least 5.4 s at 400 MB/s (measured rate)\n', p.stdout)
        self.assertFalse(os.path.exists(self.record_file()))
        # a dry run after a run leaves that run's record alone (-r reads it)
        self.sysadm('evacuate')
        with open(self.record_file()) as f:
            before = f.read()
        self.sysadm('evacuate', '-n')
        with open(self.record_file()) as f:
            self.assertEqual(f.read(), before, 'a dry run rewrote the record')

    def test_bad_requests_refused(self):
        for opts, what in [(('Nonsense', 'b', 1), "unknown option 'Nonsense'"),
                           (('Parallel', 'u', 0), 'Parallel must be 1'),
                           (('All', 's', 'yes'), "option 'All' must be of type b"),
                           (('ReturnUri', 's', 'ftp://x'), 'is not ssh://')]:
            p = self.ecall(*EVAC, 'Evacuate', 'a{sv}', 1, *opts, check=False)
            self.assertNotEqual(p.returncode, 0, opts)
            self.assertIn(what, p.stderr)
        p = self.ecall(*EVAC, 'Evacuate', 'a{sv}', 2, 'DryRun', 'b', 1, 'Overwrite', 'b', 1, check=False)
        self.assertIn('exclude each other', p.stderr)
        p = self.ecall(*EVAC, 'Return', 'a{sv}', 1, 'DryRun', 'b', 1, check=False)
        self.assertIn("unknown option 'DryRun'", p.stderr)
        p = self.sysadm('evacuate', user=65534)
        self.assertEqual(p.returncode, 1)
        self.assertIn('permission denied', p.stderr)
        self.assertFalse(os.path.exists(self.record_file()))

    def test_installed_zones_move_only_with_a(self):
        """Without -a an installed zone stays; with -a it is cold-migrated (here to an
        unreachable host, so it fails and stays installed)."""
        self.install('kz3')
        self.busctl('set-property', RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                    'DefaultEvacuationTarget', 's', 'ssh://root@127.0.0.1:1')
        p = self.sysadm('evacuate')
        self.assertEqual(p.returncode, 0, 'without -a an installed zone stays: ' + p.stderr)
        p = self.sysadm('evacuate', '-a')
        self.assertEqual(p.returncode, 1)
        self.assertIn('sysadm: kz3: evacuation failed:', p.stderr)
        self.assertIn('cannot reach the destination', p.stderr)
        self.assertEqual(self.prop('kz3', 'State'), 'installed')


class Interrupted(Evacuation):
    """A record that says zones were moving when the service died, and a cancel."""

    def job_state(self, job):
        p = self.busctl('--json=short', 'get-property', EVACUATION_BUS_NAME, job, EVACUATION_JOB_IFACE, 'State')
        return json.loads(p.stdout)['data']

    def test_restart_asks_where_each_zone_really_is(self):
        self.set_running()
        self.zonecfg('kz2', 'create')
        self.wait_for(lambda: 'kz2' in self.zones())
        self.stop(self.evac)
        os.makedirs(os.path.dirname(self.record_file()), exist_ok=True)
        with open(self.record_file(), 'w') as f:
            json.dump({'kind': 'evacuate', 'return': 'ssh://here', 'zones': [
                {'zone': 'kz1', 'brand': 'kz', 'state': 'MIGRATING', 'destination': 'ssh://root@127.0.0.1:1',
                 'error': '', 'cold': False},
                {'zone': 'kz2', 'brand': 'kz', 'state': 'MIGRATING', 'destination': 'ssh://root@127.0.0.1:1',
                 'error': '', 'cold': False}]}, f)
        self.start_evacuated()

        def settled():
            rows = self.sysadm('evacuate', '-l').stdout.splitlines()[1:]
            return rows if rows and not any(' MIGRATING ' in r for r in rows) else None
        rows = {r.split()[0]: r for r in self.wait_for_value(settled)}
        # kz1 runs here and no migration of it is at work: it never left
        self.assertIn('FAILED', rows['kz1'])
        self.assertIn('interrupted: the zone runs here', rows['kz1'])
        # kz2 is not here: its destination is asked and cannot answer; it left (the restarter
        # here let it go), so the record keeps it away, saying it is not confirmed
        self.assertIn('EVACUATED', rows['kz2'])
        self.assertIn('not confirmed by ssh://root@127.0.0.1:1: cannot reach the zone on ssh://root@127.0.0.1:1',
                      rows['kz2'])
        self.assertIn('the last evacuation was interrupted', self.evac_text())
        self.assertEqual(self.state(), ('running', []))

    def wait_for_value(self, f, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = f()
            if v:
                return v
            time.sleep(0.1)
        self.fail(f'timed out\n{self.evac_text()}')

    def test_cancel_leaves_the_zone_running_here(self):
        # a "host" that takes the connection and never says a word: the migration hangs
        silent = socket.socket()
        silent.bind(('127.0.0.1', 0))
        silent.listen(4)
        self.addCleanup(silent.close)
        self.set_running()
        self.busctl('set-property', RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                    'DefaultEvacuationTarget', 's',
                    f'ssh://root@127.0.0.1:{silent.getsockname()[1]}')
        job = self.ecall(*EVAC, 'Evacuate', 'a{sv}', 0)[0]
        self.wait_for(lambda: 'MIGRATING' in self.busctl('get-property', EVACUATION_BUS_NAME, job,
                                                         EVACUATION_JOB_IFACE, 'Zones').stdout)
        p = self.ecall(*EVAC, 'Evacuate', 'a{sv}', 0, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('an evacuation is at work already', p.stderr)
        # sysadm waits for the job at work, then runs its own: here it is interrupted first
        waiter = subprocess.Popen([os.path.join(BUILD, 'cli/sysadm'), 'evacuate'], env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.stop, waiter)
        self.wait_for(lambda: 'Cancel' not in self.evac_text() and waiter.poll() is None, timeout=2)
        time.sleep(0.5)
        waiter.send_signal(2)
        out, err = waiter.communicate(timeout=10)
        self.assertIn('sysadm: waiting for the evacuation at work (' + job + ') to end ...', err)
        self.assertEqual(self.job_state(job), 'running', "Ctrl-C while waiting leaves the other job alone")
        # a waiter that is not interrupted starts its own evacuation once the first ended
        waiter = subprocess.Popen([os.path.join(BUILD, 'cli/sysadm'), 'evacuate'], env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.stop, waiter)
        time.sleep(0.5)
        self.busctl('set-property', RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                    'DefaultEvacuationTarget', 's', 'ssh://root@127.0.0.1:1')
        self.ecall(job, EVACUATION_JOB_IFACE, 'Cancel')
        self.wait_for(lambda: self.job_state(job) != 'running', timeout=30, what='the evacuation to end')
        self.assertEqual(self.job_state(job), 'cancelled')
        p = self.busctl('--json=short', 'get-property', EVACUATION_BUS_NAME, job, EVACUATION_JOB_IFACE, 'Zones')
        self.assertEqual(json.loads(p.stdout)['data'][0][:2], ['kz1', 'CANCELLED'])
        out, err = waiter.communicate(timeout=30)
        self.assertEqual(waiter.returncode, 1, out + err)
        self.assertIn('sysadm: waiting for the evacuation at work', err)
        self.assertIn('sysadm: kz1: evacuation failed: cannot reach the destination 127.0.0.1 over SSH', err)
        rows = self.sysadm('evacuate', '-l').stdout.splitlines()
        self.assertEqual(rows[1].split()[:2], ['kz1', 'FAILED'], 'the record is the last run\'s')
        self.assertEqual(self.state(), ('running', []))
        self.assertNotIn('migrate', self.qmp.commands)


if __name__ == '__main__':
    unittest.main()
