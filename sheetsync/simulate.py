"""``sheetsync simulate``: a peak of trading in simulated time, once per buffer policy.

A discrete-event simulation drives the real worker (``run_cycle``: ledger, planner, pushes,
monitoring) against sandbox channels and an in-memory master.  Buyers arrive as a Poisson
process following the scenario's demand curve, pick a channel by its share of buyers and a SKU
by a Zipf-like popularity, and buy one unit if that channel shows one.  Each channel's lag is
drawn afresh every ``step_s`` seconds from its phase's range (peak or normal), with spikes.

Every policy sees the same catalogue, the same buyers and the same lag draws: each comes from
its own random stream seeded from ``--seed``, drawn before any policy runs.  What differs is
only what the worker publishes.  An oversell is a unit sold that was not on the shelf; a sale
turned away is a buyer who found the channel at 0 while the shelf still had the unit.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import multiprocessing
import os
import random
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

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import (
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
from sheetsync.core.buffers import NO_BUFFER, AdaptiveRule
from sheetsync.errors import ConfigError
from sheetsync.model import INVENTORY_SHEET, ChannelName, LedgerEntry, Movement, OrderLine, Sku
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import run_cycle

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


Seconds = Annotated[float, Field(ge=0)]


class LagModel(_Strict):
    """How long a push takes to show on a channel, drawn afresh every ``step_s``."""

    normal: tuple[Seconds, Seconds]  #: seconds, [low, high], uniform, outside the peak
    peak: tuple[Seconds, Seconds]  #: seconds, [low, high], within one width of the peak
    spike_chance: Annotated[float, Field(ge=0, le=1)] = 0.0  #: per draw, in either phase
    spike: Seconds = 0.0  #: seconds a spike takes

    _ranges = field_validator("normal", "peak")(_ordered)


class ChannelModel(_Strict):
    """One channel: its buyers, how the worker talks to it, its static tiers, its lag."""

    title: str | None = None
    share: Annotated[float, Field(gt=0)]  #: relative share of buyers
    interval: Annotated[int, Field(ge=1)] = 60  #: seconds between the worker's polls
    webhooks: bool = False  #: a sale here starts a cycle at once, with the order delivered
    max_lag: Annotated[float, Field(gt=0)] = 900.0  #: seconds before a push is flagged LAG
    tiers: list[TierModel] = Field(default_factory=lambda: [TierModel(min=0, hold=0)])
    lag: LagModel

    _tiers = field_validator("tiers")(tiers_cover_zero)

    @model_validator(mode="after")
    def _lag_outlasts_a_cycle(self) -> ChannelModel:
        if self.max_lag <= self.interval:
            raise ValueError(f"max_lag ({self.max_lag:g} s) must be longer than interval ({self.interval} s)")
        return self


class CatalogueModel(_Strict):
    """The SKUs: how many, how skewed their popularity, their stock and prices."""

    skus: Annotated[int, Field(ge=1, le=100_000)]
    #: Zipf exponent: the k-th most popular SKU draws 1/k^skew as many buyers as the first
    skew: Annotated[float, Field(ge=0)] = 1.0
    stock: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]  #: units, [low, high]
    price: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]  #: [low, high]

    _ranges = field_validator("stock", "price")(_ordered)


class DemandModel(_Strict):
    """Buyers an hour across all channels: a base rate plus a Gaussian peak."""

    base_per_h: Annotated[float, Field(ge=0)]
    peak_per_h: Annotated[float, Field(ge=0)]  #: the rate at the top of the peak
    peak_at_h: Annotated[float, Field(ge=0)]  #: hours after the start
    peak_width_h: Annotated[float, Field(gt=0)]  #: standard deviation; ±1 width is the lag's peak phase

    @model_validator(mode="after")
    def _peak_above_base(self) -> DemandModel:
        if self.peak_per_h < self.base_per_h:
            raise ValueError("peak_per_h must be at least base_per_h")
        return self

    def rate_per_s(self, at_s: float) -> float:
        """Buyers a second, ``at_s`` seconds after the start."""
        z = (at_s / 3600 - self.peak_at_h) / self.peak_width_h
        return (self.base_per_h + (self.peak_per_h - self.base_per_h) * math.exp(-0.5 * z * z)) / 3600

    def at_peak(self, at_s: float) -> bool:
        """Within one width of the peak: the channels' peak lag applies."""
        return abs(at_s / 3600 - self.peak_at_h) <= self.peak_width_h


