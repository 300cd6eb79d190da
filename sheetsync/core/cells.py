"""Raw Inventory cells → typed rows, or a problem that names the row and the column.

Nothing here guesses: a cell that is not plainly a whole number is flagged, never coerced, so no
quantity is ever pushed from a cell we could not read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache, partial
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from sheetsync.core.buffers import Hold, HoldKind, parse_hold
from sheetsync.core.memo import Places, Same
from sheetsync.model import (
    BUFFER,
    OVERRIDE,
    PRICE,
    QUANTITY,
    REORDER_POINT,
    REORDER_QTY,
    SKU,
    SKU_IS_NUMBER,
    ChannelName,
    Layout,
    RawRow,
    Sku,
    buffer_column,
    channel_column,
    code_column,
    price_column,
    stock_column,
)

if TYPE_CHECKING:
    from sheetsync.core.bundles import Bundles

#: The largest quantity we publish (Shopify rejects more than 1,000,000,000).
MAX_QUANTITY = 1_000_000_000
#: The largest price we push: far above any shop's, and inside every platform's field.
MAX_PRICE = Decimal("1000000")


# The one empty mapping of each kind that every row without codes, buffers or prices shares: a
# dict each came to about 20 MB at 100,000 SKUs, held twice while a changed read is parsed.
_NO_CODES: Mapping[ChannelName, Sku] = MappingProxyType({})
_NO_HOLDS: Mapping[ChannelName | None, Hold] = MappingProxyType({})
_NO_PRICES: Mapping[ChannelName | None, Decimal] = MappingProxyType({})


class Pause(Enum):
    """The PAUSE override: stop pushing this row."""

    PAUSE = "PAUSE"


Override = int | Pause | None
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reorder:
    """A row's reorder point and how many to buy when stock falls to it."""

    point: int
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class MasterRow:
    """A valid Inventory row."""

    row: int
    sku: Sku
    #: the merchant's count per location ("" is the Quantity column); empty for a bundle
    counts: Mapping[str, int]
    override: Override
    holds: Mapping[ChannelName | None, Hold]  #: per-SKU buffers; None = every channel
    believed: Mapping[ChannelName, int | None]  #: what each channel shows, as we last knew
    current: Mapping[str, str]  #: the worker-owned cells as read, to write only what changes
    prices: Mapping[ChannelName | None, Decimal] = field(default_factory=dict)  #: None = every channel
    reorder: Reorder | None = None
    parts: Mapping[Sku, int] | None = None  #: a bundle: stock-holding component → units in one
    #: problems in optional cells (a price, a reorder point): the row is flagged, its stock syncs
    notes: tuple[str, ...] = ()
    #: the row's own SKU on channels that use another code (``SKU <Channel>``)
    codes: Mapping[ChannelName, Sku] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """The merchant's count over every location."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that cannot be synced, with every reason; it is flagged and never pushed."""

    row: int
    sku: Sku | None
    messages: tuple[str, ...]
    current: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ParsedRows:
    """The Inventory split into rows we can sync and rows we must flag."""

    rows: tuple[MasterRow, ...]
    problems: tuple[RowProblem, ...]
    #: ``skus()``, worked out once (a quiet cycle's parse is the last one's)
    _skus: list[frozenset[Sku]] = field(default_factory=list, init=False, repr=False, compare=False)

    def skus(self) -> frozenset[Sku]:
        """Every SKU the Inventory names, on a row we sync or on one we flag."""
        if not self._skus:
            named = {p.sku for p in self.problems if p.sku is not None}
            self._skus.append(frozenset({row.sku for row in self.rows} | named))
        return self._skus[0]


