"""A static inventory of every AWS SDK operation the runtime code (``rft/`` and ``lambda_*/``) calls.

Read from the source (``ast``), never from running it: each call ``<receiver>.<method>(...)``
whose method is an operation of a service the code creates clients for (``get_object``,
``converse``, ...) or a client helper (``get_paginator("list_executions")``, ``download_file``) is
a candidate, and its receiver must be attributed to a service. How a receiver is attributed, in
order:

1. a client created on the spot: ``X.client("s3")`` or ``client("s3")`` with a literal service
   (boto3, a session, ``rft.aws.client``, ``Environment.client``, ``lambda_workflow.common.client``
   all take that form); a ``client(...)`` whose service is not a literal fails, unless it only
   forwards the enclosing factory's own ``service`` parameter;
2. a name assigned in the enclosing function (or an enclosing one, or the module), followed to
   the expression assigned; a call of a function of the same module, followed to what it
   returns; an attribute ``self.x``, followed to what the class assigns to it;
3. a client that comes from outside the function (a parameter, or an attribute set from one) is
   attributed by its name, through ``CLIENT_NAMES``: the code names its clients after their
   service (``s3``, ``ssm``, ``states``, ``lambda_client``);
4. ``DECLARED``: the few receivers the rules above cannot follow (a client kept in a cache, a
   lazily created one), each declared with its file and its text; a declaration that matches
   nothing fails, so it cannot go stale.

A receiver that is the module of an import, ``self``/``super()`` (our own classes' methods, such
as ``ModelRegistry.get_alias``), or an instance of a class (``ModelRegistry(...)``) is not a
client. Anything else is unattributed, and the inventory reports it rather than guess.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]

# Parameters and attributes that hold a client passed in from elsewhere, by name.
CLIENT_NAMES = {
    "s3": "s3",
    "s3_client": "s3",
    "ssm": "ssm",
    "bedrock": "bedrock",
    "runtime": "bedrock-runtime",
    "states": "stepfunctions",
    "sns": "sns",
    "cloudwatch": "cloudwatch",
    "cloudformation": "cloudformation",
    "lambda_client": "lambda",
    "dynamodb": "dynamodb",
    "ssm_client": "ssm",
    "ram": "ram",
}
# Parameters and attributes of these names hold one of our own objects whose methods share an
# operation's name (ModelRegistry.list_aliases, CachedResolver.get_alias), never a client.
NOT_CLIENT_NAMES = {"registry": "a ModelRegistry or CachedResolver"}

# Receivers no rule can follow: (file, receiver as written) -> (service, why it is that service).
DECLARED = {
    ("lambda_gateway/handler.py", "client"): (
        "bedrock-runtime",
        "Gateway._call_bedrock keeps the client of Gateway.bedrock_client(region) in its cache",
    ),
    ("lambda_rewards/llm_judge/handler.py", "client()"): (
        "bedrock-runtime",
        "the handler's lazily created client, made by default_client_factory",
    ),
    ("rft/locate.py", "client_for(region)"): (
        "cloudformation",
        "search_regions' client_for gives a CloudFormation client per region",
    ),
}

# Client methods that are not operations, and the operation each one sends.
TRANSFER_METHODS = {
    "download_file": "GetObject",
    "download_fileobj": "GetObject",
    "upload_file": "PutObject",
    "upload_fileobj": "PutObject",
}
HELPERS = {"get_paginator", "get_waiter", *TRANSFER_METHODS}


@dataclass(frozen=True)
class CallSite:
    file: str
    line: int
    function: str  # the enclosing function's __qualname__ ("" at module level)
    service: str
    operation: str
    code: str

    @property
    def through_transfer_threads(self) -> bool:
        """S3 transfers send their requests from the transfer manager's threads, where no frame
        of the calling code is on the stack."""
        return self.code.rsplit(".", 1)[-1] in TRANSFER_METHODS

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.service} {self.operation} ({self.code})"


@dataclass(frozen=True)
class Unattributed:
    file: str
    line: int
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.code}: {self.reason}"


@dataclass(frozen=True)
class Inventory:
    sites: tuple[CallSite, ...]
    unattributed: tuple[Unattributed, ...]
    unused_declarations: tuple[tuple[str, str], ...]


# What a receiver resolves to: a service name, NOT_A_CLIENT, or an Unknown saying why not.
NOT_A_CLIENT = "not a client"


@dataclass(frozen=True)
class Unknown:
    reason: str


Resolved = str | Unknown


def runtime_files(root: Path = ROOT) -> list[Path]:
    folders = [root / "rft", *sorted(p for p in root.glob("lambda_*") if p.is_dir())]
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


@cache
def operations_of(service: str) -> dict[str, str]:
    """snake_case method name -> operation name, for one service."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def build(root: Path = ROOT, files: Iterable[Path] | None = None) -> Inventory:
    modules = [_Module(path, path.relative_to(root).as_posix()) for path in (files or runtime_files(root))]
    services = {service for module in modules for service in module.literal_services()}
    services |= {service for service, _ in DECLARED.values()} | set(CLIENT_NAMES.values())
    method_names = {name for service in services for name in operations_of(service)} | HELPERS
    sites: list[CallSite] = []
    unattributed: list[Unattributed] = []
    used: set[tuple[str, str]] = set()
    for module in modules:
        for found in module.calls(method_names, used):
            (sites if isinstance(found, CallSite) else unattributed).append(found)
    unused = tuple(key for key in DECLARED if key not in used and key[0] in {m.name for m in modules})
    return Inventory(tuple(sites), tuple(unattributed), unused)


