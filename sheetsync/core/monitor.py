"""Discrepancy detection and lag measurement: what we pushed against what a channel shows.

Per channel the worker remembers each push not yet seen on the channel (``Pending``), lag
samples of the last hour, and SKUs whose channel figure disagrees with ours while no push is
pending.  Each cycle compares, per SKU, what we believe the channel shows (our last push plus
the channel's own sales since), what it reports now, and how long ago we pushed:

- LAG: we pushed, and after the channel's threshold it still shows what it showed before (the
  push has not landed);
- DRIFT: no push of ours is on its way, yet the channel shows another number: someone changed
  it on the platform.  More than we set is flagged at once (it can oversell); less than we set
  waits one threshold for order lines not ingested yet.  A push still unseen after the
  threshold while the channel shows neither it nor what was there before is DRIFT too: an edit
  on the platform overtook it, and waiting longer would leave the row LAG for ever.

A channel that cannot report quantities (Google Merchant without a store code: only in or out
of stock) confirms nothing: its pushes are never pending (``reports=False``).

Pure functions: times are epoch seconds passed in.
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sheetsync.model import Sku

#: Lag samples older than this no longer count toward p50 / p95.
WINDOW_S = 3600.0
#: What a channel's remembered state may hold (a State cell has room for a few hundred entries).
MAX_PENDING = 300
MAX_SAMPLES = 200


class FindingKind(StrEnum):
    """A channel figure that does not match ours."""

    LAG = "LAG"
    DRIFT = "DRIFT"


#: Unseen pushes remembered per SKU: the first (the lag clock runs from it) and the newest.
MAX_HISTORY = 4


@dataclass(frozen=True, slots=True)
class Pending:
    """Pushes of one SKU the channel has not shown yet, oldest first: (quantity, pushed at)."""

    pushes: tuple[tuple[int, float], ...]
    #: what the channel showed before the oldest of these pushes (None: not known)
    before: int | None = None

    @property
    def quantity(self) -> int:
        """The latest quantity pushed."""
        return self.pushes[-1][0]

    @property
    def first(self) -> float:
        """When the oldest unseen push went out."""
        return self.pushes[0][1]

    def then(self, quantity: int, at: float) -> Pending:
        """With one more push; the oldest is kept so a channel that shows nothing still ages."""
        pushes = (*self.pushes, (quantity, at))
        if len(pushes) > MAX_HISTORY:
            pushes = (pushes[0], *pushes[-(MAX_HISTORY - 1) :])
        return Pending(pushes, self.before)

    def seen(self, shown: int, believed: int | None) -> tuple[float, Pending | None] | None:
        """If ``shown`` is one of these pushes: when it went out, and the pushes still unseen.

        The oldest push with that figure is taken (the ones after it may still surface). What we
        believe the channel shows (the push less its own sales since) also counts, but only for
        a single push: with a backlog, a figure an older push left behind can look the same.
        So can the figure from before a backlog: a channel that shows it still shows it, as far
        as anyone can tell, and every push of the backlog may still surface (it lands in order).
        """
        if len(self.pushes) > 1 and self.unlanded(shown, believed):
            return None
        for index, (quantity, at) in enumerate(self.pushes):
            if quantity == shown:
                rest = self.pushes[index + 1 :]
                return at, Pending(rest, quantity) if rest else None
        if shown == believed and len(self.pushes) == 1:
            return self.pushes[0][1], None
        return None

    def unlanded(self, shown: int, believed: int | None) -> bool:
        """Whether ``shown`` is what the channel showed before these pushes (less its sales since).

        Our belief is the latest push less the channel's own sales since, so the figure from
        before, less the same sales, is ``before + believed - quantity``.  Not knowing what was
        there before (a first sync, or a watch saved by an older version), nothing is explained.
        """
        if self.before is None:
            return False
        moved = 0 if believed is None else believed - self.quantity
        return shown in (self.before, max(self.before + moved, 0))


@dataclass(frozen=True, slots=True)
class Finding:
    """One SKU on one channel that does not match."""

    kind: FindingKind
    shown: int | None  #: None: the channel does not show the SKU at all yet
    message: str


@dataclass(frozen=True, slots=True)
class Watch:
    """What the worker remembers about one channel from cycle to cycle."""

    pending: Mapping[Sku, Pending] = field(default_factory=dict)
    samples: tuple[tuple[float, float], ...] = ()  #: (seen at, lag seconds), oldest first
    mismatch: Mapping[Sku, float] = field(default_factory=dict)  #: SKU → disagreeing since
    last_ok: float | None = None  #: the last cycle that reached the channel without an error
    audited: float | None = None  #: when the audit last read a slice (None: it never has)
    audit_mark: str = ""  #: the last SKU the audit read: the next slice starts after it
    #: SKU → when it was last pushed, kept for the channel's max_lag: its figure is read back
    #: that long, since a push from a backlog can surface after a same-looking figure seemed
    #: to confirm it (and overwrite a sale the channel made meanwhile)
    recent: Mapping[Sku, float] = field(default_factory=dict)

    def in_flight(self) -> dict[Sku, int]:
        """Per SKU, the most the channel may show until its pushes land.

        Any of them, or the figure it showed before them: it still shows that until they land.
        """
        return {
            sku: max(push.before or 0, *(quantity for quantity, _ in push.pushes))
            for sku, push in self.pending.items()
        }


def observe(
    watch: Watch,
    believed: Mapping[Sku, int | None],
    shown: Mapping[Sku, int],
    now: float,
    max_lag: float,
    read: Collection[Sku] | None = None,
    reports: bool = True,
) -> tuple[Watch, dict[Sku, Finding]]:
    """Compare what the channel ``shown`` for the SKUs ``read`` this cycle with what we ``believed``.

    ``read`` defaults to the SKUs in ``shown``; one read but absent is not listed yet.  A pending
    push counts as seen when the channel shows the quantity pushed, or what we believe it shows
    since (the channel sold meanwhile); the time since the push is a lag sample.  Past
    ``max_lag``, a push the channel does not show is LAG while the channel still shows what it
    showed before, else DRIFT (the push is forgotten: the row is set back, and that push is
    watched afresh).  A channel that cannot report quantities (``reports`` False) has nothing
    pending, drifting or to read back, and finds nothing.
    """
    if not reports:
        return _blind(watch), {}
    pending, mismatch = dict(watch.pending), dict(watch.mismatch)
    samples = list(watch.samples)
    findings: dict[Sku, Finding] = {}
    for sku in shown.keys() if read is None else read:
        ours, now_shown = believed.get(sku), shown.get(sku)
        push = pending.get(sku)
        if push is not None:
            seen = None if now_shown is None else push.seen(now_shown, ours)
            if seen is not None:
                samples.append((now, now - seen[0]))
                push = seen[1]
                if push is None:
                    del pending[sku]
                else:
                    pending[sku] = push
            if push is not None and now - push.first > max_lag and _landed(push, now_shown, ours):
                del pending[sku]  # a backlog past max_lag whose last figure shows: it has landed
            elif push is not None and now - push.first > max_lag:
                findings[sku] = _overdue(push, now_shown, ours, now - push.first, max_lag)
                if findings[sku].kind is FindingKind.DRIFT:
                    del pending[sku]  # overtaken by an edit: the push that sets it back is watched afresh
            elif push is not None and _unexplained_excess(push, now_shown, ours):
                findings[sku] = Finding(
                    FindingKind.DRIFT,
                    now_shown,
                    f"shows {now_shown}, more than the {ours} we set, and none of our pushes explains it; "
                    "setting it back",
                )
                del pending[sku]
            mismatch.pop(sku, None)
            continue
        if ours is None or now_shown is None or now_shown == ours:
            mismatch.pop(sku, None)
            continue
        since = mismatch.setdefault(sku, now)
        if now_shown > ours or now - since >= max_lag:
            findings[sku] = Finding(
                FindingKind.DRIFT,
                now_shown,
                f"shows {now_shown}, we set {ours}: changed on the platform; setting it back",
            )
    kept = tuple(sample for sample in samples if now - sample[0] <= WINDOW_S)[-MAX_SAMPLES:]
    return replace(watch, pending=pending, samples=kept, mismatch=mismatch), findings


def _landed(push: Pending, shown: int | None, believed: int | None) -> bool:
    """A backlog whose latest figure (less the sales since) shows, though so did the one before it.

    ``Pending.seen`` waits while the figure from before a backlog shows; past ``max_lag`` every
    push has had time to land, so the latest one is what shows.
    """
    return len(push.pushes) > 1 and shown is not None and shown in (push.quantity, believed)


def _unexplained_excess(push: Pending, shown: int | None, believed: int | None) -> bool:
    """The channel shows more than we believe, and the one push on its way does not explain it.

    It is not that push (``Pending.seen`` took it already), nor the figure from before it less
    the sales since, so it can oversell now: not waited for. Seen when a sale the channel made
    just before a push landed is counted after it as well (twice).
    """
    if shown is None or believed is None or shown <= believed or push.before is None:
        return False
    if len(push.pushes) > 1:  # a backlog: any of them may have landed and sold since; wait for max_lag
        return False
    return not push.unlanded(shown, believed)


def _overdue(push: Pending, shown: int | None, believed: int | None, age: float, max_lag: float) -> Finding:
    """A push unseen past ``max_lag``: LAG while the channel shows what it showed before, else DRIFT."""
    if shown is not None and not push.unlanded(shown, believed):
        ago = f"shows {shown}, we pushed {push.quantity} {_duration(age)} ago"
        if push.before is None:  # a first sync's push, or a watch an older version kept
            why = "what it showed before is not known: changed on the platform or the push was lost"
            return Finding(FindingKind.DRIFT, shown, f"{ago}, and {why}; setting it again")
        return Finding(
            FindingKind.DRIFT,
            shown,
            f"{ago}, {push.before} before it: changed on the platform; setting it back",
        )
    still = "is not listed yet" if shown is None else f"still shows {shown}"
    return Finding(
        FindingKind.LAG,
        shown,
        f"pushed {push.quantity} {_duration(age)} ago, {still} (limit {_duration(max_lag)})",
    )


def pushed(
    watch: Watch,
    levels: Iterable[tuple[Sku, int]],
    now: float,
    max_lag: float,
    before: Mapping[Sku, int | None] | None = None,
    reports: bool = True,
) -> Watch:
    """Remember quantities the channel accepted at ``now``, after any it has not shown yet.

    ``before`` is what we believed each SKU showed before the push (``StockLevel.expected``):
    a channel still showing that after ``max_lag`` lags, one showing anything else drifted.  A
    channel that cannot report quantities (``reports`` False) is never waited for: nothing is
    pending, and whatever an older watch kept pending is dropped.  With nothing pushed and
    nothing forgotten, ``watch`` itself is given back: its State text is not made again
    (``state.state_cells``).
    """
    if not reports:
        return _blind(watch)
    pending = dict(watch.pending)
    recent = {sku: at for sku, at in watch.recent.items() if now - at <= max_lag}
    was = before or {}
    accepted = list(levels)
    # A first push is one of few (quantity, before) pairs: one Pending each, shared by every SKU
    # with it (a first sync made one for each SKU on each channel).
    firsts: dict[tuple[int, int | None], Pending] = {}
    for sku, quantity in accepted:
        earlier = pending.get(sku)
        if earlier is None:
            first = (quantity, was.get(sku))
            if (shared := firsts.get(first)) is None:
                shared = firsts[first] = Pending(((quantity, now),), first[1])
            pending[sku] = shared
        else:
            pending[sku] = earlier.then(quantity, now)
        recent[sku] = now
    mismatch = {sku: since for sku, since in watch.mismatch.items() if sku not in pending}
    # Nothing pushed, so each is ``watch``'s less what was filtered out: the same size, the same.
    if not accepted and len(recent) == len(watch.recent) and len(mismatch) == len(watch.mismatch):
        return watch
    return replace(watch, pending=pending, mismatch=mismatch, recent=recent)


def _blind(watch: Watch) -> Watch:
    """``watch`` for a channel that cannot report quantities: nothing to wait for or read back."""
    return replace(watch, pending={}, mismatch={}, recent={})


def stepped_back(watch: Watch, now: float) -> Watch:
    """``watch`` with its times moved back so that none is after ``now``: the wall clock stepped back.

    Its timers run on the worker's wall clock (they outlive restarts, in the State). Stepped back
    by a day, every push would stay younger than ``max_lag`` for a day, its row LAG with no alert.
    Moved back whole, the newest time the watch holds becomes ``now``: each age runs on from what
    it was, short of the time between that newest moment and the step (about one cycle). A watch
    with nothing after ``now`` is given back itself.
    """
    newest = max(
        -math.inf if watch.last_ok is None else watch.last_ok,
        -math.inf if watch.audited is None else watch.audited,
        max(watch.recent.values(), default=-math.inf),  # every push is in it while it can be pending
        max(watch.mismatch.values(), default=-math.inf),
        watch.samples[-1][0] if watch.samples else -math.inf,  # oldest first
    )
    if newest <= now:
        return watch
    shift = now - newest
    moved: dict[Pending, Pending] = {}  # a first sync's SKUs share a few Pendings: so do the moved ones
    for push in watch.pending.values():
        if push not in moved:
            moved[push] = Pending(tuple((quantity, at + shift) for quantity, at in push.pushes), push.before)
    return replace(
        watch,
        pending={sku: moved[push] for sku, push in watch.pending.items()},
        samples=tuple((at + shift, lag) for at, lag in watch.samples),
        mismatch={sku: since + shift for sku, since in watch.mismatch.items()},
        last_ok=None if watch.last_ok is None else watch.last_ok + shift,
        audited=None if watch.audited is None else watch.audited + shift,
        recent={sku: at + shift for sku, at in watch.recent.items()},
    )


def lag_percentiles(watch: Watch, now: float, max_lag: float) -> tuple[float, float] | None:
    """p50 and p95 of push-to-visible lag over the last hour; None when nothing was measured.

    Pushes still unseen after ``max_lag`` count with their age so far: a channel that shows
    nothing at all must not look healthy for want of samples.  But only while the channel has
    shown no push made after them: once a later push surfaced, the channel is not that far
    behind, and what holds the older one back is that SKU alone (its row says LAG, or DRIFT when
    the channel shows something else).  One stuck SKU must not make a healthy channel look
    slow, nor trip auto-pause for the whole catalogue.
    """
    recent = [(at, lag) for at, lag in watch.samples if now - at <= WINDOW_S]
    values = [lag for _, lag in recent]
    newest = max((at - lag for at, lag in recent), default=-math.inf)  # the latest push seen
    values += [
        age for push in watch.pending.values() if (age := now - push.first) > max_lag and push.first > newest
    ]
    if not values:
        return None
    values.sort()
    return _rank(values, 0.5), _rank(values, 0.95)


def _rank(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def lag_text(seconds: float | None) -> str:
    """A lag for the Status tab: ``42s``, ``12m 5s``, ``1h 3m``; blank when unmeasured."""
    return "" if seconds is None else _duration(seconds)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def audit_slice(
    watch: Watch, skus: Sequence[Sku], now: float, every: float, per_s: float | None = None
) -> tuple[list[Sku], Watch]:
    """The SKUs this cycle reads back to catch drift on quiet SKUs, and the watch after it.

    The audit sweeps every SKU (``skus``, sorted) once each ``every`` seconds, a slice a cycle in
    proportion to the time since the last slice, so no cycle reads the whole catalogue (but the
    first, which has never read anything).  ``per_s`` is the most SKUs a second the audit may
    read (its share of the platform's read quota): a catalogue too large for ``every`` at that
    pace is swept more slowly.
    """
    if not skus:
        return [], watch
    if watch.audited is None:
        return list(skus), replace(watch, audited=now, audit_mark=skus[-1])
    period = every if per_s is None else max(every, len(skus) / per_s)
    share = min(max(now - watch.audited, 0.0) / period, 1.0)
    count = min(math.ceil(len(skus) * share), len(skus))
    if not count:
        return [], watch
    start = bisect.bisect_right(skus, watch.audit_mark)
    end = start + count  # past the end, the slice goes on from the first SKU
    chosen = [*skus[start:end], *skus[: max(end - len(skus), 0)]]
    return chosen, replace(watch, audited=now, audit_mark=chosen[-1])


def dump_watch(watch: Watch) -> str:
    """The State-sheet text for ``watch``: compact JSON, capped to fit one cell."""
    # nsmallest, not a full sort: after a first sync every SKU is pending, and only 300 are kept.
    oldest = heapq.nsmallest(MAX_PENDING, watch.pending.items(), key=lambda item: item[1].first)
    newest = heapq.nlargest(MAX_PENDING, watch.recent.items(), key=lambda item: item[1])
    data = {
        "pending": [_pending_cell(sku, p) for sku, p in oldest],
        "samples": [[round(at), round(lag, 1)] for at, lag in watch.samples[-MAX_SAMPLES:]],
        "mismatch": [[sku, round(since)] for sku, since in list(watch.mismatch.items())[:MAX_PENDING]],
        "last_ok": watch.last_ok,
        "audited": watch.audited,
        "audit_mark": watch.audit_mark,
        "recent": [[sku, round(at)] for sku, at in newest],
    }
    return json.dumps(data, separators=(",", ":"))


def load_watch(text: str) -> Watch:
    """Read what ``dump_watch`` wrote; anything garbled reads as a fresh start, never an error."""
    try:
        data = json.loads(text)
        return Watch(
            pending={
                Sku(str(item[0])): Pending(
                    tuple((int(q), float(at)) for q, at in item[1]),
                    None if len(item) < 3 or item[2] is None else int(item[2]),
                )
                for item in data["pending"]
                if item[1]  # an empty history is nothing pending
            },
            samples=tuple((float(at), float(lag)) for at, lag in data["samples"]),
            mismatch={Sku(str(s)): float(since) for s, since in data["mismatch"]},
            last_ok=_optional(data["last_ok"]),
            audited=_optional(data["audited"]),
            audit_mark=str(data.get("audit_mark", "")),
            recent={Sku(str(s)): float(at) for s, at in data.get("recent", [])},
        )
    except (ValueError, TypeError, KeyError, IndexError):
        return Watch()


def _pending_cell(sku: Sku, push: Pending) -> list[object]:
    """A pending SKU as State JSON: ``[sku, [[quantity, at], …]]``, then what it showed before."""
    cell: list[object] = [sku, [[q, round(at)] for q, at in push.pushes]]
    if push.before is not None:
        cell.append(push.before)
    return cell


def _optional(value: object) -> float | None:
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    raise TypeError(value)
