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


def test_every_api_is_called_no_more_than_its_batch_limits_require() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from cycle import measure
    finally:
        sys.path.remove(str(BENCHMARKS))

    result = measure(200)
    for name in ("full", "settle", "changed"):
        cycle = result[name]
        assert cycle["calls_by_operation"] == cycle["min_by_operation"], name  # per API and operation
        assert cycle["api_calls"] == cycle["min_api_calls"], name
    assert result["full"]["pushed"] == {"shopify": 200, "meta": 200, "google": 200, "woo": 200}
    assert result["changed"]["ledger_rows_appended"] > 0  # the orders reached the ledger


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
