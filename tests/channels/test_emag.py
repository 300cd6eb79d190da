"""EmagChannel against FakeEmag: batches of 50, the three error shapes, pacing, orders, edits, returns.

The real adapter talks to the fake through httpx.MockTransport; time is the fake's clock, moved
only by the adapter's injected sleep, so the pacing costs no real time.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.emag import FakeEmag, envelope

from sheetsync.channels.emag import MAX_BATCH, ORDERS_OVERLAP, EmagChannel, offer_id, order_cursor
from sheetsync.config import EmagAccount, load
from sheetsync.core.ledger import start_cursor
from sheetsync.errors import ConfigError, PermanentError, TransientError
from sheetsync.model import ChannelName, Movement, Sku, StockLevel

USER = "api-user@shop.example"
PASSWORD = "do-not-leak-4242"
NAME = ChannelName("emag")
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0.timestamp())


@pytest.fixture
def fake(clock: ManualClock) -> FakeEmag:
    return FakeEmag(username=USER, password=PASSWORD, now=clock)


def connect(fake: FakeEmag, clock: ManualClock, **options: Any) -> EmagChannel:
    options.setdefault("username", USER)
    options.setdefault("password", PASSWORD)
    return EmagChannel(
        NAME,
        site=options.pop("site", "ro"),
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        sleep=clock.sleep,
        clock=clock,
        **options,
    )


def level(sku: int | str, quantity: int) -> StockLevel:
    return StockLevel(Sku(str(sku)), quantity)


def sold(fake: FakeEmag, clock: ManualClock, *lines: tuple[int, Any], ack: bool = True) -> int:
    order = fake.place_order(list(lines))
    if ack:
        fake.acknowledge(order)
    clock.sleep(1)
    return order


# --- pushes ---------------------------------------------------------------------------------------


def test_a_push_of_50_is_one_light_offer_save_and_sets_the_warehouse(
    fake: FakeEmag, clock: ManualClock
) -> None:
    for number in range(1, 51):
        fake.add_offer(number, stock=1)
    channel = connect(fake, clock)
    outcomes = channel.push([level(n, n + 10) for n in range(1, 51)])
    assert all(o.ok for o in outcomes)
    assert len(outcomes) == 50
    assert [(e.route, e.items) for e in fake.request_log] == [("offer/save", 50)]
    assert [fake.stock(n) for n in (1, 50)] == [11, 60]
    assert channel.limits.max_batch == MAX_BATCH == 50


def test_ten_pushes_of_50_cost_ten_calls_paced_to_3_a_second_without_a_429(
    fake: FakeEmag, clock: ManualClock
) -> None:
    for number in range(1, 501):
        fake.add_offer(number, stock=0)
    channel = connect(fake, clock)
    for start in range(1, 501, 50):
        assert all(o.ok for o in channel.push([level(n, 7) for n in range(start, start + 50)]))
    assert fake.count("offer/save") == len(fake.request_log) == 10
    assert fake.throttled == 0
    # 3 go at once, then one window each further 3: the pacing waited, the fake never refused
    assert clock.waited >= 3.0
    assert all(fake.stock(n) == 7 for n in range(1, 501))


def test_one_level_goes_by_the_stock_patch(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(243409, stock=3)
    channel = connect(fake, clock)
    assert channel.push([level(243409, 21)])[0].ok
    assert [(e.method, e.route, e.status) for e in fake.request_log] == [("PATCH", "offer_stock", 204)]
    assert fake.stock(243409) == 21


def test_another_warehouse_is_set_by_offer_save_even_for_one_level(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(5, stock={1: 4, 2: 9})
    channel = connect(fake, clock, warehouse_id=2)
    assert channel.push([level(5, 6)])[0].ok
    assert [e.route for e in fake.request_log] == ["offer/save"]
    assert (fake.stock(5, 1), fake.stock(5, 2)) == (4, 6)
    assert channel.read_levels([Sku("5")]) == {"5": 6}


def test_refusals_are_per_item_and_never_fail_the_batch(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=0)
    fake.add_offer(2, stock=5)
    fake.add_offer(3, stock=0)
    fake.start_campaign(2, "BF")
    channel = connect(fake, clock)
    outcomes = channel.push(
        [level(1, 4), level(2, 1), level(999, 1), level("ABC-1", 1), level(3, 70_000), level(3, 2)]
    )
    assert [(o.sku, o.ok) for o in outcomes] == [
        ("1", True),
        ("2", False),
        ("999", False),
        ("ABC-1", False),
        ("3", False),
        ("3", True),
    ]
    assert "active campaign BF" in outcomes[1].message
    assert "999" in outcomes[2].message
    assert "does not exist" in outcomes[2].message
    assert "not an eMAG offer id" in outcomes[3].message
    assert "SKU column" in outcomes[3].message
    assert "0..65535" in outcomes[4].message
    assert "cap = 65535" in outcomes[4].message
    assert [e.route for e in fake.request_log] == ["offer/save"]  # the refused rows were not sent
    assert (fake.stock(1), fake.stock(2), fake.stock(3)) == (4, 5, 2)


def test_the_stock_patch_refusals_fail_the_row_in_their_bare_shape(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(7, stock=1)
    fake.start_campaign(7, "BF")
    channel = connect(fake, clock)
    [locked] = channel.push([level(7, 3)])
    assert not locked.ok
    assert locked.message == (
        "eMAG refused offer 7: Validation errors in your request; The offer is included in the active "
        "campaign BF, thus the stock has NOT been changed. (stock)"
    )
    [missing] = channel.push([level(8, 3)])
    assert (missing.ok, missing.message) == (False, "eMAG refused offer 8: This offer does not exist")


def test_an_envelope_with_is_error_fails_the_call_naming_its_messages(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=0)
    fake.add_offer(2, stock=0)
    fake.fail_next(
        "offer/save",
        response=httpx.Response(
            200, json=envelope(error=True, messages=["Maximum input vars of 4000 exceeded"])
        ),
    )
    channel = connect(fake, clock)
    with pytest.raises(PermanentError, match="Maximum input vars of 4000 exceeded"):
        channel.push([level(1, 1), level(2, 1)])


def test_an_answer_without_is_error_false_is_retried_then_fails(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=0)
    fake.add_offer(2, stock=0)
    channel = connect(fake, clock)
    fake.fail_next("offer/save", response=httpx.Response(200, text="<html>proxy</html>"))
    assert all(o.ok for o in channel.push([level(1, 1), level(2, 1)]))  # the retry went through
    fake.fail_next("offer/save", response=httpx.Response(200, json={"results": {}}), times=4)
    with pytest.raises(TransientError, match="not processed"):
        channel.push([level(1, 2), level(2, 2)])


def test_a_429_is_waited_out_and_retried(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=0)
    fake.add_offer(2, stock=0)
    throttled = httpx.Response(429, json={"message": "API rate limit exceeded"})
    fake.fail_next("offer/save", response=throttled, times=2)
    channel = connect(fake, clock)
    assert all(o.ok for o in channel.push([level(1, 5), level(2, 5)]))
    assert fake.count("offer/save") == 3
    assert clock.slept[:2] == [1.0, 1.0]


def test_bad_credentials_and_missing_rights_are_permanent_and_never_show_the_password(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=0)
    with pytest.raises(PermanentError) as wrong:
        connect(fake, clock, password="nope").push([level(1, 1)])
    assert "HTTP 401" in str(wrong.value)
    assert "allow-list" in str(wrong.value)
    fake.api_rights = False
    with pytest.raises(PermanentError, match="You are not allowed to use this API") as rights:
        connect(fake, clock).read_levels([Sku("1")])
    for error in (wrong.value, rights.value):
        assert PASSWORD not in str(error)
        assert USER not in str(error)


def test_plain_http_is_refused_except_on_loopback(fake: FakeEmag, clock: ManualClock) -> None:
    with pytest.raises(ConfigError, match="not HTTPS"):
        connect(fake, clock, base_url="http://marketplace-api.emag.ro/api-3")
    connect(fake, clock, base_url="http://127.0.0.1:8080/api-3")
    with pytest.raises(ConfigError, match="site"):
        connect(fake, clock, site="pl")


def test_server_errors_are_retried(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=0)
    fake.fail_next("offer_stock", 503)
    assert connect(fake, clock).push([level(1, 4)])[0].ok
    assert fake.count("offer_stock") == 2


# --- read back -----------------------------------------------------------------------------------


def test_levels_are_the_warehouse_stock_read_one_by_one_or_paged(fake: FakeEmag, clock: ManualClock) -> None:
    for number in range(1, 251):
        fake.add_offer(number, stock=number)
    fake.add_offer(300)  # listed, never stocked
    channel = connect(fake, clock)
    assert channel.read_levels([Sku("3"), Sku("300"), Sku("999"), Sku("X")]) == {"3": 3}
    assert fake.count("product_offer/read") == 3  # one per offer id; "X" is no offer id
    fake.request_log.clear()
    wanted = [Sku(str(n)) for n in range(1, 252)]
    assert channel.read_levels(wanted) == {str(n): n for n in range(1, 251)}
    assert fake.count("product_offer/read") == 3  # 251 offers, 100 a page
    fake.request_log.clear()
    channel.read_levels([Sku(str(n)) for n in range(1, 4)])  # cheaper than 3 pages: one by one
    assert [e.route for e in fake.request_log] == ["product_offer/read"] * 3
    channel.read_levels([Sku(str(n)) for n in range(1, 5)])  # four ids cost more than 3 pages
    assert len(fake.request_log) == 6
    assert fake.throttled == 0


def test_offer_ids_are_whole_numbers_in_emags_range() -> None:
    assert [offer_id(s) for s in ("1", " 42 ", "16777215", "16777216", "0", "-1", "1.0", "A1", "٣")] == [
        1,
        42,
        16777215,
        None,
        None,
        None,
        None,
        None,
        None,
    ]


# --- orders --------------------------------------------------------------------------------------


def test_new_and_processed_orders_are_sales_with_states(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    fake.add_offer(2, stock=10)
    channel = connect(fake, clock)
    new = sold(fake, clock, (1, 2), (2, 1), ack=False)
    taken = sold(fake, clock, (1, 3))
    batch = channel.orders_since(None)
    assert [(x.order_id, x.sku, x.quantity, x.movement) for x in batch.lines] == [
        (str(new), "1", 2, Movement.SALE),
        (str(new), "2", 1, Movement.SALE),
        (str(taken), "1", 3, Movement.SALE),
    ]
    lines = fake.order(new)["products"]
    assert batch.lines[0].line_id == str(lines[0]["id"])
    assert [(s.order_id, dict(s.units)) for s in batch.states] == [
        (str(new), {str(lines[0]["id"]): 2, str(lines[1]["id"]): 1}),
        (str(taken), {str(fake.order(taken)["products"][0]["id"]): 3}),
    ]
    assert batch.lines[0].at == T0  # the order's date, read in site time
    assert fake.count("order/acknowledge") == 0  # off by default: the new order stays new
    assert fake.order(new)["status"] == 1


def test_cursors_are_utc_time_and_padded_id_and_sort_against_the_start_line(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=10)
    channel = connect(fake, clock)
    start = start_cursor(T0)
    order = sold(fake, clock, (1, 1))
    [line] = channel.orders_since(start).lines
    assert line.cursor == order_cursor(T0 + timedelta(seconds=0), str(order))
    assert line.cursor == f"2026-11-27T09:00:00Z#{str(order).zfill(20)}"
    assert start <= line.cursor
    assert order_cursor(T0, "9") < order_cursor(T0, "10") < order_cursor(T0 + timedelta(seconds=1), "1")


def test_orders_resume_from_the_cursor_with_an_overlap_in_site_time(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=100)
    channel = connect(fake, clock)
    old = sold(fake, clock, (1, 1))
    clock.sleep(3600)
    recent = sold(fake, clock, (1, 1))
    first = channel.orders_since(None)
    cursor = first.lines[-1].cursor
    clock.sleep(60)
    later = sold(fake, clock, (1, 2))
    again = channel.orders_since(cursor)
    # orders modified an hour before the cursor stay out; the cursor's own order comes again
    assert {x.order_id for x in again.lines} == {str(recent), str(later)}
    assert {s.order_id for s in again.states} == {str(recent), str(later)}
    assert str(old) not in {s.order_id for s in again.states}
    assert timedelta(minutes=10) == ORDERS_OVERLAP


def test_a_fresh_adapter_redelivers_the_overlap_once(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=100)
    order = sold(fake, clock, (1, 1))
    cursor = connect(fake, clock).orders_since(None).lines[-1].cursor
    assert [x.order_id for x in connect(fake, clock).orders_since(cursor).lines] == [str(order)]


def test_many_orders_are_read_100_a_page_paced_to_12_a_second(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=5000)
    for _ in range(1_450):
        fake.place_order([(1, 1)])
    channel = connect(fake, clock)
    batch = channel.orders_since(start_cursor(T0 - timedelta(hours=1)))
    assert len(batch.lines) == 1_450 == len({x.key for x in batch.lines})
    assert fake.count("order/read") == 15
    assert fake.throttled == 0
    assert math.isclose(clock.waited, 1.05, abs_tol=0.01)  # 15 pages: one wait after the first 12


def test_orders_and_pushes_draw_from_separate_buckets(fake: FakeEmag, clock: ManualClock) -> None:
    for number in range(1, 101):
        fake.add_offer(number, stock=50)
    fake.place_order([(1, 1)])
    channel = connect(fake, clock, rma_returns=False)
    for _ in range(3):
        channel.push([level(n, 9) for n in range(1, 51)])
    channel.orders_since(None)  # the orders' bucket is untouched: no wait for it
    assert clock.waited == 0
    channel.push([level(n, 8) for n in range(51, 101)])
    assert fake.throttled == 0
    assert clock.waited > 0


def test_acknowledging_is_a_setting(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    order = sold(fake, clock, (1, 4), ack=False)
    assert fake.estimated_stock(1) == 6
    assert fake.stock(1) == 10
    channel = connect(fake, clock, acknowledge=True)
    [line] = channel.orders_since(None).lines
    assert line.movement is Movement.SALE
    assert line.quantity == 4
    assert fake.order(order)["status"] == 2
    assert fake.count("order/acknowledge") == 1
    assert fake.stock(1) == 6
    channel.orders_since(None)
    assert fake.count("order/acknowledge") == 1  # no longer new


def test_an_acknowledgement_that_fails_does_not_lose_the_orders(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    sold(fake, clock, (1, 1), ack=False)
    fake.fail_next(
        "order/acknowledge", response=httpx.Response(200, json=envelope(error=True, messages=["no"]))
    )
    batch = connect(fake, clock, acknowledge=True).orders_since(None)
    assert len(batch.lines) == 1


def test_line_edits_in_progress_are_the_orders_state(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    fake.add_offer(2, stock=10)
    order = sold(fake, clock, (1, 2), (2, 2))
    first, second = (str(p["id"]) for p in fake.order(order)["products"])
    channel = connect(fake, clock)
    channel.orders_since(None)
    fake.edit_line(order, int(first), 5)
    fake.edit_line(order, int(second), 0)  # the line is cancelled (status 0)
    added = fake.add_line(order, 1, 1)
    clock.sleep(1)
    batch = channel.orders_since(None)
    [state] = batch.states
    assert dict(state.units) == {first: 5, second: 0, str(added): 1}
    assert (fake.stock(1), fake.stock(2)) == (4, 10)  # eMAG moved its stock with the edits
    assert [(x.line_id, x.quantity) for x in batch.lines] == [(first, 5), (str(added), 1)]


def test_a_cancellation_is_a_restock_of_what_the_sale_took(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    order = sold(fake, clock, (1, 3))
    before_ack = sold(fake, clock, (1, 1), ack=False)
    fake.cancel(order)
    fake.cancel(before_ack)
    batch = connect(fake, clock).orders_since(None)
    line_id = str(fake.order(order)["products"][0]["id"])
    assert [
        (x.order_id, x.line_id, x.movement, x.quantity) for x in batch.lines if x.order_id == str(order)
    ] == [
        (str(order), line_id, Movement.SALE, 3),
        (str(order), f"{line_id}-cancel", Movement.RESTOCK, 3),
    ]
    assert [x.movement for x in batch.lines if x.order_id == str(before_ack)] == [
        Movement.SALE,
        Movement.RESTOCK,
    ]
    assert fake.estimated_stock(1) == 10


def test_a_storno_restocks_each_returned_unit_once(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    order = sold(fake, clock, (1, 3))
    fake.set_status(order, 4)
    line_id = str(fake.order(order)["products"][0]["id"])
    channel = connect(fake, clock)
    channel.orders_since(None)
    fake.storno(order, int(line_id), 1)
    clock.sleep(1)
    batch = channel.orders_since(None)
    assert [(x.line_id, x.movement, x.quantity) for x in batch.lines] == [
        (line_id, Movement.SALE, 3),
        ("p1-return-1", Movement.RESTOCK, 1),
    ]
    assert dict(batch.states[0].units) == {line_id: 3}  # the units sold stay; the return is its own
    fake.storno(order, int(line_id), 2)  # the rest: the order becomes 5 (returned) by itself
    clock.sleep(1)
    batch = channel.orders_since(None)
    assert fake.order(order)["status"] == 5
    assert [x.line_id for x in batch.lines if x.movement is Movement.RESTOCK] == [
        "p1-return-1",
        "p1-return-2",
        "p1-return-3",
    ]


def test_a_returned_order_gives_every_unit_back(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    order = sold(fake, clock, (1, 2))
    fake.set_status(order, 4)
    fake.set_status(order, 5)
    batch = connect(fake, clock).orders_since(None)
    assert [(x.movement, x.quantity) for x in batch.lines] == [
        (Movement.SALE, 2),
        (Movement.RESTOCK, 1),
        (Movement.RESTOCK, 1),
    ]


def test_rma_returns_received_restock_once_with_the_storno_of_the_same_units(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=10)
    fake.add_offer(2, stock=10)
    order = sold(fake, clock, (1, 3), (2, 1))
    fake.set_status(order, 4)
    channel = connect(fake, clock)
    cursor = channel.orders_since(None).lines[-1].cursor
    refund = fake.add_rma(order, [(1, 2)], return_type=3)
    fake.add_rma(order, [(2, 1)], return_type=1, request_status=2)  # a replacement: never counted
    clock.sleep(60)
    assert [x for x in channel.orders_since(cursor).lines if x.movement is Movement.RESTOCK] == []
    fake.set_rma_status(refund, 3)
    fake.set_rma_status(refund, 6)  # received: the units are back with the seller
    batch = channel.orders_since(cursor)
    restocks = [x for x in batch.lines if x.movement is Movement.RESTOCK]
    assert [(x.order_id, x.line_id, x.sku, x.quantity) for x in restocks] == [
        (str(order), "p1-return-1", "1", 1),
        (str(order), "p1-return-2", "1", 1),
    ]
    assert all(x.cursor == cursor for x in restocks)  # never moves the order cursor on
    fake.storno(order, fake.order(order)["products"][0]["id"], 3)  # the seller's storno: 2 of them the same
    clock.sleep(1)
    keys = [x.line_id for x in channel.orders_since(cursor).lines if x.movement is Movement.RESTOCK]
    assert keys == ["p1-return-1", "p1-return-2", "p1-return-3"]  # the ledger already has the first two
    assert fake.count("rma/read") == 8  # received and finalized, in each of the 4 polls


def test_rma_returns_can_be_left_to_the_orders(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    order = sold(fake, clock, (1, 1))
    fake.set_status(order, 4)
    emag_id = fake.add_rma(order, [(1, 1)], request_status=3)
    fake.set_rma_status(emag_id, 6)
    batch = connect(fake, clock, rma_returns=False).orders_since(None)
    assert [x.movement for x in batch.lines] == [Movement.SALE]
    assert fake.count("rma/read") == 0


def test_without_storno_qty_the_reduced_quantity_is_the_state(clock: ManualClock) -> None:
    """An answer without the undocumented ``storno_qty``: the core's EDIT gives the units back."""
    order = {
        "id": 7,
        "type": 3,
        "status": 4,
        "date": "2026-11-27 11:00:00",
        "modified": "2026-11-27 12:00:00",
        "products": [{"id": 70, "product_id": 5, "quantity": 1, "status": 1}],
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=envelope([order]))

    channel = EmagChannel(
        NAME,
        site="ro",
        username=USER,
        password=PASSWORD,
        client=httpx.Client(transport=httpx.MockTransport(answer)),
        sleep=clock.sleep,
        clock=clock,
    )
    batch = channel.orders_since(None)
    assert [(x.line_id, x.quantity) for x in batch.lines] == [("70", 1)]
    assert dict(batch.states[0].units) == {"70": 1}
    assert batch.lines[0].at == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # Bucharest is UTC+2 in November


