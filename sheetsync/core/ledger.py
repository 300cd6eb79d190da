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
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Generic, TypeVar

from sheetsync.core.cells import MAX_QUANTITY
from sheetsync.core.memo import Lent, Prefixes, Same, remembered, shared
from sheetsync.model import (
    TIMESTAMP_FORMAT,
    ChannelName,
    LedgerEntry,
    Movement,
    OddLine,
    OrderLine,
    OrderState,
    RawLedgerRow,
    Sku,
)

T = TypeVar("T")

#: Movements that happened on a channel (and so change what that channel shows by itself): a
#: platform moves its own stock when an order is placed, edited, cancelled or restocked.
CHANNEL_MOVEMENTS = frozenset({Movement.SALE, Movement.RESTOCK, Movement.EDIT})
#: Entries that move no stock: a channel's start line, an order line left for the merchant.
_NO_STOCK = frozenset({Movement.START, Movement.CHECK})
#: A checkpoint leaves rows younger than this in the Ledger: the Reorder and Insights sheets look
#: back 30 days, and recent orders are the ones still edited and refunded.
KEEP_DAYS = 35
#: A checkpoint is made once this many rows are old enough to fold: rare, and each worth it.
FOLD_AT = 5_000

#: Stock is kept per SKU and location ("" when the master has no locations).
Place = tuple[Sku, str]

#: A Delta: digits 0-9 only (int() would also take "1_000" and full-width digits).
_DELTA = re.compile(r"[+-]?[0-9]+")
#: The largest movement a hand-typed row may record: a Quantity cell holds at most this many
#: units, so a larger delta is a typo that would push an absurd quantity.
MAX_DELTA = MAX_QUANTITY
#: Ledger rows whose parse is remembered (about 80 MB when full): a Ledger between checkpoints
#: fits, and a longer one only parses as it did without the memo.
PARSE_CACHE = 1 << 16


