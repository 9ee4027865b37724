"""Runs untrusted Python in child interpreters and reads back only what the trusted side reports.

Two entry points, both bounded by an absolute ``time.monotonic()`` deadline:

``run_check``   HumanEval-style tests: a *judge* process (tests + sentinel, never runs the candidate's
                code) and a *candidate* process (runs the code, answers calls with plain data),
                connected by two pipes; the judge reports one sentinel-framed line per test unit on a
                third pipe that only it holds.
``run_program`` one whole program with a case on stdin; returns its stdout (capped) and exit status.

Every child: ``sys.executable -s -P -B -S`` (``-I`` minus ``-E``: the environment is entirely ours,
which lets ``PYTHONHASHSEED=0`` make set and dict iteration orders, hence results, reproducible), an
environment of two variables (no AWS credentials), a fresh temporary directory as cwd, removed
afterwards, its own session and process group, resource limits and the best-effort hardening of
``_child.py``. When a run ends, for whatever reason, every process group is SIGKILLed before the
children are reaped (a zombie leader keeps its group id reserved, so the kill cannot hit a
recycled one), and all pipes are closed.
"""

from __future__ import annotations

import contextlib
import functools
import marshal
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_CHILD_SOURCE = Path(__file__).with_name("_child.py")
_FLAGS = ("-s", "-P", "-B", "-S")
_ENV = {"PYTHONHASHSEED": "0", "PYTHONUTF8": "1"}
_STUB = (
    "import marshal,sys\n"
    "f=open(int(sys.argv[1]),'rb')\n"
    "g={'__name__':'rft_child'}\n"
    "exec(marshal.loads(f.read(int.from_bytes(f.read(4),'big'))),g)\n"
    "g['main'](f,sys.argv[2:])\n"
)
_CHUNK = 1 << 16
_EXIT_GRACE_S = 0.05  # after the main process exits, how long to wait for its pipes to reach EOF
_POLL_S = 0.005  # exit polling interval where pidfd_open is unavailable
_JUDGE_OUTPUT_CAP = 1 << 20
EXIT_SYNTAX = 97  # mirrors _child.EXIT_SYNTAX
EXIT_LIMITS = 98


class SandboxError(RuntimeError):
    """The sandbox itself could not run (no interpreter, no temporary directory, fork failed)."""


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int  # RLIMIT_CPU (soft; SIGKILL one second later)
    memory_mb: int  # RLIMIT_AS
    file_mb: int = 1  # RLIMIT_FSIZE
    nproc: int = 1  # RLIMIT_NPROC: no new process or thread (per user: no effect for root)
    nofile: int = 64  # RLIMIT_NOFILE

    def argv(self) -> list[str]:
        return [
            str(max(1, self.cpu_seconds)),
            str(self.memory_mb << 20),
            str(self.file_mb << 20),
            str(self.nproc),
            str(self.nofile),
        ]


@dataclass
class CheckRun:
    """What the judge reported. ``units`` maps unit index to passed; a unit missing from it did not
    finish (timeout, crash). ``end`` is the judge's final status: ok, raised, load, bad_reference."""

    units: dict[int, bool] = field(default_factory=dict)
    load: str | None = None
    end: str | None = None
    flags: str = ""
    timed_out: bool = False
    protocol_error: bool = False
    seconds: float = 0.0


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


@functools.cache
def _boot_frame() -> bytes:
    code = compile(_CHILD_SOURCE.read_text(encoding="utf-8"), "<rft-sandbox-child>", "exec")
    return _frame(code)


