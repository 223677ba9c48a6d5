"""Query pieces shared by the services' set-based handlers (a run of events at once)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ARRAY, Text, any_, bindparam
from sqlalchemy.ext.asyncio import AsyncConnection


def among(connection: AsyncConnection, column, values: Iterable[str]):
    """`column` is one of `values`: on PostgreSQL one array parameter (``= ANY``), since
    rendering an IN list of thousands of parameters costs more than the query."""
    values = list(values)
    if len(values) == 1:  # a run of one: `=` is rendered once and cached, an IN list for every statement
        return column == values[0]
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(Text)))
    return column.in_(values)
