"""The channel contract: every channel adapter passes the same suite (see conftest.py)."""

from __future__ import annotations

import pytest

from sheetsync.channels import Metered, OrderSource
from sheetsync.errors import SyncError
from sheetsync.model import Movement, Sku, StockLevel

from .conftest import ChannelBackend

SKUS = ["A-1", "A-2", "B-1"]


def skip_unless_it_sells(backend: ChannelBackend) -> None:
    if not backend.sells:
        pytest.skip("this channel has no orders API for us: it only receives quantities")


def test_pushed_quantities_are_what_the_channel_shows_once_processed(
    backend: ChannelBackend,
) -> None:
    channel = backend.make(SKUS)
    outcomes = channel.push([StockLevel(Sku("A-1"), 7), StockLevel(Sku("A-2"), 0)])
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", True), ("A-2", True)]
    backend.settle()
    assert channel.read_levels([Sku("A-1"), Sku("A-2")]) == {"A-1": 7, "A-2": 0}


def test_a_refused_item_does_not_fail_the_batch(backend: ChannelBackend) -> None:
    channel = backend.make(SKUS)
    outcomes = channel.push(
        [
            StockLevel(Sku("A-1"), 3),
            StockLevel(Sku("NOPE"), 3),
            StockLevel(Sku("B-1"), 2),
        ]
    )
    assert [(o.sku, o.ok) for o in outcomes] == [
        ("A-1", True),
        ("NOPE", False),
        ("B-1", True),
    ]
    assert "NOPE" in outcomes[1].message
    backend.settle()
    assert channel.read_levels([Sku("A-1"), Sku("B-1"), Sku("NOPE")]) == {
        "A-1": 3,
        "B-1": 2,
    }


def test_batches_above_the_limit_are_refused_whole(backend: ChannelBackend) -> None:
    channel = backend.make(SKUS)
    too_many = [StockLevel(Sku(SKUS[i % 3]), 1) for i in range(channel.limits.max_batch + 1)]
    with pytest.raises(SyncError, match="limit"):
        channel.push(too_many)


def test_sales_become_order_lines_once_and_cursors_resume(
    backend: ChannelBackend,
) -> None:
    skip_unless_it_sells(backend)
    channel = backend.make(SKUS)
    assert isinstance(channel, OrderSource)  # a channel that sells reads its orders
    channel.push([StockLevel(Sku("A-1"), 5)])
    backend.settle()
    first = backend.sell("A-1", 2)
    backend.sell("A-1", 1)
    lines = channel.orders_since(None).lines
    assert [(line_.order_id, line_.sku, line_.quantity, line_.movement) for line_ in lines][:1] == [
        (first, "A-1", 2, Movement.SALE)
    ]
    assert len({line_.key for line_ in lines}) == len(lines) == 2
    assert channel.read_levels([Sku("A-1")]) == {"A-1": 2}
    resumed = {line_.key for line_ in channel.orders_since(lines[-1].cursor).lines}
    # At or after the cursor: the last line comes again (the ledger drops repeats), nothing new.
    assert lines[-1].key in resumed
    assert resumed <= {line_.key for line_ in lines}


def test_a_cancellation_is_a_separate_restock_line(backend: ChannelBackend) -> None:
    skip_unless_it_sells(backend)
    channel = backend.make(SKUS)
    assert isinstance(channel, OrderSource)  # a channel that sells reads its orders
    channel.push([StockLevel(Sku("B-1"), 4)])
    backend.settle()
    order = backend.sell("B-1", 1)
    backend.cancel(order)
    lines = channel.orders_since(None).lines
    assert [(line_.movement, line_.quantity) for line_ in lines] == [
        (Movement.SALE, 1),
        (Movement.RESTOCK, 1),
    ]
    assert lines[0].key != lines[1].key
    assert channel.read_levels([Sku("B-1")]) == {"B-1": 4}


def test_unknown_skus_are_absent_from_levels(backend: ChannelBackend) -> None:
    channel = backend.make(SKUS)
    assert channel.read_levels([Sku("A-1"), Sku("ZZZ")]) == {}


def test_a_metered_channel_counts_what_the_platform_charged_each_quota(backend: ChannelBackend) -> None:
    channel = backend.make(SKUS)
    if not isinstance(channel, Metered):
        pytest.skip("this channel counts no quota of its platform")
    charged = getattr(backend, "charged", None)
    assert charged is not None, "a metered channel's backend says what its platform charged (charged())"
    before = charged()
    channel.take_spent()  # whatever making it cost
    channel.push([StockLevel(Sku("A-1"), 4), StockLevel(Sku("B-1"), 2)])
    backend.settle()
    channel.read_levels([Sku("A-1"), Sku("B-1")])
    channel.push([StockLevel(Sku("A-1"), 3)])
    spent = channel.take_spent()
    after = charged()
    assert spent == {
        quota: after[quota] - before.get(quota, 0) for quota in after if after[quota] > before.get(quota, 0)
    }
    assert spent, "a push costs something of some quota"
    assert channel.take_spent() == {}  # taken: counting starts again
    assert set(spent) <= {allowance.name for allowance in channel.allowances()}
