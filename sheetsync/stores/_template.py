"""What a new master looks like, in one place: its columns in plain words, the flags and their colours.

Every store dresses a master from this: the workbook template (``create_workbook``), the Google
Sheet (``prepare``) and the Airtable base (``prepare``).  The "Read me" tab is generated from it, so
the words a merchant reads cannot drift from the columns the worker reads and the flags it writes
(``tests/test_template.py`` holds the flags here against the core's).
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetsync.model import (
    AVAILABLE,
    BUFFER,
    BUNDLES_SHEET,
    GUARD_ROW_LABEL,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    OVERRIDE,
    PRICE,
    PRICES_SENT,
    QUANTITY,
    REASON,
    REORDER_POINT,
    REORDER_QTY,
    ROW_STATUS,
    SKU,
    STATE_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    SYNCED,
    Layout,
)

#: The tab that explains the master; the worker never reads it.
README_SHEET = "Read me"
#: The header note (and protection warning) on every column the worker writes.
WORKER_NOTE = "written by sheetsync — edits are overwritten"
#: Fill of the worker's columns (RRGGBB): a pale grey, so the merchant's columns stand out white.
WORKER_FILL = "EDEDED"
#: Fill of the worker's header cells: a shade darker.
WORKER_HEADER_FILL = "D0D0D0"
#: The words the Status tab's Control column takes (a channel row: PAUSE, or CONFIRM for a first sync
#: that waits; the Volume guard: ACCEPT).
CONTROL_WORDS = ("PAUSE", "CONFIRM", "ACCEPT")
#: Rows the templates' validations and formats cover (a sheet grows past it only by hand).
TEMPLATE_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a tab: its header, who fills it, what it holds, and how wide to show it."""

    logical: str
    title: str
    worker: bool  #: the worker writes it (and overwrites any edit)
    text: str
    width: int = 12  #: characters


@dataclass(frozen=True, slots=True)
class Flag:
    """A word the worker writes in a Status cell, its colour, what it means and what to do."""

    word: str
    colour: str  #: RRGGBB fill
    meaning: str
    action: str


#: The Inventory's Status flags, as the core writes them (``core.plan.RowState``).
ROW_FLAGS = (
    Flag("OK", "D9EAD3", "all is well", "nothing"),
    Flag(
        "LAG",
        "FFE599",
        "a channel does not show our push yet, or a raise waits for its sales to be counted",
        "usually nothing: it clears when the channel catches up",
    ),
    Flag(
        "DRIFT",
        "D9D2E9",
        "a channel shows another number than we set: someone changed it on the platform",
        "nothing: the sheet wins and the next push sets it back; change stock here, not there",
    ),
    Flag(
        "PAUSED", "E0E0E0", "the row's Override is PAUSE: nothing is pushed", "clear the Override when ready"
    ),
    Flag(
        "OVERSOLD",
        "EA9999",
        "the channels sold more than you had (Available is below 0); Reason names the orders",
        "recount, and deal with the extra orders",
    ),
    Flag(
        "ERROR",
        "F4CCCC",
        "a cell the worker cannot read, or a channel refused the SKU; Reason says which",
        "fix what Reason names; the row is not raised until then",
    ),
    Flag(
        "REORDER",
        "CFE2F3",
        "Available is at or below the row's Reorder point",
        "buy more (Reason says how many)",
    ),
    Flag(
        "HELD",
        "FFF2CC",
        "there is stock, but every channel's buffer holds all of it back: the channels show 0",
        "lower the tier or Buffer that Reason names (or use the one-off preset)",
    ),
)

#: The Status tab's State words, one per channel row (``core.plan.channel_statuses``).
CHANNEL_STATES = (
    Flag("OK", "D9EAD3", "the last cycle reached the channel", "nothing"),
    Flag(
        "LAG",
        "FFE599",
        "pushes take longer than the channel's limit to show",
        "usually nothing; Message says how late",
    ),
    Flag(
        "DEGRADED",
        "F9CB9C",
        "lagging so long that only the careful (auto-pause) buffer is shown",
        "nothing: it recovers by itself when the lag does",
    ),
    Flag("PAUSED", "E0E0E0", "Control says PAUSE (or the config pauses it)", "clear Control to resume"),
    Flag(
        "ERROR",
        "F4CCCC",
        "the channel could not be reached or refused us; Message says why",
        "fix what Message names; the next cycle retries",
    ),
    Flag(
        "HOLD",
        "F4CCCC",
        "the Volume guard held every push (the Inventory looks like a bad paste), or a channel's first "
        "sync waits for you because it would change many quantities",
        f"if the change is real, type ACCEPT in the {GUARD_ROW_LABEL} row's Control; for a first sync, "
        "check `sheetsync sync --dry-run`, then type CONFIRM in that channel's Control",
    ),
)


