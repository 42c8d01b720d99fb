"""Open data as CSV: one row per pydantic model, the model's fields as the columns."""

import csv
import io
from collections.abc import Iterable

from fastapi import Response
from pydantic import BaseModel

__all__ = ["CsvResponse", "rows_csv"]


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
        writer.writerow(["" if values[name] is None else values[name] for name in columns])
    return out.getvalue()
