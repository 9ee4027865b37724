"""Tables that fit the terminal: nothing is cut with an ellipsis.

Each column says how it gives way when the terminal is narrow: ``drop`` (the higher, the sooner
the column is left out; 0: never), and ``fold`` (a long value wraps inside its cell instead of
widening the table: names, ARNs, reasons). Columns that neither drop nor fold keep their values
whole on one line (statuses, numbers, timestamps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

# What a rich Table (default box, padding 1) adds: one border per column plus one, and a space on
# each side of every cell.
_BORDER, _PADDING = 1, 2
FOLD_MIN = 12  # a folding column is never narrower than this


@dataclass(frozen=True)
class Col:
    header: str
    drop: int = 0
    fold: bool = False
    justify: str = "left"


def fitted_table(
    columns: Sequence[Col], rows: Sequence[Sequence[str]], *, console: Console, **options: object
) -> Table:
    """A table of ``rows`` with the columns that fit ``console``'s width, dropping the most
    droppable first; values are never cut, folding columns wrap."""
    keep = list(range(len(columns)))
    while _least_width(columns, rows, keep) > console.width:
        droppable = [i for i in keep if columns[i].drop > 0]
        if not droppable:
            break
        keep.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    table = Table(**options)  # type: ignore[arg-type]
    for index in keep:
        column = columns[index]
        table.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]
            overflow="fold",
            no_wrap=not column.fold,
            min_width=min(FOLD_MIN, _longest(column, rows, index)) if column.fold else None,
        )
    for row in rows:
        table.add_row(*(row[index] for index in keep))
    return table


def _longest(column: Col, rows: Sequence[Sequence[str]], index: int) -> int:
    return max([len(column.header), *(Text.from_markup(row[index]).cell_len for row in rows)])


def _least_width(columns: Sequence[Col], rows: Sequence[Sequence[str]], keep: list[int]) -> int:
    widths = [
        min(FOLD_MIN, _longest(columns[i], rows, i)) if columns[i].fold else _longest(columns[i], rows, i)
        for i in keep
    ]
    return sum(widths) + len(keep) * (_BORDER + _PADDING) + _BORDER


def short_time(value: str | None) -> str:
    """``2026-11-30T08:01:02+00:00`` -> ``2026-11-30 08:01Z``: minutes are enough in a table (the
    JSON output keeps the full timestamp)."""
    if not value:
        return "-"
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")
    return moment.strftime("%Y-%m-%d %H:%M")
