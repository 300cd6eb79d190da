"""The sale fast path: a sale delivered by webhook lowers every channel at once, between cycles.

A cycle reads the whole master, polls orders and reads channels back: seconds, minutes during an
audit.  A sale cannot wait for it.  When a delivery arrives, ``FastPath`` plans the SKUs it
touches on what the last cycle planned (``core.sales``) and pushes the channels left above their
target, all channels concurrently, each on its quickest path (``QuickPush``).  It only lowers:
the next cycle, which a delivery also asks for, reads the master, counts the sale in the Ledger
and reconciles everything else.

The two take turns per channel: a cycle pushes a channel holding that channel's lock, and caps
its own targets by the sales delivered since it read its orders (``pushing``), so a cycle
planned before a sale never pushes back what the fast path lowered.  What the fast path pushed
is handed to the next cycle (``take``): it is what the channel shows now, and a push the cycle
watches for, not a change made behind our back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sheetsync.channels import Channel, QuickPush
from sheetsync.core.codes import Codes
from sheetsync.core.sales import Basis, Shown, lowered, own_sales, targets
from sheetsync.errors import SyncError
from sheetsync.model import ChannelName, Movement, OrderLine, PushOutcome, Sku, StockLevel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FastPush:
    """A quantity the fast path set on a channel, for the next cycle to take in."""

    channel: ChannelName
    sku: Sku
    quantity: int
    before: int | None  #: what we believed the channel showed before it
    at: float  #: when the channel accepted it (epoch seconds)
    #: the keys of the channel's own sales of the SKU that the quantity already allows for
    seen: frozenset[str]


class FastPath:
    """Pushes what each delivered sale lowers, to every channel at once (thread-safe).

    ``clock`` gives epoch seconds (what the watches keep time in).  Until a cycle has left a
    basis (``rebase``), sales are only remembered: the first cycle pushes them.
    """

    def __init__(self, channels: Sequence[Channel], clock: Callable[[], float] = time.time) -> None:
        self._channels = {channel.name: channel for channel in channels}
        self._clock = clock
        self._state = threading.Lock()  # guards everything below; never held during a call out
        self._turns = {name: threading.Lock() for name in self._channels}  # one pusher per channel
        # A thread per channel: a channel busy with a cycle's push never holds up the others.
        self._pools = {
            name: ThreadPoolExecutor(1, thread_name_prefix=f"fastpath {name}") for name in self._channels
        }
        self._queued: set[ChannelName] = set()  #: channels with a push waiting to start
        self._basis: Basis | None = None
        self._codes = Codes()
        self._shown: dict[tuple[ChannelName, Sku], int] = {}
        self._late: dict[str, OrderLine] = {}  #: sales delivered that the basis does not count, by key
        self._pushes: list[FastPush] = []
        self._running: list[Future[None]] = []

    def close(self) -> None:
        """Let pushes under way finish; start no more."""
        for pool in self._pools.values():
            pool.shutdown(wait=True)

    def sale(self, lines: Sequence[OrderLine]) -> list[Future[None]]:
        """Take in a delivery's lines and start pushing what they lower on each channel.

        A channel with a push already waiting to start gets no other: that one pushes every
        sale delivered by the time it starts.
        """
        with self._state:
            fresh = [  # as our rows call the SKU: a channel may use its own code (``SKU <Channel>``)
                replace(line, sku=self._codes.ours(line.channel, line.sku))
                for line in lines
                if line.movement is Movement.SALE and line.key not in self._late
            ]
            self._late.update((line.key, line) for line in fresh)
            self._shown = own_sales(self._shown, fresh)
            if not fresh or self._basis is None:
                return []
            idle = [name for name in self._channels if name not in self._queued]
            self._queued.update(idle)
            started = [self._pools[name].submit(self._lower, name) for name in idle]
            self._running = [f for f in self._running if not f.done()] + started
        return started

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the pushes started so far to end (tests, benchmarks, a clean shutdown)."""
        with self._state:
            running = list(self._running)
        wait(running, timeout)

    def take(self) -> list[FastPush]:
        """The pushes made so far, for the cycle starting now (``put_back`` if it fails)."""
        with self._state:
            pushes, self._pushes = self._pushes, []
            return pushes

    def put_back(self, pushes: Sequence[FastPush]) -> None:
        """Return pushes a failed cycle took; those since come after them."""
        with self._state:
            self._pushes[:0] = pushes

    def rebase(self, basis: Basis, codes: Codes, shown: Shown, counted: frozenset[str]) -> None:
        """A cycle's plan is the new basis; ``counted`` are the order line keys its Ledger holds.

        ``shown`` is what the cycle believes each channel shows before it pushes; the sales it
        did not count yet are applied to it again, and the fast pushes it did not take in.
        """
        with self._state:
            self._late = {key: line for key, line in self._late.items() if key not in counted}
            self._basis, self._codes = basis, codes
            after = own_sales(shown, self._late.values())
            for push in self._pushes:  # made since the cycle took its own: it does not know them
                unseen = sum(
                    line.quantity
                    for line in self._late.values()
                    if (line.channel, line.sku) == (push.channel, push.sku) and line.key not in push.seen
                )
                after[(push.channel, push.sku)] = max(push.quantity - unseen, 0)
            self._shown = after

    @contextmanager
    def pushing(self, name: ChannelName) -> Iterator[Mapping[Sku, int]]:
        """A cycle's turn on ``name``: the caps the sales since its read put on its targets.

        No sale is pushed to ``name`` meanwhile; the cycle reports what it pushed (``pushed``).
        """
        with self._turns[name]:
            with self._state:
                basis, late = self._basis, list(self._late.values())
            caps = targets(basis, late).get(name, {}) if basis is not None and late else {}
            yield caps

    def pushed(self, name: ChannelName, accepted: Mapping[Sku, int]) -> None:
        """What a cycle's push set on ``name`` (inside ``pushing``): it supersedes earlier pushes."""
        with self._state:
            self._shown.update(((name, sku), quantity) for sku, quantity in accepted.items())
            self._pushes = [p for p in self._pushes if p.channel != name or p.sku not in accepted]

    def _lower(self, name: ChannelName) -> None:
        """Push to ``name`` what the sales since the basis leave above target."""
        channel = self._channels[name]
        with self._turns[name]:
            with self._state:
                self._queued.discard(name)
                if self._basis is None:
                    return
                late = list(self._late.values())
                levels = lowered(self._basis, late, self._shown).get(name, [])
                codes = self._codes
            if not levels:
                return
            try:
                outcomes = _send(channel, levels, codes)
            except SyncError as error:  # the cycle the sale asked for pushes it again
                log.warning("%s: sale not pushed at once, the next cycle will: %s", name, error)
                return
            at = self._clock()
            with self._state:
                for level in levels:
                    outcome = outcomes.get(level.sku)
                    if outcome is None or not outcome.ok:
                        continue
                    seen = frozenset(
                        line.key for line in late if line.channel == name and line.sku == level.sku
                    )
                    self._shown[(name, level.sku)] = level.quantity
                    self._pushes.append(FastPush(name, level.sku, level.quantity, level.expected, at, seen))


def _send(channel: Channel, levels: Sequence[StockLevel], codes: Codes) -> dict[Sku, PushOutcome]:
    """Push ``levels`` on the channel's quickest path, each SKU as the channel calls it."""
    theirs = [replace(level, sku=codes.theirs(channel.name, level.sku)) for level in levels]
    send = channel.push_now if isinstance(channel, QuickPush) else channel.push
    return {codes.ours(channel.name, o.sku): o for o in send(theirs)}
