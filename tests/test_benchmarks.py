"""The benchmark's call-count claim, kept honest in CI: at a tiny size, every API is called exactly
as often as its documented batch limits require (benchmarks/cycle.py). No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

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
