"""The Bundles sheet: components flattened, and every way a definition can be unusable."""

from __future__ import annotations

from sheetsync.core.bundles import parse_bundles
from sheetsync.model import RawRow, Sku


def rows(*lines: tuple[str, str, str]) -> list[RawRow]:
    return [
        RawRow(n, {"bundle": b, "component": c, "quantity": q}) for n, (b, c, q) in enumerate(lines, start=2)
    ]


def test_nested_bundles_flatten_to_the_skus_that_hold_stock() -> None:
    bundles = parse_bundles(
        rows(("GIFT", "KIT", "2"), ("GIFT", "CARD", "1"), ("KIT", "CUP", "2"), ("KIT", "LID", "1"))
    )
    assert bundles.parts == {
        "GIFT": {"CUP": 4, "LID": 2, "CARD": 1},
        "KIT": {"CUP": 2, "LID": 1},
    }
    assert bundles.problems == {}
    assert "KIT" in bundles
    assert "CUP" not in bundles


def test_a_cycle_is_named_and_every_bundle_on_or_above_it_is_unusable() -> None:
    bundles = parse_bundles(rows(("A", "B", "1"), ("B", "C", "1"), ("C", "A", "1"), ("TOP", "A", "1")))
    assert bundles.problems[Sku("A")] == "Bundles: A → B → C → A is a cycle; a bundle cannot contain itself"
    assert "cycle" in bundles.problems[Sku("TOP")]
    assert bundles.parts == {}


def test_a_bundle_containing_itself_is_a_cycle() -> None:
    assert parse_bundles(rows(("A", "A", "1"))).problems == {
        "A": "Bundles: A → A is a cycle; a bundle cannot contain itself"
    }


def test_bad_rows_make_their_bundle_unusable_and_say_which_row() -> None:
    bundles = parse_bundles(
        rows(
            ("A", "X", "two"),
            ("B", "", "1"),
            ("C", "X", "0"),
            ("D", "X", "1"),
            ("D", "X", "2"),
            ("", "X", "1"),
            ("E", "B", "1"),
        )
    )
    assert (
        bundles.problems[Sku("A")]
        == 'Bundles row 2: Quantity "two" is not a whole number; enter a whole number of 0 or more'
    )
    assert bundles.problems[Sku("B")] == "Bundles row 3: Component is blank"
    assert bundles.problems[Sku("C")] == "Bundles row 4: Quantity is 0; a component needs 1 or more"
    assert (
        bundles.problems[Sku("D")] == "Bundles rows 5 and 6 both list X; keep one row with the total quantity"
    )
    assert (
        bundles.problems[Sku("E")]
        == "component B is a bundle that cannot be used: Bundles row 3: Component is blank"
    )
    assert bundles.stray == ("Bundles row 7: Bundle is blank; the row is ignored",)
    assert bundles.parts == {}
