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


# Numbers of the system calls the filter restricts, per architecture (x86_64: unistd_64.h;
# aarch64: asm-generic/unistd.h). kill, tgkill, socket, open and openat are argument-checked.
_SYSCALLS = {
    "x86_64": (
        0xC000003E,
        {
            "kill": 62, "tgkill": 234, "socket": 41, "open": 2, "openat": 257, "clone": 56,
            "fork": 57, "vfork": 58, "clone3": 435, "openat2": 437, "tkill": 200,
            "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "pidfd_send_signal": 424,
            "pidfd_open": 434, "pidfd_getfd": 438, "ptrace": 101, "process_vm_readv": 310,
            "process_vm_writev": 311, "execve": 59, "execveat": 322, "setsid": 112, "setpgid": 109,
            "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
            "chroot": 161, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "keyctl": 250,
            "add_key": 248, "request_key": 249, "personality": 135, "open_by_handle_at": 304,
            "kexec_load": 246, "init_module": 175, "finit_module": 313, "kcmp": 312,
            "process_madvise": 440, "migrate_pages": 256, "move_pages": 279, "fcntl": 72,
            "ioctl": 16, "prlimit64": 302, "setpriority": 141, "sched_setaffinity": 203,
            "sched_setparam": 142, "sched_setscheduler": 144, "sched_setattr": 314,
            "ioprio_set": 251, "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64,
            "semop": 65, "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69,
            "msgrcv": 70, "msgctl": 71, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242,
            "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245,
        },
        {
            "creat": 85, "unlink": 87, "unlinkat": 263, "rename": 82, "renameat": 264,
            "renameat2": 316, "mkdir": 83, "mkdirat": 258, "rmdir": 84, "link": 86, "linkat": 265,
            "symlink": 88, "symlinkat": 266, "chmod": 90, "fchmod": 91, "fchmodat": 268,
            "fchmodat2": 452, "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
            "truncate": 76, "mknod": 133, "mknodat": 259, "setxattr": 188, "lsetxattr": 189,
            "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199,
            "utime": 132, "utimes": 235, "utimensat": 280, "futimesat": 261,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "kill": 129, "tgkill": 131, "socket": 198, "openat": 56, "clone": 220, "clone3": 435,
            "openat2": 437, "tkill": 130, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
            "pidfd_send_signal": 424, "pidfd_open": 434, "pidfd_getfd": 438, "ptrace": 117,
            "process_vm_readv": 270, "process_vm_writev": 271, "execve": 221, "execveat": 281,
            "setsid": 157, "setpgid": 154, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
            "pivot_root": 41, "chroot": 51, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "keyctl": 219,
            "add_key": 217, "request_key": 218, "personality": 92, "open_by_handle_at": 265,
            "kexec_load": 104, "init_module": 105, "finit_module": 273, "kcmp": 272,
            "process_madvise": 440, "migrate_pages": 238, "move_pages": 239, "fcntl": 25,
            "ioctl": 29, "prlimit64": 261, "setpriority": 140, "sched_setaffinity": 122,
            "sched_setparam": 118, "sched_setscheduler": 119, "sched_setattr": 274,
            "ioprio_set": 30, "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182,
            "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185, "msgget": 186,
            "msgctl": 187, "msgrcv": 188, "msgsnd": 189, "semget": 190, "semctl": 191,
            "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195, "shmat": 196,
            "shmdt": 197,
        },
        {
            "unlinkat": 35, "renameat": 38, "renameat2": 276, "mkdirat": 34, "linkat": 37,
            "symlinkat": 36, "fchmod": 52, "fchmodat": 53, "fchmodat2": 452, "fchown": 55,
            "fchownat": 54, "truncate": 45, "mknodat": 33, "setxattr": 5, "lsetxattr": 6,
            "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16,
            "utimensat": 88,
        },
    ),
}  # fmt: skip

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