#: What each merchant column holds, by logical name.
_MERCHANT_TEXT = {
    SKU: "your code for the item, one row per SKU (a SKU twice is flagged in both rows)",
    QUANTITY: "your count of units on hand, a whole number",
    OVERRIDE: "optional: a number every channel shows exactly, or PAUSE to push nothing for the row",
    BUFFER: "optional: units to hold back (3), a percentage (10%) or all, instead of the tiers",
    PRICE: "optional: the price every channel shows",
    REORDER_POINT: "optional: when Available falls to this or below, the row says REORDER",
    REORDER_QTY: "optional: how many to buy when the row says REORDER",
}
#: What each per-channel (or per-location) column holds, by the prefix of its logical name.
_NAMED_TEXT = {
    "stock": "your count of units on hand at {}, a whole number",
    "buffer": "optional: the Buffer for {} alone",
    "sku": "optional: this row's code on {}, when it differs from the SKU",
    "price": "optional: the price {} shows, instead of Price",
    "channel": "what {} shows, as far as the worker knows",
}
_WIDTHS = {SKU: 16, REASON: 60, SYNCED: 22, PRICES_SENT: 24}


def inventory_columns(layout: Layout) -> list[Column]:
    """The Inventory's columns in the template's order: the merchant's, then the worker's."""
    titles: dict[str, str] = {str(name): title for name, title in layout.channels}
    flags = ", ".join(flag.word for flag in ROW_FLAGS)
    worker_text = {
        AVAILABLE: "your count plus every movement in the Ledger since it was counted",
        ROW_STATUS: f"{flags}: see the flags below",
        REASON: "why each channel shows what it shows, or what is wrong with the row",
        SYNCED: "when the row was last pushed",
        PRICES_SENT: "the last price each channel accepted",
    }
    described: list[Column] = []
    for worker, headers, plain in (
        (False, layout.merchant_headers(), _MERCHANT_TEXT),
        (True, layout.worker_headers(), worker_text),
    ):
        for logical, title in headers.items():
            kind, named, name = logical.partition(":")
            text = _NAMED_TEXT[kind].format(titles.get(name, name)) if named else plain[logical]
            described.append(Column(logical, title, worker, text, _WIDTHS.get(logical, 12)))
    return described


def template_columns(layout: Layout) -> list[Column]:
    """The columns a new Inventory starts with: SKU, the counts and Override, then the worker's."""
    first = {SKU, *layout.count_columns(), OVERRIDE}
    return [c for c in inventory_columns(layout) if c.worker or c.logical in first]


def ledger_columns(layout: Layout) -> list[Column]:
    """The Ledger's columns: the worker appends rows, the merchant may add adjustments."""
    text = {
        "key": "a unique key per movement (channel/order/line): the same sale is never counted twice",
        "at": "when it happened",
        "channel": "the channel it came from (blank for your own rows)",
        "order": "the channel's order number",
        "line": "the order line",
        "sku": "the SKU it moves",
        "delta": "units: negative for a sale, positive for a return or a restock",
        "movement": "SALE, RESTOCK, EDIT, COUNT, ADJUST (your own row), START, CHECK or CARRY",
        "cursor": "where the channel's orders were read to",
        "note": "a note",
        "location": "the stock location it moves",
    }
    width = {"key": 30, "at": 26, "cursor": 28, "note": 30}
    return [
        Column(logical, title, True, text[logical], width.get(logical, 12))
        for logical, title in layout.ledger_headers().items()
    ]


def status_columns() -> list[Column]:
    """The Status tab's columns: Control is the merchant's, the rest the worker's."""
    states = ", ".join(flag.word for flag in CHANNEL_STATES)
    text = {
        "channel": f"one row per channel, plus the {GUARD_ROW_LABEL} row",
        "control": f"PAUSE pauses a channel (clear it to resume); CONFIRM lets a held first sync go; "
        f"ACCEPT in the {GUARD_ROW_LABEL} row lets a shrink through",
        "state": f"{states}: see below",
        "last_sync": "the last cycle that talked to the channel",
        "last_ok": "the last cycle that reached it without an error",
        "lag_p50": "push to visible, median over the last hour",
        "lag_p95": "push to visible, 95th percentile over the last hour",
        "pushed": "SKUs pushed in the last cycle",
        "errors": "errors in the last cycle",
        "message": "what happened, in words",
    }
    width = {"channel": 16, "last_sync": 22, "last_ok": 22, "message": 60}
    return [
        Column(logical, title, logical != "control", text[logical], width.get(logical, 11))
        for logical, title in STATUS_HEADERS.items()
    ]


@dataclass(frozen=True, slots=True)
class ReadmeRow:
    """One row of the Read me tab: three cells, and how to show them."""

    cells: tuple[str, str, str]
    heading: bool = False
    fill: str | None = None  #: RRGGBB, for a flag's row


#: Widths (characters) of the Read me's three columns.
README_WIDTHS = (18, 14, 90)


