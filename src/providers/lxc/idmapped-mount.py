# Mounts SRC at DST with its owners shifted: on-disk uid/gid INNER+x appears as
# OUTER+x (x < COUNT). Written by Winux (src/providers/lxc/idmap.ts): each session
# container has its own id range, but all share the template's files (owned by
# the template's range) as their overlay's lower layer; this shifted view of the
# template is that lower layer. Linux idmapped mounts (open_tree, mount_setattr,
# move_mount; kernel >= 5.12, overlayfs on them >= 5.19); util-linux 2.38 has no
# mount option for them, hence these few syscalls.
#   python3 idmapped-mount.py SRC DST INNER OUTER COUNT
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class Attr(ctypes.Structure):
    _fields_ = [('attr_set', ctypes.c_uint64), ('attr_clr', ctypes.c_uint64), ('propagation', ctypes.c_uint64), ('userns_fd', ctypes.c_uint64)]
def check(r, what):
    if r < 0:
        e = ctypes.get_errno(); sys.exit(f'{what}: {os.strerror(e)}')
    return r
src, dst, inner, outer, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    check(libc.unshare(0x10000000), 'unshare')
    os.read(r, 1)
    os._exit(0)
os.close(r)
for _ in range(100):
    if os.readlink(f'/proc/{pid}/ns/user') != os.readlink('/proc/self/ns/user'): break
    time.sleep(0.01)
for f in ('uid_map', 'gid_map'):
    with open(f'/proc/{pid}/{f}', 'w') as m: m.write(f'{inner} {outer} {count}\n')
ns = os.open(f'/proc/{pid}/ns/user', os.O_RDONLY)
os.write(w, b'x'); os.waitpid(pid, 0)
fd = check(libc.syscall(ctypes.c_long(428), ctypes.c_int(-100), ctypes.c_char_p(src.encode()), ctypes.c_uint(1 | 0o2000000)), 'open_tree')
a = Attr(0x00100000, 0, 0, ns)
check(libc.syscall(ctypes.c_long(442), ctypes.c_int(fd), ctypes.c_char_p(b''), ctypes.c_uint(0x1000), ctypes.byref(a), ctypes.c_size_t(ctypes.sizeof(a))), 'mount_setattr')
check(libc.syscall(ctypes.c_long(429), ctypes.c_int(fd), ctypes.c_char_p(b''), ctypes.c_int(-100), ctypes.c_char_p(dst.encode()), ctypes.c_uint(0x4)), 'move_mount')
