#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs one Python unittest file and reports each test case as its own TAP
result, so meson (`protocol: 'tap'`) counts passes, failures and skips one by
one instead of one line per file.

    taprun.py tests/bus/test_restarter.py [-k PATTERN]

- Every test case is one `ok`, `not ok` or `ok … # SKIP reason` line.
- A class whose setUpClass (or a module whose setUpModule) raises SkipTest
  reports each of its cases as skipped, with the reason; one that fails
  reports each of its cases as failed. A failing tearDownClass is a failure
  line of its own.
- A file that runs no test at all is a failure: 'Ran 0 tests' is not a pass.
- With KZONES_REQUIRE_ALL=1 (CI sets it), a skip is a failure that says why
  the test did not run.

TAP goes to the real standard output; whatever the tests print, and every
traceback, goes to standard error, which meson keeps in its log.
"""

import argparse
import importlib.util
import os
import re
import sys
import traceback
import unittest


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def require_all():
    return os.environ.get('KZONES_REQUIRE_ALL', '') not in ('', '0')


class TapResult(unittest.TestResult):
    """Collects the outcome of each test (subtests included) and prints one
    TAP line when the test stops."""

    def __init__(self, out, tests):
        super().__init__()
        self.out = out
        self.tests = tests          # every case, in order, for class-level outcomes
        self.number = 0
        self.bad = 0
        self.skips = 0
        self.reported = set()
        self.current = None         # [failures…], skip reason, TODO state

    # -- output ------------------------------------------------------------

    def _line(self, ok, name, directive=''):
        self.number += 1
        name = re.sub(r'[#\n]', ' ', name)
        self.out.write(f'{"ok" if ok else "not ok"} {self.number} - {name}{directive}\n')
        self.out.flush()

    def _diag(self, name, text):
        sys.stderr.write(f'\n=== {name}\n{text.rstrip()}\n')
        sys.stderr.flush()

    def _report(self, test_id, failures, skip=None, todo=None):
        if test_id in self.reported:
            return
        self.reported.add(test_id)
        if failures:
            self.bad += 1
            for text in failures:
                self._diag(test_id, text)
            self._line(False, test_id)
        elif skip is not None:
            if require_all():
                self.bad += 1
                why = f'skipped, but KZONES_REQUIRE_ALL=1 requires every test to run: {skip}'
                self._diag(test_id, why)
                self._line(False, test_id, f' # {why}')
            else:
                self.skips += 1
                self._line(True, test_id, f' # SKIP {skip}')
        elif todo == 'expected':
            self._line(False, test_id, ' # TODO expected failure')
        elif todo == 'unexpected':
            self.bad += 1
            self._diag(test_id, 'unexpected success of a test marked expectedFailure')
            self._line(True, test_id, ' # TODO unexpected success')
        else:
            self._line(True, test_id)

    # -- unittest.TestResult -----------------------------------------------

    def startTest(self, test):
        super().startTest(test)
        self.current = {'failures': [], 'skip': None, 'todo': None}

    def stopTest(self, test):
        super().stopTest(test)
        c = self.current or {'failures': [], 'skip': None, 'todo': None}
        self._report(test.id(), c['failures'], c['skip'], c['todo'])
        self.current = None

    def _err(self, test, err):
        return ''.join(traceback.format_exception(*err))

    def _class_level(self, holder, err=None, skip=None):
        """setUpClass/setUpModule/tearDown… outcome: an _ErrorHolder, no test."""
        desc = holder.description          # 'setUpClass (module.Class)'
        m = re.match(r'(\w+) \((.*)\)$', desc)
        kind, where = (m.group(1), m.group(2)) if m else ('', desc)
        text = self._err(holder, err) if err else None
        if kind in ('setUpClass', 'setUpModule'):
            hit = [t for t in self.tests if t.id() not in self.reported and
                   (t.id().startswith(where + '.'))]
            if hit:
                for t in hit:
                    if skip is not None:
                        self._report(t.id(), [], skip=skip)
                    else:
                        self._report(t.id(), [f'{desc} failed:\n{text}'])
                return
        if skip is not None:
            self._report(desc, [], skip=skip)
        else:
            self._report(desc, [text])

    def addError(self, test, err):
        super().addError(test, err)
        if isinstance(test, unittest.TestCase) and self.current is not None:
            self.current['failures'].append(self._err(test, err))
        else:
            self._class_level(test, err=err)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        if self.current is not None:
            self.current['failures'].append(self._err(test, err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if isinstance(test, unittest.case._SubTest):
            return                  # one skipped subtest does not skip the whole test
        if isinstance(test, unittest.TestCase) and self.current is not None:
            self.current['skip'] = reason
        else:
            self._class_level(test, skip=reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        if self.current is not None:
            self.current['todo'] = 'expected'

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        if self.current is not None:
            self.current['todo'] = 'unexpected'

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None and self.current is not None:
            self.current['failures'].append(f'{subtest.id()}:\n{self._err(subtest, err)}')


def load(path):
    """Import the test file as a module named after it (test_zones), with its
    folder on sys.path for its helpers (labtest, bustest, kztest)."""
    path = os.path.abspath(path)
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('file')
    ap.add_argument('-k', dest='patterns', action='append', help='only tests whose name contains PATTERN')
    args = ap.parse_args(argv)

    # TAP on the real stdout; everything else (prints, children) on stderr
    tap = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f'*{p}*' for p in args.patterns]
    try:
        module = load(args.file)
        suite = loader.loadTestsFromModule(module)
    except Exception:                        # noqa: BLE001 - reported as TAP
        traceback.print_exc()
        tap.write(f'Bail out! cannot load {args.file}\n')
        return 1
    tests = list(_flatten(suite))
    # unittest turns import errors of single tests into _FailedTest cases: they fail below
    if not tests:
        tap.write('1..0\n')
        tap.write(f'Bail out! {args.file} holds no test: "Ran 0 tests" is not a pass\n')
        return 1
    tap.write('TAP version 13\n')
    result = TapResult(tap, tests)
    suite.run(result)
    # anything the run never reported (should not happen) is a failure, not a silent pass
    for t in tests:
        if t.id() not in result.reported:
            result._report(t.id(), ['the test never ran and unittest said nothing about it'])
    tap.write(f'1..{result.number}\n')
    sys.stderr.write(f'\n{os.path.basename(args.file)}: {result.number} results, {result.bad} failed, '
                     f'{result.skips} skipped\n')
    return 1 if result.bad else 0


if __name__ == '__main__':
    sys.exit(main())
