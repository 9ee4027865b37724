"""Killable workers for expensive or hostile work (symbolic math, parsing), without multiprocessing.

Lambda has no ``/dev/shm``, so ``multiprocessing`` pools, queues and managers fail there; plain
``os.fork`` and Unix sockets work. The layout:

    handler process ──control socket──▶ zygote (forked once, imports and warms the target module)
          │                                │  os.fork() per worker, hands the worker's socket
          └────────── worker socket ───────┴─▶ worker: loops over length-prefixed JSON requests

* The zygote pays the slow import (math-verify/sympy: ~0.5 s, seconds on a small Lambda) once, so
  the handler process stays light and imports fast, and a replacement worker is a fork of a warm
  process (milliseconds) instead of a fresh import.
* A request carries a soft limit: the worker arms ``setitimer`` and answers ``timeout`` when pure
  Python overruns. At the hard limit (C code that ignores signals, a hang in ``str()``) the handler
  process SIGKILLs the worker and asks the zygote for a fresh one at once (pre-forked).
* A worker caps its address space (``RLIMIT_AS``) so a runaway allocation raises ``MemoryError``
  in the worker instead of the Lambda sandbox being killed for memory, and retires itself after
  ``max_tasks`` requests or when its resident memory grows past its head-room.
* Zygote and workers share their own process group: ``close()`` kills them all; both exit on
  their own when the handler process goes away (EOF on their sockets).
Results cross the socket as JSON, so a SymPy object can never reach (or be printed by) the caller.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

_HEADER = struct.Struct("!I")
_MAX_FRAME = 64 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class WorkerTimeout(Exception):
    """The work overran its time limit (the worker was stopped or killed)."""


class WorkerCrashed(Exception):
    """The worker died while working (killed by the system, out of memory in C code, ...)."""


class WorkerFailed(Exception):
    """The target function raised; the message is the exception's type name."""


def _resolve(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"worker target must look like 'package.module:function', got {target!r}")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return function


# --------------------------------------------------------------------------- framing


def _send_frame(sock: socket.socket, obj: Any) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv_frame(sock: socket.socket) -> Any:
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > _MAX_FRAME:
        raise ValueError("frame too large")
    body = _recv_exact(sock, size)
    if body is None:
        return None
    return json.loads(body)


def _wait_readable(sock: socket.socket, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(timeout * 1000))))


# --------------------------------------------------------------------------- child side


class _SoftTimeout(BaseException):
    """Raised by SIGALRM inside a worker; a BaseException so library code catching Exception
    cannot swallow it."""


_ALARM = {"fired": False}


def _on_alarm(signum: int, frame: Any) -> None:
    # Remembered as well as raised: library code with a bare ``except:`` (SymPy's evalf has some)
    # can swallow the exception and go on to return a result computed from a half-failed step.
    _ALARM["fired"] = True
    raise _SoftTimeout()


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_vm_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _worker_main(sock: socket.socket, function: Callable[[Any], Any], memory_mb: int, max_tasks: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, _on_alarm)
    head_room = memory_mb * 1024 * 1024
    vm = _current_vm_bytes()
    if vm is not None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (vm + head_room, vm + head_room))
    rss_limit = _current_rss_bytes() + head_room // 2
    tasks = 0
    while True:
        request = _recv_frame(sock)
        if request is None:
            return
        soft = float(request.get("soft", 1.0))
        reply: dict[str, Any]
        _ALARM["fired"] = False
        try:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, soft))
            try:
                reply = {"ok": function(request.get("p"))}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if _ALARM["fired"]:  # the limit passed and something swallowed it: the result is void
                reply = {"timeout": True}
        except _SoftTimeout:
            reply = {"timeout": True}
        except MemoryError:
            reply = {"err": "MemoryError"}
            tasks = max_tasks
        except RecursionError:
            reply = {"err": "RecursionError"}
        except Exception as exc:  # the type name only: str() of an exception may format SymPy objects
            reply = {"err": type(exc).__name__}
        tasks += 1
        retire = tasks >= max_tasks or _current_rss_bytes() > rss_limit
        reply["retire"] = retire
        try:
            _send_frame(sock, reply)
        except (TypeError, ValueError):
            _send_frame(sock, {"err": "UnserializableResult", "retire": retire})
        if retire:
            return


