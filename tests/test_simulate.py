"""``sheetsync simulate``: the same seed gives the same figures, lag makes no-buffer oversell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sheetsync.cli import main
from sheetsync.errors import ConfigError
from sheetsync.simulate import POLICIES, Scenario, draw, load_scenario, run_policy, simulate

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

    assert first.document() == second.document()
    assert first.line() == second.line()


def test_another_seed_brings_other_buyers_and_every_policy_meets_the_same_ones(tiny: Path) -> None:
    scenario = load_scenario(str(tiny))

    assert draw(scenario, 1).buyers != draw(scenario, 2).buyers
    assert draw(scenario, 1) == draw(scenario, 1)
    world = draw(scenario, 1)
    during = [b for b in world.buyers if b.at_s >= 0]  # the hour before is history in the Ledger
    assert len(during) < len(world.buyers)
    for policy in POLICIES:
        assert run_policy(scenario, world, policy).buyers == len(during)


def test_without_buffers_a_lagging_channel_oversells(tiny: Path) -> None:
    scenario = load_scenario(str(tiny))
    world = draw(scenario, 1)

    none = run_policy(scenario, world, "none")

    assert none.oversells > 0
    assert none.by_channel["feed"]["oversells"] > 0
    assert none.by_channel["shop"]["oversells"] == 0  # seconds of lag and webhooks: nothing slips
    assert none.revenue_oversold > 0


def test_a_period_with_no_lag_anywhere_never_oversells(tiny: Path) -> None:
    scenario = load_scenario(str(tiny))
    prompt = {"normal": (0.0, 0.0), "peak": (0.0, 0.0), "spike_chance": 0.0}
    channels = {
        name: c.model_copy(update={"lag": c.lag.model_copy(update=prompt), "webhooks": True})
        for name, c in scenario.channels.items()
    }
    instant = scenario.model_copy(update={"channels": channels})

    outcome = run_policy(instant, draw(instant, 1), "none")

    assert (outcome.oversells, outcome.turned_away) == (0, 0)
    assert outcome.sold > 0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("skus = 12", "skuz = 12", "catalogue.skuz: unknown setting (check the spelling)"),
        ("skus = 12", "", "catalogue.skus: missing; this setting is required"),
        ("peak = [600, 900]", "peak = [900, 600]", "channels.feed.lag.peak: [900, 600] is not a range"),
        ("share = 0.4", "share = 0", "channels.feed.share: Input should be greater than 0"),
        ("interval = 60", "interval = 3600", "channels.feed: max_lag (1800 s) must be longer than interval"),
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
    with pytest.raises(ConfigError, match="packaged scenarios: black-friday"):
        load_scenario("cyber-monday")


def test_the_packaged_scenario_loads() -> None:
    scenario = load_scenario("black-friday")

    assert isinstance(scenario, Scenario)
    assert scenario.name == "black-friday"
    assert set(scenario.channels) == {"shopify", "facebook", "google"}
    assert scenario.channels["shopify"].webhooks
    assert scenario.channels["facebook"].lag.peak == (900, 1200)


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
        assert set(figures) == {"oversells", "turned_away", "sell_through", "revenue_at_risk"}
    document = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    assert {name: document["policies"][name]["oversells"] for name in POLICIES} == {
        name: figures["oversells"] for name, figures in last["policies"].items()
    }
    assert (out / "simulation.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
