"""The rft-stack version a synthesized stack carries: the project's release (pyproject.toml) and a
digest of the source it was built from.

Every stack of a stage gets it as the output `RftStackVersion` (rft.names.VERSION_OUTPUT), so
`rft doctor` can tell whether an environment's stacks were deployed from the same source, and the
workflow's Lambdas get it as `RFT_STACK_VERSION`, so a run's record says what version ran it. The
digest is of the files that are deployed (not of git metadata, which a pipeline's source artifact
may lack), so two checkouts of the same commit give the same version.
"""

from __future__ import annotations

import hashlib
import tomllib
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a deployment is built from; tests, benchmarks and documentation change nothing deployed.
SOURCE_FOLDERS = ("rft", "stacks", "lambda_rewards", "lambda_workflow", "lambda_gateway")
SOURCE_FILES = ("app.py", "cdk.json", "requirements.txt", "pyproject.toml")
SOURCE_SUFFIXES = (".py", ".txt", ".json", ".toml")
DIGEST_CHARS = 12


@cache
def source_version(root: Path = REPO_ROOT) -> str:
    """``<release>+<12 hex digits>``, e.g. ``0.1.0+3f9c0a1b2d4e``."""
    return f"{release(root)}+{source_digest(root)}"


def release(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def source_digest(root: Path) -> str:
    """sha256 over every source file's path and content, in path order."""
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:DIGEST_CHARS]


def _source_files(root: Path) -> list[Path]:
    files = [root / name for name in SOURCE_FILES if (root / name).is_file()]
    for folder in SOURCE_FOLDERS:
        for path in (root / folder).rglob("*"):
            if (
                path.is_file()
                and path.suffix in SOURCE_SUFFIXES
                and "__pycache__" not in path.parts
                and "tests" not in path.relative_to(root).parts
            ):
                files.append(path)
    return sorted(files)
