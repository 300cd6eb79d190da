"""The benchmarks' claims, kept honest in CI at a tiny size: every API is called exactly as often as
its documented batch limits require (benchmarks/cycle.py), and an install on a shop with history
reads none of it and counts each later order once (benchmarks/install.py). No timing is asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(name: str) -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


#: The channels' audit_every and max_lag in the measured world: five cycles of steady state.
PERIOD = 300.0
CYCLES = 5


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    """The end-to-end benchmark's cycles at 200 SKUs, audits and lag limits every 5 minutes."""
    figures: dict[str, Any] = _bench("cycle").measure(200, period=PERIOD)
    return figures


def test_every_api_is_called_no_more_than_its_batch_limits_require(measured: dict[str, Any]) -> None:
    for cycle in [measured[name] for name in ("full", "settle", "changed")]:
        assert cycle["calls_by_operation"] == cycle["min_by_operation"]  # per API and operation
        assert cycle["api_calls"] == cycle["min_api_calls"]
    # From the busy cycle on, Shopify's order poll reads again the orders updated in the 5 minutes
    # before the newest one (its search index lags): 20 orders, two of the adapter's pages of 10
    # (ORDERS_PAGE), where the minimum reads the new ones, 250 a page. It goes on doing so while
    # no newer order comes: an open defect (docs/benchmarks.md).
    for cycle in [measured["busy"], measured["idle"], *measured["steady"]["window"]]:
        ours, least = cycle["calls_by_operation"], cycle["min_by_operation"]
        assert ours["shopify"] == {**least["shopify"], "SheetsyncOrders": 2}
        assert least["shopify"]["SheetsyncOrders"] == 1
        assert {api: c for api, c in ours.items() if api != "shopify"} == {
            api: c for api, c in least.items() if api != "shopify"
        }
        assert cycle["api_calls"] == cycle["min_api_calls"] + 1
    assert measured["full"]["pushed"] == {"shopify": 200, "meta": 200, "google": 200, "woo": 200}
    assert measured["changed"]["ledger_rows_appended"] > 0  # the orders reached the ledger
    # The worker opens Meta without waiting for processing: the full cycle's batch is asked
    # about once, at the next push.
    assert "GET check_batch_request_status" not in measured["full"]["calls_by_operation"]["meta"]
    assert measured["changed"]["calls_by_operation"]["meta"]["GET check_batch_request_status"] == 1


def test_the_bytes_of_every_answer_the_worker_received_are_counted_per_api(measured: dict[str, Any]) -> None:
    full, idle = measured["full"]["received_kb_by_api"], measured["idle"]["received_kb_by_api"]
    assert all(full[api] > 0 for api in ("sheets", "shopify", "meta", "google", "woo"))
    assert idle["google"] == 0  # nothing to push, no availability to read: Merchant is not called
    assert idle["sheets"] > 0  # the master is read every cycle
    steady = measured["steady"]
    assert steady["month_received_gb_by_api"]["sheets"] == pytest.approx(
        steady["received_kb_by_api"]["sheets"] * steady["month_cycles"] / 1024**2, rel=0.01, abs=0.01
    )


def test_the_worker_cpu_inside_calls_is_told_apart_call_by_call(measured: dict[str, Any]) -> None:
    for name in ("full", "changed", "idle"):
        cycle = measured[name]
        by_call = cycle["calls_cpu_ms_by_call"]
        # Each call's share, rounded to 0.1 ms, adds up to the calls' CPU, rounded to 1 ms.
        assert abs(sum(by_call.values()) / 1000 - cycle["calls_cpu_s"]) <= 0.0005 + 0.00005 * len(by_call)
        assert {"read", "write_status"} <= by_call.keys()
    pushed = {"shopify push", "meta push", "google push", "woo push"}
    assert pushed <= measured["full"]["calls_cpu_ms_by_call"].keys()
    assert {"shopify orders_since", "woo orders_since"} <= measured["idle"]["calls_cpu_ms_by_call"].keys()
    assert "shopify push" not in measured["idle"]["calls_cpu_ms_by_call"]  # nothing to push
    steady = measured["steady"]
    assert steady["calls_cpu_ms_by_call"].keys() == {
        call for cycle in steady["window"] for call in cycle["calls_cpu_ms_by_call"]
    }


