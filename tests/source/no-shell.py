#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""No shell with data in it: kzones runs as root for delegated zone administrators,
so every helper runs by argv (fork/exec, posix_spawn). This fails if popen(),
system() or a "sh -c" comes back into lib/, services/ or cli/ (comments aside)."""

import os
import re
import sys

SOURCE = os.environ.get('KZONES_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))
FORBIDDEN = [
    (re.compile(r'\bpopen\s*\('), 'popen()'),
    (re.compile(r'\bsystem\s*\('), 'system()'),
    (re.compile(r'"(/bin/)?(ba)?sh"\s*,\s*"-c"'), '"sh", "-c"'),
    (re.compile(r'"/bin/(ba)?sh -c'), '"/bin/sh -c'),
]
COMMENT = re.compile(r'/\*.*?\*/|//[^\n]*', re.S)


def strip_comments(text):
    # keeps line numbers: a comment becomes as many newlines as it had
    return COMMENT.sub(lambda m: '\n' * m.group(0).count('\n'), text)


def main():
    found = []
    for top in ('lib', 'services', 'cli'):
        for d, _, files in os.walk(os.path.join(SOURCE, top)):
            for f in sorted(files):
                if not f.endswith(('.c', '.h')):
                    continue
                path = os.path.join(d, f)
                with open(path, encoding='utf-8', errors='replace') as fh:
                    lines = strip_comments(fh.read()).splitlines()
                for n, line in enumerate(lines, 1):
                    for pattern, what in FORBIDDEN:
                        if pattern.search(line):
                            found.append(f'{os.path.relpath(path, SOURCE)}:{n}: {what}: {line.strip()}')
    for f in found:
        print(f, file=sys.stderr)
    if found:
        print('a shell with data in it: run helpers by argv (fork/exec or posix_spawn) instead', file=sys.stderr)
        return 1
    print('no popen(), system() or sh -c in lib/, services/, cli/')
    return 0


if __name__ == '__main__':
    sys.exit(main())
