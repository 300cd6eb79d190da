"""The master-store contract, run against every backend in ``conftest.BACKENDS``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from sheetsync.errors import StoreLayoutError
from sheetsync.model import (
    AVAILABLE,
    GUARD_ROW_LABEL,
    LEDGER_HEADERS,
    OVERRIDE,
    QUANTITY,
    REASON,
    ROW_STATUS,
    SKU,
    SYNCED,
    CellWrite,
    ChannelName,
    ChannelStatus,
    GuardStatus,
    LedgerEntry,
    Movement,
    Report,
    Sku,
    StatusUpdate,
    buffer_column,
    channel_column,
    ledger_cells,
)

from .conftest import LAYOUT, Backend

SHOPIFY, META = ChannelName("shopify"), ChannelName("meta")
AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
ABC = [{"SKU": sku, "Quantity": n} for sku, n in (("A", 1), ("B", 2), ("C", 3))]


def entry(key: str, sku: str = "A", delta: int = -1) -> LedgerEntry:
    return LedgerEntry(key, Sku(sku), delta, Movement.SALE, AT, SHOPIFY, "1001", key, "c1", "")


def cell(row: int, sku: str, column: str, value: str) -> CellWrite:
    return CellWrite(row, Sku(sku), column, value)


def update(
    cells: tuple[CellWrite, ...] = (),
    channels: tuple[ChannelStatus, ...] = (),
    guard: GuardStatus | None = None,
    state: dict[str, str] | None = None,
) -> StatusUpdate:
    return StatusUpdate(cells, channels, guard, state or {})


def shopify_status(message: str = "pushed 3", control: str | None = None) -> ChannelStatus:
    return ChannelStatus(
        SHOPIFY,
        "Shopify",
        "OK",
        "2026-11-27T09:30:00Z",
        3,
        0,
        message,
        last_ok="2026-11-27T09:30:00Z",
        lag_p50="4s",
        lag_p95="1m 2s",
        control=control,
    )


def test_cells_come_back_as_the_raw_text_the_merchant_left(backend: Backend) -> None:
    store = backend.make(
        [
            {"SKU": "0042", "Quantity": "1,000", "Override": "ten", "Notes": "ignored"},
            {"SKU": "Ünïcødé-☃", "Quantity": "2.5", "Override": "=A1+1"},
            {"SKU": "B-2", "Quantity": 7, "Override": None},
            {"SKU": " padded ", "Quantity": 2.5, "Override": 3.0},
        ],
        LAYOUT,
    )

    rows = store.read().rows

    assert [dict(row.cells) for row in rows] == [
        {SKU: "0042", QUANTITY: "1,000", OVERRIDE: "ten"},
        {SKU: "Ünïcødé-☃", QUANTITY: "2.5", OVERRIDE: "=A1+1"},
        {SKU: "B-2", QUANTITY: "7", OVERRIDE: ""},
        {SKU: " padded ", QUANTITY: "2.5", OVERRIDE: "3"},
    ]
    # "=A1+1" really is a formula in a sheet; an Airtable cell holds only values
    assert backend.formula_cells() == ({"Inventory!C3"} if backend.grid else set())


def test_blank_rows_are_skipped_and_rows_keep_their_sheet_numbers(backend: Backend) -> None:
    store = backend.make(
        [
            {"SKU": "A", "Quantity": 1, "Notes": None},
            {"SKU": None, "Quantity": None},
            {"SKU": "B", "Quantity": None},
            {"SKU": "  ", "Quantity": " "},
            {"Notes": "restock in May"},  # only an unrecognised column: not an inventory row
            {"SKU": None, "Quantity": 3},
        ],
        LAYOUT,
    )

    rows = store.read().rows
    first = backend.first_row

    assert [(row.row, row.cells[SKU], row.cells[QUANTITY]) for row in rows] == [
        (first, "A", "1"),
        (first + 2, "B", ""),
        (first + 5, "", "3"),
    ]


def test_merchant_cells_are_untouched_by_writes(backend: Backend) -> None:
    extra = {"Buffer Shopify": 1.5, "Notes": " keep  my spaces "}
    store = backend.make(
        [
            {"Supplier": "Acme", "SKU": "A", "Quantity": "0042", "Override": None, "Buffer": 2, **extra},
            {"Supplier": None, "SKU": "B", "Quantity": 5, "Override": "=B2*2", "Buffer": "10%", **extra},
        ],
        LAYOUT,
    )
    headers = backend.inventory_headers()
    first = backend.first_row
    before = {(r, h): backend.inventory_value(r, h) for r in (first, first + 1) for h in headers}

    store.read()
    store.append_ledger([entry("k1")])
    writes = [
        cell(r, s, c, "9")
        for r, s in ((first, "A"), (first + 1, "B"))
        for c in (AVAILABLE, channel_column(SHOPIFY))
    ]
    store.write_status(
        update(
            cells=(*writes, cell(first, "A", ROW_STATUS, "OK"), cell(first + 1, "B", REASON, "override")),
            channels=(shopify_status(),),
            guard=GuardStatus("OK", "2026-11-27T09:30:00Z", "fine"),
            state={"confirmed:shopify": "{}"},
        )
    )

    assert backend.inventory_headers()[: len(headers)] == headers
    assert {(r, h): backend.inventory_value(r, h) for r in (first, first + 1) for h in headers} == before
    assert backend.inventory_value(first + 1, "Reason") == "override"


def test_columns_match_in_any_order_with_loose_header_spelling(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make(
        [
            {
                "  status ": "",
                "quantity": 5,
                "Buffer   shopify": 1,
                "AVAILABLE": 3,
                "Notes": "n",
                " sKu": "A",
                "meta shop": 4,
            }
        ],
        LAYOUT,
    )
    headers = backend.inventory_headers()

    [row] = store.read().rows
    store.write_status(update(cells=(cell(first, "A", AVAILABLE, "4"), cell(first, "A", ROW_STATUS, "OK"))))

    assert dict(row.cells) == {
        SKU: "A",
        QUANTITY: "5",
        buffer_column(SHOPIFY): "1",
        AVAILABLE: "3",
        channel_column(META): "4",
        ROW_STATUS: "",
    }
    assert backend.inventory_headers() == headers  # written into the existing columns
    assert backend.inventory_value(first, "AVAILABLE") == "4"
    assert backend.inventory_value(first, "  status ") == "OK"


def test_ledger_appends_keep_their_order(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    entries = [
        entry("shopify/1001/1", "A", -2),
        entry("shopify/1001/2", "B", -1),
        entry("shopify/1002/1", "A", 3),
    ]

    store.append_ledger(entries[:2])
    store.append_ledger(entries[2:])

    expected = [ledger_cells(e) for e in entries]
    assert backend.ledger_rows() == [{LEDGER_HEADERS[k]: v for k, v in cells.items()} for cells in expected]
    assert [(row.row, dict(row.cells)) for row in store.read().ledger] == list(
        zip([backend.first_row + i for i in range(3)], expected, strict=True)
    )


def test_empty_append_changes_nothing(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    before = backend.revision()

    store.append_ledger([])

    assert backend.revision() == before
    assert store.read().ledger == ()


def test_empty_status_update_changes_nothing(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    before = backend.revision()

    store.write_status(update())

    assert backend.revision() == before


def test_missing_worker_columns_are_added_right_of_the_merchants(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make([{"SKU": "A", "Quantity": 1, "Notes": "x"}, *ABC[1:]], LAYOUT)

    store.write_status(
        update(
            cells=(
                cell(first, "A", REASON, "override"),
                cell(first, "A", ROW_STATUS, "OK"),
                cell(first, "A", AVAILABLE, "1"),
                cell(first + 1, "B", channel_column(SHOPIFY), "2"),
            )
        )
    )

    # Only the columns written, in Layout.worker_headers() order rather than the writes' order.
    worker = ["Available", "Shopify", "Status", "Reason"]
    assert backend.inventory_headers() == ["SKU", "Quantity", "Notes", *worker]
    assert [[backend.inventory_value(r, h) for h in worker] for r in (first, first + 1, first + 2)] == [
        ["1", "", "OK", "override"],
        ["", "2", "", ""],
        ["", "", "", ""],
    ]
    assert store.read().rows[0].cells[AVAILABLE] == "1"


def test_worker_never_writes_a_merchant_column(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make(ABC, LAYOUT)
    before = backend.revision()

    with pytest.raises(ValueError, match="quantity"):
        store.write_status(update(cells=(cell(first, "A", QUANTITY, "5"),)))

    assert backend.revision() == before
    assert backend.inventory_value(first, "Quantity") == "1"


def test_merchant_edit_between_read_and_write_survives(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make(ABC, LAYOUT)
    store.read()

    backend.merchant_edit(first, "Quantity", 99)
    store.write_status(update(cells=(cell(first, "A", AVAILABLE, "5"),)))

    assert backend.inventory_value(first, "Quantity") == "99"
    assert (store.read().rows[0].cells[QUANTITY], store.read().rows[0].cells[AVAILABLE]) == ("99", "5")


def test_write_follows_a_sku_moved_by_an_inserted_row(backend: Backend) -> None:
    if not backend.grid:
        pytest.skip("Airtable writes go by record id; records have no position to insert at")
    store = backend.make(ABC[:2], LAYOUT)
    store.read()

    backend.insert_row(2)
    backend.merchant_edit(2, "SKU", "NEW")
    store.write_status(update(cells=(cell(2, "A", AVAILABLE, "10"), cell(3, "B", AVAILABLE, "20"))))

    assert [backend.inventory_value(r, "SKU") for r in (2, 3, 4)] == ["NEW", "A", "B"]
    assert [backend.inventory_value(r, "Available") for r in (2, 3, 4)] == ["", "10", "20"]


def test_write_for_a_deleted_sku_is_skipped(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    first = backend.first_row
    store = backend.make(ABC, LAYOUT)
    store.read()

    backend.delete_row(first)
    with caplog.at_level(logging.WARNING):
        store.write_status(
            update(
                cells=(
                    cell(first, "A", AVAILABLE, "1"),
                    cell(first + 1, "B", AVAILABLE, "2"),
                    cell(first + 2, "C", AVAILABLE, "3"),
                )
            )
        )

    assert [backend.inventory_value(r, "SKU") for r in (first, first + 1, first + 2)] == ["B", "C", ""]
    assert [backend.inventory_value(r, "Available") for r in (first, first + 1, first + 2)] == ["2", "3", ""]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_write_for_an_ambiguous_sku_is_skipped(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    if not backend.grid:
        pytest.skip("Airtable writes go by record id; records have no position to insert at")
    store = backend.make([{"SKU": "X", "Quantity": 1}, {"SKU": "A", "Quantity": 2}], LAYOUT)
    store.read()

    backend.insert_row(2)
    backend.merchant_edit(2, "SKU", "A")  # now X sits where A was, and A is on two rows
    with caplog.at_level(logging.WARNING):
        store.write_status(update(cells=(cell(3, "A", AVAILABLE, "7"),)))

    assert [backend.inventory_value(r, "SKU") for r in (2, 3, 4)] == ["A", "X", "A"]
    assert [backend.inventory_value(r, "Available") for r in (2, 3, 4)] == ["", "", ""]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_channel_controls_are_read_and_never_overwritten(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    backend.set_control("Shopify", "PAUSE")
    backend.set_control("Etsy", "PAUSE")  # not a configured channel

    assert store.read().control.channels == {SHOPIFY: "PAUSE"}

    meta = ChannelStatus(META, "Meta Shop", "ERROR", "2026-11-27T09:30:00Z", 0, 2, "401 from Meta")
    store.write_status(update(channels=(shopify_status(), meta)))
    store.write_status(update(channels=(shopify_status("pushed 4"), meta)))

    assert backend.status_row("Shopify") == {
        "Channel": "Shopify",
        "Control": "PAUSE",
        "State": "OK",
        "Last sync": "2026-11-27T09:30:00Z",
        "Last success": "2026-11-27T09:30:00Z",
        "Lag p50": "4s",
        "Lag p95": "1m 2s",
        "Pushed": "3",
        "Errors": "0",
        "Message": "pushed 4",
    }
    assert backend.status_row("Meta Shop") | {"Message": ""} == {
        "Channel": "Meta Shop",
        "Control": "",
        "State": "ERROR",
        "Last sync": "2026-11-27T09:30:00Z",
        "Last success": "",
        "Lag p50": "",
        "Lag p95": "",
        "Pushed": "0",
        "Errors": "2",
        "Message": "",
    }
    # A duplicated Meta row would leave this edit on the first copy and reads on the last.
    backend.set_control("Meta Shop", "PAUSE")
    assert store.read().control.channels == {SHOPIFY: "PAUSE", META: "PAUSE"}


def test_a_pause_from_the_dashboard_types_into_the_control_cell(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    store.write_status(update(channels=(shopify_status(control="PAUSE"),)))
    assert store.read().control.channels == {SHOPIFY: "PAUSE"}

    store.write_status(update(channels=(shopify_status(),)))  # no edit: the merchant's cell stays
    assert store.read().control.channels == {SHOPIFY: "PAUSE"}

    store.write_status(update(channels=(shopify_status(control=""),)))
    assert store.read().control.channels.get(SHOPIFY, "") == ""
    assert backend.status_row("Shopify")["Control"] == ""


def test_guard_accept_is_read_and_consumed_only_when_asked(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    backend.set_control(GUARD_ROW_LABEL, "ACCEPT")
    assert store.read().control.guard == "ACCEPT"

    store.write_status(update(guard=GuardStatus("HOLD", "2026-11-27T09:30:00Z", "40% of rows vanished")))
    assert backend.status_row(GUARD_ROW_LABEL) | {"Channel": ""} == {
        "Channel": "",
        "Control": "ACCEPT",
        "State": "HOLD",
        "Last sync": "2026-11-27T09:30:00Z",
        "Last success": "",
        "Lag p50": "",
        "Lag p95": "",
        "Pushed": "",
        "Errors": "",
        "Message": "40% of rows vanished",
    }

    store.write_status(
        update(guard=GuardStatus("OK", "2026-11-27T09:35:00Z", "accepted", consume_accept=True))
    )
    assert backend.status_row(GUARD_ROW_LABEL)["Control"] == ""
    assert backend.status_row(GUARD_ROW_LABEL)["State"] == "OK"
    assert store.read().control.guard == ""


def test_state_upserts_and_round_trips(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)

    store.write_status(update(state={"a": "1", "b": "x"}))
    store.write_status(update(state={"b": "y", "c": "0042"}))

    assert store.read().state == {"a": "1", "b": "y", "c": "0042"}


def test_formula_like_text_from_a_channel_stays_text(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make(ABC[:1], LAYOUT)
    evil = '=HYPERLINK("http://evil.example","click")'

    store.write_status(
        update(
            cells=(
                cell(first, "A", REASON, "=1+1"),
                cell(first, "A", ROW_STATUS, "+1"),
                cell(first, "A", SYNCED, "@SUM(A1)"),
            ),
            channels=(shopify_status(evil),),
            guard=GuardStatus("OK", "-", "-x"),
            state={"k": "=A1"},
        )
    )

    assert backend.formula_cells() == set()
    snapshot = store.read()
    assert {k: snapshot.rows[0].cells[k] for k in (REASON, ROW_STATUS, SYNCED)} == {
        REASON: "=1+1",
        ROW_STATUS: "+1",
        SYNCED: "@SUM(A1)",
    }
    assert backend.status_row("Shopify")["Message"] == evil
    assert backend.status_row(GUARD_ROW_LABEL)["Message"] == "-x"
    assert snapshot.state == {"k": "=A1"}


@pytest.mark.parametrize(
    ("inventory", "missing", "found"),
    [
        ({"Item": "A", "Count": 1}, "SKU and Quantity", "Item, Count"),
        ({"SKU": "A", "Count": 1}, "Quantity", "SKU, Count"),
        ({"Notes": "x", "quantity": 1}, "SKU", "Notes, quantity"),
    ],
)
def test_missing_required_headers_are_named(
    backend: Backend, inventory: dict[str, object], missing: str, found: str
) -> None:
    store = backend.make([inventory], LAYOUT)

    with pytest.raises(StoreLayoutError, match="Inventory") as raised:
        store.read()

    assert f"lacks {missing} (found: {found})" in str(raised.value)


def test_the_bundles_sheet_reads_as_rows(backend: Backend) -> None:
    store = backend.make([{"SKU": "KIT", "Quantity": None}, {"SKU": "A", "Quantity": 5}], LAYOUT)
    backend.add_sheet("Bundles", [["Bundle", "Component", "Quantity"], ["KIT", "A", 2], ["KIT", "B", "1"]])

    rows = store.read().bundles

    assert [dict(row.cells) for row in rows] == [
        {"bundle": "KIT", "component": "A", "quantity": "2"},
        {"bundle": "KIT", "component": "B", "quantity": "1"},
    ]
    assert [row.row for row in rows] == [backend.first_row, backend.first_row + 1]


def test_a_report_replaces_its_sheet_whole_and_never_as_a_formula(backend: Backend) -> None:
    store = backend.make([{"SKU": "A", "Quantity": 5}], LAYOUT)
    header = ("SKU", "Available", "Per day")
    first = Report("Reorder", header, (("A", "1", "0.5"), ("B", "2", ""), ("=HYPERLINK(1)", "3", "")))
    store.write_status(StatusUpdate((), (), None, {}, reports=(first,)))
    assert backend.sheet_rows("Reorder") == [
        {"SKU": "A", "Available": "1", "Per day": "0.5"},
        {"SKU": "B", "Available": "2", "Per day": ""},
        {"SKU": "=HYPERLINK(1)", "Available": "3", "Per day": ""},
    ]
    assert backend.formula_cells() == set()

    store.write_status(
        StatusUpdate((), (), None, {}, reports=(Report("Reorder", header, (("C", "0", ""),)),))
    )

    assert backend.sheet_rows("Reorder") == [{"SKU": "C", "Available": "0", "Per day": ""}]