def test_the_steady_state_counts_the_audit_and_the_month_is_weighed_against_each_quota(
    measured: dict[str, Any],
) -> None:
    steady = measured["steady"]
    window = steady["window"]

    assert len(window) == CYCLES  # audit_every (PERIOD) over the interval (60 s)
    # The audit reads every SKU back once a period on each channel that reports levels (Google
    # without a store does not), whether in one cycle or a slice a cycle; its calls are in the mean.
    for channel in ("shopify", "meta", "woo"):
        assert sum(w["read_back"].get(channel, 0) for w in window) >= 200, channel
    assert steady["api_calls"] == pytest.approx(sum(w["api_calls"] for w in window) / CYCLES, abs=0.01)
    # Nothing changed and nothing is watched: Meta's reads are the audit's, at least 2 (100 a read).
    meta_reads = sum(w["calls_by_operation"]["meta"].get("GET products", 0) for w in window)
    assert meta_reads >= 2
    assert steady["api_calls_by_api"]["meta"] == pytest.approx(meta_reads / CYCLES, abs=0.01)
    month = steady["month"]
    assert steady["month_cycles"] == 30 * 24 * 60
    assert month["sheets_reads"]["quota"] == 60 * 60 * 24 * 30
    sheet_reads = sum(
        n for w in window for op, n in w["calls_by_operation"]["sheets"].items() if "batchGet" in op
    )
    assert sheet_reads >= CYCLES  # the master is read every cycle
    assert month["sheets_reads"]["used"] == round(sheet_reads * 30 * 24 * 60 / CYCLES)
    assert month["meta_catalog_batch"]["quota"] == 200 * 24 * 30
    assert month["meta_catalog_management"]["used"] == round(meta_reads * 30 * 24 * 60 / CYCLES)
    assert month["merchant_product_writes"]["quota"] == 2 * 200 * 30
    assert month["woo"]["quota"] is None
    for figure in month.values():
        if figure["quota"]:
            assert figure["share"] == pytest.approx(figure["used"] / figure["quota"], abs=1e-6)


def test_the_fair_naive_script_reads_once_and_calls_once_per_sku_and_channel(
    measured: dict[str, Any],
) -> None:
    naive = _bench("naive")

    ran = naive.fair_cycle(measured["world"], 50)

    assert ran["calls"] == {"sheets": 1, "shopify": 50, "meta": 50, "google": 50, "woo": 50}
    assert ran["api_calls"] == naive.fair_calls(50, 4)


def test_the_worker_apart_from_the_fakes_does_what_the_worker_in_process_does(tmp_path: Path) -> None:
    """The memory figure's run (the worker forked, its requests piped to the fakes) is the same
    worker: the same calls, the same virtual waits, the same sheet and channels afterwards."""
    cycle = _bench("cycle")
    seen = []
    for apart in (False, True):
        (directory := tmp_path / str(apart)).mkdir()
        world = cycle.build(120, 1, directory, apart=apart)
        # A host's limit on the shop: the adapter waits it out on its clock, which the fake reads.
        world.fakes["woo"]._rate_limit = (3, 10.0)
        cycles = []
        for name, first in (("full", True), ("settle", False), ("changed", False)):
            orders = cycle.change(world, 0.1, 1) if name == "changed" else {}
            ran = cycle.run(world, name, cycle.at(world), first, orders).summary()
            cycles.append(
                {
                    key: ran[key]
                    for key in (
                        "calls_by_operation",
                        "pushed",
                        "read_back",
                        "cells_written",
                        "ledger_rows_appended",
                        "rate_limit_wait_s",
                        "quota_use",
                    )
                }
            )
            world.later(60)
        peak = world.apart.stop(world.fakes) if apart else None
        sheet = world.fakes["sheets"].get_values(world.sheet, "Inventory")
        seen.append((cycles, sheet, cycle.availability(world), peak))
    (alone, sheet_alone, shown_alone, _), (cycles_apart, sheet_apart, shown_apart, peak) = seen
    assert cycles_apart == alone
    assert sheet_apart == sheet_alone
    assert shown_apart == shown_alone
    assert any(c["pushed"] for c in cycles_apart)
    assert cycles_apart[0]["rate_limit_wait_s"]["woo"] > 0
    assert cycles_apart[2]["ledger_rows_appended"] > 0
    assert peak is not None
    assert peak > 0