class Scenario(_Strict):
    """A simulated trading period (see ``templates/scenarios/black-friday.toml``)."""

    name: Annotated[str, Field(min_length=1)]
    start: datetime = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    duration_h: Annotated[float, Field(gt=0, le=72)]
    step_s: Annotated[float, Field(gt=0)] = 60.0  #: seconds between fresh lag draws
    catalogue: CatalogueModel
    demand: DemandModel
    channels: dict[str, ChannelModel]

    @model_validator(mode="after")
    def _checks(self) -> Scenario:
        if not self.channels:
            raise ValueError("at least one [channels.NAME] table is needed")
        if self.start.tzinfo is None:
            raise ValueError("start needs a time zone offset (2026-11-27T07:00:00Z)")
        return self

    @property
    def duration_s(self) -> float:
        """The simulated period in seconds."""
        return self.duration_h * 3600


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
    """One buyer: when, where and what."""

    at_s: float  #: seconds after the start
    channel: ChannelName
    item: int  #: index into the catalogue


@dataclass(frozen=True, slots=True)
class World:
    """Everything random, drawn once per seed and shared by every policy."""

    catalogue: tuple[Item, ...]
    buyers: tuple[Buyer, ...]
    lags: Mapping[ChannelName, tuple[float, ...]]  #: per channel, the lag for each step


def draw(scenario: Scenario, seed: int) -> World:
    """The catalogue, the buyers and the lags for ``seed``; each from its own stream."""

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
    rng = stream("buyers")
    demand = scenario.demand
    ceiling = max(demand.peak_per_h, demand.base_per_h) / 3600
    buyers = []
    at = -HISTORY_S
    while ceiling > 0:  # thinning: candidates at the top rate, kept at rate(t) / top rate
        at += rng.expovariate(ceiling)
        if at >= scenario.duration_s:
            break
        if rng.random() * ceiling < demand.rate_per_s(at):
            where = names[bisect.bisect(shares, rng.random() * shares[-1])]
            item = bisect.bisect(popularity, rng.random() * popularity[-1])
            buyers.append(Buyer(at, where, item))
    steps = math.ceil((RUNNING_S + scenario.duration_s) / scenario.step_s) + 1
    lags = {}
    for name, model in scenario.channels.items():
        rng = stream(f"lag/{name}")
        lag = model.lag
        draws = []
        for step in range(steps):
            low, high = lag.peak if demand.at_peak(step * scenario.step_s - RUNNING_S) else lag.normal
            seconds = rng.uniform(low, high)
            draws.append(lag.spike if rng.random() < lag.spike_chance else seconds)
        lags[ChannelName(name)] = tuple(draws)
    return World(catalogue, tuple(buyers), lags)


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