class _Module:
    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
        self.parents: dict[ast.AST, ast.AST] = {
            child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)
        }
        self.functions = {node.name: node for node in self.tree.body if isinstance(node, ast.FunctionDef)}
        self.imported = {
            (alias.asname or alias.name).split(".")[0]
            for node in ast.walk(self.tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }

    def literal_services(self) -> Iterator[str]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and _callee_name(node) == "client" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield first.value

    def calls(self, method_names: set[str], used: set[tuple[str, str]]) -> Iterator[CallSite | Unattributed]:
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            if (
                _callee_name(node) == "client"
                and (node.args or node.keywords)
                and not self._service_literal_or_forwarded(node)
            ):
                yield Unattributed(
                    self.name, node.lineno, ast.unparse(node), "a client whose service is not a literal"
                )
            yield from self._misnamed_clients(node)
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in method_names:
                yield from self._call_site(node, func, used)

    def _misnamed_clients(self, call: ast.Call) -> Iterator[Unattributed]:
        """A client passed by keyword must go by its service's name: rule 3 relies on it."""
        for keyword in call.keywords:
            expected = CLIENT_NAMES.get(keyword.arg or "")
            if expected is None:
                continue
            passed = self.resolve(keyword.value, call)
            if isinstance(passed, str) and passed not in (expected, NOT_A_CLIENT):
                yield Unattributed(
                    self.name,
                    call.lineno,
                    ast.unparse(call.func),
                    f"passes a {passed} client as {keyword.arg}=, a name CLIENT_NAMES gives {expected}",
                )

    def _service_literal_or_forwarded(self, call: ast.Call) -> bool:
        first = (
            call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "service"), None)
        )
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return True
        # A factory forwarding its own `service` parameter: its callers are checked instead.
        function = self._enclosing_function(call)
        return (
            isinstance(first, ast.Name)
            and function is not None
            and first.id in _parameters(function)
            and first.id == "service"
        )

    def _call_site(
        self, call: ast.Call, func: ast.Attribute, used: set[tuple[str, str]]
    ) -> Iterator[CallSite | Unattributed]:
        receiver = func.value
        code = ast.unparse(func)
        declared = DECLARED.get((self.name, ast.unparse(receiver)))
        if declared is not None:
            used.add((self.name, ast.unparse(receiver)))
            service: Resolved = declared[0]
        else:
            service = self.resolve(receiver, call)
        if service == NOT_A_CLIENT:
            return
        if isinstance(service, Unknown):
            yield Unattributed(self.name, call.lineno, code, service.reason)
            return
        operation = self._operation(service, func.attr, call)
        if isinstance(operation, Unknown):
            yield Unattributed(self.name, call.lineno, code, operation.reason)
            return
        yield CallSite(self.name, call.lineno, self.qualname(call), service, operation, code)

    def qualname(self, node: ast.AST) -> str:
        """What the interpreter calls the function around `node` (its frames' ``co_qualname``)."""
        names: list[str] = []
        current = self.parents.get(node)
        while current is not None:
            if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                name = current.name if not isinstance(current, ast.Lambda) else "<lambda>"
                names[:0] = [name, "<locals>"] if names else [name]
            elif isinstance(current, ast.ClassDef):
                names.insert(0, current.name)
            current = self.parents.get(current)
        return ".".join(names)

    def _operation(self, service: str, method: str, call: ast.Call) -> str | Unknown:
        operations = operations_of(service)
        if method in TRANSFER_METHODS:
            return TRANSFER_METHODS[method]
        if method in ("get_paginator", "get_waiter"):
            first = call.args[0] if call.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                return Unknown(f"{method} of a name that is not a literal")
            if method == "get_waiter":
                return Unknown("waiters are not inventoried: name the operation the waiter polls")
            name = first.value
            return operations.get(name) or Unknown(f"{service} has no operation {name!r} to paginate")
        return operations.get(method) or Unknown(f"{service} has no operation {method!r}")

    # --- resolving a receiver ----------------------------------------------------------------------

    def resolve(self, expr: ast.expr, at: ast.AST, depth: int = 0) -> Resolved:
        if depth > 8:
            return Unknown("too many steps to follow")
        if isinstance(expr, ast.Call):
            return self._resolve_call(expr, at, depth)
        if isinstance(expr, ast.Name):
            return self._resolve_name(expr.id, at, depth)
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
            return self._resolve_self_attribute(expr.attr, at, depth)
        return Unknown(f"cannot follow {ast.unparse(expr)!r}")

    def _resolve_call(self, call: ast.Call, at: ast.AST, depth: int) -> Resolved:
        name = _callee_name(call)
        if name == "client" and call.args:
            first = call.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                return first.value
            return Unknown("a client whose service is not a literal")
        if isinstance(call.func, ast.Name) and call.func.id == "super":
            return NOT_A_CLIENT
        if name and name[:1].isupper():
            return NOT_A_CLIENT  # an instance of a class: ModelRegistry(...), openai.OpenAI(...)
        if isinstance(call.func, ast.Name) and call.func.id in self.functions:
            return self._resolve_returns(self.functions[call.func.id], depth)
        return Unknown(f"cannot follow what {ast.unparse(call.func)}() returns")

    def _resolve_returns(self, function: ast.FunctionDef, depth: int) -> Resolved:
        returns = [
            node.value
            for node in ast.walk(function)
            if isinstance(node, ast.Return)
            and node.value is not None
            and self._enclosing_function(node) is function
        ]
        found = {self.resolve(value, value, depth + 1) for value in returns}
        if len(found) == 1:
            return found.pop()
        return Unknown(f"{function.name}() returns {sorted(map(str, found)) or 'nothing'}")

    def _resolve_name(self, name: str, at: ast.AST, depth: int) -> Resolved:
        if name == "self":
            return NOT_A_CLIENT  # our own classes' methods
        scope: ast.AST | None = self._enclosing_function(at)
        while scope is not None:
            assigned = _assignments(scope, name)
            if assigned:
                return self._agree([self.resolve(value, value, depth + 1) for value in assigned], name)
            if name in _parameters(scope):
                return _by_name(name)
            scope = self._enclosing_function(scope)
        assigned = _assignments(self.tree, name)
        if assigned:
            return self._agree([self.resolve(value, value, depth + 1) for value in assigned], name)
        if name in self.imported:
            return NOT_A_CLIENT  # a module: its functions, not a client's operations
        return Unknown(f"{name!r} is not assigned, a parameter or an import here")

    def _resolve_self_attribute(self, attribute: str, at: ast.AST, depth: int) -> Resolved:
        cls = self._enclosing(at, ast.ClassDef)
        if cls is None:
            return Unknown(f"self.{attribute} outside a class")
        values: list[Resolved] = []
        for node in ast.walk(cls):
            for target, value in _assigned_pairs(node):
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and target.attr == attribute
                ):
                    values.append(self.resolve(value, value, depth + 1))
        if not values:
            return _by_name(attribute.lstrip("_"))
        return self._agree(values, f"self.{attribute}")

    @staticmethod
    def _agree(values: list[Resolved], name: str) -> Resolved:
        found = set(values)
        if len(found) == 1:
            return found.pop()
        return Unknown(f"{name!r} is assigned different things: {sorted(map(str, found))}")

    def _enclosing_function(self, node: ast.AST) -> ast.AST | None:
        return self._enclosing(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))

    def _enclosing(self, node: ast.AST, kind: type[ast.AST] | tuple[type[ast.AST], ...]) -> ast.AST | None:
        current = self.parents.get(node)
        while current is not None and not isinstance(current, kind):
            current = self.parents.get(current)
        return current


