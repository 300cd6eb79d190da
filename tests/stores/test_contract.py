"""The master-store contract, run against every backend in ``conftest.BACKENDS``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from sheetsync.errors import StoreLayoutError, TransientError
from sheetsync.model import (
    AVAILABLE,
    BUFFER,
    GUARD_ROW_LABEL,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    OVERRIDE,
    QUANTITY,
    REASON,
    ROW_STATUS,
    SKU,
    SKU_IS_NUMBER,
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
    code_column,
    ledger_cells,
)
from sheetsync.stores import AppendingStore, ArchivingStore, LeasedStore, MasterStore
from sheetsync.stores._grid import ARCHIVE_SHEET
from sheetsync.stores.google_sheets import GoogleSheetsStore
from sheetsync.stores.memory import MemoryStore
from sheetsync.stores.workbook import WorkbookStore

from .conftest import LAYOUT, Backend, MemoryBackend, Percent

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


# -- a lost Ledger --------------------------------------------------------------------------------


def test_a_renamed_ledger_reads_as_lost_and_the_read_creates_nothing(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    store.append_ledger([entry("k1")])
    assert store.read().ledger_found

    backend.rename_sheet(LEDGER_SHEET, "Ledger 2025")
    before = backend.revision()
    snapshot = store.read()

    assert (snapshot.ledger_found, snapshot.ledger) == (False, ())
    assert LEDGER_SHEET not in backend.sheet_names()
    assert backend.revision() == before


def test_a_ledger_without_its_key_header_reads_as_lost_and_is_left_alone(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    store.append_ledger([entry("k1")])

    backend.rename_header(LEDGER_SHEET, "Key", "Order key")
    before = backend.revision()

    assert not store.read().ledger_found
    assert backend.revision() == before
    assert "Key" not in backend.sheet_rows(LEDGER_SHEET)[0]


def test_a_master_without_a_ledger_gets_one_at_its_first_append_only(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)

    # No Ledger yet: the store says so (the State tells the worker whether one ever existed).
    assert not store.read().ledger_found
    assert LEDGER_SHEET not in backend.sheet_names()

    store.append_ledger([entry("k1")])  # a first install: the append creates the Ledger

    assert store.read().ledger_found
    assert [row["Key"] for row in backend.ledger_rows()] == ["k1"]


def test_a_ledger_with_headers_and_no_rows_is_found(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    backend.add_sheet(LEDGER_SHEET, [list(LAYOUT.ledger_headers().values())])

    snapshot = store.read()

    assert (snapshot.ledger_found, snapshot.ledger) == (True, ())


# -- appends whose answer is lost -------------------------------------------------------------------


def _retried(call: Callable[[], None]) -> None:
    """Call; if it fails for now, call again, as the worker's next cycle would."""
    try:
        call()
    except TransientError:
        call()


@pytest.mark.parametrize("count", [2, 12])  # 12: more than one request of ten for Airtable
def test_an_append_whose_answer_was_lost_lands_each_entry_once(backend: Backend, count: int) -> None:
    store = backend.make(ABC, LAYOUT)
    store.append_ledger([entry("k0")])
    store.read()
    entries = [entry(f"k{n}") for n in range(1, count + 1)]

    backend.lose_next_append_answer()
    _retried(lambda: store.append_ledger(entries))

    assert [row["Key"] for row in backend.ledger_rows()] == ["k0", *(e.key for e in entries)]