# -- one run per policy ------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one policy did with the scenario."""

    buyers: int = 0
    sold: int = 0  #: units sold that were on the shelf
    oversells: int = 0  #: units sold that were not on the shelf
    turned_away: int = 0  #: buyers who found the channel at 0 while the shelf had the unit
    sold_out: int = 0  #: buyers who found nothing, rightly: the shelf was empty too
    revenue_oversold: float = 0.0
    revenue_turned_away: float = 0.0
    starting_units: int = 0
    cycles: int = 0
    pushes: int = 0
    by_channel: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    first_oversell_s: float | None = None

    @property
    def sell_through(self) -> float:
        """Units sold that existed, over the units on the shelf at the start."""
        return self.sold / self.starting_units if self.starting_units else 0.0

    def summary(self) -> dict[str, Any]:
        """The four figures the last line reports."""
        return {
            "oversells": self.oversells,
            "turned_away": self.turned_away,
            "sell_through": round(self.sell_through, 4),
            "revenue_at_risk": round(self.revenue_oversold + self.revenue_turned_away, 2),
        }

    def details(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return {
            **self.summary(),
            "revenue_at_risk_oversold": round(self.revenue_oversold, 2),
            "revenue_at_risk_turned_away": round(self.revenue_turned_away, 2),
            "buyers": self.buyers,
            "sold": self.sold,
            "sold_out": self.sold_out,
            "starting_units": self.starting_units,
            "cycles": self.cycles,
            "pushes": self.pushes,
            "first_oversell_min": None
            if self.first_oversell_s is None
            else round(self.first_oversell_s / 60, 1),
            "by_channel": self.by_channel,
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
            channel = dataclasses.replace(channel, adaptive=AdaptiveRule())
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
#: The worker polls and pushes, with the channels' lags, this long before the start, so it has
#: measured each channel's lag by then (the lag of the period's first step applies).
RUNNING_S = 1800.0

#: The worker was running before the period starts: two cycles this long before it (a push that
#: shows at once, then the read that sees it) leave every channel showing what its policy
#: publishes, not an empty listing, and their lag samples have left the worker's hour-long window.
WARM_UP_S = 7200.0


def run_policy(scenario: Scenario, world: World, policy: str) -> Outcome:
    """Run the scenario's period once with ``policy``, in this process."""
    settings = settings_for(scenario, policy)
    start, end = scenario.start, scenario.duration_s
    now = [-WARM_UP_S]  # seconds after the start

    def clock() -> datetime:
        return start + timedelta(seconds=now[0])

    def lag_of(name: ChannelName) -> Callable[[], float]:
        draws = world.lags[name]

        def lag() -> float:
            if now[0] < -RUNNING_S:
                return 0.0  # the warm-up: every channel shows its first push at once
            return draws[min(int((now[0] + RUNNING_S) // scenario.step_s), len(draws) - 1)]

        return lag

    channels = {c.name: SandboxChannel(c.name, clock, lag=lag_of(c.name)) for c in settings.channels}
    webhooks = {ChannelName(n) for n, c in scenario.channels.items() if c.webhooks}
    intervals = {c.name: c.interval_s for c in settings.channels}
    rows = [("SKU", "Quantity"), *((item.sku, str(item.stock)) for item in world.catalogue)]
    store = MemoryStore(settings.layout, {INVENTORY_SHEET: rows}, where=f"simulation {scenario.name}")
    store.append_ledger(_history(scenario, world))
    shelf = [item.stock for item in world.catalogue]
    outcome = Outcome(starting_units=sum(shelf))
    outcome.by_channel = {name: {"sold": 0, "oversells": 0, "turned_away": 0} for name in channels}
    listed = list(channels.values())

    def cycle(due: Collection[ChannelName] | None, delivered: Sequence[OrderLine] = ()) -> None:
        report = run_cycle(store, listed, settings, clock(), due, delivered=delivered)
        outcome.cycles += 1
        outcome.pushes += sum(report.pushed.values())

    cycle(None)  # the warm-up: lag is 0 before the start
    now[0] += 1
    cycle(None)
    next_poll = dict.fromkeys(channels, -RUNNING_S)  # then the worker runs as usual before the start
    buyers: Iterator[Buyer] = iter(b for b in world.buyers if b.at_s >= 0)
    buyer = next(buyers, None)
    while True:
        poll_at = min(next_poll.values())
        buyer_at = buyer.at_s if buyer is not None else math.inf
        if min(poll_at, buyer_at) > end:
            break
        if poll_at <= buyer_at:
            now[0] = poll_at
            due = [name for name, at in next_poll.items() if at <= poll_at]
            cycle(due)
            for name in due:
                next_poll[name] += intervals[name]
            continue
        assert buyer is not None  # noqa: S101 - buyer_at is finite
        now[0] = buyer.at_s
        sold = _serve(buyer, world, channels[buyer.channel], shelf, outcome)
        if sold and buyer.channel in webhooks:
            # The platform's webhook: the order is delivered, and every channel hears of it now.
            cycle(None, delivered=channels[buyer.channel].orders_since(None).lines[-1:])
        buyer = next(buyers, None)
    return outcome


def _history(scenario: Scenario, world: World) -> list[LedgerEntry]:
    """The Ledger at the start: a count an hour before, that hour's sales, and the opening count.

    The buyers drawn before the start are that hour's orders (each bought one). The count before
    them is what the shelf held then; the opening count after them is each SKU's starting stock
    and the running total starts afresh from it.
    """
    before = [b for b in world.buyers if b.at_s < 0]
    sold = Counter(b.item for b in before)
    counted, opened = (scenario.start + timedelta(seconds=s) for s in (-HISTORY_S - 1, -1))
    first = [
        LedgerEntry(f"count/{item.sku}/before", item.sku, item.stock + sold[n], Movement.COUNT, counted)
        for n, item in enumerate(world.catalogue)
    ]
    sales = [
        LedgerEntry(
            f"{buyer.channel}/before-{n}/1",
            world.catalogue[buyer.item].sku,
            -1,
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


def _serve(buyer: Buyer, world: World, channel: SandboxChannel, shelf: list[int], outcome: Outcome) -> bool:
    """One buyer tries to buy one unit on ``channel``; count what happened against the shelf."""
    item = world.catalogue[buyer.item]
    counts = outcome.by_channel[buyer.channel]
    outcome.buyers += 1
    if channel.sell(item.sku):
        if shelf[buyer.item] <= 0:
            outcome.oversells += 1
            counts["oversells"] += 1
            outcome.revenue_oversold += item.price
            if outcome.first_oversell_s is None:
                outcome.first_oversell_s = buyer.at_s
        else:
            outcome.sold += 1
            counts["sold"] += 1
        shelf[buyer.item] -= 1
        return True
    if shelf[buyer.item] > 0:
        outcome.turned_away += 1
        counts["turned_away"] += 1
        outcome.revenue_turned_away += item.price
    else:
        outcome.sold_out += 1
    return False


@dataclass(frozen=True, slots=True)
class Report:
    """Every policy's outcome on one scenario and seed."""

    scenario: Scenario
    seed: int
    outcomes: Mapping[str, Outcome]

    def line(self) -> str:
        """The compact JSON object the command prints last."""
        policies = {name: outcome.summary() for name, outcome in self.outcomes.items()}
        return json.dumps(
            {"scenario": self.scenario.name, "seed": self.seed, "policies": policies}, separators=(",", ":")
        )

    def document(self) -> dict[str, Any]:
        """The JSON file: the scenario as run, and every figure per policy."""
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "parameters": self.scenario.model_dump(mode="json"),
            "policies": {name: outcome.details() for name, outcome in self.outcomes.items()},
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
    for column in ("Oversells", "Turned away", "Sell-through", "Revenue at risk (oversold + turned away)"):
        out.add_column(column, justify="right")
    for name, outcome in report.outcomes.items():
        over, away = outcome.revenue_oversold, outcome.revenue_turned_away
        out.add_row(
            name,
            str(outcome.oversells),
            str(outcome.turned_away),
            f"{outcome.sell_through:.1%}",
            f"{over + away:,.0f} ({over:,.0f} + {away:,.0f})",
        )
    return out


def write_json(report: Report, path: Path) -> None:
    """Every figure per policy, and the scenario as run."""
    path.write_text(json.dumps(report.document(), indent=2) + "\n", encoding="utf-8")


def write_plot(report: Report, path: Path) -> bool:
    """Oversells against sales turned away, one labelled point per policy (PNG).

    False, and nothing written, where matplotlib (the ``plot`` extra) is not installed.
    """
    try:  # only this command draws: keep other commands' start quick, and the plot optional
        from matplotlib.figure import Figure
    except ImportError:
        return False

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.subplots()
    for name, outcome in report.outcomes.items():
        axes.scatter(outcome.turned_away, outcome.oversells, s=60)
        axes.annotate(
            name, (outcome.turned_away, outcome.oversells), xytext=(6, 6), textcoords="offset points"
        )
    axes.set_xlabel("sales turned away while stock existed (buyers)")
    axes.set_ylabel("oversells (units sold that did not exist)")
    axes.set_title(f"{report.scenario.name}, seed {report.seed}")
    # From 0, with room for the labels past the furthest point.
    axes.set_xlim(0, 1.15 * max(o.turned_away for o in report.outcomes.values()) + 1)
    axes.set_ylim(0, 1.15 * max(o.oversells for o in report.outcomes.values()) + 1)
    axes.grid(visible=True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return True
