#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory reservation pools on a private bus, in a scratch root.

What this tier can honestly show: the interface matches the XML that documents it,
the pools' unit configuration (drop-ins) is read and checked as memory-reserve(8)
says, bad configurations are refused with the guide's messages by the pool service
itself before it touches the kernel, mrpstat prints what the bus says, CanHost
answers for a pool that is not reserved, and the generator gives zones the
dependency on their pool. Reserving needs real huge pages and hugetlbfs mounts:
that is the lab's (tests/lab/test_memory_reserve.py)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from bustest import BUILD, SOURCE, PrivateBusTest, members, path_encode
from kzbus import (MEMORY_RESERVE_BUS_NAME, MEMORY_RESERVE_MANAGER_IFACE, MEMORY_RESERVE_PATH,
                   MEMORY_RESERVE_POOL_IFACE, MEMORY_RESERVE_POOL_PREFIX)

SERVICE = MEMORY_RESERVE_BUS_NAME
MANAGER = (MEMORY_RESERVE_PATH, MEMORY_RESERVE_MANAGER_IFACE)
POOL_IFACE = MEMORY_RESERVE_POOL_IFACE
UNSUPPORTED = 'Invalid service configuration: unsupported page size in config/pagesize.'
KEEPER = os.path.join(BUILD, 'services/memory-reserve/kzones-memory-reserve')


def pool_path(name):
    return path_encode(MEMORY_RESERVE_POOL_PREFIX, name)


class PoolBus(PrivateBusTest):
    """kzones-memory-reserved on a private bus."""

    daemon_path = 'services/memory-reserve/kzones-memory-reserved'
    bus_name = SERVICE

    def call(self, method, sig='', *args, check=True):
        return super().call(MANAGER[0], MANAGER[1], method, sig, *args, check=check)

    def prop(self, pool, name):
        return self.get_property(pool_path(pool), POOL_IFACE, name)

    def dropin(self, unit_dir, name, text, base='etc/systemd/system'):
        d = os.path.join(self.root, base, unit_dir)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), 'w') as f:
            f.write(text)

    def pools(self):
        return {p[0]: p[1:] for p in self.call('ListPools')[0]}


class Interface(PoolBus):

    def test_manager_matches_its_xml(self):
        self.assertEqual(members(self.live_interface(*MANAGER)), members(self.documented_interface(MANAGER[1])))

    def test_pool_matches_its_xml(self):
        self.assertEqual(members(self.live_interface(pool_path('zones'), POOL_IFACE)), members(self.documented_interface(POOL_IFACE)))


