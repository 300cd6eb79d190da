"""Per-channel SKUs: a row's own code on a channel that uses another (``SKU <Channel>``).

Marketplaces and POS systems often name a product their own way.  Everything inside sheetsync
speaks the row's SKU; at the edge, pushes and reads use each channel's code and the order lines
a channel reports are translated back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sheetsync.core.cells import MasterRow
from sheetsync.core.memo import Same
from sheetsync.model import ChannelName, Sku


@dataclass(frozen=True, slots=True)
class Codes:
    """Each channel's codes for the rows that have one, both ways (``codes`` builds it)."""

    out: Mapping[ChannelName, Mapping[Sku, Sku]] = field(default_factory=dict)
    back: Mapping[ChannelName, Mapping[Sku, Sku]] = field(default_factory=dict)

    def theirs(self, channel: ChannelName, sku: Sku) -> Sku:
        """``sku`` as ``channel`` calls it."""
        return self.out.get(channel, {}).get(sku, sku)

    def ours(self, channel: ChannelName, code: Sku) -> Sku:
        """The row SKU of what ``channel`` calls ``code``."""
        return self.back.get(channel, {}).get(code, code)


def codes(rows: Sequence[MasterRow]) -> Codes:
    """The codes the rows give (``parse_rows`` has flagged any two rows that would share one).

    The very same rows give the very same answer (a quiet cycle's, without a pass over them).
    """
    return _CODES.answer(rows, None, lambda: _codes(rows))


#: ``codes``' last answer.
_CODES: Same[Codes] = Same()


def _codes(rows: Sequence[MasterRow]) -> Codes:
    out: dict[ChannelName, dict[Sku, Sku]] = {}
    back: dict[ChannelName, dict[Sku, Sku]] = {}
    for row in rows:
        for channel, code in row.codes.items():
            out.setdefault(channel, {})[row.sku] = code
            back.setdefault(channel, {})[code] = row.sku
    return Codes(out, back)
