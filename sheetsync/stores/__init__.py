"""Master stores: where the merchant's inventory, the ledger and the worker's state live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from sheetsync.model import LedgerEntry, RawLedgerRow, Snapshot, StatusUpdate


class MasterStore(Protocol):
    """The narrow interface the worker needs from any master (workbook, Google Sheet, Airtable).

    The worker never overwrites what the merchant types: it only appends to the ledger and
    writes its own columns, the Status rows and its state.
    """

    def read(self) -> Snapshot:
        """Read the Inventory rows, the ledger, the Status controls and the worker state.

        Reading never creates anything.  A Ledger tab (table) that is missing, or whose header row
        has no Key column, reads with ``ledger_found`` False: so does a master that has no Ledger
        yet, until its first append creates one.
        """
        ...

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append entries to the ledger in order: the commit point of a cycle.

        Each entry once: when an append's answer is lost and it is retried, entries whose keys
        the Ledger already holds are not appended again (the remote stores look only after such
        a loss; the local ones skip any held Key, so a caller repeating the call adds nothing
        twice).  The Ledger tab is created when the store has none; the worker never asks for
        that once the State says a Ledger existed.
        """
        ...

    def write_status(self, update: StatusUpdate) -> None:
        """Write worker-owned cells, the Status rows and the worker state."""
        ...


@runtime_checkable
class ArchivingStore(Protocol):
    """A store that can move old Ledger rows to an archive a person can read (the worker checks for it).

    The workbook, Google Sheets and in-memory stores are; Airtable's is not (its records have no
    position for a checkpoint to take, and no request spans more than ten of them).  Each also
    takes ``keys``, the folded rows' Keys as the caller read them, as a keyword argument; without
    it the store compares with its own last ``read()``.
    """

    def archive_ledger(self, folded: int, checkpoint: Sequence[LedgerEntry]) -> None:
        """Move the first ``folded`` Ledger rows to the archive and put ``checkpoint`` in their place.

        First the rows are appended to the archive (the ``Ledger archive`` tab; a sheet of the
        same file for the workbook) exactly as they are, unless the archive's last rows are already
        them (a retry after a kill); then, in one step where the store allows it, the Ledger's first
        ``folded`` data rows are deleted and ``checkpoint`` written in their place, before the rows
        that stay.  Raises StoreLayoutError if the Ledger changed shape since it was read.

        ``folded`` counts Ledger rows as ``read()`` returns them (blank rows between them go
        too).  The workbook does both steps in one save and Google Sheets in one atomic
        batchUpdate.  A call repeated after it succeeded (its answer lost) changes nothing: the
        Ledger then starts with ``checkpoint`` and the archive ends with the rows read.
        """
        ...

    def read_archive(self) -> tuple[RawLedgerRow, ...]:
        """Every archived Ledger row, oldest first (read only when an old order changes)."""
        ...


@runtime_checkable
class AppendingStore(Protocol):
    """A store that adds Inventory rows below the merchant's (``sheetsync import``); every store is one."""

    def append_inventory(self, rows: Sequence[Mapping[str, str]]) -> int:
        """Append one Inventory row per mapping (header text → cell text) below every row in use.

        Columns are found by their header as the sheet has it now (case and spaces do not matter);
        a header the Inventory lacks is added right of the columns in use.  Count columns
        (Quantity, ``Quantity <Location>``) take a whole number as a number; every other cell is
        literal text, never a formula or a number.  A row whose SKU the Inventory holds already
        is left out, so a call repeated after its answer was lost adds nothing twice.  No other
        cell changes.  Returns how many rows were appended.
        """
        ...


@runtime_checkable
class LeasedStore(Protocol):
    """A store that keeps a single-writer lease in the master's State (every store here is one).

    The lease is the State row ``lease``: ``<owner> until <UTC time>``, readable by the merchant.
    A worker calls ``acquire`` after each ``read()`` and before it writes anything, and stops
    the cycle when it gets a message; ``release`` when it shuts down.  A lease not renewed
    expires, so a worker that died is taken over ``ttl_s`` after its last renewal at most.
    """

    def acquire(self, owner: str, now: datetime, ttl_s: float) -> str | None:
        """Take or renew the lease for ``owner`` until ``now + ttl_s``.

        Returns None when ``owner`` holds it, else a message naming the other holder and until
        when (for the Status and an alert).  Right after ``read()`` it costs no read; it writes
        only when taking the lease or when less than half of ``ttl_s`` is left.  Where the store
        has no compare-and-set (Google Sheets, Airtable) taking it is confirmed by reading it back.
        """
        ...

    def release(self, owner: str) -> None:
        """Give the lease up if ``owner`` holds it (at shutdown): another worker may start at once."""
        ...

    def holder(self, now: datetime) -> str | None:
        """Who holds the lease at ``now`` as the last ``read()`` saw it, naming the holder; None when free.

        It costs no call and writes nothing (``sheetsync doctor`` asks it).
        """
        ...
