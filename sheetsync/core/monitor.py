"""Discrepancy detection and lag measurement: what we pushed against what a channel shows.

Per channel the worker remembers each push not yet seen on the channel (``Pending``), lag
samples of the last hour, and SKUs whose channel figure disagrees with ours while no push is
pending.  Each cycle compares, per SKU, what we believe the channel shows (our last push plus
the channel's own sales since), what it reports now, and how long ago we pushed:

- LAG: we pushed, and after the channel's threshold it still shows something else;
- DRIFT: no push of ours is on its way, yet the channel shows another number: someone changed
  it on the platform.  More than we set is flagged at once (it can oversell); less than we set
  waits one threshold for order lines not ingested yet.

Pure functions: times are epoch seconds passed in.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Collection, Iterable, Mapping
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
        return Pending(pushes)

    def seen(self, shown: int, believed: int | None) -> tuple[float, Pending | None] | None:
        """If ``shown`` is one of these pushes: when it went out, and the pushes still unseen.

        The oldest push with that figure is taken (the ones after it may still surface). What we
        believe the channel shows (the push less its own sales since) also counts, but only for
        a single push: with a backlog, a figure an older push left behind can look the same.
        """
        for index, (quantity, at) in enumerate(self.pushes):
            if quantity == shown:
                rest = self.pushes[index + 1 :]
                return at, Pending(rest) if rest else None
        if shown == believed and len(self.pushes) == 1:
            return self.pushes[0][1], None
        return None


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
    audited: float | None = None  #: the last full read of every SKU
    #: SKU → when it was last pushed, kept for the channel's max_lag: its figure is read back
    #: that long, since a push from a backlog can surface after a same-looking figure seemed
    #: to confirm it (and overwrite a sale the channel made meanwhile)
    recent: Mapping[Sku, float] = field(default_factory=dict)

    def in_flight(self) -> dict[Sku, int]:
        """Per SKU, the most the channel may yet show of the pushes it has not shown."""
        return {sku: max(quantity for quantity, _ in push.pushes) for sku, push in self.pending.items()}


def observe(
    watch: Watch,
    believed: Mapping[Sku, int | None],
    shown: Mapping[Sku, int],
    now: float,
    max_lag: float,
    read: Collection[Sku] | None = None,
) -> tuple[Watch, dict[Sku, Finding]]:
    """Compare what the channel ``shown`` for the SKUs ``read`` this cycle with what we ``believed``.

    ``read`` defaults to the SKUs in ``shown``; one read but absent is not listed yet.  A pending
    push counts as seen when the channel shows the quantity pushed, or what we believe it shows
    since (the channel sold meanwhile); the time since the push is a lag sample.
    """
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
            if push is not None and now - push.first > max_lag:
                still = "is not listed yet" if now_shown is None else f"still shows {now_shown}"
                findings[sku] = Finding(
                    FindingKind.LAG,
                    now_shown,
                    f"pushed {push.quantity} {_duration(now - push.first)} ago, {still} "
                    f"(limit {_duration(max_lag)})",
                )
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


def pushed(watch: Watch, levels: Iterable[tuple[Sku, int]], now: float, max_lag: float) -> Watch:
    """Remember quantities the channel accepted at ``now``, after any it has not shown yet."""
    pending = dict(watch.pending)
    recent = {sku: at for sku, at in watch.recent.items() if now - at <= max_lag}
    for sku, quantity in levels:
        earlier = pending.get(sku)
        pending[sku] = Pending(((quantity, now),)) if earlier is None else earlier.then(quantity, now)
        recent[sku] = now
    mismatch = {sku: since for sku, since in watch.mismatch.items() if sku not in pending}
    return replace(watch, pending=pending, mismatch=mismatch, recent=recent)


def lag_percentiles(watch: Watch, now: float, max_lag: float) -> tuple[float, float] | None:
    """p50 and p95 of push-to-visible lag over the last hour; None when nothing was measured.

    Pushes still unseen after ``max_lag`` count with their age so far: a channel that shows
    nothing at all must not look healthy for want of samples.
    """
    values = [lag for at, lag in watch.samples if now - at <= WINDOW_S]
    values += [age for push in watch.pending.values() if (age := now - push.first) > max_lag]
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


def audit_due(watch: Watch, now: float, every: float) -> bool:
    """Whether this cycle reads every SKU of the channel, to catch drift on quiet SKUs."""
    return watch.audited is None or now - watch.audited >= every


def dump_watch(watch: Watch) -> str:
    """The State-sheet text for ``watch``: compact JSON, capped to fit one cell."""
    # nsmallest, not a full sort: after a first sync every SKU is pending, and only 300 are kept.
    oldest = heapq.nsmallest(MAX_PENDING, watch.pending.items(), key=lambda item: item[1].first)
    newest = heapq.nlargest(MAX_PENDING, watch.recent.items(), key=lambda item: item[1])
    data = {
        "pending": [[sku, [[q, round(at)] for q, at in p.pushes]] for sku, p in oldest],
        "samples": [[round(at), round(lag, 1)] for at, lag in watch.samples[-MAX_SAMPLES:]],
        "mismatch": [[sku, round(since)] for sku, since in list(watch.mismatch.items())[:MAX_PENDING]],
        "last_ok": watch.last_ok,
        "audited": watch.audited,
        "recent": [[sku, round(at)] for sku, at in newest],
    }
    return json.dumps(data, separators=(",", ":"))


def load_watch(text: str) -> Watch:
    """Read what ``dump_watch`` wrote; anything garbled reads as a fresh start, never an error."""
    try:
        data = json.loads(text)
        return Watch(
            pending={
                Sku(str(s)): Pending(tuple((int(q), float(at)) for q, at in pushes))
                for s, pushes in data["pending"]
                if pushes  # an empty history is nothing pending
            },
            samples=tuple((float(at), float(lag)) for at, lag in data["samples"]),
            mismatch={Sku(str(s)): float(since) for s, since in data["mismatch"]},
            last_ok=_optional(data["last_ok"]),
            audited=_optional(data["audited"]),
            recent={Sku(str(s)): float(at) for s, at in data.get("recent", [])},
        )
    except (ValueError, TypeError, KeyError):
        return Watch()


def _optional(value: object) -> float | None:
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    raise TypeError(value)