@dataclass(frozen=True, slots=True)
class Routing:
    """Where a channel's order lines take stock from, and what a bundle is made of."""

    #: channel → its locations, preferred first (empty without locations)
    places: Mapping[ChannelName, tuple[str, ...]] = field(default_factory=dict)
    #: bundle → stock-holding component → units in one bundle
    parts: Mapping[Sku, Mapping[Sku, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fold:
    """Where the last checkpoint left the Ledger (see ``checkpoint``)."""

    key: str  #: the checkpoint's marker key
    folded: int  #: the rows it moved to the archive
    written: int  #: the rows it wrote in their place, its marker the last
    horizon: datetime  #: every row it folded was older than this


@dataclass(frozen=True, slots=True)
class ParsedLedger:
    """The ledger as entries in order; ``positions[i]`` is entry i's index among all ledger rows."""

    entries: tuple[LedgerEntry, ...]
    positions: tuple[int, ...]
    size: int  #: number of ledger rows read, valid or not
    keys: frozenset[str]  #: every key present, including rows we could not parse
    problems: tuple[str, ...]
    fold: Fold | None = None  #: the last checkpoint, if any

    def applied(self, rows: int, fold_key: str) -> int:
        """``rows`` counted before the checkpoint ``fold_key`` named, as a count of today's rows.

        The worker's state records how many rows its channel columns absorbed and the checkpoint
        that count refers to; a checkpoint made since (a kill before the state was written) moved
        ``folded`` rows out and ``written`` in.
        """
        if self.fold is None or fold_key == self.fold.key:
            return rows
        return max(rows - self.fold.folded, 0) + self.fold.written


def parse_ledger(rows: Sequence[RawLedgerRow], locations: Sequence[str] = ()) -> ParsedLedger:
    """Parse ledger rows; rows the merchant typed with no Key are manual adjustments.

    A row that cannot be parsed is reported and skipped, but its key still counts as seen so
    that the same order line is never appended twice.  A repeated key counts once.  With
    ``locations``, a blank Location is the first one (entries made before locations were set
    up moved that stock) and an unknown one is a problem.
    """
    place_names = tuple(locations)
    # Lists, not generators: both go over the whole Ledger every cycle, mostly to find it unchanged.
    numbers = tuple([row.row for row in rows])
    cells = tuple([row.cells for row in rows])
    # The very same cells at the same rows parse the same: go on from a recent parse.
    start, seen = _LEDGERS.longest(
        cells, lambda kept: kept[1] == place_names and numbers[: len(kept[0])] == kept[0]
    )
    base = seen[2] if seen is not None else ParsedLedger((), (), 0, frozenset(), ())
    entries = list(base.entries)
    positions = list(base.positions)
    keys = set(base.keys)
    problems = list(base.problems)
    fold = base.fold
    for position in range(start, len(rows)):
        row = rows[position]
        key, entry = _parsed_row(row.row, tuple(row.cells.items()), place_names)
        if key in keys:
            continue
        keys.add(key)
        if isinstance(entry, str):
            problems.append(f"Ledger row {row.row}: {entry}; the row is not counted")
            continue
        entries.append(entry)
        positions.append(position)
        if entry.movement is Movement.CARRY and not entry.sku and entry.channel is None:
            fold = Fold(entry.key, entry.delta, position + 1, entry.at)
    result = ParsedLedger(tuple(entries), tuple(positions), len(rows), frozenset(keys), tuple(problems), fold)
    _LEDGERS.keep(cells, (numbers, place_names, result))
    return result


#: The last parses ``parse_ledger`` made, by the rows' cells: their numbers, the locations, and
#: what they gave.
_LEDGERS: Prefixes[tuple[tuple[int, ...], tuple[str, ...], ParsedLedger]] = Prefixes(2)


@lru_cache(maxsize=PARSE_CACHE)
def _parsed_row(
    number: int, raw: tuple[tuple[str, str], ...], locations: tuple[str, ...]
) -> tuple[str, LedgerEntry | str]:
    """One row's key, and its entry or why it cannot be counted.

    Memoised: the worker reads the same Ledger every cycle, and parsing every row again made
    the ledger the largest cost of a cycle (a row is a pure function of its cells).
    """
    cells = {name: value.strip() for name, value in raw}
    key = cells.get("key", "") or f"manual/row{number}"
    places = {place.casefold(): place for place in locations}
    try:
        return key, _entry(key, cells, places, manual=not cells.get("key"))
    except ValueError as error:
        return key, str(error)


remembered(_parsed_row.cache_clear)


def _entry(key: str, cells: Mapping[str, str], places: Mapping[str, str], *, manual: bool) -> LedgerEntry:
    sku = cells.get("sku", "")
    start = cells.get("movement", "").upper() == Movement.START.value
    carry = cells.get("movement", "").upper() == Movement.CARRY.value and not manual
    if not sku and not start and not carry:
        raise ValueError("SKU is blank")
    if start and not cells.get("channel"):
        raise ValueError("a START row needs the Channel it starts")
    if start and not cells.get("at"):
        raise ValueError("a START row needs its Time, like 2026-11-24T09:30:00Z")
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
    Only entries from the channel's last start line on count: a start line moved back in time
    (``sheetsync sync --since``) is read again from its own cursor.
    """
    newest: str | None = None
    for entry in entries:
        if entry.channel != channel:
            continue
        if entry.movement is Movement.START:
            newest = entry.cursor or None
        elif entry.cursor and (newest is None or entry.cursor > newest):
            newest = entry.cursor
    return newest


#: The Note of a start line, for the merchant reading the Ledger.
START_NOTE = "start line: orders placed on this channel before this time are not counted"
#: Order ids are zero-padded to this width in Shopify and WooCommerce cursors.
_CURSOR_ID_WIDTH = 20


def start_key(channel: ChannelName, moved: datetime | None = None) -> str:
    """The ledger key of ``channel``'s start line: recorded once, and once per move to ``moved``."""
    if moved is None:
        return f"start:{channel}"
    return f"start:{channel}@{moved.astimezone(UTC).strftime(TIMESTAMP_FORMAT)}"


def start_cursor(now: datetime) -> str:
    """A start line's cursor at ``now``: ``2026-03-01T10:00:00Z#00000000000000000000``.

    Shopify and WooCommerce order cursors are the order's update time in this form followed by
    ``#`` and its zero-padded id, so this sorts after every order updated before ``now``'s second
    and before every order updated at or after it.
    """
    return f"{now.astimezone(UTC).strftime(TIMESTAMP_FORMAT)}#{'0' * _CURSOR_ID_WIDTH}"


def start_entry(channel: ChannelName, now: datetime, start: str, *, moved: bool = False) -> LedgerEntry:
    """``channel``'s start line at ``now`` (to the second, as the Ledger shows it), resuming at ``start``.

    ``moved``: the merchant moved an existing start line to ``now``.
    """
    return LedgerEntry(
        key=start_key(channel, now if moved else None),
        sku=Sku(""),
        delta=0,
        movement=Movement.START,
        at=now.astimezone(UTC).replace(microsecond=0),
        channel=channel,
        cursor=start,
        note=START_NOTE,
    )


def starts(entries: Iterable[LedgerEntry]) -> dict[ChannelName, datetime]:
    """Each channel's start line time (its last START row, if it was moved); none before it counts."""
    found: dict[ChannelName, datetime] = {}
    for entry in entries:
        if entry.movement is Movement.START and entry.channel is not None:
            found[entry.channel] = entry.at
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
    *,
    states: Sequence[OrderState] = (),
    odd: Sequence[OddLine] = (),
    archived: ParsedLedger | None = None,
) -> list[LedgerEntry]:
    """The entries to append for ``lines``: each line once, plus the COUNT entries it needs.

    ``counts`` holds the merchant's current count for every SKU and location whose cell parsed.
    A sale takes stock from the first of its channel's locations that has enough (``stock``,
    the available stock before these lines), else from the first; a restock goes to the first.
    Each entry's key is checked on its own, so an append cut short is completed, never doubled.

    ``states`` (polled orders as they stand now) give an EDIT of exactly the difference for
    each order line whose units changed since the ledger recorded it (see ``corrections``).
    A line that cannot be counted (``odd``, or a quantity below 1) gives a CHECK entry that
    moves nothing and names the order, once.  ``archived``: the rows a checkpoint moved out,
    read when an order older than it turned up (its lines are known, its edits corrected).
    """
    route = routing or Routing()
    left = dict(stock or {})
    fresh: list[LedgerEntry] = []
    seen = set(ledger.keys) | (archived.keys if archived else set())
    history = archived.entries if archived else ()

    def add(made: Iterable[LedgerEntry]) -> None:
        for entry in made:
            if entry.key not in seen:
                seen.add(entry.key)
                fresh.append(entry)

    checks = [*odd]
    for line in lines:
        if line.quantity <= 0:
            checks.append(
                OddLine(
                    line.channel,
                    line.order_id,
                    line.line_id,
                    line.sku,
                    str(line.quantity),
                    line.at,
                    line.cursor,
                )
            )
            continue
        sign = -1 if line.movement is Movement.SALE else 1
        add(_moved(line, line.key, line.movement, sign * line.quantity, route, left))
    for line, key, delta in corrections(states, (*history, *ledger.entries, *fresh)):
        add(_moved(line, key, Movement.EDIT, delta, route, left))
    add(_check(line) for line in checks)
    tallies = _tally(ledger.entries)
    moved = {(e.sku, e.location) for e in fresh if e.movement not in _NO_STOCK}
    stamp = now.strftime(TIMESTAMP_FORMAT)
    # A quiet cycle hands the very same counts and tallies on: which places need a count is as before.
    due = _RECOUNTS.answer(
        (counts, tallies),
        frozenset(moved),
        lambda: [
            (place, count)
            for place, count in counts.items()
            if _needs_count(tallies.get(place), count, moving=place in moved)
        ],
    )
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
        for (sku, place), count in due
    ]
    return recounts + fresh


