"""What a sale lowers before the next cycle: planned on the last cycle's basis, only ever down."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from sheetsync.core.buffers import NO_BUFFER, BufferPolicy, Hold, HoldKind, Tier
from sheetsync.core.bundles import parse_bundles
from sheetsync.core.cells import parse_rows
from sheetsync.core.plan import ChannelSpec, GuardVerdict, plan
from sheetsync.core.sales import SOLD_SINCE, Basis, capped, lowered, own_sales, taken, targets
from sheetsync.model import ChannelName, Layout, Movement, OrderLine, RawRow, Sku, StockLevel

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHOP, META = ChannelName("shopify"), ChannelName("meta")
LAYOUT = Layout(((SHOP, "Shopify"), (META, "Meta")))
A, B, KIT = Sku("A"), Sku("B"), Sku("KIT")
HOLD_2 = BufferPolicy((Tier(0, Hold(HoldKind.UNITS, Fraction(2))),))
SPECS = (ChannelSpec(SHOP, "Shopify", NO_BUFFER), ChannelSpec(META, "Meta", HOLD_2))
OPEN = GuardVerdict(False, "", False, 0, 0)


def line(sku: Sku, units: int, channel: ChannelName = SHOP, movement: Movement = Movement.SALE) -> OrderLine:
    return OrderLine(channel, f"order {sku}{units}", "1", sku, units, movement, NOW, "")


def basis(**changes: object) -> Basis:
    bundles = parse_bundles([RawRow(2, {"bundle": "KIT", "component": "A", "quantity": "2"})])
    raw = [RawRow(2, {"sku": "A", "quantity": "10"}), RawRow(3, {"sku": "B", "quantity": "4"})]
    raw.append(RawRow(4, {"sku": "KIT", "quantity": ""}))
    parsed = parse_rows(raw, LAYOUT, bundles)
    fields: dict[str, object] = {
        "rows": {row.sku: row for row in parsed.rows},
        "available": {A: 10, B: 4, KIT: 5},
        "reach": {},
        "specs": SPECS,
    }
    return Basis(**{**fields, **changes})  # type: ignore[arg-type]  # the test's overrides, checked by the call


def test_a_sale_takes_its_units_and_a_bundle_takes_its_parts() -> None:
    rows = basis().rows
    assert taken(rows, [line(A, 3), line(KIT, 2), line(B, 1, movement=Movement.RESTOCK)]) == {A: 7}
    assert taken(rows, [line(Sku("UNKNOWN"), 1)]) == {Sku("UNKNOWN"): 1}


def test_a_channel_lowers_itself_by_its_own_sales_and_never_below_zero() -> None:
    shown = {(SHOP, A): 5, (META, A): 3}
    refund = line(A, 9, movement=Movement.RESTOCK)
    after = own_sales(shown, [line(A, 2), line(A, 9, META), line(B, 1), refund])
    assert after == {(SHOP, A): 3, (META, A): 0}


def test_a_sale_is_planned_on_the_rows_it_touches_with_each_channels_rule() -> None:
    assert targets(basis(), [line(A, 4)]) == {SHOP: {A: 6, KIT: 3}, META: {A: 4, KIT: 1}}
    assert targets(basis(), [line(KIT, 1)]) == {SHOP: {A: 8, KIT: 4}, META: {A: 6, KIT: 2}}
    assert targets(basis(), [line(Sku("GONE"), 1)]) == {}
    assert targets(basis(held=True), [line(A, 1)]) == {}


def test_paused_channels_and_channels_selling_from_some_locations() -> None:
    paused = (SPECS[0], ChannelSpec(META, "Meta", HOLD_2, paused=True))
    assert targets(basis(specs=paused), [line(B, 1)]) == {SHOP: {B: 3}}
    reach = {(META, A): 6, (META, KIT): 3}  # Meta sells from a shop holding 6 of the 10
    assert targets(basis(reach=reach), [line(A, 2)]) == {SHOP: {A: 8, KIT: 4}, META: {A: 2, KIT: 0}}


def test_only_figures_above_target_are_pushed_and_never_one_not_known() -> None:
    shown = {(SHOP, A): 10, (META, A): 5, (SHOP, KIT): 3}
    pushes = lowered(basis(), [line(A, 4)], shown)
    assert pushes == {SHOP: [StockLevel(A, 6, 10)], META: [StockLevel(A, 4, 5)]}


def test_a_cycles_plan_is_capped_by_the_sales_since_it_read() -> None:
    parsed = parse_rows([RawRow(2, {"sku": "A", "quantity": "10", "shopify": "10"})], LAYOUT)
    draft = plan(parsed, {A: 10}, {}, SPECS, OPEN)
    assert capped(draft, {}) is draft
    assert capped(draft, {SHOP: {A: 12}}).rows == draft.rows  # a cap above the target changes nothing
    decision = capped(draft, {SHOP: {A: 7}}).rows[0].decisions[SHOP]
    assert (decision.target, decision.push) == (7, True)
    assert decision.reason == f"shows 7: {SOLD_SINCE}"
