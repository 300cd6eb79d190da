"""Safety buffers: how much of the available stock a channel may show.

A policy is a list of tiers by available level (lower levels hold back more), an optional cap,
and optionally a per-SKU hold typed in the sheet.  Every function rounds down: the published
quantity is never negative, never above what is available and never above the cap.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

from sheetsync.core.reasons import ADAPTIVE_FIX, CAP_FIX, TIERS_FIX, buffer_fix


class HoldKind(StrEnum):
    """How a hold is expressed."""

    UNITS = "units"  #: hold back N units
    PERCENT = "percent"  #: hold back P% (the rest is published, rounded down)
    ALL = "all"  #: publish 0


@dataclass(frozen=True, slots=True)
class Hold:
    """What to hold back from one channel at one level of stock."""

    kind: HoldKind
    amount: Fraction = Fraction(0)

    @property
    def label(self) -> str:
        """The hold as a merchant writes it: ``3``, ``10%`` or ``all``."""
        if self.kind is HoldKind.ALL:
            return "all"
        number = str(self.amount.numerator) if self.amount.denominator == 1 else str(float(self.amount))
        return f"{number}%" if self.kind is HoldKind.PERCENT else number


_HOLD = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<percent>%?)$")


def parse_hold(text: str) -> Hold:
    """Parse ``3`` (units), ``10%`` (percent) or ``all``.

    Raises:
        ValueError: with a sentence saying what is accepted.
    """
    cleaned = text.strip()
    if cleaned.casefold() == "all":
        return Hold(HoldKind.ALL)
    match = _HOLD.match(cleaned)
    if match is None:
        raise ValueError(f'"{text}" is not a hold; write units (3), a percentage (10%) or all')
    amount = Fraction(match["number"])
    if match["percent"]:
        if amount > 100:
            raise ValueError(f'"{text}" holds back more than 100%')
        return Hold(HoldKind.PERCENT, amount)
    if amount.denominator != 1:
        raise ValueError(f'"{text}" is not a whole number of units')
    return Hold(HoldKind.UNITS, amount)


@dataclass(frozen=True, slots=True)
class Tier:
    """Applies when the available level is at least ``min_level`` (up to the next tier)."""

    min_level: int
    hold: Hold


@dataclass(frozen=True, slots=True)
class BufferPolicy:
    """One channel's buffer: tiers sorted by ``min_level`` descending, the last at 0."""

    tiers: tuple[Tier, ...]
    cap: int | None = None

    def __post_init__(self) -> None:
        levels = [tier.min_level for tier in self.tiers]
        if not levels or levels[-1] != 0 or levels != sorted(set(levels), reverse=True):
            raise ValueError("tiers must have distinct minimum levels, highest first, ending at 0")


#: A policy that publishes everything available (``--no-buffers``).
NO_BUFFER = BufferPolicy((Tier(0, Hold(HoldKind.UNITS)),))

#: Ready-made tiers, by the name ``[buffers] preset`` takes in the config.  ``one-off``, for
#: one-of-a-kind items, never holds the last unit: 0-2 units show all, 3-9 hold 1, 10+ hold 10%.
PRESETS = {
    "one-off": BufferPolicy(
        (
            Tier(10, Hold(HoldKind.PERCENT, Fraction(10))),
            Tier(3, Hold(HoldKind.UNITS, Fraction(1))),
            Tier(0, Hold(HoldKind.UNITS)),
        )
    ),
}


@dataclass(frozen=True, slots=True)
class Published:
    """A quantity to publish, the rule that held units back and what the merchant can change.

    ``reason`` is the rule in plain words (``tier 3-10 holds 2``), empty when nothing is held;
    ``fix`` is what to change when the rule holds every unit back (``core.reasons``).
    """

    quantity: int
    reason: str
    fix: str


