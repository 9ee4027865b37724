"""Hardening of the grader and of every sandboxed child: who it runs as, what it may do.

``harden`` runs in each child forked by the launcher, after its resource limits and before it reads
anything that matters. In order, each step checked afterwards from ``/proc/self/status``:

    U  as root: capability bounding set emptied, supplementary groups dropped, then uid and gid
       switched to an unprivileged pair (65534, "nobody"), so nothing the grader or the launcher
       owns (their memory, fds, environment through /proc) is reachable even without the steps below
    C  no capability left in any set (permitted, effective, inheritable, ambient)
    N  no_new_privs: no exec can grant privileges back (set-uid bits, file capabilities)
    D  PR_SET_DUMPABLE=0: processes of the same user can neither ptrace it nor read its memory, fds
       or environment through /proc (the judge holds the tests and the sentinel)
    S  the seccomp filter of ``seccomp_program``

The flags string lists the steps that held (``-`` for one that did not): ``UCNDS`` is the complete
sandbox. Stdlib and ctypes only; imported by the launcher before it forks any child.
"""

import contextlib
import os
import sys

COMPLETE = "UCNDS"
SANDBOX_UID = SANDBOX_GID = 65534  # "nobody" on every common distribution

_PR_GET_DUMPABLE, _PR_SET_DUMPABLE, _PR_SET_SECCOMP = 3, 4, 22
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
_CAPABILITY_VERSION_3 = 0x20080522


# The numbers of the system calls the filter restricts: name -> (x86_64, aarch64), from unistd_64.h
# and asm-generic/unistd.h; None where the architecture has only the *at form of the call (aarch64
# has no open, fork, unlink...). One row per call, so a call denied on one architecture is denied
# on the other; what the filter answers each one is decided by name (``seccomp_program``).
_ARCHITECTURES = (("x86_64", 0xC000003E), ("aarch64", 0xC00000B7))  # name, AUDIT_ARCH_*
_NUMBERS: dict[str, tuple[int, int | None]] = {
    "kill": (62, 129), "tgkill": (234, 131), "socket": (41, 198), "open": (2, None),
    "openat": (257, 56), "clone": (56, 220), "fork": (57, None), "vfork": (58, None),
    "clone3": (435, 435), "openat2": (437, 437), "tkill": (200, 130), "rt_sigqueueinfo": (129, 138),
    "rt_tgsigqueueinfo": (297, 240), "pidfd_send_signal": (424, 424), "pidfd_open": (434, 434),
    "pidfd_getfd": (438, 438), "ptrace": (101, 117), "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271), "execve": (59, 221), "execveat": (322, 281), "setsid": (112, 157),
    "setpgid": (109, 154), "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40),
    "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51), "bpf": (321, 280),
    "perf_event_open": (298, 241), "userfaultfd": (323, 282), "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426), "io_uring_register": (427, 427), "keyctl": (250, 219),
    "add_key": (248, 217), "request_key": (249, 218), "personality": (135, 92),
    "open_by_handle_at": (304, 265), "kexec_load": (246, 104), "init_module": (175, 105),
    "finit_module": (313, 273), "kcmp": (312, 272), "process_madvise": (440, 440),
    "migrate_pages": (256, 238), "move_pages": (279, 239), "fcntl": (72, 25), "ioctl": (16, 29),
    "prlimit64": (302, 261), "setpriority": (141, 140), "sched_setaffinity": (203, 122),
    "sched_setparam": (142, 118), "sched_setscheduler": (144, 119), "sched_setattr": (314, 274),
    "ioprio_set": (251, 30), "shmget": (29, 194), "shmat": (30, 196), "shmctl": (31, 195),
    "shmdt": (67, 197), "semget": (64, 190), "semop": (65, 193), "semctl": (66, 191),
    "semtimedop": (220, 192), "msgget": (68, 186), "msgsnd": (69, 189), "msgrcv": (70, 188),
    "msgctl": (71, 187), "mq_open": (240, 180), "mq_unlink": (241, 181), "mq_timedsend": (242, 182),
    "mq_timedreceive": (243, 183), "mq_notify": (244, 184), "mq_getsetattr": (245, 185),
    "creat": (85, None), "unlink": (87, None), "unlinkat": (263, 35), "rename": (82, None),
    "renameat": (264, 38), "renameat2": (316, 276), "mkdir": (83, None), "mkdirat": (258, 34),
    "rmdir": (84, None), "link": (86, None), "linkat": (265, 37), "symlink": (88, None),
    "symlinkat": (266, 36), "chmod": (90, None), "fchmod": (91, 52), "fchmodat": (268, 53),
    "fchmodat2": (452, 452), "chown": (92, None), "fchown": (93, 55), "lchown": (94, None),
    "fchownat": (260, 54), "truncate": (76, 45), "mknod": (133, None), "mknodat": (259, 33),
    "setxattr": (188, 5), "lsetxattr": (189, 6), "fsetxattr": (190, 7), "removexattr": (197, 14),
    "lremovexattr": (198, 15), "fremovexattr": (199, 16), "utime": (132, None), "utimes": (235, None),
    "utimensat": (280, 88), "futimesat": (261, None),
}  # fmt: skip
# Calls that change the file system: denied with EROFS.
_READ_ONLY = frozenset({
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
    "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown",
    "fchown", "lchown", "fchownat", "truncate", "mknod", "mknodat", "setxattr", "lsetxattr",
    "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "utime", "utimes", "utimensat",
    "futimesat",
})  # fmt: skip