class Configuration(PoolBus):

    def test_the_default_pool_exists_disabled(self):
        self.assertEqual(self.pools(), {'zones': ['disabled', 0, 0, 0, 0, pool_path('zones')]})
        self.assertEqual(self.prop('zones', 'Unit'), 'memory-reserve@zones.service')
        self.assertEqual(self.prop('zones', 'ConfigurationError'),
                         'Invalid service configuration: config/size is not set.')
        self.assertEqual(self.prop('zones', 'Zones'), [])

    def test_drop_ins_are_the_configuration(self):
        # every pool gets the template's drop-in; db's own drop-in overrides its size
        self.dropin('memory-reserve@.service.d', '10-all.conf',
                    '[X-Kzones]\nSize=1G\nPageSizePolicy=fixed\nPageSize=2M\n', base='usr/lib/systemd/system')
        self.dropin('memory-reserve@db.service.d', '20-db.conf', '[X-Kzones]\nSize=4G\nLGroups=0-1,3\n')
        self.assertEqual(sorted(self.pools()), ['db', 'zones'])
        self.assertEqual(self.prop('db', 'Size'), 4 << 30)
        self.assertEqual(self.prop('db', 'PageSizePolicy'), 'fixed')
        self.assertEqual(self.prop('db', 'ConfiguredPageSize'), 2 << 20)
        self.assertEqual(self.prop('db', 'LGroups'), [0, 1, 3])
        self.assertEqual(self.prop('db', 'Type'), 'kz')
        self.assertEqual(self.prop('zones', 'Size'), 1 << 30)
        # a fixed 2M page size is fine where the kernel has 2M pages; elsewhere the pool says why not
        if os.path.isdir('/sys/kernel/mm/hugepages/hugepages-2048kB'):
            self.assertEqual(self.prop('db', 'ConfigurationError'), '')
        else:
            self.assertNotEqual(self.prop('db', 'ConfigurationError'), '')

    def test_an_enabled_pool_is_known(self):
        self.dropin('sysinit.target.wants', 'memory-reserve@web.service', '')
        self.assertIn('web', self.pools())

    def test_unsupported_page_size_has_the_guides_message(self):
        self.dropin('memory-reserve@odd.service.d', '50.conf', '[X-Kzones]\nSize=512M\nPageSize=4M\n')
        self.assertEqual(self.prop('odd', 'ConfigurationError'), UNSUPPORTED)

    def test_unknown_and_invalid_pools(self):
        p = self.call('GetPool', 's', 'nosuch', check=False)
        self.assertIn("No such memory reservation pool: 'nosuch'", p.stderr)
        p = self.call('GetPool', 's', '../etc', check=False)
        self.assertIn("'../etc' is not a valid memory reservation pool name", p.stderr)
        self.assertEqual(self.call('GetPool', 's', 'zones'), [pool_path('zones')])

    def test_can_host_says_why_not(self):
        self.assertEqual(self.call('CanHost', 'stt', 'zones', 2 << 20, 256 << 20),
                         [False, "memory reservation pool 'zones' is not reserved on this host"])
        p = self.call('CanHost', 'stt', 'a b', 0, 1, check=False)
        self.assertIn("'a b' is not a valid memory reservation pool name", p.stderr)


class Keeper(PoolBus):
    """The pool service refuses a configuration before it touches the kernel."""

    def keeper(self, *args):
        return self.run_cmd([KEEPER] + list(args), check=False)

    def test_unsupported_page_size_fails_the_unit(self):
        self.dropin('memory-reserve@odd.service.d', '50.conf', '[X-Kzones]\nSize=512M\nPageSizePolicy=fixed\nPageSize=1M\n')
        p = self.keeper('start', 'odd')
        self.assertEqual(p.returncode, 78)    # RestartPreventExitStatus: not retried
        # one line, the guide's (with the journal's priority prefix)
        self.assertEqual(p.stderr.strip().splitlines(), ['<3>' + UNSUPPORTED])
        self.assertEqual(self.prop('odd', 'State'), 'maintenance')
        self.assertEqual(self.prop('odd', 'StatusText'), UNSUPPORTED)
        self.assertEqual(self.prop('odd', 'TotalMemory'), 0)
        with open('/proc/self/mountinfo') as f:
            self.assertNotIn(self.root, f.read())

    def test_no_configuration_fails_the_unit(self):
        p = self.keeper('start', 'zones')
        self.assertEqual(p.returncode, 78)
        self.assertEqual(p.stderr.strip(), '<3>Invalid service configuration: config/size is not set.')
        self.assertEqual(self.pools()['zones'][0], 'maintenance')

    def test_bad_names_and_usage(self):
        self.assertEqual(self.keeper('start', '../../x').returncode, 78)
        self.assertEqual(self.keeper('frobnicate', 'zones').returncode, 2)


