"""CSV for open data and the dashboard's lists: one row per pydantic model (the model's fields
as the columns) or one line of cells. A cell a spreadsheet would run as a formula (it starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is written with a leading ``'``,
so text an organisation typed never runs in someone's spreadsheet."""

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi import Response
from pydantic import BaseModel

__all__ = ["FORMULA_STARTS", "CsvResponse", "csv_line", "rows_csv", "safe_cell"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CsvResponse(Response):
    media_type = "text/csv; charset=utf-8"


def rows_csv(model: type[BaseModel], rows: Iterable[BaseModel]) -> str:
    """``rows`` as CSV: a header of ``model``'s field names, one line per row, empty cells for
    nulls, CRLF line ends (RFC 4180)."""
    columns = tuple(model.model_fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        values = row.model_dump()
        writer.writerow(["" if values[name] is None else safe_cell(values[name]) for name in columns])
    return out.getvalue()


def safe_cell(value: object) -> object:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_line(cells: Sequence[object]) -> str:
    """One CSV line (CRLF) of ``cells``, nulls empty, formulas made text."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(["" if c is None else safe_cell(c) for c in cells])
    return out.getvalue()
