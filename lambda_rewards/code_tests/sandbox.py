"""Runs untrusted Python in sandboxed children and reads back only what the trusted side reports.

Two entry points, both bounded by an absolute ``time.monotonic()`` deadline:

``run_check``   HumanEval-style tests: a *judge* process (tests + sentinel, never runs the candidate's
                code) and a *candidate* process (runs the code, answers calls with plain data),
                connected by two pipes; the judge reports one sentinel-framed line per test unit on a
                third pipe that only it holds.
``run_program`` one whole program with a case on stdin; returns its stdout (capped) and exit status.

Every child is forked by the launcher (``launcher.py``: no reference, test or credential ever
reaches it) into its own session, with the environment of ``CHILD_ENV`` (no AWS credentials), a
fresh temporary directory as cwd, removed afterwards, resource limits and the hardening of
``hardening.py``. With ``strict`` (the default: see the grader's settings) a child whose hardening
is incomplete exits with ``EXIT_SANDBOX`` before it reads anything. When a run ends, for whatever
reason, every child still running is SIGKILLed with its process group and awaited (the launcher
reaps it and reports the status), and all pipes are closed.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import secrets
import selectors
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from .hardening import COMPLETE
from .launcher import EXIT_SANDBOX, LAUNCHER, SandboxError
from .roles import EXIT_SYNTAX

_CHUNK = 1 << 16
_EXIT_GRACE_S = 0.05  # after the main process exits, how long to wait for its pipes to reach EOF
_KILL_WAIT_S = 5.0  # how long a killed child may take to be reaped before the run gives up on it
_JUDGE_OUTPUT_CAP = 1 << 20
_FLAGS_LEN = len(COMPLETE)

__all__ = ["EXIT_SANDBOX", "EXIT_SYNTAX", "CheckRun", "Limits", "ProgramRun", "SandboxError"]


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int  # RLIMIT_CPU (soft; SIGKILL one second later)
    memory_mb: int  # RLIMIT_AS
    file_mb: int = 1  # RLIMIT_FSIZE
    nproc: int = 1  # RLIMIT_NPROC: no new process or thread (per user: no effect for root)
    nofile: int = 64  # RLIMIT_NOFILE

    def values(self) -> tuple[int, int, int, int, int]:
        """The arguments of ``hardening.apply_limits``."""
        return (max(1, self.cpu_seconds), self.memory_mb << 20, self.file_mb << 20, self.nproc, self.nofile)


@dataclass
class CheckRun:
    """What the judge reported. ``units`` maps unit index to passed; a unit missing from it did not
    finish (timeout, crash). ``end`` is the judge's final status: ok, raised, load, bad_reference."""

    units: dict[int, bool] = field(default_factory=dict)
    load: str | None = None
    end: str | None = None
    flags: str = ""  # "<judge's hardening flags> <candidate's>"
    timed_out: bool = False
    protocol_error: bool = False
    sandbox_unavailable: bool = False  # a child refused to run without its complete sandbox
    seconds: float = 0.0

    @property
    def sandboxed(self) -> bool:
        return self.flags == f"{COMPLETE} {COMPLETE}"


@dataclass
class ProgramRun:
    stdout: bytes
    returncode: int | None
    timed_out: bool
    overflow: bool
    seconds: float

    @property
    def syntax_error(self) -> bool:
        return self.returncode == EXIT_SYNTAX

    @property
    def sandbox_unavailable(self) -> bool:
        return self.returncode == EXIT_SANDBOX


def _frame(obj: dict[str, Any]) -> bytes:
    """A length-prefixed marshal frame: what a child reads from its control pipe."""
    data = marshal.dumps(obj)
    return len(data).to_bytes(4, "big") + data


# --------------------------------------------------------------------------- I/O


