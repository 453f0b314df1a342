"""CSV for spreadsheet programs: RFC 4180, UTF-8 with a byte order mark, formulas neutralised.

- RFC 4180: CRLF line ends; a field with a comma, a quote or a line break is quoted, its
  quotes doubled (Python's ``csv`` with ``QUOTE_MINIMAL`` and ``lineterminator="\\r\\n"``).
- The BOM makes Excel read the file as UTF-8 (Cyrillic names, umlauts), not the
  machine's legacy code page.
- Text that comes from people (a flow's or a user's name) could start a formula: a cell
  starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return, which some programs
  skip before one) gets a leading ``'``, so the spreadsheet shows it as text (OWASP "CSV
  injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """``value`` as a cell's text that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


#: characters gathered before a piece goes out (one write per piece, not per row)
PIECE = 64 * 1024


def csv_lines(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The file as pieces to stream: the BOM and the header, then CRLF-terminated rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    for row in chain([header], rows):
        writer.writerow([cell(value) for value in row])
        if buffer.tell() >= PIECE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
