"""The school's pupil-name list: a CSV that IT exports from the management information system."""

from __future__ import annotations

import csv
import io
from os import PathLike
from pathlib import Path

# Accepted column headings, compared case-insensitively with spaces and underscores ignored.
_FULL = {"name", "fullname", "pupilname", "pupil", "studentname", "childname", "legalname"}
_FIRST = {"firstname", "forename", "forenames", "givenname", "preferredname", "legalforename",
          "preferredforename"}
_LAST = {"lastname", "surname", "familyname", "legalsurname", "preferredsurname"}


def read_pupil_names(path: str | PathLike[str]) -> list[str]:
    """Full names from a CSV with a header row: either a `name` column or `first name` and
    `surname` columns (common spellings accepted). Blank rows are skipped, duplicates dropped.

    Raises ValueError, naming the file, when it cannot be used.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"pupil-name list {path}: cannot read it ({exc.strerror})") from None
    try:
        # utf-8-sig: spreadsheets put a byte-order mark at the start of CSVs they export.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise ValueError(f"pupil-name list {path}: not a text file") from None
    if "\x00" in text:
        raise ValueError(f"pupil-name list {path}: not a text file (contains NUL bytes)")
    rows = list(csv.reader(io.StringIO(text)))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"pupil-name list {path}: the file is empty")
    header = [_key(cell) for cell in rows[0]]
    full = _find(header, _FULL)
    first, last = _find(header, _FIRST), _find(header, _LAST)
    if full is None and (first is None or last is None):
        # The cells found are not shown: in a file without a header row they are a name, and
        # this message is printed and logged.
        raise ValueError(
            f"pupil-name list {path}: the first row must name the columns, with either a 'name' "
            f"column or 'first name' and 'surname' columns, separated by commas (its first row "
            f"has {len(rows[0])} cell{'' if len(rows[0]) == 1 else 's'}, none of them one of "
            "those)")
    names: dict[str, None] = {}
    for row in rows[1:]:
        parts = [_cell(row, full)] if full is not None else [_cell(row, first), _cell(row, last)]
        name = " ".join(" ".join(parts).split())
        if name:
            names[name] = None
    if not names:
        raise ValueError(f"pupil-name list {path}: no names below the header row")
    return list(names)


def _key(heading: str) -> str:
    return "".join(ch for ch in heading.casefold() if ch.isalnum())


def _find(header: list[str], accepted: set[str]) -> int | None:
    return next((i for i, h in enumerate(header) if h in accepted), None)


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""
