#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""meson install: create kzones' system users now (systemd-sysusers kzones.conf),
unless installing into a staging directory (DESTDIR), whose users are made where
it is unpacked."""
import os
import shutil
import subprocess
import sys

if os.environ.get('DESTDIR') or os.geteuid() != 0:
    sys.exit(0)
sysusers = shutil.which('systemd-sysusers')
if not sysusers:
    print('systemd-sysusers not found: create the user of sysusers.d/kzones.conf by hand', file=sys.stderr)
    sys.exit(0)
prefix = os.environ.get('MESON_INSTALL_PREFIX', '/usr')
sys.exit(subprocess.run([sysusers, os.path.join(prefix, 'lib/sysusers.d/kzones.conf')]).returncode)
