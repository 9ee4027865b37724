"""Code that runs *inside* the sandboxed child interpreters started by ``sandbox.py``.

The grader process never runs this module's ``main``: it compiles this file once, and each child
(``python -s -P -B -S -c <stub> <ctrl fd> <limits...>``) receives the code object over its control
pipe, executes it and calls ``main``. Keep it stdlib-only and cheap to start: the child's start-up
time is the grader's throughput, so modules are imported where they are needed.

Three roles, one per process:

* ``judge``: trusted. Holds the reference tests and a per-run random sentinel, never executes the
  candidate's code. It runs ``check(candidate)`` where ``candidate`` is a proxy that ships the
  arguments to the candidate process and decodes the returned value as plain data (``decode_value``:
  builtin types only). Results go to the parent on a private pipe, one line per test unit, each line
  framed with the sentinel.
* ``candidate``: untrusted. Executes the solution, then answers calls: ``encode_value`` of the return
  value, or the exception's type name. Whatever it sends is only ever decoded as data.
* ``program``: untrusted. Executes a whole program with the case input on stdin; the parent compares
  its stdout.

Hardening applied in every child before it reads anything that matters: resource limits, and where
the platform allows (see the package docstring) ``PR_SET_DUMPABLE=0`` and a seccomp filter.
"""

# ruff: noqa: SIM105  (try/except/pass on purpose: importing contextlib would cost every child)

import os
import sys

MAX_DEPTH = 100  # nesting of a value crossing the candidate -> judge pipe
MAX_REPLY = 4 * 1024 * 1024  # bytes of one candidate reply
MAX_REQUEST = 64 * 1024 * 1024  # bytes of one judge -> candidate call (trusted side)
EXIT_SYNTAX = 97  # program mode: the code does not compile
EXIT_LIMITS = 98  # a resource limit could not be applied: refuse to run


# --------------------------------------------------------------------------- framing


def _read_exact(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd, cap):
    """One length-prefixed frame, or None on EOF or a frame larger than ``cap``."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > cap:
        return None
    return _read_exact(fd, size) if size else b""


def write_frame(fd, payload):
    data = memoryview(len(payload).to_bytes(4, "big") + payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


# --------------------------------------------------------------------------- value codec
#
# Tag-length-value, ASCII headers: N T F (None, True, False); i<n>:<hex> int; f<n>:<float.hex>;
# c<n>:<float.hex>,<float.hex> complex; s<n>:<utf-8> str; b<n>:<bytes>; l/t/S/Z<count>: list, tuple,
# set, frozenset; d<count>: dict (key, value, ...). Hex ints and float.hex are exact and need no
# import; the decoder is plain Python with bounds on every length, count and depth.


def encode_value(value, out, depth=0):
    """Appends the encoding of ``value`` to the list ``out``; TypeError for anything that is not
    plain data (subclasses of the builtin types are converted to the builtin type)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if value is None:
        out.append(b"N")
    elif value is True:
        out.append(b"T")
    elif value is False:
        out.append(b"F")
    elif isinstance(value, int):
        text = b"%x" % int(value)
        out.append(b"i%d:%s" % (len(text), text))
    elif isinstance(value, float):
        text = float.hex(float(value)).encode("ascii")
        out.append(b"f%d:%s" % (len(text), text))
    elif isinstance(value, complex):
        text = (float.hex(value.real) + "," + float.hex(value.imag)).encode("ascii")
        out.append(b"c%d:%s" % (len(text), text))
    elif isinstance(value, str):
        data = str.__str__(value).encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data))
        out.append(data)
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        out.append(b"b%d:" % len(data))
        out.append(data)
    elif isinstance(value, (list, tuple, set, frozenset)):
        if isinstance(value, list):
            tag = b"l"
        elif isinstance(value, tuple):
            tag = b"t"
        elif isinstance(value, set):
            tag = b"S"
        else:
            tag = b"Z"
        items = list(value)
        out.append(tag + b"%d:" % len(items))
        for item in items:
            encode_value(item, out, depth + 1)
    elif isinstance(value, dict):
        items = list(dict.items(value))
        out.append(b"d%d:" % len(items))
        for key, item in items:
            encode_value(key, out, depth + 1)
            encode_value(item, out, depth + 1)
    else:
        raise TypeError(f"return value of type {type(value).__name__} is not plain data")


def _length(data, pos):
    end = data.find(b":", pos, pos + 21)
    if end < 0:
        raise ValueError("bad length")
    digits = data[pos:end]
    if not digits.isdigit():
        raise ValueError("bad length")
    return int(digits), end + 1


_HEX = frozenset(b"0123456789abcdef")
_FLOAT = frozenset(b"0123456789abcdefxpinf.+-")


