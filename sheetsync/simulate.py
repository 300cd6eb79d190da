"""``sheetsync simulate``: a peak of trading in simulated time, once per buffer policy.

A discrete-event simulation drives the real worker (``run_cycle``: ledger, planner, pushes,
monitoring) against sandbox channels (with their platforms' call limits) and an in-memory
master.  Orders arrive as a Poisson process following the scenario's demand curve, pick a
channel by its share of the orders, a SKU by a Zipf-like popularity and a number of units, and
buy them all if that channel shows that many.  Each channel's lag is drawn afresh every
``step_s`` seconds from the range in force then (phases, peak, scheduled spikes, unannounced
jumps, random spikes).  Scenario files are described in docs/simulator.md.

Every policy sees the same catalogue, the same orders and the same lag draws: each comes from
its own random stream seeded from ``--seed``, drawn before any policy runs.  What differs is
only what the worker publishes.  An oversell is a unit sold that was not on the shelf; units
lost are those sold short of the clairvoyant bound (``clairvoyant``), per SKU.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import multiprocessing
import os
import random
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rich.table import Table

from sheetsync.channels.sandbox import SANDBOX_MAX_BATCH, SandboxChannel
from sheetsync.config import (
    AdaptiveModel,
    AutoPauseSettings,
    ChannelSettings,
    GuardSettings,
    Settings,
    TierModel,
    WorkbookMaster,
    buffer_policy,
    describe_errors,
    tiers_cover_zero,
)
from sheetsync.core.buffers import NO_BUFFER
from sheetsync.errors import ConfigError
from sheetsync.model import INVENTORY_SHEET, ChannelName, LedgerEntry, Movement, OrderLine, Sku
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import Heap, intervals, run_cycle, spacing, woken

#: The policies compared, in the order they are reported.
POLICIES = ("none", "static", "adaptive")
#: Scenarios shipped in ``sheetsync/templates/scenarios``, by name.
PACKAGED = "templates/scenarios"


# -- the scenario ------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"[{pair[0]:g}, {pair[1]:g}] is not a range: write [low, high]")
    return pair


def _maybe_ordered(pair: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if pair is None else _ordered(pair)


Seconds = Annotated[float, Field(ge=0)]


class Episode(_Strict):
    """A stretch of time when a channel's lag is drawn from another range (a spike or a jump)."""

    at_h: Annotated[float, Field(ge=0)]  #: hours after the start
    #: minutes it lasts; a jump without it lasts to the end of the period
    for_min: Annotated[float, Field(gt=0)] | None = None
    lag: tuple[Seconds, Seconds]  #: seconds, [low, high], uniform, while it lasts

    _range = field_validator("lag")(_ordered)

    def covers(self, at_s: float) -> bool:
        """Whether ``at_s`` (seconds after the start) falls within it."""
        begin = self.at_h * 3600
        return begin <= at_s and (self.for_min is None or at_s < begin + self.for_min * 60)


class Phase(_Strict):
    """A stretch of the period with its own lag range (hours after the start, [from_h, to_h))."""

    from_h: float
    to_h: float
    lag: tuple[Seconds, Seconds]

    _range = field_validator("lag")(_ordered)

    @model_validator(mode="after")
    def _forwards(self) -> Phase:
        if self.to_h <= self.from_h:
            raise ValueError(f"to_h ({self.to_h:g}) must be after from_h ({self.from_h:g})")
        return self


class LagModel(_Strict):
    """How long a push takes to show on a channel, drawn afresh every ``step_s``.

    The range in force is, first to last: a jump or spike under way, a phase covering the time,
    ``peak`` within one width of the demand peak, ``normal``.  A random spike (``spike_chance``
    per draw) replaces the draw.  Nothing tells the worker: it learns a lag only by measuring it.
    """

    normal: tuple[Seconds, Seconds]  #: seconds, [low, high], uniform, outside the peak
    peak: tuple[Seconds, Seconds] | None = None  #: within one width of the peak (normal if unset)
    spike_chance: Annotated[float, Field(ge=0, le=1)] = 0.0  #: per draw, in either phase
    spike: Seconds = 0.0  #: seconds a random spike takes
    phases: list[Phase] = Field(default_factory=list)  #: lag ranges by time of day
    #: scheduled spikes: known to whoever wrote the scenario, not to the worker
    spikes: list[Episode] = Field(default_factory=list)
    #: sudden, unannounced changes of lag (``for_min`` unset: to the end); reported with the
    #: time the worker took to measure them
    jumps: list[Episode] = Field(default_factory=list)

    _ranges = field_validator("normal", "peak")(_maybe_ordered)

    def range_at(self, at_s: float, at_peak: bool) -> tuple[float, float]:
        """The [low, high] range in force ``at_s`` seconds after the start (before random spikes)."""
        for episode in (*self.jumps, *self.spikes):
            if episode.covers(at_s):
                return episode.lag
        hours = at_s / 3600
        for phase in self.phases:
            if phase.from_h <= hours < phase.to_h:
                return phase.lag
        if at_peak and self.peak is not None:
            return self.peak
        return self.normal

    @property
    def longest(self) -> float:
        """The longest lag any draw can take."""
        ranges = [self.normal, *(r for r in (self.peak,) if r is not None)]
        ranges += [p.lag for p in self.phases] + [e.lag for e in (*self.spikes, *self.jumps)]
        return max([high for _, high in ranges] + [self.spike if self.spike_chance else 0.0])


