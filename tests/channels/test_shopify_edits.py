"""Shopify order lifecycles through the real adapter over FakeShopify: edits, refunds, odd lines.

Each order polled comes with its state: per line item, the units it takes after edits
(``currentQuantity`` plus what was refunded, since a restocking refund is its own RESTOCK line).
``ledger_net`` applies the rule the core follows with those states (an EDIT of exactly the
difference for each line it holds a SALE for), so a test can check that the ledger ends where
Shopify's own ``available`` ends.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.shopify import FakeShopify, ShopifyCall
from sheetsync_fakes.wire import serve

from sheetsync.channels.shopify import (
    ORDERS_PAGE,
    ShopifyChannel,
    webhook_batch,
    webhook_lines,
    webhook_skus,
)
from sheetsync.model import ChannelName, Movement, OddLine, OrderBatch, OrderLine, OrderState, Sku

from .conftest import shopify_schema

SHOP = "sheetsync-test.myshopify.com"
TOKEN = "shpat_edits_token"
NAME = ChannelName("shopify")
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0.timestamp())


@pytest.fixture
def fake(clock: ManualClock) -> FakeShopify:
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock)
    fake.create_shop(SHOP, TOKEN, locations=["Warehouse"])
    for sku in ("A", "B"):
        fake.add_product(SHOP, sku, stock={"Warehouse": 20})
    return fake


@pytest.fixture
def channel(fake: FakeShopify, clock: ManualClock) -> ShopifyChannel:
    return ShopifyChannel(
        NAME,
        shop=SHOP,
        token=TOKEN,
        location="Warehouse",
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        sleep=clock.sleep,
        clock=clock,
    )


def number(gid: str) -> str:
    """The legacy numeric id the adapter reports for a gid."""
    return gid.rsplit("/", 1)[-1]


def only_state(batch: OrderBatch) -> OrderState:
    (state,) = batch.states
    return state


def moves(lines: Iterable[OrderLine]) -> list[tuple[str, int, Movement]]:
    return [(line.sku, line.quantity, line.movement) for line in lines]


def ledger_net(lines: Sequence[OrderLine], states: Sequence[OrderState]) -> dict[str, int]:
    """Stock moved per SKU by the lines, each once by key, then the EDITs the states call for."""
    held: dict[tuple[str, str], list[Any]] = {}  # (order, line) -> [sku, units held]
    net: Counter[str] = Counter()
    for line in {line.key: line for line in lines}.values():
        if line.movement is Movement.SALE:
            held[line.order_id, line.line_id] = [line.sku, line.quantity]
            net[line.sku] -= line.quantity
        else:
            net[line.sku] += line.quantity
    for state in states:
        for (order, line_id), tally in held.items():
            if order == state.order_id:
                now = state.units.get(line_id, 0)
                net[tally[0]] -= now - tally[1]
                tally[1] = now
    return {sku: delta for sku, delta in net.items() if delta}


def shopify_moved(fake: FakeShopify, before: dict[str, int] | None = None) -> dict[str, int]:
    """How far Shopify's own ``available`` moved per SKU (from 20 each)."""
    start = before or {"A": 20, "B": 20}
    now = {sku: quantity for (sku, _), quantity in fake.levels(SHOP).items()}
    return {sku: now[sku] - start[sku] for sku in start if now[sku] != start[sku]}


# --- edits -----------------------------------------------------------------------------------------


def test_an_edit_up_gives_a_state_with_the_new_quantity(
    fake: FakeShopify, channel: ShopifyChannel, clock: ManualClock
) -> None:
    order = fake.place_order(SHOP, [("A", 2)], at=T0)
    (line,) = fake.order_lines(order)
    clock.now += 60
    fake.edit_order(order, set_quantities={line.line_id: 5})

    batch = channel.orders_since(None)
    assert moves(batch.lines) == [("A", 2, Movement.SALE)]  # the sale keeps what was ordered
    state = only_state(batch)
    assert (state.order_id, dict(state.units)) == (number(order), {number(line.line_id): 5})
    assert state.at == T0 + MINUTE  # the edit moved updatedAt
    assert state.cursor == batch.lines[0].cursor
    assert ledger_net(batch.lines, batch.states) == shopify_moved(fake) == {"A": -5}


