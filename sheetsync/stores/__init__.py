"""Master stores: where the merchant's inventory, the ledger and the worker's state live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from sheetsync.model import LedgerEntry, RawLedgerRow, Snapshot, StatusUpdate


class MasterStore(Protocol):
    """The narrow interface the worker needs from any master (workbook, Google Sheet, Airtable).

    The worker never overwrites what the merchant types: it only appends to the ledger and
    writes its own columns, the Status rows and its state.
    """

    def read(self) -> Snapshot:
        """Read the Inventory rows, the ledger, the Status controls and the worker state."""
        ...

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append entries to the ledger in order: the commit point of a cycle.

        Each entry once: when an append's answer is lost and it is retried, entries whose keys
        the Ledger already holds are not appended again.  The Ledger tab is created when the
        store has none; the worker never asks for that once the State says a Ledger existed.
        """
        ...

    def write_status(self, update: StatusUpdate) -> None:
        """Write worker-owned cells, the Status rows and the worker state."""
        ...


@runtime_checkable
class ArchivingStore(Protocol):
    """A store that can move old Ledger rows to an archive a person can read (the worker checks for it)."""

    def archive_ledger(self, folded: int, checkpoint: Sequence[LedgerEntry]) -> None:
        """Move the first ``folded`` Ledger rows to the archive and put ``checkpoint`` in their place.

        First the rows are appended to the archive (the ``Ledger archive`` tab, or table, or a
        file beside the workbook) exactly as they are, unless the archive's last rows are already
        them (a retry after a kill); then, in one step where the store allows it, the Ledger's first
        ``folded`` data rows are deleted and ``checkpoint`` written in their place, before the rows
        that stay.  Raises StoreLayoutError if the Ledger changed shape since it was read.
        """
        ...

    def read_archive(self) -> tuple[RawLedgerRow, ...]:
        """Every archived Ledger row, oldest first (read only when an old order changes)."""
        ...
