#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""zonecfg's interactive prompt on a pseudo-terminal, typed as a person would: Tab
completes subcommands, resource types, property names and values of the current scope,
the Up arrow brings back the previous line, 'help usage' prints the usage. Commands
from a pipe are read as before: no line editing there."""

import os
import pty
import signal
import subprocess
import termios
import time
import unittest

from kztest import ZoneTest

UP = '\x1b[A'


class Prompt(ZoneTest):

    def session(self):
        self.zonecfg('kz1', 'create -t SYSkz')
        s = self.interactive('kz1')
        self.addCleanup(lambda: s.close('exit -F'))
        return s

    def test_tab_completes_subcommand_and_resource(self):
        s = self.session()
        shown = s.type('sel\t')
        self.assertIn('ect', shown)
        # the line now reads "select ": a resource type completes after it, and
        # running the line opens that resource's scope
        s.type('capped\t')
        self.assertTrue(s.send('').endswith('zonecfg:kz1:capped-memory> '))

    def test_tab_completes_properties_and_values_of_the_scope(self):
        s = self.session()
        s.send('select capped-memory')
        shown = s.type('set pagesize-p\ts\t')
        self.assertIn('olicy=', shown)
        self.assertIn('mallest-only', shown)
        s.send('')
        s.send('end')
        self.assertIn('    pagesize-policy: smallest-only\n', s.send('info capped-memory'))

    def test_two_tabs_list_what_fits_here(self):
        s = self.session()
        listed = s.type('set auto\t\t')
        self.assertIn('autoboot=  autoshutdown=', listed)
        # inside a resource, the zone's properties are not offered, the resource's are
        s.type('\x15')  # Ctrl-U: the line is empty again
        s.send('select capped-memory')
        listed = s.type('set \t\t')
        self.assertIn('physical=', listed)
        self.assertNotIn('autoboot', listed)
        s.type('\x15')
        s.send('end')

    def test_up_arrow_recalls_previous_line(self):
        s = self.session()
        self.assertIn('brand: kz\n', s.send('info brand'))
        s.type(UP)
        again = s.send('')
        self.assertIn('brand: kz\n', again)
        self.assertIn('info brand', s.transcript.split('brand: kz')[1])

    def test_help_usage(self):
        s = self.session()
        out = s.send('help usage')
        self.assertIn('usage: zonecfg -z ZONENAME', out)
        self.assertIn('zonecfg -z ZONENAME -f COMMAND-FILE|-', out)

    def test_pipe_is_read_as_before(self):
        self.zonecfg('kz1', 'create -t SYSkz')
        # a Tab and an escape sequence in piped commands are characters, not keys
        p = self.zonecfg('kz1', input='info\tbrand\n', check=False)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, 'brand: kz\n', ''))
        p = self.zonecfg('kz1', input=UP + 'info brand\n', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('is not a zonecfg command', p.stderr)

    def test_terminal_restored_at_exit_and_on_ctrl_c(self):
        # the prompt turns the echo off; whatever ends zonecfg, the shell gets it back
        for keys, how in (('exit\n', 0), ('\x04', 0), ('inf\x03', -signal.SIGINT)):
            with self.subTest(keys=keys):
                self.zonecfg('kz1', 'create -F -t SYSkz')
                s = self.interactive('kz1')
                before = termios.tcgetattr(s.fd)[3]
                self.assertFalse(before & termios.ECHO, 'libedit echoes, not the terminal')
                # libedit prints its prompt a moment before it reads keys one by one; a
                # Ctrl-D in that moment is the terminal's end of a line, not a key
                time.sleep(0.2)
                os.write(s.fd, keys.encode())
                deadline = time.monotonic() + 10
                while True:
                    pid, status = os.waitpid(s.pid, os.WNOHANG)
                    if pid or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                self.assertEqual(os.waitstatus_to_exitcode(status), how)
                lflag = termios.tcgetattr(s.fd)[3]
                os.close(s.fd)
                self.assertTrue(lflag & termios.ECHO and lflag & termios.ICANON)

    def test_terminal_in_pipe_out_is_read_as_before(self):
        # zonecfg -z kz1 | tee log: no line editing; the prompts go to the output as they always did
        self.zonecfg('kz1', 'create -t SYSkz')
        master, slave = pty.openpty()
        p = subprocess.Popen([self.zonecfg_bin, '-R', self.root, '-z', 'kz1'], stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(slave)
        self.addCleanup(os.close, master)
        os.write(master, b'info brand\nexit\n')
        out, err = p.communicate(timeout=30)
        self.assertEqual((p.returncode, out, err), (0, b'zonecfg:kz1> brand: kz\nzonecfg:kz1> ', b''))


if __name__ == '__main__':
    unittest.main()