@pytest.mark.parametrize(("restock", "shopify_a"), [(True, -2), (False, -6)])
def test_an_edit_down_gives_a_state_with_the_new_quantity(
    fake: FakeShopify, channel: ShopifyChannel, restock: bool, shopify_a: int
) -> None:
    order = fake.place_order(SHOP, [("A", 6), ("B", 1)], at=T0)
    a_line, b_line = fake.order_lines(order)
    fake.edit_order(order, set_quantities={a_line.line_id: 2}, restock=restock, at=T0 + MINUTE)

    batch = channel.orders_since(None)
    assert moves(batch.lines) == [("A", 6, Movement.SALE), ("B", 1, Movement.SALE)]  # no RESTOCK
    assert only_state(batch).units == {number(a_line.line_id): 2, number(b_line.line_id): 1}
    # The state is the units the line takes now, whether or not the edit restocked in Shopify.
    assert shopify_moved(fake) == {"A": shopify_a, "B": -1}
    assert ledger_net(batch.lines, batch.states) == {"A": -2, "B": -1}


def test_a_removed_line_stays_with_zero_units(fake: FakeShopify, channel: ShopifyChannel) -> None:
    order = fake.place_order(SHOP, [("A", 3), ("B", 2)], at=T0)
    a_line, b_line = fake.order_lines(order)
    fake.edit_order(order, set_quantities={b_line.line_id: 0}, at=T0 + MINUTE)

    assert fake.order_lines(order)[1].current_quantity == 0
    batch = channel.orders_since(None)
    assert only_state(batch).units == {number(a_line.line_id): 3, number(b_line.line_id): 0}
    assert ledger_net(batch.lines, batch.states) == shopify_moved(fake) == {"A": -3}


def test_an_added_line_is_a_new_sale_with_its_state(fake: FakeShopify, channel: ShopifyChannel) -> None:
    order = fake.place_order(SHOP, [("A", 1)], at=T0)
    first = channel.orders_since(None)
    (added,) = fake.edit_order(order, add=[("B", 3)], at=T0 + 2 * MINUTE)

    batch = channel.orders_since(first.lines[-1].cursor)
    sales = {line.line_id: (line.sku, line.quantity, line.movement) for line in batch.lines}
    assert sales[number(added)] == ("B", 3, Movement.SALE)
    assert only_state(batch).units[number(added)] == 3
    assert batch.lines[-1].cursor > first.lines[-1].cursor  # the edit moved the order forward
    assert ledger_net([*first.lines, *batch.lines], batch.states) == shopify_moved(fake)
    assert shopify_moved(fake) == {"A": -1, "B": -3}


def test_an_edit_after_a_refund_counts_the_refunded_units_once(
    fake: FakeShopify, channel: ShopifyChannel
) -> None:
    order = fake.place_order(SHOP, [("A", 6)], at=T0)
    (line,) = fake.order_lines(order)
    fake.refund(order, {"A": 1}, restock_type="RETURN", at=T0 + MINUTE)
    fake.edit_order(order, set_quantities={line.line_id: 2}, at=T0 + 2 * MINUTE)  # 5 left, edited to 2

    assert fake.order_lines(order)[0].current_quantity == 2
    batch = channel.orders_since(None)
    assert moves(batch.lines) == [("A", 6, Movement.SALE), ("A", 1, Movement.RESTOCK)]
    assert only_state(batch).units == {number(line.line_id): 3}  # 2 now + 1 restocked on its own line
    assert ledger_net(batch.lines, batch.states) == shopify_moved(fake) == {"A": -2}


# --- refunds -----------------------------------------------------------------------------------------


def test_a_refund_without_restock_keeps_the_units_taken(fake: FakeShopify, channel: ShopifyChannel) -> None:
    order = fake.place_order(SHOP, [("A", 4)], at=T0)
    (line,) = fake.order_lines(order)
    fake.refund(order, {"A": 3}, restock_type="NO_RESTOCK", at=T0 + MINUTE)

    assert fake.order_lines(order)[0].current_quantity == 1  # Shopify's currentQuantity drops
    batch = channel.orders_since(None)
    assert moves(batch.lines) == [("A", 4, Movement.SALE)]  # no RESTOCK line
    assert only_state(batch).units == {number(line.line_id): 4}  # nothing comes back
    assert ledger_net(batch.lines, batch.states) == shopify_moved(fake) == {"A": -4}


