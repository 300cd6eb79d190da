"""Prices: each channel's price, pushed once per change, remembered in the Prices sent cell."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sheetsync.core.buffers import NO_BUFFER
from sheetsync.core.cells import parse_rows
from sheetsync.core.plan import ChannelResult, ChannelSpec, GuardVerdict, plan, row_cells
from sheetsync.core.prices import read_sent, sent_text
from sheetsync.model import PRICES_SENT, REASON, ROW_STATUS, ChannelName, Layout, PushOutcome, RawRow, Sku

SHOP, META, POS = ChannelName("shop"), ChannelName("meta"), ChannelName("pos")
LAYOUT = Layout(((SHOP, "Shop"), (META, "Meta"), (POS, "POS")), priced=True)
OPEN = GuardVerdict(held=False, message="", accepted=False, rows=0, total=0)
NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


def test_the_prices_sent_cell_round_trips_and_a_hand_edit_reads_as_unknown() -> None:
    sent = {SHOP: Decimal("12.50"), META: Decimal("3")}
    assert sent_text(sent, [META, SHOP, POS]) == "meta=3.00 shop=12.50"
    assert read_sent("meta=3.00 shop=12.50") == sent
    assert read_sent("shop=12.5 typed by hand") == {}


def test_only_changed_prices_on_open_priced_channels_are_pushed_and_a_refusal_is_flagged() -> None:
    cells = {"sku": "A", "quantity": "4", "price": "10", "price:meta": "11.00", PRICES_SENT: "shop=10.00"}
    parsed = parse_rows([RawRow(2, cells)], LAYOUT)
    specs = [
        ChannelSpec(SHOP, "Shop", NO_BUFFER, priced=True),
        ChannelSpec(META, "Meta", NO_BUFFER, priced=True),
        ChannelSpec(POS, "POS", NO_BUFFER),  # takes no prices
    ]
    planned = plan(parsed, {Sku("A"): 4}, {}, specs, OPEN)
    assert planned.price_levels(SHOP, "EUR") == []  # unchanged since it was sent
    (level,) = planned.price_levels(META, "EUR")
    assert (level.sku, level.text, level.currency) == ("A", "11.00", "EUR")

    refused = {META: ChannelResult({}, prices={Sku("A"): PushOutcome(Sku("A"), False, "bad price")})}
    written = {
        w.column: w.value for w in row_cells(planned, refused, {SHOP: "Shop", META: "Meta", POS: "POS"}, NOW)
    }
    assert written[ROW_STATUS] == "ERROR"
    assert written[REASON].startswith("Meta refused the price: bad price")
    assert PRICES_SENT not in written  # still shop=10.00: Meta's price goes again next cycle

    accepted = {META: ChannelResult({}, prices={Sku("A"): PushOutcome(Sku("A"), True)})}
    written = {
        w.column: w.value for w in row_cells(planned, accepted, {SHOP: "Shop", META: "Meta", POS: "POS"}, NOW)
    }
    assert written[PRICES_SENT] == "shop=10.00 meta=11.00"