# [0-9], not \d: \d also matches full-width, Arabic-Indic and other digits, which a spreadsheet
# keeps as text (its own sums skip them), so reading them as numbers would disagree with the sheet.
_WHOLE = re.compile(r"^\+?[0-9]+$")
_NEGATIVE = re.compile(r"^-\s*[0-9]+(?:[.,][0-9]+)?$")
_DECIMAL = re.compile(r"^\+?(?P<whole>[0-9]+)[.,](?P<fraction>[0-9]+)$")
_GROUPED = re.compile(r"^\+?[0-9]{1,3}(?:[,. \u00a0\u202f'][0-9]{3})+$")
_PRICE = re.compile(r"^\+?[0-9]+(?:\.[0-9]{1,2})?$")
#: Characters in a number cell beyond which it is a paste gone wrong, not a number (and int() of
#: thousands of digits raises Python's own message, not ours).
LONGEST_NUMBER = 40
#: The longest SKU we accept: Shopify's limit, and more than any other channel takes.
LONGEST_SKU = 255
#: A leading character that makes a spreadsheet (or a CSV export opened in one) read a formula.
FORMULA_STARTS = ("=", "+", "-", "@")


def parse_quantity(text: str, header: str) -> int:
    """Parse a whole number ≥ 0 typed by the merchant.

    Raises:
        ValueError: a sentence naming ``header`` and saying what to type instead.
    """
    value = text.strip()
    if not value:
        raise ValueError(f"{header} is blank; enter a whole number of 0 or more")
    if value.startswith("="):
        raise ValueError(f"{header} is a formula ({_clip(value)}); enter a plain number")
    _readable(value, header)
    if _WHOLE.match(value):
        number = int(value)
        if number > MAX_QUANTITY:
            raise ValueError(f"{header} {_clip(value)} is too large; the most is {MAX_QUANTITY}")
        return number
    if _NEGATIVE.match(value):
        raise ValueError(f'{header} "{value}" is negative; enter a whole number of 0 or more')
    _refuse_grouped(value, header)
    decimal = _DECIMAL.match(value)
    if decimal and set(decimal["fraction"]) == {"0"}:
        return parse_quantity(decimal["whole"], header)
    raise ValueError(f'{header} "{_clip(value)}" is not a whole number; enter a whole number of 0 or more')


def _readable(value: str, header: str) -> None:
    """Refuse what no number cell holds: a long paste, invisible characters, digits other than 0-9.

    Raises:
        ValueError: a sentence naming ``header`` and saying what to type instead.
    """
    if len(value) > LONGEST_NUMBER:
        raise ValueError(f'{header} "{_clip(value)}" is {len(value)} characters long; enter a number')
    if hidden := _invisible(value):
        raise ValueError(f'{header} "{_clip(value)}" contains an invisible character ({hidden}); retype it')
    if any(ch.isdigit() and not "0" <= ch <= "9" for ch in value):
        raise ValueError(f'{header} "{value}" has digits other than 0-9; retype it with the digits 0-9')


def _refuse_grouped(value: str, header: str) -> None:
    """Refuse 1,000 or 1.000: which is the thousands separator depends on the merchant's locale.

    Raises:
        ValueError: a sentence naming ``header`` and the number to type instead.
    """
    if _GROUPED.match(value):
        raise ValueError(
            f'{header} "{value}" has a thousands separator; write it without one '
            f"({re.sub(r'[^0-9]', '', value)}) so it cannot be misread"
        )


def parse_override(text: str) -> Override:
    """Parse the Override cell: blank, a whole number, or PAUSE.

    Raises:
        ValueError: a sentence saying what the cell accepts.
    """
    value = text.strip()
    if not value:
        return None
    if value.casefold() in {"pause", "paused"}:
        return Pause.PAUSE
    try:
        return parse_quantity(value, "Override")
    except ValueError:
        raise ValueError(
            f'Override "{_clip(value)}" is not understood; enter a whole number, PAUSE, or leave it blank'
        ) from None


