#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up meson's test logs and prints one closing line:
'N passed, N failed, N skipped'. Exits non-zero when anything failed or the
logs cannot be trusted.

    test-summary.py LOG[=SUITE,SUITE…] …

Each LOG is a meson testlog.json. Tests that speak TAP (the Python suites
under tests/taprun.py, criterion with --tap) count one result per test case.
A LOG that is missing, empty or holds a line that is not JSON is a failure;
each SUITE named after '=' must appear in that log and must have run more
than zero tests (a suite whose every test was skipped did not run). With
KZONES_REQUIRE_ALL=1 every skip is a failure as well.
"""
import json
import os
import re
import sys

TAP_LINE = re.compile(r'^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(.*))?$')
BAD = ('FAIL', 'ERROR', 'TIMEOUT', 'UNEXPECTEDPASS', 'INTERRUPT')


def tap_results(stdout):
    """(passed, failed, skipped, failed names) from a test's TAP output, or
    None when it printed no TAP result."""
    passed = failed = skipped = 0
    names = []
    seen = False
    if not re.search(r'^TAP version \d+$', stdout or '', re.M):
        return None
    for line in (stdout or '').splitlines():
        m = TAP_LINE.match(line.strip())
        if not m:
            continue
        seen = True
        ok, name, directive = m.group(1) == 'ok', m.group(3), (m.group(4) or '')
        word = directive.split(None, 1)[0].upper() if directive else ''
        if word == 'SKIP':
            skipped += 1
        elif word == 'TODO':
            if ok:                      # an unexpected pass
                failed += 1
                names.append(f'{name} (unexpected pass)')
            else:
                passed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
            names.append(f'{name}' + (f' ({directive})' if directive else ''))
    return (passed, failed, skipped, names) if seen else None


def suite_of(name):
    """'kzones:unit / size parsing' → 'unit'; 'kzones:unit+fast / …' → both."""
    head = name.split(' / ', 1)[0]
    return head.split(':', 1)[-1].split('+')


def read_log(path, problems):
    """The log's entries, or None (with the reason in PROBLEMS)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        problems.append(f'{path} is missing: that run did not happen or ran no test')
        return None
    except OSError as e:
        problems.append(f'{path} cannot be read: {e.strerror}')
        return None
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or 'name' not in entry or 'result' not in entry:
                raise ValueError('not a meson test result')
        except ValueError as e:
            problems.append(f'{path}:{n}: corrupt line ({e}): {line[:80]!r}')
            return None
        entries.append(entry)
    if not entries:
        problems.append(f'{path} is empty: no test ran')
        return None
    return entries


def main(argv):
    if not argv or any(a in ('-h', '--help') for a in argv):
        print(__doc__.strip(), file=sys.stderr)
        print('test-summary: no log given: nothing to add up', file=sys.stderr)
        return 2
    require_all = os.environ.get('KZONES_REQUIRE_ALL', '') not in ('', '0')
    passed = failed = skipped = 0
    problems = []
    for arg in argv:
        path, _, expect = arg.partition('=')
        expected = [s for s in expect.split(',') if s]
        entries = read_log(path, problems)
        if entries is None:
            failed += 1
            continue
        ran = {}        # suite → tests that ran (passed or failed)
        for e in entries:
            result = e['result']
            counts = tap_results(e.get('stdout'))
            if counts is None:
                p, f, s, names = (result in ('OK', 'EXPECTEDFAIL'), result in BAD, result == 'SKIP', [])
                p, f, s = int(p), int(f), int(s)
                if not (p or f or s):
                    f = 1
            else:
                p, f, s, names = counts
                # a crash, a timeout or a Bail out! after the last TAP line is a failure too
                if result in BAD and f == 0:
                    f = 1
                    names = [f'the test program itself: {result}, exit status {e.get("returncode")}']
            for n in names:
                problems.append(f'failed: {e["name"]}: {n}')
            if result in BAD and counts is None:
                problems.append(f'failed: {e["name"]}: {result}')
            if s and require_all:
                problems.append(f'skipped, and KZONES_REQUIRE_ALL=1 requires every test to run: {e["name"]} '
                                f'({s} skipped)')
                f += s
                s = 0
            passed += p
            failed += f
            skipped += s
            for suite in suite_of(e['name']):
                ran[suite] = ran.get(suite, 0) + p + f
        for suite in expected:
            if suite not in ran:
                problems.append(f'{path}: the {suite} suite did not run at all')
                failed += 1
            elif ran[suite] == 0:
                problems.append(f'{path}: the {suite} suite ran no test (every test skipped)')
                failed += 1
    for p in problems:
        print(f'test-summary: {p}', file=sys.stderr)
    print(f'{passed} passed, {failed} failed, {skipped} skipped')
    return 1 if failed or problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
