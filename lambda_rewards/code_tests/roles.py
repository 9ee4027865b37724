"""The three roles a sandboxed child plays, one per process (see ``sandbox.py`` for the runs).

* ``judge``: trusted. Holds the reference tests and a per-run random sentinel, never executes the
  candidate's code. It runs ``check(candidate)`` where ``candidate`` is a proxy that ships the
  arguments to the candidate process and decodes the returned value as plain data (``codec``:
  builtin types only). Results go to the grader on a private pipe, one line per test unit, each
  line framed with the sentinel.
* ``candidate``: untrusted. Executes the solution, then answers calls: the encoded return value, or
  the exception's type name. Whatever it sends is only ever decoded as data.
* ``program``: untrusted. Executes a whole program with the case input on stdin; the grader compares
  its stdout.

Each runs in a child that the launcher forked and hardened (``hardening.py``) before its
configuration, which arrives from the grader on the control pipe, is read.
"""

import contextlib
import os
import sys

from .codec import decode_value, encode_value, read_frame, write_frame

MAX_REPLY = 4 * 1024 * 1024  # bytes of one candidate reply
MAX_REQUEST = 64 * 1024 * 1024  # bytes of one judge -> candidate call (trusted side)
EXIT_SYNTAX = 97  # program mode: the code does not compile


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


def judge_role(cfg, flags, res, j2c, c2j):
    """Runs the reference's ``check`` against a proxy of the candidate; reports on ``res``."""
    import builtins
    import marshal

    sentinel = cfg["sentinel"]

    def emit(line):
        os.write(res, f"{sentinel} {line}\n".encode("ascii", "replace"))  # < PIPE_BUF: atomic

    hello = read_frame(c2j, 64)
    peer = hello[1:].decode("ascii", "replace") if hello and hello[:1] == b"H" else "?????"
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
        with contextlib.suppress(Exception):
            exec(marshal.loads(cfg["prompt"]), namespace)  # nosec B102, B302  # the reference's helpers, compiled by the grader
    namespace[cfg["entry"]] = candidate
    namespace["__rft_unit__"] = unit
    try:
        exec(marshal.loads(cfg["test"]), namespace)  # nosec B102, B302  # the reference's tests, compiled by the grader
        check = namespace["check"]
    except Exception:
        emit("E bad_reference")
        return
    loaded = None
    if alive[0]:
        with contextlib.suppress(OSError):
            loaded = read_frame(c2j, 256)
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

# Stdlib modules that HumanEval-style code and tests import (typing alone costs 10-20 ms under -S).
PRELOAD = (
    "typing", "collections", "itertools", "functools", "math", "re", "heapq", "bisect", "string",
    "random", "marshal", "builtins", "hashlib", "fractions", "decimal", "statistics",
)  # fmt: skip


def preload():
    """Imported once by the launcher, so that every forked child has them warm (no candidate code
    runs in the launcher)."""
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            __import__(name)


def candidate_role(cfg, flags, j2c, c2j):
    """Loads the answer's code, then answers the judge's calls with plain data or an exception's
    name. Untrusted from the moment the code runs: whatever it sends is only decoded as data."""
    import builtins
    import marshal

    write_frame(c2j, b"H" + flags.encode("ascii"))
    _install_exit()
    try:
        code = compile(cfg["code"], "solution.py", "exec")
        status = "ok"
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        code, status = None, "syntax"
    if read_frame(j2c, 16) != b"G":  # the judge is hardened and holds its tests: go
        return
    function = None
    if code is not None:
        module = type(sys)("solution")
        module.__dict__["__builtins__"] = builtins
        sys.modules["solution"] = module
        try:
            exec(code, module.__dict__)  # nosec B102  # running the candidate, in its hardened child, is this role's job
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
            args, kwargs = marshal.loads(request[1:])  # nosec B302  # from the trusted judge, in the untrusted process
            out = [b"R"]
            encode_value(function(*args, **kwargs), out)
            reply = b"".join(out)
        except BaseException as exc:
            reply = b"X" + type(exc).__name__.encode("ascii", "replace")[:64]
        write_frame(c2j, reply)


# --------------------------------------------------------------------------- program


def program_role(cfg):
    """Runs a whole program; stdin and stdout are the case's pipes."""
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
    exec(code, module.__dict__)  # nosec B102  # running the program, in its hardened child, is this role's job


def _exit_status(exc):
    """The status an interpreter exits with after ``SystemExit(code)``."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def run(mode, flags, ctrl, extras):
    """The body of a hardened child; returns its exit status. ``ctrl``: the control pipe, where
    the grader sends the configuration; ``extras``: the role's pipes, in the order of the role's
    parameters."""
    import marshal

    if mode == "probe":
        os.write(1, flags.encode("ascii"))
        return 0
    if mode == "judge":
        os.write(extras[0], b"R" + flags.encode("ascii"))  # hardened: the grader may send the tests
    frame = read_frame(ctrl, MAX_REQUEST)
    os.close(ctrl)
    if frame is None:
        return 0
    cfg = marshal.loads(frame)  # nosec B302  # the grader's configuration, on the child's control pipe
    if mode == "judge":
        judge_role(cfg, flags, *extras)
        return 0
    if mode == "candidate":
        with contextlib.suppress(BaseException):
            candidate_role(cfg, flags, *extras)
        return 0
    return _run_program(cfg)


def _run_program(cfg):
    """A program's exit as the interpreter would make it: SystemExit's code, 1 after an uncaught
    exception, atexit hooks run and stdout flushed (unflushed output after os._exit is lost)."""
    import atexit

    try:
        program_role(cfg)
        status = 0
    except SystemExit as exc:
        status = _exit_status(exc)
    except BaseException:
        status = 1
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            status = status or 120
    return status
