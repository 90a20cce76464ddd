"""CSV cells of the vendor export, safe to open in a spreadsheet and exact to import back.

The export neutralises a cell a spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``, tab,
carriage return) with the AP exports' helper (``triad.ap.formats.neutralise``: a leading apostrophe). To keep
the round trip exact, a value that already starts with apostrophes before such a character gets one more
apostrophe, and the importer removes exactly one apostrophe from a cell of that shape, so
``import_cell(export_cell(v)) == v`` for every value (docs/decisions/0025-vendor-merge-and-import-edges.md).
Only CSV is affected: JSON is never run as a formula and is written and read as is.
"""

from __future__ import annotations

from triad.ap.formats import _FORMULA, neutralise


def _looks_escaped(cell: str) -> bool:
    return cell.startswith("'") and cell.lstrip("'").startswith(_FORMULA)


def export_cell(value: str) -> str:
    """The cell as written to the CSV export."""
    return "'" + value if _looks_escaped(value) else neutralise(value)


def import_cell(cell: str) -> str:
    """Undo ``export_cell``: one leading apostrophe before apostrophes and a formula character goes."""
    return cell[1:] if _looks_escaped(cell) else cell


def import_cells(rows: list[tuple[int, dict[str, str]]]) -> None:
    """``import_cell`` on every cell that starts with an apostrophe, in place (the reader calls it only when
    the file has an apostrophe at all, so ordinary files pay nothing)."""
    for _, row in rows:
        for key, cell in row.items():
            if cell[:1] == "'":
                row[key] = import_cell(cell)