class ChannelModel(_Strict):
    """One channel: its buyers, how the worker talks to it, its static tiers, its lag, its limits."""

    title: str | None = None
    share: Annotated[float, Field(gt=0)]  #: relative share of the orders (normalised over channels)
    interval: Annotated[int, Field(ge=1)] = 60  #: seconds between the worker's polls
    webhooks: bool = False  #: a sale here starts a cycle at once, with the order delivered
    max_lag: Annotated[float, Field(gt=0)] = 900.0  #: seconds before a push is flagged LAG
    tiers: list[TierModel] = Field(default_factory=lambda: [TierModel(min=0, hold=0)])
    #: the adaptive policy's bounds on this channel (``adaptive = true`` when unset)
    adaptive: AdaptiveModel = Field(default_factory=AdaptiveModel)
    lag: LagModel
    #: SKUs per push call (the platform's batch size)
    max_batch: Annotated[int, Field(ge=1)] = SANDBOX_MAX_BATCH
    #: push calls an hour the platform accepts (Meta: 200 batch calls an hour per catalog)
    calls_per_hour: Annotated[int, Field(ge=1)] | None = None
    #: a cost bucket like Shopify's: [size, restored a second] in points
    points: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] | None = None
    #: points a push call costs: [per call, per SKU in it]
    push_cost: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] = (10.0, 1.0)
    #: push calls a second the client paces itself to (eMAG: 3); a call waits its turn, never refused
    pace: Annotated[float, Field(gt=0)] | None = None

    _tiers = field_validator("tiers")(tiers_cover_zero)

    @model_validator(mode="after")
    def _lag_outlasts_a_cycle(self) -> ChannelModel:
        if self.max_lag <= self.interval:
            raise ValueError(f"max_lag ({self.max_lag:g} s) must be longer than interval ({self.interval} s)")
        return self


class CatalogueModel(_Strict):
    """The SKUs: how many, how skewed their popularity, their stock and prices."""

    skus: Annotated[int, Field(ge=1, le=100_000)]
    #: Zipf exponent: the k-th most popular SKU draws 1/k^skew as many orders as the first
    skew: Annotated[float, Field(ge=0)] = 1.0
    stock: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]  #: units, [low, high]
    price: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]  #: [low, high]

    _ranges = field_validator("stock", "price")(_ordered)


class DemandModel(_Strict):
    """Orders an hour across all channels: a base rate plus a Gaussian peak, times ``multiplier``."""

    base_per_h: Annotated[float, Field(ge=0)]
    peak_per_h: Annotated[float, Field(ge=0)]  #: the rate at the top of the peak
    peak_at_h: Annotated[float, Field(ge=0)]  #: hours after the start
    peak_width_h: Annotated[float, Field(gt=0)]  #: standard deviation; ±1 width is the lag's peak phase
    multiplier: Annotated[float, Field(gt=0)] = 1.0  #: scales every rate (a harsher day: 2)
    #: units per order (one SKU a line), [low, high]: uniform, or weighted by ``unit_weights``
    units: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (1, 1)
    unit_weights: list[Annotated[float, Field(ge=0)]] | None = None  #: one weight per size, low first

    _units = field_validator("units")(_ordered)

    @model_validator(mode="after")
    def _checks(self) -> DemandModel:
        if self.peak_per_h < self.base_per_h:
            raise ValueError("peak_per_h must be at least base_per_h")
        sizes = self.units[1] - self.units[0] + 1
        if self.unit_weights is not None and (len(self.unit_weights) != sizes or not sum(self.unit_weights)):
            raise ValueError(f"unit_weights needs {sizes} weights (units {self.units[0]} to {self.units[1]})")
        return self

    def rate_per_s(self, at_s: float) -> float:
        """Orders a second, ``at_s`` seconds after the start."""
        z = (at_s / 3600 - self.peak_at_h) / self.peak_width_h
        hourly = self.base_per_h + (self.peak_per_h - self.base_per_h) * math.exp(-0.5 * z * z)
        return self.multiplier * hourly / 3600

    def at_peak(self, at_s: float) -> bool:
        """Within one width of the peak: the channels' peak lag applies."""
        return abs(at_s / 3600 - self.peak_at_h) <= self.peak_width_h


