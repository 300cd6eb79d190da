"""What a per-row computation worked out on its last call, kept for the next.

A cycle reads the whole master and works every row out again, yet from one cycle to the next
most rows are as they were.  The Inventory's parser keeps each row's result by its place with
the cells it was worked out from, and reuses it for equal cells (``Places``); the Ledger's
memoises by a row's cells (``functools.lru_cache``); the later stages take rows that are objects
without a value to hash (they hold dicts), so they keep each result by the object's identity
with the inputs it was worked out from, and reuse it only for the very same object and equal
inputs.  Each call keeps only its own rows: memory stays that
of one cycle, and a row that went away is forgotten at the next call.  A fold over the Ledger,
which mostly grows at its end, goes on from a recent fold of the entries it begins with
(``Prefixes``).  A whole stage given the very same items as last time, and equal values, gives
its last answer (``Same``): a quiet cycle reads the same rows again, and so skips its passes.
A memo that its call changes in place is lent to one call at a time (``Lent``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from operator import is_
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
E = TypeVar("E")

#: How to clear each memo of rows a cycle keeps for the next (``remembered``).
_CLEARS: list[Callable[[], None]] = []


def remembered(clear: Callable[[], None]) -> None:
    """Register a memo's ``clear``, so that ``forget`` empties it."""
    _CLEARS.append(clear)


def forget() -> None:
    """Forget every row remembered: the next cycle works everything out, as a fresh worker does.

    For a benchmark that times a whole cycle; a worker never needs it.
    """
    for clear in _CLEARS:
        clear()


class _Calls(Generic[E]):
    """Entries by place from the last call in the same context (``LastCall``, ``Places``)."""

    def __init__(self) -> None:
        # One attribute, read and set whole: the sale fast path plans on its own thread.
        self._last: tuple[Hashable, dict[int, E]] = (None, {})
        remembered(self.forget)

    def forget(self) -> None:
        """Keep nothing for the next call."""
        self._last = (None, {})

    def _begin(self, context: Hashable) -> tuple[dict[int, E], dict[int, E]]:
        """The previous call's entries in an equal context (else none), and a place for this one's."""
        kept_context, kept = self._last
        previous = kept if context == kept_context else {}
        fresh: dict[int, E] = {}
        self._last = (context, fresh)
        return previous, fresh


class LastCall(_Calls[tuple[T, K, V]]):
    """Results by item, from the last call made in the same context.

    ``begin`` starts a call: what the previous call kept is offered only if its ``context`` (the
    inputs every row shares) is equal; otherwise every row is worked out afresh.
    """

    def begin(self, context: Hashable) -> Round[T, K, V]:
        """A new call: results from the previous one in an equal context, and a place for this one's."""
        return Round(*self._begin(context))


class Round(Generic[T, K, V]):
    """One call's view: look a row up among the previous call's, keep this call's."""

    __slots__ = ("_fresh", "_previous")

    def __init__(self, previous: dict[int, tuple[T, K, V]], fresh: dict[int, tuple[T, K, V]]) -> None:
        self._previous, self._fresh = previous, fresh

    def get(self, item: T, key: K) -> V | None:
        """The result kept for this very ``item`` worked out from an equal ``key``; None if none."""
        hit = self._previous.get(id(item))
        if hit is not None and hit[0] is item and hit[1] == key:
            return hit[2]
        return None

    def keep(self, item: T, key: K, value: V) -> V:
        """Keep ``value`` for the next call (the item is held, so its identity stays its own)."""
        self._fresh[id(item)] = (item, key, value)
        return value


class Places(_Calls[tuple[K, V]]):
    """Results by place (a row's number), from the last call made in the same context.

    For inputs read afresh each cycle, whose identity says nothing: a place's result is reused
    when its input is equal to the one it was worked out from.  Only the last call's are kept, so
    a row edited since is not held twice, and the input is held rather than a copy made to key it.
    """

    def begin(self, context: Hashable) -> PlacesRound[K, V]:
        """A new call: results from the previous one in an equal context, and a place for this one's."""
        return PlacesRound(*self._begin(context))


