"""The Reason cell in plain words: what is on the shelf, what each channel shows and why.

Each channel's part is a clause that follows its title and starts with a verb: ``shows 8: tier
3-10 holds 2``, ``is paused at 5, would show 8: …``, ``keeps showing 4``.
Channels whose clauses agree share one (``Shopify, Facebook show 0: tier 0-2 holds all``), so a
row's Reason stays short enough for a cell.  When every unit is held back, the row ends with
what the merchant can change.
"""

from __future__ import annotations

from collections.abc import Sequence

#: What to change when tiers hold every unit back.
TIERS_FIX = 'lower that tier or use preset "one-off"'
#: What to change when the channel's cap is 0.
CAP_FIX = "raise the channel's cap"
#: What to change when the adaptive buffer holds every unit back.
ADAPTIVE_FIX = "set a lower adaptive max_hold"
#: While the auto-pause rule holds a lagging channel back: nothing to change, it passes.
LAGGING_FIX = "wait: it shows again once the lag recovers"
#: A PAUSEd row's way out.
PAUSED_FIX = "type a number in Override to set it, or clear PAUSE"

#: A clause's first word for several channels at once.
_PLURAL = {"shows": "show", "keeps": "keep", "is": "are"}


def buffer_fix(column: str) -> str:
    """What to change when a Buffer cell holds every unit back."""
    return f"lower the {column} cell"


def shows(quantity: int, rule: str, verb: str = "shows") -> str:
    """``shows 8: tier 3-10 holds 2``; ``shows all 5`` when no rule holds anything back."""
    if rule:
        return f"{verb} {quantity}: {rule}"
    return f"{verb} all {quantity}" if quantity else f"{verb} 0"


def paused_channel(believed: int | None, quantity: int, rule: str) -> str:
    """A paused channel: ``is paused at 5, would show 8: tier 3-10 holds 2``."""
    at = "" if believed is None else f" at {believed}"
    return f"is paused{at}, would {shows(quantity, rule, 'show')}"


def keeps(believed: int | None) -> str:
    """A channel of a PAUSEd row keeps selling what it shows: the last push less its own sales."""
    return "keeps its own figure (never pushed)" if believed is None else f"keeps showing {believed}"


def waiting(shown: int, believed: int, target: int) -> str:
    """A raise held until the sales the channel made, and we have not read, are in the Ledger."""
    unseen = believed - shown
    sales = "sale is" if unseen == 1 else "sales are"
    return f"shows {shown}, we set {believed}: not raised to {target} until {unseen} unseen {sales} read"


def waiting_for(keeps: int, target: int, other: str, shown: int, believed: int) -> str:
    """A raise held because ``other`` sold units of the SKU that the Ledger has not read yet."""
    unseen = believed - shown
    sales = "sale" if unseen == 1 else "sales"
    return (
        f"keeps {keeps}: not raised to {target} until {unseen} unseen {sales} on {other} "
        f"(it shows {shown}, we set {believed}) are read"
    )


def shelf(stock: int, bundle: tuple[str, int, int] | None = None) -> str:
    """How many units there are: ``7 on the shelf``; for a bundle, the component that limits it.

    ``bundle`` is the limiting component, its stock and the units of it in one bundle.
    """
    if bundle is None:
        return f"{max(stock, 0)} on the shelf"
    component, have, per = bundle
    return f"{max(stock, 0)} can be made: {component} has {max(have, 0)}, {per} per bundle"


def grouped(clauses: Sequence[tuple[str, str]]) -> str:
    """``(title, clause)`` pairs as one text, channels with the same clause sharing it."""
    titles: dict[str, list[str]] = {}
    for title, clause in clauses:
        titles.setdefault(clause, []).append(title)
    return "; ".join(
        f"{', '.join(names)} {clause if len(names) == 1 else _plural(clause)}"
        for clause, names in titles.items()
    )


def _plural(clause: str) -> str:
    verb, _, rest = clause.partition(" ")
    return f"{_PLURAL.get(verb, verb)} {rest}"


def row_reason(on_hand: str, clauses: Sequence[tuple[str, str]], fixes: Sequence[str] = ()) -> str:
    """A row's Reason: ``1 on the shelf; Shopify, Facebook show 0: tier 0-2 holds all; to sell it, …``.

    ``fixes`` (what the merchant can change) are given when every unit is held back.
    """
    parts = [on_hand, grouped(clauses)]
    if fixes:
        parts.append("to sell it, " + "; ".join(dict.fromkeys(fixes)))
    return "; ".join(part for part in parts if part)


def paused_reason(clauses: Sequence[tuple[str, str]]) -> str:
    """A PAUSEd row's Reason: its channels keep what they show, and how to change that."""
    return f"paused: {grouped(clauses)}; {PAUSED_FIX}"
