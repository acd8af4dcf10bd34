#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up meson's test logs and prints one closing line: 'N passed, N failed, N skipped'."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                result = json.loads(line).get('result')
                if result in ('OK', 'EXPECTEDFAIL'):
                    passed += 1
                elif result == 'SKIP':
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        print(f'test-summary: {path} is missing: that suite did not run', file=sys.stderr)
        failed += 1
print(f'{passed} passed, {failed} failed, {skipped} skipped')