def readme(layout: Layout) -> list[ReadmeRow]:
    """The Read me tab, generated from the columns and flags above."""

    def who(column: Column) -> str:
        return "sheetsync" if column.worker else "you"

    rows = [
        ReadmeRow(("sheetsync: how this sheet works", "", ""), heading=True),
        ReadmeRow(
            (
                "",
                "",
                "The worker reads your columns and never changes them. Grey columns are its own: "
                "it rewrites them every cycle, so edits there are lost.",
            )
        ),
        ReadmeRow(
            (
                "",
                "",
                "Times carry their offset from UTC (Z is UTC itself); timezone in sheetsync.toml "
                "sets the zone they are shown in.",
            )
        ),
        ReadmeRow(("Tab", "", "What it is"), heading=True),
        ReadmeRow(
            (INVENTORY_SHEET, "you", "one row per SKU: your counts on the left, the worker's columns right")
        ),
        ReadmeRow(
            (LEDGER_SHEET, "sheetsync", "every stock movement, one row each; add adjustments at the bottom")
        ),
        ReadmeRow((STATUS_SHEET, "sheetsync", "one row per channel; type in Control to pause one")),
        ReadmeRow(
            (STATE_SHEET, "sheetsync", "hidden: the worker's bookkeeping; leave it alone, do not delete it")
        ),
        ReadmeRow((BUNDLES_SHEET, "you", "optional: Bundle, Component, Quantity, one row per component")),
        ReadmeRow((README_SHEET, "sheetsync", "this page")),
        ReadmeRow((f"{INVENTORY_SHEET} column", "Filled by", "What it holds"), heading=True),
        *(ReadmeRow((c.title, who(c), c.text)) for c in inventory_columns(layout)),
        ReadmeRow(("Status flag", "", "Meaning, and what to do"), heading=True),
        *(ReadmeRow((f.word, "", f"{f.meaning}. To do: {f.action}"), fill=f.colour) for f in ROW_FLAGS),
        ReadmeRow((f"{LEDGER_SHEET} column", "Filled by", "What it holds"), heading=True),
        *(ReadmeRow((c.title, who(c), c.text)) for c in ledger_columns(layout)),
        ReadmeRow((f"{STATUS_SHEET} column", "Filled by", "What it holds"), heading=True),
        *(ReadmeRow((c.title, who(c), c.text)) for c in status_columns()),
        ReadmeRow((f"{STATUS_SHEET} state", "", "Meaning, and what to do"), heading=True),
        *(ReadmeRow((f.word, "", f"{f.meaning}. To do: {f.action}"), fill=f.colour) for f in CHANNEL_STATES),
        ReadmeRow(("How to", "", ""), heading=True),
        ReadmeRow(("Pause a row", "", "type PAUSE in its Override; clear it to resume")),
        ReadmeRow(
            ("Pause a channel", "", "type PAUSE in its Control cell on the Status tab; clear it to resume")
        ),
        ReadmeRow(("Override", "", "type a whole number in Override: every channel shows exactly that")),
        ReadmeRow(
            (
                "Confirm a shrink",
                "",
                f"when the {GUARD_ROW_LABEL} says HOLD and the change is real, type ACCEPT in its Control",
            )
        ),
        ReadmeRow(
            (
                "Confirm a first sync",
                "",
                "when a channel says HOLD before its first push, check `sheetsync sync --dry-run`, "
                "then type CONFIRM in its Control",
            )
        ),
        ReadmeRow(("Recount", "", "type the new count in Quantity: sales from then on are counted from it")),
    ]
    return rows


def override_rule(cell: str) -> str:
    """A spreadsheet formula true when ``cell`` holds what Override takes: a whole number ≥ 0 or PAUSE.

    Without the leading ``=`` (openpyxl and Google Sheets each add their own).  Blank passes too
    (both apps skip blank cells).  ``core.cells.parse_override`` reads the same (PAUSED too).
    """
    # IF, not AND: Excel's AND evaluates INT("PAUSE") too, and its error fails the whole rule.
    word = f"UPPER(TRIM({cell}))"
    return f'IF(ISNUMBER({cell}),AND({cell}>=0,{cell}=INT({cell})),OR({word}="PAUSE",{word}="PAUSED"))'


def rgb(colour: str) -> dict[str, float]:
    """RRGGBB as Google Sheets' Color (each channel 0-1)."""
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return {"red": round(red, 4), "green": round(green, 4), "blue": round(blue, 4)}


def field_specs(layout: Layout) -> dict[str, dict[str, dict[str, object]]]:
    """Table → our field name → what Airtable's create-field call takes beside the name.

    Every field gets its plain-words description; the worker's get "written by sheetsync" first.
    All are text: a single select for Status would colour the flags, but Airtable refuses a value
    it has no option for (typecast stays off), and the worker's columns must take any text it writes.
    """
    tables: dict[str, list[Column]] = {
        INVENTORY_SHEET: inventory_columns(layout),
        LEDGER_SHEET: ledger_columns(layout),
        STATUS_SHEET: status_columns(),
    }
    specs: dict[str, dict[str, dict[str, object]]] = {}
    for table, columns in tables.items():
        specs[table] = {}
        for column in columns:
            owner = WORKER_NOTE if column.worker else "yours"
            specs[table][column.title] = {"type": "singleLineText", "description": f"{owner}: {column.text}"}
    return specs
