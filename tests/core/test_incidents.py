"""Incidents: one alert when a condition starts, one when it clears."""

from __future__ import annotations

from datetime import UTC, datetime

from sheetsync.core.buffers import NO_BUFFER
from sheetsync.core.cells import parse_rows
from sheetsync.core.incidents import GROUPED_SHOWN, Alert, conditions, group, track
from sheetsync.core.monitor import Finding, FindingKind
from sheetsync.core.plan import ChannelResult, ChannelSpec, GuardVerdict, apply_findings, plan
from sheetsync.model import (
    ChannelName,
    ChannelStatus,
    Layout,
    LedgerEntry,
    Movement,
    PushOutcome,
    RawRow,
    Sku,
)

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


def test_a_channel_refusing_skus_is_one_incident_naming_their_rows() -> None:
    parsed = parse_rows([RawRow(2, {"sku": "A", "quantity": "5"})], LAYOUT)
    quiet = plan(parsed, {Sku("A"): 5}, {}, [], OPEN)
    refusals = {
        SHOPIFY: ChannelResult(
            {
                Sku("A"): PushOutcome(Sku("A"), False, "refused: HTTP 500"),
                Sku("Z"): PushOutcome(Sku("Z"), False, "refused: HTTP 500"),
            }
        ),
        GOOGLE: ChannelResult({Sku("A"): PushOutcome(Sku("A"), True)}),
    }
    found = conditions([status(SHOPIFY, "OK"), status(GOOGLE, "OK")], quiet, {}, {SHOPIFY, GOOGLE}, refusals)
    assert found == {
        "refused:shopify": "Shopify refused 2 SKU(s); their rows say ERROR and why: A (row 2), Z "
        "(refused: HTTP 500)"
    }
    assert conditions([status(SHOPIFY, "OK")], quiet, {}, {SHOPIFY}) == {}


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
        "oversold/A": "A (row 2) OVERSOLD by 1",
        "guard": "volume guard holds every push: Inventory has 7 usable rows (was 40)",
    }


def test_each_oversold_sku_and_unreadable_row_is_its_own_incident() -> None:
    """Issue 20: one incident per SKU, so each clears on its own; a duplicated SKU is one."""
    raw = [
        RawRow(2, {"sku": "A", "quantity": "5"}),
        RawRow(3, {"sku": "B:1", "quantity": "5"}),
        RawRow(4, {"sku": "C", "quantity": "sold out"}),
        RawRow(5, {"sku": "D", "quantity": "1"}),
        RawRow(6, {"sku": "D", "quantity": "1"}),
    ]
    parsed = parse_rows(raw, LAYOUT)
    ledger = [
        LedgerEntry("count/C", Sku("C"), 4, Movement.COUNT, NOW),
        LedgerEntry("shopify/1001/1", Sku("A"), -8, Movement.SALE, NOW, SHOPIFY, "1001", "1"),
    ]
    final = plan(parsed, {Sku("A"): -3, Sku("B:1"): -1}, {}, [], OPEN, entries=ledger)
    found = conditions([], final, {}, set())
    assert found == {
        "oversold/A": "A (row 2) OVERSOLD by 3: orders shopify 1001 since the count",
        "oversold/B:1": "B:1 (row 3) OVERSOLD by 1: no channel order since the count (see the Ledger)",
        "unreadable/C": 'row 4 (SKU C): Quantity "sold out" is not a whole number; enter a whole number of 0 '
        "or more; channels held at ≤ 4",
        "unreadable/D": 'row 5 (SKU D): SKU "D" is also in row 6; each SKU must appear once; no count in '
        "the Ledger nor Available on the row to go by, so nothing is pushed until it is fixed",
    }
    # a SKU with a colon is not a channel: its incident is re-decided, not kept while "1" is away
    assert conditions([], plan(parse_rows(raw[:1], LAYOUT), {Sku("A"): 5}, {}, [], OPEN), found, set()) == {}
    opened, alerts = track({}, found, NOW)
    assert len(alerts) == 4
    opened, alerts = track(opened, {k: v for k, v in found.items() if k != "oversold/A"}, NOW)
    assert [(a.key, a.recovered) for a in alerts] == [("oversold/A", True)]
    assert set(opened) == set(found) - {"oversold/A"}


def test_per_sku_alerts_opened_together_are_one_message() -> None:
    alerts = [
        Alert("oversold/A", "A (row 2) OVERSOLD by 3", NOW),
        Alert("lag:google", "Google is lagging", NOW),
        Alert("oversold/B", "B (row 3) OVERSOLD by 1", NOW),
        Alert("reorder/C", "C (row 4) is down to 1", NOW),
        Alert("unreadable/X", "row 9 (SKU X): blank", NOW, recovered=True),
        Alert("unreadable/Y", "row 10 (SKU Y): blank (cleared)", NOW, recovered=True),
    ]
    assert group(alerts) == [
        Alert(
            "oversold", "2 oversold incidents opened: A (row 2) OVERSOLD by 3; B (row 3) OVERSOLD by 1", NOW
        ),
        Alert("lag:google", "Google is lagging", NOW),
        Alert("reorder/C", "C (row 4) is down to 1", NOW),
        Alert(
            "unreadable cleared",
            "2 unreadable incidents cleared: row 9 (SKU X): blank; row 10 (SKU Y): blank",
            NOW,
            recovered=True,
        ),
    ]
    many = [Alert(f"oversold/S{i}", f"S{i}", NOW) for i in range(GROUPED_SHOWN + 3)]
    (one,) = group(many)
    assert one.text.startswith(f"{GROUPED_SHOWN + 3} oversold incidents opened: S0; S1; ")
    assert one.text.endswith("; S9; and 3 more")
    assert group([]) == []


def test_a_row_at_its_reorder_point_is_its_own_incident() -> None:
    raw = [
        RawRow(2, {"sku": "A", "quantity": "2", "reorder_point": "3", "reorder_qty": "12"}),
        RawRow(3, {"sku": "B", "quantity": "2", "reorder_point": "3"}),
    ]
    final = plan(parse_rows(raw, LAYOUT), {Sku("A"): 2, Sku("B"): 2}, {}, [], OPEN)
    assert conditions([], final, {}, set()) == {
        "reorder/A": "A (row 2) is down to 2, at or below its reorder point 3; reorder 12",
        "reorder/B": "B (row 3) is down to 2, at or below its reorder point 3",
    }
