# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/test-summary.py cannot lie: a missing, empty or corrupt log, a suite
that did not run or ran only skips, and a failed TAP case all fail it; a
skip is counted as a skip."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = os.path.join(HERE, '..', '..', 'tools', 'test-summary.py')
TAP_OK = 'TAP version 13\nok 1 - a\nok 2 - b # SKIP no kvm\nok 3 - c\n1..3\n'
TAP_BAD = 'TAP version 13\nok 1 - a\nnot ok 2 - broken\n1..2\n'


def entry(name, result='OK', stdout=''):
    return json.dumps({'name': name, 'result': result, 'stdout': stdout, 'returncode': 0 if result == 'OK' else 1})


class Summary(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='kzones-summary-')
        self.addCleanup(shutil.rmtree, self.tmp)

    def log(self, *lines, name='testlog.json'):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(''.join(line + '\n' for line in lines))
        return path

    def summary(self, *args, **env):
        e = dict(os.environ)
        e.pop('KZONES_REQUIRE_ALL', None)
        e.update(env)
        return subprocess.run([sys.executable, SUMMARY, *args], capture_output=True, text=True, env=e, timeout=30)

    def test_counts_each_tap_case(self):
        path = self.log(entry('kzones:cli / zonecfg', stdout=TAP_OK), entry('kzones:unit / size', stdout=TAP_OK))
        p = self.summary(path + '=unit,cli')
        self.assertEqual((p.returncode, p.stdout), (0, '4 passed, 0 failed, 2 skipped\n'), p.stderr)

    def test_a_failed_case_fails_and_is_named(self):
        p = self.summary(self.log(entry('kzones:bus / restarter', 'FAIL', TAP_BAD)))
        self.assertEqual((p.returncode, p.stdout), (1, '1 passed, 1 failed, 0 skipped\n'))
        self.assertIn('kzones:bus / restarter: broken', p.stderr)

    def test_a_crash_after_the_last_ok_is_a_failure(self):
        p = self.summary(self.log(entry('kzones:bus / restarter', 'ERROR', 'TAP version 13\nok 1 - a\n')))
        self.assertEqual((p.returncode, p.stdout), (1, '1 passed, 1 failed, 0 skipped\n'))

    def test_missing_empty_and_corrupt_logs_fail(self):
        good = self.log(entry('kzones:unit / size', stdout=TAP_OK), name='good.json')
        for bad, why in ((os.path.join(self.tmp, 'nosuch.json'), 'is missing'),
                         (self.log(name='empty.json'), 'is empty'),
                         (self.log(entry('kzones:unit / x')[:30], name='cut.json'), 'corrupt line')):
            p = self.summary(good, bad)
            self.assertEqual(p.returncode, 1, why)
            self.assertIn(why, p.stderr)
            self.assertRegex(p.stdout, r'^2 passed, 1 failed, 1 skipped\n$')

    def test_no_argument_is_an_error(self):
        self.assertNotEqual(self.summary().returncode, 0)

    def test_an_expected_suite_that_did_not_run_fails(self):
        p = self.summary(self.log(entry('kzones:unit / size', stdout=TAP_OK)) + '=unit,lab')
        self.assertEqual(p.returncode, 1)
        self.assertIn('the lab suite did not run at all', p.stderr)

    def test_a_suite_of_skips_did_not_run(self):
        p = self.summary(self.log(entry('kzones:lab / zones', 'SKIP', 'TAP version 13\nok 1 - a # SKIP no kvm\n'),
                                  entry('kzones:unit / size', stdout=TAP_OK)) + '=unit,lab')
        self.assertEqual(p.returncode, 1)
        self.assertIn('the lab suite ran no test (every test skipped)', p.stderr)
        self.assertEqual(p.stdout, '2 passed, 1 failed, 2 skipped\n')

    def test_require_all_makes_a_skip_a_failure(self):
        path = self.log(entry('kzones:unit / size', stdout=TAP_OK), entry('kzones:cli / old', 'SKIP'))
        self.assertEqual(self.summary(path).returncode, 0)
        p = self.summary(path, KZONES_REQUIRE_ALL='1')
        self.assertEqual(p.returncode, 1)
        self.assertIn('KZONES_REQUIRE_ALL=1', p.stderr)
        self.assertEqual(p.stdout, '2 passed, 2 failed, 0 skipped\n')


if __name__ == '__main__':
    unittest.main(verbosity=2)
