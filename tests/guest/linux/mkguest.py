#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Builds kzlinux, the Linux test guest: Debian's kernel and a tiny initramfs
made of Debian's static busybox, the kernel modules the guest needs and
tests/guest/linux/init (see README.md here).

  mkguest.py fetch [--cache DIR]            the two .deb files, downloaded with apt
  mkguest.py build --out DIR [--cache DIR]  DIR/vmlinux and DIR/initrd.img (fetches what is missing)
  mkguest.py which                          the two packages and versions it would use

Nothing is installed on this machine: `apt-get download` fetches the packages
(checked by apt against the archive's signed index) and `dpkg-deb
--fsys-tarfile` reads them.  The kernel is the vmlinux inside Debian's
bzImage, as an ELF that QEMU boots through its PVH entry (no decompression
in the guest); the initramfs is an uncompressed cpio "newc" archive written
here, with fixed owners and times.  The same packages always give the same
bytes.

The .deb files are looked for in $KZ_GUEST_DEBS, then apt's own cache
(/var/cache/apt/archives), then --cache; what is missing is downloaded into
apt's cache when we may write there (root), else into --cache.
"""

import argparse
import io
import lzma
import os
import posixpath
import stat
import struct
import subprocess
import sys
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
APT_CACHE = '/var/cache/apt/archives'
KERNEL_META = 'linux-image-amd64'          # Debian 12: depends on linux-image-6.1.0-N-amd64
BUSYBOX = 'busybox-static'
# What the guest loads, in this order after their dependencies: PCI virtio
# transport, disks, NICs, virtio-mem, and the ACPI power button with its
# input event device (Debian builds all of them as modules).
MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_mem', 'button', 'evdev']
# Where those and their dependencies live in the kernel package.
MODULE_DIRS = ['kernel/drivers/virtio/', 'kernel/drivers/block/', 'kernel/drivers/net/',
               'kernel/net/core/', 'kernel/drivers/acpi/', 'kernel/drivers/input/']
# busybox applets /init uses (symlinks to /bin/busybox)
APPLETS = ['sh', 'mount', 'mkdir', 'cat', 'echo', 'sleep', 'insmod', 'poweroff', 'head', 'sync', 'uname',
           'ls', 'dmesg']
# a fixed time for every file in the initramfs
MTIME = int(os.environ.get('SOURCE_DATE_EPOCH', '0'))


class GuestError(Exception):
    pass


def log(msg):
    print(f'mkguest: {msg}', file=sys.stderr, flush=True)


def run(argv, cwd=None):
    p = subprocess.run(argv, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise GuestError(f'{" ".join(argv)}: exit {p.returncode}: {p.stderr.strip()}')
    return p.stdout


# ---------------------------------------------------------------- the packages

def candidate(pkg):
    """(Version, Depends) of PKG's candidate in apt's index, or None when apt
    does not know it (no `apt-get update` yet)."""
    p = subprocess.run(['apt-cache', 'show', '--no-all-versions', pkg], text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if p.returncode != 0 or not p.stdout.strip():
        return None
    fields = {}
    for line in p.stdout.splitlines():
        if ':' in line and not line.startswith(' '):
            k, v = line.split(':', 1)
            fields.setdefault(k, v.strip())
    return fields.get('Version'), fields.get('Depends', '')


def packages(update=False):
    """[(package, version)] of the kernel image and busybox-static to use."""
    meta = candidate(KERNEL_META)
    if meta is None and update:
        if os.geteuid() != 0:
            raise GuestError(f'apt does not know {KERNEL_META}: run apt-get update (as root)')
        log('apt does not know the kernel package: apt-get update')
        run(['apt-get', 'update', '-qq'])
        meta = candidate(KERNEL_META)
    if meta is None:
        raise GuestError(f'apt does not know {KERNEL_META} (run apt-get update, or make deps)')
    # "linux-image-6.1.0-57-amd64 (= 6.1.192-3)"
    dep = meta[1].split(',')[0].strip()
    if not dep.startswith('linux-image-') or '(=' not in dep:
        raise GuestError(f'{KERNEL_META} {meta[0]}: unexpected Depends: {meta[1]}')
    image, ver = dep.split('(=', 1)
    bb = candidate(BUSYBOX)
    if bb is None:
        raise GuestError(f'apt does not know {BUSYBOX}')
    return [(image.strip(), ver.strip(' )')), (BUSYBOX, bb[0])]


def deb_name(pkg, ver):
    # apt's file name: the epoch's colon is written %3a
    return f'{pkg}_{ver.replace(":", "%3a")}_amd64.deb'


def cache_dirs(cache):
    dirs = [os.environ.get('KZ_GUEST_DEBS'), APT_CACHE, cache]
    return [d for d in dirs if d]


def find_debs(pkgs, cache):
    found = {}
    for pkg, ver in pkgs:
        for d in cache_dirs(cache):
            path = os.path.join(d, deb_name(pkg, ver))
            if os.path.isfile(path):
                found[pkg] = path
                break
    return found


def fetch(cache, update=True):
    """The .deb files of packages(), downloaded where missing: {package: path}."""
    pkgs = packages(update=update)
    found = find_debs(pkgs, cache)
    missing = [(p, v) for p, v in pkgs if p not in found]
    if missing:
        dest = APT_CACHE if os.access(APT_CACHE, os.W_OK) else cache
        if not dest:
            raise GuestError('no directory to download the packages into (--cache)')
        os.makedirs(dest, exist_ok=True)
        log(f'downloading {" ".join(f"{p}={v}" for p, v in missing)} into {dest}')
        run(['apt-get', 'download', '-q'] + [f'{p}={v}' for p, v in missing], cwd=dest)
        found = find_debs(pkgs, cache)
        missing = [p for p, v in pkgs if p not in found]
        if missing:
            raise GuestError(f'apt-get download left no file for {" ".join(missing)}')
    return pkgs, found


# ---------------------------------------------------------------- kernel modules

def modinfo(data):
    """The key=value strings of an ELF64 kernel module's .modinfo section."""
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise GuestError('not a little-endian ELF64 module')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)

    def section(i):
        name, _, _, _, off, size = struct.unpack_from('<IIQQQQ', data, shoff + i * shentsize)
        return name, off, size
    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        end = data.index(b'\0', stroff + name)
        if data[stroff + name:end] == b'.modinfo':
            info = {}
            for item in data[off:off + size].split(b'\0'):
                if b'=' in item:
                    k, v = item.decode(errors='replace').split('=', 1)
                    info.setdefault(k, v)
            return info
    return {}


def read_kernel(deb):
    """(release, vmlinuz bytes, {module name: (bytes, depends)}) from the kernel .deb."""
    p = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', deb], stdout=subprocess.PIPE)
    vmlinuz, release, mods = None, None, {}
    with tarfile.open(fileobj=p.stdout, mode='r|') as tar:
        for m in tar:
            name = m.name.lstrip('./')
            if not m.isfile():
                continue
            if name.startswith('boot/vmlinuz-'):
                vmlinuz = tar.extractfile(m).read()
                release = name[len('boot/vmlinuz-'):]
            elif name.startswith('lib/modules/') and name.endswith('.ko'):
                rel = name.split('/', 3)[3]
                if any(rel.startswith(d) for d in MODULE_DIRS):
                    data = tar.extractfile(m).read()
                    info = modinfo(data)
                    mod = posixpath.basename(name)[:-3].replace('-', '_')
                    deps = [d.replace('-', '_') for d in info.get('depends', '').split(',') if d]
                    mods[mod] = (data, deps)
    p.stdout.close()
    if p.wait() != 0:
        raise GuestError(f'dpkg-deb --fsys-tarfile {deb}: exit {p.returncode}')
    if vmlinuz is None:
        raise GuestError(f'{deb}: no /boot/vmlinuz-*')
    return release, vmlinuz, mods


def load_order(mods, wanted):
    """WANTED and their dependencies, each after what it depends on."""
    order, seen = [], set()

    def visit(m, path):
        if m in seen:
            return
        if m in path:
            raise GuestError(f'module dependency loop: {" -> ".join(path + [m])}')
        if m not in mods:
            raise GuestError(f'module {m} (needed by {path[-1] if path else "the guest"}) is not in '
                             f'{", ".join(MODULE_DIRS)} of the kernel package')
        for d in mods[m][1]:
            visit(d, path + [m])
        seen.add(m)
        order.append(m)
    for m in wanted:
        visit(m, [])
    return order


# ---------------------------------------------------------------- the kernel, for a PVH boot

def bzimage_payload(bz):
    """The compressed vmlinux inside a bzImage (boot protocol 2.08+), decompressed."""
    if bz[0x202:0x206] != b'HdrS':
        raise GuestError('vmlinuz is not a bzImage')
    setup_sects = bz[0x1f1] or 4
    off, length = struct.unpack_from('<II', bz, 0x248)
    start = (setup_sects + 1) * 512 + off
    payload = bz[start:start + length]
    if payload[:6] == b'\xfd7zXZ\0':
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    if payload[:2] == b'\x1f\x8b':
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    raise GuestError(f'vmlinuz: a payload compressed with what starts {payload[:6].hex()}: only xz and gzip are known')


def pvh_elf(vmlinux):
    """VMLINUX as a smaller ELF for QEMU's -kernel: its loadable segments and
    notes only (QEMU boots an ELF kernel through its PVH entry note, loading
    each segment at its physical address), each segment without its trailing
    zeros (.bss, .brk: the loader clears p_memsz - p_filesz)."""
    if vmlinux[:4] != b'\x7fELF' or vmlinux[4] != 2:
        raise GuestError('the bzImage payload is not an ELF64 vmlinux')
    phoff, = struct.unpack_from('<Q', vmlinux, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', vmlinux, 0x36)
    phdrs = [struct.unpack_from('<IIQQQQQQ', vmlinux, phoff + i * phentsize) for i in range(phnum)]
    loads = [p for p in phdrs if p[0] == 1]
    notes = [p for p in phdrs if p[0] == 4]
    if not notes:
        raise GuestError('vmlinux has no PT_NOTE: no PVH entry for QEMU')
    pos = 64 + (len(loads) + len(notes)) * 56
    body = b''
    out = []
    placed = []           # (old offset, old file size, new offset)
    for t, flags, off, vaddr, paddr, filesz, memsz, align in loads:
        data = vmlinux[off:off + filesz].rstrip(b'\0')
        pad = -pos % 4096
        body += b'\0' * pad + data
        pos += pad
        placed.append((off, filesz, pos))
        out.append((t, flags, pos, vaddr, paddr, len(data), memsz, 4096))
        pos += len(data)
    for t, flags, off, vaddr, paddr, filesz, memsz, align in notes:
        # a note lies in a loadable segment's data, which is kept up to its last non-zero byte
        new = next((n + off - o for o, fs, n in placed if o <= off and off + filesz <= o + fs), None)
        if new is None:
            raise GuestError('vmlinux: a note outside its loadable segments')
        out.append((t, flags, new, vaddr, paddr, filesz, memsz, align))
    ehdr = bytearray(vmlinux[:64])
    struct.pack_into('<QQ', ehdr, 0x20, 64, 0)                   # e_phoff; e_shoff: no sections
    struct.pack_into('<HHHHH', ehdr, 0x36, 56, len(out), 64, 0, 0)  # phentsize, phnum, shentsize, shnum, shstrndx
    return bytes(ehdr) + b''.join(struct.pack('<IIQQQQQQ', *p) for p in out) + body


def read_busybox(deb):
    p = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', deb], stdout=subprocess.PIPE)
    data = None
    with tarfile.open(fileobj=p.stdout, mode='r|') as tar:
        for m in tar:
            if m.isfile() and m.name.lstrip('./') == 'bin/busybox':
                data = tar.extractfile(m).read()
    p.stdout.close()
    if p.wait() != 0 or data is None:
        raise GuestError(f'{deb}: no /bin/busybox')
    return data


# ---------------------------------------------------------------- the initramfs

class Cpio:
    """A cpio "newc" archive, as the kernel unpacks an initramfs."""

    def __init__(self):
        self.out = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        namez = name.encode() + b'\0'
        hdr = '070701' + ''.join(f'{v:08x}' for v in (
            self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, MTIME, len(data),
            0, 0, rdev[0], rdev[1], len(namez), 0))
        self.ino += 1
        self.out.write(hdr.encode() + namez)
        self.out.write(b'\0' * (-(110 + len(namez)) % 4))
        self.out.write(data)
        self.out.write(b'\0' * (-len(data) % 4))

    def dir(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self):
        self.ino = 0
        self._entry('TRAILER!!!', 0)
        return self.out.getvalue()


def initramfs(busybox, release, mods, order, init):
    c = Cpio()
    for d in ('bin', 'dev', 'etc', 'proc', 'sys', 'run', 'lib', 'lib/modules', f'lib/modules/{release}'):
        c.dir(d)
    c.chardev('dev/console', 5, 1)     # the kernel opens it for /init before devtmpfs is mounted
    c.file('bin/busybox', busybox, 0o755)
    for a in APPLETS:
        c.symlink(f'bin/{a}', 'busybox')
    for m in order:
        c.file(f'lib/modules/{release}/{m}.ko', mods[m][0])
    # /init loads them in this order
    c.file('etc/kzlinux-modules', ''.join(f'/lib/modules/{release}/{m}.ko\n' for m in order).encode())
    c.file('init', init, 0o755)
    # not compressed: on a host that emulates the guest's kernel, gunzip in the
    # guest would take longer than reading the bigger file
    return c.finish()


def write_atomic(path, data, mode=0o644):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def build(out, cache):
    pkgs, debs = fetch(cache)
    kpkg = pkgs[0][0]
    release, vmlinuz, mods = read_kernel(debs[kpkg])
    order = load_order(mods, MODULES)
    with open(os.path.join(HERE, 'init'), 'rb') as f:
        init = f.read()
    img = initramfs(read_busybox(debs[BUSYBOX]), release, mods, order, init)
    os.makedirs(out, exist_ok=True)
    elf = pvh_elf(bzimage_payload(vmlinuz))
    write_atomic(os.path.join(out, 'initrd.img'), img)
    write_atomic(os.path.join(out, 'release'), f'{release} {" ".join(f"{p}={v}" for p, v in pkgs)}\n'.encode())
    write_atomic(os.path.join(out, 'vmlinux'), elf)
    log(f'{" ".join(f"{p}={v}" for p, v in pkgs)}: vmlinux {len(elf) // 1024} KiB, '
        f'initrd.img {len(img) // 1024} KiB, modules {" ".join(order)}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    f = sub.add_parser('fetch')
    f.add_argument('--cache', help='where to download when apt\'s cache is not writable')
    b = sub.add_parser('build')
    b.add_argument('--out', required=True)
    b.add_argument('--cache')
    sub.add_parser('which')
    args = ap.parse_args()
    try:
        if args.cmd == 'fetch':
            pkgs, debs = fetch(args.cache)
            for p, v in pkgs:
                print(debs[p])
        elif args.cmd == 'build':
            build(args.out, args.cache)
        else:
            for p, v in packages():
                print(f'{p} {v}')
    except GuestError as e:
        print(f'mkguest: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
