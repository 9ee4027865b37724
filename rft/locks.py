"""A lease lock in SSM Parameter Store, for writes that must not interleave (alias moves).

SSM has no conditional put, but creating a parameter with ``Overwrite=False`` is atomic: exactly
one of two racing creators succeeds, the other gets ``ParameterAlreadyExists``. The lock is that
parameter; its value names the holder and when the lease ends. A holder that crashed leaves a lock
that expires: the next writer takes it over with one overwrite, and of two racing takers only the
one whose write produced the version right after the expired one holds it (the other sees a later
version and backs off). Releasing deletes the parameter only while it still names this holder.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from rft.errors import RftError

LEASE_SECONDS = 120
WAIT_SECONDS = 60
POLL_SECONDS = 0.2


class LockBusyError(RftError):
    """Another writer held the lock for longer than we were willing to wait."""


@contextmanager
def ssm_lock(
    ssm: Any,
    name: str,
    *,
    holder: str | None = None,
    lease_seconds: float = LEASE_SECONDS,
    wait_seconds: float = WAIT_SECONDS,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the lock parameter ``name`` for the duration of the ``with`` block."""
    token = f"{holder or 'rft'}:{uuid.uuid4().hex}"
    deadline = clock() + wait_seconds
    while not _try_acquire(ssm, name, token, lease_seconds, clock):
        if clock() >= deadline:
            raise LockBusyError(
                f"{name} is held by another writer (waited {wait_seconds:.0f} s); try again shortly."
            )
        sleep(POLL_SECONDS)
    try:
        yield
    finally:
        _release(ssm, name, token)


def _try_acquire(ssm: Any, name: str, token: str, lease_seconds: float, clock: Callable[[], float]) -> bool:
    value = json.dumps({"holder": token, "expires": clock() + lease_seconds})
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False, Description="rft lock")
        return True
    except ClientError as exc:
        if _code(exc) != "ParameterAlreadyExists":
            raise
    current = _read(ssm, name)
    if current is None:
        return False  # released in between: try again
    lease, version = current
    if lease.get("expires", 0) > clock():
        return False
    # The lease has expired: take it over. Only the taker whose write follows the expired version holds it.
    written = ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    return int(written.get("Version", 0)) == version + 1


def _release(ssm: Any, name: str, token: str) -> None:
    current = _read(ssm, name)
    if current is not None and current[0].get("holder") == token:
        try:
            ssm.delete_parameter(Name=name)
        except ClientError as exc:
            if _code(exc) != "ParameterNotFound":
                raise


def _read(ssm: Any, name: str) -> tuple[dict[str, Any], int] | None:
    try:
        parameter = ssm.get_parameter(Name=name)["Parameter"]
    except ClientError as exc:
        if _code(exc) == "ParameterNotFound":
            return None
        raise
    try:
        lease = json.loads(parameter["Value"])
    except ValueError:
        lease = {}
    return (lease if isinstance(lease, dict) else {}), int(parameter.get("Version", 0))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