class Scenario(_Strict):
    """A simulated trading period (see ``templates/scenarios/black-friday.toml``)."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    start: datetime = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    duration_h: Annotated[float, Field(gt=0, le=72)]
    step_s: Annotated[float, Field(gt=0)] = 60.0  #: seconds between fresh lag draws
    #: seconds a cycle takes: webhook deliveries meanwhile wait for the next cycle, together
    cycle_s: Annotated[float, Field(ge=0)] = 2.0
    #: hours the worker runs, at the period's lags, before the start (default: a quarter longer
    #: than the slowest channel's longest lag and its poll interval, at least half an hour)
    warm_up_h: Annotated[float, Field(gt=0)] | None = None
    catalogue: CatalogueModel
    demand: DemandModel
    channels: dict[str, ChannelModel]

    @model_validator(mode="after")
    def _checks(self) -> Scenario:
        if not self.channels:
            raise ValueError("at least one [channels.NAME] table is needed")
        if self.start.tzinfo is None:
            raise ValueError("start needs a time zone offset (2026-11-27T07:00:00Z)")
        slowest = max(self._starting_lag(c) for c in self.channels.values())
        if self.warm_up_h is not None and self.warm_up_h * 3600 < slowest:
            raise ValueError(
                f"warm_up_h ({self.warm_up_h:g} h) is shorter than the slowest channel's lag "
                f"({slowest / 60:.0f} min): its lag would not be measured by the start"
            )
        return self

    def _starting_lag(self, channel: ChannelModel) -> float:
        lag = channel.lag
        return max(lag.range_at(-1.0, self.demand.at_peak(-1.0))[1], lag.normal[1]) + channel.interval

    @property
    def duration_s(self) -> float:
        """The simulated period in seconds."""
        return self.duration_h * 3600

    @property
    def running_s(self) -> float:
        """Seconds the worker runs before the start, at the period's lags."""
        if self.warm_up_h is not None:
            return self.warm_up_h * 3600
        slowest = max(self._starting_lag(c) for c in self.channels.values())
        return max(1800.0, 1.25 * slowest)


def packaged_scenarios() -> list[str]:
    """Names ``--scenario`` accepts besides a file."""
    folder = resources.files("sheetsync").joinpath(PACKAGED)
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A packaged scenario by name, or a TOML file.

    Raises:
        ConfigError: naming the file and the key.
    """
    if name_or_path in packaged_scenarios():
        source = f"{name_or_path} (packaged)"
        text = resources.files("sheetsync").joinpath(PACKAGED, f"{name_or_path}.toml").read_text("utf-8")
    else:
        path = Path(name_or_path)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            known = ", ".join(packaged_scenarios())
            raise ConfigError(f"{path}: no such scenario file; packaged scenarios: {known}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    raw.setdefault("name", Path(name_or_path).stem)
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe_errors(source, error)) from None


# -- what is drawn up front --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One SKU of the simulated catalogue."""

    sku: Sku
    stock: int
    price: float


@dataclass(frozen=True, slots=True)
class Buyer:
    """One order: when, where, what and how many units (one SKU an order)."""

    at_s: float  #: seconds after the start
    channel: ChannelName
    item: int  #: index into the catalogue
    units: int = 1


@dataclass(frozen=True, slots=True)
class World:
    """Everything random, drawn once per seed and shared by every policy."""

    catalogue: tuple[Item, ...]
    buyers: tuple[Buyer, ...]
    lags: Mapping[ChannelName, tuple[float, ...]]  #: per channel, the lag for each step
    running_s: float = 1800.0  #: seconds the worker runs before the start (step 0 is then)


