"""CSV cells a spreadsheet reads safely, and CSV files as spreadsheets write them.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is a formula
to Excel, LibreOffice and Google Sheets: a student's file name or name such as
``=HYPERLINK(...)`` would run when a TA opens the file. ``guard`` prefixes such text with ``'``
(shown as text, the quote hidden) and ``unguard`` takes it off again when the file comes back.
Numbers the kit writes itself are never guarded.

``read_table`` reads what a spreadsheet saves: UTF-8 with or without a byte-order mark, the
delimiter ``,``, ``;`` (European locales) or a tab, found from the header line; and
``parse_number`` reads ``1.5`` and ``1,5`` alike.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DELIMITERS = (",", ";", "\t")


class TableError(ValueError):
    """A CSV file that cannot be read; the message names the file."""


def guard(text: object) -> str:
    """``text`` as a cell no spreadsheet runs as a formula."""
    text = "" if text is None else str(text)
    return "'" + text if text.startswith(FORMULA_START) else text


def unguard(text: str) -> str:
    """The text ``guard`` was given back (other text as it is)."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def write_table(rows: list[list[str]]) -> str:
    """CSV text of ``rows`` (cells as given: guard student text before)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def delimiter_of(header_line: str) -> str:
    """The delimiter a header line uses: the most frequent of ``,``, ``;`` and tab."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(path: Path) -> list[list[str]]:
    """The rows of a CSV file, whatever its delimiter (raises TableError naming the file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    first = text.split("\n", 1)[0]
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(first)))
    except csv.Error as exc:
        raise TableError(f"{path}: not a CSV file ({exc})") from None


def parse_number(text: str) -> float:
    """A number written ``1.5`` or ``1,5`` (raises ValueError for anything else)."""
    text = text.strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value