def test_an_install_on_a_shop_with_history_reads_none_of_it_and_counts_each_new_order_once() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from install import measure as install
    finally:
        sys.path.remove(str(BENCHMARKS))

    result = install(300)

    calls = result["order_calls_per_cycle"]
    assert result["orders_before_install"] == {"shopify": 300, "woo": 300}
    assert {name: per_cycle[0] for name, per_cycle in calls.items()} == {"shopify": 0, "woo": 0}
    assert result["available_after_install"] == result["typed"]
    # Each later cycle reads from the start line on: the same calls, none of them history pages.
    for name, per_cycle in calls.items():
        assert len(per_cycle) == 6
        assert len(set(per_cycle[1:])) == 1
        assert per_cycle[1] < result["history_read_would_take_calls"][name]
    assert result["history_lines_counted"] == 0
    # The only pre-install orders sent back: the re-read overlap's and the one cancelled since.
    assert all(
        not found["why"].startswith("UNEXPECTED") for found in result["history_orders_returned_detail"]
    )
    assert sum(result["history_orders_returned"].values()) <= 4
    assert result["new_lines"] > 0
    assert result["new_lines_counted_once"] == result["new_lines"]
    assert result["new_lines_lost"] == result["new_lines_doubled"] == 0
    assert result["available"] == result["expected"]
    assert result["available"] != result["typed"]


def test_in_webhook_mode_each_poll_reads_only_what_is_new(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from webhook_reads import measure
    finally:
        sys.path.remove(str(BENCHMARKS))

    figures = measure(64, tmp_path)

    assert figures["counted"] == 64  # every order once, its webhook copy winning the key
    after = figures["order_requests_after"]
    # The fake's own count: flat per cycle (about two pages of Shopify's 5-minute overlap), where
    # a poll stuck at the start line grew with every order (8,201 requests after 400 orders).
    assert after[64] - after[32] <= 3 * 32
    assert after[64] - after[32] <= after[32] - after[16] + 3 * 16


def _faults_script() -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import faults
    finally:
        sys.path.remove(str(BENCHMARKS))
    return faults


def test_the_fault_suite_sums_its_campaigns_and_fails_on_a_lost_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = _faults_script()

    def broken(seed: int) -> dict[str, int]:
        raise RuntimeError("no fakes")

    clean = [
        ("a", lambda seed: {"crashes": 3, "lost": 0}),
        ("b", lambda seed: {"faults": seed, "doubled": 0, "actions_buyers": 2}),
    ]
    monkeypatch.setattr(faults, "campaigns", lambda quick: clean)
    assert faults.main(["--seed", "7"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary | {"seconds": 0} == {
        "crashes": 3,
        "faults": 7,
        "hostile_inputs": 0,
        "lost": 0,
        "doubled": 0,
        "oversold_by_us": 0,
        "secrets_leaked": 0,
        "unconverged": 0,
        "overwritten_edits": 0,
        "kills": 0,
        "merchant_cells_changed": 0,
        "formulas_written": 0,
        "unalerted_stuck_states": 0,
        "valid_input_refused": 0,
        "lease_violations": 0,
        "unrecovered_after_fix": 0,
        "actions": {"buyers": 2},  # the actors' actions, per actor
        "failed": [],
        "seconds": 0,
    }
    monkeypatch.setattr(faults, "campaigns", lambda quick: [*clean, ("c", lambda seed: {"lost": 1})])
    assert faults.main([]) == 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["lost"] == 1
    monkeypatch.setattr(faults, "campaigns", lambda quick: [*clean, ("d", broken)])
    assert faults.main([]) == 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["failed"] == ["d"]