def _frame(obj: object) -> bytes:
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
        self._pidfds: dict[int, int] = {}
        self._polled: list[int] = []
        self.data: dict[int, bytearray] = {}
        self.open_reads: set[int] = set()
        self.closed: set[int] = set()
        self.exited: set[int] = set()
        self.overflow = False

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

    def watch_exit(self, pid: int) -> None:
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # old kernel, or a platform filter refuses pidfd_open
            self._polled.append(pid)
            return
        self._pidfds[pidfd] = pid
        self._selector.register(pidfd, selectors.EVENT_READ, "x")

    def _finish_write(self, fd: int) -> None:
        self._pending.pop(fd, None)
        if fd in self._close_after:
            os.close(fd)
            self.closed.add(fd)

    def step(self, timeout: float) -> None:
        if self._polled:
            timeout = min(timeout, _POLL_S)
        for key, _ in self._selector.select(max(0.0, timeout)):
            fd = key.fd
            if key.data == "w":
                data = self._pending[fd]
                try:
                    written = os.write(fd, data[:_CHUNK])
                except BlockingIOError:
                    continue
                except OSError:  # the reader is gone: nothing more to deliver
                    written = len(data)
                if written < len(data):
                    self._pending[fd] = data[written:]
                else:
                    self._selector.unregister(fd)
                    self._finish_write(fd)
            elif key.data == "r":
                try:
                    chunk = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                buffer = self.data[fd]
                if chunk:
                    buffer += chunk
                if not chunk or len(buffer) > self._caps[fd]:
                    self.overflow = self.overflow or len(buffer) > self._caps[fd]
                    self._selector.unregister(fd)
                    self.open_reads.discard(fd)
            else:
                self._selector.unregister(fd)
                self.exited.add(self._pidfds[fd])
        for pid in list(self._polled):
            try:
                exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                exited = True
            if exited:
                self._polled.remove(pid)
                self.exited.add(pid)

    def close(self) -> None:
        self._selector.close()
        for pidfd in self._pidfds:
            os.close(pidfd)
        self._pidfds.clear()


class _Run:
    """Owns the pipes, processes and directories of one run and releases all of them on exit."""

    def __init__(self) -> None:
        self.pump = _Pump()
        self._fds: list[int] = []
        self._procs: list[subprocess.Popen] = []
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
        self, ctrl: int, limits: Limits, mode: str, extra: list[str], *, pass_fds=(), stdin=None, stdout=None
    ) -> subprocess.Popen:
        if not sys.executable:
            raise SandboxError("no Python interpreter path (sys.executable is empty)")
        try:
            cwd = tempfile.mkdtemp(prefix="rft-code-")
        except OSError as exc:
            raise SandboxError(f"cannot create a temporary directory: {exc}") from exc
        self._dirs.append(cwd)
        harden = "0" if mode != "probe" and hardening_flags() == "00" else "1"
        argv = [sys.executable, *_FLAGS, "-c", _STUB, str(ctrl), *limits.argv(), harden, mode, *extra]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL if stdin is None else stdin,
                stdout=subprocess.DEVNULL if stdout is None else stdout,
                stderr=subprocess.DEVNULL,
                cwd=cwd,
                env=dict(_ENV),
                pass_fds=(ctrl, *pass_fds),
                close_fds=True,
                start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"cannot start the sandboxed interpreter: {exc}") from exc
        self._procs.append(proc)
        return proc

    def run_until(self, deadline: float, done) -> bool:
        """Pumps until ``done()`` is true (True) or the deadline passes (False)."""
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.pump.step(remaining)
        return True

    def __exit__(self, *exc_info: object) -> None:
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):  # uninterruptible sleep: reaped later
                proc.wait(timeout=5)
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
) -> CheckRun:
    """Runs ``check(candidate)`` (``test_code``: marshalled, already unit-instrumented) against
    ``code`` in a judge/candidate pair; see ``_child.py`` for both sides."""
    started = time.monotonic()
    sentinel = secrets.token_hex(16)
    judge_cfg = {
        "sentinel": sentinel,
        "test": test_code,
        "prompt": prompt_code,
        "entry": entry,
        "units": units,
        "seed": seed,
    }
    result = CheckRun()
    with _Run() as run:
        judge_ctrl_r, judge_ctrl_w = run.pipe()
        cand_ctrl_r, cand_ctrl_w = run.pipe()
        j2c_r, j2c_w = run.pipe()
        c2j_r, c2j_w = run.pipe()
        res_r, res_w = run.pipe()
        judge_cfg.update(res=res_w, j2c=j2c_w, c2j=c2j_r)
        judge = run.spawn(judge_ctrl_r, limits, "judge", [str(res_w)], pass_fds=(j2c_w, c2j_r, res_w))
        run.spawn(
            cand_ctrl_r,
            limits,
            "candidate",
            [],
            pass_fds=(j2c_r, c2j_w),
        )
        run.close(judge_ctrl_r, cand_ctrl_r, j2c_r, j2c_w, c2j_r, c2j_w, res_w)
        pump = run.pump
        cand_cfg = {"code": code, "entry": entry, "j2c": j2c_r, "c2j": c2j_w}
        pump.send(cand_ctrl_w, _boot_frame() + _frame(cand_cfg))
        pump.send(judge_ctrl_w, _boot_frame())
        pump.read(res_r, _JUDGE_OUTPUT_CAP)
        pump.watch_exit(judge.pid)
        state = {"cfg_sent": False, "grace": None}

        def done() -> bool:
            output = pump.data[res_r]
            if not state["cfg_sent"] and output[:1] == b"R":
                # The judge is hardened (or tried): only now do the tests leave this process.
                pump.send(judge_ctrl_w, _frame(judge_cfg))
                state["cfg_sent"] = True
            if res_r not in pump.open_reads:
                return True
            if judge.pid in pump.exited:
                state["grace"] = state["grace"] or time.monotonic() + _EXIT_GRACE_S
                return time.monotonic() >= state["grace"]
            return False

        result.timed_out = not run.run_until(deadline, done)
        output = bytes(pump.data[res_r])
        result.protocol_error = pump.overflow
    result.seconds = time.monotonic() - started
    _parse_judge_output(output, sentinel, result)
    return result


