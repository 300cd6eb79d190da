"""The append-only ledger: every stock movement once, and the available stock it implies.

Available stock of a SKU = the merchant's count + the movements recorded since it was counted.
A COUNT entry records the count the worker accepted; the worker appends one whenever the
Quantity cell differs from the latest COUNT and movements would otherwise be added to the wrong
number (a recount).  The first COUNT of a SKU covers every movement before it, so a sale
recorded while the cell was blank or broken is still subtracted.  The merchant never subtracts
sales by hand, and a recount is simply typing the new number.

With locations, all of this holds per SKU and location: each location's Quantity cell is its
own count, and each entry moves the stock of one location.  A bundle's sale is recorded on the
bundle (it lowers what that channel shows by itself) and, as BUNDLE entries, on each component.

A channel's first sync records its start line (a START entry) instead of reading its history:
the merchant's first count already reflects every order placed before it, so none of those is
subtracted.  Reading resumes from the start line's cursor, and an order placed before it that
turns up later (a re-read overlap, an edit, a refund) is still not counted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sheetsync.core.cells import MAX_QUANTITY
from sheetsync.model import (
    TIMESTAMP_FORMAT,
    ChannelName,
    LedgerEntry,
    Movement,
    OrderLine,
    RawLedgerRow,
    Sku,
)

#: Movements that happened on a channel (and so change what that channel shows by itself).
CHANNEL_MOVEMENTS = frozenset({Movement.SALE, Movement.RESTOCK})

#: Stock is kept per SKU and location ("" when the master has no locations).
Place = tuple[Sku, str]

#: A Delta: digits 0-9 only (int() would also take "1_000" and full-width digits).
_DELTA = re.compile(r"[+-]?[0-9]+")
#: The largest movement a hand-typed row may record: a Quantity cell holds at most this many
#: units, so a larger delta is a typo that would push an absurd quantity.
MAX_DELTA = MAX_QUANTITY


@dataclass(frozen=True, slots=True)
class Routing:
    """Where a channel's order lines take stock from, and what a bundle is made of."""

    #: channel → its locations, preferred first (empty without locations)
    places: Mapping[ChannelName, tuple[str, ...]] = field(default_factory=dict)
    #: bundle → stock-holding component → units in one bundle
    parts: Mapping[Sku, Mapping[Sku, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedLedger:
    """The ledger as entries in order; ``positions[i]`` is entry i's index among all ledger rows."""

    entries: tuple[LedgerEntry, ...]
    positions: tuple[int, ...]
    size: int  #: number of ledger rows read, valid or not
    keys: frozenset[str]  #: every key present, including rows we could not parse
    problems: tuple[str, ...]


def parse_ledger(rows: Sequence[RawLedgerRow], locations: Sequence[str] = ()) -> ParsedLedger:
    """Parse ledger rows; rows the merchant typed with no Key are manual adjustments.

    A row that cannot be parsed is reported and skipped, but its key still counts as seen so
    that the same order line is never appended twice.  A repeated key counts once.  With
    ``locations``, a blank Location is the first one (entries made before locations were set
    up moved that stock) and an unknown one is a problem.
    """
    places = {place.casefold(): place for place in locations}
    entries: list[LedgerEntry] = []
    positions: list[int] = []
    keys: set[str] = set()
    problems: list[str] = []
    for position, row in enumerate(rows):
        cells = {name: value.strip() for name, value in row.cells.items()}
        key = cells.get("key", "") or f"manual/row{row.row}"
        if key in keys:
            continue
        keys.add(key)
        try:
            entries.append(_entry(key, cells, places, manual=not cells.get("key")))
            positions.append(position)
        except ValueError as error:
            problems.append(f"Ledger row {row.row}: {error}; the row is not counted")
    return ParsedLedger(tuple(entries), tuple(positions), len(rows), frozenset(keys), tuple(problems))


def _entry(key: str, cells: Mapping[str, str], places: Mapping[str, str], *, manual: bool) -> LedgerEntry:
    sku = cells.get("sku", "")
    start = cells.get("movement", "").upper() == Movement.START.value
    if not sku and not start:
        raise ValueError("SKU is blank")
    if start and not cells.get("channel"):
        raise ValueError("a START row needs the Channel it starts")
    delta_text = cells.get("delta", "")
    if not _DELTA.fullmatch(delta_text):
        raise ValueError(f'Delta "{delta_text[:40]}" is not a whole number')
    if len(delta_text) > 19 or (manual and abs(int(delta_text)) > MAX_DELTA):
        raise ValueError(f"Delta {delta_text[:40]} is too large; the most is {MAX_DELTA} either way")
    delta = int(delta_text)
    movement_text = cells.get("movement", "").upper() or Movement.ADJUST.value
    try:
        movement = Movement(movement_text)
    except ValueError:
        names = ", ".join(m.value for m in Movement)
        raise ValueError(f'Movement "{movement_text}" is not one of {names}') from None
    at_text = cells.get("at", "")
    try:
        at = datetime.fromisoformat(at_text)  # strptime costs ten times more on a long ledger
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 is before year 1 in UTC
        if not manual:
            raise ValueError(f'Time "{at_text}" is not a UTC time like 2026-11-24T09:30:00Z') from None
        at = datetime.min.replace(tzinfo=UTC)  # a hand-typed adjustment needs no time
    location = ""
    if places:
        typed = cells.get("location", "")
        location = places.get(typed.casefold(), "") if typed else next(iter(places.values()))
        if not location:
            raise ValueError(f'Location "{typed}" is not one of {", ".join(places.values())}')
    return LedgerEntry(
        key=key,
        sku=Sku(sku),
        delta=delta,
        movement=movement,
        at=at,
        channel=ChannelName(cells["channel"]) if cells.get("channel") else None,
        order_id=cells.get("order", ""),
        line_id=cells.get("line", ""),
        cursor=cells.get("cursor", ""),
        note=cells.get("note", ""),
        location=location,
    )


def cursor(entries: Iterable[LedgerEntry], channel: ChannelName) -> str | None:
    """Where to resume reading ``channel``'s orders: the newest cursor its entries recorded.

    Derived from the ledger itself, so it can never run ahead of the entries it covers.  The
    start line's cursor counts too: a channel whose only entry is its start line is read from it.
    """
    cursors = [e.cursor for e in entries if e.channel == channel and e.cursor]
    return max(cursors) if cursors else None


#: The Note of a start line, for the merchant reading the Ledger.
START_NOTE = "start line: orders placed on this channel before this time are not counted"
#: Order ids are zero-padded to this width in Shopify and WooCommerce cursors.
_CURSOR_ID_WIDTH = 20


def start_key(channel: ChannelName) -> str:
    """The ledger key of ``channel``'s start line: one per channel, so it is recorded once."""
    return f"start:{channel}"


def start_cursor(now: datetime) -> str:
    """A start line's cursor at ``now``: ``2026-03-01T10:00:00Z#00000000000000000000``.

    Shopify and WooCommerce order cursors are the order's update time in this form followed by
    ``#`` and its zero-padded id, so this sorts after every order updated before ``now``'s second
    and before every order updated at or after it.
    """
    return f"{now.astimezone(UTC).strftime(TIMESTAMP_FORMAT)}#{'0' * _CURSOR_ID_WIDTH}"


def start_entry(channel: ChannelName, now: datetime, start: str) -> LedgerEntry:
    """``channel``'s start line at ``now`` (to the second, as the Ledger shows it), resuming at ``start``."""
    return LedgerEntry(
        key=start_key(channel),
        sku=Sku(""),
        delta=0,
        movement=Movement.START,
        at=now.astimezone(UTC).replace(microsecond=0),
        channel=channel,
        cursor=start,
        note=START_NOTE,
    )


def starts(entries: Iterable[LedgerEntry]) -> dict[ChannelName, datetime]:
    """Each channel's start line time (the latest, should there be several); none before it counts."""
    found: dict[ChannelName, datetime] = {}
    for entry in entries:
        if entry.movement is Movement.START and entry.channel is not None:
            found[entry.channel] = max(entry.at, found.get(entry.channel, entry.at))
    return found


def after_start(
    lines: Sequence[OrderLine], entries: Iterable[LedgerEntry], start: Mapping[ChannelName, datetime]
) -> list[OrderLine]:
    """``lines`` without the orders placed before their channel's start line (``starts``).

    An order was placed before the start line when one of its sales is dated before it; its
    refunds and cancellations go with it, whenever they happen.  A restock of an order with no
    sale in the ledger or among ``lines`` (a refund webhook carries only the refund) is taken to
    be such an order's: putting back units the first count already held would oversell.
    Channels without a start line are left as they are.
    """
    if not start or not any(line.channel in start for line in lines):
        return list(lines)
    early = {
        (line.channel, line.order_id)
        for line in lines
        if line.movement is Movement.SALE and line.channel in start and line.at < start[line.channel]
    }
    sold: set[tuple[ChannelName | None, str]] = {
        (line.channel, line.order_id) for line in lines if line.movement is Movement.SALE
    }
    sold |= {(e.channel, e.order_id) for e in entries if e.movement is Movement.SALE and e.channel in start}
    return [
        line
        for line in lines
        if line.channel not in start
        or (
            (line.channel, line.order_id) not in early
            and (line.movement is Movement.SALE or (line.channel, line.order_id) in sold)
        )
    ]


def new_entries(
    lines: Iterable[OrderLine],
    ledger: ParsedLedger,
    counts: Mapping[Place, int],
    now: datetime,
    routing: Routing | None = None,
    stock: Mapping[Place, int] | None = None,
) -> list[LedgerEntry]:
    """The entries to append for ``lines``: each line once, plus the COUNT entries it needs.

    ``counts`` holds the merchant's current count for every SKU and location whose cell parsed.
    A sale takes stock from the first of its channel's locations that has enough (``stock``,
    the available stock before these lines), else from the first; a restock goes to the first.
    Each entry's key is checked on its own, so an append cut short is completed, never doubled.
    """
    route = routing or Routing()
    left = dict(stock or {})
    fresh: list[LedgerEntry] = []
    seen = set(ledger.keys)
    for line in lines:
        if line.quantity <= 0:
            continue
        sign, quantity = (-1 if line.movement is Movement.SALE else 1), line.quantity
        parts = route.parts.get(line.sku)
        if parts is None:
            made = [
                _placed(_line_entry(line, line.key, line.sku, sign * quantity, line.movement), route, left)
            ]
        else:
            note = "bundle: its components follow"
            made = [_line_entry(line, line.key, line.sku, sign * quantity, line.movement, note)]
            made += [
                _placed(
                    _line_entry(
                        line,
                        f"{line.key}/{sku}",
                        sku,
                        sign * quantity * per,
                        Movement.BUNDLE,
                        f"bundle {line.sku}",
                    ),
                    route,
                    left,
                )
                for sku, per in parts.items()
            ]
        for entry in made:
            if entry.key not in seen:
                seen.add(entry.key)
                fresh.append(entry)
    tallies = _tally(ledger.entries)
    moved = {(e.sku, e.location) for e in fresh}
    stamp = now.strftime(TIMESTAMP_FORMAT)
    recounts = [
        LedgerEntry(
            # The ledger's length tells apart two recounts within one second (webhook cycles).
            key=f"count/{sku}{'@' + place if place else ''}/{stamp}/{ledger.size}",
            sku=sku,
            delta=count,
            movement=Movement.COUNT,
            at=now,
            note="Quantity cell accepted as the new count",
            location=place,
        )
        for (sku, place), count in counts.items()
        if _needs_count(tallies.get((sku, place)), count, moving=(sku, place) in moved)
    ]
    return recounts + fresh


def _line_entry(
    line: OrderLine, key: str, sku: Sku, delta: int, movement: Movement, note: str = ""
) -> LedgerEntry:
    return LedgerEntry(
        key=key,
        sku=sku,
        delta=delta,
        movement=movement,
        at=line.at,
        channel=line.channel,
        order_id=line.order_id,
        line_id=line.line_id,
        cursor=line.cursor,
        note=note,
    )


def _placed(entry: LedgerEntry, route: Routing, left: dict[Place, int]) -> LedgerEntry:
    """``entry`` at the location it moves: for a sale, the first with enough stock left."""
    places = route.places.get(entry.channel) if entry.channel is not None else None
    if not places:
        return entry
    place = places[0]
    if entry.delta < 0:
        place = next((p for p in places if left.get((entry.sku, p), 0) >= -entry.delta), places[0])
    left[(entry.sku, place)] = left.get((entry.sku, place), 0) + entry.delta
    return replace(entry, location=place)


def _needs_count(tally: _Tally | None, count: int, *, moving: bool) -> bool:
    if tally is None:
        return moving
    return tally.latest != count and (tally.moved or moving)


@dataclass(slots=True)
class _Tally:
    """One SKU's ledger folded: its COUNT entries and the movements that count against the cell."""

    counts: int = 0
    latest: int | None = None
    running: int = 0  #: movements added to the merchant's count
    moved: bool = False  #: some movement is in ``running``


def _tally(entries: Iterable[LedgerEntry]) -> dict[Place, _Tally]:
    """Fold the ledger per SKU and location.

    The first COUNT covers every movement before it (never drop a sale recorded while the cell
    was blank or broken); each later COUNT is a recount and starts afresh.
    """
    tallies: dict[Place, _Tally] = defaultdict(_Tally)
    for entry in entries:
        if entry.movement is Movement.START:
            continue  # it moves no stock
        tally = tallies[(entry.sku, entry.location)]
        if entry.movement is Movement.COUNT:
            tally.counts += 1
            tally.latest = entry.delta
            if tally.counts > 1:
                tally.running, tally.moved = 0, False
        else:
            tally.running += entry.delta
            tally.moved = True
    return tallies


def available(counts: Mapping[Place, int], entries: Iterable[LedgerEntry]) -> dict[Place, int]:
    """Available stock per SKU and location: the count plus the movements that count against it."""
    tallies = _tally(entries)
    return {
        place: count + (tallies[place].running if place in tallies else 0) for place, count in counts.items()
    }


def channel_moves(
    ledger: ParsedLedger, extra: Sequence[LedgerEntry], since: int
) -> dict[tuple[ChannelName, Sku], int]:
    """Net stock moved by each channel's own sales and restocks in ledger rows at or after ``since``.

    ``extra`` are entries being appended now (they follow the rows read).  The worker adds these
    to what it last knew each channel showed, because a channel lowers its own count when it sells.
    """
    moves: dict[tuple[ChannelName, Sku], int] = defaultdict(int)
    recorded = [e for e, p in zip(ledger.entries, ledger.positions, strict=True) if p >= since]
    for entry in [*recorded, *extra]:
        if entry.channel is not None and entry.movement in CHANNEL_MOVEMENTS:
            moves[(entry.channel, entry.sku)] += entry.delta
    return dict(moves)


#: Windows over which a SKU's own sales velocity is measured: the short one reacts to a rush,
#: the long one remembers a rush that paused; the faster of the two is used.
VELOCITY_WINDOWS_S = (900.0, 3600.0)
#: The whole shop's sales rate over this window, shared out by each SKU's part of the day's
#: sales: a rush shows in the total minutes before a single SKU has sold enough to show it, and
#: a SKU that sold out (so no one could buy it lately) keeps the demand it had.
POOLED_WINDOW_S = 300.0
SHARE_WINDOW_S = 86_400.0


def sales_velocity(
    entries: Iterable[LedgerEntry], now: datetime, windows: Sequence[float] = VELOCITY_WINDOWS_S
) -> dict[tuple[ChannelName, Sku], float]:
    """Units sold per second of each SKU on each channel, from recent sales (the higher estimate).

    Two estimates, the higher wins: the SKU's own rate on the channel over each window, and the
    shop's rate over the last ``POOLED_WINDOW_S`` times the pair's share of the last
    ``SHARE_WINDOW_S``.
    """
    longest = max(*windows, SHARE_WINDOW_S)
    sold: dict[tuple[ChannelName, Sku], list[tuple[float, int]]] = defaultdict(list)
    recent = 0
    for entry in entries:
        if entry.movement is Movement.SALE and entry.channel is not None:
            age = (now - entry.at).total_seconds()
            if 0 <= age <= longest:
                sold[(entry.channel, entry.sku)].append((age, -entry.delta))
                recent += -entry.delta if age <= POOLED_WINDOW_S else 0
    total = sum(units for sales in sold.values() for _, units in sales)
    shop_rate = recent / POOLED_WINDOW_S
    velocity = {}
    for key, sales in sold.items():
        own = max(sum(units for age, units in sales if age <= window) / window for window in windows)
        share = sum(units for _, units in sales) / total
        velocity[key] = max(own, share * shop_rate)
    return velocity