def test_odd_quantities_are_named_never_counted(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    fake.add_offer(2, stock=10)
    order = sold(fake, clock, (1, 1.5), (2, "abc"), (1, 2))
    batch = connect(fake, clock).orders_since(None)
    assert [(x.sku, x.quantity) for x in batch.odd] == [("1", "1.5"), ("2", "abc")]
    assert [(x.sku, x.quantity) for x in batch.lines] == [("1", 2)]
    assert all(x.order_id == str(order) for x in batch.odd)
    assert list(batch.states[0].units.values()) == [2]


def test_orders_fulfilled_by_emag_are_not_read(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    fake.place_order([(1, 1)], order_type=2)
    assert connect(fake, clock).orders_since(None).lines == ()


def test_a_bad_cursor_is_permanent(fake: FakeEmag, clock: ManualClock) -> None:
    with pytest.raises(PermanentError, match="cursor"):
        connect(fake, clock).orders_since("yesterday")


# --- settings ------------------------------------------------------------------------------------

MINIMAL = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.emag]
kind = "emag"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sheetsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_settings_name_the_site_and_default_the_rest(tmp_path: Path) -> None:
    settings = load(write(tmp_path, MINIMAL + 'site = "bg"\n'))
    [channel] = settings.channels
    assert channel.platform == EmagAccount("bg", warehouse_id=1, acknowledge=False, rma_returns=True)
    other = load(write(tmp_path, MINIMAL + 'site = "ro"\nrma_returns = false\ntimezone = "UTC"\n'))
    assert other.channels[0].platform == EmagAccount("ro", rma_returns=False, timezone="UTC")
    assert channel.title == "Emag"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('site = "pl"', r"\[channels.emag\] site: must be one of 'ro', 'bg' or 'hu'"),
        ("", r"\[channels.emag\] site: missing"),
        ('site = "ro"\nwarehouse_id = 0', r"\[channels.emag\] warehouse_id: must be 1 or more"),
        ('site = "ro"\nacknowledge = "yes"', "must be true or false"),
        ('site = "ro"\nrma_returns = 1', r"\[channels.emag\] rma_returns: must be true or false"),
        ('site = "ro"\ntimezone = "Mars/Olympus"', "not a time zone"),
        ('site = "ro"\nusername = "me"', "SHEETSYNC__EMAG__USERNAME"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, MINIMAL + extra + "\n"))