def _decode(data, pos, depth):
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if pos >= len(data):
        raise ValueError("truncated value")
    tag = data[pos : pos + 1]
    pos += 1
    if tag == b"N":
        return None, pos
    if tag == b"T":
        return True, pos
    if tag == b"F":
        return False, pos
    if tag in (b"i", b"f", b"c", b"s", b"b"):
        size, pos = _length(data, pos)
        end = pos + size
        if end > len(data):
            raise ValueError("truncated value")
        raw = data[pos:end]
        if tag == b"i":
            body = raw[1:] if raw[:1] == b"-" else raw
            if not body or not _HEX.issuperset(body):
                raise ValueError("bad int")
            return int(raw, 16), end
        if tag == b"s":
            return raw.decode("utf-8", "surrogatepass"), end
        if tag == b"b":
            return bytes(raw), end
        if not _FLOAT.issuperset(raw.replace(b",", b"")):
            raise ValueError("bad float")
        if tag == b"f":
            return float.fromhex(raw.decode("ascii")), end
        real, sep, imag = raw.decode("ascii").partition(",")
        if not sep:
            raise ValueError("bad complex")
        return complex(float.fromhex(real), float.fromhex(imag)), end
    if tag in (b"l", b"t", b"S", b"Z", b"d"):
        count, pos = _length(data, pos)
        if count > len(data) - pos:  # every item takes at least one byte
            raise ValueError("bad count")
        if tag == b"d":
            result = {}
            for _ in range(count):
                key, pos = _decode(data, pos, depth + 1)
                value, pos = _decode(data, pos, depth + 1)
                result[key] = value  # TypeError for an unhashable key
            return result, pos
        items = []
        for _ in range(count):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        if tag == b"l":
            return items, pos
        if tag == b"t":
            return tuple(items), pos
        return (set(items) if tag == b"S" else frozenset(items)), pos
    raise ValueError("bad tag")


def decode_value(data):
    """The value encoded in ``data`` (bytes); ValueError/TypeError for anything malformed."""
    value, pos = _decode(data, 0, 0)
    if pos != len(data):
        raise ValueError("trailing bytes")
    return value


# --------------------------------------------------------------------------- hardening

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
            "ioprio_set": 251,
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
            "ioprio_set": 30,
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