def published(
    available: int, policy: BufferPolicy, hold: Hold | None = None, column: str = "Buffer"
) -> Published:
    """What a channel with ``policy`` may show when ``available`` units are available.

    ``hold`` (a per-SKU buffer typed in the sheet's ``column``) replaces the tier's hold; the cap
    still applies.
    """
    level = max(available, 0)
    index = next(i for i, tier in enumerate(policy.tiers) if tier.min_level <= level)
    tier = policy.tiers[index]
    if hold is None:
        hold = tier.hold
        upper = policy.tiers[index - 1].min_level - 1 if index else None
        source = f"tier {tier.min_level}+" if upper is None else f"tier {tier.min_level}-{upper}"
        fix = TIERS_FIX
    else:
        source, fix = column, buffer_fix(column)
    if hold.kind is HoldKind.ALL:
        quantity = 0
    elif hold.kind is HoldKind.PERCENT:
        # Exact integer floor of level * (100 - p) / 100; Fraction arithmetic is 10x slower.
        num, den = hold.amount.numerator, hold.amount.denominator
        quantity = level * (100 * den - num) // (100 * den)
    else:
        quantity = max(level - int(hold.amount), 0)
    reason = f"{source} holds {hold.label}" if quantity < level else ""
    if policy.cap is not None and quantity > policy.cap:
        quantity, reason = policy.cap, f"capped at {policy.cap}"
        fix = CAP_FIX
    return Published(quantity, reason, fix)


@dataclass(frozen=True, slots=True)
class AdaptiveRule:
    """The adaptive buffer: hold back what may sell elsewhere while a channel still shows old stock.

    The hold covers the sales during the channel's exposure: sales on other channels over the
    time until the channel shows a change (they must be read, then pushed, then shown), and its
    own sales over its lag (a push that lands overwrites them).  On that mean go ``safety``
    standard deviations of the units sold.  The hold is then rounded up to the next step of
    ``HOLD_STEPS`` (so a rate that wobbles does not move it every cycle), bounded by what the
    other channels can still sell, by ``min_hold`` and by ``max_hold``.  A channel showing
    ``Gauge.enough`` is not raised (``adaptive``).
    """

    safety: float = 2.0  #: standard deviations of the units sold on top of the mean
    min_hold: int = 0
    max_hold: int | None = None


#: Holds are rounded up to one of these (then every 20 above the last): a few steps, so a hold
#: that wobbles with the measured rate seldom changes the published figure.
HOLD_STEPS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100)


@dataclass(frozen=True, slots=True)
class Exposure:
    """How fast one SKU sells around a channel, and how long the channel shows old stock."""

    elsewhere: float  #: units a second sold on the other channels
    unseen_s: float  #: how long a sale elsewhere takes to show here (read, push, lag)
    own: float = 0.0  #: units a second sold on this channel
    lag_s: float = 0.0  #: this channel's push-to-visible lag
    #: units the other channels show or are about to (they cannot sell more); None: no bound
    selling: int | None = None
    #: the most units one order took on this channel lately: what it must show to take any order
    largest: int = 1