class Mrpstat(PoolBus):

    def mrpstat(self, *args):
        return self.run_cmd([os.path.join(BUILD, 'cli/mrpstat')] + list(args), check=False)

    def test_table_and_parsable(self):
        self.dropin('memory-reserve@db.service.d', '50.conf', '[X-Kzones]\nSize=1G\n')
        p = self.mrpstat()
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ['POOL', 'TOTAL_MEM', 'USED_MEM', 'FREE_MEM', 'PAGESIZE', 'STATE'])
        self.assertEqual([l.split() for l in lines[1:]],
                         [['db', '0', '0', '0', '-', 'disabled'], ['zones', '0', '0', '0', '-', 'disabled']])
        p = self.mrpstat('-p', 'zones')
        self.assertEqual(p.stdout, 'zones:0:0:0:0:disabled:\n')

    def test_json(self):
        self.dropin('memory-reserve@db.service.d', '50.conf', '[X-Kzones]\nSize=1G\n')
        p = self.mrpstat('--json=short')
        self.assertEqual((p.returncode, p.stderr, p.stdout.count('\n')), (0, '', 1))
        pools = json.loads(p.stdout)
        self.assertEqual(pools, [
            {'name': 'db', 'total': 0, 'used': 0, 'free': 0, 'page_size': None, 'state': 'disabled', 'zones': []},
            {'name': 'zones', 'total': 0, 'used': 0, 'free': 0, 'page_size': None, 'state': 'disabled', 'zones': []},
        ])
        p = self.mrpstat('--json=pretty', 'zones')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreater(p.stdout.count('\n'), 5)
        self.assertEqual(json.loads(p.stdout), pools[1:])

    def test_unknown_pool(self):
        p = self.mrpstat('nosuch')
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "mrpstat: pool 'nosuch': No such memory reservation pool\n")


    def test_usage_errors(self):
        # one line saying what is wrong, then the short usage; exit 2
        for args, message in ((['-x'], 'mrpstat: unknown option -x'),
                              (['--frob'], "mrpstat: unknown option '--frob'"),
                              (['--json=yaml'], "mrpstat: --json takes pretty, short or off, not 'yaml'"),
                              (['-p', '--json=short'], 'mrpstat: -p and --json choose different layouts')):
            p = self.mrpstat(*args)
            self.assertEqual(p.returncode, 2, args)
            lines = p.stderr.splitlines()
            self.assertTrue(lines[0].startswith(message), p.stderr)
            self.assertEqual(lines[1:], ['usage: mrpstat [-p | --json=pretty|short] [POOL...]',
                                         "Try 'mrpstat --help' for more."])
            self.assertEqual(p.stdout, '')


class Generator(unittest.TestCase):
    """Zones with a pool want and follow its unit."""

    def test_drop_in_for_zones_with_a_pool(self):
        tmp = tempfile.mkdtemp(prefix='kzones-mrp-gen-')
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        root, out = os.path.join(tmp, 'root'), os.path.join(tmp, 'generator')
        os.makedirs(root)
        os.makedirs(out)
        env = dict(os.environ, KZONES_ROOT=root, KZONES_DATA_DIR=os.path.join(SOURCE, 'templates'))
        zonecfg = os.path.join(BUILD, 'cli/zonecfg')
        subprocess.run([zonecfg, '-R', root, '-z', 'kz1',
                        'create; select capped-memory; clear pagesize-policy; set memory-reserve=zones; end'],
                       env=env, check=True, capture_output=True)
        subprocess.run([zonecfg, '-R', root, '-z', 'kz2', 'create'], env=env, check=True, capture_output=True)
        p = subprocess.run([os.path.join(BUILD, 'services/memory-reserve/kzones-memory-reserve-generator'),
                            out, out, out], env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, 'zone@kz1.service.d/50-memory-reserve.conf')) as f:
            text = f.read()
        self.assertIn('[Unit]\nWants=memory-reserve@zones.service\nAfter=memory-reserve@zones.service\n', text)
        self.assertRegex(text, r'\n\[Service\]\n(#.*\n)*ExecStopPost=-\+/\S+/kzones/kzones-memory-reserve release-unused zones\n')
        self.assertFalse(os.path.exists(os.path.join(out, 'zone@kz2.service.d')))


if __name__ == '__main__':
    unittest.main(verbosity=2)
