"""Raw Inventory cells → typed rows, or a problem that names the row and the column.

Nothing here guesses: a cell that is not plainly a whole number is flagged, never coerced, so no
quantity is ever pushed from a cell we could not read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import TypeVar

from sheetsync.core.buffers import Hold, parse_hold
from sheetsync.model import (
    BUFFER,
    OVERRIDE,
    QUANTITY,
    SKU,
    ChannelName,
    Layout,
    RawRow,
    Sku,
    buffer_column,
    channel_column,
)

#: The largest quantity we publish (Shopify rejects more than 1,000,000,000).
MAX_QUANTITY = 1_000_000_000


class Pause(Enum):
    """The PAUSE override: stop pushing this row."""

    PAUSE = "PAUSE"


Override = int | Pause | None
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MasterRow:
    """A valid Inventory row."""

    row: int
    sku: Sku
    count: int  #: the merchant's count (Quantity column)
    override: Override
    holds: Mapping[ChannelName | None, Hold]  #: per-SKU buffers; None = every channel
    believed: Mapping[ChannelName, int | None]  #: what each channel shows, as we last knew
    current: Mapping[str, str]  #: the worker-owned cells as read, to write only what changes


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


_WHOLE = re.compile(r"^\+?\d+$")
_NEGATIVE = re.compile(r"^-\s*\d+(?:[.,]\d+)?$")
_DECIMAL = re.compile(r"^\+?(?P<whole>\d+)[.,](?P<fraction>\d+)$")
_GROUPED = re.compile(r"^\+?\d{1,3}(?:[,. \u00a0\u202f']\d{3})+$")


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
    if _WHOLE.match(value):
        number = int(value)
        if number > MAX_QUANTITY:
            raise ValueError(f"{header} {_clip(value)} is too large; the most is {MAX_QUANTITY}")
        return number
    if _NEGATIVE.match(value):
        raise ValueError(f'{header} "{value}" is negative; enter a whole number of 0 or more')
    if _GROUPED.match(value):
        raise ValueError(
            f'{header} "{value}" has a thousands separator; write it without one '
            f"({re.sub(r'[^0-9]', '', value)}) so it cannot be misread"
        )
    decimal = _DECIMAL.match(value)
    if decimal and set(decimal["fraction"]) == {"0"}:
        return parse_quantity(decimal["whole"], header)
    raise ValueError(f'{header} "{_clip(value)}" is not a whole number; enter a whole number of 0 or more')


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


def parse_rows(raw: Sequence[RawRow], layout: Layout) -> ParsedRows:
    """Parse every Inventory row; duplicates of a SKU are all flagged, none is pushed."""
    headers = layout.merchant_headers()
    worker = layout.worker_headers()
    by_sku: dict[Sku, list[int]] = defaultdict(list)
    parsed: list[tuple[RawRow, Sku | None, MasterRow | None, list[str], dict[str, str]]] = []
    for row in raw:
        if not any(row.cells.get(column, "").strip() for column in headers):
            continue  # a row with only worker cells left: the merchant cleared it
        current = {column: row.cells.get(column, "") for column in worker}
        messages: list[str] = []
        sku = _parse_sku(row.cells.get(SKU, ""), messages)
        if sku is not None:
            by_sku[sku].append(row.row)
        count = _attempt(partial(parse_quantity, row.cells.get(QUANTITY, ""), "Quantity"), messages)
        override = _attempt(partial(parse_override, row.cells.get(OVERRIDE, "")), messages)
        holds = _parse_holds(row, layout, messages)
        master = None
        if sku is not None and count is not None and not messages:
            believed = {n: own_number(row.cells.get(channel_column(n), "")) for n, _ in layout.channels}
            master = MasterRow(row.row, sku, count, override, holds, believed, current)
        parsed.append((row, sku, master, messages, current))

    rows: list[MasterRow] = []
    problems: list[RowProblem] = []
    for row, sku, candidate, messages, current in parsed:
        others = [n for n in by_sku.get(sku, []) if n != row.row] if sku is not None else []
        if others:
            where = ", ".join(str(n) for n in others)
            messages = [
                *messages,
                f'SKU "{sku}" is also in row {where}; each SKU must appear once',
            ]
        if candidate is not None and not messages:
            rows.append(candidate)
        else:
            problems.append(RowProblem(row.row, sku, tuple(messages), current))
    return ParsedRows(tuple(rows), tuple(problems))


def _parse_sku(text: str, messages: list[str]) -> Sku | None:
    value = text.strip()
    if not value:
        messages.append("SKU is blank; every row needs a SKU")
        return None
    if value.startswith("="):
        messages.append(f"SKU is a formula ({_clip(value)}); type the SKU itself")
        return None
    return Sku(value)


def _parse_holds(row: RawRow, layout: Layout, messages: list[str]) -> dict[ChannelName | None, Hold]:
    columns: list[tuple[ChannelName | None, str, str]] = [(None, BUFFER, "Buffer")]
    columns += [(name, buffer_column(name), f"Buffer {title}") for name, title in layout.channels]
    holds: dict[ChannelName | None, Hold] = {}
    for channel, column, header in columns:
        text = row.cells.get(column, "").strip()
        if text:
            try:
                holds[channel] = parse_hold(text)
            except ValueError as error:
                messages.append(f"{header} {error}")
    return holds


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
    """Keep messages short when a cell holds a long paste."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
