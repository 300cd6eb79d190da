"""Bundles and kits: a bundle SKU sells as a set of components and has no stock of its own.

The Bundles sheet lists one component per row: Bundle, Component, Quantity (units of the
component in one bundle).  A component may itself be a bundle; it is flattened to the SKUs that
hold stock.  A bundle we cannot resolve (a cycle, a bad quantity, a component listed twice) is
never pushed: its Inventory row is flagged with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sheetsync.core.cells import parse_quantity
from sheetsync.model import RawRow, Sku


@dataclass(frozen=True, slots=True)
class Bundles:
    """The Bundles sheet, resolved."""

    #: bundle → stock-holding component → units of it in one bundle (nested bundles flattened)
    parts: Mapping[Sku, Mapping[Sku, int]]
    #: bundle → why it cannot be sold; its Inventory row is flagged with this
    problems: Mapping[Sku, str]
    #: Bundles rows that name no bundle, for the log
    stray: tuple[str, ...] = ()

    def __contains__(self, sku: object) -> bool:
        return sku in self.parts or sku in self.problems


NO_BUNDLES = Bundles({}, {})


def parse_bundles(rows: Sequence[RawRow]) -> Bundles:
    """Read the Bundles rows: bundle → its direct components, then flatten and check for cycles."""
    direct: dict[Sku, dict[Sku, int]] = defaultdict(dict)
    where: dict[tuple[Sku, Sku], int] = {}
    problems: dict[Sku, str] = {}
    stray = []
    for row in rows:
        bundle = Sku(row.cells.get("bundle", "").strip())
        component = Sku(row.cells.get("component", "").strip())
        if not bundle:
            stray.append(f"Bundles row {row.row}: Bundle is blank; the row is ignored")
            continue
        direct.setdefault(bundle, {})
        if not component:
            problems.setdefault(bundle, f"Bundles row {row.row}: Component is blank")
            continue
        try:
            per = parse_quantity(row.cells.get("quantity", ""), "Quantity")
        except ValueError as error:
            problems.setdefault(bundle, f"Bundles row {row.row}: {error}")
            continue
        if per == 0:
            problems.setdefault(bundle, f"Bundles row {row.row}: Quantity is 0; a component needs 1 or more")
            continue
        if (bundle, component) in where:
            problems.setdefault(
                bundle,
                f"Bundles rows {where[bundle, component]} and {row.row} both list {component}; "
                "keep one row with the total quantity",
            )
            continue
        where[bundle, component] = row.row
        direct[bundle][component] = per
    parts: dict[Sku, Mapping[Sku, int]] = {}
    for bundle in direct:
        if bundle in problems:
            continue
        try:
            parts[bundle] = _flatten(bundle, direct, problems, ())
        except _Unusable as error:
            problems[bundle] = str(error)
    return Bundles(parts, problems, tuple(stray))


class _Unusable(Exception):
    """A bundle that cannot be resolved, with the reason the merchant sees."""


def _flatten(
    bundle: Sku, direct: Mapping[Sku, Mapping[Sku, int]], problems: Mapping[Sku, str], path: tuple[Sku, ...]
) -> dict[Sku, int]:
    if bundle in path:
        cycle = " → ".join([*path[path.index(bundle) :], bundle])
        raise _Unusable(f"Bundles: {cycle} is a cycle; a bundle cannot contain itself")
    flat: dict[Sku, int] = defaultdict(int)
    for component, per in direct[bundle].items():
        if component in problems:
            raise _Unusable(f"component {component} is a bundle that cannot be used: {problems[component]}")
        if component in direct:
            for base, units in _flatten(component, direct, problems, (*path, bundle)).items():
                flat[base] += per * units
        else:
            flat[component] += per
    return dict(flat)