def _numbers(column: int, *, read_only: bool) -> dict[str, int]:
    """One architecture's numbers of the read-only calls, or of the others."""
    return {
        name: number
        for name, numbers in _NUMBERS.items()
        if (name in _READ_ONLY) == read_only and (number := numbers[column]) is not None
    }


# machine -> (AUDIT_ARCH_*, restricted calls, read-only calls)
_SYSCALLS = {
    machine: (audit_arch, _numbers(column, read_only=False), _numbers(column, read_only=True))
    for column, (machine, audit_arch) in enumerate(_ARCHITECTURES)
}

_EPERM, _EAGAIN, _EROFS, _ENOSYS, _AF_UNIX = 1, 11, 30, 38, 1
_OPEN_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC
# Calls that act on another process when given its pid (argument 0): allowed only on this one (0
# or its pid). setpriority and ioprio_set are denied outright (in the unconditional list): with
# who=0 and a "user" selector they act on every process of the user, the grader's included.
_OWN_PID_ONLY = ("prlimit64", "sched_setaffinity", "sched_setparam", "sched_setscheduler", "sched_setattr")
# Signal redirection: an fd's owner receives SIGIO (or the F_SETSIG signal, SIGKILL included) on
# I/O, checked against the credentials of whoever set the owner, never against the filter's kill
# rules. F_SETOWN, F_SETSIG, F_SETOWN_EX; ioctl FIOSETOWN and SIOCSPGRP set the same owner.
_FCNTL_DENIED = (8, 10, 15)
_IOCTL_DENIED = (0x8901, 0x8902)
_CHECKED = frozenset({"kill", "tgkill", "socket", "open", "openat", "fcntl", "ioctl", *_OWN_PID_ONLY})


def seccomp_program(machine, pid):
    """The classic-BPF seccomp filter for this process, as bytes (None: unknown architecture).

    Denied: new processes and threads (EAGAIN, as RLIMIT_NPROC would), exec, new sessions and
    process groups, signals to any other process (kill, tgkill, sigqueue, pidfds, and the SIGIO
    owner of an fd: F_SETOWN, F_SETOWN_EX, F_SETSIG, FIOSETOWN, SIOCSPGRP), acting on another pid
    (prlimit, affinity, scheduling, priority, I/O priority, page migration, kcmp, process_madvise),
    System V and POSIX IPC objects (they outlive the process and are shared by the whole user),
    sockets other than AF_UNIX, ptrace and
    cross-process memory access, pidfds, namespaces and mounts, io_uring (it would bypass the other
    rules), bpf, perf, userfaultfd, keyrings, module loading; and every change to the file system
    (EROFS): opening for writing, creating, deleting, renaming, linking, chmod/chown, truncate,
    xattrs, timestamps. Everything else is allowed."""
    if machine not in _SYSCALLS or sys.byteorder != "little":
        return None
    audit_arch, nr, read_only = _SYSCALLS[machine]
    ld, alu_and, jeq, jge, ret = 0x20, 0x54, 0x15, 0x35, 0x06
    allow, kill, errno = 0x7FFF0000, 0x80000000, 0x00050000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit_arch), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    if machine == "x86_64":  # the x32 ABI aliases every call above 0x40000000
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, kill)]

    def arg(index):  # low 32 bits of args[index] (little-endian)
        return (ld, 0, 0, 16 + 8 * index)

    def only_if_arg(name, index, allowed, err):
        body = [arg(index)]
        body += [(jeq, len(allowed) - i, 0, value & 0xFFFFFFFF) for i, value in enumerate(allowed)]
        body += [(ret, 0, 0, errno | err), (ret, 0, 0, allow)]
        return [(jeq, 0, len(body), nr[name]), *body]

    def unless_arg(name, index, denied, err):
        body = [arg(index)]
        body += [(jeq, len(denied) - i, 0, value & 0xFFFFFFFF) for i, value in enumerate(denied)]
        body += [(ret, 0, 0, allow), (ret, 0, 0, errno | err)]
        return [(jeq, 0, len(body), nr[name]), *body]

    def only_if_arg0(name, allowed, err):
        return only_if_arg(name, 0, allowed, err)

    def read_only_open(name, flags_index):
        body = [arg(flags_index), (alu_and, 0, 0, _OPEN_WRITE_FLAGS), (jeq, 1, 0, 0)]
        body += [(ret, 0, 0, errno | _EROFS), (ret, 0, 0, allow)]
        return [(jeq, 0, len(body), nr[name]), *body]

    prog += only_if_arg0("kill", (0, pid, -pid), _EPERM)
    prog += only_if_arg0("tgkill", (pid,), _EPERM)
    prog += only_if_arg0("socket", (_AF_UNIX,), _EPERM)
    prog += unless_arg("fcntl", 1, _FCNTL_DENIED, _EPERM)
    prog += unless_arg("ioctl", 1, _IOCTL_DENIED, _EPERM)
    for name in _OWN_PID_ONLY:
        prog += only_if_arg0(name, (0, pid), _EPERM)
    prog += read_only_open("openat", 2)
    if "open" in nr:
        prog += read_only_open("open", 1)
    for name, number in nr.items():
        if name in _CHECKED:
            continue
        err = (
            _EAGAIN
            if name in ("clone", "fork", "vfork")
            else _ENOSYS
            if name in ("clone3", "openat2")
            else _EPERM
        )
        prog += [(jeq, 0, 1, number), (ret, 0, 0, errno | err)]
    for number in read_only.values():
        prog += [(jeq, 0, 1, number), (ret, 0, 0, errno | _EROFS)]
    prog.append((ret, 0, 0, allow))
    return b"".join(
        code.to_bytes(2, "little") + bytes((jt, jf)) + k.to_bytes(4, "little") for code, jt, jf, k in prog
    )


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    libc.prctl.restype = ctypes.c_int
    return libc


