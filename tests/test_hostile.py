"""Hostile input: every corpus cell parses to what the corpus says or is flagged naming its column;
real cycles over the corpus never crash, push from an unreadable cell, write a formula, or put
channel text raw into the dashboard."""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace

import markupsafe
import pytest
from campaigns.hostile import (
    BASE_SKU,
    BROKEN,
    CHANNEL_MESSAGES,
    CORPUS,
    HOSTILE,
    LEDGER_SKU,
    LOCATIONS,
    PRICE,
    REORDER,
    SANDBOX,
    STOCK,
    Case,
    hostile_campaign,
    master_sheets,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from sheetsync.core.bundles import parse_bundles
from sheetsync.core.cells import (
    MAX_QUANTITY,
    MasterRow,
    Pause,
    parse_buffer,
    parse_override,
    parse_price,
    parse_quantity,
    parse_rows,
)
from sheetsync.core.ledger import parse_ledger
from sheetsync.core.prices import price_for
from sheetsync.model import (
    BUNDLE_HEADERS,
    BUNDLES_SHEET,
    INVENTORY_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    SKU,
    ChannelName,
    Layout,
    RawLedgerRow,
    RawRow,
    Sku,
    header_key,
)
from sheetsync.stores._grid import cell_text

PLAIN = Layout(channels=((SANDBOX, "Sandbox"), (HOSTILE, "Hostile"), (BROKEN, "Broken")), priced=True)
LOCATED = replace(PLAIN, locations=LOCATIONS)


def _logical(layout: Layout, header: str) -> str:
    by_key = {header_key(title): name for name, title in layout.merchant_headers().items()}
    return by_key[header_key(header)]


def _inventory(case: Case) -> tuple[Layout, list[RawRow]]:
    layout = LOCATED if case.located else PLAIN
    counts = dict.fromkeys(layout.count_columns(), "0")
    counts[layout.count_columns()[0]] = "20"
    cells = {SKU: "HX-1", **counts}
    if case.column != "Price":
        cells[_logical(layout, "Price")] = "9.99"
    for header, value in {**case.row, case.column: case.value}.items():
        cells[_logical(layout, header)] = cell_text(value)
    rows = [RawRow(2, cells)]
    rows += [RawRow(3 + n, {**cells, SKU: cell_text(twin)}) for n, twin in enumerate(case.twins)]
    return layout, rows


def _read(case: Case, row: MasterRow) -> object:
    """The value ``case``'s column parsed to, in the corpus' terms."""
    column = case.column
    if column == "SKU":
        return row.sku
    if column.startswith("SKU "):
        return row.codes.get(HOSTILE)
    if column.startswith("Quantity"):
        return row.counts[column.removeprefix("Quantity").strip()]
    if column == "Override":
        return "PAUSE" if row.override is Pause.PAUSE else row.override
    if column.startswith("Buffer"):
        channel = None if column == "Buffer" else ChannelName(column.split()[1].casefold())
        return row.holds[channel].label
    if column.startswith("Price"):
        return row.prices[None] if column == "Price" else price_for(row, HOSTILE)
    assert row.reorder is not None
    return row.reorder.point if column == "Reorder point" else row.reorder.quantity


def _names(column: str, messages: tuple[str, ...] | list[str]) -> bool:
    return any(column.casefold() in message.casefold() for message in messages)


@pytest.mark.parametrize("case", [c for c in CORPUS if c.sheet == INVENTORY_SHEET], ids=str)
def test_an_inventory_cell_parses_as_the_corpus_says_or_is_flagged_naming_its_column(case: Case) -> None:
    layout, rows = _inventory(case)
    parsed = parse_rows(rows, layout)
    if not case.flagged:
        assert parsed.problems == ()
        (row,) = parsed.rows
        assert row.notes == ()
        assert _read(case, row) == case.expect
    elif case.governs == STOCK:
        assert parsed.rows == ()  # never pushed
        for problem in parsed.problems:
            assert _names(case.column, problem.messages), problem.messages
    else:
        (row,) = parsed.rows  # a price or reorder cell: flagged, and the stock still syncs
        assert _names(case.column, row.notes), row.notes
        if case.governs == PRICE:
            channel = None if case.column == "Price" else HOSTILE
            assert channel not in row.prices
            assert price_for(row, HOSTILE) is None  # never the Price column in its stead
            if channel is not None:
                assert price_for(row, SANDBOX) == price_for(row, BROKEN) == parse_price("9.99", "Price")
        else:
            assert case.governs == REORDER
            assert row.reorder is None or row.reorder.quantity is None


@pytest.mark.parametrize(
    "case", [c for c in CORPUS if c.sheet == INVENTORY_SHEET and c.column.startswith("Quantity")], ids=str
)
def test_parse_quantity_agrees_with_the_corpus(case: Case) -> None:
    text = cell_text(case.value)
    if case.flagged:
        if case.label != "sum-over-max":
            with pytest.raises(ValueError, match=case.column):
                parse_quantity(text, case.column)
    else:
        assert parse_quantity(text, case.column) == case.expect


@pytest.mark.parametrize("case", [c for c in CORPUS if c.sheet == BUNDLES_SHEET], ids=str)
def test_a_bundles_cell_parses_as_the_corpus_says_or_is_flagged_naming_its_column(case: Case) -> None:
    names = {title: name for name, title in BUNDLE_HEADERS.items()}
    cells = {
        "bundle": "HB-1",
        "component": BASE_SKU,
        "quantity": "2",
        names[case.column]: cell_text(case.value),
    }
    bundles = parse_bundles([RawRow(2, cells)])
    if case.column == "Bundle" and case.flagged:
        assert bundles.parts == {}
        assert _names("Bundle", list(bundles.stray))
        return
    bundle = Sku(str(case.expect)) if case.column == "Bundle" else Sku("HB-1")
    inventory = [RawRow(2, {SKU: BASE_SKU, "quantity": "50"}), RawRow(3, {SKU: bundle})]
    parsed = parse_rows(inventory, PLAIN, bundles)
    if case.flagged:
        (problem,) = parsed.problems
        assert problem.sku == bundle
        assert _names(case.column, problem.messages), problem.messages
    else:
        assert parsed.problems == ()
        row = next(r for r in parsed.rows if r.sku == bundle)
        component = case.expect if case.column == "Component" else BASE_SKU
        units = case.expect if case.column == "Quantity" else 2
        assert row.parts == {component: units}


@pytest.mark.parametrize("case", [c for c in CORPUS if c.sheet == LEDGER_SHEET], ids=str)
def test_a_hand_typed_ledger_row_counts_as_the_corpus_says_or_is_flagged_naming_its_column(
    case: Case,
) -> None:
    names = {title: name for name, title in LEDGER_HEADERS.items()}
    cells = {"sku": LEDGER_SKU, "delta": "-1", "movement": "ADJUST"}
    for header, value in {**case.row, case.column: case.value}.items():
        cells[names[header]] = cell_text(value)
    parsed = parse_ledger([RawLedgerRow(2, cells)], LOCATIONS if case.located else ())
    if case.flagged:
        assert parsed.entries == ()
        assert _names("Time" if case.label == "keyed-without-time" else case.column, parsed.problems)
    else:
        assert parsed.problems == ()
        (entry,) = parsed.entries
        assert (entry.sku, entry.delta) == case.expect


def test_the_corpus_covers_every_column_the_merchant_types() -> None:
    columns = {(c.sheet, c.column) for c in CORPUS}
    typed = {(INVENTORY_SHEET, title) for title in PLAIN.merchant_headers().values()}
    typed |= {(INVENTORY_SHEET, title) for title in LOCATED.merchant_headers().values()}
    typed -= {(INVENTORY_SHEET, "Buffer Hostile"), (INVENTORY_SHEET, "Buffer Broken")}
    typed -= {(INVENTORY_SHEET, "Price Sandbox"), (INVENTORY_SHEET, "Price Broken")}
    typed -= {(INVENTORY_SHEET, "SKU Sandbox"), (INVENTORY_SHEET, "SKU Broken")}
    typed |= {(BUNDLES_SHEET, title) for title in BUNDLE_HEADERS.values()}
    typed |= {(LEDGER_SHEET, title) for title in ("Key", "SKU", "Delta", "Movement", "Time", "Location")}
    assert typed <= columns, typed - columns
    assert len(CORPUS) > 400


# --- properties over arbitrary text ----------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_parse_quantity_raises_only_value_error_and_returns_a_quantity_in_range(text: str) -> None:
    try:
        number = parse_quantity(text, "Quantity")
    except ValueError as error:
        message = str(error)
    else:
        assert 0 <= number <= MAX_QUANTITY
        return
    assert "Quantity" in message
    assert len(message) < 200


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\s*[+-]?[0-9\u0660-\u0669\uff10-\uff19.,' _]{0,30}\s*", fullmatch=True))
def test_parse_quantity_on_number_like_text_reads_only_plain_digits(text: str) -> None:
    try:
        number = parse_quantity(text, "Quantity")
    except ValueError:
        return
    assert text.strip().lstrip("+").replace(".", "").replace(",", "").isascii()
    assert 0 <= number <= MAX_QUANTITY


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_other_parsers_raise_only_value_error(text: str) -> None:
    for parse in (parse_override, lambda t: parse_price(t, "Price"), lambda t: parse_buffer(t, "Buffer")):
        with contextlib.suppress(ValueError):
            parse(text)
    parse_ledger([RawLedgerRow(2, {"sku": "A", "delta": text, "at": text, "key": "k", "movement": text})])
    parse_ledger([RawLedgerRow(2, {"sku": text, "delta": text, "at": text})], LOCATIONS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(sorted(PLAIN.merchant_headers())), st.text(), min_size=1)))
