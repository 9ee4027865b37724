"""The confirmation step of the math worker: a second opinion after math-verify says "equal".

math-verify compares numbers rounded to 6 decimals and, for intervals, matrices and other
structures, trusts that rounding element by element: ``(1.414214, 2)`` equals ``(\\sqrt2, 2)`` for
it. An approximation is not the exact answer, so here every element of every structure is compared
at full precision, by kind:
  * numbers at 60 significant digits with a relative tolerance (``\\frac{1}{2004!}`` is not
    ``\\frac{1}{2006!}``), expressions with variables at random rational points;
  * tuples element by element in order; finite sets and unions as multisets (any order);
  * intervals: both ends, and whether each end is open or closed;
  * matrices: the same shape, every entry (a sum or product of explicit matrices is evaluated);
  * equations proportional (``x+y=1`` vs ``2x+2y=2``), identities (``1=1``) only themselves;
    inequalities as ``expression > 0`` with a positive factor between them (``x \\geq 5``,
    ``5 \\leq x``, ``-x \\leq -5``); ``x \\in S`` by its set;
  * a chain of inequalities in one variable (``-2 \\le x \\le 7``) as its solution set, matched by
    a set answer (``x \\in [-2, 7]``); not the other way round, as math-verify by default.
Anything else must be the same kind of object with confirmed parts. Worker side only: SymPy and
mpmath are imported inside the functions.
"""

from __future__ import annotations

import contextlib
from typing import Any

_CONFIRM_DIGITS = 60
_CONFIRM_BITS = 220  # a little over 60 decimal digits
_RELATIVE_TOLERANCE = 1e-25
_RANDOM_POINTS = ((3, 7), (-5, 11), (13, 17))
MAX_MATCHED_ITEMS = 64  # a multiset match is quadratic; longer sets are compared as sorted


def _numeric(expr: Any) -> Any:
    """A high-precision (mpmath) complex value of a closed-form number, or None."""
    import mpmath
    import sympy

    try:
        value = sympy.N(expr, _CONFIRM_DIGITS)
        if not value.is_number:
            return None
        real, imag = value.as_real_imag()
        if not (real.is_Number and imag.is_Number and real.is_finite and imag.is_finite):
            return None
        with mpmath.workprec(_CONFIRM_BITS):  # mpc() rounds to the working precision
            return mpmath.mpc(
                sympy.Float(real, _CONFIRM_DIGITS)._mpf_, sympy.Float(imag, _CONFIRM_DIGITS)._mpf_
            )
    except Exception:
        return None


def _close(a: Any, b: Any) -> bool:
    import mpmath

    with mpmath.workprec(_CONFIRM_BITS):
        scale = max(abs(a), abs(b))
        if scale == 0:
            return True
        return abs(a - b) <= _RELATIVE_TOLERANCE * scale


def same_value(gold: Any, pred: Any) -> bool | None:
    """Exact-enough equality of two SymPy expressions: True, False, or None when undecidable."""
    import sympy

    if gold == pred:
        return True
    symbols = sorted(gold.free_symbols | pred.free_symbols, key=lambda s: s.name)
    if len(symbols) > 6:
        return None
    points: list[dict[Any, Any]] = [{}] if not symbols else []
    for offset, (num, den) in enumerate(_RANDOM_POINTS):
        if symbols:
            points.append({s: sympy.Rational(num + 2 * i + offset, den + i) for i, s in enumerate(symbols)})
    decided = 0
    for point in points:
        g = _numeric(gold.subs(point) if point else gold)
        p = _numeric(pred.subs(point) if point else pred)
        if g is None and p is None:
            continue
        if g is None or p is None:
            return False
        if not _close(g, p):
            return False
        decided += 1
    return True if decided else None


def _expressions_equal(gold: Any, pred: Any) -> bool:
    verdict = same_value(gold, pred)
    return gold == pred if verdict is None else verdict


