"""Master stores: where the merchant's inventory, the ledger and the worker's state live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sheetsync.model import LedgerEntry, Snapshot, StatusUpdate


class MasterStore(Protocol):
    """The narrow interface the worker needs from any master (workbook, Google Sheet, Airtable).

    The worker never overwrites what the merchant types: it only appends to the ledger and
    writes its own columns, the Status rows and its state.
    """

    def read(self) -> Snapshot:
        """Read the Inventory rows, the ledger, the Status controls and the worker state."""
        ...

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append entries to the ledger in order: the commit point of a cycle."""
        ...

    def write_status(self, update: StatusUpdate) -> None:
        """Write worker-owned cells, the Status rows and the worker state."""
        ...
