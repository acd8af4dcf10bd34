#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the build of kzlinux must hold for QEMU to boot it and for its /init
to work: a PVH-bootable kernel ELF, and an initramfs with /init, busybox, the
console node and each module after the modules it depends on.

    test_kzlinux.py BUILD_DIR_OF_KZLINUX"""

import os
import stat
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkguest  # noqa: E402

OUT = os.environ.get('KZLINUX_DIR') or (sys.argv.pop(1) if len(sys.argv) > 1 else '')
XEN_ELFNOTE_PHYS32_ENTRY = 18


def cpio_entries(data):
    """{name: (mode, rdevmajor, rdevminor, data)} of a newc archive."""
    out, pos = {}, 0
    while True:
        hdr = data[pos:pos + 110]
        if hdr[:6] != b'070701':
            raise ValueError(f'no newc header at {pos}')
        f = [int(hdr[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = f[1], f[6], f[9], f[10], f[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size
        pos += -pos % 4
        if name == 'TRAILER!!!':
            return out
        out[name] = (mode, rmaj, rmin, body)


class Kzlinux(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(OUT, 'vmlinux')):
            self.skipTest(f'kzlinux is not built in {OUT!r}')

    def test_kernel_boots_through_pvh(self):
        with open(os.path.join(OUT, 'vmlinux'), 'rb') as f:
            elf = f.read()
        self.assertEqual(elf[:5], b'\x7fELF\x02')
        phoff, = struct.unpack_from('<Q', elf, 0x20)
        _, phnum = struct.unpack_from('<HH', elf, 0x36)
        phdrs = [struct.unpack_from('<IIQQQQQQ', elf, phoff + i * 56) for i in range(phnum)]
        loads = [p for p in phdrs if p[0] == 1]
        entry = None
        for p in phdrs:
            if p[0] != 4:
                continue
            pos, end = p[2], p[2] + p[5]
            while pos < end:
                namesz, descsz, typ = struct.unpack_from('<III', elf, pos)
                name = elf[pos + 12:pos + 12 + namesz].rstrip(b'\0')
                desc = pos + 12 + (namesz + 3) // 4 * 4
                if name == b'Xen' and typ == XEN_ELFNOTE_PHYS32_ENTRY:
                    entry, = struct.unpack_from('<I', elf, desc)
                pos = desc + (descsz + 3) // 4 * 4
        self.assertIsNotNone(entry, 'no PVH entry note: QEMU cannot boot it')
        self.assertTrue(any(p[4] <= entry < p[4] + p[5] for p in loads), f'entry {entry:#x} in no segment')
        # every segment's file data is in the file
        for p in loads:
            self.assertLessEqual(p[2] + p[5], len(elf))
            self.assertLessEqual(p[5], p[6])

    def test_initramfs(self):
        with open(os.path.join(OUT, 'initrd.img'), 'rb') as f:
            files = cpio_entries(f.read())
        mode, _, _, init = files['init']
        self.assertTrue(stat.S_ISREG(mode) and mode & 0o111, oct(mode))
        with open(os.path.join(mkguest.HERE, 'init'), 'rb') as f:
            self.assertEqual(init, f.read())
        mode, _, _, bb = files['bin/busybox']
        self.assertTrue(mode & 0o111)
        self.assertEqual(bb[:5], b'\x7fELF\x02')
        for a in mkguest.APPLETS:
            self.assertEqual(files[f'bin/{a}'][3], b'busybox', a)
        mode, rmaj, rmin, _ = files['dev/console']
        self.assertTrue(stat.S_ISCHR(mode))
        self.assertEqual((rmaj, rmin), (5, 1))
        order = files['etc/kzlinux-modules'][3].decode().split()
        names = [os.path.basename(m)[:-3] for m in order]
        for m in mkguest.MODULES:
            self.assertIn(m, names)
        for i, path in enumerate(order):
            info = mkguest.modinfo(files[path.lstrip('/')][3])
            for dep in filter(None, info.get('depends', '').split(',')):
                self.assertIn(dep.replace('-', '_'), names[:i], f'{names[i]} is loaded before its dependency {dep}')


if __name__ == '__main__':
    unittest.main(verbosity=2)