#: ``new_entries``' last places that needed a count.
_RECOUNTS: Same[list[tuple[Place, int]]] = Same()


def _moved(
    line: OrderLine, key: str, movement: Movement, delta: int, route: Routing, left: dict[Place, int]
) -> list[LedgerEntry]:
    """The entries of one order line's movement: on its SKU, or on a bundle and its components."""
    parts = route.parts.get(line.sku)
    if parts is None:
        return [_placed(_line_entry(line, key, line.sku, delta, movement), route, left)]
    made = [_line_entry(line, key, line.sku, delta, movement, "bundle: its components follow")]
    made += [
        _placed(
            _line_entry(line, f"{key}/{sku}", sku, delta * per, Movement.BUNDLE, f"bundle {line.sku}"),
            route,
            left,
        )
        for sku, per in parts.items()
    ]
    return made


def corrections(
    states: Sequence[OrderState], entries: Iterable[LedgerEntry]
) -> list[tuple[OrderLine, str, int]]:
    """The EDIT corrections ``states`` call for: (the line, its key, the stock delta).

    The units the ledger holds for an order line are its SALE plus its EDITs (refund restocks
    are their own entries and do not count here).  When a state says the line takes a different
    number now (0 when the state no longer lists it), the correction is exactly the difference,
    keyed ``<line key>/edit<n>`` with n counting the line's corrections, so the same state read
    twice, or an append retried, records it once.  A line the ledger has no SALE for is left
    alone: its sale was never counted (placed before the start line, or not read yet).
    """
    wanted = {(state.channel, state.order_id) for state in states}
    if not wanted:
        return []
    held: dict[tuple[ChannelName, str], dict[str, list[int]]] = defaultdict(dict)  # line → [units, edits]
    skus: dict[tuple[ChannelName, str, str], Sku] = {}
    for entry in entries:
        if entry.channel is None or (entry.channel, entry.order_id) not in wanted:
            continue
        if entry.movement is Movement.SALE:
            lines = held[(entry.channel, entry.order_id)]
            lines.setdefault(entry.line_id, [0, 0])[0] -= entry.delta
            skus[(entry.channel, entry.order_id, entry.line_id)] = entry.sku
        elif entry.movement is Movement.EDIT:
            tally = held[(entry.channel, entry.order_id)].setdefault(entry.line_id, [0, 0])
            tally[0] -= entry.delta
            tally[1] += 1
    found = []
    for state in states:
        for line_id, tally in held.get((state.channel, state.order_id), {}).items():
            sku = skus.get((state.channel, state.order_id, line_id))
            now_units = state.units.get(line_id, 0)
            if sku is None or now_units == tally[0]:
                continue
            line = OrderLine(
                state.channel,
                state.order_id,
                line_id,
                sku,
                abs(now_units - tally[0]),
                Movement.EDIT,
                state.at,
                state.cursor,
            )
            found.append((line, f"{line.key}/edit{tally[1] + 1}", tally[0] - now_units))
            tally[0], tally[1] = now_units, tally[1] + 1
    return found


