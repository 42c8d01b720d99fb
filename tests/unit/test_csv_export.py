"""CSV for open data and the dashboard's lists: text that a spreadsheet would run stays text."""

import csv
import io

from pydantic import BaseModel

from shared.csv_export import csv_line, rows_csv


class Row(BaseModel):
    name: str
    amount: float | None


def test_cells_that_would_start_a_formula_are_written_as_text_and_numbers_are_left_alone() -> None:
    text = rows_csv(Row, [Row(name='=HYPERLINK("http://x")', amount=-3.5), Row(name="@SUM(A1)", amount=None)])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "amount"], ['\'=HYPERLINK("http://x")', "-3.5"], ["'@SUM(A1)", ""]]
    assert text.endswith("\r\n")


def test_one_line_of_cells() -> None:
    assert csv_line(["+1 800", "西村", None, 2]) == "'+1 800,西村,,2\r\n"
