"""The launcher: the one process that starts the sandboxed children, and holds nothing worth stealing.

A candidate can read whatever its parent and its user's other processes leave readable. So the
judges, candidates and programs are not children of the grader (which holds the batch's references
and the function's credentials) but of a *launcher*: a fresh interpreter that the grader starts
once, at cold start, before any event is read. It is exec'd (not forked) with an environment of two
variables, so its memory never held a reference, a test, an answer or a credential; tests and code
travel from the grader straight to each child over pipes that the launcher only hands on.

    grader ──SOCK_SEQPACKET (requests + fds)──▶ launcher ──fork──▶ child: setsid, fds in place,
       ▲                                            │                cwd, rlimits, hardening, role
       └───── pid + status pipe (exit status) ◀─────┘

* Requests carry the role, the limits and the child's pipes (SCM_RIGHTS); the reply is the pid and
  the read end of a status pipe on which the launcher writes the exit status after reaping.
* A forked child starts in a millisecond (the launcher has the stdlib modules that tests and
  solutions use warm), against ~20 ms for a fresh interpreter.
* When a child exits, the launcher SIGKILLs its process group before reaping it (the zombie keeps
  the group id reserved), so a grandchild cannot outlive its run. When the grader goes away (EOF),
  the launcher kills every child and exits.
* The launcher is non-dumpable and has no_new_privs; run as root, it stays root (it hands each run
  directory to the unprivileged user the children switch to), but nothing that runs candidate code
  is root.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from .hardening import COMPLETE, SANDBOX_GID, SANDBOX_UID, apply_limits, harden, harden_this_process

CHILD_ENV = {"PYTHONHASHSEED": "0", "PYTHONUTF8": "1"}  # set order, hence results, reproducible
INTERPRETER_FLAGS = ("-s", "-P", "-B", "-S")  # -I without -E: the environment is entirely ours
EXIT_SANDBOX = 96  # strict mode: the sandbox could not be established, nothing ran
EXIT_LIMITS = 98  # a resource limit could not be applied: nothing ran
_READY = b"ready"
_MAX_FDS = 8
_MAX_REQUEST = 4096
_START_TIMEOUT_S = 30.0
_REPLY_TIMEOUT_S = 10.0
_STUB = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[2])\n"
    "from lambda_rewards.code_tests.launcher import serve\n"
    "serve(int(sys.argv[1]))\n"
)


class SandboxError(RuntimeError):
    """The sandbox itself could not run (no interpreter, no launcher, fork failed)."""


class _LauncherGone(Exception):
    """The launcher died or stopped answering (replaced on the next request)."""


# --------------------------------------------------------------------------- launcher process


def serve(fd: int) -> None:
    """Main loop of the launcher process: one request, one child, until the grader goes away."""
    sock = socket.socket(fileno=fd)
    harden_this_process()
    with contextlib.suppress(OSError):
        _prctl_no_new_privs()
    from . import roles

    roles.preload()
    import_dirs = _open_import_dirs()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: dict[int, int] = {}  # pid -> write end of its status pipe
    sock.sendall(_READY)
    watched: list[socket.socket | int] = [sock, wake_r]
    while True:
        readable, _, _ = select.select(watched, [], [])
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap(children)
        if sock in readable:
            message, fds, _, _ = socket.recv_fds(sock, _MAX_REQUEST, _MAX_FDS)
            if not message:
                break
            _spawn(sock, message, fds, children, import_dirs)
    for pid in children:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    os._exit(0)


def _prctl_no_new_privs() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)


def _open_import_dirs() -> list[int]:
    """The interpreter's own import directories (stdlib, lib-dynload), opened while the launcher may
    still read them. A child that switched to the unprivileged user imports through these fds
    (``/proc/self/fd/N`` jumps to the directory without walking its ancestors): an interpreter
    installed under a home only root can enter (pyenv in /root) keeps its stdlib importable, and
    nothing else of that home becomes readable."""
    dirs = []
    for path in sys.path[1:]:  # [0] is the grader's code: children have no use for it
        with contextlib.suppress(OSError):
            dirs.append(os.open(path, os.O_PATH | os.O_DIRECTORY))
    return dirs


def _spawn(
    sock: socket.socket, message: bytes, fds: list[int], children: dict[int, int], import_dirs: list[int]
) -> None:
    request = marshal.loads(message)  # nosec B302  # the grader's own request, on the launcher's private socket
    status_r, status_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:
        _child(request, fds, import_dirs)  # never returns
    for fd in fds:
        os.close(fd)
    if pid < 0:
        os.close(status_w)
    else:
        children[pid] = status_w
    socket.send_fds(sock, [marshal.dumps(pid)], [status_r])
    os.close(status_r)


def _reap(children: dict[int, int]) -> None:
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        pid = info.si_pid
        with contextlib.suppress(OSError):  # what the child left in its group dies with it
            os.killpg(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        status_w = children.pop(pid, None)
        if status_w is not None:
            with contextlib.suppress(OSError):
                os.write(status_w, status.to_bytes(4, "big"))
            os.close(status_w)


def _child(request: dict, fds: list[int], import_dirs: list[int]) -> None:
    status = EXIT_SANDBOX
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        extras = _arrange(request, fds, import_dirs)
        imports = [extras.pop() for _ in import_dirs][::-1]
        cwd_fd = extras.pop()
        sys.path[:] = [f"/proc/self/fd/{fd}" for fd in imports]
        sys.path_importer_cache.clear()
        os.fchdir(cwd_fd)
        try:
            apply_limits(*request["limits"])
        except Exception:
            os._exit(EXIT_LIMITS)
        flags = harden(cwd_fd, SANDBOX_UID, SANDBOX_GID) if request["harden"] else "-" * len(COMPLETE)
        os.close(cwd_fd)
        if request["strict"] and flags != COMPLETE and request["mode"] != "probe":
            os._exit(EXIT_SANDBOX)
        from . import roles

        status = roles.run(request["mode"], flags, 3, extras)
    finally:
        os._exit(status)


def _arrange(request: dict, fds: list[int], import_dirs: list[int]) -> list[int]:
    """Puts the received fds in place: 0 stdin, 1 stdout (the case's pipes, else /dev/null),
    2 /dev/null, 3 the control pipe, then the role's pipes, the run directory and the import
    directories; closes every other fd (the launcher's socket, other children's status pipes).
    Returns the numbers from 4 on, in that order."""
    import fcntl

    devnull = os.open(os.devnull, os.O_RDWR)
    cwd_fd, ctrl, rest = fds[0], fds[1], list(fds[2:])
    stdin = rest.pop(0) if request["stdin"] else devnull
    stdout = rest.pop(0) if request["stdout"] else devnull
    wanted = [stdin, stdout, devnull, ctrl, *rest, cwd_fd, *import_dirs]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 256) for fd in wanted]  # above every number in use
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(len(high), 1 << 20)
    return list(range(4, len(high)))


# --------------------------------------------------------------------------- grader side


class Launcher:
    """The grader's handle on its launcher: started once, restarted if it died, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen | None = None
        self._owner = os.getpid()
        self.grader_undumpable = False

    def start(self) -> None:
        """Starts the launcher now (at cold start, before any event is read)."""
        with self._lock:
            self._ensure()

    def spawn(self, request: dict, fds: list[int]) -> tuple[int, int]:
        """A new child: (pid, read end of its status pipe). The fds stay the caller's to close.
        A launcher that died is replaced once."""
        with self._lock:
            try:
                return self._ask(request, fds)
            except _LauncherGone:
                self._stop()
            try:
                return self._ask(request, fds)
            except _LauncherGone as exc:
                self._stop()
                raise SandboxError(f"the launcher does not answer: {exc}") from exc

    def _ask(self, request: dict, fds: list[int]) -> tuple[int, int]:
        self._ensure()
        assert self._sock is not None
        try:
            socket.send_fds(self._sock, [marshal.dumps(request)], fds)
            message, received, _, _ = socket.recv_fds(self._sock, 64, 1)
        except OSError as exc:
            raise _LauncherGone(str(exc)) from exc
        if not message or len(received) != 1:
            for fd in received:
                os.close(fd)
            raise _LauncherGone("it closed its socket")
        pid = marshal.loads(message)  # nosec B302  # the launcher's reply (our process), on its private socket
        if pid < 0:
            os.close(received[0])
            raise SandboxError("the launcher could not fork")
        return pid, received[0]

    def _ensure(self) -> None:
        if self._owner != os.getpid():  # a fork of the grader: that socket is its parent's
            self._sock, self._process, self._owner = None, None, os.getpid()
        if self._sock is not None and self._process is not None and self._process.poll() is None:
            return
        self._stop()
        self.grader_undumpable = harden_this_process()
        if not sys.executable:
            raise SandboxError("no Python interpreter path (sys.executable is empty)")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = str(Path(__file__).resolve().parents[2])
        argv = [sys.executable, *INTERPRETER_FLAGS, "-c", _STUB, str(child.fileno()), root]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd="/",
                env=dict(CHILD_ENV),
                pass_fds=(child.fileno(),),
                close_fds=True,
                start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            parent.close()
            raise SandboxError(f"cannot start the launcher: {exc}") from exc
        finally:
            child.close()
        self._sock, self._process = parent, process
        parent.settimeout(_START_TIMEOUT_S)
        try:
            ready = parent.recv(16)
        except OSError:
            ready = b""
        if ready != _READY:
            self._stop()
            raise SandboxError(f"the launcher did not start: {self._last_words(process)}")
        parent.settimeout(_REPLY_TIMEOUT_S)
        assert process.stderr is not None
        process.stderr.close()  # the launcher writes nothing there once it runs

    @staticmethod
    def _last_words(process: subprocess.Popen) -> str:
        with contextlib.suppress(Exception):
            process.wait(timeout=2)
            assert process.stderr is not None
            return process.stderr.read()[-400:].decode("utf-8", "replace").strip() or "no output"
        return "no output"

    def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()  # EOF: the launcher kills its children and exits
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.kill()
            with contextlib.suppress(Exception):
                self._process.wait(timeout=5)
            if self._process.stderr is not None:
                self._process.stderr.close()
        self._sock = self._process = None


LAUNCHER = Launcher()
