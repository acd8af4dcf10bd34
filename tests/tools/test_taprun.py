# SPDX-License-Identifier: LGPL-2.1-or-later
"""taprun.py reports each Python test case as its own TAP result, a skip as a
skip (a whole skipped class as a skip of each case), a file without tests as
a failure, and every skip as a failure under KZONES_REQUIRE_ALL=1."""
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TAPRUN = os.path.join(HERE, '..', 'taprun.py')


def taprun(name, **env):
    e = dict(os.environ, **env)
    e.pop('KZONES_REQUIRE_ALL', None)
    e.update(env)
    return subprocess.run([sys.executable, TAPRUN, os.path.join(HERE, name)], env=e,
                          capture_output=True, text=True, timeout=60)


def results(stdout):
    """{case: 'ok' | 'not ok' | 'skip' | 'todo' | …} from TAP output."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r'^(not ok|ok) (\d+) - (\S+)(?: # (\S+))?', line)
        if m:
            kind = m.group(4).lower() if m.group(4) in ('SKIP', 'TODO') else m.group(1)
            out[m.group(3).split('.', 1)[1]] = kind
    return out


class TapRun(unittest.TestCase):
    def test_each_case_is_one_result(self):
        p = taprun('sample_cases.py')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertTrue(p.stdout.startswith('TAP version 13\n'), p.stdout)
        self.assertEqual(results(p.stdout), {
            'Plain.test_passes': 'ok',
            'Plain.test_fails': 'not ok',
            'Plain.test_skips': 'skip',
            'Plain.test_expected_failure': 'todo',
            'Plain.test_subtests': 'not ok',
            'SkippedClass.test_one': 'skip',
            'SkippedClass.test_two': 'skip',
            'BrokenClass.test_one': 'not ok',
        })
        self.assertIn('\n1..8\n', '\n' + p.stdout)
        self.assertIn('# SKIP no lab here', p.stdout)
        # the reasons are in the log: the assertion, the subtest, the broken setUpClass
        self.assertIn('a deliberate failure', p.stderr)
        self.assertIn('(i=1)', p.stderr)
        self.assertIn('setUpClass broke', p.stderr)

    def test_only_skips_and_passes_exit_0(self):
        p = taprun('sample_cases.py', SAMPLE_MODE='pass')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        r = results(p.stdout)
        self.assertEqual(sorted(k for k, v in r.items() if v == 'skip'),
                         ['Plain.test_skips', 'SkippedClass.test_one', 'SkippedClass.test_two'])
        self.assertEqual(sorted(k for k, v in r.items() if v == 'not ok'), [])

    def test_require_all_turns_skips_into_failures(self):
        p = taprun('sample_cases.py', SAMPLE_MODE='pass', KZONES_REQUIRE_ALL='1')
        self.assertEqual(p.returncode, 1)
        r = results(p.stdout)
        self.assertEqual(r['SkippedClass.test_one'], 'not ok')
        self.assertEqual(r['Plain.test_skips'], 'not ok')
        self.assertNotIn('# SKIP', p.stdout)
        self.assertIn('KZONES_REQUIRE_ALL=1 requires every test to run: no lab here', p.stderr)

    def test_no_test_is_a_failure(self):
        p = taprun('empty_cases.py')
        self.assertEqual(p.returncode, 1)
        self.assertIn('Bail out!', p.stdout)

    def test_what_tests_print_stays_out_of_the_tap(self):
        p = taprun('sample_cases.py', SAMPLE_MODE='pass')
        for line in p.stdout.splitlines():
            self.assertRegex(line, r'^(TAP version 13|1\.\.\d+|(not )?ok \d+ - .*)$')


if __name__ == '__main__':
    unittest.main(verbosity=2)