def draw(scenario: Scenario, seed: int) -> World:
    """The catalogue, the orders and the lags for ``seed``; each from its own stream."""

    def stream(what: str) -> random.Random:
        return random.Random(f"{seed}/{what}")  # noqa: S311 - simulated buyers, not secrets

    rng = stream("catalogue")
    c = scenario.catalogue
    width = len(str(c.skus))
    catalogue = tuple(
        Item(Sku(f"SKU-{n:0{width}d}"), rng.randint(*c.stock), round(rng.uniform(*c.price), 2))
        for n in range(1, c.skus + 1)
    )
    popularity = _cumulative([1 / rank**c.skew for rank in range(1, c.skus + 1)])
    names = [ChannelName(name) for name in scenario.channels]
    shares = _cumulative([channel.share for channel in scenario.channels.values()])
    demand = scenario.demand
    low, high = demand.units
    sizes = _cumulative(demand.unit_weights or [1.0] * (high - low + 1))
    rng, units = stream("buyers"), stream("units")  # units apart: a 1-unit scenario keeps its buyers
    ceiling = max(demand.peak_per_h, demand.base_per_h) * demand.multiplier / 3600
    buyers = []
    at = -HISTORY_S
    while ceiling > 0:  # thinning: candidates at the top rate, kept at rate(t) / top rate
        at += rng.expovariate(ceiling)
        if at >= scenario.duration_s:
            break
        if rng.random() * ceiling < demand.rate_per_s(at):
            where = names[bisect.bisect(shares, rng.random() * shares[-1])]
            item = bisect.bisect(popularity, rng.random() * popularity[-1])
            size = low + bisect.bisect(sizes, units.random() * sizes[-1]) if high > low else low
            buyers.append(Buyer(at, where, item, size))
    running = scenario.running_s
    steps = math.ceil((running + scenario.duration_s) / scenario.step_s) + 1
    lags = {}
    for name, model in scenario.channels.items():
        rng = stream(f"lag/{name}")
        lag = model.lag
        draws = []
        for step in range(steps):
            at_s = step * scenario.step_s - running
            least, most = lag.range_at(at_s, demand.at_peak(at_s))
            seconds = rng.uniform(least, most)
            draws.append(lag.spike if rng.random() < lag.spike_chance else seconds)
        lags[ChannelName(name)] = tuple(draws)
    return World(catalogue, tuple(buyers), lags, running)


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def clairvoyant(stock: int, orders: Sequence[int]) -> int:
    """The most units of one SKU that can be sold without an oversell, knowing every order.

    Orders are whole (a buyer takes all the units asked for, or none), so this is the largest
    total of a subset of ``orders`` that is at most ``stock``: no policy, however well informed,
    sells more of the SKU from the shelf without overselling it.  A bitset subset-sum.
    """
    if stock <= 0 or not orders:
        return 0
    if sum(orders) <= stock:
        return sum(orders)
    mask, reachable = (1 << (stock + 1)) - 1, 1
    for units in orders:
        reachable = (reachable | (reachable << units)) & mask
        if reachable >> stock:
            return stock
    return reachable.bit_length() - 1


# -- one run per policy ------------------------------------------------------------------------


@dataclass
class Jump:
    """An unannounced lag jump on a channel, and how the worker fared with it."""

    channel: ChannelName
    at_s: float  #: seconds after the start
    lag_s: float  #: the jump's lowest lag: measured once the worker's p95 reaches it
    detected_s: float | None = None  #: when the worker's measured lag (p95) reached ``lag_s``
    oversold: int = 0  #: units oversold on the channel from the jump until it was measured

    def figures(self) -> dict[str, Any]:
        """For the JSON: minutes, rounded."""
        detected = None if self.detected_s is None else round((self.detected_s - self.at_s) / 60, 1)
        return {
            "channel": self.channel,
            "at_min": round(self.at_s / 60, 1),
            "lag_min": round(self.lag_s / 60, 1),
            "detected_after_min": detected,
            "oversold_before_detected": self.oversold,
        }