def _fork_over_socket(
    child_main: Callable[[socket.socket], None], close_in_child: socket.socket | None = None
) -> tuple[int, socket.socket]:
    """Forks a child that runs ``child_main`` on its end of a new socket pair and then exits
    (never returning into the caller's code); the child's pid and the parent's end."""
    parent_end, child_end = socket.socketpair()
    sys.stdout.flush()  # else the child inherits, and writes again, what is still buffered
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            parent_end.close()
            if close_in_child is not None:
                close_in_child.close()
            child_main(child_end)
        finally:
            os._exit(0)
    child_end.close()
    return pid, parent_end


def _zygote_main(
    control: socket.socket, target: str, warmup: str | None, memory_mb: int, max_tasks: int
) -> None:
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    try:
        function = _resolve(target)
        if warmup:
            _resolve(warmup)()
    except BaseException as exc:
        control.sendall(b"E" + type(exc).__name__.encode()[:200])
        return
    control.sendall(b"R")
    while True:
        try:
            command = control.recv(1)
        except InterruptedError:
            continue
        if not command or command != b"S":
            return
        pid, parent_end = _fork_over_socket(
            lambda end: _worker_main(end, function, memory_mb, max_tasks), close_in_child=control
        )
        socket.send_fds(control, [struct.pack("!q", pid)], [parent_end.fileno()])
        parent_end.close()


# --------------------------------------------------------------------------- parent side