def _by_name(name: str) -> Resolved:
    if name.lstrip("_") in NOT_CLIENT_NAMES:
        return NOT_A_CLIENT
    service = CLIENT_NAMES.get(name.lstrip("_"))
    if service is None:
        return Unknown(f"{name!r} comes from outside and is not a client name in CLIENT_NAMES")
    return service


def _callee_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _parameters(function: ast.AST) -> set[str]:
    args = getattr(function, "args", None)
    if args is None:
        return set()
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {arg.arg for arg in every if arg is not None}


def _assigned_pairs(node: ast.AST) -> Iterator[tuple[ast.expr, ast.expr]]:
    """(target, value) of an assignment, tuples unpacked pairwise (`a, b = x, y`)."""
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield from _pairs(target, node.value)
    elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        yield node.target, node.value


def _pairs(target: ast.expr, value: ast.expr) -> Iterator[tuple[ast.expr, ast.expr]]:
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
        for each_target, each_value in zip(target.elts, value.elts, strict=True):
            yield from _pairs(each_target, each_value)
    else:
        yield target, value


def _assignments(scope: ast.AST, name: str) -> list[ast.expr]:
    """What `name` is assigned in `scope` itself (not in functions nested in it)."""
    found: list[ast.expr] = []
    pending = list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        for target, value in _assigned_pairs(node):
            if isinstance(target, ast.Name) and target.id == name:
                found.append(value)
        pending.extend(ast.iter_child_nodes(node))
    return found
