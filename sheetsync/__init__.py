"""sheetsync: a spreadsheet as the single source of truth for multi-channel inventory."""

__version__ = "0.1.0"