def _check(line: OddLine) -> LedgerEntry:
    """The CHECK entry of a line we cannot count: it moves nothing and says what to do."""
    return LedgerEntry(
        key=f"{line.channel}/{line.order_id}/{line.line_id}/check",
        sku=line.sku,
        delta=0,
        movement=Movement.CHECK,
        at=line.at,
        channel=line.channel,
        order_id=line.order_id,
        line_id=line.line_id,
        cursor=line.cursor,
        note=odd_reason(line.quantity),
    )


def odd_reason(quantity: str) -> str:
    """Why an order line's ``quantity`` was not counted, and what the merchant does about it."""
    shown = quantity.strip()[:20] or "blank"
    if _DELTA.fullmatch(shown) and int(shown) <= 0:
        why = f"quantity {shown} is not a sale of at least 1 unit"
    else:
        why = f'quantity "{shown}" is not a whole number of units'
    return f"{why}: not counted; correct the order on the platform, or add an ADJUST row with the units"


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
    was blank or broken); each later COUNT is a recount and starts afresh.  A fold goes on from
    the longest recent fold whose entries begin these (the Ledger mostly grows at its end): a
    left fold, so the same as folding from the first entry.  Callers only read the tallies.
    """
    given = tuple(entries)
    start, base = _FOLDS.longest(given)
    if base is not None and start == len(given):
        return base  # the very same entries: the very same tallies (a quiet cycle's)
    result: dict[Place, _Tally] = dict(base or {})
    mine: set[Place] = set()  # tallies copied from ``base`` before this fold changed them
    for entry in given[start:]:
        if entry.movement in _NO_STOCK or not entry.sku:
            continue
        place = (entry.sku, entry.location)
        if place not in mine:
            mine.add(place)
            was = result.get(place)
            result[place] = (
                _Tally() if was is None else _Tally(was.counts, was.latest, was.running, was.moved)
            )
        tally = result[place]
        if entry.movement is Movement.COUNT:
            tally.counts += 1
            tally.latest = entry.delta
            if tally.counts > 1:
                tally.running, tally.moved = 0, False
        else:
            tally.running += entry.delta
            tally.moved = True
    _FOLDS.keep(given, result)
    return result


#: The last few folds ``_tally`` made (a cycle folds the Ledger, the part the cells absorbed, ...).
_FOLDS: Prefixes[dict[Place, _Tally]] = Prefixes(4)


def available(counts: Mapping[Place, int], entries: Iterable[LedgerEntry]) -> dict[Place, int]:
    """Available stock per SKU and location: the count plus the movements that count against it.

    The very same counts and Ledger give the very same answer (a quiet cycle's): callers only read it.
    """
    tallies = _tally(entries)
    return _AVAILABLE.answer(
        (counts, tallies),
        None,
        lambda: {
            place: count + (tallies[place].running if place in tallies else 0)
            for place, count in counts.items()
        },
    )


#: ``available``'s last answer.
_AVAILABLE: Same[dict[Place, int]] = Same()


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


@dataclass(frozen=True, slots=True)
class RecentSales:
    """What the adaptive buffer reads from the Ledger's sales (``recent_sales``)."""

    #: units sold a second of each SKU on each channel
    velocity: dict[tuple[ChannelName, Sku], float]
    #: the most units one order line took on each channel over the last ``SHARE_WINDOW_S``
    largest: dict[ChannelName, int]


def recent_sales(
    entries: Iterable[LedgerEntry], now: datetime, windows: Sequence[float] = VELOCITY_WINDOWS_S
) -> RecentSales:
    """Each SKU's sales rate on each channel, and each channel's largest order line, at ``now``.

    The rate is the higher of two estimates: the SKU's own rate on the channel over each of
    ``windows``, and the shop's rate over the last ``POOLED_WINDOW_S`` times the pair's share of
    the last ``SHARE_WINDOW_S``.  Sales stamped after ``now`` do not count yet.

    The worker asks every cycle, of a Ledger a few rows longer: the last call's sales are kept
    sorted by time, and only the SKUs and channels whose sales came, went or crossed a window's
    edge since are worked out again (a whole Ledger a cycle was a tenth of a busy day's work).
    """
    items, spans = tuple(entries), tuple(windows)
    sales = _SALES.take()
    if sales is None or sales.windows != spans:
        sales = _Sales(spans)
    kept = shared(sales.seen, items)
    if 2 * kept < len(sales.seen):  # replaced (a checkpoint): afresh costs less than undoing most
        sales, kept = _Sales(spans), 0
    answer = sales.update(items, kept, now)
    _SALES.give(sales)
    return answer


@dataclass(slots=True)
class _Run(Generic[T]):
    """Sales sorted by time, ties in the order added: when, how many units, which entry."""

    times: list[datetime] = field(default_factory=list)
    units: list[int] = field(default_factory=list)
    tags: list[T] = field(default_factory=list)

    def add(self, at: datetime, units: int, tag: T) -> None:
        i = bisect_right(self.times, at)
        self.times.insert(i, at)
        self.units.insert(i, units)
        self.tags.insert(i, tag)

    def drop(self, at: datetime, tag: T) -> None:
        i = self.tags.index(tag, bisect_left(self.times, at))
        del self.times[i], self.units[i], self.tags[i]

    def cut(self, edge: datetime | None) -> int:
        """How many of these sales are before ``edge`` (None: after every one)."""
        return len(self.times) if edge is None else bisect_left(self.times, edge)


#: A sale's entry: its index in the Ledger, its channel and SKU.
_Sale = tuple[int, ChannelName, Sku]


class _Sales:
    """``recent_sales``' work kept for its next call: the sales of ``seen``, and their figures."""

    def __init__(self, windows: tuple[float, ...]) -> None:
        self.windows = windows
        self.longest = max(*windows, SHARE_WINDOW_S)
        self.seen: tuple[LedgerEntry, ...] = ()
        self.all: _Run[_Sale] = _Run()
        #: a pair's or a channel's sales, tagged with their entries' indexes
        self.pairs: dict[tuple[ChannelName, Sku], _Run[int]] = defaultdict(_Run)
        self.channels: dict[ChannelName, _Run[int]] = defaultdict(_Run)
        #: each window's edges at the last call: the first sale at or past each (None: past all)
        self.edges: tuple[datetime | None, ...] = ()
        #: pair → the index of its first entry in the longest window, its own rate, its units there
        self.rates: dict[tuple[ChannelName, Sku], tuple[int, float, int]] = {}
        #: channel → the index of its first entry in the last day, its largest order line there
        self.largest: dict[ChannelName, tuple[int, int]] = {}

    def update(self, entries: tuple[LedgerEntry, ...], kept: int, now: datetime) -> RecentSales:
        """The answer for ``entries`` at ``now``, the first ``kept`` of them the last call's."""
        touched: set[_Sale] = set()
        for position in range(kept, len(self.seen)):  # the last call's entries that are gone
            entry = self.seen[position]
            if entry.movement is Movement.SALE and entry.channel is not None:
                sale = (position, entry.channel, entry.sku)
                self.all.drop(entry.at, sale)
                self.pairs[(entry.channel, entry.sku)].drop(entry.at, position)
                self.channels[entry.channel].drop(entry.at, position)
                touched.add(sale)
        for position in range(kept, len(entries)):
            entry = entries[position]
            if entry.movement is Movement.SALE and entry.channel is not None:
                sale = (position, entry.channel, entry.sku)
                self.all.add(entry.at, -entry.delta, sale)
                self.pairs[(entry.channel, entry.sku)].add(entry.at, -entry.delta, position)
                self.channels[entry.channel].add(entry.at, -entry.delta, position)
                touched.add(sale)
        self.seen = entries
        # Each window's edges among the sales, by the very tests a pass made of each sale (ages
        # compared as floats, the last day's edges as times): exactly the same sales are inside.
        times = self.all.times
        ahead = bisect_left(times, True, key=partial(_ahead, now))
        inside = [
            bisect_left(times, True, key=partial(_within, now, w)) for w in (self.longest, *self.windows)
        ]
        since = now - timedelta(seconds=SHARE_WINDOW_S)
        cuts = (ahead, *inside, bisect_left(times, since), bisect_right(times, now))
        # A sale that crossed an edge since the last call changes its pair's and channel's figures.
        for before, after in zip(map(self.all.cut, self.edges), cuts, strict=False):
            touched.update(self.all.tags[min(before, after) : max(before, after)])
        self.edges = tuple(times[cut] if cut < len(times) else None for cut in cuts)
        self._rates({(channel, sku) for _, channel, sku in touched})
        self._largest({channel for _, channel, _ in touched})
        pooled = bisect_left(times, True, key=partial(_within, now, POOLED_WINDOW_S))
        total = sum(self.all.units[inside[0] : ahead])
        # No share of the shop's rate when hand-typed sales (0 units, or +1 and -1) add up to none.
        shop_rate = sum(self.all.units[pooled:ahead]) / POOLED_WINDOW_S if total > 0 else 0.0
        return RecentSales(
            {
                pair: max(own, units / max(total, 1) * shop_rate)
                for pair, (_, own, units) in self.rates.items()
            },
            {
                channel: most
                for channel, (_, most) in sorted(self.largest.items(), key=lambda item: item[1][0])
            },
        )

    def _rates(self, pairs: Iterable[tuple[ChannelName, Sku]]) -> None:
        upper, longest, *own, _, _ = self.edges
        moved = False
        for pair in pairs:
            run = self.pairs[pair]
            start, stop = run.cut(longest), run.cut(upper)
            if start >= stop:
                self.rates.pop(pair, None)
                continue
            units = run.units
            rate = max(
                sum(units[run.cut(edge) : stop]) / w for w, edge in zip(self.windows, own, strict=True)
            )
            figures = (min(run.tags[start:stop]), rate, sum(units[start:stop]))
            moved |= pair not in self.rates or self.rates[pair][0] != figures[0]
            self.rates[pair] = figures
        if moved:  # in the order of each pair's first sale in the window, as a pass gave them
            self.rates = dict(sorted(self.rates.items(), key=lambda item: item[1][0]))

    def _largest(self, channels: Iterable[ChannelName]) -> None:
        *_, day, today = self.edges
        for channel in channels:
            run = self.channels[channel]
            start, stop = run.cut(day), run.cut(today)
            if start >= stop:
                self.largest.pop(channel, None)
            else:
                self.largest[channel] = (min(run.tags[start:stop]), max(1, *run.units[start:stop]))


def _ahead(now: datetime, at: datetime) -> bool:
    """Whether a sale at ``at`` is stamped after ``now``, tested as a pass over the Ledger did."""
    return (now - at).total_seconds() < 0


def _within(now: datetime, seconds: float, at: datetime) -> bool:
    """Whether a sale at ``at`` is at most ``seconds`` old at ``now``, tested as a pass did."""
    return (now - at).total_seconds() <= seconds


#: ``recent_sales``' work, for its next call.
_SALES: Lent[_Sales] = Lent()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The Ledger's first ``folded`` rows, and the rows that replace them (``ArchivingStore``)."""

    folded: int
    entries: tuple[LedgerEntry, ...]


def checkpoint(
    ledger: ParsedLedger, now: datetime, keep_days: int = KEEP_DAYS, fold_at: int = FOLD_AT
) -> Checkpoint | None:
    """Fold the Ledger's oldest rows into a few, once ``fold_at`` of them are older than ``keep_days``.

    The folded rows are the longest run from the top that are all older than the horizon (a
    hand-typed row without a time counts as old) and all readable: a row we could not parse
    stops the run, so it is never folded unread.  They are replaced by, in order: per SKU and
    location, its latest COUNT and a CARRY of the movements since; per channel, its last start
    line and a CARRY holding where its orders were read to; last, the marker (``Fold``).
    Available stock, recounts and cursors come out the same from the new rows as from the old.
    """
    if ledger.size < fold_at:  # every cycle asks: answer the usual case without a pass
        return None
    horizon = (now - timedelta(days=keep_days)).astimezone(UTC).replace(microsecond=0)
    parsed = dict(zip(ledger.positions, ledger.entries, strict=True))
    folded = 0
    while folded in parsed and parsed[folded].at < horizon:  # an unreadable row stops the run
        folded += 1
    if folded < fold_at:
        return None
    old = [parsed[p] for p in range(folded)]
    stamp = horizon.strftime(TIMESTAMP_FORMAT)
    rows: list[LedgerEntry] = []
    for (sku, place), tally in sorted(_tally(old).items()):
        where = f"{sku}@{place}" if place else sku
        if tally.latest is not None:
            rows.append(
                LedgerEntry(
                    f"checkpoint/{stamp}/count/{where}",
                    sku,
                    tally.latest,
                    Movement.COUNT,
                    horizon,
                    note="the count before the checkpoint",
                    location=place,
                )
            )
        if tally.moved:
            rows.append(
                LedgerEntry(
                    f"checkpoint/{stamp}/carry/{where}",
                    sku,
                    tally.running,
                    Movement.CARRY,
                    horizon,
                    note="the movements before the checkpoint, in one",
                    location=place,
                )
            )
    for channel in sorted({e.channel for e in old if e.channel is not None}):
        last = next((e for e in reversed(old) if e.channel == channel and e.movement is Movement.START), None)
        if last is not None:
            rows.append(last)
        read_to = cursor(old, channel)
        if read_to:
            rows.append(
                LedgerEntry(
                    f"checkpoint/{stamp}/read/{channel}",
                    Sku(""),
                    0,
                    Movement.CARRY,
                    horizon,
                    channel,
                    cursor=read_to,
                    note="where this channel's orders were read to before the checkpoint",
                )
            )
    rows.append(
        LedgerEntry(
            f"checkpoint/{stamp}",
            Sku(""),
            folded,
            Movement.CARRY,
            horizon,
            note=f"checkpoint: {folded} rows from before {stamp} are in the Ledger archive, folded above",
        )
    )
    return Checkpoint(folded, tuple(rows))