@pytest.mark.parametrize("how", ["cancel", "return"])
def test_a_restocking_refund_is_a_restock_line_and_leaves_the_state(
    fake: FakeShopify, channel: ShopifyChannel, how: str
) -> None:
    order = fake.place_order(SHOP, [("A", 4), ("B", 2)], at=T0)
    a_line, b_line = fake.order_lines(order)
    if how == "cancel":
        fake.cancel_order(order, at=T0 + MINUTE)
        restocked = [("A", 4, Movement.RESTOCK), ("B", 2, Movement.RESTOCK)]
    else:
        fake.refund(order, {"A": 3}, restock_type="RETURN", at=T0 + MINUTE)
        restocked = [("A", 3, Movement.RESTOCK)]

    batch = channel.orders_since(None)
    assert moves(batch.lines) == [("A", 4, Movement.SALE), ("B", 2, Movement.SALE), *restocked]
    assert only_state(batch).units == {number(a_line.line_id): 4, number(b_line.line_id): 2}
    assert ledger_net(batch.lines, batch.states) == shopify_moved(fake)


# --- states across cycles ----------------------------------------------------------------------------


def test_every_order_read_has_its_state_even_when_its_lines_are_dropped(
    fake: FakeShopify, channel: ShopifyChannel
) -> None:
    early = fake.place_order(SHOP, [("A", 1)], at=T0)
    late = fake.place_order(SHOP, [("B", 2)], at=T0 + 3 * MINUTE)
    first = channel.orders_since(None)
    assert [state.order_id for state in first.states] == [number(early), number(late)]
    assert [state.cursor for state in first.states] == sorted(line.cursor for line in first.lines)

    # The next cycle reads both again (the overlap): the early order's lines are dropped as
    # repeats (the late one's, at the cursor, come once more), yet both states are there.
    cursor = first.lines[-1].cursor
    again = channel.orders_since(cursor)
    assert [line.order_id for line in again.lines] == [number(late)]
    assert [state.order_id for state in again.states] == [number(early), number(late)]

    (line,) = fake.order_lines(early)
    fake.edit_order(early, set_quantities={line.line_id: 4}, at=T0 + 10 * MINUTE)
    edited = channel.orders_since(cursor)
    assert [state.order_id for state in edited.states] == [number(late), number(early)]  # by cursor
    assert edited.states[-1].units == {number(line.line_id): 4}
    assert edited.states[-1].cursor > cursor
    everything = [*first.lines, *again.lines, *edited.lines]
    assert ledger_net(everything, edited.states) == shopify_moved(fake) == {"A": -4, "B": -2}


def test_an_order_edited_between_two_pages_keeps_its_newer_state(
    fake: FakeShopify, channel: ShopifyChannel, clock: ManualClock
) -> None:
    orders = [fake.place_order(SHOP, [("A", 1)], at=T0 + i * MINUTE) for i in range(ORDERS_PAGE + 1)]
    (line,) = fake.order_lines(orders[0])
    pages: list[str] = []

    def edit_before_page_two(call: ShopifyCall) -> None:
        pages.append(str(call.operation_name))
        if pages.count("SheetsyncOrders") == 2:  # the first page read the order at its old state
            clock.now = (T0 + 30 * MINUTE).timestamp()
            fake.edit_order(orders[0], set_quantities={line.line_id: 3})

    fake.before_request = edit_before_page_two
    batch = channel.orders_since(None)
    assert pages.count("SheetsyncOrders") == 2
    states = {state.order_id: state for state in batch.states}
    assert len(batch.states) == len(orders)  # one state per order, however often it was read
    assert states[number(orders[0])].units == {number(line.line_id): 3}
    assert batch.states[-1].order_id == number(orders[0])


def test_an_edited_order_with_many_lines_is_read_whole_with_its_state(
    fake: FakeShopify, channel: ShopifyChannel
) -> None:
    skus = [f"L-{i:02d}" for i in range(30)]
    for sku in skus:
        fake.add_product(SHOP, sku, stock={"Warehouse": 5})
    order = fake.place_order(SHOP, [(sku, 1) for sku in skus], at=T0)
    lines = fake.order_lines(order)
    fake.edit_order(order, set_quantities={lines[-1].line_id: 3}, at=T0 + MINUTE)

    state = only_state(channel.orders_since(None))
    assert len(state.units) == 30
    assert state.units[number(lines[-1].line_id)] == 3


# --- odd lines ----------------------------------------------------------------------------------------


def test_a_polled_line_of_zero_units_is_odd_never_dropped(fake: FakeShopify, channel: ShopifyChannel) -> None:
    # Shopify should never sell 0 units; if it does, the line is named for the merchant to settle.
    order = fake.place_order(SHOP, [("A", 0), ("B", 2)], at=T0)
    fake.place_order(SHOP, [("B", 1)], at=T0 + MINUTE)
    batch = channel.orders_since(None)
    assert moves(batch.lines) == [("B", 2, Movement.SALE), ("B", 1, Movement.SALE)]
    a_line = fake.order_lines(order)[0]
    assert batch.odd == (
        OddLine(NAME, number(order), number(a_line.line_id), Sku(a_line.sku), "0", T0, batch.lines[0].cursor),
    )
    assert channel.orders_since(batch.lines[-1].cursor).odd == ()  # a repeat of the overlap, like a line