def test_the_fake_logs_no_credentials(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=0)
    connect(fake, clock).push([level(1, 1)])
    assert PASSWORD not in json.dumps([str(e) for e in fake.request_log])


# --- through the real worker -----------------------------------------------------------------------

LIFECYCLE = """
[master]
kind = "workbook"
path = "unused.xlsx"

[channels.emag]
kind = "sandbox"
title = "eMAG"
"""


def test_a_lifecycle_through_the_worker_counts_every_unit_once(tmp_path: Path, clock: ManualClock) -> None:
    """History before the install, then a sale, an edit, a cancellation and a storno, by the worker."""
    from sheetsync.model import INVENTORY_SHEET
    from sheetsync.stores.memory import MemoryStore
    from sheetsync.worker import run_cycle

    settings = load(write(tmp_path, LIFECYCLE))
    store = MemoryStore(
        settings.layout, {INVENTORY_SHEET: [["SKU", "Quantity", "SKU eMAG"], ["MUG", 50, "1264"]]}
    )
    install = datetime.fromtimestamp(clock.now, UTC) + timedelta(days=2)
    fake = FakeEmag(username=USER, password=PASSWORD, now=clock)
    fake.add_offer(1264, stock=200)
    for _ in range(5):  # history: already in the merchant's count
        sold(fake, clock, (1264, 1))
    clock.now = install.timestamp()
    channel = connect(fake, clock)

    def cycle() -> None:
        clock.sleep(120)
        run_cycle(store, [channel], settings, datetime.fromtimestamp(clock.now, UTC))

    def available() -> str:
        rows = store.sheets[INVENTORY_SHEET]
        return str(rows[1][[str(h) for h in rows[0]].index("Available")])

    cycle()  # the start line
    cycle()
    assert (available(), fake.stock(1264)) == ("50", 50)
    order = sold(fake, clock, (1264, 3))
    line = fake.order(order)["products"][0]["id"]
    cycle()
    assert (available(), fake.stock(1264)) == ("47", 47)
    fake.edit_line(order, line, 4)  # eMAG takes one more itself; the ledger follows by an EDIT
    cycle()
    assert (available(), fake.stock(1264)) == ("46", 46)
    fake.set_status(order, 4)
    fake.storno(order, line, 1)
    cycle()
    assert available() == "47"  # the returned unit; eMAG put nothing back by itself
    other = sold(fake, clock, (1264, 2))
    cycle()
    assert available() == "45"
    fake.cancel(other)
    cycle()
    assert available() == "47"
    clock.sleep(900)  # the audit reads every SKU back and sets what eMAG moved by itself
    cycle()
    assert (available(), fake.stock(1264)) == ("47", 47)
    movements = [row.cells["movement"] for row in store.read().ledger]
    assert movements.count("SALE") == 2
    assert movements.count("RESTOCK") == 2
    assert movements.count("EDIT") == 1
    assert fake.throttled == 0
