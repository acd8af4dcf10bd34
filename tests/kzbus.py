# SPDX-License-Identifier: LGPL-2.1-or-later
"""The D-Bus names of kzones and of the systemd the daemons call, read from
lib/kzones-bus.h, so that a test uses the very names the C code does and
types none of them out:

    from kzbus import RESTARTER_BUS_NAME, RESTARTER_ZONE_PREFIX, path_encode
"""

import os
import re

SOURCE = os.environ.get('KZONES_SOURCE_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
HEADER = os.path.join(SOURCE, 'lib', 'kzones-bus.h')


def read_header(path):
    """Every `#define NAME "string"` of a header, as a dict."""
    names = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'#define\s+([A-Z][A-Z0-9_]*)\s+"([^"]*)"\s*$', line)
            if m:
                names[m.group(1)] = m.group(2)
    if not names:
        raise RuntimeError(f'{path} defines no bus names')
    return names


NAMES = read_header(HEADER)
globals().update(NAMES)
__all__ = sorted(NAMES) + ['NAMES', 'path_encode']


def path_encode(prefix, name):
    """sd_bus_path_encode: alphanumerics stay, everything else becomes _xx."""
    return prefix + '/' + ''.join(c if c.isalnum() else '_%02x' % ord(c) for c in name)