def _multiple(gold: Any, pred: Any, *, positive: bool) -> bool:
    """True when ``pred`` is ``c * gold`` for a number c (> 0 when ``positive``); both must
    involve a variable (a relation between numbers, such as ``1 = 1``, is only itself)."""
    import sympy

    if gold.is_number or pred.is_number:
        return False
    ratio = sympy.cancel(pred / gold)
    if not ratio.is_number or ratio == 0:
        return False
    return not positive or bool(ratio.is_positive)


def _relations_equal(gold: Any, pred: Any) -> bool:
    import sympy

    if gold == pred:
        return True
    if isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq):
        if not all(isinstance(side, sympy.Expr) for side in (*gold.args, *pred.args)):
            return all(confirm(g, p) for g, p in zip(gold.args, pred.args, strict=True))  # x \in S
        return _multiple(gold.lhs - gold.rhs, pred.lhs - pred.rhs, positive=False)
    if isinstance(gold, sympy.Ne) and isinstance(pred, sympy.Ne):
        return _multiple(gold.lhs - gold.rhs, pred.lhs - pred.rhs, positive=False)
    gold_form, pred_form = _as_positive(gold), _as_positive(pred)
    if gold_form is None or pred_form is None or gold_form[1] != pred_form[1]:
        return False
    return _multiple(gold_form[0], pred_form[0], positive=True)


def _as_positive(relation: Any) -> tuple[Any, bool] | None:
    """``(e, strict)`` with the relation meaning ``e > 0`` (strict) or ``e >= 0``."""
    import sympy

    if isinstance(relation, sympy.StrictGreaterThan):
        return relation.lhs - relation.rhs, True
    if isinstance(relation, sympy.StrictLessThan):
        return relation.rhs - relation.lhs, True
    if isinstance(relation, sympy.GreaterThan):
        return relation.lhs - relation.rhs, False
    if isinstance(relation, sympy.LessThan):
        return relation.rhs - relation.lhs, False
    return None


def _chain_interval(condition: Any) -> Any:
    """The interval of a chain ``a < E \\le b`` around one expression E (``0 < f(x) < 1``), or
    None: the values E may take, whatever E is."""
    import sympy

    if not isinstance(condition, sympy.And) or len(condition.args) != 2:
        return None
    bounds: dict[str, tuple[Any, bool]] = {}
    middles = set()
    for relation in condition.args:
        form = _as_positive(relation)  # big - small > 0 (or >= 0)
        if form is None:
            return None
        big, small = (
            (relation.lhs, relation.rhs)
            if relation.lhs - relation.rhs == form[0]
            else (relation.rhs, relation.lhs)
        )
        if small.is_number and not big.is_number:
            bounds["lower"], middle = (small, form[1]), big
        elif big.is_number and not small.is_number:
            bounds["upper"], middle = (big, form[1]), small
        else:
            return None
        middles.add(middle)
    if len(middles) != 1 or len(bounds) != 2:
        return None
    (lower, left_open), (upper, right_open) = bounds["lower"], bounds["upper"]
    return sympy.Interval(lower, upper, left_open, right_open)


def _solution_sets(condition: Any) -> list:
    """The sets a condition can mean: the solutions of a condition in one real variable
    (``-2 \\le x \\le 7``, ``1 \\le |z| \\le 2``) and the values of the middle of a chain
    (``0 < f(x) < 1`` means f(x) in (0, 1))."""
    sets = []
    if len(condition.free_symbols) == 1:
        with contextlib.suppress(Exception):  # not solvable as a set: the chain reading remains
            sets.append(condition.as_set())
    chain = _chain_interval(condition)
    if chain is not None:
        sets.append(chain)
    return sets


def _membership_set(value: Any) -> Any:
    """``S`` of an answer ``x \\in S`` (read by the parser as ``Eq(x, S)``), or None."""
    import sympy

    if (
        isinstance(value, sympy.Eq)
        and isinstance(value.lhs, sympy.Symbol)
        and isinstance(value.rhs, sympy.Set)
    ):
        return value.rhs
    return value if isinstance(value, sympy.Set) else None