def harden(cwd_fd=None, uid=SANDBOX_UID, gid=SANDBOX_GID):
    """Applies every step of the module docstring that the platform allows; returns the flags of
    the steps that held. ``cwd_fd``: the run's directory, handed to the unprivileged user."""
    try:
        libc = _libc()
    except Exception:
        return _verify(None, installed=False)
    if os.geteuid() == 0:
        _become_unprivileged(libc, cwd_fd, uid, gid)
    _clear_capabilities(libc)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # after the uid switch, which resets it
    return _verify(libc, installed=_install_seccomp(libc))


def _become_unprivileged(libc, cwd_fd, uid, gid):
    if cwd_fd is not None:
        with contextlib.suppress(OSError):
            os.fchown(cwd_fd, uid, gid)
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as handle:
            last = int(handle.read())
    except (OSError, ValueError):
        last = 63
    for capability in range(last + 1):  # needs CAP_SETPCAP: only possible before the switch
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    with contextlib.suppress(OSError):
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # clears the permitted and effective sets


def _clear_capabilities(libc):
    import ctypes

    class _Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class _Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    with contextlib.suppress(Exception):
        libc.capset(ctypes.byref(_Header(_CAPABILITY_VERSION_3, 0)), (_Data * 2)())


def _install_seccomp(libc):
    """True when this filter was installed (a filter inherited from the platform, as on AWS
    Lambda, also shows as "Seccomp: 2" in /proc/self/status: the status alone proves nothing)."""
    import ctypes

    program = seccomp_program(os.uname().machine, os.getpid())
    if program is None:
        return False

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _Fprog(len(program) // 8, ctypes.addressof(buffer))
    return libc.prctl(_PR_SET_SECCOMP, 2, ctypes.addressof(fprog), 0, 0) == 0  # SECCOMP_MODE_FILTER


def _verify(libc, *, installed):
    """The flags of the steps that hold now, read back rather than assumed (``installed``: our
    seccomp filter was accepted)."""
    status = {}
    try:
        with open("/proc/self/status", "rb") as handle:
            for line in handle.read().decode("ascii", "replace").splitlines():
                key, _, value = line.partition(":")
                status[key] = value.split()
    except OSError:
        pass
    caps = [status.get(key, ["?"])[0] for key in ("CapInh", "CapPrm", "CapEff", "CapAmb")]
    uids = status.get("Uid", []) + status.get("Gid", [])
    held = {
        "U": len(uids) == 8 and all(value.isdigit() and value != "0" for value in uids),
        "C": all(value.strip("0") == "" for value in caps),
        "N": status.get("NoNewPrivs") == ["1"],
        "D": libc is not None and libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0) == 0,
        "S": installed and status.get("Seccomp") == ["2"],
    }
    return "".join(step if held[step] else "-" for step in COMPLETE)


def harden_this_process():
    """PR_SET_DUMPABLE=0 for the grader process itself (it holds the batch's references and the
    function's credentials): a process of the same user can then no longer read its memory,
    environment or fds through /proc, nor ptrace it. False where the platform forbids prctl."""
    try:
        libc = _libc()
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        return libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except Exception:
        return False


def apply_limits(cpu_seconds, memory_bytes, file_bytes, nproc, nofile):
    import resource

    for limit, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_AS, memory_bytes),
        (resource.RLIMIT_FSIZE, file_bytes),
        (resource.RLIMIT_NPROC, nproc),  # per user; no effect for root
        (resource.RLIMIT_NOFILE, nofile),
    ):
        _, hard = resource.getrlimit(limit)
        soft_value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        hard_value = soft_value + 1 if limit == resource.RLIMIT_CPU else soft_value
        if hard != resource.RLIM_INFINITY:
            hard_value = min(hard_value, hard)
        resource.setrlimit(limit, (soft_value, hard_value))
