#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad input to zonecfg: one clear message, a non-zero exit, and the stored
configuration byte for byte as it was."""

import os
import stat
import unittest

from kztest import ZoneTest


class BadInput(ZoneTest):

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create -t SYSkz;set capped-memory:physical=8G')
        self.before = self.stored('kz1')

    def unchanged(self):
        self.assertEqual(self.stored('kz1'), self.before)
        leftovers = [f for f in os.listdir(os.path.join(self.root, 'etc/zones')) if f.endswith('.tmp')]
        self.assertEqual(leftovers, [])

    def refused(self, command, message):
        p = self.zonecfg('kz1', command, check=False)
        self.assertRefused(p, message)
        self.unchanged()
        return p

    def test_unknown_resource(self):
        self.refused('add cdrom;end', 'unknown resource type: cdrom')

    def test_unknown_property(self):
        self.refused('set physical=8G', 'unknown property: physical')
        self.refused('select capped-memory;set phisical=8G;end', 'capped-memory has no property phisical')

    def test_bad_values(self):
        self.refused('set capped-memory:physical=3T', 'physical value is too large. It must be at most 2T.')
        self.refused('set capped-memory:physical=eight', '"eight" is not a valid physical')
        self.refused('set autoboot=yes', '"yes" is not a valid autoboot value: use true or false.')
        self.refused('set capped-memory:pagesize-policy=biggest', '"biggest" is not a valid pagesize-policy name.')
        self.refused('select anet id=0;set vlan-id=4095;end', 'vlan-id value 4095 is out of range')
        self.refused('select anet id=0;set mac-address=1:2:3:4:5:6;end', 'is a multicast address')
        self.refused('add device;set storage=http://example/disk;end', 'is not a valid storage URI: unknown storage')
        self.refused('add device;set storage=nfs://host/export/file;end',
                     'an NFS URI is nfs://USER:GROUP@HOST[:PORT]/PATH/FILE')
        self.refused('add device;set storage=file:///var/../etc/shadow;end', "'.' or '..' component")
        self.refused('select capped-memory;set pagesize=1m;end', 'pagesize value is too small. It must be at least 2M.')
        self.refused('set zonename=global', '"global" is not a valid zone name')

    def test_conflicting_properties(self):
        self.refused('select capped-memory;set memory-reserve=zones;end',
                     'memory-reserve and pagesize-policy are mutually exclusive; clear pagesize-policy first.')
        self.refused('set capped-memory:pagesize-policy=fixed',
                     'capped-memory: pagesize-policy=fixed requires the pagesize property.')
        self.refused('add anet;set id=0;end', 'anet id=0 already exists.')
        self.refused('add suspend;end', 'suspend: either path or storage must be set.')
        self.refused('add capped-memory;end', 'a capped-memory resource already exists')

    def test_first_error_stops_a_batch(self):
        # the good commands before the error are not saved either
        self.refused('set autoboot=true;set nosuch=1;commit', 'unknown property: nosuch')

    def test_command_file_error_names_its_line(self):
        path = os.path.join(self.root, 'cmds')
        with open(path, 'w') as f:
            f.write('select capped-memory\nset physical=16G\nset pagesize-policy=fixed2\nend\n')
        p = self.zonecfg('kz1', '-f', path, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stderr, 'On line 3:\n"fixed2" is not a valid pagesize-policy name.\n')
        self.unchanged()

    def test_invalid_utf8(self):
        path = os.path.join(self.root, 'cmds')
        with open(path, 'wb') as f:
            f.write(b'set bootargs=caf\xe9\n')
        p = self.zonecfg('kz1', '-f', path, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stderr, 'On line 1:\nbootargs value is not valid UTF-8.\n')
        self.unchanged()

    def test_syntax(self):
        self.refused('set bootargs="unterminated', 'unterminated quoted string')
        self.refused('set autoboot true false', 'expected PROPERTY=VALUE')
        self.refused('set bootargs=console=ttyS0 quiet', 'expected PROPERTY=VALUE')
        self.refused('set autoboot=true info autoboot', 'expected PROPERTY=VALUE')
        self.refused('frobnicate', 'frobnicate is not a zonecfg command')

    def test_select_must_match_one(self):
        self.zonecfg('kz1', 'add device;set storage=dev:/dev/sdb;end')
        self.before = self.stored('kz1')
        self.refused('select device;set bootpri=1;end', 'More than one device resource matches')
        self.refused('select device id=7;end', 'No such device resource.')
        self.refused('remove device', '2 device resources match')

    def test_no_such_zone(self):
        p = self.zonecfg('nosuch', 'info', check=False)
        self.assertRefused(p, 'No such zone configured')
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/nosuch.xml')))

    def test_usage(self):
        p = self.zonecfg(None, 'info', check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn('a zone name is required', p.stderr)
        p = self.zonecfg('bad/name', 'info', check=False)
        self.assertRefused(p, 'invalid zone name')
        p = self.zonecfg('kz1', '-x', check=False)
        self.assertEqual(p.returncode, 2)

    def test_create_over_existing_needs_force(self):
        self.refused('create -t SYSkz-minimal', "zone kz1 already exists; use 'create -F'")
        self.zonecfg('kz1', 'create -F -t SYSkz-minimal')
        self.assertIn('physical: 2G', self.zonecfg('kz1', 'info capped-memory').stdout)

    def test_delete_needs_force_without_a_terminal(self):
        self.refused('delete', "use 'delete -F'")
        self.zonecfg('kz1', 'delete -F')
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/kz1.xml')))
        with open(os.path.join(self.root, 'etc/zones/index')) as f:
            self.assertNotIn('kz1:', f.read())

    def test_delete_refused_while_installed(self):
        index = os.path.join(self.root, 'etc/zones/index')
        with open(index) as f:
            text = f.read()
        with open(index, 'w') as f:
            f.write(text.replace('kz1:configured:', 'kz1:installed:'))
        self.refused('delete -F', "zone 'kz1' is installed; uninstall it with zoneadm")
        self.refused('set zonename=kz9', 'zone kz1 is installed; it can only be renamed before it is installed.')

    def test_rename(self):
        self.zonecfg('kz1', 'set zonename=kz9')
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/kz1.xml')))
        self.assertIn('zonename: kz9', self.zonecfg('kz9', 'info').stdout)
        with open(os.path.join(self.root, 'etc/zones/index')) as f:
            lines = [l.split(':')[0] for l in f if not l.startswith('#')]
        self.assertEqual(lines, ['kz9'])

    def test_key_stays_private(self):
        mode = stat.S_IMODE(os.stat(os.path.join(self.root, 'etc/zones/kz1.xml')).st_mode)
        self.assertEqual(mode, 0o600)
        self.assertNotIn('{base64}', self.zonecfg('kz1', 'info').stdout)
        self.assertIn('set raw="{base64}', self.zonecfg('kz1', 'export').stdout)


class DamagedStore(ZoneTest):
    """What is on disk is checked on every read; a damaged file is reported, never
    half-read, and never overwritten."""

    def setUp(self):
        super().setUp()
        self.zonecfg('kz1', 'create -t SYSkz')
        self.path = os.path.join(self.root, 'etc/zones/kz1.xml')

    def damage(self, content):
        with open(self.path, 'wb') as f:
            f.write(content)
        for cmd in ('info', 'set autoboot=true', 'delete', 'create -t SYSkz'):
            p = self.zonecfg('kz1', cmd, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn('kz1.xml', p.stderr)
            with open(self.path, 'rb') as f:
                self.assertEqual(f.read(), content)
        return p.stderr

    def tearDown(self):
        # the way out: an explicit 'create -F' or 'delete -F'
        if os.path.exists(self.path):
            self.zonecfg('kz1', 'create -F -t SYSkz-minimal')
            self.assertIn('physical: 2G', self.zonecfg('kz1', 'info capped-memory').stdout)
            self.zonecfg('kz1', 'delete -F')
            self.assertFalse(os.path.exists(self.path))

    def test_not_xml(self):
        self.assertIn('is not well-formed XML', self.damage(b'this is not xml <zone'))

    def test_truncated(self):
        with open(self.path, 'rb') as f:
            good = f.read()
        self.assertIn('is not well-formed XML', self.damage(good[:len(good) // 2]))

    def test_schema_violation(self):
        self.assertIn('does not match the zone configuration schema',
                      self.damage(b'<zone zonename="kz1" brand="kz"><cdrom/></zone>'))

    def test_bad_value_by_hand(self):
        self.assertIn('physical value is too large',
                      self.damage(b'<zone zonename="kz1" brand="kz"><capped-memory physical="4T"/></zone>'))

    def test_conflict_by_hand(self):
        self.assertIn('mutually exclusive', self.damage(
            b'<zone zonename="kz1" brand="kz">'
            b'<capped-memory physical="4G" pagesize-policy="fixed" memory-reserve="zones"/></zone>'))

    def test_external_entity(self):
        self.assertIn('document type or entity declaration', self.damage(
            b'<?xml version="1.0"?><!DOCTYPE zone [<!ENTITY x SYSTEM "file:///etc/shadow">]>'
            b'<zone zonename="kz1" brand="kz" bootargs="&x;"/>'))

    def test_entity_expansion(self):
        lol = b'<!DOCTYPE zone [<!ENTITY a "aaaaaaaaaa">' + b''.join(
            b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">' % ((98 + i,) + (97 + i,) * 10)
            for i in range(9)) + b']><zone zonename="kz1" brand="kz" bootargs="&j;"/>'
        self.assertIn('document type or entity declaration', self.damage(lol))

    def test_too_big(self):
        big = b'<zone zonename="kz1" brand="kz">' + b'<!-- padding -->' * 20000 + b'</zone>'
        self.assertIn('is larger than 262144 bytes', self.damage(big))

    def test_wrong_name(self):
        self.assertIn("names zone 'kz2', not 'kz1'", self.damage(b'<zone zonename="kz2" brand="kz"/>'))


class Questions(ZoneTest):

    def test_reload_asks_only_with_changes_to_lose(self):
        self.zonecfg('kz1', 'create -t SYSkz')
        s = self.interactive('kz1')
        # nothing pending: reloads without a question
        out = s.send('reload')
        self.assertNotIn('(y/[n])?', out)
        self.assertTrue(out.endswith('zonecfg:kz1> '), out)
        # a change to lose: asked, and 'n' keeps it
        s.send('set autoboot=true')
        out = s.send('reload')
        self.assertIn('Are you sure you want to reload (y/[n])? ', out)
        s.send('n')
        self.assertIn('autoboot: true', s.send('info autoboot'))
        self.assertEqual(s.close('exit -F'), 0)

    def test_unknown_template_names_the_templates(self):
        p = self.zonecfg('kz1', 'create -t SYSsolaris-kz', check=False)
        self.assertRefused(p, 'SYSsolaris-kz: no such template; the templates are SYSkz, SYSkz-minimal, or the '
                           'name of a configured zone.')


class ConcurrentEdit(ZoneTest):

    def test_second_writer_is_refused(self):
        self.zonecfg('kz1', 'create -t SYSkz')
        s = self.interactive('kz1')          # administrator A loads the zone
        s.send('set autoboot=true')
        self.zonecfg('kz1', 'set capped-memory:physical=16G')   # B changes it meanwhile
        theirs = self.stored('kz1')
        out = s.send('commit')
        self.assertIn('was changed by someone else since it was loaded; nothing was saved', out)
        self.assertEqual(self.stored('kz1'), theirs)
        s.send('revert -F')
        s.send('set autoboot=true')
        # saved now; the exit status still reports the refused commit
        self.assertEqual(s.close('exit'), 1)
        info = self.zonecfg('kz1', 'info').stdout
        self.assertIn('autoboot: true', info)
        self.assertIn('physical: 16G', info)

    def test_zone_created_meanwhile(self):
        s = self.interactive('kz1')
        s.send('create -t SYSkz-minimal')
        self.zonecfg('kz1', 'create -t SYSkz')
        theirs = self.stored('kz1')
        out = s.send('commit')
        self.assertIn("zone 'kz1' was created by someone else meanwhile", out)
        s.close('exit -F')
        self.assertEqual(self.stored('kz1'), theirs)

    def test_zone_deleted_meanwhile(self):
        self.zonecfg('kz1', 'create -t SYSkz')
        s = self.interactive('kz1')
        s.send('set autoboot=true')
        self.zonecfg('kz1', 'delete -F')
        out = s.send('commit')
        self.assertIn("zone 'kz1' was deleted by someone else since it was loaded", out)
        s.close('exit -F')
        self.assertFalse(os.path.exists(os.path.join(self.root, 'etc/zones/kz1.xml')))


if __name__ == '__main__':
    unittest.main(verbosity=2)
