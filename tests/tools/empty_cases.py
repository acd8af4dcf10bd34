# SPDX-License-Identifier: LGPL-2.1-or-later
"""Not a test of kzones: a file with no test, for test_taprun.py."""
