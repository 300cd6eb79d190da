"""The whole exception tree of sheetsync, and nothing else."""

from __future__ import annotations


class SheetsyncError(Exception):
    """Base of every error sheetsync raises on purpose."""


class ConfigError(SheetsyncError, ValueError):
    """A missing or invalid setting; the message names the file, the key and any env var."""


class SyncError(SheetsyncError):
    """A store or channel call failed as a whole."""


class TransientError(SyncError):
    """Worth retrying later: rate limits, 5xx, timeouts, connection resets.

    ``status`` is the HTTP status when a server answered one (500: its own code failed on what it
    was sent, which one item of a batch can cause; 502-504, 429 and timeouts are the way there).
    """

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PermanentError(SyncError):
    """Retrying will not help until someone changes something (credentials, sharing, ids)."""


class StoreLayoutError(PermanentError):
    """The master store lacks a sheet or column the worker needs, or has it twice."""


class LeaseHeld(SyncError):
    """Another worker holds the master's lease: this one writes nothing until it is free."""