def harden():
    """Best effort: PR_SET_DUMPABLE=0 (other processes of the same user can no longer read this
    one's memory, fds or environment through /proc, nor ptrace it) and the seccomp filter.
    Returns two flags, "1"/"0" each: dumpable cleared, seccomp installed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        prctl.restype = ctypes.c_int
    except Exception:
        return "00"
    undumpable = prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE
    installed = False
    program = seccomp_program(os.uname().machine, os.getpid())
    if program is not None and prctl(38, 1, 0, 0, 0) == 0:  # PR_SET_NO_NEW_PRIVS

        class _Fprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _Fprog(len(program) // 8, ctypes.addressof(buffer))
        installed = prctl(22, 2, ctypes.addressof(fprog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
    return ("1" if undumpable else "0") + ("1" if installed else "0")


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


def _install_exit():
    # -S skips site, which is what defines exit() and quit(); programs do call them.
    import builtins

    def _exit(code=None):
        raise SystemExit(code)

    builtins.exit = builtins.quit = _exit


# --------------------------------------------------------------------------- judge


class CandidateError(Exception):
    """The candidate failed to answer a call (crashed, exited, sent something unreadable)."""


# Exceptions that steer control flow where they surface: a StopIteration raised through the proxy
# would end a `for` over `map(candidate, xs)` early and silently (its unit then passes). They, and
# everything that is not an Exception (GeneratorExit, KeyboardInterrupt, SystemExit), cross as a
# plain CandidateError.
_CONTROL_FLOW = (StopIteration, StopAsyncIteration)


def _exception_from(body):
    import builtins

    name = body[:64].decode("ascii", "replace")
    cls = getattr(builtins, name, None) if name.isidentifier() else None
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, _CONTROL_FLOW):
        try:
            return cls("raised by the candidate")
        except Exception:
            pass
    return CandidateError("candidate raised " + name)


def _judge(cfg, flags):
    import builtins
    import marshal

    sentinel = cfg["sentinel"]
    res, j2c, c2j = cfg["res"], cfg["j2c"], cfg["c2j"]

    def emit(line):
        os.write(res, f"{sentinel} {line}\n".encode("ascii", "replace"))  # < PIPE_BUF: atomic

    hello = read_frame(c2j, 64)
    peer = hello[1:3].decode("ascii", "replace") if hello and hello[:1] == b"H" else "??"
    emit(f"B {flags} {peer}")
    alive = [True]
    try:
        write_frame(j2c, b"G")  # the candidate loads its code while the check is prepared below
    except OSError:
        alive[0] = False

    def candidate(*args, **kwargs):
        if not alive[0]:
            raise CandidateError("the candidate process is gone")
        try:
            payload = marshal.dumps((args, kwargs))
        except ValueError:
            raise TypeError("arguments of this type cannot be passed to the candidate") from None
        try:
            write_frame(j2c, b"C" + payload)
            reply = read_frame(c2j, MAX_REPLY)
        except OSError:
            reply = None
        if reply is None:
            alive[0] = False
            raise CandidateError("the candidate process is gone")
        if reply[:1] == b"R":
            try:
                return decode_value(reply[1:])
            except Exception:
                raise CandidateError("the candidate returned something that is not plain data") from None
        if reply[:1] == b"X":
            raise _exception_from(reply[1:])
        alive[0] = False
        raise CandidateError("protocol violation")

    candidate.__name__ = candidate.__qualname__ = cfg["entry"]

    def unit(index, passed):
        emit(f"U {index} {1 if passed else 0}")

    namespace = {"__name__": "__check__", "__builtins__": builtins}
    if cfg["seed"]:
        import random

        random.seed(0)
    if cfg["prompt"] is not None:
        try:
            exec(marshal.loads(cfg["prompt"]), namespace)
        except Exception:
            pass
    namespace[cfg["entry"]] = candidate
    namespace["__rft_unit__"] = unit
    try:
        exec(marshal.loads(cfg["test"]), namespace)
        check = namespace["check"]
    except Exception:
        emit("E bad_reference")
        return
    loaded = None
    if alive[0]:
        try:
            loaded = read_frame(c2j, 256)
        except OSError:
            pass
    if not loaded or loaded[:1] != b"L":
        status, alive[0] = "gone", False
    else:
        # Written after the candidate's code ran: untrusted, so reduced to a harmless word.
        status = "".join(c if c.isalnum() else "_" for c in loaded[1:64].decode("ascii", "replace")) or "gone"
    emit("L " + status)
    if status != "ok":
        emit("E load")
        return
    if cfg["units"] == 0:
        try:
            check(candidate)
            unit(0, True)
        except Exception:
            unit(0, False)
        emit("E ok")
        return
    try:
        check(candidate)
    except Exception:
        emit("E raised")
    else:
        emit("E ok")


# --------------------------------------------------------------------------- candidate

# Stdlib modules worth importing while waiting for the judge (typing alone costs 10-20 ms under
# -S): only these, only when the code names them, and no candidate code runs here.
_PRELOAD = ("typing", "collections", "itertools", "functools", "math", "re", "heapq", "bisect", "string")


def _preload(code):
    for name in _PRELOAD:
        if name in code:
            try:
                __import__(name)
            except Exception:
                pass


def _candidate(cfg, flags):
    import builtins
    import marshal

    j2c, c2j = cfg["j2c"], cfg["c2j"]
    write_frame(c2j, b"H" + flags.encode("ascii"))
    _install_exit()
    try:
        code = compile(cfg["code"], "solution.py", "exec")
        status = "ok"
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        code, status = None, "syntax"
    _preload(cfg["code"])
    if read_frame(j2c, 16) != b"G":  # the judge is hardened and holds its tests: go
        return
    function = None
    if code is not None:
        module = type(sys)("solution")
        module.__dict__["__builtins__"] = builtins
        sys.modules["solution"] = module
        try:
            exec(code, module.__dict__)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt...: all are load errors
            status = "error " + type(exc).__name__[:40]
        else:
            function = module.__dict__.get(cfg["entry"])
            if function is None or not callable(function):
                function, status = None, "missing"
    # From here on the process runs the candidate's code: whatever it writes is decoded as data.
    write_frame(c2j, b"L" + status.encode("ascii", "replace"))
    if function is None:
        return
    while True:
        request = read_frame(j2c, MAX_REQUEST)
        if request is None or request[:1] != b"C":
            return
        try:
            args, kwargs = marshal.loads(request[1:])
            out = [b"R"]
            encode_value(function(*args, **kwargs), out)
            reply = b"".join(out)
        except BaseException as exc:
            reply = b"X" + type(exc).__name__.encode("ascii", "replace")[:64]
        write_frame(c2j, reply)


# --------------------------------------------------------------------------- program


def _program(cfg):
    import builtins

    _install_exit()
    try:
        code = compile(cfg["code"], "solution.py", "exec")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        os._exit(EXIT_SYNTAX)
    module = type(sys)("__main__")
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    sys.argv = ["solution.py"]
    exec(code, module.__dict__)


# --------------------------------------------------------------------------- entry


def main(ctrl, argv):
    """``ctrl``: the control pipe (binary file); ``argv``: five limits, "1" to harden, the mode, and
    for the judge the fd of its result pipe."""
    import marshal

    try:
        apply_limits(*(int(value) for value in argv[:5]))
    except Exception:
        os._exit(EXIT_LIMITS)
    flags = harden() if argv[5] == "1" else "00"
    mode = argv[6]
    if mode == "probe":
        os.write(1, flags.encode("ascii"))
        os._exit(0)
    if mode == "judge":
        os.write(int(argv[7]), b"R")  # hardened: the parent may now send the tests
    size = int.from_bytes(ctrl.read(4), "big")
    cfg = marshal.loads(ctrl.read(size))
    ctrl.close()
    if mode == "judge":
        try:
            _judge(cfg, flags)
        finally:
            os._exit(0)  # no atexit, no interpreter teardown: the run is over
    elif mode == "candidate":
        try:
            _candidate(cfg, flags)
        except BaseException:
            pass
        os._exit(0)
    else:
        _program(cfg)
