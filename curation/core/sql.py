"""Row conditions and derived values written as SQL (polars), checked against the columns a table has."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from curation.core.errors import CurationError

if TYPE_CHECKING:
    import polars as pl


def parse_sql(expression: str, what: str = "expression") -> pl.Expr:
    """A polars expression from SQL (``edu_score >= 3 and lang = 'pt'``); bad SQL is a one-line user error."""
    import polars as pl

    try:
        return pl.sql_expr(expression)
    except Exception as exc:  # polars raises several error types for bad SQL
        raise CurationError(f"invalid {what} {expression!r}: {str(exc).splitlines()[0]}") from None


def sql_columns(expression: str | None, what: str = "expression") -> list[str]:
    """The columns an SQL expression reads."""
    return sorted(parse_sql(expression, what).meta.root_names()) if expression else []


def require_columns(have: Iterable[str], needed: Iterable[str], where: str) -> None:
    """A user error naming the first of ``needed`` that ``have`` lacks."""
    have = list(have)
    for column in needed:
        if column not in have:
            raise CurationError(f"unknown column '{column}' in {where} (has: {', '.join(have)})")