def parse_rows(raw: Sequence[RawRow], layout: Layout, bundles: Bundles | None = None) -> ParsedRows:
    """Parse every Inventory row; duplicates of a SKU are all flagged, none is pushed.

    A bundle's row (``bundles``) has no count of its own: its count cells stay blank, and it is
    flagged when a component has no usable row.  The very same rows' cells (``stores._grid.records``
    hands unchanged rows on as the very same dicts) at the same row numbers parse as last time.
    """
    cells = [row.cells for row in raw]
    values = (tuple(row.row for row in raw), layout, bundles)
    return _PARSED.answer(cells, values, lambda: _parse_all(raw, layout, bundles))


#: The last whole parse (``parse_rows``).
_PARSED: Same[ParsedRows] = Same()


def _parse_all(raw: Sequence[RawRow], layout: Layout, bundles: Bundles | None) -> ParsedRows:
    by_sku: dict[Sku, list[int]] = defaultdict(list)
    parsed: list[tuple[RawRow, Sku | None, MasterRow | None, tuple[str, ...], Mapping[str, str]]] = []
    kept = _ROWS.begin(layout)
    # Most sheets have no bundle: no row need be looked up among them.
    bundled = bundles if bundles is not None and (bundles.parts or bundles.problems) else None
    for row in raw:
        if bundled is not None and row.cells.get(SKU, "").strip() in bundled:
            one = _parse_row(row, layout, bundles)  # a bundle's row depends on the Bundles sheet too
        else:
            # A row is a pure function of its number, its cells and the layout; what it gives is
            # shared by every cycle: never changed.
            one = kept.answer(row.row, row.cells, partial(_parse_row, row, layout, None))
        if one is None:
            continue  # a row with only worker cells left: the merchant cleared it
        sku, master, messages, current = one
        if sku is not None:
            by_sku[sku].append(row.row)
        parsed.append((row, sku, master, messages, current))

    shared = _shared_codes([(row.row, master) for row, _, master, _, _ in parsed], layout)
    rows: list[MasterRow] = []
    problems: list[RowProblem] = []
    for row, sku, candidate, messages, current in parsed:
        if sku is not None and len(by_sku[sku]) > 1:
            where = ", ".join(str(n) for n in by_sku[sku] if n != row.row)
            messages = (*messages, f'SKU "{sku}" is also in row {where}; each SKU must appear once')
        if row.row in shared:
            messages = (*messages, *shared[row.row])
        if candidate is not None and not messages:
            rows.append(candidate)
        else:
            problems.append(RowProblem(row.row, sku, messages, current))
    if bundles is not None and bundles.parts:
        rows, problems = _components_usable(rows, problems)
    return ParsedRows(tuple(rows), tuple(problems))


_Row = tuple[Sku | None, MasterRow | None, tuple[str, ...], Mapping[str, str]]
#: Each row's parse from the last whole parse that was worked out, by row number (``parse_rows``):
#: a row that is no bundle's parses as last time for equal cells at the same number.
_ROWS: Places[Mapping[str, str], _Row | None] = Places()


