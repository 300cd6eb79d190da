"""Incidents: one alert when a condition starts, one when it clears."""

from __future__ import annotations

from datetime import UTC, datetime

from sheetsync.core.buffers import NO_BUFFER
from sheetsync.core.cells import parse_rows
from sheetsync.core.incidents import Alert, conditions, track
from sheetsync.core.monitor import Finding, FindingKind
from sheetsync.core.plan import ChannelSpec, GuardVerdict, apply_findings, plan
from sheetsync.model import ChannelName, ChannelStatus, Layout, RawRow, Sku

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SHOPIFY, GOOGLE = ChannelName("shopify"), ChannelName("google")
LAYOUT = Layout(((SHOPIFY, "Shopify"), (GOOGLE, "Google")))
OPEN = GuardVerdict(held=False, message="", accepted=False, rows=0, total=0)


def status(channel: ChannelName, state: str, message: str = "pushed 0") -> ChannelStatus:
    return ChannelStatus(channel, dict(LAYOUT.channels)[channel], state, "", 0, 0, message)


def test_a_condition_alerts_once_while_it_lasts_and_once_when_it_clears() -> None:
    opened, alerts = track({}, {"lag:google": "Google is lagging: 3 pushes"}, NOW)
    assert alerts == [Alert("lag:google", "Google is lagging: 3 pushes", NOW)]
    assert alerts[0].line() == "[sheetsync] ALERT Google is lagging: 3 pushes"

    opened, alerts = track(opened, {"lag:google": "Google is lagging: 9 pushes"}, NOW)
    assert alerts == []
    assert opened == {"lag:google": "Google is lagging: 3 pushes"}  # the text it opened with

    opened, alerts = track(opened, {}, NOW)
    assert opened == {}
    assert alerts == [Alert("lag:google", "Google is lagging: 3 pushes (cleared)", NOW, recovered=True)]
    assert alerts[0].line().startswith("[sheetsync] RECOVERED ")


def test_conditions_from_channel_states() -> None:
    parsed = parse_rows([RawRow(2, {"sku": "A", "quantity": "5"})], LAYOUT)
    quiet = plan(parsed, {Sku("A"): 5}, {}, [], OPEN)
    statuses = [
        status(SHOPIFY, "ERROR", "push failed: 503"),
        status(GOOGLE, "DEGRADED", "pushed 2; lag p95 25m 0s is over the 20m 0s limit"),
    ]
    assert conditions(statuses, quiet, {}, {SHOPIFY, GOOGLE}) == {
        "error:shopify": "Shopify: push failed: 503",
        "lag:google": "Google is lagging: lag p95 25m 0s is over the 20m 0s limit",
        "degraded:google": "Google: auto-pause rule on, publishing only the conservative buffer until its "
        "lag recovers",
    }
    assert conditions([status(GOOGLE, "LAG", "pushed 0")], quiet, {}, {GOOGLE}) == {
        "lag:google": "Google is lagging: pushed 0"
    }


def test_a_channel_not_talked_to_keeps_its_incidents() -> None:
    parsed = parse_rows([RawRow(2, {"sku": "A", "quantity": "5"})], LAYOUT)
    quiet = plan(parsed, {Sku("A"): 5}, {}, [], OPEN)
    before = {"lag:google": "Google is lagging", "oversold": "1 SKU(s) oversold", "lag:shopify": "x"}
    assert conditions([status(SHOPIFY, "OK")], quiet, before, {SHOPIFY}) == {
        "lag:google": "Google is lagging"
    }


def test_drift_oversold_and_guard_conditions_name_rows() -> None:
    raw = [RawRow(n, {"sku": sku, "quantity": "5"}) for n, sku in enumerate("ABCDEFG", start=2)]
    parsed = parse_rows(raw, LAYOUT)
    available = {Sku(s): 5 for s in "ABCDEFG"} | {Sku("A"): -1}
    held = GuardVerdict(
        held=True, message="Inventory has 7 usable rows (was 40)", accepted=False, rows=7, total=35
    )
    drift = Finding(FindingKind.DRIFT, 9, "shows 9")
    draft = plan(parsed, available, {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)], held)
    final = apply_findings(draft, {SHOPIFY: {Sku(s): drift for s in "BCDEFGH"}})
    found = conditions([status(SHOPIFY, "HOLD")], final, {}, {SHOPIFY})
    assert found == {
        "drift:shopify": "Shopify: 6 SKU(s) changed on the platform behind our back, set back to the sheet: "
        "B (row 3), C (row 4), D (row 5), E (row 6), F (row 7) and 1 more",
        "oversold": "1 SKU(s) oversold: A (row 2) at -1",
        "guard": "volume guard holds every push: Inventory has 7 usable rows (was 40)",
    }