@dataclass
class Outcome:
    """What one policy did with the scenario (units unless the name says orders)."""

    orders: int = 0
    units_asked: int = 0
    sold: int = 0  #: units sold that were on the shelf
    oversells: int = 0  #: units sold that were not on the shelf
    refused_orders: int = 0  #: orders the channel showed too few for while the shelf had them
    starting_units: int = 0
    clairvoyant_units: int = 0  #: see ``clairvoyant``: the most any policy could sell
    units_lost: int = 0  #: per SKU, units short of the clairvoyant bound, summed
    revenue_oversold: float = 0.0
    revenue_lost: float = 0.0  #: the lost units at their prices
    cycles: int = 0
    pushes: int = 0  #: quantities pushed
    push_calls: int = 0
    throttled_calls: int = 0  #: push calls a channel refused for its call limit
    by_channel: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    first_oversell_s: float | None = None
    jumps: list[Jump] = dataclasses.field(default_factory=list)
    #: the first ``OVERSOLD_LISTED`` oversells: [minute, channel, SKU, units]
    oversold: list[list[Any]] = dataclasses.field(default_factory=list)
    cpu_s: float = 0.0

    @property
    def turned_away(self) -> int:
        """Orders refused while the shelf had the units (not lost sales: see ``units_lost``)."""
        return self.refused_orders

    @property
    def sell_through(self) -> float:
        """Units sold that existed, over the units on the shelf at the start."""
        return self.sold / self.starting_units if self.starting_units else 0.0

    @property
    def share_of_clairvoyant(self) -> float:
        """Units sold over the most that could have been sold without an oversell."""
        return self.sold / self.clairvoyant_units if self.clairvoyant_units else 1.0

    def summary(self) -> dict[str, Any]:
        """The figures the last line reports."""
        return {
            "oversells": self.oversells,
            "units_sold": self.sold,
            "clairvoyant_units": self.clairvoyant_units,
            "share_of_clairvoyant": round(self.share_of_clairvoyant, 4),
            "units_lost": self.units_lost,
            "pushes": self.pushes,
            "throttled_calls": self.throttled_calls,
        }

    def details(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return {
            **self.summary(),
            "sell_through": round(self.sell_through, 4),
            "revenue_oversold": round(self.revenue_oversold, 2),
            "revenue_lost": round(self.revenue_lost, 2),
            "orders": self.orders,
            "units_asked": self.units_asked,
            "refused_orders": self.refused_orders,
            "starting_units": self.starting_units,
            "cycles": self.cycles,
            "push_calls": self.push_calls,
            "first_oversell_min": None
            if self.first_oversell_s is None
            else round(self.first_oversell_s / 60, 1),
            "jumps": [jump.figures() for jump in self.jumps],
            "by_channel": self.by_channel,
            "oversold": self.oversold,
        }


def settings_for(scenario: Scenario, policy: str) -> Settings:
    """The worker's settings for one policy: the scenario's channels as sandboxes, auto-pause off.

    ``none`` publishes everything; ``static`` uses the scenario's tiers; ``adaptive`` turns the
    adaptive buffer on for every channel (it replaces the tiers).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}; choose one of {', '.join(POLICIES)}")
    channels = []
    for name, model in scenario.channels.items():
        channel = ChannelSettings(
            name=ChannelName(name),
            kind="sandbox",
            title=model.title or name.replace("_", " ").title(),
            interval_s=model.interval,
            paused=False,
            policy=buffer_policy(model.tiers),
            max_lag_s=model.max_lag,
        )
        if policy == "none":
            channel = dataclasses.replace(channel, policy=NO_BUFFER)
        elif policy == "adaptive":
            channel = dataclasses.replace(channel, adaptive=model.adaptive.rule())
        channels.append(channel)
    return Settings(
        source=Path(f"scenario {scenario.name}"),
        master=WorkbookMaster(Path("unused: the simulation's master is in memory")),
        guard=GuardSettings(max_drop=0.5, accept_shrink=False),
        channels=tuple(channels),
        auto_pause=AutoPauseSettings(enabled=False),
    )


#: The Ledger holds this much trading before the period starts (at the demand curve's rate), as
#: any shop's does: the adaptive buffer reads recent sales from it.
HISTORY_S = 3600.0

#: The worker was running before the period starts: two cycles this long before it (a push that
#: shows at once, then the read that sees it) leave every channel showing what its policy
#: publishes, not an empty listing, and their lag samples have left the worker's hour-long window
#: by the start (the worker then runs ``Scenario.running_s`` at the period's lags).
WARM_UP_S = 7200.0


#: Oversells listed one by one in the JSON file.
OVERSOLD_LISTED = 50


def _measured_s(text: str) -> float | None:
    """Seconds from the Status tab's lag text (``42s``, ``12m 5s``, ``1h 3m``); None when blank."""
    if not text:
        return None
    seconds = 0.0
    for part in text.split():
        number, unit = float(part[:-1]), part[-1]
        seconds += number * {"h": 3600, "m": 60, "s": 1}[unit]
    return seconds


def run_policy(scenario: Scenario, world: World, policy: str) -> Outcome:
    """Run the scenario's period once with ``policy``, in this process."""
    began = time.process_time()
    settings = settings_for(scenario, policy)
    start, end, running = scenario.start, scenario.duration_s, world.running_s
    now = [-max(WARM_UP_S, running + 3600)]  # seconds after the start

    def clock() -> datetime:
        return start + timedelta(seconds=now[0])

    def lag_of(name: ChannelName) -> Callable[[], float]:
        draws = world.lags[name]

        def lag() -> float:
            if now[0] < -running:
                return 0.0  # the warm-up: every channel shows its first push at once
            return draws[min(int((now[0] + running) // scenario.step_s), len(draws) - 1)]

        return lag

    channels = {
        ChannelName(name): SandboxChannel(
            ChannelName(name),
            clock,
            lag=lag_of(ChannelName(name)),
            max_batch=model.max_batch,
            calls_per_hour=model.calls_per_hour,
            points=model.points,
            push_cost=model.push_cost,
            pace=model.pace,
        )
        for name, model in scenario.channels.items()
    }
    webhooks = {ChannelName(n) for n, c in scenario.channels.items() if c.webhooks}
    rows = [("SKU", "Quantity"), *((item.sku, str(item.stock)) for item in world.catalogue)]
    store = MemoryStore(settings.layout, {INVENTORY_SHEET: rows}, where=f"simulation {scenario.name}")
    store.append_ledger(_history(scenario, world))
    shelf = [item.stock for item in world.catalogue]
    sold = [0] * len(shelf)
    outcome = Outcome(starting_units=sum(shelf))
    outcome.by_channel = {
        name: dict.fromkeys(
            ("orders", "sold", "oversells", "refused_orders", "pushes", "push_calls", "throttled"), 0
        )
        for name in channels
    }
    listed = list(channels.values())
    jumps = [
        Jump(ChannelName(name), jump.at_h * 3600, jump.lag[0])
        for name, model in scenario.channels.items()
        for jump in model.lag.jumps
    ]
    watching = [jump for jump in jumps if jump.at_s < end]
    heap = Heap()
    heap.settle(now[0])  # as the worker's loop does before its first cycle

    def cycle(due: Collection[ChannelName] | None, delivered: Sequence[OrderLine] = ()) -> None:
        report = run_cycle(store, listed, settings, clock(), due, delivered=delivered)
        outcome.cycles += 1
        heap.settle(now[0])  # as the worker's loop does after each cycle
        if now[0] >= 0:
            outcome.pushes += sum(report.pushed.values())
            for name, pushed in report.pushed.items():
                outcome.by_channel[name]["pushes"] += pushed
        for jump in list(watching):  # the worker has measured a jump once its p95 reaches it
            if now[0] < jump.at_s:
                continue
            status = next((s for s in report.statuses if s.channel == jump.channel), None)
            if status is None:
                continue  # not its turn: a Status row is written only for the channels talked to
            measured = _measured_s(status.lag_p95)
            if measured is not None and measured >= jump.lag_s:
                jump.detected_s = now[0]
                watching.remove(jump)

    cycle(None)  # the warm-up: lag is 0 until the worker runs at the period's lags
    now[0] += 1
    cycle(None)
    next_poll = dict.fromkeys(channels, -running)  # then the worker runs as usual before the start
    last_at: dict[ChannelName, float] = {}
    gaps = spacing(listed)
    every = intervals(settings, gaps)
    busy_until = -math.inf
    queued: list[OrderLine] = []  # webhook deliveries waiting for the next cycle
    queued_at = math.inf
    buyers: Iterator[Buyer] = iter(b for b in world.buyers if b.at_s >= 0)
    buyer = next(buyers, None)
    counted = {name: (0, 0, 0.0) for name in channels}  # push and throttled calls before the start
    while True:
        poll_at = max(min(next_poll.values()), busy_until)
        cycle_at = min(poll_at, max(queued_at, busy_until))
        buyer_at = buyer.at_s if buyer is not None else math.inf
        if min(cycle_at, buyer_at) > end:
            break
        if cycle_at <= buyer_at:
            if now[0] < 0 <= cycle_at:
                counted = {name: (c.push_calls, c.throttled_calls, c.paced_s) for name, c in channels.items()}
            now[0] = cycle_at
            # A delivery makes channels due as the worker's loop does, with the orders since.
            due = (
                woken(next_poll, last_at, gaps, cycle_at)
                if queued
                else {n for n, at in next_poll.items() if at <= cycle_at}
            )
            cycle(due, delivered=queued)
            for name in due:
                last_at[name] = cycle_at
                while next_poll[name] <= cycle_at:
                    next_poll[name] += every[name]
            queued, queued_at = [], math.inf
            busy_until = cycle_at + scenario.cycle_s
            continue
        assert buyer is not None  # noqa: S101 - buyer_at is finite
        if now[0] < 0:
            counted = {name: (c.push_calls, c.throttled_calls, c.paced_s) for name, c in channels.items()}
        now[0] = buyer.at_s
        channel, over_before = channels[buyer.channel], outcome.oversells
        if _serve(buyer, world, channel, shelf, sold, outcome) and buyer.channel in webhooks:
            # The platform's webhook: the order is delivered to the worker's next cycle.
            queued += channel.orders_since(None).lines[-1:]
            queued_at = min(queued_at, buyer.at_s)
        for jump in watching:  # oversold on a jumped channel before the worker measured the jump
            if jump.channel == buyer.channel and buyer.at_s >= jump.at_s:
                jump.oversold += outcome.oversells - over_before
        buyer = next(buyers, None)
    for name, channel in channels.items():
        calls, throttled, paced = counted[name]
        outcome.by_channel[name]["push_calls"] = channel.push_calls - calls
        outcome.by_channel[name]["throttled"] = channel.throttled_calls - throttled
        if channel.paced_s > paced:  # a paced client's calls waited their turn this long
            outcome.by_channel[name]["paced_s"] = round(channel.paced_s - paced, 1)
    outcome.push_calls = sum(int(c["push_calls"]) for c in outcome.by_channel.values())
    outcome.throttled_calls = sum(int(c["throttled"]) for c in outcome.by_channel.values())
    heap.release()  # as the worker's loop does when it stops
    _bound(outcome, world, sold)
    outcome.jumps = jumps
    outcome.cpu_s = time.process_time() - began
    return outcome


def _bound(outcome: Outcome, world: World, sold: Sequence[int]) -> None:
    """The clairvoyant bound per SKU, and the units each policy sold short of it."""
    orders: dict[int, list[int]] = {}
    for buyer in world.buyers:
        if buyer.at_s >= 0:
            orders.setdefault(buyer.item, []).append(buyer.units)
    for n, item in enumerate(world.catalogue):
        bound = clairvoyant(item.stock, orders.get(n, []))
        outcome.clairvoyant_units += bound
        short = max(bound - sold[n], 0)
        outcome.units_lost += short
        outcome.revenue_lost += short * item.price


def _history(scenario: Scenario, world: World) -> list[LedgerEntry]:
    """The Ledger at the start: a count an hour before, that hour's sales, and the opening count.

    The orders drawn before the start are that hour's orders.  The count before them is what the
    shelf held then; the opening count after them is each SKU's starting stock and the running
    total starts afresh from it.
    """
    before = [b for b in world.buyers if b.at_s < 0]
    sold: Counter[int] = Counter()
    for buyer in before:
        sold[buyer.item] += buyer.units
    counted, opened = (scenario.start + timedelta(seconds=s) for s in (-HISTORY_S - 1, -1))
    first = [
        LedgerEntry(f"count/{item.sku}/before", item.sku, item.stock + sold[n], Movement.COUNT, counted)
        for n, item in enumerate(world.catalogue)
    ]
    sales = [
        LedgerEntry(
            f"{buyer.channel}/before-{n}/1",
            world.catalogue[buyer.item].sku,
            -buyer.units,
            Movement.SALE,
            scenario.start + timedelta(seconds=buyer.at_s),
            buyer.channel,
            order_id=f"before-{n}",
            line_id="1",
        )
        for n, buyer in enumerate(before)
    ]
    opening = [
        LedgerEntry(f"count/{item.sku}/opening", item.sku, item.stock, Movement.COUNT, opened)
        for item in world.catalogue
    ]
    return first + sales + opening


def _serve(
    buyer: Buyer, world: World, channel: SandboxChannel, shelf: list[int], sold: list[int], outcome: Outcome
) -> bool:
    """One order on ``channel``: all its units or none; count what happened against the shelf."""
    item = world.catalogue[buyer.item]
    counts = outcome.by_channel[buyer.channel]
    outcome.orders += 1
    outcome.units_asked += buyer.units
    counts["orders"] += 1
    if channel.sell(item.sku, buyer.units):
        real = min(max(shelf[buyer.item], 0), buyer.units)
        over = buyer.units - real
        outcome.sold += real
        sold[buyer.item] += real
        counts["sold"] += real
        if over:
            outcome.oversells += over
            counts["oversells"] += over
            outcome.revenue_oversold += over * item.price
            if outcome.first_oversell_s is None:
                outcome.first_oversell_s = buyer.at_s
            if len(outcome.oversold) < OVERSOLD_LISTED:
                outcome.oversold.append([round(buyer.at_s / 60, 1), buyer.channel, item.sku, over])
        shelf[buyer.item] -= buyer.units
        return True
    if shelf[buyer.item] >= buyer.units:
        outcome.refused_orders += 1
        counts["refused_orders"] += 1
    return False


@dataclass(frozen=True, slots=True)
class Report:
    """Every policy's outcome on one scenario and seed."""

    scenario: Scenario
    seed: int
    outcomes: Mapping[str, Outcome]

    def comparison(self) -> dict[str, Any]:
        """Pushes against static's, the issue's yardstick for churn."""
        static = self.outcomes.get("static")
        if static is None or not static.pushes:
            return {}
        return {name: round(o.pushes / static.pushes, 2) for name, o in self.outcomes.items()}

    def line(self) -> str:
        """The compact JSON object the command prints last."""
        policies = {name: outcome.summary() for name, outcome in self.outcomes.items()}
        for name, ratio in self.comparison().items():
            policies[name]["pushes_vs_static"] = ratio
        for name, outcome in self.outcomes.items():
            if outcome.jumps:
                policies[name]["jumps"] = [jump.figures() for jump in outcome.jumps]
        return json.dumps(
            {"scenario": self.scenario.name, "seed": self.seed, "policies": policies}, separators=(",", ":")
        )

    def document(self) -> dict[str, Any]:
        """The JSON file: the scenario as run, and every figure per policy."""
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "parameters": self.scenario.model_dump(mode="json"),
            "pushes_vs_static": self.comparison(),
            "policies": {name: outcome.details() for name, outcome in self.outcomes.items()},
            "cpu_s": {name: round(outcome.cpu_s, 1) for name, outcome in self.outcomes.items()},
        }


#: Fixed str hashing in the processes that run the policies: the worker iterates some sets of
#: SKUs (lag samples are taken in that order and the oldest dropped), so without it a run could
#: differ from the last by a sale or two.
HASH_SEED = "0"


def simulate(
    scenario: Scenario,
    seed: int,
    policies: Sequence[str] = POLICIES,
    *,
    workers: int = len(POLICIES),
    done: Callable[[str, Outcome], None] | None = None,
) -> Report:
    """Run every policy on the same draws for ``seed``, ``workers`` of them at once.

    Each runs in a fresh process with ``HASH_SEED``, so a seed gives the same figures on every
    run, whatever ``workers`` is.  ``done`` hears each policy as it finishes.
    """
    world = draw(scenario, seed)
    outcomes: dict[str, Outcome] = {}
    # spawn, not fork: a fresh interpreter takes the hash seed, and no caller thread is copied.
    context = multiprocessing.get_context("spawn")
    before = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = HASH_SEED
    try:
        with ProcessPoolExecutor(max(1, min(workers, len(policies))), mp_context=context) as pool:
            running = {pool.submit(run_policy, scenario, world, policy): policy for policy in policies}
            for future in as_completed(running):
                outcomes[running[future]] = future.result()
                if done is not None:
                    done(running[future], outcomes[running[future]])
    finally:
        if before is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = before
    return Report(scenario, seed, {policy: outcomes[policy] for policy in policies})


def table(report: Report) -> Table:
    """The terminal table: one row per policy."""
    out = Table(title=f"{report.scenario.name}, seed {report.seed}")
    out.add_column("Policy")
    columns = ("Oversells", "Units sold", "Clairvoyant", "Share", "Units lost", "Pushes", "Throttled")
    for column in columns:
        out.add_column(column, justify="right")
    for name, o in report.outcomes.items():
        out.add_row(
            name,
            str(o.oversells),
            f"{o.sold:,}",
            f"{o.clairvoyant_units:,}",
            f"{o.share_of_clairvoyant:.1%}",
            f"{o.units_lost:,}",
            f"{o.pushes:,}",
            str(o.throttled_calls),
        )
    return out


def write_json(report: Report, path: Path) -> None:
    """Every figure per policy, and the scenario as run."""
    path.write_text(json.dumps(report.document(), indent=2) + "\n", encoding="utf-8")


def write_plot(report: Report, path: Path) -> bool:
    """Oversells against units lost to the clairvoyant bound, one labelled point per policy (PNG).

    False, and nothing written, where matplotlib (the ``plot`` extra) is not installed.
    """
    try:  # only this command draws: keep other commands' start quick, and the plot optional
        from matplotlib.figure import Figure
    except ImportError:
        return False

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.subplots()
    for name, outcome in report.outcomes.items():
        axes.scatter(outcome.units_lost, outcome.oversells, s=60)
        axes.annotate(
            name, (outcome.units_lost, outcome.oversells), xytext=(6, 6), textcoords="offset points"
        )
    axes.set_xlabel("units lost: short of what a clairvoyant policy sells without overselling")
    axes.set_ylabel("oversells (units sold that did not exist)")
    axes.set_title(f"{report.scenario.name}, seed {report.seed}")
    # From 0, with room for the labels past the furthest point.
    axes.set_xlim(0, 1.15 * max(o.units_lost for o in report.outcomes.values()) + 1)
    axes.set_ylim(0, 1.15 * max(o.oversells for o in report.outcomes.values()) + 1)
    axes.grid(visible=True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return True
