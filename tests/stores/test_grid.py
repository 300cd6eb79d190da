"""The grid rules every sheet-shaped store shares: a tab read again unchanged is not gone through again."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from sheetsync.model import INVENTORY_SHEET
from sheetsync.stores._grid import Row, snapshot

from .conftest import LAYOUT


class Text(str):
    """A store's own kind of text (a workbook's rich text is one): equal to the str."""

    __slots__ = ()


@pytest.mark.parametrize(
    ("cell", "other"),
    [
        (1, True),  # a checkbox typed over a count of 1: True == 1 in Python
        (0, False),
        (1, 1.0),
        (datetime(2026, 11, 27, 9, 30, tzinfo=UTC), datetime(2026, 11, 27, 9, 31, tzinfo=UTC)),  # not JSON
        ("red", Text("red")),  # equal, but of another type
    ],
)
def test_a_tab_read_again_is_the_same_only_if_every_cell_and_its_type_are(
    cell: object, other: object
) -> None:
    def rows(value: object) -> list[Row]:
        return [["SKU", "Quantity", "Note"], ["A-1", 3, value], ["B-2", 4, ""]]

    where = f"test master {cell!r}"
    first = snapshot({INVENTORY_SHEET: rows(cell)}, LAYOUT, where)[0]
    again = snapshot({INVENTORY_SHEET: copy.deepcopy(rows(cell))}, LAYOUT, where)[0]
    assert again.rows is first.rows  # equal cells of equal types: what was made of the last read

    changed = snapshot({INVENTORY_SHEET: rows(other)}, LAYOUT, where)[0]
    assert changed.rows is not first.rows
    assert snapshot({INVENTORY_SHEET: rows(other)}, LAYOUT, where)[0].rows is changed.rows