@lru_cache(maxsize=64)  # a process syncs a few layouts (one a merchant)
def _columns(layout: Layout) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The merchant's and the worker's Inventory columns: worked out once, not again for each row."""
    return tuple(layout.merchant_headers()), tuple(layout.worker_headers())


def _parse_row(row: RawRow, layout: Layout, bundles: Bundles | None) -> _Row | None:
    """One row on its own: its SKU, the row if it can be synced, what is wrong, its worker cells.

    None for a row with only worker cells left (the merchant cleared it).
    """
    merchant, worker = _columns(layout)
    if not any(row.cells.get(column, "").strip() for column in merchant):
        return None
    current = {column: row.cells.get(column, "") for column in worker}
    messages: list[str] = []
    sku = _parse_sku(row.cells.get(SKU, ""), messages)
    parts = None
    if sku is not None and bundles is not None and sku in bundles:
        parts = _bundle_parts(row, layout, bundles, sku, messages)
        counts: dict[str, int] | None = {}
    else:
        counts = _parse_counts(row, layout, messages)
    override = _attempt(partial(parse_override, row.cells.get(OVERRIDE, "")), messages)
    holds = _parse_holds(row, layout, messages)
    codes = _parse_codes(row, layout, messages)
    master = None
    if sku is not None and counts is not None and not messages:
        notes: list[str] = []
        if row.cells.get(SKU_IS_NUMBER):
            notes.append(
                f"SKU {sku} is a number in the sheet, so leading zeros (00123) or long codes may be "
                "lost; format the SKU column as Plain text and retype the SKU"
            )
        believed = {n: own_number(row.cells.get(channel_column(n), "")) for n, _ in layout.channels}
        master = MasterRow(
            row.row,
            sku,
            counts,
            override,
            holds,
            believed,
            current,
            prices=_parse_prices(row, layout, notes),
            reorder=_parse_reorder(row, notes),
            parts=parts,
            notes=tuple(notes),
            codes=codes,
        )
    return sku, master, tuple(messages), current


def _shared_codes(rows: Sequence[tuple[int, MasterRow | None]], layout: Layout) -> dict[int, list[str]]:
    """Rows that would be the same SKU on a channel through a ``SKU <Channel>`` cell: all flagged."""
    claims: dict[tuple[ChannelName, Sku], list[tuple[int, bool]]] = defaultdict(list)
    for number, master in rows:  # the mapped codes first: without one, nothing can clash here
        if master is not None:
            for name, code in master.codes.items():
                claims[(name, code)].append((number, True))
    if not claims:
        return {}
    for number, master in rows:  # then the rows shown on a mapped code's channel by their own SKU
        if master is not None:
            for name, _ in layout.channels:
                if name not in master.codes and (name, master.sku) in claims:
                    claims[(name, master.sku)].append((number, False))
    titles = dict(layout.channels)
    found: dict[int, list[str]] = defaultdict(list)
    for (name, code), claimants in claims.items():
        if len(claimants) > 1 and any(mapped for _, mapped in claimants):  # plain SKU repeats: above
            claimants.sort()  # in sheet order
            for number, _ in claimants:
                where = ", ".join(str(n) for n, _ in claimants if n != number)
                found[number].append(
                    f'on {titles[name]} this row would be "{code}", as row {where} is; '
                    f"give each row its own SKU {titles[name]}"
                )
    return found


def _parse_counts(row: RawRow, layout: Layout, messages: list[str]) -> dict[str, int] | None:
    """The merchant's count per location (or the Quantity column's, under "")."""
    if not layout.locations:
        count = _attempt(partial(parse_quantity, row.cells.get(QUANTITY, ""), "Quantity"), messages)
        return None if count is None else {"": count}
    counts: dict[str, int] = {}
    for place in layout.locations:
        header = f"Quantity {place}"
        count = _attempt(partial(parse_quantity, row.cells.get(stock_column(place), ""), header), messages)
        if count is not None:
            counts[place] = count
    if len(counts) == len(layout.locations) and sum(counts.values()) > MAX_QUANTITY:
        headers = " + ".join(f"Quantity {place}" for place in layout.locations)
        messages.append(f"{headers} add up to {sum(counts.values())}; the most is {MAX_QUANTITY}")
        return None
    return counts if len(counts) == len(layout.locations) else None


def _bundle_parts(
    row: RawRow, layout: Layout, bundles: Bundles, sku: Sku, messages: list[str]
) -> Mapping[Sku, int] | None:
    """A bundle row's components; its count cells must be blank (its stock is its components')."""
    if problem := bundles.problems.get(sku):
        messages.append(f"bundle {sku} cannot be sold: {problem}")
        return None
    typed = [column for column in (QUANTITY, *layout.count_columns()) if row.cells.get(column, "").strip()]
    if typed:
        header = layout.merchant_headers()[typed[0]]
        messages.append(
            f"{sku} is a bundle (Bundles sheet): its stock is worked out from its components, "
            f"so leave {header} blank"
        )
        return None
    return bundles.parts[sku]


def _components_usable(
    rows: list[MasterRow], problems: list[RowProblem]
) -> tuple[list[MasterRow], list[RowProblem]]:
    """Flag a bundle whose component has no usable Inventory row (it is missing or flagged)."""
    stocked = {row.sku for row in rows if row.parts is None}
    flagged = {p.sku: p.row for p in problems if p.sku is not None}
    kept: list[MasterRow] = []
    for row in rows:
        missing = [c for c in row.parts or {} if c not in stocked]
        if not missing:
            kept.append(row)
            continue
        reasons = [
            f"component {_clip(c)} is flagged in row {flagged[c]}; fix that row first"
            if c in flagged
            else f"component {_clip(c)} has no row in the Inventory; add one"
            for c in missing
        ]
        problems.append(
            RowProblem(row.row, row.sku, (f"bundle {row.sku}: " + "; ".join(reasons),), row.current)
        )
    return kept, sorted(problems, key=lambda p: p.row)


def sku_problem(text: str, header: str = "SKU") -> str | None:
    """Why ``text`` cannot be a row's SKU, as ``parse_rows`` would flag it; None when it can."""
    messages: list[str] = []
    _parse_sku(text, messages, header)
    return messages[0] if messages else None


