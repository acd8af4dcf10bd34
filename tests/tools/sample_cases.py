# SPDX-License-Identifier: LGPL-2.1-or-later
"""Not a test of kzones: the cases test_taprun.py runs through taprun.py to see
how each kind of outcome is reported. Run only by test_taprun.py."""
import os
import unittest

MODE = os.environ.get('SAMPLE_MODE', 'all')


class Plain(unittest.TestCase):
    def test_passes(self):
        self.assertTrue(True)

    def test_fails(self):
        if MODE == 'all':
            self.assertEqual(1, 2, 'a deliberate failure')

    def test_skips(self):
        self.skipTest('deliberately skipped')

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(1, 2)

    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                if MODE == 'all':
                    self.assertNotEqual(i, 1)


class SkippedClass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest('no lab here')

    def test_one(self):
        pass

    def test_two(self):
        pass


class BrokenClass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if MODE == 'all':
            raise RuntimeError('setUpClass broke')

    def test_one(self):
        pass