def step_up(hold: int) -> int:
    """``hold`` rounded up to the next of ``HOLD_STEPS`` (then the next multiple of 20)."""
    if hold > HOLD_STEPS[-1]:
        return -(-hold // 20) * 20
    return HOLD_STEPS[bisect_left(HOLD_STEPS, hold)]


class Gauge(NamedTuple):
    """What ``adaptive`` makes of an exposure's rates: all that a changed rate can change in its answer.

    The channel's lag as the Reason states it (``minutes``) aside: that depends on no rate.
    """

    #: the units expected to sell while the channel still shows a figure from before them (on
    #: other channels over its exposure, its own over its lag), ``safety`` standard deviations
    #: on top, stepped up (before any bound)
    hold: int
    #: what the channel must show to sell until a raise pushed now shows, then take any one
    #: order: its own sales over the exposure, ``safety`` standard deviations on top, and its
    #: largest order
    enough: int
    per_hour: int  #: the units sold an hour, as the Reason states them (``per_hour``)


def gauge(exposure: Exposure, rule: AdaptiveRule) -> Gauge:
    """``exposure`` as ``adaptive`` weighs it: equal gauges, equal answers (the rest being equal)."""
    e = exposure
    return measure(e.elsewhere, e.own, e.unseen_s, e.lag_s, e.largest, rule.safety)


def measure(
    elsewhere: float, own: float, unseen_s: float, lag_s: float, largest: int, safety: float
) -> Gauge:
    """``gauge`` of an exposure's figures, ``rule.safety`` for the rule.

    ``plan`` weighs a touched row's gauges every cycle: building an ``Exposure`` for each was a
    third of their cost.
    """
    # ``0.0 if x < 0.0 else x`` is ``max(x, 0.0)`` (nan and -0.0 included) without a call.
    unseen, selling = 0.0 if unseen_s < 0.0 else unseen_s, 0.0 if own < 0.0 else own
    others, lag = 0.0 if elsewhere < 0.0 else elsewhere, 0.0 if lag_s < 0.0 else lag_s
    expected = others * unseen + selling * lag
    hold = step_up(math.ceil(expected + safety * math.sqrt(expected) - 1e-9)) if expected > 0 else 0
    mine = selling * unseen
    enough = math.ceil(mine + safety * math.sqrt(mine) - 1e-9) + (1 if largest < 1 else largest)
    return Gauge(hold, enough, _two_figures((elsewhere + own) * 3600))


def _two_figures(hourly: float) -> int:
    """A rate an hour to two figures, 0 under 1.

    The measured rates move with every sale in the shop: a Reason that quoted them to a tenth
    was written again almost every cycle while the hold it explains stood still.
    """
    if hourly < 1:
        return 0
    if hourly < 100:
        return round(hourly)
    return round(round(hourly, 1 - int(math.log10(hourly))))


def per_hour(units: int) -> str:
    """``Gauge.per_hour`` as the Reason states it: ``~17/h``, ``<1/h``."""
    return f"~{units}/h" if units else "<1/h"


def minutes(seconds: float) -> str:
    """A lag as the Reason states it, ``~35 min``: to the minute under 10, else to 5 minutes.

    The measured lag moves with each push seen; to the minute, every Reason quoting it was
    written again each time.
    """
    whole = max(seconds, 0.0) / 60
    return f"~{whole:.0f} min" if whole < 10 else f"~{5 * round(whole / 5)} min"


def _keeps(shown: int, quantity: int, level: int, least: int, rule: AdaptiveRule) -> bool:
    """Whether a channel showing ``shown`` is left there rather than raised (``least``: ``Gauge.enough``)."""
    within = rule.max_hold is None or level - shown <= rule.max_hold  # the merchant's bound stands
    return shown < quantity <= 2 * shown and within and shown >= least


def adaptive(available: int, exposure: Exposure, rule: AdaptiveRule, shown: int | None = None) -> Published:
    """What a channel may show when ``exposure`` units may sell before it shows a change.

    ``shown`` is what the channel shows or is about to (None: not known).  A channel showing
    ``Gauge.enough``, and at least half of what it may show, keeps it: a raise would sell nothing
    more before the next look, and raising on every wobble of the measured rates pushed 3.5
    times as often as the tiers (each raise followed by a lowering).  Lowering is never put off.
    Never negative, never above what is available.
    """
    level = max(available, 0)
    measured = gauge(exposure, rule)
    hold = measured.hold
    if exposure.selling is not None:
        hold = min(hold, exposure.selling)  # the others cannot sell more than they show
    hold = max(hold, rule.min_hold)
    if rule.max_hold is not None:
        hold = min(hold, rule.max_hold)
    quantity = max(level - hold, 0)
    if shown is not None and _keeps(shown, quantity, level, measured.enough, rule):
        return Published(shown, f"adaptive keeps it until it runs low (could show {quantity})", ADAPTIVE_FIX)
    held = level - quantity
    late, rate = minutes(exposure.unseen_s), per_hour(measured.per_hour)
    reason = f"adaptive holds {held}, sales reach it {late} late ({rate})" if held else ""
    return Published(quantity, reason, ADAPTIVE_FIX)