def _matched(gold_items: list, pred_items: list) -> bool:
    """Every gold item confirmed by a distinct answer item (a multiset match, any order)."""
    if len(gold_items) != len(pred_items):
        return False
    if len(gold_items) > MAX_MATCHED_ITEMS:
        return all(confirm(g, p) for g, p in zip(gold_items, pred_items, strict=True))
    unused = list(pred_items)
    for item in gold_items:
        found = next((index for index, other in enumerate(unused) if confirm(item, other)), None)
        if found is None:
            return False
        unused.pop(found)
    return True


def _explicit(value: Any) -> Any:
    """A sum or product of explicit matrices as the matrix it is; anything else unchanged."""
    from sympy.matrices import MatrixBase
    from sympy.matrices.expressions import MatrixExpr

    if isinstance(value, MatrixExpr) and not isinstance(value, MatrixBase):
        try:
            done = value.doit()
            return done if isinstance(done, MatrixBase) else value
        except Exception:
            return value
    return value


def _structures_equal(gold: Any, pred: Any) -> bool:
    import sympy
    from sympy.matrices import MatrixBase

    gold, pred = _explicit(gold), _explicit(pred)

    if isinstance(gold, MatrixBase) or isinstance(pred, MatrixBase):
        if not (isinstance(gold, MatrixBase) and isinstance(pred, MatrixBase)) or gold.shape != pred.shape:
            return False
        return all(confirm(g, p) for g, p in zip(gold, pred, strict=True))
    if isinstance(gold, sympy.Interval) and isinstance(pred, sympy.Interval):
        return (
            bool(gold.left_open) == bool(pred.left_open)
            and bool(gold.right_open) == bool(pred.right_open)
            and confirm(gold.start, pred.start)
            and confirm(gold.end, pred.end)
        )
    if isinstance(gold, sympy.Tuple) and isinstance(pred, sympy.Tuple):
        return len(gold) == len(pred) and all(confirm(g, p) for g, p in zip(gold, pred, strict=True))
    if isinstance(gold, sympy.FiniteSet | sympy.Union) and type(gold) is type(pred):
        return _matched(list(gold.args), list(pred.args))
    if (
        type(gold) is type(pred)
        and isinstance(gold, sympy.Basic)
        and gold.args
        and len(gold.args) == len(pred.args)
    ):
        return all(confirm(g, p) for g, p in zip(gold.args, pred.args, strict=True))
    return bool(gold == pred)


def condition_answered_by_set(gold: Any, pred: Any) -> bool:
    """True for a gold condition (``-2 \\le x \\le 7``) answered by a set (``x \\in [-2, 7]``):
    ``confirm`` compares the exact sets, and math-verify (which by default refuses this reading
    in the other direction) would only repeat the slow ``as_set`` work."""
    import sympy
    from sympy.core.relational import Relational

    return (
        isinstance(gold, sympy.And | Relational)
        and not isinstance(gold, sympy.Eq)
        and _membership_set(pred) is not None
    )


def confirm(gold: Any, pred: Any) -> bool:
    """True when ``pred`` is ``gold`` at full precision, element by element (module docstring)."""
    import sympy
    from sympy.core.relational import Relational

    if isinstance(gold, list | tuple) or isinstance(pred, list | tuple):
        return (
            isinstance(gold, list | tuple)
            and isinstance(pred, list | tuple)
            and _matched(list(gold), list(pred))
        )
    if isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr):
        return _expressions_equal(gold, pred)
    if isinstance(gold, sympy.And | Relational) and not isinstance(gold, sympy.Eq):
        answer_set = _membership_set(pred)
        if answer_set is not None:  # -2 <= x <= 7 answered as x \in [-2, 7]
            return any(confirm(gold_set, answer_set) for gold_set in _solution_sets(gold))
    if isinstance(gold, Relational) and isinstance(pred, Relational):
        return _relations_equal(gold, pred)
    if isinstance(gold, Relational) != isinstance(pred, Relational):
        return False
    return _structures_equal(gold, pred)
