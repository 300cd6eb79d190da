"""``sheetsync simulate``: the same seed gives the same figures, lag makes no-buffer oversell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sheetsync.cli import main
from sheetsync.errors import ConfigError
from sheetsync.model import ChannelName
from sheetsync.simulate import (
    POLICIES,
    Scenario,
    clairvoyant,
    draw,
    load_scenario,
    run_policy,
    settings_for,
    simulate,
)

#: An hour on two channels, small enough for a test: a prompt one with webhooks, a slow feed.
TINY = """
name = "tiny"
duration_h = 1
step_s = 60

[catalogue]
skus = 12
skew = 1.0
stock = [2, 8]
price = [10.0, 50.0]

[demand]
base_per_h = 60
peak_per_h = 240
peak_at_h = 0.5
peak_width_h = 0.2

[channels.shop]
share = 0.6
interval = 30
webhooks = true
tiers = [{ min = 3, hold = 1 }, { min = 0, hold = "all" }]
lag = { normal = [1, 3], peak = [2, 5] }

[channels.feed]
share = 0.4
interval = 60
max_lag = 1800
tiers = [{ min = 6, hold = 2 }, { min = 0, hold = "all" }]
lag = { normal = [300, 600], peak = [600, 900], spike_chance = 0.1, spike = 1500 }
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_the_same_seed_gives_the_same_figures(tiny: Path) -> None:
    scenario = load_scenario(str(tiny))

    first = simulate(scenario, 5, workers=3)
    second = simulate(scenario, 5, workers=1)

    assert _without_cpu(first.document()) == _without_cpu(second.document())
    assert first.line() == second.line()


def _without_cpu(document: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in document.items() if key != "cpu_s"}


def test_another_seed_brings_other_buyers_and_every_policy_meets_the_same_ones(tiny: Path) -> None:
    scenario = load_scenario(str(tiny))

    assert draw(scenario, 1).buyers != draw(scenario, 2).buyers
    assert draw(scenario, 1) == draw(scenario, 1)
    world = draw(scenario, 1)
    during = [b for b in world.buyers if b.at_s >= 0]  # the hour before is history in the Ledger
    assert len(during) < len(world.buyers)
    for policy in POLICIES:
        assert run_policy(scenario, world, policy).orders == len(during)


def test_without_buffers_a_lagging_channel_oversells(tiny: Path) -> None:
    scenario = load_scenario(str(tiny))
    world = draw(scenario, 1)

    none = run_policy(scenario, world, "none")

    assert none.oversells > 0
    assert none.by_channel["feed"]["oversells"] > 0
    assert none.by_channel["shop"]["oversells"] == 0  # seconds of lag and webhooks: nothing slips
    assert none.revenue_oversold > 0
    assert none.sold <= none.clairvoyant_units  # the bound is never beaten from the shelf