def _parse_sku(text: str, messages: list[str], header: str = "SKU") -> Sku | None:
    value = text.strip()
    if not value:
        messages.append(f"{header} is blank; every row needs a SKU")
        return None
    if value.startswith("="):
        messages.append(f"{header} is a formula ({_clip(value)}); type the SKU itself")
        return None
    if value.startswith(FORMULA_STARTS):
        messages.append(
            f'{header} "{_clip(value)}" starts with {value[0]}, which spreadsheets and CSV exports read as '
            "a formula; change the SKU"
        )
        return None
    if hidden := _invisible(value):
        messages.append(
            f'{header} "{_clip(value)}" contains an invisible character ({hidden}), so it cannot match the '
            "SKU on a channel; retype it"
        )
        return None
    if len(value) > LONGEST_SKU:
        messages.append(
            f'{header} "{_clip(value)}" is {len(value)} characters long; the most is {LONGEST_SKU}'
        )
        return None
    return Sku(value)


def _parse_codes(row: RawRow, layout: Layout, messages: list[str]) -> Mapping[ChannelName, Sku]:
    """The row's own SKU on each channel that has one (``SKU <Channel>``); blank: the row's SKU."""
    codes = {}
    for name, title in layout.channels:
        text = row.cells.get(code_column(name), "")
        if text.strip() and (code := _parse_sku(text, messages, f"SKU {title}")) is not None:
            codes[name] = code
    return codes or _NO_CODES


def _parse_holds(row: RawRow, layout: Layout, messages: list[str]) -> Mapping[ChannelName | None, Hold]:
    columns: list[tuple[ChannelName | None, str, str]] = [(None, BUFFER, "Buffer")]
    columns += [(name, buffer_column(name), f"Buffer {title}") for name, title in layout.channels]
    holds: dict[ChannelName | None, Hold] = {}
    for channel, column, header in columns:
        text = row.cells.get(column, "").strip()
        if text and (hold := _attempt(partial(parse_buffer, text, header), messages)) is not None:
            holds[channel] = hold
    return holds or _NO_HOLDS


def parse_buffer(text: str, header: str) -> Hold:
    """Parse a Buffer cell: units (3), a percentage (10%) or all, read as strictly as a count.

    Raises:
        ValueError: a sentence naming ``header`` and saying what to type instead.
    """
    value = text.strip()
    _readable(value, header)  # before parse_hold, whose messages quote the whole cell
    _refuse_grouped(value, header)
    try:
        hold = parse_hold(value)
    except ValueError as error:
        raise ValueError(f"{header} {error}") from None
    if hold.kind is HoldKind.UNITS and hold.amount > MAX_QUANTITY:
        raise ValueError(f"{header} {value} is too large; the most is {MAX_QUANTITY}")
    return hold


