"""Merging a channel's catalogue into the Inventory: add what is new, keep every row as it is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.catalogue import Clash, Kept, loose, merge
from sheetsync.model import CatalogueItem, ChannelName, Layout, RawRow

EMAG = ChannelName("emag")
SHOP = ChannelName("shopify")
LAYOUT = Layout(((SHOP, "Shopify"), (EMAG, "eMAG")))
PLACES = Layout(((SHOP, "Shopify"),), locations=("Shop", "Warehouse"))


def item(sku: str, quantity: int | None = 5, ref: str = "", **extra: str) -> CatalogueItem:
    return CatalogueItem(sku, extra.pop("title", f"Title {sku}"), quantity=quantity, ref=ref or sku, **extra)


def row(number: int, sku: str, **cells: str) -> RawRow:
    return RawRow(number, {"sku": sku, "quantity": "1", **cells})


def test_an_empty_sheet_gets_a_row_per_item_in_catalogue_order() -> None:
    items = [
        CatalogueItem("TEE-M", "Tee", "M", 4, ref="v1"),
        CatalogueItem(" MUG ", " Mug ", "", 0, ref="v2"),
    ]

    result = merge([], items, LAYOUT, SHOP)

    assert [dict(r.cells) for r in result.added] == [
        {"SKU": "TEE-M", "Title": "Tee", "Variant": "M", "Quantity": "4"},
        {"SKU": "MUG", "Title": "Mug", "Variant": "", "Quantity": "0"},
    ]
    assert [r.item for r in result.added] == items
    assert (result.kept, result.no_sku, result.clashes, result.refused) == ((), (), (), ())


def test_a_row_the_merchant_has_is_kept_whatever_its_quantity() -> None:
    rows = [row(2, "A"), row(3, " B "), row(4, ""), row(6, "C")]

    result = merge(rows, [item("A", 99), item("B", 0), item("D", 7)], LAYOUT, SHOP)

    assert result.kept == (Kept(item("A", 99), 2), Kept(item("B", 0), 3))
    assert [r.cells["SKU"] for r in result.added] == ["D"]


def test_a_row_is_found_by_its_code_on_the_channel() -> None:
    rows = [row(2, "TSHIRT-RED", **{"sku:emag": "1234"}), row(3, "MUG", **{"sku:shopify": "MUG-SHOP"})]
    offer = CatalogueItem("PN-9", "Red shirt", quantity=3, code="1234", ref="offer 1234")

    emag = merge(
        rows, [offer, CatalogueItem("PN-1", "Lamp", quantity=2, code="77", ref="offer 77")], LAYOUT, EMAG
    )
    shop = merge(rows, [item("MUG-SHOP")], LAYOUT, SHOP)

    assert emag.kept == (Kept(offer, 2),)
    assert [dict(r.cells) for r in emag.added] == [
        {"SKU": "PN-1", "Title": "Lamp", "Variant": "", "Quantity": "2", "SKU eMAG": "77"}
    ]
    assert shop.kept == (Kept(item("MUG-SHOP"), 3),)


def test_an_item_whose_code_is_its_sku_gets_no_code_column() -> None:
    offer = CatalogueItem("17", "Lamp", quantity=1, code="17", ref="offer 17")

    [added] = merge([], [offer], LAYOUT, EMAG).added

    assert "SKU eMAG" not in added.cells


def test_items_without_a_sku_or_with_one_the_sheet_cannot_hold_are_listed_not_added() -> None:
    blank, spaces = item("", ref="v1"), item("  ", ref="v2")
    formula = item("=HYPERLINK(1)", ref="v3")

    result = merge([], [blank, spaces, formula, item("OK")], LAYOUT, SHOP)

    assert result.no_sku == (blank, spaces)
    assert [(r.item, r.reason.split(" ")[0]) for r in result.refused] == [(formula, "SKU")]
    assert "formula" in result.refused[0].reason
    assert [r.cells["SKU"] for r in result.added] == ["OK"]


def test_one_sku_on_two_items_or_differing_by_case_or_spaces_is_a_clash() -> None:
    a1, a2 = item("A-1", ref="v1"), item("A-1", ref="v2")
    b1, b2 = item("b 2", ref="v3"), item("B2", ref="v4")

    result = merge([], [a1, b1, item("C"), a2, b2], LAYOUT, SHOP)

    assert result.clashes == (Clash((a1, a2)), Clash((b1, b2)))
    assert [r.cells["SKU"] for r in result.added] == ["C"]


def test_a_clash_is_reported_even_when_a_row_has_the_sku() -> None:
    a1, a2 = item("A", ref="v1"), item("A", ref="v2")

    result = merge([row(2, "A")], [a1, a2], LAYOUT, SHOP)

    assert (result.clashes, result.kept, result.added) == ((Clash((a1, a2)),), (), ())


def test_an_item_differing_from_a_row_only_by_case_or_spaces_is_a_clash_with_that_row() -> None:
    rows = [row(2, "Tee-M"), row(3, "LAMP", **{"sku:emag": "Off 9"})]
    offer = CatalogueItem("PN", "Lamp", quantity=1, code="off9", ref="offer")

    shop = merge(rows, [item("TEE-m")], LAYOUT, SHOP)
    emag = merge(rows, [offer], LAYOUT, EMAG)

    assert shop.clashes == (Clash((item("TEE-m"),), 2, "Tee-M"),)
    assert emag.clashes == (Clash((offer,), 3, "LAMP"),)
    assert shop.added == emag.added == ()


def test_an_item_listed_twice_counts_once() -> None:
    result = merge([], [item("A", ref="v1"), item("A", ref="v1"), item("B", ref="")], LAYOUT, SHOP)

    assert [r.cells["SKU"] for r in result.added] == ["A", "B"]
    assert result.clashes == ()


def test_an_untracked_item_gets_a_blank_count_and_a_negative_one_starts_at_zero() -> None:
    result = merge([], [item("A", None), item("B", -3)], LAYOUT, SHOP)

    assert [r.cells["Quantity"] for r in result.added] == ["", "0"]
    assert [r.item.sku for r in result.untracked] == ["A"]


def test_with_locations_the_quantity_goes_to_the_channels_location_and_the_others_get_zero() -> None:
    result = merge([], [item("A", 6), item("B", None)], PLACES, SHOP, "Warehouse")

    assert [dict(r.cells) for r in result.added] == [
        {"SKU": "A", "Title": "Title A", "Variant": "", "Quantity Shop": "0", "Quantity Warehouse": "6"},
        {"SKU": "B", "Title": "Title B", "Variant": "", "Quantity Shop": "0", "Quantity Warehouse": ""},
    ]


@pytest.mark.parametrize(("layout", "location"), [(PLACES, ""), (PLACES, "Attic"), (LAYOUT, "Shop")])
def test_a_location_must_be_one_of_the_layouts(layout: Layout, location: str) -> None:
    with pytest.raises(ValueError, match="location"):
        merge([], [], layout, SHOP, location)


skus = st.text(alphabet="aAbB -1", min_size=0, max_size=4)


@given(
    existing=st.lists(skus, max_size=6),
    listed=st.lists(st.tuples(skus, st.integers(-2, 9) | st.none()), max_size=10),
)
def test_every_item_is_accounted_for_once_and_added_skus_are_new_and_distinct(
    existing: list[str], listed: list[tuple[str, int | None]]
) -> None:
    rows = [row(n, sku) for n, sku in enumerate(existing, start=2)]
    items = [item(sku, quantity, ref=f"v{n}") for n, (sku, quantity) in enumerate(listed)]

    result = merge(rows, items, LAYOUT, SHOP)

    accounted = [
        *(r.item for r in result.added),
        *(k.item for k in result.kept),
        *result.no_sku,
        *(i for c in result.clashes for i in c.items),
        *(r.item for r in result.refused),
    ]
    assert sorted(i.ref for i in accounted) == sorted(i.ref for i in items)
    added = [r.cells["SKU"] for r in result.added]
    held = {loose(sku) for sku in existing if sku.strip()}
    assert len({loose(s) for s in added}) == len(added)
    assert not {loose(s) for s in added} & held
