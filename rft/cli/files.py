"""Writing what a command produces: ``-`` is stdout, files are written whole or not at all, never
over an existing file without ``--force``, and with the permissions the user's umask gives."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from rft.errors import RftError

STDOUT = "-"


class TargetExistsError(RftError):
    """The output file exists and --force was not given."""


def check_target(target: str, *, force: bool) -> None:
    """Refuse an existing file (before any work is done) unless ``force``; ``-`` is always fine."""
    if target == STDOUT:
        return
    path = Path(target)
    if path.is_dir():
        raise RftError(f"{target} is a directory; give a file name (or - for stdout).")
    if path.exists() and not force:
        raise TargetExistsError(f"{target} exists; pass --force to overwrite it.")


def write_lines(target: str, lines: Iterable[str], *, force: bool) -> int:
    """Write ``lines`` (each without its line break) to ``target`` or stdout; returns the count.

    The lines go to a temporary file first, so an error raised while producing them (a bad input
    line) leaves no partial output: not in ``target``, not on stdout.
    """
    check_target(target, force=force)
    if target == STDOUT:
        return _write_stdout(lines)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_beside(path)
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as out:
            count = _write_all(out, lines)
        check_target(target, force=force)  # created meanwhile by someone else: still not ours to replace
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


def write_bytes(target: Path, body: bytes, *, force: bool) -> None:
    """``body`` into ``target``, whole or not at all, respecting the umask and --force."""
    check_target(str(target), force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_beside(target)
    try:
        temporary.write_bytes(body)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _create_beside(path: Path) -> Path:
    """A new empty file next to ``path``, created with mode 0666 so the umask decides the final
    permissions (``tempfile.mkstemp`` would force 0600 on the output)."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate


def _write_stdout(lines: Iterable[str]) -> int:
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n") as spool:
        count = _write_all(spool, lines)
        spool.seek(0)
        shutil.copyfileobj(spool, sys.stdout)
    sys.stdout.flush()
    return count


def _write_all(out: TextIO, lines: Iterable[str]) -> int:
    count = 0
    for line in lines:
        out.write(line + "\n")
        count += 1
    return count