class PlacesRound(Generic[K, V]):
    """One call's view of ``Places``."""

    __slots__ = ("_fresh", "_previous")

    def __init__(self, previous: dict[int, tuple[K, V]], fresh: dict[int, tuple[K, V]]) -> None:
        self._previous, self._fresh = previous, fresh

    def answer(self, place: int, key: K, work: Callable[[], V]) -> V:
        """The result kept at ``place`` for an equal ``key``, or ``work``'s; kept for the next call."""
        hit = self._previous.get(place)
        # The very same input first: records() hands an unchanged row on as the same dict.
        value = hit[1] if hit is not None and (hit[0] is key or hit[0] == key) else work()
        self._fresh[place] = (key, value)
        return value


class Prefixes(Generic[V]):
    """The last few results of a left fold, by the very items folded.

    A sequence that begins with the same objects as one folded before goes on from that fold's
    result (the longest such, among those ``fits`` accepts): a left fold of the rest gives what
    folding from the first item would.
    """

    def __init__(self, kept: int) -> None:
        self._kept: deque[tuple[tuple[object, ...], V]] = deque(maxlen=kept)
        remembered(self._kept.clear)

    def longest(
        self, items: tuple[object, ...], fits: Callable[[V], bool] | None = None
    ) -> tuple[int, V | None]:
        """How many of ``items`` a kept fold covers, and its result; (0, None) if none does."""
        start, found = 0, None
        for seen, value in list(self._kept):  # a copy: another thread may keep one meanwhile
            size = len(seen)
            if (
                start < size <= len(items)
                and items[size - 1] is seen[-1]
                and all(map(is_, seen, items))
                and (fits is None or fits(value))
            ):
                start, found = size, value
        return start, found

    def keep(self, items: tuple[object, ...], value: V) -> None:
        """Keep the fold of ``items`` for the next calls (an empty one is nothing to go on from)."""
        if items:
            self._kept.append((items, value))


class Same(Generic[V]):
    """A stage's last answer, for a call with the very same items, in order, and equal values.

    Items are compared by identity (rows the stage before handed on unchanged are the very same
    objects), values by equality.  Only the last call is kept.
    """

    def __init__(self) -> None:
        # One attribute, read and set whole: the sale fast path plans on its own thread.
        self._last: tuple[tuple[object, ...], object, V] | None = None
        remembered(self.forget)

    def forget(self) -> None:
        """Keep nothing for the next call."""
        self._last = None

    def get(self, items: Sequence[object], values: object) -> V | None:
        """The last answer, if it was given for these very items and equal values; else None."""
        last = self._last
        if last is None:
            return None
        kept, kept_values, answer = last
        if values != kept_values:
            return None
        # The very same tuple (a stage handing on what it was given) needs no pass over its items.
        if items is not kept and (len(items) != len(kept) or not all(map(is_, items, kept))):
            return None
        return answer

    def keep(self, items: Sequence[object], values: object, answer: V) -> V:
        """Keep ``answer`` for a next call with these items and values (the items are held)."""
        self._last = (tuple(items), values, answer)
        return answer

    def gave(self, answer: object) -> bool:
        """Whether ``answer`` is the very answer kept last: a later call may give it again."""
        last = self._last
        return last is not None and last[2] is answer

    def answer(self, items: Sequence[object], values: object, work: Callable[[], V]) -> V:
        """The last answer for these very items and equal values, or ``work``'s, kept."""
        same = self.get(items, values)
        return same if same is not None else self.keep(items, values, work())


class Lent(Generic[V]):
    """One working state kept from call to call, which a call changes in place.

    A call takes it and gives it back when done: a call meanwhile (the sale fast path's thread)
    gets none and starts afresh, so no two calls ever change it at once.
    """

    def __init__(self) -> None:
        self._kept: list[V] = []
        remembered(self._kept.clear)

    def take(self) -> V | None:
        """The state the last call gave back, now this call's alone; None if there is none."""
        try:
            return self._kept.pop()  # one step: two calls never take the same state
        except IndexError:
            return None

    def give(self, state: V) -> None:
        """Keep ``state`` for the next call."""
        self._kept[:] = (state,)


def shared(kept: Sequence[object], items: Sequence[object]) -> int:
    """How many items ``kept`` and ``items`` begin with alike (equal, usually the very same).

    Searched from the end: a sequence that mostly grows at its end usually differs only there.
    """
    good, bad, step = 0, min(len(kept), len(items)) + 1, 1
    while bad - good > 1:  # kept[:good] == items[:good], and not so for bad
        mid = max(bad - step, (good + bad) // 2)
        if kept[:mid] == items[:mid]:
            good = mid
        else:
            bad, step = mid, step * 2
    return good
