"""The grid rules every sheet-shaped store shares: a tab read again unchanged is not gone through again."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.model import INVENTORY_SHEET
from sheetsync.stores._grid import Row, column_cells, merchant_spans, merged, snapshot

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


def _as_sheets_gives(rows: list[list[object]]) -> list[list[object]]:
    """Rows as Sheets answers them: no row ends with a blank cell, and no blank row ends the range."""
    trimmed = [list(row) for row in rows]
    for row in trimmed:
        while row and row[-1] == "":
            row.pop()
    while trimmed and not trimmed[-1]:
        trimmed.pop()
    return trimmed


_CELL = st.one_of(
    st.just(""), st.integers(-3, 30), st.sampled_from(["A-1", "x", "=B2*2", "10%"]), st.booleans()
)


@given(
    grid=st.lists(st.lists(_CELL, max_size=8), min_size=1, max_size=12),
    header=st.lists(
        st.sampled_from(["SKU", "Quantity", "Note", "Available", "Status"]), min_size=1, max_size=8
    ),
    worker=st.sets(st.integers(1, 8)),
    edits=st.lists(st.tuples(st.integers(0, 13), st.integers(1, 9), _CELL), max_size=6),
)
def test_a_quiet_read_merged_with_the_kept_columns_is_what_a_whole_read_gives(
    grid: list[list[object]],
    header: list[object],
    worker: set[int],
    edits: list[tuple[int, int, object]],
) -> None:
    kept = _as_sheets_gives([header, *grid])
    spans = merchant_spans(kept[0], worker)
    assert all(column not in worker for first, last in spans for column in range(first, last + 1))
    assert sum(last - first + 1 for first, last in spans) == len(
        [c for c in range(1, len(kept[0]) + 1) if c not in worker]
    )
    # The merchant edits some cells of their columns; the worker's stay as they were.
    now = [list(row) for row in kept]
    for index, column, value in edits:
        if index >= 1 and any(first <= column <= last for first, last in spans):
            while len(now) <= index:
                now.append([])
            now[index] += [""] * (column - len(now[index]))
            now[index][column - 1] = value
    whole = _as_sheets_gives(now)
    parts = [_as_sheets_gives([row[first - 1 : last] for row in whole[1:]]) for first, last in spans]

    assert merged(kept, spans, parts) == whole
    for (first, last), part in zip(spans, parts, strict=True):
        for column in range(first, last + 1):
            assert column_cells(part, column, first) == column_cells(whole[1:], column)
