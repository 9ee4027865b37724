"""The code in an answer, and the tests in a reference.

Nothing here runs candidate code: extraction is a linear scan over lines, and only the *reference*
(trusted data) is parsed and compiled in the grader process.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import keyword
import marshal
import math
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from lambda_rewards.common.answer import final_answer
from lambda_rewards.common.contract import reference_object

MAX_CODE_CHARS = 200_000
MAX_TEST_CHARS = 1_000_000
MAX_CASES = 1_000
MAX_CASES_CHARS = 32_000_000
MAX_TIME_LIMIT_S = 60.0

_PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", "python3.11", "ipython", "pycon"})
_FENCE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})([^`\n]*)")  # one greedy run: linear on any line


class BadReference(ValueError):
    """The reference cannot be used to grade (names the problem)."""


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class _Block:
    language: str  # "python", "" (untagged) or another tag
    code: str


def _fenced_blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        opening = _FENCE.fullmatch(lines[index])
        index += 1
        if not opening:
            continue
        marker, info = opening.group(1), opening.group(2).strip().lower()
        body: list[str] = []
        while index < len(lines):
            closing = _FENCE.fullmatch(lines[index])
            index += 1
            if (
                closing
                and closing.group(1)[0] == marker[0]
                and len(closing.group(1)) >= len(marker)
                and not closing.group(2).strip()
            ):
                break
            body.append(lines[index - 1])
        else:  # an unclosed fence (the answer ran out of tokens) runs to the end of the answer
            while body and not body[-1].strip():
                body.pop()
        tag = info.split()[0] if info else ""
        language = "python" if tag in _PYTHON_TAGS else tag
        blocks.append(_Block(language, "\n".join(body)))
    return blocks


def _defines(code: str, name: str) -> bool:
    return _definition_pattern(name).search(code) is not None


@functools.lru_cache(maxsize=1024)
def _definition_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", re.M)


def answer_text(response: str) -> str:
    """The answer of ``response`` under the one rule of ``common.answer.final_answer`` (what follows
    the last ``</think>``; "" when cut off inside the reasoning), but with the indentation of its
    first line kept: a completion-style answer is a function body, and stripping its leading spaces
    would take it out of the function it continues."""
    answer = final_answer(response)
    if not answer:
        return ""
    end = len(response.rstrip())
    start = end - len(answer)
    while start > 0 and response[start - 1] in " \t":
        start -= 1
    return response[start:end]


def extract_code(answer: str, entry_point: str | None = None) -> str:
    """The Python code of an answer (``common.answer.final_answer`` of the response: what follows
    the reasoning): the last ```python block (with an entry point: the last one that defines it),
    else the last untagged block, else, when the answer has no fence at all, the whole answer. ""
    when there is none (only other languages, or nothing)."""
    text = answer.replace("\r\n", "\n")
    blocks = _fenced_blocks(text)
    if not blocks:
        return text.strip("\n") if text.strip() else ""
    python = [block.code for block in blocks if block.language == "python" and block.code.strip()]
    if entry_point:
        defining = [code for code in python if _defines(code, entry_point)]
        if defining:
            return defining[-1]
    if python:
        return python[-1]
    plain = [block.code for block in blocks if block.language == "" and block.code.strip()]
    return plain[-1] if plain else ""


# --------------------------------------------------------------------------- the sample's prompt

# A top-level line that starts Python code in a prompt written for people ("Complete this
# function:\n<code>\nAnswer with ..."): definitions, imports, decorators, assignments.
_CODE_START = re.compile(
    r"(?:(?:async[ \t]+)?def|class|import|from)[ \t]|@|[A-Za-z_]\w*[ \t]*(?::[^=\n]*)?=[^=]"
)
# Top-level lines that continue code rather than end it (a closing bracket, a docstring's end).
_CONTINUATION = (")", "]", "}", '"' * 3, "'" * 3)
MAX_PROMPT_CHARS = 200_000


def prompt_from_messages(messages: list[dict]) -> str | None:
    """The Python code of the sample's last user message (the dataset's prompt: trusted data, unlike
    the answer), or None. A message with ```python (or untagged) blocks gives their code; otherwise
    the top-level chunks of code between its prose lines, each kept only if it parses."""
    text = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_PROMPT_CHARS:
        return None
    text = text.replace("\r\n", "\n")
    blocks = [block.code + "\n" for block in _fenced_blocks(text) if block.language in ("python", "")]
    chunks = blocks or _code_chunks(text)
    code = "\n\n".join(chunk for chunk in chunks if _parses(chunk)) if blocks else None
    if code is None:
        code = "".join(chunk for chunk in chunks if _parses(chunk))
    return code if code.strip() else None


def _code_chunks(text: str) -> list[str]:
    """Runs of lines from a code-starting top-level line up to the next one or to a prose line."""
    chunks: list[str] = []
    current: list[str] | None = None
    for line in text.split("\n"):
        top_level = bool(line) and not line[0].isspace()
        if top_level and _CODE_START.match(line):
            if current is not None:
                chunks.append("".join(current))
            current = [line + "\n"]
        elif top_level and current is not None and not line.startswith(_CONTINUATION):
            chunks.append("".join(current))
            current = None
        elif current is not None:
            current.append(line + "\n")
    if current is not None:
        chunks.append("".join(current))
    return chunks


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return bool(code.strip())


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class CheckSpec:
    """A HumanEval-style reference, compiled: ``test_code`` is the marshalled test module whose
    ``check`` reports each top-level assertion statement as one unit."""

    entry: str
    prompt: str | None
    prompt_prefix: str  # what goes before a completion that defines the function itself
    prompt_code: bytes | None  # the prompt, compiled for the judge's namespace (helpers like poly)
    test_code: bytes
    units: int  # 0: check has no top-level assertion: one unit, check(candidate) as a whole
    seed: bool  # the test uses `random`: the judge seeds it (same inputs on every run)
    partial_credit: bool = False  # the reference opted in: score the fraction of units passed

    def assemble(self, code: str) -> str:
        """The program the candidate process runs: the prompt (signature, imports, helpers) then the
        completion; a completion that is only the body continues the prompt as it stands."""
        if not _defines(code, self.entry):
            return code if self.prompt is None else self.prompt + code
        code = textwrap.dedent(code)  # a block indented as a whole would nest inside the stub
        return code if self.prompt is None else self.prompt_prefix + code


@dataclass(frozen=True)
class Case:
    stdin: str
    stdout: str


@dataclass(frozen=True)
class CasesSpec:
    cases: tuple[Case, ...]
    time_limit: float | None  # CPU seconds per case; None: the grader's default


def parse_reference(reference: Any, sample_prompt: str | None = None) -> CheckSpec | CasesSpec:
    """A reference as a spec; ``BadReference`` naming the problem otherwise. ``sample_prompt`` (the
    code of the sample's last user message, see ``prompt_from_messages``) stands in for a missing
    ``prompt`` of a HumanEval-style reference: the helpers its test uses come from there."""
    ref = reference_object(reference)
    if not isinstance(ref, dict):
        raise BadReference(
            "reference must be an object with 'test' and 'entry_point' (HumanEval) or 'cases' "
            f"(stdin/stdout); got {type(ref).__name__}"
        )
    if "test" in ref or "entry_point" in ref:
        test, entry, prompt = ref.get("test"), ref.get("entry_point"), ref.get("prompt")
        if not isinstance(test, str) or not test.strip():
            raise BadReference("reference 'test' must be a non-empty string of Python code")
        if not isinstance(entry, str) or not entry.isidentifier() or keyword.iskeyword(entry):
            raise BadReference("reference 'entry_point' must be a Python function name")
        if prompt is not None and not isinstance(prompt, str):
            raise BadReference("reference 'prompt' must be a string when present")
        partial = ref.get("partial_credit", False)
        if not isinstance(partial, bool):
            raise BadReference("reference 'partial_credit' must be true or false when present")
        if prompt is None:
            prompt = sample_prompt
        if len(test) > MAX_TEST_CHARS or len(prompt or "") > MAX_TEST_CHARS:
            raise BadReference(f"reference 'test' or 'prompt' is longer than {MAX_TEST_CHARS} characters")
        spec = _check_spec(test, entry, prompt)
        return dataclasses.replace(spec, partial_credit=True) if partial else spec
    if "cases" in ref or ("inputs" in ref and "outputs" in ref):
        return _cases_spec(ref)
    raise BadReference("reference has neither 'test' and 'entry_point' nor 'cases'")


@functools.lru_cache(maxsize=256)
def _check_spec(test: str, entry: str, prompt: str | None) -> CheckSpec:
    # GRPO sends every prompt several times per batch: compile each reference once.
    try:
        tree = ast.parse(test, "<check>")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise BadReference(f"reference 'test' does not parse: {type(exc).__name__}") from None
    checks = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "check"]
    if not checks:
        raise BadReference("reference 'test' defines no top-level function check(candidate)")
    check = checks[-1]
    if not check.args.args and not check.args.vararg:
        raise BadReference("reference check() takes no argument for the candidate")
    units = _instrument(check)
    test_code = marshal.dumps(compile(tree, "<check>", "exec"))
    prompt_code = None
    prompt_prefix = ""
    if prompt is not None:
        try:
            prompt_tree = ast.parse(prompt, "<prompt>")
            prompt_prefix = prompt if prompt.endswith("\n") else prompt + "\n"
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            prompt_tree = None
            prompt_prefix = _import_lines(prompt)
        # The judge needs the prompt only for the helpers the test uses (HumanEval/32 `poly`,
        # /38 `encode_cyclic`); skipping it spares the judge the prompt's imports.
        if prompt_tree is not None and (_bound_names(prompt_tree) - {entry}) & _used_names(tree):
            prompt_code = marshal.dumps(compile(prompt_tree, "<prompt>", "exec"))
    return CheckSpec(
        entry=entry,
        prompt=prompt,
        prompt_prefix=prompt_prefix,
        prompt_code=prompt_code,
        test_code=test_code,
        units=units,
        seed=re.search(r"\brandom\b", test) is not None,
    )


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            names.update(
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
    return names


def _used_names(tree: ast.Module) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _import_lines(prompt: str) -> str:
    lines = [line for line in prompt.split("\n") if re.match(r"(?:import|from)\s+\w", line)]
    return "".join(line + "\n" for line in lines)


def _has_real_assert(node: ast.AST) -> bool:
    """An assert that can fail (not ``assert True, "..."``), outside nested definitions."""
    if isinstance(node, ast.Assert):
        return not (isinstance(node.test, ast.Constant) and node.test.value)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
        return False
    return any(_has_real_assert(child) for child in ast.iter_child_nodes(node))


def _instrument(check: ast.FunctionDef) -> int:
    """Wraps each top-level statement of ``check`` that asserts something in
    ``try: <stmt> except Exception: __rft_unit__(i, False) else: __rft_unit__(i, True)``;
    returns the number of units. Setup statements run unchanged; if one raises, the units after it
    never report and count as failed."""
    body: list[ast.stmt] = []
    units = 0
    for statement in check.body:
        definition = isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if definition or not _has_real_assert(statement):
            body.append(statement)
            continue

        def report(passed: bool, index: int = units) -> ast.stmt:
            call = ast.Call(
                func=ast.Name("__rft_unit__", ast.Load()),
                args=[ast.Constant(index), ast.Constant(passed)],
                keywords=[],
            )
            return ast.Expr(call)

        handler = ast.ExceptHandler(type=ast.Name("Exception", ast.Load()), name=None, body=[report(False)])
        wrapped = ast.Try(body=[statement], handlers=[handler], orelse=[report(True)], finalbody=[])
        body.append(ast.copy_location(wrapped, statement))
        units += 1
    check.body = body
    ast.fix_missing_locations(check)
    return units


def _as_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value) + ("\n" if value else "")
    raise BadReference(f"{where} must be a string")


def _cases_spec(ref: dict) -> CasesSpec:
    raw = ref.get("cases")
    if raw is None:
        inputs, outputs = ref.get("inputs"), ref.get("outputs")
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            raise BadReference("reference 'inputs' and 'outputs' must be lists of the same length")
        raw = [{"stdin": given, "stdout": wanted} for given, wanted in zip(inputs, outputs, strict=True)]
    if not isinstance(raw, list) or not raw:
        raise BadReference("reference 'cases' must be a non-empty list")
    if len(raw) > MAX_CASES:
        raise BadReference(f"reference has more than {MAX_CASES} cases")
    cases = []
    total = 0
    for number, case in enumerate(raw):
        if not isinstance(case, dict):
            raise BadReference(f"reference case {number} is not an object")
        given = case.get("stdin", case.get("input", ""))
        wanted = case.get("stdout", case.get("output"))
        if wanted is None:
            raise BadReference(f"reference case {number} has no 'stdout'")
        cases.append(
            Case(
                stdin=_as_text(given, f"reference case {number} 'stdin'"),
                stdout=_as_text(wanted, f"reference case {number} 'stdout'"),
            )
        )
        total += len(cases[-1].stdin) + len(cases[-1].stdout)
    if total > MAX_CASES_CHARS:
        raise BadReference(f"reference cases are larger than {MAX_CASES_CHARS} characters")
    time_limit = ref.get("time_limit")
    if time_limit is not None:
        if (
            isinstance(time_limit, bool)
            or not isinstance(time_limit, int | float)
            or not math.isfinite(time_limit)
            or not 0 < time_limit <= MAX_TIME_LIMIT_S
        ):
            raise BadReference(
                f"reference 'time_limit' must be a number of seconds in (0, {MAX_TIME_LIMIT_S}]"
            )
        time_limit = float(time_limit)
    return CasesSpec(cases=tuple(cases), time_limit=time_limit)


def normalize_output(text: str) -> str:
    """Program output as compared: line endings unified, trailing whitespace of every line and
    trailing empty lines dropped. Everything else (leading spaces, blank lines inside) counts."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)
