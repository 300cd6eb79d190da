"""Prices: what each channel should show, and what we last sent it (the Prices sent cell).

The Prices sent cell is the worker's memory of each channel's price, written only after the
channel accepted it, so a price is pushed once per change and again after a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

from sheetsync.core.cells import MasterRow
from sheetsync.model import ChannelName

_PAIR = re.compile(r"^([a-z][a-z0-9_]*)=(\d+\.\d{2})$")


def price_for(row: MasterRow, channel: ChannelName) -> Decimal | None:
    """The row's price on ``channel``: its own Price column, else the Price column, else none."""
    return row.prices.get(channel, row.prices.get(None))


def read_sent(text: str) -> dict[ChannelName, Decimal]:
    """Parse a Prices sent cell (``shopify=19.99 meta=18.00``); anything garbled reads as unknown."""
    sent: dict[ChannelName, Decimal] = {}
    for part in text.split():
        match = _PAIR.match(part)
        if match is None:
            return {}  # edited by hand: send every price again rather than trust it
        sent[ChannelName(match[1])] = Decimal(match[2])
    return sent


def sent_text(sent: Mapping[ChannelName, Decimal], order: Sequence[ChannelName]) -> str:
    """The Prices sent cell for ``sent``, channels in the config's order."""
    return " ".join(f"{name}={sent[name]:.2f}" for name in order if name in sent)