class _Pump:
    """Non-blocking writes, capped reads and exit notifications over one selector."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._pending: dict[int, bytes] = {}
        self._close_after: set[int] = set()
        self._caps: dict[int, int] = {}
        self._status_fds: dict[int, int] = {}  # status pipe -> pid
        self.data: dict[int, bytearray] = {}
        self.open_reads: set[int] = set()
        self.closed: set[int] = set()
        self.exited: dict[int, int | None] = {}  # pid -> wait status (None: unknown)

    @property
    def overflow(self) -> bool:
        return any(len(self.data[fd]) > cap for fd, cap in self._caps.items())

    def send(self, fd: int, data: bytes, *, close: bool = False) -> None:
        if close:
            self._close_after.add(fd)
        if fd in self._pending:
            self._pending[fd] += data
            return
        if not data:
            self._finish_write(fd)
            return
        os.set_blocking(fd, False)
        self._pending[fd] = data
        self._selector.register(fd, selectors.EVENT_WRITE, "w")

    def read(self, fd: int, cap: int) -> None:
        os.set_blocking(fd, False)
        self.data[fd] = bytearray()
        self._caps[fd] = cap
        self.open_reads.add(fd)
        self._selector.register(fd, selectors.EVENT_READ, "r")

    def watch_exit(self, pid: int, status_fd: int) -> None:
        """``status_fd``: the launcher's status pipe of ``pid`` (its wait status, then EOF)."""
        os.set_blocking(status_fd, False)
        self.data[status_fd] = bytearray()
        self._status_fds[status_fd] = pid
        self._selector.register(status_fd, selectors.EVENT_READ, "x")

    def _finish_write(self, fd: int) -> None:
        self._pending.pop(fd, None)
        if fd in self._close_after:
            os.close(fd)
            self.closed.add(fd)

    def step(self, timeout: float) -> None:
        for key, _ in self._selector.select(max(0.0, timeout)):
            if key.data == "w":
                self._write_ready(key.fd)
            else:
                self._read_ready(key.fd, key.data == "x")

    def _write_ready(self, fd: int) -> None:
        data = self._pending[fd]
        try:
            written = os.write(fd, data[:_CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the reader is gone: nothing more to deliver
            written = len(data)
        if written < len(data):
            self._pending[fd] = data[written:]
        else:
            self._selector.unregister(fd)
            self._finish_write(fd)

    def _read_ready(self, fd: int, status: bool) -> None:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        buffer = self.data[fd]
        buffer += chunk
        if status:
            if not chunk:
                self._selector.unregister(fd)
                known = len(buffer) == 4
                self.exited[self._status_fds[fd]] = int.from_bytes(buffer, "big") if known else None
            return
        if not chunk or len(buffer) > self._caps[fd]:
            self._selector.unregister(fd)
            self.open_reads.discard(fd)

    def wait_exits(self, pids: list[int], timeout: float) -> None:
        """Pumps exit notifications only, until every pid in ``pids`` exited or ``timeout``."""
        deadline = time.monotonic() + timeout
        while any(pid not in self.exited for pid in pids) and time.monotonic() < deadline:
            for key, _ in self._selector.select(max(0.0, deadline - time.monotonic())):
                if key.data == "x":
                    self._read_ready(key.fd, True)
                else:
                    self._selector.unregister(key.fd)

    def close(self) -> None:
        self._selector.close()
        for status_fd in self._status_fds:
            os.close(status_fd)
        self._status_fds.clear()


class _Run:
    """Owns the pipes, children and directories of one run and releases all of them on exit."""

    def __init__(self, *, strict: bool) -> None:
        self.pump = _Pump()
        self.strict = strict
        self._fds: list[int] = []
        self._pids: list[int] = []
        self._dirs: list[str] = []

    def __enter__(self) -> _Run:
        return self

    def pipe(self) -> tuple[int, int]:
        read_end, write_end = os.pipe()
        self._fds += [read_end, write_end]
        return read_end, write_end

    def close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._fds:
                self._fds.remove(fd)
                os.close(fd)

    def spawn(
        self, ctrl: int, limits: Limits, mode: str, extras: tuple[int, ...] = (), *, stdin=None, stdout=None
    ) -> int:
        """A child in ``mode``: its pid. ``extras``: the role's pipes, in the role's order."""
        try:
            cwd = tempfile.mkdtemp(prefix="rft-code-")
        except OSError as exc:
            raise SandboxError(f"cannot create a temporary directory: {exc}") from exc
        self._dirs.append(cwd)
        cwd_fd = os.open(cwd, os.O_RDONLY | os.O_DIRECTORY)
        request = {
            "mode": mode,
            "limits": limits.values(),
            "harden": True,
            "strict": self.strict,
            "stdin": stdin is not None,
            "stdout": stdout is not None,
        }
        fds = [cwd_fd, ctrl, *(fd for fd in (stdin, stdout) if fd is not None), *extras]
        try:
            pid, status_fd = LAUNCHER.spawn(request, fds)
        finally:
            os.close(cwd_fd)
        self._pids.append(pid)
        self.pump.watch_exit(pid, status_fd)
        return pid

    def run_until(self, deadline: float, done) -> bool:
        """Pumps until ``done()`` is true (True) or the deadline passes (False)."""
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.pump.step(remaining)
        return True

    def __exit__(self, *exc_info: object) -> None:
        # Still running, or status unknown (the launcher died: its children live on, orphaned).
        running = [pid for pid in self._pids if self.pump.exited.get(pid) is None]
        for pid in running:  # its own session: pgid == pid; the launcher reaps it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self.pump.wait_exits(running, _KILL_WAIT_S)
        self.pump.close()
        for fd in self._fds:
            if fd not in self.pump.closed:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for path in self._dirs:
            _remove_tree(path)


def _remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    try:  # the candidate may have taken its own permissions away
        os.chmod(path, 0o700)
        for root, dirs, _ in os.walk(path):
            for name in dirs:
                full = os.path.join(root, name)
                if not os.path.islink(full):
                    os.chmod(full, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- runs


def run_check(
    *,
    code: str,
    entry: str,
    test_code: bytes,
    prompt_code: bytes | None,
    units: int,
    seed: bool,
    deadline: float,
    limits: Limits,
    strict: bool = True,
) -> CheckRun:
    """Runs ``check(candidate)`` (``test_code``: marshalled, already unit-instrumented) against
    ``code`` in a judge/candidate pair; see ``roles.py`` for both sides."""
    started = time.monotonic()
    sentinel = secrets.token_hex(16)
    judge_cfg: dict[str, Any] = {"sentinel": sentinel, "test": test_code, "prompt": prompt_code}
    judge_cfg |= {"entry": entry, "units": units, "seed": seed}
    result = CheckRun()
    with _Run(strict=strict) as run:
        judge_ctrl_r, judge_ctrl_w = run.pipe()
        cand_ctrl_r, cand_ctrl_w = run.pipe()
        j2c_r, j2c_w = run.pipe()
        c2j_r, c2j_w = run.pipe()
        res_r, res_w = run.pipe()
        judge = run.spawn(judge_ctrl_r, limits, "judge", (res_w, j2c_w, c2j_r))
        run.spawn(cand_ctrl_r, limits, "candidate", (j2c_r, c2j_w))
        run.close(judge_ctrl_r, cand_ctrl_r, j2c_r, j2c_w, c2j_r, c2j_w, res_w)
        pump = run.pump
        pump.send(cand_ctrl_w, _frame({"code": code, "entry": entry}), close=True)
        pump.read(res_r, _JUDGE_OUTPUT_CAP)
        state: dict = {"cfg_sent": False, "grace": None}

        def done() -> bool:
            output = pump.data[res_r]
            if not state["cfg_sent"] and len(output) > _FLAGS_LEN and output[:1] == b"R":
                # The judge is hardened: only now do the tests leave this process.
                pump.send(judge_ctrl_w, _frame(judge_cfg), close=True)
                state["cfg_sent"] = True
            if res_r not in pump.open_reads:
                return True
            if judge in pump.exited:
                state["grace"] = state["grace"] or time.monotonic() + _EXIT_GRACE_S
                return time.monotonic() >= state["grace"]
            return False

        result.timed_out = not run.run_until(deadline, done)
        output = bytes(pump.data[res_r])
        result.protocol_error = pump.overflow
        result.sandbox_unavailable = pump.exited.get(judge) == EXIT_SANDBOX << 8
    result.seconds = time.monotonic() - started
    _parse_judge_output(output, sentinel, result)
    if strict and result.flags and not result.sandboxed:
        result.sandbox_unavailable = True
    return result


def _parse_judge_output(output: bytes, sentinel: str, result: CheckRun) -> None:
    """``R`` and the judge's hardening flags, then lines that must every one carry the sentinel;
    the end line must be the last; anything else marks the whole run as tampered with
    (``protocol_error``: it scores 0)."""
    if not output:
        return
    header = _FLAGS_LEN + 1
    if not _valid_header(output[:header]) or (len(output) > header and not output.endswith(b"\n")):
        result.protocol_error = True
        return
    prefix = sentinel.encode("ascii") + b" "
    for line in output[header:].split(b"\n")[:-1]:
        if not line.startswith(prefix) or result.end is not None:
            result.protocol_error = True
            return
        kind, _, rest = line[len(prefix) :].decode("ascii", "replace").partition(" ")
        if kind == "B":
            result.flags = rest
        elif kind == "L":
            result.load = rest
        elif kind == "E":
            result.end = rest
        elif kind == "U":
            index, _, passed = rest.partition(" ")
            if not index.isdigit() or passed not in ("0", "1") or int(index) in result.units:
                result.protocol_error = True
                return
            result.units[int(index)] = passed == "1"
        else:
            result.protocol_error = True
            return


def _valid_header(header: bytes) -> bool:
    flags = header[1:].decode("ascii", "replace")
    return (
        header[:1] == b"R"
        and len(flags) == _FLAGS_LEN
        and all(flag in (step, "-") for flag, step in zip(flags, COMPLETE, strict=True))
    )


def run_program(
    *, code: str, stdin: bytes, deadline: float, limits: Limits, stdout_cap: int, strict: bool = True
) -> ProgramRun:
    """Runs a whole program on one input. ``overflow``: it wrote more than ``stdout_cap`` bytes and
    was stopped there."""
    started = time.monotonic()
    with _Run(strict=strict) as run:
        ctrl_r, ctrl_w = run.pipe()
        in_r, in_w = run.pipe()
        out_r, out_w = run.pipe()
        pid = run.spawn(ctrl_r, limits, "program", stdin=in_r, stdout=out_w)
        run.close(ctrl_r, in_r, out_w)
        pump = run.pump
        pump.send(ctrl_w, _frame({"code": code}), close=True)
        pump.send(in_w, stdin, close=True)
        pump.read(out_r, stdout_cap)
        grace: list[float] = []

        def done() -> bool:
            if pump.overflow:
                return True
            if pid not in pump.exited:
                return False
            if out_r not in pump.open_reads:
                return True
            if not grace:
                grace.append(time.monotonic() + _EXIT_GRACE_S)
            return time.monotonic() >= grace[0]

        finished = run.run_until(deadline, done)
        status = pump.exited.get(pid)  # before the kills of __exit__: the program's own exit
        stdout = bytes(pump.data[out_r])
        overflow = pump.overflow
    return ProgramRun(
        stdout=stdout,
        returncode=None if status is None else os.waitstatus_to_exitcode(status),
        timed_out=not finished,
        overflow=overflow,
        seconds=time.monotonic() - started,
    )


_probed: list[str] = []


def hardening_flags() -> str:
    """What the children of this environment manage to apply (``hardening.COMPLETE`` when every
    step holds), probed once with one short child; "?" when the probe could not run (retried on
    the next call)."""
    if _probed:
        return _probed[0]
    flags = ""
    with contextlib.suppress(SandboxError), _Run(strict=False) as run:
        ctrl_r, _ = run.pipe()
        out_r, out_w = run.pipe()
        run.spawn(ctrl_r, Limits(cpu_seconds=5, memory_mb=256), "probe", stdout=out_w)
        run.close(ctrl_r, out_w)
        run.pump.read(out_r, 16)
        run.run_until(time.monotonic() + 10, lambda: out_r not in run.pump.open_reads)
        flags = bytes(run.pump.data[out_r]).decode("ascii", "replace")
    if len(flags) == _FLAGS_LEN:
        _probed[:] = [flags]
        return flags
    return "?"


def sandbox_available() -> bool:
    """True when the complete sandbox holds here: the grader process is non-dumpable and every
    hardening step holds in a child."""
    flags = hardening_flags()
    return LAUNCHER.grader_undumpable and flags == COMPLETE