@pytest.mark.parametrize("quantity", [0, -2, 1.5, "1.5", "abc", None, True])
def test_a_webhook_line_that_is_not_a_whole_number_is_odd(fake: FakeShopify, quantity: object) -> None:
    order = fake.place_order(SHOP, [("A", 2), ("B", 1)], at=T0)
    payload = json.loads(fake.webhook("orders/create", order).body)
    payload["line_items"][0]["quantity"] = quantity

    batch = webhook_batch("orders/create", payload, channel=NAME)
    assert moves(batch.lines) == [("B", 1, Movement.SALE)]
    (odd,) = batch.odd
    shown = quantity if isinstance(quantity, str) else json.dumps(quantity)
    assert (odd.order_id, odd.line_id, odd.sku, odd.quantity) == (
        number(order),
        str(payload["line_items"][0]["id"]),
        "A",
        shown,
    )
    assert (odd.at, odd.cursor) == (T0, "")  # never moves the poll's cursor
    assert batch.states == ()  # webhooks never carry states
    assert webhook_lines("orders/create", payload, channel=NAME) == list(batch.lines)


@pytest.mark.parametrize(("quantity", "whole"), [("2", 2), (2.0, 2), (" 3 ", 3)])
def test_a_webhook_quantity_written_as_text_or_float_still_counts(
    fake: FakeShopify, quantity: object, whole: int
) -> None:
    order = fake.place_order(SHOP, [("A", 2)], at=T0)
    payload = json.loads(fake.webhook("orders/create", order).body)
    payload["line_items"][0]["quantity"] = quantity
    batch = webhook_batch("orders/create", payload, channel=NAME)
    assert (moves(batch.lines), batch.odd) == ([("A", whole, Movement.SALE)], ())


def test_a_fractional_restock_in_a_refund_webhook_is_odd(fake: FakeShopify) -> None:
    order = fake.place_order(SHOP, [("A", 2)], at=T0)
    fake.refund(order, {"A": 2}, restock_type="RETURN", at=T0 + MINUTE)
    payload = json.loads(fake.webhook("refunds/create", order).body)
    payload["refund_line_items"][0]["quantity"] = 1.5

    batch = webhook_batch("refunds/create", payload, channel=NAME)
    assert batch.lines == ()
    (odd,) = batch.odd
    assert (odd.line_id, odd.sku, odd.quantity, odd.at) == (
        f"{payload['refund_line_items'][0]['line_item_id']}-refund-{payload['id']}",
        "A",
        "1.5",
        T0 + MINUTE,
    )
    assert webhook_skus("refunds/create", payload) == set()  # nothing moved on its own


def test_the_updated_webhook_of_an_edit_carries_the_added_sale(
    fake: FakeShopify, channel: ShopifyChannel
) -> None:
    order = fake.place_order(SHOP, [("A", 1)], at=T0)
    (added,) = fake.edit_order(order, add=[("B", 2)], at=T0 + MINUTE)
    pushed = webhook_batch(
        "orders/updated", json.loads(fake.webhook("orders/updated", order).body), channel=NAME
    )
    polled = {line.key: line for line in channel.orders_since(None).lines}
    assert [line.line_id for line in pushed.lines] == [
        number(fake.order_lines(order)[0].line_id),
        number(added),
    ]
    for line in pushed.lines:
        twin = polled[line.key]
        assert (line.sku, line.quantity, line.movement, line.at) == (
            twin.sku,
            twin.quantity,
            twin.movement,
            twin.at,
        )
    assert (pushed.states, pushed.odd) == ((), ())


def test_states_over_loopback(fake: FakeShopify, clock: ManualClock) -> None:
    order = fake.place_order(SHOP, [("A", 2)], at=T0)
    (line,) = fake.order_lines(order)
    fake.edit_order(order, set_quantities={line.line_id: 1}, at=T0 + MINUTE)
    with serve(fake) as base_url:
        channel = ShopifyChannel(
            NAME,
            shop=SHOP,
            token=TOKEN,
            location="Warehouse",
            base_url=base_url,
            sleep=clock.sleep,
            clock=clock,
        )
        try:
            assert only_state(channel.orders_since(None)).units == {number(line.line_id): 1}
        finally:
            channel.close()