def test_a_period_with_no_lag_anywhere_never_oversells(tiny: Path) -> None:
    scenario = load_scenario(str(tiny))
    prompt = {"normal": (0.0, 0.0), "peak": (0.0, 0.0), "spike_chance": 0.0}
    channels = {
        name: c.model_copy(update={"lag": c.lag.model_copy(update=prompt), "webhooks": True})
        for name, c in scenario.channels.items()
    }
    instant = scenario.model_copy(update={"channels": channels})

    outcome = run_policy(instant, draw(instant, 1), "none")

    assert (outcome.oversells, outcome.refused_orders) == (0, 0)
    assert outcome.sold > 0
    assert outcome.units_lost == 0  # sold everything a clairvoyant could


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("skus = 12", "skuz = 12", "[catalogue] skuz: unknown setting (check the spelling)"),
        ("skus = 12", "", "[catalogue] skus: missing; this setting is required"),
        ("peak = [600, 900]", "peak = [900, 600]", "[channels.feed] lag, peak: [900, 600] is not a range"),
        ("share = 0.4", "share = 0", "[channels.feed] share: must be more than 0"),
        (
            "interval = 60",
            "interval = 3600",
            "[channels.feed]: max_lag (1800 s) must be longer than interval",
        ),
        ('hold = "all" }]\nlag = { normal = [300', 'hold = "most" }]\nlag = { normal = [300', "hold"),
    ],
)
def test_scenario_errors_name_the_file_and_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    assert old in TINY
    path.write_text(TINY.replace(old, new, 1), encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_scenario(str(path))

    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_an_unknown_scenario_names_the_packaged_ones() -> None:
    with pytest.raises(
        ConfigError, match="packaged scenarios: black-friday, black-friday-harsh, flash-sale, marketplace"
    ):
        load_scenario("cyber-monday")


def test_the_packaged_scenario_loads() -> None:
    scenario = load_scenario("black-friday")

    assert isinstance(scenario, Scenario)
    assert scenario.name == "black-friday"
    assert set(scenario.channels) == {"shopify", "facebook", "google"}
    assert scenario.channels["shopify"].webhooks
    assert scenario.demand.units == (1, 3)
    assert scenario.channels["facebook"].calls_per_hour == 200
    assert scenario.running_s >= max(c.lag.longest for c in scenario.channels.values() if not c.lag.spikes)


def test_the_command_writes_json_and_a_plot_and_ends_with_a_json_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    code = main(["simulate", "--scenario", str(tiny), "--seed", "3", "--out", str(out)])

    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    last = json.loads(printed[-1])
    assert (last["scenario"], last["seed"], list(last["policies"])) == ("tiny", 3, list(POLICIES))
    for figures in last["policies"].values():
        assert {"oversells", "units_sold", "clairvoyant_units", "share_of_clairvoyant", "pushes"} <= set(
            figures
        )
        assert figures["units_sold"] <= figures["clairvoyant_units"]
    document = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    assert {name: document["policies"][name]["oversells"] for name in POLICIES} == {
        name: figures["oversells"] for name, figures in last["policies"].items()
    }
    assert (out / "simulation.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("stock", "orders", "bound"),
    [
        (0, [1, 2], 0),
        (10, [], 0),
        (10, [3, 3], 6),  # all of it: demand is under the stock
        (5, [3, 3, 3], 3),  # whole orders only: 5 cannot be made of 3s
        (3, [2, 2, 3], 3),  # first come, first served sells 2; skipping both 2s sells 3
        (4, [3, 3], 3),
    ],
)
def test_the_clairvoyant_bound_is_the_best_subset_of_whole_orders_within_stock(
    stock: int, orders: list[int], bound: int
) -> None:
    assert clairvoyant(stock, orders) == bound


def test_units_per_order_phases_spikes_and_jumps_come_from_the_file(tiny: Path, tmp_path: Path) -> None:
    text = TINY.replace(
        "peak_width_h = 0.2",
        "peak_width_h = 0.2\nunits = [1, 3]\nunit_weights = [0, 0, 1]\nmultiplier = 2",
    ).replace(
        "lag = { normal = [300, 600], peak = [600, 900], spike_chance = 0.1, spike = 1500 }",
        "lag = { normal = [300, 300], phases = [{ from_h = 0.5, to_h = 1, lag = [400, 400] }],"
        " spikes = [{ at_h = 0.25, for_min = 5, lag = [900, 900] }],"
        " jumps = [{ at_h = 0.75, lag = [1200, 1200] }] }",
    )
    path = tmp_path / "shaped.toml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(str(path))
    plain = load_scenario(str(tiny))

    world = draw(scenario, 1)

    assert {b.units for b in world.buyers} == {3}
    assert len(world.buyers) > 1.5 * len(draw(plain, 1).buyers)  # twice the orders, give or take
    lags = world.lags[ChannelName("feed")]
    at = {minute: lags[int((minute * 60 + world.running_s) // 60)] for minute in (10, 16, 25, 40, 50)}
    assert at == {10: 300, 16: 900, 25: 300, 40: 400, 50: 1200}


def test_a_jump_is_reported_with_when_the_worker_measured_it(tmp_path: Path) -> None:
    text = TINY.replace(
        "lag = { normal = [1, 3], peak = [2, 5] }",
        "lag = { normal = [1, 3], jumps = [{ at_h = 0.25, lag = [600, 600] }] }",
    ).replace("interval = 30\n", "interval = 30\nmax_lag = 900\n")
    path = tmp_path / "jump.toml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(str(path))

    outcome = run_policy(scenario, draw(scenario, 1), "adaptive")

    (jump,) = (j.figures() for j in outcome.jumps)
    assert (jump["channel"], jump["at_min"], jump["lag_min"]) == ("shop", 15.0, 10.0)
    assert jump["detected_after_min"] is not None
    assert jump["detected_after_min"] >= 10  # a lag is measured when a push shows, not sooner
    assert jump["oversold_before_detected"] <= outcome.by_channel["shop"]["oversells"]


def test_a_jump_on_a_channel_not_talked_to_every_cycle_is_watched_on_its_own_turns(tmp_path: Path) -> None:
    text = TINY.replace(
        "lag = { normal = [300, 600], peak = [600, 900], spike_chance = 0.1, spike = 1500 }",
        "lag = { normal = [30, 60], jumps = [{ at_h = 0.25, lag = [900, 900] }] }",
    )
    path = tmp_path / "jump.toml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(str(path))

    outcome = run_policy(scenario, draw(scenario, 1), "static")  # shop's 30 s turns come between feed's

    (jump,) = (j.figures() for j in outcome.jumps)
    assert (jump["channel"], jump["lag_min"]) == ("feed", 15.0)
    assert jump["detected_after_min"] is not None


def test_the_worker_keeps_a_channel_within_its_call_limit(tmp_path: Path) -> None:
    path = tmp_path / "limited.toml"
    path.write_text(TINY.replace("interval = 60\n", "interval = 60\ncalls_per_hour = 5\n"), encoding="utf-8")
    scenario = load_scenario(str(path))

    for policy in ("static", "adaptive"):
        outcome = run_policy(scenario, draw(scenario, 1), policy)
        # Polls and deliveries alike wait for the limit's turn (the sandbox refuses a sixth call an hour).
        assert outcome.by_channel["feed"]["throttled"] == 0
        assert 0 < outcome.by_channel["feed"]["push_calls"] <= 5 + 1  # the hour's five, and the start's


def test_a_paced_marketplace_channel_waits_its_turn_and_is_never_throttled(tmp_path: Path) -> None:
    path = tmp_path / "paced.toml"
    paced = TINY.replace("interval = 60\n", "interval = 60\nmax_batch = 2\npace = 0.01\n")
    path.write_text(paced, encoding="utf-8")
    scenario = load_scenario(str(path))

    outcome = run_policy(scenario, draw(scenario, 1), "static")

    feed = outcome.by_channel["feed"]
    assert feed["throttled"] == 0
    assert feed["paced_s"] > 0  # pushes of 2 SKUs a call, one call in 100 s, queue up
    assert "paced_s" not in outcome.by_channel["shop"]


def test_the_marketplace_scenario_paces_emag_to_its_documented_limits() -> None:
    scenario = load_scenario("marketplace")

    emag = scenario.channels["emag"]
    assert (emag.max_batch, emag.pace, emag.webhooks) == (50, 3, False)
    (channel,) = (c for c in settings_for(scenario, "static").channels if c.name == ChannelName("emag"))
    assert channel.title == "eMAG"


def test_the_warm_up_outlasts_the_slowest_lag(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(TINY.replace('name = "tiny"', 'name = "tiny"\nwarm_up_h = 0.1'), encoding="utf-8")

    with pytest.raises(ConfigError, match="shorter than the slowest channel's lag"):
        load_scenario(str(path))
