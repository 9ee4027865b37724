"""Functions the isolation tests run in killable workers (importable by module path)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

WARMED = {"value": False}


def warm() -> None:
    WARMED["value"] = True


def work(payload: dict) -> Any:
    kind = payload["kind"]
    if kind == "echo":
        return payload["value"]
    if kind == "warmed":
        return WARMED["value"]
    if kind == "pid":
        return os.getpid()
    if kind == "sleep":  # pure Python wait: the soft limit stops it
        time.sleep(payload["seconds"])
        return "slept"
    if kind == "deaf":  # ignores the soft limit, as C code does: only a kill stops it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(payload["seconds"])
        return "woke"
    if kind == "swallow":  # a library with a bare except: swallows the time limit, then answers
        with contextlib.suppress(BaseException):
            time.sleep(payload["seconds"])
        return "answered after the limit"
    if kind == "raise":
        raise KeyError("secret payload text")
    if kind == "allocate":
        return len(bytearray(payload["megabytes"] * 1024 * 1024))
    if kind == "exit":
        os._exit(3)
    if kind == "object":
        return object()
    raise ValueError(kind)