def test_parse_rows_never_raises_and_keeps_only_rows_it_can_read(rows: list[dict[str, str]]) -> None:
    parsed = parse_rows([RawRow(n, cells) for n, cells in enumerate(rows, start=2)], PLAIN)
    for row in parsed.rows:
        assert row.sku
        assert row.sku == row.sku.strip()
        assert all(0 <= count <= MAX_QUANTITY for count in row.counts.values())


# --- the campaign ----------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["workbook", "google_sheets"])
def test_the_campaign_never_crashes_pushes_from_an_unreadable_cell_or_writes_a_formula(store: str) -> None:
    notes: list[str] = []
    figures = hostile_campaign(1, stores=(store,), notes=notes)
    counted = [n for n in notes if not n.startswith("over the store's cell size limit")]
    assert counted == []
    assert figures["hostile_inputs"] > 400
    assert {k: v for k, v in figures.items() if k != "hostile_inputs"} == {
        "crashed": 0,
        "pushed_from_unparseable": 0,
        "formulas_written": 0,
        "unescaped": 0,
    }


def test_the_dashboard_shows_every_hostile_channel_message_escaped() -> None:
    pages: list[str] = []
    hostile_campaign(2, stores=("workbook",), pages=pages)
    shown = "".join(pages)
    for message in CHANNEL_MESSAGES:
        assert str(markupsafe.escape(message)) in shown, message[:60]
        if "<" in message:
            assert message not in shown, message[:60]
    assert "hostile-template" not in shown
    assert "loopedlooped" not in shown


def test_no_cell_the_worker_writes_to_google_sheets_is_over_its_size_limit() -> None:
    notes: list[str] = []
    hostile_campaign(1, stores=("google_sheets",), notes=notes)
    assert [n for n in notes if n.startswith("over the store's cell size limit")] == []


def test_seeds_change_the_row_order_and_repeat_exactly() -> None:
    cases = [c for c in CORPUS if not c.located]

    def order(seed: int) -> list[object]:
        sheets = master_sheets(cases, False, random.Random(seed))
        return [row["SKU"] for row in sheets.inventory]

    assert order(1) == order(1)
    assert order(1) != order(2)
