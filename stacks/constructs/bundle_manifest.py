"""What a Lambda bundle of this repository holds: a handler package and exactly the repository
modules it imports, found by reading import statements (runtime code is never imported at synth).

So a function carries only what it runs: the `rft` client (`rft/cli`, evaluation, preflight) stays
out of every bundle unless a handler imports it, and editing it changes no function's code hash,
so it redeploys nothing and moves no `live` alias.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The repository's own top-level packages; every other import is the runtime's or a requirement's.
LOCAL_PACKAGES = frozenset({"rft", "lambda_workflow", "lambda_gateway", "lambda_rewards"})


def package_manifest(package: str, root: Path = REPO_ROOT) -> tuple[str, ...]:
    """Repository-relative paths of the files a bundle of `package` (every module of the folder,
    since each may be a handler) needs, sorted."""
    entry_points = sorted((root / package).glob("*.py"))
    if not entry_points:
        raise ValueError(f"{root / package} holds no Python module")
    return tuple(sorted(str(path.relative_to(root)) for path in import_closure(entry_points, root)))


def imports_from_outside(folders: Iterable[str], root: Path = REPO_ROOT) -> tuple[str, ...]:
    """Repository-relative paths of the modules outside `folders` that the modules inside them
    import, directly or not (a bundle copies `folders` whole and needs these besides), sorted."""
    inside = [(root / folder).resolve() for folder in folders]
    entry_points = [path for folder in inside for path in sorted(folder.rglob("*.py"))]
    return tuple(
        sorted(
            str(path.relative_to(root.resolve()))
            for path in import_closure(entry_points, root)
            if not any(path.is_relative_to(folder) for folder in inside)
        )
    )


def import_closure(entry_points: Iterable[Path], root: Path = REPO_ROOT) -> set[Path]:
    """`entry_points` and every repository module they import, directly or not, with the
    `__init__.py` of each package on the way (Python runs those on import)."""
    found: set[Path] = set()
    pending = [path.resolve() for path in entry_points]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.add(path)
        for module in _imported_modules(path, root):
            pending.extend(_module_files(module, root))
    return found


def _imported_modules(path: Path, root: Path) -> Iterator[str]:
    """Dotted names of the local modules `path` imports (at top level or inside a function: a
    lazy import runs in Lambda too). `from a import b` may name module `a.b`: both are yielded."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")]
        else:
            continue
        yield from (name for name in names if name.split(".")[0] in LOCAL_PACKAGES)


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join([*parts, *([module] if module else [])])


def _module_files(module: str, root: Path) -> Iterator[Path]:
    """The files Python runs to import `module`: each package's `__init__.py`, then the module."""
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        folder = root.joinpath(*parts[:depth])
        if (folder / "__init__.py").is_file():
            yield (folder / "__init__.py").resolve()
    leaf = root.joinpath(*parts[:-1], f"{parts[-1]}.py")
    if leaf.is_file():
        yield leaf.resolve()