def _parse_judge_output(output: bytes, sentinel: str, result: CheckRun) -> None:
    """Every line must carry the sentinel; the end line must be the last; anything else marks the
    whole run as tampered with (``protocol_error``: it scores 0)."""
    if not output:
        return
    if output[:1] != b"R" or (len(output) > 1 and not output.endswith(b"\n")):
        result.protocol_error = True
        return
    prefix = sentinel.encode("ascii") + b" "
    for line in output[1:].split(b"\n")[:-1]:
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


def run_program(*, code: str, stdin: bytes, deadline: float, limits: Limits, stdout_cap: int) -> ProgramRun:
    """Runs a whole program on one input. ``overflow``: it wrote more than ``stdout_cap`` bytes and
    was stopped there."""
    started = time.monotonic()
    with _Run() as run:
        ctrl_r, ctrl_w = run.pipe()
        in_r, in_w = run.pipe()
        out_r, out_w = run.pipe()
        proc = run.spawn(ctrl_r, limits, "program", [], stdin=in_r, stdout=out_w)
        run.close(ctrl_r, in_r, out_w)
        pump = run.pump
        pump.send(ctrl_w, _boot_frame() + _frame({"code": code}), close=True)
        pump.send(in_w, stdin, close=True)
        pump.read(out_r, stdout_cap)
        pump.watch_exit(proc.pid)
        grace: list[float] = []

        def done() -> bool:
            if pump.overflow:
                return True
            if proc.pid not in pump.exited:
                return False
            if out_r not in pump.open_reads:
                return True
            if not grace:
                grace.append(time.monotonic() + _EXIT_GRACE_S)
            return time.monotonic() >= grace[0]

        finished = run.run_until(deadline, done)
        exited = proc.pid in pump.exited
        stdout = bytes(pump.data[out_r])
        overflow = pump.overflow
    # Reaped in __exit__: a program that had exited on its own keeps its real status.
    returncode = proc.returncode if exited else None
    return ProgramRun(
        stdout=stdout,
        returncode=returncode,
        timed_out=not finished,
        overflow=overflow,
        seconds=time.monotonic() - started,
    )


_probed: list[str] = []


def hardening_flags() -> str:
    """What the children of this environment manage to apply: two characters, "1"/"0" each, for
    PR_SET_DUMPABLE=0 and the seccomp filter. Probed with one short child; only a definite answer
    is kept (a probe that could not run is retried, and children keep trying to harden meanwhile)."""
    if _probed:
        return _probed[0]
    flags = ""
    with contextlib.suppress(SandboxError), _Run() as run:
        ctrl_r, ctrl_w = run.pipe()
        out_r, out_w = run.pipe()
        run.spawn(ctrl_r, Limits(cpu_seconds=5, memory_mb=256), "probe", [], stdout=out_w)
        run.close(ctrl_r, out_w)
        run.pump.send(ctrl_w, _boot_frame(), close=True)
        run.pump.read(out_r, 16)
        run.run_until(time.monotonic() + 10, lambda: out_r not in run.pump.open_reads)
        flags = bytes(run.pump.data[out_r]).decode("ascii", "replace")
    if len(flags) == 2 and set(flags) <= {"0", "1"}:
        _probed[:] = [flags]
        return flags
    return "??"


def harden_this_process() -> bool:
    """PR_SET_DUMPABLE=0 for the grader process itself: a candidate (same user) can then no longer
    read its memory or environment through /proc/<pid>/{mem,environ,fd}. Best effort: False where
    the platform forbids prctl (reported for AWS Lambda)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(4, 0, 0, 0, 0) == 0
    except Exception:
        return False