class IsolatedRunner:
    """Runs ``target(payload)`` (``"package.module:function"``, JSON in and out) in a killable,
    pre-forked worker process. One request at a time: not thread-safe by design."""

    def __init__(
        self,
        target: str,
        *,
        warmup: str | None = None,
        memory_mb: int = 384,
        max_tasks: int = 5000,
        soft_fraction: float = 0.8,
    ) -> None:
        self.target = target
        self.warmup = warmup
        self.memory_mb = memory_mb
        self.max_tasks = max_tasks
        self.soft_fraction = soft_fraction
        self._zygote_pid: int | None = None
        self._control: socket.socket | None = None
        self._ready = False
        self._worker: tuple[int, socket.socket] | None = None
        self._owner_pid = os.getpid()
        self.stats = {"zygotes": 0, "workers": 0, "kills": 0, "crashes": 0, "soft_timeouts": 0}
        atexit.register(self.close)

    # -- lifecycle

    def _start_zygote(self) -> None:
        pid, control = _fork_over_socket(
            lambda end: _zygote_main(end, self.target, self.warmup, self.memory_mb, self.max_tasks)
        )
        # Both sides set the process group (the classic race: a close() right after the fork
        # must find the group even if the child has not run yet).
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        self._zygote_pid, self._control, self._ready = pid, control, False
        self.stats["zygotes"] += 1

    def ensure_ready(self, timeout: float) -> None:
        """Starts the zygote if needed and waits up to ``timeout`` seconds for it to be warm;
        raises ``WorkerTimeout`` if it is still warming up (it keeps warming for the next call)."""
        if self._owner_pid != os.getpid():
            raise RuntimeError("IsolatedRunner used from a forked child of its owner")
        if self._control is None:
            self._start_zygote()
        if self._ready:
            return
        assert self._control is not None
        if not _wait_readable(self._control, timeout):
            raise WorkerTimeout("worker process still warming up")
        status = self._control.recv(256)
        if status[:1] != b"R":
            reason = status[1:].decode(errors="replace") or "EOF"
            self._stop_zygote()
            raise WorkerCrashed(f"worker failed to start: {reason}")
        self._ready = True

    def _spawn_worker(self, timeout: float) -> tuple[int, socket.socket]:
        assert self._control is not None
        try:
            self._control.sendall(b"S")
            if not _wait_readable(self._control, max(timeout, 1.0)):
                raise WorkerCrashed("zygote did not answer")
            message, fds, _, _ = socket.recv_fds(self._control, 16, 1)
        except OSError as exc:
            self._stop_zygote()
            raise WorkerCrashed("zygote is gone") from exc
        if len(message) != 8 or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            self._stop_zygote()
            raise WorkerCrashed("zygote is gone")
        (pid,) = struct.unpack("!q", message)
        self.stats["workers"] += 1
        return pid, socket.socket(fileno=fds[0])

    def _drop_worker(self, kill: bool) -> None:
        if self._worker is None:
            return
        pid, sock = self._worker
        self._worker = None
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sock.close()

    def _stop_zygote(self) -> None:
        self._drop_worker(kill=True)
        if self._control is not None:
            self._control.close()  # EOF: a zygote that escaped the kill below exits by itself
        if self._zygote_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._zygote_pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._zygote_pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._zygote_pid, 0)
        self._zygote_pid, self._control, self._ready = None, None, False

    def close(self) -> None:
        """Kills the zygote and its workers."""
        if self._owner_pid == os.getpid():
            self._stop_zygote()

    def prefork(self, timeout: float = 5.0) -> None:
        """Makes sure a warm worker is waiting, so the next call pays no fork."""
        self.ensure_ready(timeout)
        if self._worker is None:
            self._worker = self._spawn_worker(timeout)

    # -- work

    def call(self, payload: Any, timeout: float, *, ready_timeout: float | None = None) -> Any:
        """``target(payload)`` in the worker, within ``timeout`` seconds of work (waiting for a
        cold zygote is bounded separately by ``ready_timeout``, default ``timeout``)."""
        self.ensure_ready(timeout if ready_timeout is None else ready_timeout)
        if timeout <= 0:
            raise WorkerTimeout("no time left")
        started = time.monotonic()
        if self._worker is None:
            self._worker = self._spawn_worker(timeout)
        _, sock = self._worker
        soft = max(0.001, timeout * self.soft_fraction)
        try:
            _send_frame(sock, {"p": payload, "soft": soft})
        except OSError:
            # died between requests (should not happen: it announces retirement); one retry
            self._drop_worker(kill=True)
            self._worker = self._spawn_worker(timeout)
            _, sock = self._worker
            _send_frame(sock, {"p": payload, "soft": soft})
        remaining = timeout - (time.monotonic() - started)
        if not _wait_readable(sock, remaining):
            self.stats["kills"] += 1
            self._drop_worker(kill=True)
            self._replace_quietly()
            raise WorkerTimeout("worker killed at the hard limit")
        sock.settimeout(max(0.05, timeout - (time.monotonic() - started)))
        try:
            reply = _recv_frame(sock)
        except (OSError, ValueError):
            reply = None
        finally:
            if self._worker is not None:
                sock.settimeout(None)
        if reply is None:
            self.stats["crashes"] += 1
            self._drop_worker(kill=True)
            self._replace_quietly()
            raise WorkerCrashed("worker died")
        if reply.get("retire"):
            self._drop_worker(kill=False)
            self._replace_quietly()
        if reply.get("timeout"):
            self.stats["soft_timeouts"] += 1
            raise WorkerTimeout("worker stopped at the soft limit")
        if "err" in reply:
            raise WorkerFailed(str(reply["err"]))
        return reply.get("ok")

    def _replace_quietly(self) -> None:
        try:
            self._worker = self._spawn_worker(1.0)
        except WorkerCrashed:
            self._worker = None

    @property
    def is_ready(self) -> bool:
        """True once the zygote is warm."""
        return self._ready

    @property
    def worker_pid(self) -> int | None:
        return None if self._worker is None else self._worker[0]

    def memory_report(self) -> dict[str, float]:
        """Peak resident memory in MiB of the zygote and the current worker (they share most
        pages copy-on-write, so the sum overstates the real footprint)."""
        return {
            "zygote_peak_rss_mb": peak_rss_mb(self._zygote_pid) if self._zygote_pid else 0.0,
            "worker_peak_rss_mb": peak_rss_mb(self.worker_pid) if self.worker_pid else 0.0,
        }


class InProcessTimeout(Exception):
    """Raised inside the ``soft_time_limit`` block when its time is up."""


@contextlib.contextmanager
def soft_time_limit(seconds: float) -> Iterator[None]:
    """Interrupts pure-Python work in the block after ``seconds`` with ``InProcessTimeout``
    (SIGALRM; main thread only; elsewhere, or with a timer already armed, it is a no-op). For cheap
    work that is not worth a worker round trip but must not run away (regex validation)."""
    import threading

    usable = threading.current_thread() is threading.main_thread() and seconds > 0
    if usable and signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        usable = False
    if not usable:
        yield
        return

    def _expire(signum: int, frame: Any) -> None:
        raise InProcessTimeout()

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process, this one by default, in MiB; 0 if unknown."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


__all__ = [
    "InProcessTimeout",
    "IsolatedRunner",
    "WorkerCrashed",
    "WorkerFailed",
    "WorkerTimeout",
    "peak_rss_mb",
    "soft_time_limit",
]