def test_a_first_append_whose_answer_was_lost_lands_once(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    store.read()

    backend.lose_next_append_answer()
    _retried(lambda: store.append_ledger([entry("k1"), entry("k2")]))

    assert [row["Key"] for row in backend.ledger_rows()] == ["k1", "k2"]
    assert store.read().ledger_found


# -- archiving the Ledger's first rows --------------------------------------------------------------

FIVE = [entry(f"shopify/100{n}/1", "A", -n) for n in range(1, 6)]
CHECKPOINT = [
    LedgerEntry("checkpoint/1/A", Sku("A"), 7, Movement.COUNT, AT, note="3 rows archived"),
    LedgerEntry("checkpoint/1/shopify", Sku(""), 0, Movement.START, AT, SHOPIFY, cursor="c3"),
]


def shown(entries: Sequence[LedgerEntry]) -> list[dict[str, str]]:
    """Ledger rows as a person sees them: header -> text."""
    return [{LEDGER_HEADERS[k]: v for k, v in ledger_cells(e).items()} for e in entries]


def archiving(backend: Backend) -> tuple[MasterStore, ArchivingStore]:
    """A store whose Ledger holds FIVE, as read."""
    store = backend.make(ABC, LAYOUT)
    if not isinstance(store, ArchivingStore):
        pytest.skip("Airtable keeps no archive: records have no position, and no request moves more than ten")
    store.append_ledger(FIVE)
    store.read()
    return store, store


def test_archiving_moves_the_first_rows_and_puts_the_checkpoint_in_their_place(backend: Backend) -> None:
    store, archive = archiving(backend)

    archive.archive_ledger(3, CHECKPOINT)

    assert backend.ledger_rows() == shown([*CHECKPOINT, *FIVE[3:]])
    assert backend.sheet_rows(ARCHIVE_SHEET) == shown(FIVE[:3])  # the Ledger's headers: readable
    assert [(row.row, dict(row.cells)) for row in archive.read_archive()] == [
        (2 + n, ledger_cells(e)) for n, e in enumerate(FIVE[:3])
    ]
    first = backend.first_row
    assert [(row.row, dict(row.cells)) for row in store.read().ledger] == [
        (first + n, ledger_cells(e)) for n, e in enumerate([*CHECKPOINT, *FIVE[3:]])
    ]


def test_archiving_again_appends_below_and_a_repeat_changes_nothing(backend: Backend) -> None:
    store, archive = archiving(backend)
    archive.archive_ledger(3, CHECKPOINT)
    store.read()
    second = [LedgerEntry("checkpoint/2/A", Sku("A"), 3, Movement.COUNT, AT)]

    archive.archive_ledger(3, second)
    before = backend.revision()
    archive.archive_ledger(3, second)  # the same call again: it was done

    assert backend.revision() == before
    assert backend.ledger_rows() == shown([*second, FIVE[4]])
    assert backend.sheet_rows(ARCHIVE_SHEET) == shown([*FIVE[:3], *CHECKPOINT, FIVE[3]])
    assert [row.cells["key"] for row in archive.read_archive()] == [
        e.key for e in [*FIVE[:3], *CHECKPOINT, FIVE[3]]
    ]


def test_rows_already_archived_by_an_interrupted_run_are_not_archived_twice(backend: Backend) -> None:
    _, archive = archiving(backend)
    # What a run killed between appending to the archive and replacing the rows leaves behind.
    header = list(LAYOUT.ledger_headers().values())
    backend.add_sheet(ARCHIVE_SHEET, [header, *([row[h] for h in header] for row in shown(FIVE[:3]))])

    archive.archive_ledger(3, CHECKPOINT)

    assert backend.sheet_rows(ARCHIVE_SHEET) == shown(FIVE[:3])
    assert backend.ledger_rows() == shown([*CHECKPOINT, *FIVE[3:]])


def test_an_archive_whose_answer_was_lost_happens_once(backend: Backend) -> None:
    _, archive = archiving(backend)

    backend.lose_next_archive_answer()
    _retried(lambda: archive.archive_ledger(3, CHECKPOINT))

    assert backend.sheet_rows(ARCHIVE_SHEET) == shown(FIVE[:3])
    assert backend.ledger_rows() == shown([*CHECKPOINT, *FIVE[3:]])


def test_archiving_refuses_a_ledger_changed_since_it_was_read(backend: Backend) -> None:
    _, archive = archiving(backend)
    backend.delete_row(2, sheet=LEDGER_SHEET)  # the merchant deletes the first Ledger row
    before = backend.ledger_rows()

    with pytest.raises(StoreLayoutError, match="sheet Ledger: its first rows are not the ones read"):
        archive.archive_ledger(3, CHECKPOINT)

    assert backend.ledger_rows() == before
    assert ARCHIVE_SHEET not in backend.sheet_names()


def test_archiving_checks_the_keys_the_caller_read(backend: Backend) -> None:
    _, archive = archiving(backend)
    # ``keys`` is no part of ArchivingStore's signature: each archiving store takes it besides.
    assert isinstance(archive, WorkbookStore | GoogleSheetsStore | MemoryStore)

    with pytest.raises(StoreLayoutError, match="'shopify/1001/1', 'shopify/1002/1' where keys 'x'"):
        archive.archive_ledger(2, CHECKPOINT, keys=["x", "shopify/1002/1"])
    archive.archive_ledger(2, CHECKPOINT[:1], keys=[e.key for e in FIVE[:2]])

    assert backend.ledger_rows() == shown([CHECKPOINT[0], *FIVE[2:]])
    assert backend.sheet_rows(ARCHIVE_SHEET) == shown(FIVE[:2])


# -- a shared sheet: the merchant edits while the worker writes (issue 20) ------------------------

WORKER_OWNED = ("Available", "Status")
SHARED = [
    {"SKU": "A", "Quantity": 1, "Override": "PAUSE", "Available": None, "Status": None},
    {"SKU": "B", "Quantity": 2, "Override": None, "Available": None, "Status": None},
]


def shared_sheet(backend: Backend) -> tuple[MasterStore, list[dict[str, str]]]:
    """A store that has read SHARED, and the merchant's cells as read (worker columns left out)."""
    if not backend.grid:
        pytest.skip("Airtable writes go by record and field id: nothing has a position to shift")
    store = backend.make(SHARED, LAYOUT)
    store.read()
    return store, merchant_cells(backend)


def merchant_cells(backend: Backend) -> list[dict[str, str]]:
    """Every Inventory cell under a header that is not the worker's, row by row."""
    return [
        {h: v for h, v in row.items() if h not in WORKER_OWNED} for row in backend.sheet_rows("Inventory")
    ]


def worker_writes(first: int) -> StatusUpdate:
    return update(
        cells=(
            cell(first, "A", AVAILABLE, "0"),
            cell(first, "A", ROW_STATUS, "PAUSED"),
            cell(first + 1, "B", AVAILABLE, "2"),
            cell(first + 1, "B", ROW_STATUS, "OK"),
        )
    )


def test_a_column_inserted_between_read_and_write_is_never_written_into(backend: Backend) -> None:
    store, _ = shared_sheet(backend)

    # Before Quantity: Override, Available and Status all move one to the right.
    backend.insert_column(before="Quantity", header="Supplier")
    backend.merchant_edit(2, "Supplier", "Acme")
    mine = merchant_cells(backend)
    store.write_status(worker_writes(2))

    assert merchant_cells(backend) == mine  # Override still PAUSE, Supplier still Acme, nothing added
    assert backend.inventory_value(3, "Supplier") == ""
    assert [backend.inventory_value(r, "Available") for r in (2, 3)] == ["0", "2"]
    assert [backend.inventory_value(r, "Status") for r in (2, 3)] == ["PAUSED", "OK"]


def test_a_column_moved_between_read_and_write_still_gets_the_workers_values(backend: Backend) -> None:
    store, before = shared_sheet(backend)

    backend.move_column("Available", before="SKU")  # now column A: the SKU column is B
    backend.move_column("Override", before=None)  # now the last column, where Status was
    store.write_status(worker_writes(2))

    assert merchant_cells(backend) == before
    assert backend.inventory_headers() == ["Available", "SKU", "Quantity", "Status", "Override"]
    assert [backend.inventory_value(r, "Available") for r in (2, 3)] == ["0", "2"]
    assert [backend.inventory_value(r, "Status") for r in (2, 3)] == ["PAUSED", "OK"]
    assert [backend.inventory_value(r, "Override") for r in (2, 3)] == ["PAUSE", ""]


def test_a_row_and_a_column_inserted_together_move_the_writes_with_their_skus(backend: Backend) -> None:
    store, _ = shared_sheet(backend)

    backend.insert_row(2)
    backend.merchant_edit(2, "SKU", "NEW")
    backend.insert_column(before="SKU", header="Notes")
    mine = merchant_cells(backend)
    store.write_status(worker_writes(2))

    assert merchant_cells(backend) == mine
    assert [backend.inventory_value(r, "SKU") for r in (2, 3, 4)] == ["NEW", "A", "B"]
    assert [backend.inventory_value(r, "Available") for r in (2, 3, 4)] == ["", "0", "2"]
    assert [backend.inventory_value(r, "Status") for r in (2, 3, 4)] == ["", "PAUSED", "OK"]


def test_a_worker_column_renamed_during_the_cycle_is_left_to_the_merchant(backend: Backend) -> None:
    store, _ = shared_sheet(backend)

    backend.rename_header("Inventory", "Available", "Stock note")  # now the merchant's column
    backend.merchant_edit(2, "Stock note", "count on Monday")
    store.write_status(worker_writes(2))

    assert [backend.inventory_value(r, "Stock note") for r in (2, 3)] == ["count on Monday", ""]
    assert [backend.inventory_value(r, "Status") for r in (2, 3)] == ["PAUSED", "OK"]
    assert [backend.inventory_value(r, "Override") for r in (2, 3)] == ["PAUSE", ""]


def test_a_row_with_a_quantity_and_no_sku_is_flagged_in_the_sheet(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make([{"SKU": "A", "Quantity": 1}, {"SKU": None, "Quantity": 5}], LAYOUT)
    (_, blank) = store.read().rows

    assert (blank.row, blank.cells[SKU], blank.cells[QUANTITY]) == (first + 1, "", "5")
    store.write_status(
        update(cells=(cell(blank.row, "", ROW_STATUS, "ERROR"), cell(blank.row, "", REASON, "SKU is blank")))
    )

    assert backend.inventory_value(first + 1, "Status") == "ERROR"
    assert backend.inventory_value(first + 1, "Reason") == "SKU is blank"
    assert backend.inventory_value(first + 1, "Quantity") == "5"


def test_a_blank_sku_row_moved_by_an_inserted_row_is_not_flagged_in_its_place(backend: Backend) -> None:
    if not backend.grid:
        pytest.skip("Airtable writes go by record id; records have no position to insert at")
    store = backend.make([{"SKU": "A", "Quantity": 1}, {"SKU": None, "Quantity": 5}], LAYOUT)
    store.read()

    backend.insert_row(3)  # the blank-SKU row is now row 4; row 3 is empty
    store.write_status(update(cells=(cell(3, "", ROW_STATUS, "ERROR"),)))

    # skipped: the next cycle's read finds the row where it is now
    assert [backend.inventory_value(r, "Status") for r in (3, 4)] == ["", ""]


def test_a_sku_with_surrounding_spaces_gets_its_row_written(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make([{"SKU": "A ", "Quantity": 1}, {"SKU": " B", "Quantity": 2}], LAYOUT)
    store.read()

    # the core strips a SKU: its writes name "A", not "A "
    store.write_status(update(cells=(cell(first, "A", AVAILABLE, "1"), cell(first + 1, "B", AVAILABLE, "2"))))

    assert [backend.inventory_value(r, "Available") for r in (first, first + 1)] == ["1", "2"]


def test_a_sku_that_is_a_number_in_the_sheet_is_marked(backend: Backend) -> None:
    store = backend.make([{"SKU": 123, "Quantity": 1}, {"SKU": 124, "Quantity": 2}], LAYOUT)

    rows = store.read().rows

    marked = [(row.cells[SKU], row.cells.get(SKU_IS_NUMBER)) for row in rows]
    assert marked == [("123", "TRUE"), ("124", "TRUE")]
    if backend.grid:  # an Airtable field is a number field or a text one, never both
        backend.merchant_edit(backend.first_row, "SKU", "0042")  # text, as a Plain text column keeps it
        assert SKU_IS_NUMBER not in store.read().rows[0].cells


def test_a_buffer_typed_as_a_percentage_reads_as_the_merchant_sees_it(backend: Backend) -> None:
    if isinstance(backend, MemoryBackend):
        pytest.skip("the in-memory store keeps no cell formats")
    store = backend.make(
        [
            {"SKU": "A", "Quantity": 10, "Buffer": Percent("10%"), "Buffer Shopify": Percent("100%")},
            {"SKU": "B", "Quantity": 10, "Buffer": Percent("25%"), "Buffer Shopify": Percent("5%")},
        ],
        LAYOUT,
    )

    rows = store.read().rows

    assert [(r.cells[BUFFER], r.cells[buffer_column(SHOPIFY)]) for r in rows] == [
        ("10%", "100%"),
        ("25%", "5%"),
    ]


def test_a_buffer_of_units_still_reads_as_units(backend: Backend) -> None:
    store = backend.make(
        [{"SKU": "A", "Quantity": 10, "Buffer": 3}, {"SKU": "B", "Quantity": 1, "Buffer": "10%"}], LAYOUT
    )

    assert [row.cells[BUFFER] for row in store.read().rows] == ["3", "10%"]


# -- the master's layout changed: a clear StoreLayoutError, never a raw API error (issue 20) ----


def test_a_renamed_inventory_is_named_with_what_was_found_and_the_fix(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    store.read()

    backend.rename_sheet("Inventory", "Stock")
    for _ in range(2):  # every cycle says the same, not only the first
        with pytest.raises(StoreLayoutError) as raised:
            store.read()
        message = str(raised.value)
        assert re.search(r"no (sheet|tab|table) Inventory", message)
        assert "found: Stock" in message
        assert "rename your inventory" in message
        assert "back to Inventory" in message
    backend.rename_sheet("Stock", "Inventory")  # renamed back: the same worker reads it again
    assert store.read().rows


def test_a_renamed_quantity_header_is_named_with_what_was_found_and_the_fix(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    store.read()

    backend.rename_header("Inventory", "Quantity", "Qty")
    with pytest.raises(StoreLayoutError) as raised:
        store.read()

    message = str(raised.value)
    assert "Inventory" in message
    assert "lacks Quantity (found: SKU, Qty)" in message
    assert "rename the column back to Quantity" in message


def test_an_inventory_renamed_during_the_cycle_stops_the_write_or_is_followed(backend: Backend) -> None:
    first = backend.first_row
    store = backend.make(ABC, LAYOUT)
    store.read()

    backend.rename_sheet("Inventory", "Stock")
    write = update(cells=(cell(first, "A", AVAILABLE, "5"),), state={"ledger_applied": "3"})
    if backend.grid:
        before = backend.revision()
        with pytest.raises(StoreLayoutError, match="Inventory"):
            store.write_status(write)
        assert backend.revision() == before  # nothing at all was written
    else:  # Airtable writes go by table id: the renamed table is the same table
        store.write_status(write)
        backend.rename_sheet("Stock", "Inventory")
        assert backend.inventory_value(first, "Available") == "5"


# -- the single-writer lease (issue 20) --------------------------------------------------------------

TTL = 120.0


def test_a_second_worker_is_refused_while_the_first_holds_the_lease(backend: Backend) -> None:
    first = backend.make(ABC, LAYOUT)
    second = backend.another_store()
    assert isinstance(first, LeasedStore)
    assert isinstance(second, LeasedStore)
    first.read()
    assert first.acquire("worker-1", AT, TTL) is None

    second.read()
    refusal = second.acquire("worker-2", AT + timedelta(seconds=30), TTL)

    assert refusal is not None
    assert "worker-1" in refusal
    if not isinstance(second, WorkbookStore):  # the workbook's OS lock answers before the State
        assert "until 2026-11-27T09:32:00Z" in refusal
    assert "lease" not in first.read().state  # the store's, not the worker's
    assert backend.sheet_rows("State") == [{"Key": "lease", "Value": "worker-1 until 2026-11-27T09:32:00Z"}]


def test_the_holder_renews_without_a_call_until_half_its_time_is_gone(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    assert isinstance(store, LeasedStore)
    store.read()
    assert store.acquire("worker-1", AT, TTL) is None
    before = backend.revision()

    store.read()
    assert store.acquire("worker-1", AT + timedelta(seconds=50), TTL) is None
    assert backend.revision() == before  # nothing written

    store.read()
    assert store.acquire("worker-1", AT + timedelta(seconds=61), TTL) is None
    assert backend.sheet_rows("State") == [{"Key": "lease", "Value": "worker-1 until 2026-11-27T09:33:01Z"}]


def test_a_worker_takes_over_once_a_dead_workers_lease_expires(backend: Backend) -> None:
    first = backend.make(ABC, LAYOUT)
    second = backend.another_store()
    assert isinstance(first, LeasedStore)
    assert isinstance(second, LeasedStore)
    first.read()
    assert first.acquire("worker-1", AT, TTL) is None
    backend.die(first)

    second.read()
    assert second.acquire("worker-2", AT + timedelta(seconds=TTL - 1), TTL) is not None
    second.read()
    assert second.acquire("worker-2", AT + timedelta(seconds=TTL), TTL) is None

    assert backend.sheet_rows("State") == [{"Key": "lease", "Value": "worker-2 until 2026-11-27T09:34:00Z"}]


def test_release_frees_the_master_for_the_next_worker_at_once(backend: Backend) -> None:
    first = backend.make(ABC, LAYOUT)
    second = backend.another_store()
    assert isinstance(first, LeasedStore)
    assert isinstance(second, LeasedStore)
    first.read()
    assert first.acquire("worker-1", AT, TTL) is None
    second.release("worker-2")  # not its lease: changes nothing
    assert backend.sheet_rows("State") == [{"Key": "lease", "Value": "worker-1 until 2026-11-27T09:32:00Z"}]

    first.release("worker-1")
    second.read()

    assert second.acquire("worker-2", AT + timedelta(seconds=1), TTL) is None
    first.read()
    assert first.acquire("worker-1", AT + timedelta(seconds=2), TTL) is not None


def test_the_lease_rides_beside_the_workers_state(backend: Backend) -> None:
    store = backend.make(ABC, LAYOUT)
    assert isinstance(store, LeasedStore)
    store.read()
    store.write_status(update(state={"ledger_applied": "3"}))
    store.read()
    assert store.acquire("worker-1", AT, TTL) is None

    store.write_status(update(state={"ledger_applied": "4", "fold": ""}))

    assert store.read().state == {"ledger_applied": "4", "fold": ""}
    rows = backend.sheet_rows("State")
    assert {"Key": "lease", "Value": "worker-1 until 2026-11-27T09:32:00Z"} in rows


# -- appending Inventory rows (sheetsync import) --------------------------------------------------

NEW_ROWS = [
    {"SKU": "00123", "Title": "Tee", "Variant": "M", "Quantity": "4"},
    {"SKU": "C-1", "Title": "=HYPERLINK(1)", "Variant": "", "Quantity": "", "SKU Meta Shop": "77"},
]


def test_appended_rows_go_below_the_merchants_by_header_and_change_nothing_else(backend: Backend) -> None:
    store = backend.make(
        [
            {"Notes": "n1", "Quantity": 3, "SKU": "A"},
            {"Notes": None, "Quantity": None, "SKU": None},
            {"Notes": "keep", "Quantity": 1, "SKU": "B"},
        ],
        LAYOUT,
    )
    assert isinstance(store, AppendingStore)
    first = backend.first_row
    headers = backend.inventory_headers()
    before = {(r, h): backend.inventory_value(r, h) for r in range(first, first + 3) for h in headers}

    assert store.append_inventory(NEW_ROWS) == 2

    assert backend.inventory_headers()[: len(headers)] == headers
    assert {h.casefold() for h in backend.inventory_headers()[len(headers) :]} == {
        "title",
        "variant",
        "sku meta shop",
    }
    assert {(r, h): backend.inventory_value(r, h) for r in range(first, first + 3) for h in headers} == before
    rows = store.read().rows
    assert [(row.row, dict(row.cells)) for row in rows[-2:]] == [
        (first + 3, {SKU: "00123", QUANTITY: "4", code_column(META): ""}),
        (first + 4, {SKU: "C-1", QUANTITY: "", code_column(META): "77"}),
    ]
    assert [backend.inventory_value(first + n, "Title") for n in (3, 4)] == ["Tee", "=HYPERLINK(1)"]
    assert backend.inventory_value(first + 3, "Variant") == "M"
    assert backend.formula_cells() == set()  # a channel's text never becomes a formula


def test_an_append_fills_the_columns_the_sheet_has_wherever_they_are(backend: Backend) -> None:
    store = backend.make(
        [{"Variant": "S", "Title": "Mug", "Stock note": "x", "SKU": "A", "Quantity": 2}], LAYOUT
    )
    assert isinstance(store, AppendingStore)
    headers = backend.inventory_headers()

    store.append_inventory([NEW_ROWS[0]])

    assert backend.inventory_headers() == headers
    new = backend.first_row + 1
    assert {h: backend.inventory_value(new, h) for h in headers} == {
        "Variant": "M",
        "Title": "Tee",
        "Stock note": "",
        "SKU": "00123",
        "Quantity": "4",
    }


def test_a_row_whose_sku_the_inventory_holds_is_not_appended_again(backend: Backend) -> None:
    store = backend.make([{"SKU": " 00123 ", "Quantity": 9}], LAYOUT)
    assert isinstance(store, AppendingStore)

    assert store.append_inventory(NEW_ROWS) == 1
    assert store.append_inventory(NEW_ROWS) == 0
    assert store.append_inventory([]) == 0

    assert [(row.cells[SKU], row.cells[QUANTITY]) for row in store.read().rows] == [
        (" 00123 ", "9"),
        ("C-1", ""),
    ]


def test_an_append_to_an_inventory_without_its_sku_header_is_refused_naming_the_fix(backend: Backend) -> None:
    store = backend.make([{"Code": "A", "Quantity": 1}], LAYOUT)
    assert isinstance(store, AppendingStore)

    with pytest.raises(StoreLayoutError, match="lacks SKU"):
        store.append_inventory(NEW_ROWS)
