"""Parsing the merchant's cells: every bad input is flagged in its own row, never coerced."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.bundles import parse_bundles
from sheetsync.core.cells import (
    MAX_QUANTITY,
    Pause,
    parse_buffer,
    parse_override,
    parse_price,
    parse_quantity,
    parse_rows,
)
from sheetsync.core.prices import price_for
from sheetsync.model import SKU_IS_NUMBER, ChannelName, Layout, RawRow

LAYOUT = Layout(((ChannelName("shopify"), "Shopify"), (ChannelName("facebook"), "Facebook")))


def row(number: int, sku: str, quantity: str, **cells: str) -> RawRow:
    return RawRow(number, {"sku": sku, "quantity": quantity, **cells})


@pytest.mark.parametrize(
    ("text", "value"),
    [("10", 10), (" 7 ", 7), ("0042", 42), ("+3", 3), ("0", 0), ("10.0", 10), ("0" * 39 + "7", 7)],
)
def test_whole_numbers_parse(text: str, value: int) -> None:
    assert parse_quantity(text, "Quantity") == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ten",
            'Quantity "ten" is not a whole number; enter a whole number of 0 or more',
        ),
        ("-3", 'Quantity "-3" is negative; enter a whole number of 0 or more'),
        # Arabic-Indic digits: Python's int() reads them, the merchant's sheet shows other symbols.
        ("\u0663", 'Quantity "\u0663" has digits other than 0-9; retype it with the digits 0-9'),
        (
            "2.5",
            'Quantity "2.5" is not a whole number; enter a whole number of 0 or more',
        ),
        ("", "Quantity is blank; enter a whole number of 0 or more"),
        ("  ", "Quantity is blank; enter a whole number of 0 or more"),
        (
            "1,000",
            'Quantity "1,000" has a thousands separator; write it without one (1000) so it cannot be misread',
        ),
        (
            "1.000",
            'Quantity "1.000" has a thousands separator; write it without one (1000) so it cannot be misread',
        ),
        ("=A2+1", "Quantity is a formula (=A2+1); enter a plain number"),
        (
            "2026-11-24T00:00:00",
            'Quantity "2026-11-24T00:00:00" is not a whole number; enter a whole number of 0 or more',
        ),
        (
            "TRUE",
            'Quantity "TRUE" is not a whole number; enter a whole number of 0 or more',
        ),
        (
            "99999999999999999999",
            "Quantity 99999999999999999999 is too large; the most is 1000000000",
        ),
        (
            "1" * 41,
            f'Quantity "{"1" * 39}…" is 41 characters long; enter a number',
        ),
    ],
)
def test_bad_quantities_say_what_to_type(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^Quantity") as caught:
        parse_quantity(text, "Quantity")
    assert str(caught.value) == message


def test_overrides() -> None:
    assert parse_override("") is None
    assert parse_override(" pause ") is Pause.PAUSE
    assert parse_override("5") == 5
    with pytest.raises(ValueError, match='Override "soon" is not understood'):
        parse_override("soon")


def test_bad_rows_are_flagged_and_good_rows_still_parse() -> None:
    parsed = parse_rows(
        [
            row(2, "A-1", "10"),
            row(3, "A-2", "ten"),
            row(4, "A-3", "-1"),
            row(5, "A-4", "2.5"),
            row(6, "A-5", ""),
            row(7, "A-6", "1,000"),
            row(8, "A-7", "=B2"),
            row(9, "A-8", "4", override="maybe"),
            row(10, "", "4"),
            row(11, "A-9", "3", buffer="lots"),
            row(12, "A-10", "6", override="PAUSE", **{"buffer:shopify": "1"}),
        ],
        LAYOUT,
    )
    assert [r.sku for r in parsed.rows] == ["A-1", "A-10"]
    assert parsed.rows[1].override is Pause.PAUSE
    assert set(parsed.rows[1].holds) == {"shopify"}
    flagged = {p.row: p.messages for p in parsed.problems}
    assert sorted(flagged) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert flagged[10] == ("SKU is blank; every row needs a SKU",)
    assert flagged[11] == ('Buffer "lots" is not a hold; write units (3), a percentage (10%) or all',)
    assert flagged[9][0].startswith('Override "maybe" is not understood')


def test_every_copy_of_a_duplicated_sku_is_flagged() -> None:
    parsed = parse_rows([row(2, "A-1", "3"), row(3, "B", "1"), row(4, "A-1", "5")], LAYOUT)
    assert [r.sku for r in parsed.rows] == ["B"]
    messages = {p.row: p.messages for p in parsed.problems}
    assert messages == {
        2: ('SKU "A-1" is also in row 4; each SKU must appear once',),
        4: ('SKU "A-1" is also in row 2; each SKU must appear once',),
    }


def test_rows_with_only_worker_cells_are_ignored_and_worker_cells_are_kept_for_diffing() -> None:
    parsed = parse_rows(
        [
            RawRow(2, {"sku": "", "quantity": "", "status": "OK"}),
            row(3, "A", "4", **{"channel:shopify": "2"}),
        ],
        LAYOUT,
    )
    assert parsed.problems == ()
    (only,) = parsed.rows
    assert only.believed == {"shopify": 2, "facebook": None}
    assert only.current["channel:shopify"] == "2"


@given(st.text(max_size=30))
def test_parse_quantity_returns_a_valid_number_or_explains(text: str) -> None:
    try:
        value = parse_quantity(text, "Quantity")
    except ValueError as error:
        message = str(error)
    else:
        assert 0 <= value <= MAX_QUANTITY
        return
    assert message.startswith("Quantity")


def test_a_formula_in_the_sku_is_flagged() -> None:
    (problem,) = parse_rows([row(2, "=CONCAT(B2)", "3")], LAYOUT).problems
    assert problem.messages == ("SKU is a formula (=CONCAT(B2)); type the SKU itself",)


PRICED = Layout(channels=((ChannelName("shop"), "Shop"),), priced=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("=A1*2", "Price is a formula (=A1*2); enter a plain amount like 12.50"),
        ("12,50", 'Price "12,50" has a comma; write the amount with a point, like 12.50'),
        ("€12", 'Price "€12" is not an amount; write it like 12.50, without a currency'),
        ("12.505", 'Price "12.505" is not an amount; write it like 12.50, without a currency'),
        ("0.00", "Price 0.00 must be more than 0"),
        ("2000000", "Price 2000000 is too large; the most is 1000000"),
    ],
)
def test_a_bad_price_is_named_and_never_guessed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_price(text, "Price")


def test_a_bad_price_or_reorder_cell_flags_the_row_but_its_stock_still_syncs() -> None:
    raw = RawRow(2, {"sku": "A", "quantity": "5", "price": "x", "price:shop": "9.5", "reorder_qty": "4"})
    (parsed,) = parse_rows([raw], PRICED).rows
    assert parsed.prices == {"shop": Decimal("9.5")}
    assert parsed.notes == (
        'Price "x" is not an amount; write it like 12.50, without a currency',
        "Reorder qty is set but Reorder point is blank; enter the stock level to reorder at",
    )
    assert parsed.reorder is None


def test_bundle_rows_leave_their_count_blank_and_need_usable_components() -> None:
    bundles = parse_bundles(
        [
            RawRow(2, {"bundle": "KIT", "component": "A", "quantity": "1"}),
            RawRow(3, {"bundle": "BOX", "component": "B", "quantity": "1"}),
            RawRow(4, {"bundle": "BAD", "component": "", "quantity": "1"}),
            RawRow(5, {"bundle": "PAIR", "component": "C", "quantity": "2"}),
        ]
    )
    raw = [
        row(2, "KIT", ""),
        row(3, "BOX", "4"),  # a count typed on a bundle
        row(4, "BAD", ""),
        row(5, "PAIR", ""),
        row(6, "A", "x"),  # KIT's component is flagged
    ]
    parsed = parse_rows(raw, LAYOUT, bundles)
    assert parsed.rows == ()
    assert {p.row: p.messages[0] for p in parsed.problems} == {
        2: "bundle KIT: component A is flagged in row 6; fix that row first",
        3: "BOX is a bundle (Bundles sheet): its stock is worked out from its components, "
        "so leave Quantity blank",
        4: "bundle BAD cannot be sold: Bundles row 4: Component is blank",
        5: "bundle PAIR: component C has no row in the Inventory; add one",
        6: 'Quantity "x" is not a whole number; enter a whole number of 0 or more',
    }


def test_a_row_may_name_its_own_sku_on_a_channel_and_a_bad_one_is_flagged() -> None:
    parsed = parse_rows(
        [
            row(2, "MUG", "5", **{"sku:shopify": " SH-MUG "}),
            row(3, "CUP", "5", **{"sku:facebook": "=A1"}),
            row(4, "LID", "5"),
        ],
        LAYOUT,
    )
    assert {r.sku: dict(r.codes) for r in parsed.rows} == {"MUG": {"shopify": "SH-MUG"}, "LID": {}}
    (problem,) = parsed.problems
    assert problem.messages == ("SKU Facebook is a formula (=A1); type the SKU itself",)


def test_a_sku_the_sheet_holds_as_a_number_syncs_with_a_note() -> None:
    parsed = parse_rows([row(2, "123", "5", **{SKU_IS_NUMBER: "TRUE"}), row(3, "00124", "5")], LAYOUT)
    first, second = parsed.rows
    assert first.notes == (
        "SKU 123 is a number in the sheet, so leading zeros (00123) or long codes may be lost; format the "
        "SKU column as Plain text and retype the SKU",
    )
    assert second.notes == ()


def test_an_invisible_character_in_a_sku_or_a_count_is_flagged_with_a_retype_hint() -> None:
    parsed = parse_rows([row(2, "MUG\u200b", "3"), row(3, "CUP", "\ufeff5"), row(4, "LID", "1")], LAYOUT)
    assert [r.sku for r in parsed.rows] == ["LID"]
    assert {p.row: (p.sku, p.messages) for p in parsed.problems} == {
        2: (
            None,
            (
                'SKU "MUG[U+200B]" contains an invisible character (U+200B ZERO WIDTH SPACE), so it cannot '
                "match the SKU on a channel; retype it",
            ),
        ),
        3: (
            "CUP",
            (
                'Quantity "[U+FEFF]5" contains an invisible character (U+FEFF ZERO WIDTH NO-BREAK SPACE); '
                "retype it",
            ),
        ),
    }


def test_a_sku_longer_than_a_channel_takes_is_flagged_and_the_longest_one_syncs() -> None:
    longest, too_long = "x" * 255, "y" * 256
    parsed = parse_rows([row(2, longest, "3"), row(3, too_long, "3")], LAYOUT)
    assert [r.sku for r in parsed.rows] == [longest]
    (problem,) = parsed.problems
    assert (problem.row, problem.sku) == (3, None)
    assert problem.messages == (f'SKU "{"y" * 39}…" is 256 characters long; the most is 255',)


def test_the_skus_named_are_the_synced_rows_and_the_flagged_rows_with_a_readable_sku() -> None:
    parsed = parse_rows(
        [row(2, "A", "3"), row(3, "B", "ten"), row(4, "", "2"), row(5, "C\u200d", "1")], LAYOUT
    )
    assert parsed.skus() == {"A", "B"}
    assert parsed.skus() is parsed.skus()  # worked out once
    assert parse_rows([], LAYOUT).skus() == frozenset()


def test_two_rows_that_would_be_one_sku_on_a_channel_are_both_flagged_naming_each_other() -> None:
    parsed = parse_rows(
        [
            row(2, "MUG", "5", **{"sku:shopify": "CUP"}),
            row(3, "CUP", "5"),
            row(4, "LID", "5", **{"sku:facebook": "CUP"}),
            row(5, "BOWL", "5", **{"sku:shopify": "SH-BOWL"}),
        ],
        LAYOUT,
    )
    assert [r.sku for r in parsed.rows] == ["BOWL"]
    assert {p.row: p.messages for p in parsed.problems} == {
        2: ('on Shopify this row would be "CUP", as row 3 is; give each row its own SKU Shopify',),
        3: (
            'on Shopify this row would be "CUP", as row 2 is; give each row its own SKU Shopify',
            'on Facebook this row would be "CUP", as row 4 is; give each row its own SKU Facebook',
        ),
        4: ('on Facebook this row would be "CUP", as row 3 is; give each row its own SKU Facebook',),
    }


LOCATED = Layout(LAYOUT.channels, locations=("Warehouse", "Shop"))


def test_location_counts_adding_up_to_more_than_a_platform_takes_flag_the_row() -> None:
    most = str(MAX_QUANTITY - 1)
    parsed = parse_rows(
        [
            RawRow(2, {"sku": "A", "stock:Warehouse": most, "stock:Shop": "2"}),
            RawRow(3, {"sku": "B", "stock:Warehouse": most, "stock:Shop": "1"}),
        ],
        LOCATED,
    )
    assert [(r.sku, dict(r.counts)) for r in parsed.rows] == [
        ("B", {"Warehouse": MAX_QUANTITY - 1, "Shop": 1})
    ]
    (problem,) = parsed.problems
    assert (problem.row, problem.sku) == (2, "A")
    assert problem.messages == (
        f"Quantity Warehouse + Quantity Shop add up to {MAX_QUANTITY + 1}; the most is {MAX_QUANTITY}",
    )


def test_a_buffer_of_more_units_than_a_platform_takes_is_refused() -> None:
    assert parse_buffer(str(MAX_QUANTITY), "Buffer Shopify").amount == MAX_QUANTITY
    with pytest.raises(ValueError, match=r"^Buffer Shopify") as caught:
        parse_buffer(str(MAX_QUANTITY + 1), "Buffer Shopify")
    assert str(caught.value) == f"Buffer Shopify {MAX_QUANTITY + 1} is too large; the most is {MAX_QUANTITY}"
    (problem,) = parse_rows([row(2, "A", "5", buffer=str(MAX_QUANTITY + 1))], LAYOUT).problems
    assert problem.messages == (f"Buffer {MAX_QUANTITY + 1} is too large; the most is {MAX_QUANTITY}",)


def test_a_channel_price_that_cannot_be_read_is_never_replaced_by_the_price_column() -> None:
    priced = Layout(LAYOUT.channels, priced=True)
    raw = RawRow(2, {"sku": "A", "quantity": "5", "price": "9.99", "price:shopify": "12,50"})
    (parsed,) = parse_rows([raw], priced).rows
    assert parsed.prices == {"facebook": Decimal("9.99")}  # the Price column, for the other channels only
    assert price_for(parsed, ChannelName("shopify")) is None
    assert price_for(parsed, ChannelName("facebook")) == Decimal("9.99")
    assert parsed.notes == ('Price Shopify "12,50" has a comma; write the amount with a point, like 12.50',)