def parse_price(text: str, header: str) -> Decimal:
    """Parse a price typed by the merchant: a positive amount with at most two decimals.

    A comma is refused rather than guessed (1,500 or 1,5?), and so is a currency sign: the
    currency is the one in the config.

    Raises:
        ValueError: a sentence naming ``header`` and saying what to type instead.
    """
    value = text.strip()
    if value.startswith("="):
        raise ValueError(f"{header} is a formula ({_clip(value)}); enter a plain amount like 12.50")
    if "," in value:
        raise ValueError(f'{header} "{_clip(value)}" has a comma; write the amount with a point, like 12.50')
    _readable(value, header)
    if not _PRICE.match(value):
        raise ValueError(
            f'{header} "{_clip(value)}" is not an amount; write it like 12.50, without a currency'
        )
    try:
        amount = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError(f'{header} "{_clip(value)}" is not an amount') from None
    if amount <= 0:
        raise ValueError(f"{header} {value} must be more than 0")
    if amount > MAX_PRICE:
        raise ValueError(f"{header} {value} is too large; the most is {MAX_PRICE}")
    return amount


def _parse_prices(row: RawRow, layout: Layout, notes: list[str]) -> Mapping[ChannelName | None, Decimal]:
    if not layout.priced:
        return _NO_PRICES
    columns: list[tuple[ChannelName | None, str, str]] = [(None, PRICE, "Price")]
    columns += [(name, price_column(name), f"Price {title}") for name, title in layout.channels]
    prices: dict[ChannelName | None, Decimal] = {}
    unread: set[ChannelName | None] = set()
    for channel, column, header in columns:
        text = row.cells.get(column, "").strip()
        if text:
            price = _attempt(partial(parse_price, text, header), notes)
            if price is not None:
                prices[channel] = price
            else:
                unread.add(channel)
    if None in prices and unread:
        # The merchant set a channel its own price we could not read: the Price column must not
        # stand in for it, so it applies to the other channels only, named one by one.
        general = prices.pop(None)
        prices |= {name: general for name, _ in layout.channels if name not in unread and name not in prices}
    return prices or _NO_PRICES


def _parse_reorder(row: RawRow, notes: list[str]) -> Reorder | None:
    point_text = row.cells.get(REORDER_POINT, "").strip()
    quantity_text = row.cells.get(REORDER_QTY, "").strip()
    if not point_text:
        if quantity_text:
            notes.append("Reorder qty is set but Reorder point is blank; enter the stock level to reorder at")
        return None
    point = _attempt(partial(parse_quantity, point_text, "Reorder point"), notes)
    quantity = (
        _attempt(partial(parse_quantity, quantity_text, "Reorder qty"), notes) if quantity_text else None
    )
    return None if point is None else Reorder(point, quantity)


def _attempt(parse: Callable[[], T], messages: list[str]) -> T | None:
    try:
        return parse()
    except ValueError as error:
        messages.append(str(error))
        return None


def own_number(text: str) -> int | None:
    """Read a worker-written quantity; anything else (blank, hand-typed) means 'not known'."""
    value = text.strip()
    return int(value) if _WHOLE.match(value) else None


def _clip(text: str, limit: int = 40) -> str:
    """Keep messages short when a cell holds a long paste, and its invisible characters visible.

    A right-to-left override or a NUL copied into the Reason cell would garble the message there.
    """
    text = "".join(f"[U+{ord(ch):04X}]" if _hidden(ch) else ch for ch in text[: limit * 2])
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _hidden(ch: str) -> bool:
    """A control or format character (NUL, zero-width joiner, bidi override, BOM …)."""
    return unicodedata.category(ch) in ("Cc", "Cf")


def _invisible(text: str) -> str | None:
    """The first invisible character in ``text``, named, or None."""
    if text.isprintable():  # C speed; printable text holds no Cc or Cf character
        return None
    for ch in text:
        if _hidden(ch):
            return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"
    return None
