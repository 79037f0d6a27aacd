# Mounts SRC at DST, read-only, with its owners shifted: on-disk uid UIN+x appears
# as UOUT+x and gid GIN+x as GOUT+x (x < COUNT). Written by Winux
# (src/providers/lxc/idmap.ts): each session container has its own id range, but
# all share the template's files (owned by the template's range) as their
# overlay's lower layer; this shifted view of the template is that lower layer.
# Linux idmapped mounts (open_tree, mount_setattr, move_mount; kernel >= 5.12,
# overlayfs over them >= 5.19); util-linux 2.38 has no mount option for them
# (X-mount.idmap came in 2.39) and Node cannot make syscalls, hence this helper.
#   python3 idmapped-mount.py SRC DST UIN UOUT GIN GOUT COUNT
import ctypes, os, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# Syscall numbers shared by every architecture since 5.x (asm-generic unistd.h).
SYS_open_tree, SYS_move_mount, SYS_mount_setattr = 428, 429, 442
CLONE_NEWUSER = 0x10000000
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC = 1, 0o2000000
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_IDMAP = 0x1, 0x00100000
MOVE_MOUNT_F_EMPTY_PATH = 0x4


class MountAttr(ctypes.Structure):
    _fields_ = [('attr_set', ctypes.c_uint64), ('attr_clr', ctypes.c_uint64), ('propagation', ctypes.c_uint64), ('userns_fd', ctypes.c_uint64)]


def check(result, what):
    if result < 0:
        sys.exit(f'idmapped-mount: {what}: {os.strerror(ctypes.get_errno())}')
    return result


if len(sys.argv) != 8:
    sys.exit('usage: idmapped-mount.py SRC DST UIN UOUT GIN GOUT COUNT')
src, dst = sys.argv[1], sys.argv[2]
uin, uout, gin, gout, count = (int(a) for a in sys.argv[3:])

# A user namespace that maps the template's range onto the session's: made by a
# child (a process can only leave for a new user namespace alone), kept alive by
# our fd on it once the child has exited.
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    ok = libc.unshare(CLONE_NEWUSER) == 0
    os.write(ready_w, b'1' if ok else b'0')
    os.read(go_r, 1)
    os._exit(0 if ok else 1)
if os.read(ready_r, 1) != b'1':
    os.write(go_w, b'x')
    os.waitpid(pid, 0)
    sys.exit('idmapped-mount: unshare(CLONE_NEWUSER) failed')
try:
    with open(f'/proc/{pid}/uid_map', 'w') as m:
        m.write(f'{uin} {uout} {count}\n')
    with open(f'/proc/{pid}/gid_map', 'w') as m:
        m.write(f'{gin} {gout} {count}\n')
    userns = os.open(f'/proc/{pid}/ns/user', os.O_RDONLY | os.O_CLOEXEC)
finally:
    os.write(go_w, b'x')
    os.waitpid(pid, 0)

# Through the mount, an on-disk id that the namespace's map has on its left (UIN+x)
# is seen as the id on its right (UOUT+x); ids outside the map show as nobody.
tree = check(libc.syscall(ctypes.c_long(SYS_open_tree), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(src.encode()), ctypes.c_uint(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)), f'open_tree {src}')
attr = MountAttr(MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY, 0, 0, userns)
check(
    libc.syscall(ctypes.c_long(SYS_mount_setattr), ctypes.c_int(tree), ctypes.c_char_p(b''), ctypes.c_uint(AT_EMPTY_PATH), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))),
    'mount_setattr',
)
check(
    libc.syscall(ctypes.c_long(SYS_move_mount), ctypes.c_int(tree), ctypes.c_char_p(b''), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(dst.encode()), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)),
    f'move_mount {dst}',
)
