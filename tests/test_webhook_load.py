"""The webhook load generator (benchmarks/webhooks.py), small and with compressed pacing: every
abusive request is refused with its status and every order line reaches the ledger exactly once.
No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_under_load_abuse_is_refused_and_each_order_line_is_recorded_once() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from webhooks import QUICK, measure
    finally:
        sys.path.remove(str(BENCHMARKS))

    figures = measure(200, rate=1000.0, speedup=QUICK)

    assert figures["deliveries"] == 200
    assert figures["duplicates"] == 0
    assert figures["ledger_found"] == figures["ledger_expected"] > 0
    kinds = figures["status_by_kind"]
    assert kinds["bad_signature"] == {"401": 20}
    assert kinds["oversized"] == {"413": 10}
    assert kinds["fresh"] == {"200": 140}
    assert kinds["replay"] == {"200": 20}
    assert kinds["redelivery"] == {"200": 10}
