#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bus names are written once, in lib/kzones-bus.h: every interface documented in
bus-interfaces/ has its name there, and no C or Python source types out a kzones
or systemd bus name, object path or interface (comments aside); C includes the
header, Python tests read it through tests/kzbus.py."""

import os
import re
import sys

SOURCE = os.environ.get('KZONES_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(SOURCE, 'tests'))
import kzbus  # noqa: E402  (after the path is set)

TYPED = re.compile(r'''["'](org\.kzones\.[A-Z]\w*1\b|/org/kzones/[A-Z]|org\.freedesktop\.systemd1\b|/org/freedesktop/systemd1\b)''')
COMMENT = re.compile(r'/\*.*?\*/|//[^\n]*', re.S)
# Still to move to the header with the restarter's job work (issue 12); empty this
# list when it has.
PENDING = ()


def strip_comments(text):
    return COMMENT.sub(lambda m: '\n' * m.group(0).count('\n'), text)


def main():
    problems = []
    names = set(kzbus.NAMES.values())
    for f in sorted(os.listdir(os.path.join(SOURCE, 'bus-interfaces'))):
        if f.endswith('.xml') and f[:-len('.xml')] not in names:
            problems.append(f'bus-interfaces/{f}: interface {f[:-4]} is not named in lib/kzones-bus.h')
    for top in ('lib', 'services', 'cli', 'tests', 'bench'):
        for d, _, files in os.walk(os.path.join(SOURCE, top)):
            for f in sorted(files):
                if not f.endswith(('.c', '.h', '.py')):
                    continue
                path = os.path.join(d, f)
                rel = os.path.relpath(path, SOURCE)
                if rel == os.path.join('lib', 'kzones-bus.h') or rel.startswith(PENDING):
                    continue
                with open(path, encoding='utf-8', errors='replace') as fh:
                    text = fh.read()
                if f.endswith(('.c', '.h')):
                    text = strip_comments(text)
                for n, line in enumerate(text.splitlines(), 1):
                    if line.lstrip().startswith('#') and f.endswith('.py'):
                        continue
                    m = TYPED.search(line)
                    if m:
                        problems.append(f'{rel}:{n}: {m.group(1)} typed out: {line.strip()}')
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print('take bus names from lib/kzones-bus.h (C) or tests/kzbus.py (Python)', file=sys.stderr)
        return 1
    print(f'{len(names)} bus names, all from lib/kzones-bus.h')
    return 0


if __name__ == '__main__':
    sys.exit(main())
